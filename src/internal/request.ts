/**
 * The request description every constructor builds (`Fetch.get`, `text`,
 * `json`, `request`, and `post`, `put`, ... through send.ts), and what the
 * engine makes of it: the first request prepared (URL, headers,
 * credentials, body as bytes) and the next hop of a redirect.
 */
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import type * as FetchError from "../FetchError.js"
import * as Credentials from "./credentials.js"
import * as Attempt from "./engine/attempt.js"
import * as Errors from "./engine/errors.js"
import { copyHeaders } from "./engine/headerCopy.js"
import { splitPlainUrl } from "./engine/plainUrl.js"
import { isSecretHeader, redactUrl } from "./engine/redact.js"
import { lowerCaseHeaders } from "./options.js"
import * as Redirects from "./policy/redirects.js"
import type { SessionImpl } from "./session.js"

const schemePattern = /^[a-z][a-z0-9+.-]*:/i

const joinUrl = (baseUrl: string | undefined, input: string): string => {
  if (baseUrl === undefined || schemePattern.test(input)) return input
  if (input === "") return baseUrl
  return input.charCodeAt(0) === 47 /* "/" */ ? baseUrl + input : `${baseUrl}/${input}`
}

export type Prepared = Attempt.PreparedRequest

const invalidUrl = (method: string, input: string, reason: "Malformed" | "UnsupportedScheme", startedAt: number) =>
  Effect.fail(Errors.make({ _tag: "InvalidUrl", reason }, method, redactUrl(input), 1, performance.now() - startedAt))

const invalidBody = (method: string, displayUrl: string, detail: string, startedAt: number) =>
  Effect.fail(Errors.make({ _tag: "InvalidRequest", reason: "Body", detail }, method, displayUrl, 1, performance.now() - startedAt))

/**
 * What the engine needs of a request. Every `HttpClientRequest` is one; a
 * plain URL string becomes one without building a whole request object.
 */
export interface RequestSpec {
  readonly method: string
  readonly url: string
  readonly urlParams: Iterable<readonly [string, string]>
  readonly headers: Readonly<Record<string, string>>
  readonly body: RequestBody
}

/**
 * The bodies the engine sends: every `@effect/platform` `HttpBody` is one
 * (its `Empty`, `Raw`, `Uint8Array`, `FormData` and `Stream` cases), and the
 * request helpers build them without loading the platform's body module,
 * which imports `effect/Schema` (see session.ts `layer` on import cost).
 */
export type RequestBody =
  | { readonly _tag: "Empty" }
  | { readonly _tag: "Raw"; readonly body: unknown; readonly contentType?: string | undefined }
  | { readonly _tag: "Uint8Array"; readonly body: Uint8Array; readonly contentType: string }
  | { readonly _tag: "FormData"; readonly formData: FormData }
  | { readonly _tag: "Stream"; readonly stream: Stream.Stream<Uint8Array, unknown>; readonly contentType: string }

/** No body at all. */
export const emptyBody: RequestBody = Object.freeze({ _tag: "Empty" })

const noParams: ReadonlyArray<readonly [string, string]> = []
const noHeaders: Readonly<Record<string, string>> = Object.freeze({})

/** A GET of a URL, as light as a request can be. */
export const getSpec = (url: string): RequestSpec => ({
  method: "GET",
  url,
  urlParams: noParams,
  headers: noHeaders,
  body: emptyBody
})

const isEmpty = (params: Iterable<readonly [string, string]>): boolean => {
  if (Array.isArray(params)) return params.length === 0
  for (const _ of params) return false
  return true
}

const hasKeys = (record: Readonly<Record<string, string>>): boolean => {
  for (const _ in record) return true
  return false
}

const toBytes = (body: unknown): string | Uint8Array | undefined => {
  if (typeof body === "string" || body instanceof Uint8Array) return body
  if (body instanceof ArrayBuffer) return new Uint8Array(body)
  return undefined
}

export const prepare = (
  session: SessionImpl,
  request: RequestSpec,
  extraHeaders: Readonly<Record<string, string>> | undefined,
  traceparent: string | undefined,
  startedAt: number
): Prepared | Effect.Effect<Prepared, FetchError.FetchError> => {
  const method = request.method
  const href = joinUrl(session.config.baseUrl, request.url)
  const plain = isEmpty(request.urlParams) ? splitPlainUrl(href) : undefined
  let url: URL | undefined
  let userInfo: string | undefined
  if (plain === undefined) {
    try {
      url = new URL(href)
    } catch {
      return invalidUrl(method, href, "Malformed", startedAt)
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") return invalidUrl(method, href, "UnsupportedScheme", startedAt)
    if (url.hostname === "") return invalidUrl(method, href, "Malformed", startedAt)
    for (const [name, value] of request.urlParams) url.searchParams.append(name, value)

    // Credentials in the URL become a Basic header, as browsers and aiohttp
    // do, and never travel in the request line.
    if (url.username !== "" || url.password !== "") {
      // A bad percent-escape (`a%zz`) makes decodeURIComponent throw: that
      // input is an InvalidUrl, never a defect that stops a whole gather.
      let credentials: string
      try {
        credentials = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`
      } catch {
        return invalidUrl(method, href, "Malformed", startedAt)
      }
      userInfo = `Basic ${Buffer.from(credentials).toString("base64")}`
      url.username = ""
      url.password = ""
    }
  }

  // The session's headers object is shared by every request that adds none
  // of its own (undici only reads it); anything added makes a copy.
  let headers: Record<string, string> = session.config.headers as Record<string, string>
  const body = request.body
  if (
    extraHeaders !== undefined || hasKeys(request.headers) || userInfo !== undefined || traceparent !== undefined ||
    (body._tag !== "Empty" && body._tag !== "Raw")
  ) {
    headers = copyHeaders(headers)
    if (extraHeaders !== undefined) Object.assign(headers, lowerCaseHeaders(extraHeaders))
    Object.assign(headers, request.headers)
    if (userInfo !== undefined && headers["authorization"] === undefined) headers["authorization"] = userInfo
    if (traceparent !== undefined) headers["traceparent"] = traceparent
  }

  headers = Credentials.onRequest(session, plain?.href ?? href, url, headers)

  const done = (bytes: string | Uint8Array | null, contentType: string | undefined): Prepared => {
    if (contentType !== undefined && headers["content-type"] === undefined) {
      if (headers === session.config.headers) headers = copyHeaders(headers)
      headers["content-type"] = contentType
    }
    return url === undefined
      ? new Attempt.PreparedRequest(method, plain!.href, plain!.origin, plain!.path, headers, bytes)
      : Attempt.PreparedRequest.fromUrl(method, url, headers, bytes)
  }

  switch (body._tag) {
    case "Empty":
      return done(null, undefined)
    case "Uint8Array":
      return done(body.body, body.contentType)
    case "Raw": {
      const bytes = toBytes(body.body)
      if (bytes === undefined) return invalidBody(method, redactUrl(url ?? href), "a raw body must be a string or bytes", startedAt)
      return done(bytes, body.contentType)
    }
    case "FormData": {
      // Encoded once up front so that a retry or a 307/308 can send it again.
      const encoded = new Response(body.formData)
      return Effect.promise(() => encoded.arrayBuffer()).pipe(
        Effect.map((buffer) => done(new Uint8Array(buffer), encoded.headers.get("content-type") ?? undefined))
      )
    }
    case "Stream":
      // Buffered so it can be replayed on redirect or retry. Streaming uploads
      // are not what this library is for.
      return Stream.runFold(body.stream, [] as Array<Uint8Array>, (chunks, chunk) => {
        chunks.push(chunk)
        return chunks
      }).pipe(
        Effect.map((chunks) => Buffer.concat(chunks)),
        Effect.matchEffect({
          onFailure: (cause) => invalidBody(method, redactUrl(url ?? href), `body stream failed: ${String(cause)}`, startedAt),
          onSuccess: (bytes) => Effect.succeed(done(bytes, body.contentType))
        })
      )
  }
}

/** A redirect the rule refused (policy/redirects.ts), as the error it becomes: its URLs redacted. */
export const redirectFailure = (refusal: Redirects.Refusal): Errors.Failure =>
  refusal._tag === "TooManyRedirects"
    ? { _tag: "TooManyRedirects", limit: refusal.limit, chain: refusal.chain.map(redactUrl) }
    : { _tag: "RedirectRejected", reason: refusal.reason, location: redactUrl(refusal.location) }

/** The request a redirect's hop sends. */
export const hopRequest = (hop: Redirects.Hop<Prepared["body"]>): Prepared => Attempt.PreparedRequest.fromUrl(hop.method, hop.url, hop.headers, hop.body)

/** The next hop of a redirect, or the error that stops it (the rule without the chain, see policy/redirects.ts). */
export const nextHop = (
  previous: Prepared,
  status: number,
  location: string,
  allowInsecure: boolean,
  strip: (name: string) => boolean = isSecretHeader
): Prepared | Errors.Failure => {
  const next = Redirects.nextHop(previous, status, location, allowInsecure, strip)
  return next._tag === "Hop" ? hopRequest(next) : redirectFailure(next)
}
