/**
 * The NDJSON record written for every input of `gather fetch` and stored for
 * every URL of a `Cluster` job, built by pure functions from a fetch's
 * outcome. URLs are shown as the user wrote them
 * unless they carry credentials, which are redacted with the library's rules
 * (the same rules as every error message).
 */
import * as Schema from "effect/Schema"
import type * as Fetch from "../Fetch.js"
import type * as FetchError from "../FetchError.js"
import { redactUrl } from "./engine/redact.js"

/** What went wrong: the error's tag and its message (credentials redacted). */
export const ErrorInfo = Schema.Struct({
  tag: Schema.String,
  message: Schema.String
})

/**
 * One output line. Fields that do not apply are `null`, never missing
 * (`line` and `key` are missing only in files from before they existed).
 */
export const ResultRecord = Schema.Struct({
  /** The input's line number (1-based; blank lines and comments count). */
  line: Schema.optional(Schema.Number),
  /** The input as written, credentials redacted. */
  url: Schema.String,
  ok: Schema.Boolean,
  /** The final status, also for `BadStatus`; `null` when no response came. */
  status: Schema.NullOr(Schema.Number),
  error: Schema.NullOr(ErrorInfo),
  /** Body size after content decoding. */
  bytes: Schema.NullOr(Schema.Number),
  /** Milliseconds from the start of the fetch to its end, 0.1 ms precision. */
  ms: Schema.NullOr(Schema.Number),
  attempts: Schema.NullOr(Schema.Number),
  /** The URL after redirects, credentials redacted. */
  final_url: Schema.NullOr(Schema.String),
  /**
   * Where the response came from when the session has a cache (`gather fetch
   * --cache`): `hit` (nothing sent), `revalidated` (a 304), `miss` (fetched).
   * Missing without a cache, and for failures.
   */
  cache: Schema.optional(Schema.Literal("hit", "revalidated", "miss", "bypass")),
  /** With `--body-dir`: the file the body was saved to. */
  body_file: Schema.optional(Schema.String),
  /** The resume key: a keyed hash of the method and the input as written (see inputKey.ts). */
  key: Schema.optional(Schema.String)
})

/** @see ResultRecord */
export type ResultRecord = typeof ResultRecord.Type

/** The tag of a record whose body could not be saved with `--body-dir`. */
export const saveErrorTag = "BodySaveError"

const roundMs = (ms: number): number => Math.round(ms * 10) / 10

/**
 * The URL as shown in records and used as the resume key: the input itself,
 * or its redacted form when it holds credentials (user info, `token=`...).
 */
export const displayUrl = (input: string): string => displayOf(input, redactUrl(input))

/** {@link displayUrl}, given `redactUrl(input)`. */
const displayOf = (input: string, redacted: string): string => {
  // Nothing to hide and nothing normalized: the common case, with no second parse.
  if (redacted === input) return input
  let normalized: string
  try {
    normalized = new URL(input).href
  } catch {
    normalized = input
  }
  return redacted === normalized ? input : redacted
}

/** The record of a successful fetch. */
export const fromResponse = (
  input: string,
  response: Fetch.FetchResponse<unknown>,
  bodyFile?: string | undefined
): ResultRecord => {
  const redacted = redactUrl(input)
  const record: ResultRecord = {
    url: displayOf(input, redacted),
    ok: true,
    status: response.status,
    error: null,
    bytes: response.bytes,
    ms: roundMs(response.timing.totalMs),
    attempts: response.attempts,
    // Without a redirect the final URL is usually the input itself: redacted once.
    final_url: response.url === input ? redacted : redactUrl(response.url)
  }
  // Object.assign, not a spread: names added to a spread copy are slow (engine/headerCopy.ts).
  const cached = response.cache === "bypass" || response.cache === undefined ? record : Object.assign({}, record, { cache: response.cache })
  return bodyFile === undefined ? cached : Object.assign({}, cached, { body_file: bodyFile })
}

/** The record of a failed fetch. */
export const fromError = (input: string, error: FetchError.FetchError): ResultRecord => ({
  url: displayUrl(input),
  ok: false,
  status: error._tag === "BadStatus" ? error.status : null,
  error: { tag: error._tag, message: error.message },
  bytes: null,
  ms: roundMs(error.elapsedMs),
  attempts: error.attempt,
  final_url: null
})

/** A fetch that succeeded but whose body could not be written to `--body-dir`. */
export const fromSaveFailure = (
  input: string,
  response: Fetch.FetchResponse<unknown>,
  detail: string
): ResultRecord => ({
  ...fromResponse(input, response),
  ok: false,
  error: { tag: saveErrorTag, message: `cannot save body of ${redactUrl(response.url)}: ${detail}` }
})

/** The record of the input on `line`, with its resume key: `line` first, `key` last. */
export const forInput = (record: ResultRecord, line: number, key: string): ResultRecord => {
  // Written out rather than spread: a record per input, on the CLI's hot path
  // (a rest-and-spread copy took 0.5-0.7 µs, this 0.03-0.05, measured alone).
  // The order of the fields is the order of the JSON line.
  const keyed: { -readonly [K in keyof ResultRecord]: ResultRecord[K] } = {
    line,
    url: record.url,
    ok: record.ok,
    status: record.status,
    error: record.error,
    bytes: record.bytes,
    ms: record.ms,
    attempts: record.attempts,
    final_url: record.final_url
  }
  if (record.cache !== undefined) keyed.cache = record.cache
  if (record.body_file !== undefined) keyed.body_file = record.body_file
  keyed.key = key
  return keyed
}

// Strings JSON writes as they are: printable ASCII without `"` and `\\`.
const plainJson = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/

const jsonString = (text: string): string => plainJson.test(text) ? `"${text}"` : JSON.stringify(text)

// JSON has no NaN or Infinity: `JSON.stringify` writes them as null.
const jsonNumber = (value: number): string => Number.isFinite(value) ? String(value) : "null"

const jsonNullable = (value: number | null): string => value === null ? "null" : jsonNumber(value)

/**
 * A record as its NDJSON line: the same text as `JSON.stringify(record)`
 * (fields in the schema's order, the order every constructor here builds),
 * written out field by field. One line per input on the CLI's hot path:
 * `JSON.stringify` of the record took about 2.8 µs, this well under one
 * (bench S4 profile); the URL, usually the final URL too, is escaped once.
 */
export const toLine = (record: ResultRecord): string => {
  let line = record.line === undefined ? "{" : `{"line":${jsonNumber(record.line)},`
  const url = jsonString(record.url)
  line += `"url":${url},"ok":${record.ok},"status":${jsonNullable(record.status)},"error":`
  line += record.error === null ? "null" : `{"tag":${jsonString(record.error.tag)},"message":${jsonString(record.error.message)}}`
  line += `,"bytes":${jsonNullable(record.bytes)},"ms":${jsonNullable(record.ms)},"attempts":${jsonNullable(record.attempts)},"final_url":`
  line += record.final_url === null ? "null" : record.final_url === record.url ? url : jsonString(record.final_url)
  if (record.cache !== undefined) line += `,"cache":"${record.cache}"`
  if (record.body_file !== undefined) line += `,"body_file":${jsonString(record.body_file)}`
  if (record.key !== undefined) line += `,"key":${jsonString(record.key)}`
  return `${line}}\n`
}

const decodeRecord = Schema.decodeUnknownOption(Schema.parseJson(ResultRecord))

/** Parses one line back into a record; `undefined` when it is not one (a torn or foreign line). */
export const parseLine = (line: string): ResultRecord | undefined => {
  const decoded = decodeRecord(line)
  return decoded._tag === "Some" ? decoded.value : undefined
}
