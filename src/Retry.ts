/**
 * The retry policy's pure parts, exported so they can be tested and reused:
 * what is retried, how long to wait, and how `Retry-After` parses. The
 * waiting itself is a `Schedule` built by the session for each request.
 *
 * @since 0.1.0
 */
import type * as Option from "effect/Option"
import type * as FetchError from "./FetchError.js"
import * as internal from "./internal/policy/retry.js"
import type * as Session from "./Session.js"

/**
 * A resolved policy, in milliseconds.
 *
 * @since 0.1.0
 * @category models
 */
export type Policy = internal.RetryPolicy

/**
 * The defaults: 2 retries, 200 ms base and 10 s max backoff with full jitter,
 * `Retry-After` up to 60 s, idempotent methods, transient statuses.
 *
 * @since 0.1.0
 * @category models
 */
export const defaultPolicy: Policy = internal.defaultPolicy

/**
 * GET, HEAD, OPTIONS, PUT, DELETE, TRACE (RFC 9110 9.2.2).
 *
 * @since 0.1.0
 * @category models
 */
export const idempotentMethods: ReadonlyArray<string> = internal.idempotentMethods

/**
 * Resolves `retry` options (`3`, `false` or a record) against a base policy.
 *
 * @since 0.1.0
 * @category constructors
 */
export const policy = (
  options: number | false | Session.RetryOptions | undefined,
  base: Policy = defaultPolicy
): Policy => internal.resolvePolicy(options, base)

/**
 * Parses a `Retry-After` value: delta-seconds (`"120"`) or an HTTP-date
 * (`"Wed, 21 Oct 2015 07:28:00 GMT"`), as milliseconds from `nowMs`. A date in
 * the past is `0`; anything malformed is `None`, so the caller falls back to
 * its backoff instead of guessing.
 *
 * @example
 * ```ts
 * import { Retry } from "effect-gather"
 *
 * Retry.parseRetryAfter("3", Date.now()) // Option.some(3000)
 * Retry.parseRetryAfter("soon", Date.now()) // Option.none()
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const parseRetryAfter: (value: string | undefined, nowMs: number) => Option.Option<number> = internal.parseRetryAfter

/**
 * Whether the policy retries this failure of this method: a failure
 * {@link FetchError.isTransient} calls transient, judged by the policy's own
 * `statuses` (by default `FetchError.transientStatuses`). Before the
 * request left (a refused connection, a connect timeout, DNS "try again")
 * any method is retried; after that only the policy's `methods`, and a
 * connection refused, closed or failing at the proxy is not.
 *
 * @since 0.1.0
 * @category guards
 */
export const isRetryable: (policy: Policy, method: string, error: FetchError.FetchError) => boolean = internal.isRetryable

/**
 * The backoff before retry number `retry` (1-based) for a uniform `random`
 * in [0, 1): full jitter under `min(maxDelay, baseDelay × 2^(retry-1))`.
 *
 * @since 0.1.0
 * @category models
 */
export const backoffMs: (policy: Policy, retry: number, random: number) => number = internal.backoffMs

/**
 * The wait before retry number `retry`, or `None` to stop: the budget is
 * spent, the failure is not retried, the server's `Retry-After` exceeds
 * `maxRetryAfter`, or the wait would end after `deadlineAt`. A `Retry-After`
 * is used as given, never jittered.
 *
 * @since 0.1.0
 * @category models
 */
export const nextDelay: (
  policy: Policy,
  method: string,
  error: FetchError.FetchError,
  retry: number,
  nowMs: number,
  random: number,
  deadlineAt: number | undefined
) => Option.Option<number> = internal.nextDelay
