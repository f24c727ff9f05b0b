/**
 * A fetch on the fast path: its first attempt on callbacks (through the
 * origin's gate when it has one), reported to a sink; the rest on the fiber
 * through the same `Fetching` methods.
 */
import type * as Clock from "effect/Clock"
import type * as Effect from "effect/Effect"
import * as FetchError from "../FetchError.js"
import * as Cache from "./cache/stage.js"
import * as Attempt from "./engine/attempt.js"
import type * as FastPath from "./engine/fastPath.js"
import { Fetching } from "./fetching.js"
import type { Finish } from "./finish.js"
import { finishWith } from "./finish.js"
import type { Limits } from "./options.js"
import * as Adaptive from "./policy/adaptive.js"
import type * as Hosts from "./policy/hosts.js"
import type { Prepared } from "./request.js"
import type { SessionImpl } from "./session.js"

type FetchResponse<A> = Attempt.FetchResponse<A>

/**
 * A fetch whose first attempt runs on callbacks: its outcome goes to `sink`,
 * or, when a retry, a redirect, an origin pause or an effectful finish
 * follows, the rest runs on the fiber through the same {@link Fetching}
 * methods as always. A Gather lane is one such sink; a fiber of its own
 * (`Effect.forEach`, `yield*`) is another, through `ResumeSink` (fetch.ts).
 */
export class FastFetching<A, R> extends Fetching implements Attempt.AttemptDone, FastPath.Running {
  sink!: FastPath.Sink<FetchResponse<A>, FetchError.FetchError, R>
  /** Real ms left before the deadline when planned (Infinity: none). */
  remainingMs = Number.POSITIVE_INFINITY
  // A gated origin (host limits, an adaptive window, a watched Retry-After):
  // the slot the first attempt holds, the clock its outcome is stamped
  // with, and while no slot is free, the wait for one.
  private ticket: Hosts.Ticket | undefined = undefined
  /** Set by plan when the origin is gated (the fiber's clock, checked live there). */
  clock: Clock.Clock | undefined = undefined
  /** A cached session's lookup for this fetch (plan), and the fiber's clock that times it. */
  found: Cache.Lookup | undefined = undefined
  cacheClock: Clock.Clock | undefined = undefined
  private attemptRunning: FastPath.Running | undefined = undefined
  private cancelWait: (() => void) | undefined = undefined
  private waitTimer: ReturnType<typeof setTimeout> | undefined = undefined

  constructor(
    session: SessionImpl,
    limits: Limits,
    startedAt: number,
    private readonly finish: Finish<A, R>,
    readonly prepared: Prepared
  ) {
    super(session, limits, startedAt, false)
    this.current = prepared
  }

  /** Sends the first attempt (through the origin's gate when it has one); the caller holds what it returns. */
  launch(): FastPath.Running {
    const cached = this.found?.plan
    if (cached?._tag === "Hit") {
      // Answered from the cache: nothing is sent, nothing is left to abort.
      this.deliver(this.found!.hit(cached.stored, this.startedAt))
      return answered
    }
    const hosts = this.session.hosts
    return this.clock === undefined || hosts.idle()
      ? Attempt.start(this, this.prepared, 1, this.remainingMs, this)
      : this.enterGate(this.clock, hosts)
  }

  // The origin's gate on callbacks: a slot at once, or a place in its queue
  // (with a real timer for the deadline: plan sends only fibers on the
  // live clock here). Pauses and rate limits never reach this (plan).
  private enterGate(clock: Clock.Clock, hosts: Hosts.Hosts): FastPath.Running {
    const origin = this.prepared.origin
    const ticket = hosts.enter(origin, clock.unsafeCurrentTimeMillis())
    if (ticket !== undefined) {
      this.ticket = ticket
      this.attemptRunning = Attempt.start(this, this.prepared, 1, this.remainingMs, this)
      return this
    }
    this.cancelWait = hosts.wait(origin, (granted) => this.granted(granted))
    if (Number.isFinite(this.deadlinePerfAt)) {
      this.waitTimer = setTimeout(() => this.waitExpired(), Math.max(0, this.deadlinePerfAt - performance.now()))
    }
    return this
  }

  private granted(ticket: Hosts.Ticket): void {
    this.cancelWait = undefined
    if (this.waitTimer !== undefined) clearTimeout(this.waitTimer)
    this.ticket = ticket
    // The wait counts against the deadline, not against the attempt's own limits.
    const remainingMs = this.deadlinePerfAt - performance.now()
    if (remainingMs <= 0) return this.fail(this.timedOut(this.prepared, 1))
    this.attemptRunning = Attempt.start(this, this.prepared, 1, remainingMs, this)
  }

  private waitExpired(): void {
    this.waitTimer = undefined
    if (this.cancelWait === undefined) return
    this.cancelWait()
    this.cancelWait = undefined
    this.fail(this.timedOut(this.prepared, 1))
  }

  private leaveGate(signal: Adaptive.Signal, failure: unknown): void {
    const ticket = this.ticket
    if (ticket === undefined) return
    this.ticket = undefined
    this.session.hosts.leave(ticket, signal, failure, this.clock!.unsafeCurrentTimeMillis())
  }

  /** Gated only (else the attempt itself is the Running): stops the wait or the attempt, and frees the slot. */
  interrupt(): void {
    if (this.cancelWait !== undefined) {
      this.cancelWait()
      this.cancelWait = undefined
      if (this.waitTimer !== undefined) clearTimeout(this.waitTimer)
      return
    }
    const running = this.attemptRunning
    this.attemptRunning = undefined
    running?.interrupt()
    this.leaveGate("neutral", undefined)
  }

  succeed(response: FetchResponse<Uint8Array>): void {
    this.attemptRunning = undefined
    this.leaveGate("success", undefined)
    const found = this.found
    if (found === undefined) return this.deliver(response)
    this.settled(found.settle(response, this.cacheClock!.unsafeCurrentTimeMillis()))
  }

  fail(error: FetchError.FetchError | Attempt.Redirect): void {
    this.attemptRunning = undefined
    this.leaveGate(Adaptive.signalOfFailure(error), error)
    // A redirect, an origin pause or a retry continues on the fiber; a
    // failure nothing follows is the outcome, reported from here.
    if (error._tag === "Redirect") return this.continueOnFiber(this.redirect(this.current!, error))
    const rest = this.recover(error)
    if (rest !== undefined) return this.continueOnFiber(rest)
    const found = this.found
    if (found === undefined) this.sink.fail(error)
    else this.settled(found.settleFailure(error, this.cacheClock!.unsafeCurrentTimeMillis()))
  }

  private continueOnFiber(rest: Effect.Effect<FetchResponse<Uint8Array>, FetchError.FetchError>): void {
    const found = this.found
    this.sink.continueWith(finishWith(found === undefined ? rest : Cache.settling(found, rest, this.cacheClock!), this.finish))
  }

  private settled(result: Cache.Settled): void {
    if (FetchError.isFetchError(result)) this.sink.fail(result)
    else this.deliver(result)
  }

  private deliver(response: FetchResponse<Uint8Array>): void {
    const finish = this.finish
    if (finish._tag === "Sync") this.sink.succeed(finish.f(response))
    else this.sink.continueWith(finish.f(response))
  }
}

/** What a start answered at once returns: nothing is in flight to abort. */
const answered: FastPath.Running = { interrupt: () => {} }
