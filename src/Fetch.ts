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
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as Schema from "effect/Schema"
import type * as FetchError from "./FetchError.js"
import * as internal from "./internal/fetch.js"
import * as session from "./internal/session.js"
import type * as Session from "./Session.js"

/**
 * A response whose body was read to the end.
 *
 * @since 0.1.0
 * @category models
 */
export interface FetchResponse<A> {
  /** The final URL, after redirects. */
  readonly url: string
  readonly status: number
  /** Response headers, lower-case names; repeated headers joined with `", "`. */
  readonly headers: Readonly<Record<string, string>>
  /** The body: bytes, text or the decoded JSON value. */
  readonly body: A
  /** Size of the body in bytes, after content decoding. */
  readonly bytes: number
  /** How many attempts the final hop took (1 without retries). */
  readonly attempts: number
  /** The URLs that redirected, in order; empty without redirects. */
  readonly redirects: ReadonlyArray<string>
  readonly timing: Timing
}

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

const run = (input: Input, options: Options | undefined) => internal.executeCurrent(toRequest(input), options)
const runSpec = (request: internal.RequestSpec, options: Options | undefined) => internal.executeCurrent(request, options)

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
): Effect.Effect<FetchResponse<string>, FetchError.FetchError, Session.Session> =>
  Effect.map(run(input, options), internal.toText)

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
  return Effect.flatMap(runSpec(req, options), internal.toJson(schema, req.method))
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
 * `attempt` and `total` limits end there, `bodyIdle` guards the rest. When
 * the scope closes before the body was read to the end, the request is
 * aborted. `bytes` is the announced `content-length`, or `-1`.
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
  Effect.flatMap(session.tag, (current) =>
    Effect.flatMap(
      internal.execute(current, toRequest(input), { maxBodyBytes: false, ...options }, true),
      ({ channel, ...response }) => {
        const length = Number(response.headers["content-length"] ?? Number.NaN)
        const announced = response.headers["content-encoding"] === undefined && Number.isFinite(length) ? length : -1
        if (channel === undefined) {
          // Not streamed (an empty body, e.g. HEAD): already read in full.
          return Effect.succeed({ ...response, body: Stream.make(response.body) })
        }
        return Effect.as(
          Effect.addFinalizer(() => Effect.sync(() => channel.cancel())),
          { ...response, bytes: announced, body: channel.stream }
        )
      }
    ))
