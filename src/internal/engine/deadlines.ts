/**
 * The time limits of one attempt, checked lazily by the session's watchdog.
 *
 * `due` is the earliest moment a limit can expire: the overall deadline
 * while the request waits for a pooled connection; then the attempt's end,
 * or the last activity plus the headers or body-idle limit. When it passes,
 * `onDue` checks what really expired and moves `due` on if nothing did, so
 * activity (a body chunk) only records the time. undici's own phase timers
 * tick at ~0.5 s and cannot enforce short limits, so they are off.
 */
import type { Timeouts } from "./limits.js"
import type { Watchdog, Watched } from "./watchdog.js"

export type Phase = "attempt" | "deadline" | "send" | "headers" | "body"

/** Who is told when a limit expires. */
export interface Expiring {
  expire(phase: Phase, limitMs: number): void
}

export class Deadlines implements Watched {
  due = Number.POSITIVE_INFINITY
  /** The consumer holds a streamed body back: that is not the server being idle. */
  paused = false
  private watched = false
  private connected = false
  private queueDeadline = Number.POSITIVE_INFINITY
  private attemptEnd = Number.POSITIVE_INFINITY
  private attemptPhase: Phase = "attempt"
  private attemptLimitMs = 0
  private idleLimitMs = 0
  private idlePhase: Phase = "headers"
  private lastActivity = 0

  constructor(
    private readonly watchdog: Watchdog,
    private readonly owner: Expiring,
    /** The overall deadline's limit, for the error. */
    private readonly deadlineLimitMs: number
  ) {}

  /** At dispatch: the overall deadline also covers the wait for a pooled connection. */
  queued(dispatchedAt: number, remainingMs: number): void {
    if (remainingMs === Number.POSITIVE_INFINITY) return
    this.queueDeadline = dispatchedAt + remainingMs
    this.due = this.queueDeadline
    this.watch()
  }

  /** True once `connected` started the attempt's limits. */
  get started(): boolean {
    return this.connected
  }

  /**
   * The request is on a socket: the attempt limit and the headers limit
   * start. `remainingMs` is what is left of the overall deadline; false when
   * nothing is (the caller fails with the deadline).
   */
  connect(now: number, timeouts: Timeouts, remainingMs: number, hasBody: boolean): boolean {
    this.connected = true
    this.queueDeadline = Number.POSITIVE_INFINITY
    if (remainingMs <= 0) return false
    if (timeouts.attemptMs > 0 && timeouts.attemptMs <= remainingMs) {
      this.attemptEnd = now + timeouts.attemptMs
      this.attemptPhase = "attempt"
      this.attemptLimitMs = timeouts.attemptMs
    } else if (remainingMs !== Number.POSITIVE_INFINITY) {
      this.attemptEnd = now + remainingMs
      this.attemptPhase = "deadline"
      this.attemptLimitMs = this.deadlineLimitMs
    }
    // While a body is being sent, each chunk the socket takes is activity;
    // the wait for the headers starts once it is all sent.
    this.idlePhase = hasBody ? "send" : "headers"
    this.idleLimitMs = timeouts.headersMs
    this.lastActivity = now
    this.reschedule()
    return true
  }

  /** True while the request body is still being sent. */
  get sending(): boolean {
    return this.idlePhase === "send"
  }

  /**
   * The body is sent; the headers limit starts `drainMs` from now, once the
   * bytes still in the kernel's buffers can have reached the server.
   */
  sent(now: number, drainMs: number): void {
    this.idlePhase = "headers"
    this.lastActivity = now + drainMs
    this.reschedule()
  }

  /** The headers came: from now on the body-idle limit applies. */
  headers(now: number, bodyIdleMs: number): void {
    this.idlePhase = "body"
    this.idleLimitMs = bodyIdleMs
    this.lastActivity = now
    this.reschedule()
  }

  /**
   * A streamed body outlives the attempt limit; body idle goes on, and so
   * does the fetch's deadline (`total`, a gather's `deadline`, at `deadlineAt`),
   * which fails the stream in phase "deadline".
   */
  streaming(deadlineAt: number): void {
    this.attemptEnd = deadlineAt
    this.attemptPhase = "deadline"
    this.attemptLimitMs = this.deadlineLimitMs
    this.reschedule()
  }

  activity(now: number): void {
    this.lastActivity = now
  }

  stop(): void {
    if (this.watched) {
      this.watched = false
      this.watchdog.unwatch(this)
    }
    this.due = Number.POSITIVE_INFINITY
  }

  onDue(now: number): void {
    if (!this.connected && now >= this.queueDeadline) {
      this.queueDeadline = Number.POSITIVE_INFINITY
      return this.owner.expire("deadline", this.deadlineLimitMs)
    }
    if (now >= this.attemptEnd) return this.owner.expire(this.attemptPhase, this.attemptLimitMs)
    if (this.idleLimitMs > 0 && now >= this.lastActivity + this.idleLimitMs) {
      if (this.paused) this.lastActivity = now
      else return this.owner.expire(this.idlePhase, this.idleLimitMs)
    }
    this.reschedule()
  }

  private reschedule(): void {
    const idleDue = this.idleLimitMs > 0 ? this.lastActivity + this.idleLimitMs : Number.POSITIVE_INFINITY
    this.due = Math.min(this.attemptEnd, idleDue)
    if (this.due !== Number.POSITIVE_INFINITY) this.watch()
  }

  private watch(): void {
    if (this.watched) return
    this.watched = true
    this.watchdog.watch(this)
  }
}
