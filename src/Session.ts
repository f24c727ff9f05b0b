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
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import type * as Redacted from "effect/Redacted"
import type * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import type { Dispatcher } from "undici"
import type * as FetchError from "./FetchError.js"
import * as redact from "./internal/engine/redact.js"
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
  /** Statuses retried. Default `FetchError.transientStatuses`: 408, 425, 429, 500, 502, 503, 504. */
  readonly statuses?: ReadonlyArray<number> | undefined
  /**
   * Replaces the backoff delays (the policy still decides what is retried,
   * `times` still bounds it, and a `Retry-After` is still a floor).
   */
  readonly schedule?: Schedule.Schedule<unknown, FetchError.FetchError> | undefined
}

/**
 * A rate: `"20 per second"`, `"20/s"`, `"600 per minute"`, `"5/100ms"`,
 * `"7/2s"`, or a record (`limit` requests per `interval`, token bucket:
 * bursts up to `limit`). The interval is a unit (ms, s, m, h, in any common
 * spelling) with an optional count; the `gather` CLI's `--rate` reads the
 * same forms.
 *
 * @since 0.1.0
 * @category models
 */
export type Rate = `${number} per ${string}` | `${number}/${string}` | {
  readonly limit: number
  readonly interval: Duration.DurationInput
}

/**
 * The adaptive per-origin window (`adaptive: true` takes every default),
 * the way TCP finds a path's capacity. Each origin gets an in-flight window
 * between `min` and `max` that starts small (`initial`) and grows fast
 * while nothing refuses: slow start, +1 per success, so it doubles per
 * round trip and reaches `max` in about log2(max / initial) round trips
 * when nothing fails. A 429, 503, connection reset or timeout shrinks it
 * to `decrease` × the requests in flight when the refused request was sent
 * (at most once per round trip: a burst of refusals is one signal), and
 * that flight size becomes the origin's ceiling: the window comes back in
 * slow start to just below it and holds there, for one round trip after a
 * new ceiling and four times as long each time the same one is hit again
 * (up to 256 round trips), before it probes past it by `increase` per
 * round trip.
 * A refusal counts only when it rises with load: when at least a quarter
 * of the last two round trips' answers to requests sent with as many in
 * flight or more were refusals too (a per-route limit or a random 429
 * leaves the window alone).
 * Outgrown by a whole request with no refusal, the ceiling is dropped and
 * slow start finds the new one. The window is shared by every gather on
 * the session and shown in `Progress` and `Metrics`.
 *
 * @since 0.1.0
 * @category models
 */
export interface AdaptiveOptions {
  /**
   * The window of an origin not seen before (TCP's initial window, RFC 6928),
   * within `min` and `max`. Default `10` (at most `max`, at least `min`).
   *
   * @since 0.2.0
   */
  readonly initial?: number | undefined
  /** Smallest window. Default `1`. */
  readonly min?: number | undefined
  /**
   * Largest window. Default `maxInFlightPerOrigin` when set, else
   * `maxConnectionsPerOrigin` (128).
   */
  readonly max?: number | undefined
  /** Added per window's worth of successes once slow start has ended. Default `1`. */
  readonly increase?: number | undefined
  /** Factor applied on overload, in (0, 1). Default `0.7`. */
  readonly decrease?: number | undefined
}

/**
 * What a 429 or 503 with `Retry-After` holds back.
 *
 * - `"request"` (default): the refused request waits what the server asked
 *   (never less) before its retry; other requests to the origin go on (with
 *   `adaptive`, within a smaller window). When the server makes clear the
 *   limit is origin-wide, the whole origin pauses anyway (until the latest
 *   time asked): 4 distinct paths refused with `Retry-After`, each sent after
 *   the wait the origin's first refusal asked for had passed, with no success
 *   from the origin in between.
 * - `"origin"`: every refusal pauses every request to the origin until the
 *   time asked (queued requests wait too).
 *
 * @since 0.1.0
 * @category models
 */
export type RetryAfterScope = "request" | "origin"

/**
 * PEM text, as a string or the bytes of a file.
 *
 * @since 0.1.0
 * @category models
 */
export type Pem = string | Uint8Array

/**
 * How the session's connections speak TLS, like aiohttp's `ssl=` or httpx's
 * `verify=` and `cert=`. Every field is optional; without any, certificates
 * are checked against Node's bundled roots (plus `NODE_EXTRA_CA_CERTS`).
 *
 * @since 0.1.0
 * @category models
 */
export interface TlsOptions {
  /**
   * The certificate authorities to trust, instead of Node's bundled roots (a
   * private CA: pass only it, or it plus `tls.rootCertificates`). Default the
   * bundled roots.
   */
  readonly ca?: Pem | ReadonlyArray<Pem> | undefined
  /** A client certificate chain for servers that ask for one (mTLS); needs `key`. Default none. */
  readonly cert?: Pem | undefined
  /** The private key of `cert`. Default none. */
  readonly key?: Pem | Redacted.Redacted<string> | undefined
  /** The passphrase of an encrypted `key`. Default none. */
  readonly passphrase?: string | Redacted.Redacted<string> | undefined
  /** The name sent by SNI and checked against the certificate. Default the URL's host name. */
  readonly servername?: string | undefined
  /**
   * `false` switches certificate checks off (anyone on the path can read and
   * change the traffic). Allowed only when written out, and the session logs
   * a warning once when it opens. Default `true`.
   */
  readonly rejectUnauthorized?: boolean | undefined
  /** The oldest TLS version accepted. Default `"TLSv1.2"`. */
  readonly minVersion?: "TLSv1.2" | "TLSv1.3" | undefined
}

/**
 * Credentials the session adds as `Authorization`: a bearer token, or a user
 * and password for basic auth. Pass secrets as `Redacted` (from `Config.redacted`
 * or `Redacted.make`): the session keeps them redacted, so they never appear in
 * its `config`, an error, a log line or a report.
 *
 * The header goes only to `origins` (`"https://api.example.com"`; scheme, host
 * and port); by default to the origin of `baseUrl` when there is one, else to
 * every origin. A request's own `Authorization` (or credentials in its URL)
 * wins. A redirect to another origin drops it and never gets it back.
 *
 * @since 0.2.0
 * @category models
 */
export type Auth =
  | {
    readonly bearer: string | Redacted.Redacted<string>
    readonly origins?: ReadonlyArray<string> | undefined
  }
  | {
    readonly username: string
    readonly password: string | Redacted.Redacted<string>
    readonly origins?: ReadonlyArray<string> | undefined
  }

/**
 * Where the session's requests go through:
 * - a proxy URL (`"http://proxy:3128"`, `"http://user:password@proxy:3128"`;
 *   without a scheme `http://` is assumed): every request, http: and https:;
 * - `"env"`: the variables `http_proxy` / `HTTP_PROXY` (for http: URLs),
 *   `https_proxy` / `HTTPS_PROXY` (for https: URLs; when unset, the http one),
 *   and `no_proxy` / `NO_PROXY` (hosts reached directly: `example.com` also
 *   covers its subdomains, `.example.com` and `*.example.com` too, `host:port`
 *   only that port, `*` every host), read once when the session opens, lower
 *   case first; none set means direct;
 * - `false`: direct.
 *
 * Requests reach the target through a `CONNECT` tunnel (http: targets too, as
 * undici's `ProxyAgent` does), so TLS stays end to end and the pool's limits
 * apply per target origin. Credentials in the URL go to the proxy as
 * `Proxy-Authorization` (never to the target) and are redacted wherever the
 * URL is shown. When the proxy cannot be reached or refuses the tunnel, the
 * fetch fails with a `ConnectionError` of reason `"Proxy"` naming the proxy
 * (a `407` or `403` is not retried).
 *
 * @since 0.3.0
 * @category models
 */
export type Proxy = string | URL | Redacted.Redacted<string> | "env" | false

/**
 * The session's HTTP cache (RFC 9111, as a private cache), like got's
 * `cache` or requests-cache: a fresh stored response answers a GET without
 * a request (`response.cache` `"hit"`), a stale one with a validator is
 * revalidated with `If-None-Match` / `If-Modified-Since` (a 304 gives back
 * the stored body with the new headers: `"revalidated"`), anything else is
 * fetched and stored when it may be (`"miss"`). Freshness comes from
 * `Cache-Control: max-age` (`s-maxage` is for shared caches and ignored),
 * else `Expires` − `Date`, minus the `Age`; without either, 10% of the time
 * since `Last-Modified` (at most a day) for the statuses the RFC allows.
 * Never stored: `no-store` (request or response), `Vary: *`, statuses
 * other than 200, 203 and 204, redirected fetches, and answers to requests
 * with `Authorization` or `Cookie` unless the response says `public` (so
 * sessions with other credentials sharing a store never see each other's).
 * `no-cache` always revalidates; a stale response is never served. `Vary`
 * keeps variants apart. A successful POST, PUT, PATCH or DELETE forgets the
 * URL. A cached session's GETs keep the callback fast path: the lookup,
 * a hit and a revalidation run in the fetch's own callbacks.
 *
 * @since 0.3.0
 * @category models
 */
export interface CacheOptions {
  /**
   * Where responses are kept: `"memory"` (this session only, least recently
   * used first out past `maxBytes`) or `{ sqlite: "file.db" }` (a file that
   * outlives the process; needs `better-sqlite3`, which
   * `@effect/sql-sqlite-node` brings). Default `"memory"`.
   */
  readonly store?: "memory" | { readonly sqlite: string } | undefined
  /** Bound of the memory store in bytes (bodies and headers). Default 64 MiB. */
  readonly maxBytes?: number | undefined
  /** Revalidate every stored response, fresh ones too (a conditional request each). Default `false`. */
  readonly revalidate?: boolean | undefined
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
   * Connections per origin (scheme, host and port): the pool's size for each.
   * Default `128`. Past it, requests wait for a free connection (time counted
   * only against `total`).
   *
   * @since 0.3.0
   */
  readonly maxConnectionsPerOrigin?: number | undefined
  /**
   * The old name of {@link Options.maxConnectionsPerOrigin} (the pool was always
   * per origin), still read; giving both with different values fails the session.
   *
   * @deprecated Use maxConnectionsPerOrigin
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
  /**
   * Headers removed when a redirect leaves the origin: a list of names (any
   * case), or a test of a lower-case name. Default {@link isSecretHeader}:
   * every header the redactor hides (`Authorization`, `Proxy-Authorization`,
   * `Cookie`, `X-Api-Key`, and any name with a word such as token, secret,
   * signature, key, auth, session). A list or a test replaces that default,
   * but `Authorization` (the session's own `auth` too), `Proxy-Authorization`
   * and `Cookie` are dropped whatever it says: it only adds to them. To add
   * to the whole default, pass
   * `(name) => Session.isSecretHeader(name) || name === "x-tenant"`.
   */
  readonly stripOnCrossOrigin?: ReadonlyArray<string> | ((name: string) => boolean) | undefined
  /** Create a client span per request and send `traceparent`. Default `false`. */
  readonly tracerPropagation?: boolean | undefined
  /** `3` (retries), `false` (none) or a policy. Default 2 retries of transient failures. */
  readonly retry?: number | false | RetryOptions | undefined
  /** Requests in flight at once across all origins. Default no limit beyond the pool. */
  readonly maxInFlight?: number | undefined
  /**
   * Requests in flight at once per origin (scheme, host and port), across
   * every gather on the session. Default no limit beyond the pool.
   *
   * @since 0.3.0
   */
  readonly maxInFlightPerOrigin?: number | undefined
  /**
   * The old name of {@link Options.maxInFlightPerOrigin} (the limit was always per
   * origin), still read; giving both with different values fails the session.
   *
   * @deprecated Use maxInFlightPerOrigin
   */
  readonly maxInFlightPerHost?: number | undefined
  /**
   * Requests started per origin (scheme, host and port) per interval. Default none.
   *
   * @since 0.3.0
   */
  readonly ratePerOrigin?: Rate | undefined
  /**
   * The old name of {@link Options.ratePerOrigin} (the rate was always per origin),
   * still read; giving both with different rates fails the session.
   *
   * @deprecated Use ratePerOrigin
   */
  readonly ratePerHost?: Rate | undefined
  /**
   * An adaptive in-flight window per origin (see {@link AdaptiveOptions}),
   * under `maxInFlightPerOrigin` when both are set. Default `false`.
   */
  readonly adaptive?: boolean | AdaptiveOptions | undefined
  /** What a `Retry-After` holds back: the request (default) or the whole origin. See {@link RetryAfterScope}. */
  readonly retryAfter?: RetryAfterScope | undefined
  /** Record the `Metrics` (duration histogram, outcome counter, adaptive windows). Default `false`. */
  readonly metrics?: boolean | undefined
  /** TLS settings of every `https:` connection (private CA, client certificate). Default Node's. */
  readonly tls?: TlsOptions | undefined
  /**
   * Offer HTTP/2 by ALPN on `https:` connections (one multiplexed connection
   * per origin when the server agrees; HTTP/1.1 otherwise). Default `false`.
   */
  readonly allowH2?: boolean | undefined
  /** Bearer or basic credentials for the session's origin(s); see {@link Auth}. Default none. */
  readonly auth?: Auth | undefined
  /**
   * A cookie jar for the session, shared by every fetch and gather on it:
   * `Set-Cookie` from any response (redirects and errors too) is kept and sent
   * back where it belongs (domain and path as in RFC 6265, `Secure` only over
   * https, `Expires`/`Max-Age` on the `Clock`). Stricter than a browser: a
   * cookie goes back only to the port that set it, and a `Domain` must cover
   * the host that set it and contain a dot (there is no public-suffix list, so
   * `Domain=co.uk` from `a.co.uk` is accepted). A request's own `Cookie`
   * header is sent before the jar's; on a redirect the header is rebuilt from
   * the jar alone. At most 3000 cookies (the oldest go first). Default `false`.
   */
  readonly cookies?: boolean | undefined
  /**
   * Requests go through this undici (v7) dispatcher instead of the session's
   * own pool: THE way to reach a proxy (`new ProxyAgent("http://proxy:3128")`)
   * or to set TLS and socket options (`new Agent({ connect: { ca } })`). The
   * session does not own it: it is neither closed nor destroyed with the
   * session, and `maxConnectionsPerOrigin` and `timeout.connect` (pool options)
   * do not apply to it. Default: an `Agent` owned by the session.
   */
  readonly dispatcher?: Dispatcher | undefined
  /**
   * A proxy for every request, `"env"` for the `HTTP_PROXY` / `HTTPS_PROXY` /
   * `NO_PROXY` variables, or `false`; see {@link Proxy}. Cannot be combined
   * with `dispatcher`. Default `false` (the `gather` CLI defaults to `"env"`).
   */
  readonly proxy?: Proxy | undefined
  /** An HTTP cache (`true`: in memory, defaults); see {@link CacheOptions}. Default `false`. */
  readonly cache?: boolean | CacheOptions | undefined
}

/**
 * True for header names whose values are credentials: what errors, records
 * and reports redact, and what a redirect to another origin drops by
 * default (see {@link Options.stripOnCrossOrigin}).
 *
 * @since 0.1.0
 * @category guards
 */
export const isSecretHeader: (name: string) => boolean = redact.isSecretHeader

/**
 * The session's time limits in milliseconds, after defaults; `0` means no
 * limit. The fields are {@link Timeouts}' own.
 *
 * @since 0.3.0
 * @category models
 */
export interface ResolvedTimeouts {
  readonly attemptMs: number
  readonly connectMs: number
  readonly headersMs: number
  readonly bodyIdleMs: number
  readonly totalMs: number
}

/**
 * The retry policy as configured ({@link RetryOptions} after defaults), in
 * milliseconds; `times: 0` means no retries. Methods are upper case.
 *
 * @since 0.3.0
 * @category models
 */
export interface ResolvedRetry {
  readonly times: number
  readonly baseDelayMs: number
  readonly maxDelayMs: number
  readonly maxRetryAfterMs: number
  readonly methods: ReadonlySet<string>
  readonly statuses: ReadonlySet<number>
}

/**
 * A {@link Rate} as read: `limit` request starts per `intervalMs`.
 *
 * @since 0.3.0
 * @category models
 */
export interface ResolvedRate {
  readonly limit: number
  readonly intervalMs: number
}

/**
 * The adaptive window's bounds and steps ({@link AdaptiveOptions} after
 * defaults).
 *
 * @since 0.3.0
 * @category models
 */
export interface ResolvedAdaptive {
  readonly initial: number
  readonly min: number
  readonly max: number
  readonly increase: number
  readonly decrease: number
}

/**
 * What gates the session's requests: the in-flight caps, the rate, the
 * adaptive window and what a `Retry-After` holds back; `undefined`: none.
 *
 * @since 0.3.0
 * @category models
 */
export interface ResolvedHostLimits {
  /** {@link Options.maxInFlight}. */
  readonly maxInFlight: number | undefined
  /** {@link Options.maxInFlightPerOrigin} (whichever of its names was given). */
  readonly maxInFlightPerOrigin: number | undefined
  /** {@link Options.ratePerOrigin} (whichever of its names was given). */
  readonly ratePerOrigin: ResolvedRate | undefined
  /**
   * The old name of {@link ResolvedHostLimits.maxInFlightPerOrigin}, the same value.
   *
   * @deprecated Use maxInFlightPerOrigin
   */
  readonly maxInFlightPerHost: number | undefined
  /**
   * The old name of {@link ResolvedHostLimits.ratePerOrigin}, the same value.
   *
   * @deprecated Use ratePerOrigin
   */
  readonly ratePerHost: ResolvedRate | undefined
  /** {@link Options.adaptive}; `undefined` without it. */
  readonly adaptive: ResolvedAdaptive | undefined
  /** {@link Options.retryAfter}. */
  readonly retryAfter: RetryAfterScope
}

/**
 * The TLS settings as checked when the session opened, without its
 * secrets: a client key and its passphrase are kept but not shown here.
 *
 * @since 0.3.0
 * @category models
 */
export interface ResolvedTls {
  /** The trusted authorities; `undefined`: Node's bundled roots. */
  readonly ca: ReadonlyArray<Pem> | undefined
  /** The client certificate chain; `undefined`: none. */
  readonly cert: Pem | undefined
  readonly servername: string | undefined
  readonly rejectUnauthorized: boolean
  readonly minVersion: "TLSv1.2" | "TLSv1.3"
}

/**
 * The session's credentials as kept: the whole `Authorization` value,
 * redacted (it prints as `<redacted>`), and where it is sent.
 *
 * @since 0.3.0
 * @category models
 */
export interface ResolvedAuth {
  readonly scheme: "Bearer" | "Basic"
  readonly authorization: Redacted.Redacted<string>
  /** Origins (`scheme://host:port`) the header goes to; `undefined`: every origin. */
  readonly origins: ReadonlySet<string> | undefined
}

/**
 * One proxy as shown: its URL with any credentials redacted
 * (`http://***:***@proxy:3128`).
 *
 * @since 0.3.0
 * @category models
 */
export interface ShownProxy {
  readonly shown: string
}

/**
 * The proxies the session's requests go through ({@link Proxy} resolved).
 *
 * @since 0.3.0
 * @category models
 */
export interface ResolvedProxy {
  /** For `http:` targets; `undefined`: direct. */
  readonly http: ShownProxy | undefined
  /** For `https:` targets; `undefined`: the `http` one, if any. */
  readonly https: ShownProxy | undefined
  /** Hosts reached directly, in `NO_PROXY`'s form; `""` for none. */
  readonly noProxy: string
}

/**
 * The HTTP cache ({@link CacheOptions} after defaults).
 *
 * @since 0.3.0
 * @category models
 */
export interface ResolvedCache {
  readonly store: "memory" | { readonly sqlite: string }
  /** Bound of the memory store, in bytes. */
  readonly maxBytes: number
  readonly revalidate: boolean
}

/**
 * The options after defaults were applied, in milliseconds and bytes (`0` ms
 * and `Infinity` bytes mean "no limit"): what `session.config` shows. The
 * TLS key and passphrase, the `auth` credential and proxy URLs are kept
 * `Redacted`; `headers` and `baseUrl` are as you gave them, so redact those
 * before logging it (`isSecretHeader` names the secret headers).
 *
 * @since 0.1.0
 * @category models
 */
export interface ResolvedOptions {
  /** {@link Options.baseUrl} without a trailing `/`; `undefined`: none. */
  readonly baseUrl: string | undefined
  /** The session's headers, names in lower case, `user-agent` included. */
  readonly headers: Readonly<Record<string, string>>
  /** The `User-Agent`; `undefined`: none is sent. */
  readonly userAgent: string | undefined
  /** {@link Options.maxConnectionsPerOrigin} (whichever of its names was given). */
  readonly maxConnectionsPerOrigin: number
  /**
   * The old name of {@link ResolvedOptions.maxConnectionsPerOrigin}, the same value.
   *
   * @deprecated Use maxConnectionsPerOrigin
   */
  readonly maxConnectionsPerHost: number
  readonly timeouts: ResolvedTimeouts
  /** After content decoding; `Infinity`: no limit. */
  readonly maxBodyBytes: number
  readonly maxRedirects: number
  readonly allowInsecureRedirects: boolean
  readonly retry: ResolvedRetry
  readonly tracerPropagation: boolean
  readonly metrics: boolean
  readonly hostLimits: ResolvedHostLimits
  /** `undefined` when no TLS option was given (Node's defaults). */
  readonly tls: ResolvedTls | undefined
  readonly allowH2: boolean
  /** `undefined`: no credentials. */
  readonly auth: ResolvedAuth | undefined
  /** Whether the session keeps a cookie jar. */
  readonly cookies: boolean
  /** `undefined`: direct. */
  readonly proxy: ResolvedProxy | undefined
  /** `undefined`: no cache. */
  readonly cache: ResolvedCache | undefined
}

/**
 * The session service: its resolved options and its pool.
 *
 * @since 0.1.0
 * @category models
 */
export interface Session {
  readonly [TypeId]: TypeId
  readonly config: ResolvedOptions
  /** The undici pool every request of the session goes through. */
  readonly dispatcher: Dispatcher
}

/**
 * @since 0.1.0
 * @category layers
 */
export const Session: Context.Tag<Session, Session> = Context.GenericTag<Session>(internal.key)

/**
 * The adaptive window (requests allowed in flight) of every origin the
 * session has sent to; empty without `adaptive`. The same figures as
 * `Progress.windows`, readable at any time.
 *
 * @since 0.2.0
 * @category combinators
 */
export const windows: Effect.Effect<Readonly<Record<string, number>>, never, Session> = Effect.map(
  internal.tag,
  (session) => session.hosts.windows()
)

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
 * not a property of the data. A `ratePerOrigin` the rate parser refuses
 * (`"5 per fortnight"`: text, often read from a file or a flag) fails with a
 * `ConfigError` (`InvalidData` at the option's name) that names it, and so
 * does an option given under both its names with different values
 * (`maxInFlightPerOrigin` and `maxInFlightPerHost`, `ratePerOrigin` and
 * `ratePerHost`, `maxConnectionsPerOrigin` and `maxConnectionsPerHost`; the
 * second of each pair is the first's old name).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (options?: Options) => Effect.Effect<Session, ConfigError.ConfigError, Scope.Scope> = internal.make

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
export const layer: (options?: Options) => Layer.Layer<Session | HttpClient.HttpClient, ConfigError.ConfigError> = internal.layer

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
 * import { Fetch, Session } from "effect-gather"
 * import * as DemoServer from "effect-gather/DemoServer"
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
export const layerTest: (options?: Options) => Layer.Layer<Session | HttpClient.HttpClient, ConfigError.ConfigError> = internal.layerTest

/**
 * Session options read through `Config`: `GATHER_BASE_URL`, `GATHER_USER_AGENT`,
 * `GATHER_MAX_CONNECTIONS_PER_ORIGIN` (its old name
 * `GATHER_MAX_CONNECTIONS_PER_HOST` still read: each sets the option of its
 * name; both with different values fail with a `ConfigError` `InvalidData`
 * naming the two), `GATHER_TIMEOUT` and
 * `GATHER_CONNECT_TIMEOUT` (durations such as `"5 seconds"`),
 * `GATHER_MAX_BODY_BYTES`, `GATHER_MAX_REDIRECTS`, `GATHER_TRACER_PROPAGATION`,
 * `GATHER_ALLOW_H2`, and TLS: `GATHER_TLS_CA_FILE`, `GATHER_TLS_CERT_FILE`,
 * `GATHER_TLS_KEY_FILE` (PEM files, read when the config is),
 * `GATHER_TLS_PASSPHRASE`, `GATHER_TLS_SERVERNAME`,
 * `GATHER_TLS_REJECT_UNAUTHORIZED`, `GATHER_TLS_MIN_VERSION`, `GATHER_COOKIES`
 * (a boolean) and `GATHER_BEARER_TOKEN` (read as `Redacted`, becomes
 * `auth: { bearer }`). All optional.
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
