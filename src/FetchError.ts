/**
 * The closed union of everything that can go wrong with one fetch.
 *
 * Every error names the request (`METHOD url`, credentials redacted), the
 * attempt that failed and how long the fetch had been running, so a log line
 * or an NDJSON record is enough to understand it. `Effect.catchTags` over the
 * tags of {@link FetchError} covers every case.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Predicate from "effect/Predicate"
import type { Timing } from "./Fetch.js"

/**
 * @since 0.1.0
 * @category models
 */
export const TypeId: unique symbol = Symbol.for("effect-gather/FetchError")

/**
 * @since 0.1.0
 * @category models
 */
export type TypeId = typeof TypeId

/**
 * What every fetch error says about the request it belongs to.
 *
 * @since 0.1.0
 * @category models
 */
export interface RequestContext {
  /** The HTTP method, upper case. */
  readonly method: string
  /** The URL as requested, credentials redacted. */
  readonly url: string
  /** 1 for the first attempt, 2 for the first retry, ... */
  readonly attempt: number
  /** Milliseconds from the start of the fetch (all attempts) to the failure. */
  readonly elapsedMs: number
  /** Phase by phase, the failed attempt and the ones before it (see `Fetch.Timing`). */
  readonly timing: Timing
}

const describe = (self: RequestContext, detail: string): string =>
  `${self.method} ${self.url}: ${detail} (attempt ${self.attempt}, ${Math.round(self.elapsedMs)} ms)`

/**
 * The input is not an absolute `http:` or `https:` URL (after the session's
 * `baseUrl` was applied). Never retried.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidUrl extends Data.TaggedError("InvalidUrl")<
  RequestContext & {
    readonly reason: "Malformed" | "UnsupportedScheme"
  }
> {
  /** @since 0.1.0 */
  readonly [TypeId]: TypeId = TypeId
  /** @since 0.1.0 */
  override get message(): string {
    return describe(
      this,
      this.reason === "Malformed" ? "not a valid URL" : "only http: and https: URLs can be fetched"
    )
  }
}

/**
 * The request cannot be sent as built: a header name or value with forbidden
 * characters, a method undici rejects, a body that cannot be encoded.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidRequest extends Data.TaggedError("InvalidRequest")<
  RequestContext & {
    readonly reason: "Header" | "Method" | "Body"
    readonly detail: string
  }
> {
  /** @since 0.1.0 */
  readonly [TypeId]: TypeId = TypeId
  /** @since 0.1.0 */
  override get message(): string {
    return describe(this, `invalid request ${this.reason.toLowerCase()}: ${this.detail}`)
  }
}

const untrusted = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "CERT_UNTRUSTED"
])

/**
 * What a TLS failure code means, in words, with what to do about it.
 *
 * @since 0.1.0
 * @category models
 */
export const describeTls = (code: string | undefined): string => {
  if (code === undefined) return "the TLS handshake failed"
  if (untrusted.has(code)) {
    return "its certificate is not signed by a trusted authority (pass the server's CA as the session's tls.ca)"
  }
  switch (code) {
    case "CERT_HAS_EXPIRED":
      return "its certificate has expired (the server must renew it)"
    case "CERT_NOT_YET_VALID":
      return "its certificate is not valid yet (check this machine's clock)"
    case "ERR_TLS_CERT_ALTNAME_INVALID":
      return "its certificate is not issued for this host name (use the name on the certificate, or set tls.servername)"
    case "ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED":
      return "the server requires a client certificate (pass tls.cert and tls.key)"
    case "ERR_SSL_WRONG_VERSION_NUMBER":
      return "the server did not answer in TLS (is it plain http?)"
  }
  if (code.startsWith("ERR_SSL_") && code.includes("_ALERT_")) {
    const alert = code.slice(code.indexOf("_ALERT_") + 7).toLowerCase().replace(/_/g, " ")
    const hint = alert === "handshake failure" ? " (no common protocol or cipher, or a client certificate is required)" : ""
    return `the server ended the handshake with the alert "${alert}"${hint}`
  }
  return "the TLS handshake failed"
}

const hostOf = (url: string): string => {
  try {
    return new URL(url).host
  } catch {
    return url
  }
}

/**
 * The session's proxy (its `proxy` option) failed: it could not be reached,
 * or it refused the tunnel to the target.
 *
 * @since 0.3.0
 * @category models
 */
export interface ProxyFailure {
  /** The proxy's URL, credentials redacted. */
  readonly url: string
  /** The proxy's answer to `CONNECT` (`407`: it wants credentials), when it answered. */
  readonly status: number | undefined
}

/**
 * The connection could not be made or broke: refused, reset (also mid-body),
 * DNS, TLS, or the session's proxy (`Proxy`: `proxy` names it). `code` is
 * the system or undici code when there is one. A `Tls` failure's message
 * names the host and says in words what went wrong (see {@link describeTls});
 * it is never retried, nor is a proxy's `407` or `403`.
 *
 * @since 0.1.0
 * @category errors
 */
export class ConnectionError extends Data.TaggedError("ConnectionError")<
  RequestContext & {
    readonly reason: "Refused" | "Reset" | "Dns" | "Tls" | "Closed" | "Proxy" | "Other"
    /** Where the request was when the connection failed. */
    readonly phase: "connect" | "request" | "body"
    readonly code: string | undefined
    /** With reason `Proxy`: the proxy and its answer. @since 0.3.0 */
    readonly proxy?: ProxyFailure | undefined
  }
> {
  /** @since 0.1.0 */
  readonly [TypeId]: TypeId = TypeId
  /** @since 0.1.0 */
  override get message(): string {
    const code = this.code === undefined ? "" : ` ${this.code}`
    if (this.reason === "Proxy" && this.proxy !== undefined) {
      const { status, url } = this.proxy
      if (status === undefined) return describe(this, `proxy ${url} cannot be reached${code === "" ? "" : ` (${this.code})`}`)
      const hint = status === 407 ? " (it wants credentials: put them in the proxy URL, http://user:password@host:port)" : ""
      return describe(this, `proxy ${url} refused the tunnel to ${hostOf(this.url)} with ${status}${hint}`)
    }
    if (this.reason === "Tls") {
      return describe(this, `TLS with ${hostOf(this.url)} failed: ${describeTls(this.code)}${code === "" ? "" : ` [${this.code}]`}`)
    }
    return describe(this, `connection ${this.reason.toLowerCase()} during ${this.phase}${code}`)
  }
}

/**
 * A time limit ran out. `phase` says which limit:
 * - `connect`: opening the TCP/TLS connection;
 * - `send`: the server took no byte of the request body for `limitMs`
 *   (the headers limit, applied as idle time while the body is sent: a
 *   slow upload that keeps moving never times out here);
 * - `headers`: from the end of the request to the response headers;
 * - `body`: no body bytes for `limitMs` (idle time, not total);
 * - `attempt`: the whole attempt once it had a connection;
 * - `deadline`: the overall deadline across attempts and waits.
 *
 * @since 0.1.0
 * @category errors
 */
export class Timeout extends Data.TaggedError("Timeout")<
  RequestContext & {
    readonly phase: "connect" | "send" | "headers" | "body" | "attempt" | "deadline"
    readonly limitMs: number
  }
> {
  /** @since 0.1.0 */
  readonly [TypeId]: TypeId = TypeId
  /** @since 0.1.0 */
  override get message(): string {
    return describe(this, `${this.phase} timeout after ${this.limitMs} ms`)
  }
}

/**
 * The server answered with a status the request does not accept (by default
 * anything outside 200–299). `body` holds at most the first 1 KiB, decoded
 * as UTF-8.
 *
 * @since 0.1.0
 * @category errors
 */
export class BadStatus extends Data.TaggedError("BadStatus")<
  RequestContext & {
    readonly status: number
    readonly headers: Readonly<Record<string, string>>
    readonly body: string
  }
> {
  /** @since 0.1.0 */
  readonly [TypeId]: TypeId = TypeId
  /** @since 0.1.0 */
  override get message(): string {
    return describe(this, `status ${this.status}`)
  }
}

/**
 * The body arrived but is not what was asked for: invalid JSON, a value that
 * does not match the schema (`path` names where), or a content encoding that
 * does not decode.
 *
 * @since 0.1.0
 * @category errors
 */
export class DecodeError extends Data.TaggedError("DecodeError")<
  RequestContext & {
    readonly reason: "Json" | "Schema" | "Encoding"
    /** The path inside the body, e.g. `["types", 0, "name"]`; empty at the root. */
    readonly path: ReadonlyArray<PropertyKey>
    readonly detail: string
  }
> {
  /** @since 0.1.0 */
  readonly [TypeId]: TypeId = TypeId
  /** @since 0.1.0 */
  override get message(): string {
    const where = this.path.length === 0 ? "" : ` at ${this.path.map(String).join(".")}`
    return describe(this, `cannot decode body (${this.reason.toLowerCase()})${where}: ${this.detail}`)
  }
}

/**
 * The body (after content decoding) is larger than `limitBytes`. Reading
 * stopped at the limit and the connection was released.
 *
 * @since 0.1.0
 * @category errors
 */
export class BodyTooLarge extends Data.TaggedError("BodyTooLarge")<
  RequestContext & {
    readonly limitBytes: number
    /** Bytes seen when reading stopped, or the announced `content-length`. */
    readonly receivedBytes: number
  }
> {
  /** @since 0.1.0 */
  readonly [TypeId]: TypeId = TypeId
  /** @since 0.1.0 */
  override get message(): string {
    return describe(this, `body larger than ${this.limitBytes} bytes (${this.receivedBytes} seen)`)
  }
}

/**
 * Redirects went on longer than `limit`, or looped. `chain` lists the URLs
 * visited, credentials redacted.
 *
 * @since 0.1.0
 * @category errors
 */
export class TooManyRedirects extends Data.TaggedError("TooManyRedirects")<
  RequestContext & {
    readonly limit: number
    readonly chain: ReadonlyArray<string>
  }
> {
  /** @since 0.1.0 */
  readonly [TypeId]: TypeId = TypeId
  /** @since 0.1.0 */
  override get message(): string {
    return describe(this, `more than ${this.limit} redirects`)
  }
}

/**
 * A redirect that the session's policy does not follow: `https:` to `http:`
 * (unless allowed), or a `Location` that is not an http(s) URL.
 *
 * @since 0.1.0
 * @category errors
 */
export class RedirectRejected extends Data.TaggedError("RedirectRejected")<
  RequestContext & {
    readonly reason: "Downgrade" | "InvalidLocation"
    /** The redirect target, credentials redacted. */
    readonly location: string
  }
> {
  /** @since 0.1.0 */
  readonly [TypeId]: TypeId = TypeId
  /** @since 0.1.0 */
  override get message(): string {
    const why = this.reason === "Downgrade" ? "refused https to http redirect" : "invalid redirect location"
    return describe(this, `${why} ${this.location}`)
  }
}

/**
 * Everything a fetch can fail with.
 *
 * @since 0.1.0
 * @category models
 */
export type FetchError =
  | InvalidUrl
  | InvalidRequest
  | ConnectionError
  | Timeout
  | BadStatus
  | DecodeError
  | BodyTooLarge
  | TooManyRedirects
  | RedirectRejected

/**
 * The tags of {@link FetchError}, in a stable order (reports use it).
 *
 * @since 0.1.0
 * @category models
 */
export const tags = [
  "InvalidUrl",
  "InvalidRequest",
  "ConnectionError",
  "Timeout",
  "BadStatus",
  "DecodeError",
  "BodyTooLarge",
  "TooManyRedirects",
  "RedirectRejected"
] as const satisfies ReadonlyArray<FetchError["_tag"]>

/**
 * @since 0.1.0
 * @category guards
 */
export const isFetchError = (u: unknown): u is FetchError => Predicate.hasProperty(u, TypeId)

/**
 * Statuses that say "try again later" rather than "this is wrong".
 *
 * @since 0.1.0
 * @category models
 */
export const transientStatuses: ReadonlySet<number> = new Set([408, 425, 429, 500, 502, 503, 504])

/**
 * A proxy that answered `407` (credentials wanted) or `403` (forbidden) to
 * `CONNECT`: asking again gets the same answer.
 *
 * @since 0.3.0
 * @category guards
 */
export const proxyRefused = (error: ConnectionError): boolean => error.reason === "Proxy" && (error.proxy?.status === 407 || error.proxy?.status === 403)

/**
 * Whether repeating the same request may succeed: connection failures other
 * than DNS "no such host" and TLS, timeouts other than the overall deadline,
 * and the statuses in {@link transientStatuses}. Pure: it decides nothing
 * about methods or budgets (see the retry policy for that).
 *
 * @example
 * ```ts
 * import { FetchError } from "effect-gather"
 *
 * const retryable = (e: FetchError.FetchError) => FetchError.isTransient(e)
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isTransient = (error: FetchError): boolean => {
  switch (error._tag) {
    case "ConnectionError":
      if (error.reason === "Proxy") return !proxyRefused(error)
      return error.reason === "Dns" ? error.code === "EAI_AGAIN" : error.reason !== "Tls"
    case "Timeout":
      return error.phase !== "deadline"
    case "BadStatus":
      return transientStatuses.has(error.status)
    default:
      return false
  }
}
