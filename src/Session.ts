/**
 * The session: one undici connection pool and the policies every request
 * shares, like aiohttp's `ClientSession`. It lives as long as its scope and
 * closes the pool (cutting anything still in flight) when the scope ends.
 *
 * A session layer provides both {@link Session} (for `Fetch` and `Gather`)
 * and `HttpClient.HttpClient`, so plain `@effect/platform` code runs on the
 * same pool with the same base URL and headers.
 *
 * @since 0.1.0
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import type * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import type * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import type * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import type { Dispatcher } from "undici"
import type * as FetchError from "./FetchError.js"
import * as options from "./internal/options.js"
import * as internal from "./internal/session.js"

/**
 * @since 0.1.0
 * @category models
 */
export const TypeId: typeof internal.TypeId = internal.TypeId

/**
 * @since 0.1.0
 * @category models
 */
export type TypeId = internal.TypeId

/**
 * A duration (`"5 seconds"`, `500` ms, a `Duration`) or `false` for no limit.
 *
 * @since 0.1.0
 * @category models
 */
export type Limit = Duration.DurationInput | false

/**
 * Time limits by phase. Waiting for a free connection in the pool is never
 * counted against any of them.
 *
 * @since 0.1.0
 * @category models
 */
export interface Timeouts {
  /** The whole attempt, from the moment it has a connection. Default `"60 seconds"`. */
  readonly attempt?: Limit | undefined
  /** Opening a connection (TCP and TLS). Session-wide only. Default `"10 seconds"`. */
  readonly connect?: Limit | undefined
  /** From sending the request to the response headers (time to first byte). Default `"30 seconds"`. */
  readonly headers?: Limit | undefined
  /** Longest pause between two body chunks. Default `"30 seconds"`. */
  readonly bodyIdle?: Limit | undefined
  /**
   * The overall deadline of a fetch: every attempt, retry wait, redirect and
   * queue wait. Default `"3 minutes"`.
   */
  readonly total?: Limit | undefined
}

/**
 * The retry policy. Only failures worth repeating are retried (see
 * `FetchError.isTransient`), and only for idempotent methods, except failures
 * before the request left (refused connection, connect timeout), which are
 * safe for any method.
 *
 * @since 0.1.0
 * @category models
 */
export interface RetryOptions {
  /** Retries after the first attempt. Default `2`. */
  readonly times?: number | undefined
  /** First backoff ceiling; doubles per retry, full jitter. Default `"200 millis"`. */
  readonly baseDelay?: Duration.DurationInput | undefined
  /** Largest backoff ceiling. Default `"10 seconds"`. */
  readonly maxDelay?: Duration.DurationInput | undefined
  /**
   * Longest `Retry-After` honoured; a longer one ends the retries (we never
   * come back sooner than the server asked). Default `"60 seconds"`.
   */
  readonly maxRetryAfter?: Duration.DurationInput | undefined
  /** Methods retried. Default GET, HEAD, OPTIONS, PUT, DELETE, TRACE. */
  readonly methods?: ReadonlyArray<string> | undefined
  /** Statuses retried. Default 408, 425, 429, 500, 502, 503, 504. */
  readonly statuses?: ReadonlyArray<number> | undefined
  /**
   * Replaces the backoff delays (the policy still decides what is retried,
   * `times` still bounds it, and a `Retry-After` is still a floor).
   */
  readonly schedule?: Schedule.Schedule<unknown, FetchError.FetchError> | undefined
}

/**
 * A rate: `"20 per second"`, `"20/s"`, `"600 per minute"`, or a record
 * (`limit` requests per `interval`, token bucket: bursts up to `limit`).
 *
 * @since 0.1.0
 * @category models
 */
export type Rate = `${number} per ${string}` | `${number}/${string}` | {
  readonly limit: number
  readonly interval: Duration.DurationInput
}

/**
 * Options of a session; every field is optional.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Prepended to every relative URL (`"/api"` with `"http://h:1"` → `"http://h:1/api"`). Default none. */
  readonly baseUrl?: string | URL | undefined
  /** Sent with every request; a request's own headers win. Default none. */
  readonly headers?: Readonly<Record<string, string>> | undefined
  /** The `User-Agent`. Default `"effect-gather/<version>"`; `false` sends none. */
  readonly userAgent?: string | false | undefined
  /**
   * Connections per origin (the pool's size per host). Default `128`. Past it,
   * requests wait for a free connection (time counted only against `total`).
   */
  readonly maxConnectionsPerHost?: number | undefined
  /**
   * A per-attempt limit (`"5 seconds"`) or limits by phase. Defaults: attempt
   * 60 s, connect 10 s, headers 30 s, body idle 30 s, total 3 min.
   */
  readonly timeout?: Limit | Timeouts | undefined
  /** Largest body read, after content decoding; `false` for none. Default 32 MiB. */
  readonly maxBodyBytes?: number | false | undefined
  /** Redirects followed before `TooManyRedirects`; `0` returns 3xx responses as they are. Default `10`. */
  readonly maxRedirects?: number | undefined
  /** Follow `https:` to `http:` redirects (otherwise `RedirectRejected`). Default `false`. */
  readonly allowInsecureRedirects?: boolean | undefined
  /** Create a client span per request and send `traceparent`. Default `false`. */
  readonly tracerPropagation?: boolean | undefined
  /** `3` (retries), `false` (none) or a policy. Default 2 retries of transient failures. */
  readonly retry?: number | false | RetryOptions | undefined
  /** Requests in flight at once across all origins. Default no limit beyond the pool. */
  readonly maxInFlight?: number | undefined
  /** Requests in flight at once per origin, across every gather on the session. Default no limit beyond the pool. */
  readonly maxInFlightPerHost?: number | undefined
  /** Requests started per origin per interval. Default none. */
  readonly ratePerHost?: Rate | undefined
  /** Record the `Metrics` (duration histogram, outcome counter). Default `false`. */
  readonly metrics?: boolean | undefined
}

/**
 * The options after defaults were applied, in milliseconds and bytes (`0` ms
 * and `Infinity` bytes mean "no limit").
 *
 * @since 0.1.0
 * @category models
 */
export type ResolvedOptions = options.ResolvedSession

/**
 * The session service: its resolved options and its pool.
 *
 * @since 0.1.0
 * @category models
 */
export interface Session extends internal.SessionImpl {
  readonly [TypeId]: TypeId
  readonly config: ResolvedOptions
  /** The undici pool every request of the session goes through. */
  readonly dispatcher: Dispatcher
}

/**
 * @since 0.1.0
 * @category layers
 */
export const Session: Context.Tag<Session, Session> = internal.tag

/**
 * The default `User-Agent`.
 *
 * @since 0.1.0
 * @category models
 */
export const defaultUserAgent: string = options.defaultUserAgent

/**
 * Opens a session in the current scope. Invalid options (a `baseUrl` that is
 * not http(s), a negative limit) are a defect: they are a bug in the program,
 * not a property of the data.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (options?: Options) => Effect.Effect<Session, never, Scope.Scope> = internal.make

/**
 * A session as a layer: provides {@link Session} and `HttpClient.HttpClient`
 * on one pool, closed when the layer's scope ends.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Fetch, Session } from "effect-gather"
 *
 * const program = Fetch.text("/index").pipe(
 *   Effect.map((response) => response.body.length),
 *   Effect.provide(Session.layer({ baseUrl: "http://127.0.0.1:8080", timeout: "5 seconds" }))
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: (options?: Options) => Layer.Layer<Session | HttpClient.HttpClient> = internal.layer

/**
 * {@link layer} with settings for tests: retries off and short time limits
 * (connect 1 s; headers, body idle and attempt 5 s; total 10 s). Options given
 * here win field by field (a `timeout` given replaces the test limits whole).
 *
 * Retry backoff and `Retry-After` waits run on Effect's `Clock`: under
 * `it.effect` (a `TestClock`) a session that retries waits until the test
 * calls `TestClock.adjust`, so a test of a failing fetch hangs. With retries
 * off nothing waits on the `Clock`. The time limits run on real timers, so
 * they fire under `TestClock` too.
 *
 * @example
 * ```ts
 * import { it } from "@effect/vitest"
 * import { Effect, Layer } from "effect"
 * import { DemoServer, Fetch, Session } from "effect-gather"
 *
 * const TestSession = Layer.unwrapEffect(
 *   Effect.map(DemoServer.DemoServer, (server) => Session.layerTest({ baseUrl: server.baseUrl }))
 * ).pipe(Layer.provideMerge(DemoServer.layerTest))
 *
 * it.effect("a 404 fails at once, with no retry", () =>
 *   Effect.gen(function*() {
 *     const error = yield* Effect.flip(Fetch.get("/status/404"))
 *     if (error._tag !== "BadStatus" || error.attempt !== 1) throw new Error("expected one BadStatus")
 *   }).pipe(Effect.provide(TestSession)))
 * ```
 *
 * @since 0.2.0
 * @category layers
 */
export const layerTest: (options?: Options) => Layer.Layer<Session | HttpClient.HttpClient> = internal.layerTest

/**
 * Session options read through `Config`: `GATHER_BASE_URL`, `GATHER_USER_AGENT`,
 * `GATHER_MAX_CONNECTIONS_PER_HOST`, `GATHER_TIMEOUT` and
 * `GATHER_CONNECT_TIMEOUT` (durations such as `"5 seconds"`),
 * `GATHER_MAX_BODY_BYTES`, `GATHER_MAX_REDIRECTS`, `GATHER_TRACER_PROPAGATION`.
 * All optional.
 *
 * @since 0.1.0
 * @category constructors
 */
export const config: Config.Config<Options> = internal.config

/**
 * {@link layer} with options from `Config` ({@link config} by default, i.e.
 * `GATHER_*` environment variables).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig: (
  config?: Config.Config<Options>
) => Layer.Layer<Session | HttpClient.HttpClient, ConfigError.ConfigError> = internal.layerConfig
