/**
 * The fiber path's policies for one fetch, composed in the order a fetch
 * meets them: (1) the deadline, placed once; then for each hop (2) the
 * origin's gate (policy/hosts.ts), (3) the retries (policy/retry.ts, with
 * the origin pauses a Retry-After asks for), (4) the redirects
 * (policy/redirects.ts), and (5) the exchange, one attempt on the wire,
 * whose AttemptContext this is. One object shared by the fetch's attempts
 * and hops; fastFetching.ts runs the first attempt on callbacks and hands
 * what follows to the same methods.
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import type { Segment, Timing } from "../Fetch.js"
import type * as FetchError from "../FetchError.js"
import * as Credentials from "./credentials.js"
import * as Attempt from "./engine/attempt.js"
import type { BodyChannel } from "./engine/bodyStream.js"
import { currentDeadline } from "./engine/deadline.js"
import * as Errors from "./engine/errors.js"
import type { Limits } from "./options.js"
import * as Redirects from "./policy/redirects.js"
import * as Retry from "./policy/retry.js"
import type { Prepared } from "./request.js"
import { hopRequest, redirectFailure } from "./request.js"
import type { SessionImpl } from "./session.js"

type FetchResponse<A> = Attempt.FetchResponse<A>

/** 429 and 503 with `Retry-After` are reported to the origin's gate (policy/originPauses.ts decides: this request, or the whole origin). */
const pausingStatuses = new Set([429, 503])

const noRedirects: ReadonlyArray<string> = []

/**
 * One fetch in progress: its limits, deadline, current hop, attempt number
 * and redirect chain, shared by its attempts. One object per fetch instead
 * of a closure per step.
 */
export class Fetching implements Attempt.AttemptContext {
  readonly dispatcher: SessionImpl["dispatcher"]
  readonly connections: SessionImpl["connections"]
  readonly returning: SessionImpl["returning"]
  readonly watchdog: SessionImpl["watchdog"]
  readonly follow: boolean
  /** Clock ms, for waits (retry backoff, pauses, limiters); Infinity: none. */
  deadlineAt = Number.POSITIVE_INFINITY
  /** The same moment in performance.now() terms, for the request's timers. */
  deadlinePerfAt = Number.POSITIVE_INFINITY
  deadlineLimitMs = 0
  attempt = 1
  previous: ReadonlyArray<Segment> | undefined = undefined
  protected current: Prepared | undefined = undefined
  private chain: ReadonlyArray<string> | undefined = undefined

  constructor(
    readonly session: SessionImpl,
    readonly limits: Limits,
    readonly startedAt: number,
    readonly stream: boolean
  ) {
    this.dispatcher = session.dispatcher
    this.connections = session.connections
    this.returning = session.returning
    this.watchdog = session.watchdog
    this.follow = limits.maxRedirects > 0
  }

  // 1. The deadline: placed once, from the session's `total` and a Gather's.

  /**
   * The earlier of the session's `total` and an enclosing Gather deadline.
   * The Clock (a TestClock in tests) places it for waits; the request's own
   * timers run on real time from the same remaining span.
   */
  placeDeadline(fiber: Fiber.RuntimeFiber<unknown, unknown>): void {
    const gatherDeadline = fiber.getFiberRef(currentDeadline)
    const totalMs = this.limits.timeouts.totalMs
    if (totalMs <= 0 && gatherDeadline === undefined) return
    const now = Context.get(fiber.currentDefaultServices, Clock.Clock).unsafeCurrentTimeMillis()
    const ownAt = totalMs > 0 ? now + totalMs : Number.POSITIVE_INFINITY
    const sharedAt = gatherDeadline ?? Number.POSITIVE_INFINITY
    const at = Math.min(ownAt, sharedAt)
    this.deadlineAt = at
    this.deadlinePerfAt = this.startedAt + (at - now)
    this.deadlineLimitMs = ownAt <= sharedAt ? totalMs : Math.max(0, sharedAt - now)
  }

  // A hop: the gate and the exchange, then, after a failure, the retries or
  // the redirect (which starts the next hop).

  /** Attempts of one hop; the retry schedule is built only after a failure. */
  // Methods, not arrow fields: a closure per fetch for each would be paid by
  // every fetch, and only a failure or a redirect needs them as callbacks.
  hop(prepared: Prepared): Effect.Effect<FetchResponse<Uint8Array>, FetchError.FetchError> {
    this.current = prepared
    this.attempt = 1
    return Effect.catchAll(this.gated(prepared, 1), (failure) => this.onFailure(failure))
  }

  private onFailure(
    first: FetchError.FetchError | Attempt.Redirect
  ): Effect.Effect<FetchResponse<Uint8Array>, FetchError.FetchError> {
    if (first._tag === "Redirect") return this.redirect(this.current!, first)
    return this.recover(first) ?? Effect.fail(first)
  }

  // 2. The gate (the session's `hosts`: pauses, rate, slots, window).

  /** One attempt: its slot at the origin's gate (none when the session has no gate in force), then the exchange. */
  private gated(prepared: Prepared, attempt: number): Attempt.Outcome {
    const hosts = this.session.hosts
    if (hosts.idle()) return this.exchange(prepared, attempt)
    // Gated, the remaining time is measured after the wait.
    return hosts.gate(
      prepared.origin,
      Effect.suspend(() => this.exchange(prepared, attempt)),
      Number.isFinite(this.deadlineAt) ? this.deadlineAt : undefined,
      () => this.timedOut(prepared, attempt)
    )
  }

  // 3. The retries (policy/retry.ts), with the origin pauses a Retry-After asks for.

  /**
   * What follows a failed attempt of the current hop: the origin's pause (a
   * 429/503 with Retry-After) and the retries, or `undefined` when nothing
   * does and `first` is the fetch's outcome. The one rule for both paths:
   * the callbacks report such a failure themselves, and send the rest to
   * the fiber.
   */
  protected recover(first: FetchError.FetchError): Effect.Effect<FetchResponse<Uint8Array>, FetchError.FetchError> | undefined {
    const prepared = this.current!
    const pauses = first._tag === "BadStatus" && pausingStatuses.has(first.status)
    if (!pauses && !Retry.isRetryable(this.limits.retry, prepared.method, first)) return undefined
    return Effect.zipRight(
      this.pauseOrigin(prepared, first),
      Effect.suspend(() => this.retry(prepared, first))
    )
  }

  private retry(
    prepared: Prepared,
    first: FetchError.FetchError
  ): Effect.Effect<FetchResponse<Uint8Array>, FetchError.FetchError> {
    const policy = this.limits.retry
    if (!Retry.isRetryable(policy, prepared.method, first)) return Effect.fail(first)
    let replayed = false
    // A Redirect answering a retry ends the retries as a success value, so
    // the schedule (the user's too) only ever sees FetchErrors; it is then
    // followed.
    const again: Effect.Effect<FetchResponse<Uint8Array> | Attempt.Redirect, FetchError.FetchError> = Effect.suspend(() => {
      if (!replayed) {
        replayed = true
        return Effect.fail(first)
      }
      this.attempt++
      return Effect.catchAll(this.gated(prepared, this.attempt), (error) =>
        error._tag === "Redirect"
          ? Effect.succeed(error)
          : Effect.zipRight(this.pauseOrigin(prepared, error), Effect.fail(error)))
    })
    const schedule = Retry.schedule(policy, prepared.method, Number.isFinite(this.deadlineAt) ? this.deadlineAt : undefined)
    return Effect.flatMap(
      Effect.retry(again, schedule),
      (result) => result instanceof Attempt.Redirect ? this.redirect(prepared, result) : Effect.succeed(result)
    )
  }

  // A 429/503 with Retry-After: hosts.pause pauses the whole origin with
  // `retryAfter: "origin"`; with "request" only this request's retry waits.
  private pauseOrigin(prepared: Prepared, error: FetchError.FetchError): Effect.Effect<void> {
    if (error._tag !== "BadStatus" || !pausingStatuses.has(error.status)) return Effect.void
    const hosts = this.session.hosts
    const maxMs = this.limits.retry.maxRetryAfterMs
    return Effect.flatMap(Clock.currentTimeMillis, (now) => {
      const wait = Retry.retryAfterOf(error, now)
      if (Option.isSome(wait)) hosts.pause(prepared.origin, now + Math.min(wait.value, maxMs))
      return Effect.void
    })
  }

  // 4. The redirects (policy/redirects.ts).

  /** Runs the redirect rule (policy/redirects.ts) and follows the hop it gives. */
  protected redirect(
    prepared: Prepared,
    signal: Attempt.Redirect
  ): Effect.Effect<FetchResponse<Uint8Array>, FetchError.FetchError> {
    const step = Redirects.follow(this.chain, prepared, signal, this.limits, this.session.config.stripOnCrossOrigin)
    if (step._tag !== "Follow") {
      return Effect.fail(
        Errors.make(
          redirectFailure(step),
          prepared.method,
          prepared.displayUrl,
          this.attempt,
          performance.now() - this.startedAt,
          Errors.timingWithout(this.startedAt, this.previous)
        )
      )
    }
    this.chain = step.chain
    return this.hop(Credentials.onRedirect(this.session, hopRequest(step.hop)))
  }

  // 5. The exchange: one attempt on the wire (engine/attempt.ts), and the
  // AttemptContext it calls back.

  /** The attempt, with what is left of the deadline (measured after any wait at the gate). */
  private exchange(prepared: Prepared, attempt: number): Attempt.Outcome {
    const remainingMs = this.deadlinePerfAt - performance.now()
    if (remainingMs <= 0) return Effect.fail(this.timedOut(prepared, attempt))
    return Attempt.run(this, prepared, attempt, remainingMs)
  }

  protected timedOut(prepared: Prepared, attempt: number): FetchError.FetchError {
    return Errors.make(
      { _tag: "Timeout", phase: "deadline", limitMs: this.deadlineLimitMs },
      prepared.method,
      prepared.displayUrl,
      attempt,
      performance.now() - this.startedAt,
      Errors.timingWithout(this.startedAt, this.previous)
    )
  }

  bodyMode(status: number, headers: Record<string, string>): Attempt.BodyMode {
    Credentials.onResponse(this.session, this.current!, headers)
    return this.follow && Redirects.isRedirect(status, headers)
      ? Attempt.BodyMode.Drop
      : this.limits.acceptStatus(status)
      ? Attempt.BodyMode.Keep
      : Attempt.BodyMode.Prefix
  }

  respond(
    request: Prepared,
    status: number,
    headers: Record<string, string>,
    body: Uint8Array,
    bytes: number,
    timing: Timing,
    channel: BodyChannel | undefined
  ): FetchResponse<Uint8Array> {
    return {
      channel,
      url: request.href,
      status,
      headers,
      body,
      bytes,
      attempts: this.attempt,
      redirects: this.chain ?? noRedirects,
      timing,
      cache: "bypass"
    }
  }
}
