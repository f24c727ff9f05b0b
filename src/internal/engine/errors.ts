import type { Segment, Timing } from "../../Fetch.js"
import * as FetchError from "../../FetchError.js"
import type { Timeouts } from "./limits.js"
import { ProxyFailure } from "./proxy.js"
import { escapeControls } from "./redact.js"
import { isTlsCode } from "./tlsCodes.js"

type Omitted = keyof FetchError.RequestContext | "message" | "stack" | "name" | "cause" | "pipe" | "toJSON" | "toString"

/** The data fields of an error class, without the request context. */
type Fields<T> = { readonly [K in keyof T as K extends Omitted | symbol ? never : K]: T[K] }

/** A fetch error before the request context is attached. */
export type Failure = FetchError.FetchError extends infer E ? E extends FetchError.FetchError ? Fields<E> : never : never

export const noSegments: ReadonlyArray<Segment> = []

/**
 * The timing of a fetch that failed outside an attempt (an invalid URL, a
 * deadline passed at a gate): no phases, only the end. `startedAt` is
 * `performance.now()` at the start of the fetch.
 */
export const timingWithout = (startedAt: number, previous: ReadonlyArray<Segment> | undefined): Timing => {
  const endMs = performance.now() - startedAt
  return {
    startedAt: performance.timeOrigin + startedAt,
    dispatchMs: -1,
    connectMs: -1,
    tlsMs: -1,
    sentMs: -1,
    headersMs: -1,
    endMs,
    totalMs: endMs,
    previous: previous ?? noSegments
  }
}

/** Attaches the request context and builds the tagged error. */
export const make = (
  failure: Failure,
  method: string,
  url: string,
  attempt: number,
  elapsedMs: number,
  timing: Timing = timingWithout(performance.now() - elapsedMs, undefined)
): FetchError.FetchError => {
  const context = { method, url, attempt, elapsedMs: Math.round(elapsedMs * 10) / 10, timing }
  switch (failure._tag) {
    case "InvalidUrl":
      return new FetchError.InvalidUrl({ ...context, reason: failure.reason })
    case "InvalidRequest":
      // The detail may quote the input: one line, no raw control characters.
      return new FetchError.InvalidRequest({ ...context, reason: failure.reason, detail: escapeControls(failure.detail) })
    case "ConnectionError":
      return new FetchError.ConnectionError({
        ...context,
        reason: failure.reason,
        phase: failure.phase,
        code: failure.code,
        ...(failure.proxy === undefined ? {} : { proxy: failure.proxy })
      })
    case "Timeout":
      return new FetchError.Timeout({ ...context, phase: failure.phase, limitMs: failure.limitMs })
    case "BadStatus":
      return new FetchError.BadStatus({ ...context, status: failure.status, headers: failure.headers, body: failure.body })
    case "DecodeError":
      return new FetchError.DecodeError({ ...context, reason: failure.reason, path: failure.path, detail: failure.detail })
    case "BodyTooLarge":
      return new FetchError.BodyTooLarge({ ...context, limitBytes: failure.limitBytes, receivedBytes: failure.receivedBytes })
    case "TooManyRedirects":
      return new FetchError.TooManyRedirects({ ...context, limit: failure.limit, chain: failure.chain })
    case "RedirectRejected":
      return new FetchError.RedirectRejected({ ...context, reason: failure.reason, location: failure.location })
  }
}

/** The reason our own aborts carry; undici passes it back to `onError`, which ignores it. */
export class AbortedByClient extends Error {
  constructor() {
    super("aborted by effect-gather")
    this.name = "AbortedByClient"
  }
}

const errorCode = (error: unknown): string | undefined => {
  if (typeof error !== "object" || error === null) return undefined
  const code = (error as { code?: unknown }).code
  if (typeof code === "string") return code
  return errorCode((error as { cause?: unknown }).cause)
}

/**
 * Maps what undici or the socket reported to our union. `written`: undici
 * had handed the request to a socket (`onConnect`), so bytes of it may have
 * left. Phase `"connect"` promises the retry rule that nothing was sent
 * (any method may go again), so it is given only while that is known: a
 * socket that times out (`ETIMEDOUT`), is closed or destroyed, or loses its
 * route after the request was written is a failure of the request or body.
 */
export const fromUndici = (error: Error, hadHeaders: boolean, timeouts: Timeouts, written = false): Failure => {
  const failure = classify(error, hadHeaders, timeouts)
  if (!written) return failure
  const phase = hadHeaders ? "body" : "request"
  if (failure._tag === "Timeout" && failure.phase === "connect") {
    return { _tag: "ConnectionError", reason: "Other", phase, code: errorCode(error) ?? error.name }
  }
  if (failure._tag === "ConnectionError" && failure.phase === "connect") return { ...failure, phase }
  return failure
}

const classify = (error: Error, hadHeaders: boolean, timeouts: Timeouts): Failure => {
  // The tunnel is refused or the proxy is down: before any byte of the request.
  if (error instanceof ProxyFailure) {
    return { _tag: "ConnectionError", reason: "Proxy", phase: "connect", code: error.code, proxy: { url: error.proxy, status: error.status } }
  }
  const code = errorCode(error)
  const phase = hadHeaders ? "body" : "request"
  switch (code) {
    case "UND_ERR_CONNECT_TIMEOUT":
    case "ETIMEDOUT":
      return { _tag: "Timeout", phase: "connect", limitMs: timeouts.connectMs }
    case "ECONNREFUSED":
      return { _tag: "ConnectionError", reason: "Refused", phase: "connect", code }
    case "ENOTFOUND":
    case "EAI_AGAIN":
    case "EAI_FAIL":
    case "EAI_NONAME":
      return { _tag: "ConnectionError", reason: "Dns", phase: "connect", code }
    case "ECONNRESET":
    case "EPIPE":
    case "UND_ERR_SOCKET":
    case "UND_ERR_RES_CONTENT_LENGTH_MISMATCH":
    // HTTP/2's reset: a RST_STREAM with an error code, or nghttp2 refusing the
    // stream (a body shorter than its content-length at END_STREAM).
    case "ERR_HTTP2_STREAM_ERROR":
      return { _tag: "ConnectionError", reason: "Reset", phase, code }
    case "UND_ERR_CLOSED":
    case "UND_ERR_DESTROYED":
      return { _tag: "ConnectionError", reason: "Closed", phase: "connect", code }
    case "UND_ERR_INVALID_ARG":
      return {
        _tag: "InvalidRequest",
        reason: /method/i.test(error.message) ? "Method" : /header/i.test(error.message) ? "Header" : "Body",
        detail: error.message
      }
    case "UND_ERR_REQ_CONTENT_LENGTH_MISMATCH":
      return { _tag: "InvalidRequest", reason: "Body", detail: error.message }
  }
  if (code !== undefined && isTlsCode(code)) {
    return { _tag: "ConnectionError", reason: "Tls", phase: "connect", code }
  }
  if (code === "EHOSTUNREACH" || code === "ENETUNREACH" || code === "EADDRNOTAVAIL") {
    return { _tag: "ConnectionError", reason: "Other", phase: "connect", code }
  }
  return { _tag: "ConnectionError", reason: "Other", phase, code: code ?? error.name }
}
