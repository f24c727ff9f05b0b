/**
 * One request as an Effect on the current {@link Session.Session}.
 *
 * Every fetch reads its body to the end (or up to the session's
 * `maxBodyBytes`) before it succeeds, so no response ever holds a pooled
 * connection after its Effect ends; interrupting a fetch aborts the request
 * on its socket. The error channel is the closed {@link FetchError.FetchError}
 * union.
 *
 * @since 0.1.0
 */
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as UrlParams from "@effect/platform/UrlParams"
import * as Effect from "effect/Effect"
import type * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as FetchError from "./FetchError.js"
import { announcedLength } from "./internal/engine/bodySink.js"
import * as redact from "./internal/engine/redact.js"
import * as internal from "./internal/fetch.js"
import * as sender from "./internal/send.js"
import * as session from "./internal/session.js"
import type * as Session from "./Session.js"

/**
 * A response whose body was read to the end.
 *
 * `url` and `redirects` are raw: exactly the URLs requested, including user
 * info and query parameters such as `?token=` that a redirect's `Location`
 * brought (they are data the caller may need to act on). Pass them through
 * {@link redactUrl} before showing or logging them; errors, CLI records and
 * reports already do.
 *
 * @since 0.1.0
 * @category models
 */
export interface FetchResponse<A> {
  /** The final URL, after redirects; raw (see above). */
  readonly url: string
  readonly status: number
  /**
   * Response headers, lower-case names. Repeated headers are joined with
   * `", "`, except `set-cookie`, whose lines are joined with `"\n"` (a cookie's
   * `Expires` date holds a comma): `headers["set-cookie"]?.split("\n")` gives
   * one `Set-Cookie` line each.
   */
  readonly headers: Readonly<Record<string, string>>
  /** The body: bytes, text or the decoded JSON value. */
  readonly body: A
  /** Size of the body in bytes, after content decoding. */
  readonly bytes: number
  /** How many attempts the final hop took (1 without retries). */
  readonly attempts: number
  /** The URLs that redirected, in order, raw; empty without redirects. */
  readonly redirects: ReadonlyArray<string>
  readonly timing: Timing
  /** Where it came from, with the session's `cache`: see {@link CacheStatus}. */
  readonly cache: CacheStatus
}

/**
 * Where a response came from: `"hit"` the session's cache, fresh, with no
 * request; `"revalidated"` the cache, after the server answered a
 * conditional request with 304; `"miss"` the server, the cache consulted
 * (nothing fresh or nothing revalidable stored, or the stored response
 * changed); `"bypass"` the server, the cache not consulted (no cache on the
 * session, a method other than GET, a streamed body, a request with its own
 * conditional headers or `Cache-Control: no-store`).
 *
 * @since 0.3.0
 * @category models
 */
export type CacheStatus = "hit" | "revalidated" | "miss" | "bypass"

/**
 * The moments of one attempt, in milliseconds from the start of the fetch
 * (a monotonic clock); a moment that did not happen is `-1`. Between them lie
 * the phases: queued (start or previous end → `dispatchMs` → `connectMs` or
 * `sentMs`: gates, rate tokens, retry backoff, a free pooled connection),
 * connect (`connectMs` → `tlsMs` or `sentMs`, DNS and TCP, only when a new
 * connection was opened), TLS (`tlsMs` → `sentMs`), waiting for the first
 * byte (`sentMs` → `headersMs`) and the body (`headersMs` → `endMs`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Phases {
  /** Handed to the connection pool (after the session's gates). */
  readonly dispatchMs: number
  /** A new connection started to open (DNS, TCP); `-1` when a pooled one was reused. */
  readonly connectMs: number
  /** TCP connected and the TLS handshake began; `-1` without a new TLS connection. */
  readonly tlsMs: number
  /** The request was written to its connection. */
  readonly sentMs: number
  /** The response headers arrived: time to first byte. */
  readonly headersMs: number
  /** The attempt ended: body read, or failed. */
  readonly endMs: number
}

/**
 * An attempt that another followed: a retry or a redirect hop.
 *
 * @since 0.1.0
 * @category models
 */
export interface Segment extends Phases {
  /** The response status, `0` when there was none. */
  readonly status: number
  /** `"Redirect"`, or the tag of the error that was retried. */
  readonly outcome: string
}

/**
 * When a fetch ran, phase by phase: the final attempt's moments as fields
 * (see {@link Phases}), earlier attempts in `previous`. Plain numbers, set as
 * the request goes, so timing costs nothing measurable.
 *
 * @since 0.1.0
 * @category models
 */
export interface Timing extends Phases {
  /** Wall-clock start, ms since the epoch. */
  readonly startedAt: number
  /** Milliseconds to the end of the body (or the failure). */
  readonly totalMs: number
  /** Retries and redirect hops before the final attempt, in order; usually empty. */
  readonly previous: ReadonlyArray<Segment>
}

/**
 * Per-call options; each overrides the session's value for this call.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Extra headers; the request's own headers still win. */
  readonly headers?: Readonly<Record<string, string>> | undefined
  /** The attempt limit or limits by phase (`connect` is session-wide and ignored here). */
  readonly timeout?: Session.Limit | Session.Timeouts | undefined
  /** Largest body read; `false` for none. */
  readonly maxBodyBytes?: number | false | undefined
  /** Redirects followed; `0` returns 3xx responses as they are. */
  readonly maxRedirects?: number | undefined
  /** Follow `https:` to `http:` redirects. */
  readonly allowInsecureRedirects?: boolean | undefined
  /** Which statuses succeed; the others fail with `BadStatus`. Default 200–299. */
  readonly acceptStatus?: ((status: number) => boolean) | undefined
  /** `3`, `false` or a policy; replaces the session's policy fields it names. */
  readonly retry?: number | false | Session.RetryOptions | undefined
}

/**
 * What a fetch accepts: a URL (absolute, or relative to the session's
 * `baseUrl`) for a GET, or any `HttpClientRequest`.
 *
 * @since 0.1.0
 * @category models
 */
export type Input = string | URL | HttpClientRequest.HttpClientRequest

const toRequest = (input: Input): internal.RequestSpec =>
  typeof input === "string" ? internal.getSpec(input) : input instanceof URL ? internal.getSpec(input.href) : input

// Each call is one FetchEffect: an ordinary Effect that a Gather can also
// start without a fiber step per request (see internal/engine/fastPath.ts).
const run = (input: Input, options: Options | undefined) => new internal.FetchEffect(toRequest(input), options, internal.asBytes)

/**
 * Sends any `HttpClientRequest` (method, headers, body) and reads the body
 * as bytes.
 *
 * @example
 * ```ts
 * import { HttpClientRequest } from "@effect/platform"
 * import { Fetch } from "effect-gather"
 *
 * const created = Fetch.request(
 *   HttpClientRequest.post("/echo").pipe(HttpClientRequest.bodyText("hello"))
 * )
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const request = (
  request: HttpClientRequest.HttpClientRequest,
  options?: Options
): Effect.Effect<FetchResponse<Uint8Array>, FetchError.FetchError, Session.Session> => run(request, options)

/**
 * A GET whose body is read as bytes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const get = (
  url: string | URL,
  options?: Options
): Effect.Effect<FetchResponse<Uint8Array>, FetchError.FetchError, Session.Session> => run(url, options)

/**
 * Any input (URL or request), body as bytes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const bytes = (
  input: Input,
  options?: Options
): Effect.Effect<FetchResponse<Uint8Array>, FetchError.FetchError, Session.Session> => run(input, options)

/**
 * Any input, body decoded as text by its `charset` (UTF-8 by default).
 *
 * @since 0.1.0
 * @category constructors
 */
export const text = (
  input: Input,
  options?: Options
): Effect.Effect<FetchResponse<string>, FetchError.FetchError, Session.Session> => new internal.FetchEffect(toRequest(input), options, internal.asText)

/**
 * Any input, body parsed as JSON and decoded with a `Schema`. Invalid JSON
 * fails with `DecodeError` reason `"Json"`; a value that does not match,
 * with reason `"Schema"` and the `path` of the first mismatch.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { Fetch } from "effect-gather"
 *
 * const Pokemon = Schema.Struct({ id: Schema.Number, name: Schema.String })
 * const bulbasaur = Fetch.json("/api/v2/pokemon/1", Pokemon)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const json = <A, I, R>(
  input: Input,
  schema: Schema.Schema<A, I, R>,
  options?: Options
): Effect.Effect<FetchResponse<A>, FetchError.FetchError, Session.Session | R> => {
  const req = toRequest(input)
  return new internal.FetchEffect(req, options, internal.asJson(schema, req.method))
}

/**
 * Options of {@link stream}: the fetch options, where `maxBodyBytes` is off
 * unless given.
 *
 * @since 0.1.0
 * @category models
 */
export interface StreamOptions extends Options {}

/**
 * A fetch whose body is not buffered: it succeeds at the response headers
 * with the body as a `Stream` of chunks, for downloads too large for memory.
 * The socket is paused while the consumer lags (about 1 MiB unread), content
 * encoding is decoded on the fly, and the cap applies only when
 * `maxBodyBytes` is given (to the decoded bytes, failing the stream with
 * `BodyTooLarge`). Retries and redirects happen before the headers; the
 * `attempt` limit ends there, `bodyIdle` guards the rest, and `total` (or a
 * gather's `deadline`) still fails the stream with `Timeout` phase
 * `"deadline"` when it passes. When
 * the scope closes before the body was read to the end, the request is
 * aborted. `bytes` is the announced `content-length` (`0` for a HEAD, 204
 * or 304), or `-1` (none, or content-encoded). A body that ends short of its
 * `content-length` (or an encoded one cut before its end) fails the stream
 * with a transient `ConnectionError` (reason `Reset`, phase `body`).
 *
 * @example
 * ```ts
 * import { Effect, Stream } from "effect"
 * import { Fetch } from "effect-gather"
 *
 * const size = Effect.scoped(
 *   Effect.flatMap(Fetch.stream("/bytes/10000000"), (response) =>
 *     Stream.runFold(response.body, 0, (n, chunk) => n + chunk.length))
 * )
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const stream = (
  input: Input,
  options?: StreamOptions
): Effect.Effect<
  FetchResponse<Stream.Stream<Uint8Array, FetchError.FetchError>>,
  FetchError.FetchError,
  Session.Session | Scope.Scope
> =>
  Effect.flatMap(session.tag, (current) => {
    const request = toRequest(input)
    return Effect.flatMap(
      internal.execute(current, request, { maxBodyBytes: false, ...options }, true),
      ({ channel, ...response }) => {
        // A HEAD, 204 or 304 has no body whatever its content-length says.
        const length = announcedLength(request.method, response.status, response.headers)
        const announced = length === 0 || response.headers["content-encoding"] === undefined ? length : -1
        if (channel === undefined) {
          // Not streamed (an empty body, e.g. HEAD): already read in full.
          return Effect.succeed({ ...response, body: Stream.make(response.body) })
        }
        return Effect.as(
          Effect.addFinalizer(() => Effect.sync(() => channel.cancel())),
          { ...response, bytes: announced, body: channel.stream }
        )
      }
    )
  })

/**
 * A URL as it may be shown: user info and credential-like query and
 * fragment parameters (`token`, `auth_token`, `X-Goog-Signature`, `sig`,
 * `#access_token=`...) replaced by `***`, control characters escaped. The
 * rule every error message, CLI record and report uses.
 *
 * @since 0.1.0
 * @category combinators
 */
export const redactUrl: (url: string | URL) => string = redact.redactUrl

/**
 * Options of the request helpers without a body ({@link head},
 * {@link options}): the fetch options and URL parameters.
 *
 * @since 0.2.0
 * @category models
 */
export interface QueryOptions extends Options {
  /** Appended to the URL's query (`{ q: "x", page: 2 }`, pairs or `URLSearchParams`). */
  readonly urlParams?: UrlParams.Input | undefined
}

/**
 * Options of the request helpers with a body ({@link post}, {@link put},
 * {@link patch}, {@link del}): at most one of `json`, `form`, `text` and
 * `bytes`, each setting its `content-type` unless `headers` names one. The
 * body is encoded once, before the first attempt, so a retry or a 307/308
 * redirect sends it again. A value `JSON.stringify` cannot encode (a
 * `bigint`, a cycle, `undefined`) or two bodies at once fail with
 * `InvalidRequest` reason `"Body"`, before anything is sent.
 *
 * @since 0.2.0
 * @category models
 */
export interface SendOptions extends QueryOptions {
  /** Sent as `application/json`. */
  readonly json?: unknown
  /** Sent as `application/x-www-form-urlencoded`, or as `multipart/form-data` when a `FormData`. */
  readonly form?: UrlParams.Input | FormData | undefined
  /** Sent as `text/plain; charset=utf-8`. */
  readonly text?: string | undefined
  /** Sent as `application/octet-stream`. */
  readonly bytes?: Uint8Array | undefined
}

/**
 * A request helper: without `schema` the body is read as bytes (as
 * {@link get}); with `schema` it is parsed as JSON and decoded (as
 * {@link json}).
 *
 * @since 0.2.0
 * @category models
 */
export interface Send<O extends QueryOptions> {
  <A, I, R>(
    url: string | URL,
    options: O & { readonly schema: Schema.Schema<A, I, R> }
  ): Effect.Effect<FetchResponse<A>, FetchError.FetchError, Session.Session | R>
  (url: string | URL, options?: O): Effect.Effect<FetchResponse<Uint8Array>, FetchError.FetchError, Session.Session>
}

const helper = <O extends QueryOptions>(method: string): Send<O> => {
  function send<A, I, R>(
    url: string | URL,
    options: O & { readonly schema: Schema.Schema<A, I, R> }
  ): Effect.Effect<FetchResponse<A>, FetchError.FetchError, Session.Session | R>
  function send(url: string | URL, options?: O): Effect.Effect<FetchResponse<Uint8Array>, FetchError.FetchError, Session.Session>
  function send<A, I, R>(
    url: string | URL,
    options?: O & { readonly schema?: Schema.Schema<A, I, R> | undefined }
  ): Effect.Effect<FetchResponse<A> | FetchResponse<Uint8Array>, FetchError.FetchError, Session.Session | R> {
    const schema = options?.schema
    return schema === undefined
      ? sender.send(method, url, options, internal.asBytes)
      : sender.send(method, url, options, internal.asJson(schema, method))
  }
  return send
}

/**
 * A POST with an optional `json`, `form`, `text` or `bytes` body and
 * `urlParams`; add `schema` to decode a JSON response.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { Fetch } from "effect-gather"
 *
 * const Echo = Schema.Struct({ method: Schema.String, body: Schema.String })
 * const created = Fetch.post("/echo", { json: { name: "pikachu" }, urlParams: { dry: true }, schema: Echo })
 * const login = Fetch.post("/login", { form: { user: "ash", remember: true } })
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const post: Send<SendOptions> = helper("POST")

/**
 * A PUT; options as {@link post}.
 *
 * @since 0.2.0
 * @category constructors
 */
export const put: Send<SendOptions> = helper("PUT")

/**
 * A PATCH; options as {@link post}.
 *
 * @since 0.2.0
 * @category constructors
 */
export const patch: Send<SendOptions> = helper("PATCH")

/**
 * A DELETE; options as {@link post}. Also exported as `delete`
 * (`Fetch.delete(url)`).
 *
 * @since 0.2.0
 * @category constructors
 */
export const del: Send<SendOptions> = helper("DELETE")

export {
  /**
   * A DELETE; the same as {@link del}.
   *
   * @since 0.2.0
   * @category constructors
   */
  del as delete
}

/**
 * A HEAD with optional `urlParams`; the body is empty.
 *
 * @since 0.2.0
 * @category constructors
 */
export const head: Send<QueryOptions> = helper("HEAD")

const optionsHelper: Send<QueryOptions> = helper("OPTIONS")

export {
  /**
   * An OPTIONS request with optional `urlParams`.
   *
   * @since 0.2.0
   * @category constructors
   */
  optionsHelper as options
}

/**
 * Decodes a response's body as text by its `charset` (UTF-8 by default), for
 * the helpers: `Effect.map(Fetch.post(url, { json }), Fetch.toText)`.
 *
 * @since 0.2.0
 * @category combinators
 */
export const toText: (response: FetchResponse<Uint8Array>) => FetchResponse<string> = internal.toText
