/**
 * What a fetch makes of the response body: the bytes as they came, text, or
 * JSON decoded with a schema.
 */
import * as Effect from "effect/Effect"
import * as ParseResult from "effect/ParseResult"
import type * as Schema from "effect/Schema"
import type * as FetchError from "../FetchError.js"
import type { FetchResponse } from "./engine/attempt.js"
import * as Errors from "./engine/errors.js"
import { redactUrl } from "./engine/redact.js"
import { decodeText } from "./engine/text.js"

/**
 * What a fetch makes of the response: at once (bytes, text), or with an
 * effect (a schema may need services or async work).
 */
export type Finish<A, R> =
  | { readonly _tag: "Sync"; readonly f: (response: FetchResponse<Uint8Array>) => FetchResponse<A> }
  | {
    readonly _tag: "Effect"
    readonly f: (response: FetchResponse<Uint8Array>) => Effect.Effect<FetchResponse<A>, FetchError.FetchError, R>
  }

export const finishWith = <A, E, R, R2>(
  fetched: Effect.Effect<FetchResponse<Uint8Array>, E, R>,
  finish: Finish<A, R2>
): Effect.Effect<FetchResponse<A>, E | FetchError.FetchError, R | R2> =>
  finish._tag === "Sync" ? Effect.map(fetched, finish.f) : Effect.flatMap(fetched, finish.f)

/** The body as it came. */
export const asBytes: Finish<Uint8Array, never> = { _tag: "Sync", f: (response) => response }

/** The body decoded as text. */
export const asText: Finish<string, never> = { _tag: "Sync", f: (response) => toText(response) }

/** The body parsed as JSON and decoded with `schema`. */
export const asJson = <A, I, R>(schema: Schema.Schema<A, I, R>, method: string): Finish<A, R> => ({
  _tag: "Effect",
  f: toJson(schema, method)
})

/** Decodes a response body as text. */
export const toText = (response: FetchResponse<Uint8Array>): FetchResponse<string> => ({
  ...response,
  body: decodeText(response.body, response.headers["content-type"])
})

const decodeFailure = (
  response: FetchResponse<Uint8Array>,
  method: string,
  failure: Errors.Failure
): FetchError.FetchError => Errors.make(failure, method, redactUrl(response.url), response.attempts, response.timing.totalMs, response.timing)

/** Parses the body as JSON and decodes it with the schema. */
export const toJson = <A, I, R>(
  schema: Schema.Schema<A, I, R>,
  method: string
) =>
(response: FetchResponse<Uint8Array>): Effect.Effect<FetchResponse<A>, FetchError.FetchError, R> => {
  let json: unknown
  try {
    json = JSON.parse(decodeText(response.body, response.headers["content-type"]))
  } catch (error) {
    return Effect.fail(decodeFailure(response, method, { _tag: "DecodeError", reason: "Json", path: [], detail: (error as Error).message }))
  }
  return Effect.mapBoth(ParseResult.decodeUnknown(schema)(json), {
    // ParseResult, not Schema: the same decoding without loading Schema's
    // module graph (fast-check among it) for a program that never decodes.
    onFailure: (parseIssue) => {
      const issue = ParseResult.ArrayFormatter.formatIssueSync(parseIssue)[0]
      return decodeFailure(response, method, {
        _tag: "DecodeError",
        reason: "Schema",
        path: issue?.path ?? [],
        detail: issue?.message ?? ParseResult.TreeFormatter.formatIssueSync(parseIssue)
      })
    },
    onSuccess: (body) => ({ ...response, body })
  })
}
