/**
 * effect-gather: fetch many URLs at once, safely and fast, as Effect programs.
 *
 * The demo and fault server is not here: it is `effect-gather/DemoServer`,
 * so that importing the library loads no HTTP server and no demo data.
 *
 * @since 0.1.0
 */

/**
 * The closed union of fetch errors, guards and `isTransient`.
 *
 * @since 0.1.0
 */
export * as FetchError from "./FetchError.js"

/**
 * One request as an Effect on the current session.
 *
 * @since 0.1.0
 */
export * as Fetch from "./Fetch.js"

/**
 * Many effects at once with a concurrency bound: fail fast or settle.
 *
 * @since 0.1.0
 */
export * as Gather from "./Gather.js"

/**
 * The session: one undici pool and the policies every request shares.
 *
 * @since 0.1.0
 */
export * as Session from "./Session.js"

/**
 * The retry policy's pure parts: what is retried, backoff, `Retry-After`.
 *
 * @since 0.1.0
 */
export * as Retry from "./Retry.js"

/**
 * Watching a running gather: counts, bytes, in flight, rate.
 *
 * @since 0.1.0
 */
export * as Progress from "./Progress.js"

/**
 * Effect metrics recorded by a session made with `metrics: true`.
 *
 * @since 0.1.0
 */
export * as Metrics from "./Metrics.js"

/**
 * Run reports: one self-contained HTML page per gather, with a waterfall,
 * concurrency, latency and per-origin views.
 *
 * @since 0.1.0
 */
export * as Report from "./Report.js"
