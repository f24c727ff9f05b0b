/**
 * The request helpers (`Fetch.post`, `put`, ...): a method, a URL and one
 * body option become a request the engine sends. Bodies are encoded to bytes
 * before the first attempt, so a retry or a 307/308 sends them again.
 * Encoding failures are a typed `InvalidRequest`, never an `HttpBodyError`.
 */
import type * as UrlParams from "@effect/platform/UrlParams"
import * as Effect from "effect/Effect"
import type { SendOptions } from "../Fetch.js"
import type * as FetchError from "../FetchError.js"
import type { Session as PublicSession } from "../Session.js"
import * as Errors from "./engine/errors.js"
import { redactUrl } from "./engine/redact.js"
import type { FetchResponse, Finish, RequestBody, RequestSpec } from "./fetch.js"
import { emptyBody, FetchEffect } from "./fetch.js"

const noHeaders: Readonly<Record<string, string>> = Object.freeze({})
const noParams: ReadonlyArray<readonly [string, string]> = []

/**
 * URL parameters as name/value pairs, the way `@effect/platform`'s
 * `UrlParams.fromInput` reads them (arrays repeat a name, nested records
 * become `a[b]`, `undefined` is left out), without loading that module,
 * which imports `effect/Schema` (see session.ts `layer` on import cost).
 */
export const paramPairs = (input: UrlParams.Input): Array<[string, string]> => {
  const out: Array<[string, string]> = []
  const add = (keys: ReadonlyArray<string>, value: unknown): void => {
    if (value === undefined) return
    if (Array.isArray(value)) {
      for (const item of value) if (item !== undefined) out.push([nameOf(keys), String(item)])
    } else if (typeof value === "object" && value !== null) {
      for (const [key, inner] of entriesOf(value)) add([...keys, key], inner)
    } else {
      out.push([nameOf(keys), String(value)])
    }
  }
  for (const [key, value] of entriesOf(input)) add([key], value)
  return out
}

const nameOf = (keys: ReadonlyArray<string>): string => keys.length === 1 ? keys[0]! : `${keys[0]}[${keys.slice(1).join("][")}]`

const entriesOf = (input: object): Array<readonly [string, unknown]> =>
  Symbol.iterator in input
    ? Array.from(input as Iterable<readonly [string, unknown]>)
    : Object.entries(input)

const encoder = new TextEncoder()
const textBody = (text: string, contentType: string): RequestBody => ({ _tag: "Uint8Array", body: encoder.encode(text), contentType })

const bodyNames = ["json", "form", "text", "bytes"] as const

const encodeJson = (value: unknown): RequestBody | string => {
  let text: string | undefined
  try {
    text = JSON.stringify(value)
  } catch (error) {
    return `the json body cannot be encoded as JSON: ${error instanceof Error ? error.message : String(error)}`
  }
  // undefined, a function or a symbol encode to nothing at all.
  if (text === undefined) return `the json body cannot be encoded as JSON: ${typeof value} has no JSON form`
  return textBody(text, "application/json")
}

/** The body of the options, or why it cannot be sent. */
const toBody = (options: SendOptions | undefined): RequestBody | string => {
  if (options === undefined) return emptyBody
  const given = bodyNames.filter((name) => options[name] !== undefined)
  if (given.length > 1) return `give one body, not ${given.join(" and ")}`
  switch (given[0]) {
    case undefined:
      return emptyBody
    case "json":
      return encodeJson(options.json)
    case "form": {
      const form = options.form!
      return form instanceof FormData
        ? { _tag: "FormData", formData: form }
        : textBody(new URLSearchParams(paramPairs(form)).toString(), "application/x-www-form-urlencoded")
    }
    case "text":
      return textBody(options.text!, "text/plain; charset=utf-8")
    case "bytes":
      return { _tag: "Uint8Array", body: options.bytes!, contentType: "application/octet-stream" }
  }
}

/** A request with a method, URL parameters and one body, sent on the current session. */
export const send = <A, R>(
  method: string,
  url: string | URL,
  options: SendOptions | undefined,
  finish: Finish<A, R>
): Effect.Effect<FetchResponse<A>, FetchError.FetchError, PublicSession | R> => {
  const href = typeof url === "string" ? url : url.href
  // Encoded when the effect is made, as Fetch.get's request is: a plain body
  // of bytes makes the same request description, so it takes the fast path.
  const body = toBody(options)
  if (typeof body === "string") {
    return Effect.fail(Errors.make({ _tag: "InvalidRequest", reason: "Body", detail: body }, method, redactUrl(href), 1, 0))
  }
  const spec: RequestSpec = {
    method,
    url: href,
    urlParams: options?.urlParams === undefined ? noParams : paramPairs(options.urlParams),
    headers: noHeaders,
    body
  }
  return new FetchEffect(spec, options, finish)
}
