/**
 * The gate's slots: whether a request may be in flight now, under the
 * global cap (`maxInFlight`) and its origin's (`OriginState.limit`: the
 * per-origin cap, or the adaptive window's limit), and who gets a slot that
 * comes free: an origin's waiters first come first served, and origins whose
 * next waiter waits only for the global cap oldest first. Every cap is a
 * count with a queue, checked and taken in one synchronous step, so the
 * fiber path (`acquire`) and the callback path (`roomAtOnce`/`take`/`wait`)
 * share the same slots.
 */
import * as Effect from "effect/Effect"
import type { OriginState, Waiter } from "./origins.js"
import { Ticket } from "./origins.js"

/** Where `acquire` puts the slot in the same step it is counted. */
export interface TicketHolder {
  ticket: Ticket | undefined
}

/** The session's slots: the global count and the origins blocked by it. */
export class Slots {
  private inFlight = 0
  /** Origins whose first waiter has room at the origin and waits for the global cap, oldest first. */
  private readonly blocked: Array<OriginState> = []

  constructor(private readonly globalCap: number) {}

  /** A slot is free now and nobody waits ahead. */
  roomAtOnce(origin: OriginState): boolean {
    return origin.waiters.length === 0 && origin.inFlight < origin.limit && this.inFlight < this.globalCap
  }

  /** Counts a slot and hands out its ticket (with what the window and the Retry-After rule note at the send). */
  take(origin: OriginState, nowMs: number): Ticket {
    origin.inFlight++
    this.inFlight++
    // The send time matters only while refusals are being counted.
    const sentAt = origin.episode === undefined ? Number.NEGATIVE_INFINITY : nowMs
    return new Ticket(origin, sentAt, origin.window === undefined ? 0 : origin.window.epoch, origin.inFlight)
  }

  /** Queues for a slot; `grant` is called once with it. Returns the cancel, which is safe to call late. */
  wait(origin: OriginState, grant: (ticket: Ticket) => void): () => void {
    const waiter: Waiter = { grant }
    origin.waiters.push(waiter)
    // Room at the origin but not globally: queue the origin for the global cap.
    if (origin.waiters.length === 1 && origin.inFlight < origin.limit && !origin.blocked) {
      origin.blocked = true
      this.blocked.push(origin)
    }
    return () => {
      const at = origin.waiters.indexOf(waiter)
      if (at >= 0) origin.waiters.splice(at, 1)
    }
  }

  /**
   * A slot on the fiber: at once when there is room, else after the
   * requests already waiting. `holder.ticket` is set in the same step the
   * slot is counted, so the gate can hand it back if the wait ends any
   * other way (an interruption, the deadline winning a race it had lost).
   */
  acquire(origin: OriginState, holder: TicketHolder): Effect.Effect<Ticket> {
    return Effect.clockWith((clock) =>
      Effect.async<Ticket>((resume) => {
        if (this.roomAtOnce(origin)) {
          holder.ticket = this.take(origin, clock.unsafeCurrentTimeMillis())
          return resume(Effect.succeed(holder.ticket))
        }
        const cancel = this.wait(origin, (ticket) => {
          holder.ticket = ticket
          resume(Effect.succeed(ticket))
        })
        return Effect.sync(cancel)
      })
    )
  }

  /** Frees a slot of `origin` (its limit already updated) and wakes the waiters it makes room for. */
  release(origin: OriginState, nowMs: number): void {
    origin.inFlight--
    this.inFlight--
    this.admit(origin, nowMs)
    this.admitBlocked(nowMs)
  }

  // Hands free slots to the origin's waiters, oldest first; one that has
  // room here but not under the global cap queues the origin in `blocked`.
  private admit(origin: OriginState, nowMs: number): void {
    while (origin.waiters.length > 0 && origin.inFlight < origin.limit) {
      if (this.inFlight >= this.globalCap) {
        if (!origin.blocked) {
          origin.blocked = true
          this.blocked.push(origin)
        }
        return
      }
      origin.waiters.shift()!.grant(this.take(origin, nowMs))
    }
  }

  private admitBlocked(nowMs: number): void {
    while (this.blocked.length > 0 && this.inFlight < this.globalCap) {
      const origin = this.blocked.shift()!
      origin.blocked = false
      this.admit(origin, nowMs)
    }
  }
}
