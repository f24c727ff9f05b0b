/**
 * The limits the engine reads, as plain types. They are resolved from the
 * session's and the call's options in options.ts, which sits above the
 * engine (it also resolves retry, auth, rates and the cache): the engine
 * takes these from here so that it imports nothing from options.ts.
 */

/** Time limits in milliseconds; 0 means off. */
export interface Timeouts {
  readonly attemptMs: number
  readonly connectMs: number
  readonly headersMs: number
  readonly bodyIdleMs: number
  readonly totalMs: number
}

/** What one attempt reads of a request's limits (options.ts's `Limits` adds the rest). */
export interface AttemptLimits {
  readonly timeouts: Timeouts
  readonly maxBodyBytes: number
}
