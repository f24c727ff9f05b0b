/** What every route answers with: JSON, redirects, 400s, parameters, byte bodies. */
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import type * as Http from "node:http"
import { parseIntegerIn } from "./helpers.js"

// ---------------------------------------------------------------------------
// route helpers
// ---------------------------------------------------------------------------

export class BadRequest extends Data.TaggedError("BadRequest")<{ readonly message: string }> {}

export type Response = HttpServerResponse.HttpServerResponse

export const json = (body: unknown, status = 200, headers?: Record<string, string>): Response =>
  HttpServerResponse.unsafeJson(body, headers === undefined ? { status } : { status, headers })

export const redirect = (location: string, status: number): Response => HttpServerResponse.redirect(location, { status, headers: { "content-length": "0" } })

export const badRequest = (message: string): Effect.Effect<never, BadRequest> => Effect.fail(new BadRequest({ message }))

export const recover = <R>(effect: Effect.Effect<Response, BadRequest, R>): Effect.Effect<Response, never, R> =>
  Effect.catchTag(effect, "BadRequest", (e) => Effect.succeed(json({ error: e.message }, 400)))

export const pathParam = (name: string): Effect.Effect<string, never, HttpRouter.RouteContext> => Effect.map(HttpRouter.params, (params) => params[name] ?? "")

export const query: Effect.Effect<URLSearchParams, never, HttpServerRequest.HttpServerRequest> = Effect.map(
  HttpServerRequest.HttpServerRequest,
  (request) => {
    const index = request.url.indexOf("?")
    return new URLSearchParams(index === -1 ? "" : request.url.slice(index + 1))
  }
)

export const integer = (
  name: string,
  raw: string | null | undefined,
  min: number,
  max: number
): Effect.Effect<number, BadRequest> => {
  const n = parseIntegerIn(raw, min, max)
  return n === undefined
    ? badRequest(`${name} must be an integer in [${min}, ${max}], got ${JSON.stringify(raw ?? null)}`)
    : Effect.succeed(n)
}

export const optionalInteger = (
  name: string,
  raw: string | null,
  min: number,
  max: number,
  fallback: number
): Effect.Effect<number, BadRequest> => (raw === null ? Effect.succeed(fallback) : integer(name, raw, min, max))

export const flag = (raw: string | null): boolean => raw !== null && raw !== "0" && raw !== "false"

/** Waits on a real timer (never Effect's Clock), cancelled on interruption. */
export const realSleep = (millis: number): Effect.Effect<void> =>
  millis <= 0
    ? Effect.void
    : Effect.async<void>((resume) => {
      const timer = setTimeout(() => resume(Effect.void), millis)
      return Effect.sync(() => clearTimeout(timer))
    })

export const nodeResponse: Effect.Effect<Http.ServerResponse, never, HttpServerRequest.HttpServerRequest> = Effect.map(
  HttpServerRequest.HttpServerRequest,
  NodeHttpServerRequest.toServerResponse
)

// the response was written by hand on the node object; the platform sees
// `writableEnded` and sends nothing more
export const alreadySent: Response = HttpServerResponse.empty()

// ---------------------------------------------------------------------------
// byte patterns
// ---------------------------------------------------------------------------

const chunkSize = 64 * 1024
const patternPeriod = 251
const pattern: Uint8Array = (() => {
  const bytes = new Uint8Array(chunkSize + patternPeriod)
  for (let i = 0; i < bytes.length; i++) bytes[i] = i % patternPeriod
  return bytes
})()

/** `length` bytes of the pattern `byte i = i % 251`, starting at `offset`. */
export const patternSlice = (offset: number, length: number): Uint8Array => {
  const start = offset % patternPeriod
  return pattern.subarray(start, start + length)
}

export const bytesStream = (n: number): Stream.Stream<Uint8Array> =>
  Stream.unfold(0, (offset) => {
    if (offset >= n) return Option.none()
    const size = Math.min(chunkSize, n - offset)
    return Option.some([patternSlice(offset, size), offset + size] as const)
  })
