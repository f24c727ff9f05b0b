/**
 * The retry policy: which failures are retried (pure), how long to wait
 * (pure, given a random number), and a `Schedule` that does the waiting.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import * as Schedule from "effect/Schedule"
import * as ScheduleDecision from "effect/ScheduleDecision"
import * as ScheduleInterval from "effect/ScheduleInterval"
import type * as FetchError from "../../FetchError.js"
import { isTransient, transientStatuses } from "../../FetchError.js"
import type * as Retry from "../../Retry.js"
import type { ResolvedRetry, RetryOptions } from "../../Session.js"

export type RetryInput = number | false | RetryOptions

/** The policy as `session.config` shows it, and the schedule that replaces the backoff, if one was given. */
export interface RetryPolicy extends ResolvedRetry {
  readonly schedule: Schedule.Schedule<unknown, FetchError.FetchError> | undefined
}

export const idempotentMethods: ReadonlyArray<string> = ["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"]

export const defaultPolicy: RetryPolicy = {
  times: 2,
  baseDelayMs: 200,
  maxDelayMs: 10_000,
  maxRetryAfterMs: 60_000,
  methods: new Set(idempotentMethods),
  statuses: transientStatuses,
  schedule: undefined
}

const millis = (input: Duration.DurationInput | undefined, fallback: number): number =>
  input === undefined ? fallback : Math.max(0, Duration.toMillis(Duration.decode(input)))

export const resolvePolicy = (input: RetryInput | undefined, base: RetryPolicy): RetryPolicy => {
  if (input === undefined) return base
  if (input === false) return { ...base, times: 0 }
  if (typeof input === "number") {
    if (!Number.isInteger(input) || input < 0) throw new RangeError(`retry must be a whole number >= 0, got ${input}`)
    return { ...base, times: input }
  }
  const times = input.times ?? base.times
  if (!Number.isInteger(times) || times < 0) throw new RangeError(`retry.times must be a whole number >= 0, got ${times}`)
  return {
    times,
    baseDelayMs: millis(input.baseDelay, base.baseDelayMs),
    maxDelayMs: millis(input.maxDelay, base.maxDelayMs),
    maxRetryAfterMs: millis(input.maxRetryAfter, base.maxRetryAfterMs),
    methods: input.methods === undefined ? base.methods : new Set(input.methods.map((m) => m.toUpperCase())),
    statuses: input.statuses === undefined ? base.statuses : new Set(input.statuses),
    schedule: input.schedule ?? base.schedule
  }
}

/**
 * Parses `Retry-After` (RFC 9110 10.2.3): delta-seconds or an HTTP-date.
 * Returns the wait in ms, or `None` when the value is malformed: the caller
 * then falls back to its own backoff rather than guessing.
 */
export const parseRetryAfter = (value: string | undefined, nowMs: number): Option.Option<number> => {
  if (value === undefined) return Option.none()
  const trimmed = value.trim()
  if (/^\d+$/.test(trimmed)) {
    const seconds = Number(trimmed)
    return Number.isSafeInteger(seconds) ? Option.some(seconds * 1000) : Option.none()
  }
  // An HTTP-date always names a weekday and GMT; anything else Date.parse
  // would accept (bare numbers, ISO strings) is not one.
  if (!/^[A-Za-z]{3},? .*GMT$|^[A-Za-z]{3} [A-Za-z]{3} [ \d]\d \d\d:\d\d:\d\d \d{4}$/.test(trimmed)) return Option.none()
  const at = Date.parse(trimmed)
  if (Number.isNaN(at)) return Option.none()
  return Option.some(Math.max(0, at - nowMs))
}

/** The server's own wait for this failure, if it gave one. */
export const retryAfterOf = (error: FetchError.FetchError, nowMs: number): Option.Option<number> =>
  error._tag === "BadStatus" ? parseRetryAfter(error.headers["retry-after"], nowMs) : Option.none()

/** The connection failures retried after the request may have left (the rest only before). */
const retriedOnceSent: ReadonlySet<FetchError.ConnectionError["reason"]> = new Set(["Reset", "Dns", "Other"])

/**
 * Whether the policy retries this failure of this method: a transient one
 * (`FetchError.isTransient`, the one rule), with the policy's own
 * `statuses` in place of `transientStatuses` (they are its default). A
 * failure before the request left (refused connection, connect timeout, DNS
 * "try again") is retried for any method: nothing reached the server. After
 * that, only the policy's methods, and of the connection failures only a
 * reset, DNS "try again" or another break: a connection refused, closed (undici's
 * `UND_ERR_CLOSED`/`DESTROYED`) or failing at the proxy once the request was
 * written is not retried.
 */
export const isRetryable = (policy: RetryPolicy, method: string, error: FetchError.FetchError): boolean => {
  if (policy.times === 0) return false
  if (error._tag === "BadStatus") return policy.methods.has(method) && policy.statuses.has(error.status)
  if (!isTransient(error)) return false
  const notSent = (error._tag === "ConnectionError" || error._tag === "Timeout") && error.phase === "connect"
  if (notSent) return true
  if (!policy.methods.has(method)) return false
  return error._tag !== "ConnectionError" || retriedOnceSent.has(error.reason)
}

/** Exponential backoff with full jitter: uniform in [0, min(max, base × 2^(retry-1))]. */
export const backoffMs = (policy: RetryPolicy, retry: number, random: number): number => {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, retry - 1))
  return Math.floor(random * ceiling)
}

/**
 * The wait before retry number `retry` (1-based), or `None` to stop: an
 * exhausted budget, a failure the policy does not retry, a `Retry-After`
 * longer than `maxRetryAfter` (we never come back sooner than the server
 * asked), or a wait that would end after the deadline. Its signature is
 * the public `Retry.nextDelay`'s, written once there.
 */
export const nextDelay: typeof Retry.nextDelay = (policy, method, error, retry, nowMs, random, deadlineAt) => {
  if (retry > policy.times || !isRetryable(policy, method, error)) return Option.none()
  const serverWait = retryAfterOf(error, nowMs)
  let delay: number
  if (Option.isSome(serverWait)) {
    if (serverWait.value > policy.maxRetryAfterMs) return Option.none()
    delay = serverWait.value
  } else {
    delay = backoffMs(policy, retry, random)
  }
  if (deadlineAt !== undefined && nowMs + delay >= deadlineAt) return Option.none()
  return Option.some(delay)
}

/**
 * The policy as a `Schedule` over failures. With a user `schedule`, that
 * schedule's delays replace the backoff, a `Retry-After` is still a floor,
 * and both must agree to go on.
 */
export const schedule = (
  policy: RetryPolicy,
  method: string,
  deadlineAt: number | undefined
): Schedule.Schedule<unknown, FetchError.FetchError> => {
  const own = Schedule.makeWithState<number, FetchError.FetchError, number>(0, (now, error, retries) =>
    Effect.map(Random.next, (random) => {
      const retry = retries + 1
      const delay = nextDelay(policy, method, error, retry, now, policy.schedule === undefined ? random : 0, deadlineAt)
      return Option.isNone(delay)
        ? [retries, retries, ScheduleDecision.done] as const
        : [retry, retry, ScheduleDecision.continueWith(ScheduleInterval.after(now + delay.value))] as const
    }))
  return policy.schedule === undefined ? own : Schedule.intersect(own, policy.schedule)
}
