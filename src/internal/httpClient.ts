/**
 * The session's `HttpClient.HttpClient`: `@effect/platform`'s interface on
 * our engine instead of its undici client. Requests get the session's
 * policies (timeouts, limits, caps, retries of transient transport failures,
 * safe redirects); statuses are responses, never errors, as in the platform.
 * No per-request span, AbortController or stream wrapper: the body arrives
 * buffered (up to `maxBodyBytes`) and the response is a plain object.
 */
import * as Cookies from "@effect/platform/Cookies"
import * as Headers from "@effect/platform/Headers"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as HttpIncomingMessage from "@effect/platform/HttpIncomingMessage"
import * as UrlParams from "@effect/platform/UrlParams"
import * as Effect from "effect/Effect"
import * as Inspectable from "effect/Inspectable"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import type * as FetchError from "../FetchError.js"
import { isSecretParam, redactHeaders, redactUrl } from "./engine/redact.js"
import type { FetchResponse } from "./fetch.js"
import { decodeText, execute } from "./fetch.js"
import type { CallOptions } from "./options.js"
import type { SessionImpl } from "./session.js"

const everyStatus = () => true

const callOptions: CallOptions = { acceptStatus: everyStatus }

class LeanResponse implements HttpClientResponse.HttpClientResponse {
  readonly [HttpClientResponse.TypeId]: HttpClientResponse.TypeId = HttpClientResponse.TypeId
  readonly [HttpIncomingMessage.TypeId]: HttpIncomingMessage.TypeId = HttpIncomingMessage.TypeId
  readonly remoteAddress: Option.Option<string> = Option.none()
  private cachedHeaders: Headers.Headers | undefined = undefined

  constructor(
    readonly request: HttpClientRequest.HttpClientRequest,
    private readonly response: FetchResponse<Uint8Array>
  ) {}

  get status(): number {
    return this.response.status
  }

  get headers(): Headers.Headers {
    return this.cachedHeaders ??= Headers.unsafeFromRecord(this.response.headers)
  }

  get cookies(): Cookies.Cookies {
    const setCookie = this.response.headers["set-cookie"]
    return setCookie === undefined ? Cookies.empty : Cookies.fromSetCookie(setCookie.split("\n"))
  }

  private decodeError(cause: unknown): HttpClientError.ResponseError {
    return new HttpClientError.ResponseError({ request: shownRequest(this.request), response: this, reason: "Decode", cause })
  }

  get text(): Effect.Effect<string, HttpClientError.ResponseError> {
    return Effect.sync(() => decodeText(this.response.body, this.response.headers["content-type"]))
  }

  get json(): Effect.Effect<unknown, HttpClientError.ResponseError> {
    return Effect.flatMap(
      this.text,
      (text) => Effect.try({ try: () => (text === "" ? null : JSON.parse(text)) as unknown, catch: (cause) => this.decodeError(cause) })
    )
  }

  get arrayBuffer(): Effect.Effect<ArrayBuffer, HttpClientError.ResponseError> {
    return Effect.sync(() => {
      const body = this.response.body
      return body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength) as ArrayBuffer
    })
  }

  get urlParamsBody(): Effect.Effect<UrlParams.UrlParams, HttpClientError.ResponseError> {
    return Effect.map(this.text, (text) => UrlParams.fromInput(new URLSearchParams(text)))
  }

  get formData(): Effect.Effect<FormData, HttpClientError.ResponseError> {
    return Effect.tryPromise({
      try: () => new Response(this.response.body, { headers: this.response.headers }).formData(),
      catch: (cause) => this.decodeError(cause)
    })
  }

  get stream(): Stream.Stream<Uint8Array, HttpClientError.ResponseError> {
    return Stream.make(this.response.body)
  }

  toJSON(): unknown {
    return {
      _id: "@effect/platform/HttpClientResponse",
      request: shownRequest(this.request).toJSON(),
      status: this.status,
      headers: redactHeaders(this.response.headers)
    }
  }

  toString(): string {
    return Inspectable.format(this.toJSON())
  }

  [Inspectable.NodeInspectSymbol](): unknown {
    return this.toJSON()
  }
}

/**
 * The request as an error shows it. The platform's errors print
 * `(METHOD url)` in their message and the whole request in their JSON, so
 * they get a copy with the URL, its parameters and fragment, and the secret
 * headers redacted, and without the body; the caller still has the original.
 */
const shownRequest = (request: HttpClientRequest.HttpClientRequest): HttpClientRequest.HttpClientRequest =>
  HttpClientRequest.make(request.method)(redactUrl(request.url), {
    urlParams: request.urlParams.map(([name, value]) => [name, isSecretParam(name) ? "***" : value] as const),
    hash: Option.getOrUndefined(Option.map(request.hash, (hash) => redactUrl(`http://h/#${hash}`).slice("http://h/#".length))),
    headers: redactHeaders(request.headers)
  })

const toHttpClientError = (request: HttpClientRequest.HttpClientRequest) => (error: FetchError.FetchError) =>
  new HttpClientError.RequestError({
    request: shownRequest(request),
    reason: error._tag === "InvalidUrl" ? "InvalidUrl" : error._tag === "InvalidRequest" ? "Encode" : "Transport",
    cause: error,
    description: error.message
  })

/** The platform's `HttpClient` tag, for the session layer that loads this module. */
export const HttpClientTag = HttpClient.HttpClient

export const make = (session: SessionImpl): HttpClient.HttpClient =>
  HttpClient.makeWith<never, never, HttpClientError.HttpClientError, never>(
    (requestEffect) =>
      Effect.flatMap(requestEffect, (request) =>
        Effect.mapBoth(execute(session, request, callOptions), {
          onFailure: toHttpClientError(request),
          onSuccess: (response): HttpClientResponse.HttpClientResponse => new LeanResponse(request, response)
        })),
    Effect.succeed
  )
