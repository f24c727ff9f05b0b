/**
 * The request helpers (`Fetch.post`, `put`, ...): a method, a URL and one
 * body option become a request the engine sends. Bodies are encoded to bytes
 * before the first attempt, so a retry or a 307/308 sends them again.
 * Encoding failures are a typed `InvalidRequest`, never an `HttpBodyError`.
 */
import * as HttpBody from "@effect/platform/HttpBody"
import * as UrlParams from "@effect/platform/UrlParams"
import * as Effect from "effect/Effect"
import type { SendOptions } from "../Fetch.js"
import type * as FetchError from "../FetchError.js"
import type { Session as PublicSession } from "../Session.js"
import * as Errors from "./errors.js"
import type { FetchResponse, RequestSpec } from "./fetch.js"
import { executeCurrent } from "./fetch.js"
import { redactUrl } from "./redact.js"

const noHeaders: Readonly<Record<string, string>> = Object.freeze({})
const noParams: UrlParams.UrlParams = []

const bodyNames = ["json", "form", "text", "bytes"] as const

const encodeJson = (value: unknown): HttpBody.HttpBody | string => {
  let text: string | undefined
  try {
    text = JSON.stringify(value)
  } catch (error) {
    return `the json body cannot be encoded as JSON: ${error instanceof Error ? error.message : String(error)}`
  }
  // undefined, a function or a symbol encode to nothing at all.
  if (text === undefined) return `the json body cannot be encoded as JSON: ${typeof value} has no JSON form`
  return HttpBody.text(text, "application/json")
}

/** The body of the options, or why it cannot be sent. */
const toBody = (options: SendOptions | undefined): HttpBody.HttpBody | string => {
  if (options === undefined) return HttpBody.empty
  const given = bodyNames.filter((name) => options[name] !== undefined)
  if (given.length > 1) return `give one body, not ${given.join(" and ")}`
  switch (given[0]) {
    case undefined:
      return HttpBody.empty
    case "json":
      return encodeJson(options.json)
    case "form": {
      const form = options.form!
      return form instanceof FormData ? HttpBody.formData(form) : HttpBody.urlParams(UrlParams.fromInput(form))
    }
    case "text":
      return HttpBody.text(options.text!, "text/plain; charset=utf-8")
    case "bytes":
      return HttpBody.uint8Array(options.bytes!, "application/octet-stream")
  }
}

/** A request with a method, URL parameters and one body, sent on the current session. */
export const send = (
  method: string,
  url: string | URL,
  options: SendOptions | undefined
): Effect.Effect<FetchResponse<Uint8Array>, FetchError.FetchError, PublicSession> =>
  Effect.suspend(() => {
    const href = typeof url === "string" ? url : url.href
    const body = toBody(options)
    if (typeof body === "string") {
      return Effect.fail(Errors.make({ _tag: "InvalidRequest", reason: "Body", detail: body }, method, redactUrl(href), 1, 0))
    }
    const spec: RequestSpec = {
      method,
      url: href,
      urlParams: options?.urlParams === undefined ? noParams : UrlParams.fromInput(options.urlParams),
      headers: noHeaders,
      body
    }
    return executeCurrent(spec, options)
  })
