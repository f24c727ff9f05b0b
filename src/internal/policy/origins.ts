/**
 * What the gate's stages know of one origin, in one record per origin: a
 * request looks its origin up once (hosts.ts), and each stage reads and
 * writes only the fields it owns (grouped below by stage). And the slot a
 * request holds there, the `Ticket`, with what the stages that learn from
 * its outcome noted at the send.
 */
import type * as RateLimiter from "effect/RateLimiter"
import type * as Adaptive from "./adaptive.js"

/** A request waiting for a slot: `grant` hands it the slot, exactly once. */
export interface Waiter {
  readonly grant: (ticket: Ticket) => void
}

/** One origin (scheme, host and port) as the session's gate sees it. */
export class OriginState {
  // The slots (originSlots.ts).
  /** Requests holding a slot of this origin (counted whatever limits are set). */
  inFlight = 0
  /** Requests waiting for a slot, first come first served. */
  readonly waiters: Array<Waiter> = []
  /** Queued in the slots' `blocked`: its first waiter has room here and waits only for the global cap. */
  blocked = false
  /**
   * Requests the origin may have in flight: the per-origin cap, or its
   * window's limit when that is smaller (kept by originWindows.ts).
   */
  limit: number

  // The Retry-After rule (originPauses.ts).
  /** Clock ms before which no new request is sent to the origin. */
  pausedUntil = 0
  /** Refusals with Retry-After since the origin's last success (`"request"` scope). */
  episode: Adaptive.Episode | undefined = undefined
  /**
   * A Retry-After was seen and no gated success has followed since (after
   * any pause): the origin's requests go through the gate, where pauses are
   * waited out and refusals counted.
   */
  watched = false

  // The rate limit (originRates.ts): made on the origin's first rated request.
  limiter: RateLimiter.RateLimiter | undefined = undefined

  // The adaptive window (originWindows.ts), when the session has one.
  window: Adaptive.Window | undefined = undefined
  /** What the origin answered lately, for the window (see `Adaptive.judge`). */
  answers: Adaptive.Answers | undefined = undefined
  /** Sets the origin's window gauge, when the session keeps metrics. */
  gauge: ((size: number) => void) | undefined = undefined

  constructor(limit: number) {
    this.limit = limit
  }
}

/**
 * A slot an attempt holds at its origin, from the moment it is sent: what
 * the window and the Retry-After rule need to learn from its outcome.
 * Handed back once, by `leave`; a second `leave` does nothing.
 */
export class Ticket {
  left = false
  constructor(
    /** @internal */
    readonly origin: OriginState,
    /** Clock ms of the send, while refusals are being counted; -Infinity otherwise. */
    readonly sentAt: number,
    /** The window's epoch at the send. */
    readonly epoch: number,
    /** Requests in flight to the origin at the send, this one included. */
    readonly inFlightAtSend: number
  ) {}
}
