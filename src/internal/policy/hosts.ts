/**
 * The session's gate to its origins, composed once per session from its
 * stages, in the order a request meets them: the Retry-After rule
 * (originPauses.ts: is the origin paused?), the rate limit (originRates.ts:
 * a token), the slots (originSlots.ts: room under the global and per-origin
 * caps), whose per-origin size the adaptive window sets (originWindows.ts).
 * An answer goes back the other way: the window learns from it, then the
 * Retry-After rule, then the slot is freed for the next waiter. A stage the
 * session does not configure is not there. Waiting here happens before an
 * attempt starts, so it never counts against the attempt's own time limits;
 * only the overall deadline bounds it.
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type { RetryAfterScope } from "../../Session.js"
import * as Adaptive from "./adaptive.js"
import { Pauses } from "./originPauses.js"
import { Rates } from "./originRates.js"
import type { Ticket } from "./origins.js"
import { OriginState } from "./origins.js"
import type { TicketHolder } from "./originSlots.js"
import { Slots } from "./originSlots.js"
import { Windows } from "./originWindows.js"
import type { ParsedRate } from "./rate.js"

export type { Ticket } from "./origins.js"

/**
 * The gate's options, resolved (options.ts): the session's
 * `maxInFlightPerOrigin` and `ratePerOrigin` under whichever name they
 * were given, per origin (scheme, host and port) like every key here.
 */
export interface HostLimitsConfig {
  readonly maxInFlight: number | undefined
  readonly maxInFlightPerOrigin: number | undefined
  readonly ratePerOrigin: ParsedRate | undefined
  readonly adaptive: Adaptive.AdaptiveConfig | undefined
  readonly retryAfter: RetryAfterScope
  /** Update the window gauges. */
  readonly metrics: boolean
}

/** The session's gate, as the fetch (fetching.ts, fastFetching.ts, plan.ts) and the session's `windows` see it. */
export interface Hosts {
  /**
   * True when nothing is configured and no origin is being watched after a
   * Retry-After (see `pause`): skip `gate` entirely.
   */
  readonly idle: () => boolean
  /**
   * Runs `effect` once the origin is not paused, a rate token is available
   * and the in-flight caps and the adaptive window have room; `onDeadline`
   * fails the wait if it would pass `deadlineAt` (Clock ms). The outcome
   * feeds the window (and the origin-wide Retry-After rule).
   */
  readonly gate: <A, E, E2>(
    origin: string,
    effect: Effect.Effect<A, E>,
    deadlineAt: number | undefined,
    onDeadline: () => E2
  ) => Effect.Effect<A, E | E2>
  /**
   * The same gate on callbacks, for the engine's fast path. `open`: no pause
   * in force and no rate limit to wait for, so `enter`/`wait` are all the
   * gate there is; otherwise take `gate`.
   */
  readonly open: (origin: string, nowMs: number) => boolean
  /** A slot at once, or `undefined` when the request must `wait` (behind others, or for room). */
  readonly enter: (origin: string, nowMs: number) => Ticket | undefined
  /** Queues for a slot; `grant` is called once with it. Returns the cancel, which is safe to call late. */
  readonly wait: (origin: string, grant: (ticket: Ticket) => void) => () => void
  /**
   * Hands a slot back with what its attempt said (`failure`: the error, for
   * the Retry-After rule) and wakes the next waiters.
   */
  readonly leave: (ticket: Ticket, signal: Adaptive.Signal, failure: unknown, nowMs: number) => void
  /**
   * A 429/503 asked to come back at `untilMs` (Clock ms). With
   * `retryAfter: "origin"` new requests to the origin wait until then; with
   * `"request"` only the refused request waits (its retry schedule does).
   */
  readonly pause: (origin: string, untilMs: number) => void
  /** The current adaptive window (requests allowed in flight) of every origin seen; empty without `adaptive`. */
  readonly windows: () => Record<string, number>
}

const exitSignal = (exit: Exit.Exit<unknown, unknown>): { readonly signal: Adaptive.Signal; readonly failure: unknown } => {
  if (Exit.isSuccess(exit)) return { signal: "success", failure: undefined }
  const found = Cause.failureOption(exit.cause)
  if (Option.isNone(found)) return { signal: "neutral", failure: undefined }
  return { signal: Adaptive.signalOfFailure(found.value), failure: found.value }
}

/** The gate of one session: its stages made once, a stage the session does not configure left out. */
export const make = (config: HostLimitsConfig, scope: Scope.Scope, maxRetryAfterMs: number): Hosts => {
  const configured = config.maxInFlight !== undefined || config.maxInFlightPerOrigin !== undefined ||
    config.ratePerOrigin !== undefined || config.adaptive !== undefined
  const perOriginCap = config.maxInFlightPerOrigin ?? Number.POSITIVE_INFINITY
  // The stages, made once; one the session does not configure is undefined
  // (the pauses and the slots are always there: a Retry-After may come to
  // any session, and the slots count what is in flight whatever the caps).
  const pauses = new Pauses(config.retryAfter, maxRetryAfterMs)
  const rates = config.ratePerOrigin === undefined ? undefined : new Rates(config.ratePerOrigin, scope)
  const slots = new Slots(config.maxInFlight ?? Number.POSITIVE_INFINITY)
  const windows = config.adaptive === undefined ? undefined : new Windows(config.adaptive, perOriginCap, config.metrics)

  const origins = new Map<string, OriginState>()
  const state = (name: string): OriginState => {
    let found = origins.get(name)
    if (found === undefined) {
      found = new OriginState(perOriginCap)
      windows?.open(name, found)
      origins.set(name, found)
    }
    return found
  }

  // The outcome of one gated attempt goes back through the stages: the
  // window learns from it, a refusal with Retry-After counts towards the
  // origin-wide rule, and the slot goes to the next waiter.
  const leave = (ticket: Ticket, signal: Adaptive.Signal, failure: unknown, nowMs: number): void => {
    if (ticket.left) return
    ticket.left = true
    windows?.learn(ticket, signal)
    pauses.learn(ticket, signal, failure, nowMs)
    slots.release(ticket.origin, nowMs)
  }

  const leaveWith = (ticket: Ticket, exit: Exit.Exit<unknown, unknown>): Effect.Effect<void> =>
    Effect.clockWith((clock) =>
      Effect.sync(() => {
        const { failure, signal } = exitSignal(exit)
        leave(ticket, signal, failure, clock.unsafeCurrentTimeMillis())
      })
    )

  return {
    idle: () => !configured && pauses.watching === 0,
    open: (origin, nowMs) => rates === undefined && !pauses.paused(state(origin), nowMs),
    enter: (origin, nowMs) => {
      const found = state(origin)
      return slots.roomAtOnce(found) ? slots.take(found, nowMs) : undefined
    },
    wait: (origin, grant) => slots.wait(state(origin), grant),
    leave,
    pause: (origin, untilMs) => pauses.pause(state(origin), untilMs),
    windows: () => windows === undefined ? {} : windows.sizes(origins),
    gate: (origin, effect, deadlineAt, onDeadline) =>
      Effect.uninterruptibleMask((restore) => {
        const found = state(origin)
        const run = (ticket: Ticket) => Effect.onExit(restore(effect), (exit) => leaveWith(ticket, exit))
        const queued = () => {
          const holder: TicketHolder = { ticket: undefined }
          const limited = rates === undefined ? pauses.wait(found) : Effect.zipRight(pauses.wait(found), rates.wait(found))
          const waits = Effect.zipRight(limited, slots.acquire(found, holder))
          const bounded = deadlineAt === undefined
            ? waits
            : Effect.flatMap(Clock.currentTimeMillis, (now) =>
              Effect.timeoutFail(waits, { duration: Duration.millis(Math.max(0, deadlineAt - now)), onTimeout: onDeadline }))
          const handBack = (exit: Exit.Exit<unknown, unknown>) =>
            Exit.isSuccess(exit) || holder.ticket === undefined ? Effect.void : leaveWith(holder.ticket, exit)
          return Effect.flatMap(Effect.onExit(restore(bounded), handBack), run)
        }
        // Nothing to wait for (no pause, no rate, room at once): the request
        // goes at once, without the deadline's timer and race, which cost
        // about as much as the rest of the gate.
        return Effect.clockWith((clock) => {
          const now = clock.unsafeCurrentTimeMillis()
          if (rates === undefined && !pauses.paused(found, now) && slots.roomAtOnce(found)) {
            return run(slots.take(found, now))
          }
          return queued()
        })
      })
  }
}
