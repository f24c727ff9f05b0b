/**
 * RFC 9111 for a private cache, as pure functions of headers and clock
 * times (milliseconds): what may be stored, how old a stored response is,
 * whether it is fresh for a request, how to revalidate it, and how a 304
 * updates it. No I/O, no clock of its own: the cache stage (stage.ts) asks,
 * the property tests check.
 *
 * Decisions a private cache may make and this one makes (each says why):
 * - `s-maxage` and `proxy-revalidate` are for shared caches: ignored (5.2.2.10).
 * - `private` responses are stored: this is a private cache (5.2.2.7).
 * - A request with `Authorization` (or `Cookie`) is stored only when the
 *   response says `public`: a store can be shared by sessions with other
 *   credentials (an SQLite file), and no answer meant for one may reach
 *   another. Stricter than 3.5, which lets a private cache store them.
 * - A stale response is never served (no `max-stale`, no `stale-if-error`):
 *   it is revalidated or fetched again, so `must-revalidate` always holds.
 * - Heuristic freshness (4.2.2) only without explicit expiry, only for the
 *   statuses the RFC calls heuristically cacheable (or `public`), from
 *   `Last-Modified`: 10% of its age, at most a day.
 */

import { globalValue } from "effect/GlobalValue"
import { withoutHeader } from "../engine/headerCopy.js"

/** Cache-Control directives, lower-case names; a directive without a value is `true`. */
export type Directives = ReadonlyMap<string, string | true>

const noDirectives: Directives = new Map()

/** Parses `Cache-Control` (several headers already joined with ", "). The first of duplicates wins. */
export const parseCacheControl = (value: string | undefined): Directives => {
  if (value === undefined || value === "") return noDirectives
  const out = new Map<string, string | true>()
  // A quoted value may hold commas (no-cache="set-cookie, x"): split outside quotes.
  for (const part of value.match(/(?:[^,"]+|"[^"]*")+/g) ?? []) {
    const eq = part.indexOf("=")
    const name = (eq === -1 ? part : part.slice(0, eq)).trim().toLowerCase()
    if (name === "" || out.has(name)) continue
    const raw = eq === -1 ? undefined : part.slice(eq + 1).trim()
    out.set(name, raw === undefined ? true : raw.startsWith("\"") && raw.endsWith("\"") && raw.length >= 2 ? raw.slice(1, -1) : raw)
  }
  return out
}

/** A delta-seconds directive in ms; `undefined` when absent, `0` when not a number (treated as stale, 1.2.2). */
const deltaMs = (directives: Directives, name: string): number | undefined => {
  const value = directives.get(name)
  if (value === undefined) return undefined
  if (value === true || !/^\d+$/.test(value)) return 0
  return Math.min(Number(value), 2 ** 31) * 1000
}

const imfFixdate = /^[A-Za-z]{3}, \d{2} [A-Za-z]{3} \d{4} \d{2}:\d{2}:\d{2} GMT$/
const rfc850 = /^[A-Za-z]+, \d{2}-[A-Za-z]{3}-\d{2} \d{2}:\d{2}:\d{2} GMT$/
const asctime = /^[A-Za-z]{3} [A-Za-z]{3} [ \d]\d \d{2}:\d{2}:\d{2} \d{4}$/

/**
 * An HTTP-date (RFC 9110 5.6.7: IMF-fixdate, or the obsolete RFC 850 and
 * asctime forms) in ms; `undefined` when absent or anything else. Checked by
 * form first: `Date.parse` alone takes `"0"` for the year 2000 (an invalid
 * `Expires: 0` would then be fresh for decades; found by the property test).
 */
export const httpDate = (value: string | undefined): number | undefined => {
  if (value === undefined) return undefined
  const text = value.trim()
  let ms = Number.NaN
  if (imfFixdate.test(text) || rfc850.test(text)) ms = Date.parse(text)
  else if (asctime.test(text)) ms = Date.parse(`${text} GMT`)
  return Number.isNaN(ms) ? undefined : ms
}

/** Statuses a cache may give heuristic freshness (RFC 9110 15.1), of those a fetch succeeds with or may store. */
const heuristicStatuses = new Set([200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501])

/** Statuses this cache stores: final 2xx answers a fetch succeeds with, without partial content. */
const storedStatuses = new Set([200, 203, 204])

const oneDayMs = 24 * 60 * 60 * 1000

/** Whether the request carries credentials whose answers must not be shared. */
export const hasCredentials = (request: Readonly<Record<string, string>>): boolean => request["authorization"] !== undefined || request["cookie"] !== undefined

/**
 * Whether a response to a GET may be stored (RFC 9111 3, with the choices
 * above). `Vary: *` never matches a later request (4.1), so it is not stored.
 */
export const isStorable = (
  method: string,
  status: number,
  request: Readonly<Record<string, string>>,
  response: Readonly<Record<string, string>>
): boolean => {
  if (method !== "GET" || !storedStatuses.has(status)) return false
  const req = parseCacheControl(request["cache-control"])
  const res = parseCacheControl(response["cache-control"])
  if (req.has("no-store") || res.has("no-store")) return false
  if (hasCredentials(request) && !res.has("public")) return false
  if (varyFields(response) === undefined) return false
  return true
}

/** The request header names the response varies on, lower case; `undefined` for `Vary: *`. */
export const varyFields = (response: Readonly<Record<string, string>>): ReadonlyArray<string> | undefined => {
  const vary = response["vary"]
  if (vary === undefined || vary.trim() === "") return []
  const names = vary.split(",").map((name) => name.trim().toLowerCase()).filter((name) => name !== "")
  return names.includes("*") ? undefined : names
}

/** The values of the varying request headers, as the request sent them (`null` when absent). */
export const selecting = (
  fields: ReadonlyArray<string>,
  request: Readonly<Record<string, string>>
): Readonly<Record<string, string | null>> => {
  const out: Record<string, string | null> = {}
  for (const name of fields) out[name] = normalizeField(request[name])
  return out
}

// Whitespace around commas does not make another variant (4.1).
const normalizeField = (value: string | undefined): string | null => value === undefined ? null : value.split(",").map((v) => v.trim()).join(",")

/** Whether a stored response selected by `vary` may answer `request` (4.1). */
export const varyMatches = (
  vary: Readonly<Record<string, string | null>>,
  request: Readonly<Record<string, string>>
): boolean => {
  for (const name of Object.keys(vary)) {
    if (vary[name] !== normalizeField(request[name])) return false
  }
  return true
}

/**
 * The freshness lifetime (4.2.1): `max-age`, else `Expires` − `Date`, else
 * heuristic (see the module's note), else 0.
 */
export const lifetimeMs = (
  status: number,
  response: Readonly<Record<string, string>>,
  receivedAt: number,
  cc: Directives = parseCacheControl(response["cache-control"])
): number => {
  const maxAge = deltaMs(cc, "max-age")
  if (maxAge !== undefined) return maxAge
  const date = httpDate(response["date"]) ?? receivedAt
  if (response["expires"] !== undefined) {
    // An invalid Expires ("0") means already expired (5.3).
    const expires = httpDate(response["expires"])
    return expires === undefined ? 0 : Math.max(0, expires - date)
  }
  if (!heuristicStatuses.has(status) && !cc.has("public")) return 0
  const lastModified = httpDate(response["last-modified"])
  if (lastModified === undefined || lastModified >= date) return 0
  return Math.min(oneDayMs, Math.floor((date - lastModified) / 10))
}

/** What is kept of a response: enough to serve it and to age it. */
export interface Stored {
  readonly status: number
  /** Lower-case names, as the response came (after a 304, updated). */
  readonly headers: Readonly<Record<string, string>>
  readonly body: Uint8Array
  /** Clock ms when the request that got it was sent. */
  readonly requestAt: number
  /** Clock ms when it arrived. */
  readonly responseAt: number
  /** The selecting request headers (see {@link selecting}). */
  readonly vary: Readonly<Record<string, string | null>>
}

const ageHeaderMs = (value: string | undefined): number => value !== undefined && /^\d+$/.test(value.trim()) ? Number(value.trim()) * 1000 : 0

/** What a stored response's headers say once and for all: parsed at its first use, not at every hit. */
interface Derived {
  /** The corrected initial age (4.2.3). */
  readonly initialAgeMs: number
  readonly lifetimeMs: number
  readonly noCache: boolean
}

// Weak: an entry the store drops takes its derived fields with it.
const derivedOf = globalValue(Symbol.for("effect-gather/cache/derived"), () => new WeakMap<Stored, Derived>())

const derive = (stored: Stored): Derived => {
  const known = derivedOf.get(stored)
  if (known !== undefined) return known
  const date = httpDate(stored.headers["date"]) ?? stored.responseAt
  const apparent = Math.max(0, stored.responseAt - date)
  const delay = Math.max(0, stored.responseAt - stored.requestAt)
  const correctedAge = ageHeaderMs(stored.headers["age"]) + delay
  // Parsed once for both: a store on disk hands out a new Stored per read, so this runs at every such hit.
  const cc = parseCacheControl(stored.headers["cache-control"])
  const derived: Derived = {
    initialAgeMs: Math.max(apparent, correctedAge),
    lifetimeMs: lifetimeMs(stored.status, stored.headers, stored.responseAt, cc),
    noCache: cc.has("no-cache")
  }
  derivedOf.set(stored, derived)
  return derived
}

/** The current age (4.2.3), in ms, at clock time `now`. */
export const ageMs = (stored: Stored, now: number): number => derive(stored).initialAgeMs + Math.max(0, now - stored.responseAt)

/**
 * Whether `stored` may answer `request` at `now` without asking the origin
 * (4.2, 5.2.1): fresh, not `no-cache` on either side, and within the
 * request's `max-age` / `min-fresh`. `Pragma: no-cache` counts only when
 * the request has no `Cache-Control` (5.4).
 */
export const isFresh = (stored: Stored, request: Readonly<Record<string, string>>, now: number): boolean => {
  const derived = derive(stored)
  if (derived.noCache) return false
  const req = parseCacheControl(request["cache-control"])
  if (req.has("no-cache")) return false
  if (request["cache-control"] === undefined && /(^|,)\s*no-cache\s*(,|$)/i.test(request["pragma"] ?? "")) return false
  const age = ageMs(stored, now)
  const lifetime = derived.lifetimeMs
  const reqMaxAge = deltaMs(req, "max-age")
  if (reqMaxAge !== undefined && age >= reqMaxAge) return false
  const minFresh = deltaMs(req, "min-fresh") ?? 0
  return lifetime - age > minFresh
}

/** The conditional headers that revalidate `stored` (4.3.1); `undefined` when it has no validator. */
export const conditional = (stored: Stored): Record<string, string> | undefined => {
  const etag = stored.headers["etag"]
  const lastModified = stored.headers["last-modified"]
  if (etag === undefined && lastModified === undefined) return undefined
  const out: Record<string, string> = {}
  if (etag !== undefined) out["if-none-match"] = etag
  if (lastModified !== undefined) out["if-modified-since"] = lastModified
  return out
}

/** Headers a 304 does not replace: they describe the stored body, not the response (3.2). */
const keptOn304 = new Set(["content-length", "content-encoding", "transfer-encoding", "content-range", "connection", "keep-alive"])

/**
 * The stored response updated by a 304 (4.3.4): every header of the 304
 * replaces the stored one (except those describing the body), and the
 * response is aged from the 304's times. `skip` names headers the 304 did
 * not really give (redacted values).
 */
export const merge = (
  stored: Stored,
  notModified: Readonly<Record<string, string>>,
  requestAt: number,
  responseAt: number,
  skip: (name: string) => boolean = () => false
): Stored => {
  // The stored Age described the old response; the 304 brings its own, or none.
  const headers = withoutHeader(stored.headers, "age")
  for (const name of Object.keys(notModified)) {
    if (keptOn304.has(name) || skip(name)) continue
    headers[name] = notModified[name]!
  }
  return { ...stored, headers, requestAt, responseAt }
}

/** Whether a request may be answered from the cache at all (else it goes to the origin untouched). */
export const mayUse = (method: string, request: Readonly<Record<string, string>>): boolean =>
  method === "GET" && request["if-none-match"] === undefined && request["if-modified-since"] === undefined &&
  request["range"] === undefined && request["if-range"] === undefined && !parseCacheControl(request["cache-control"]).has("no-store")

/** Methods whose success invalidates what is stored for the URL (4.4). */
export const isUnsafe = (method: string): boolean => method !== "GET" && method !== "HEAD" && method !== "OPTIONS" && method !== "TRACE"

/**
 * What to do with a request, given what is stored for its URL (any
 * variants): serve a fresh one, revalidate a stale one that has a
 * validator, or fetch. `revalidate` forces a revalidation of fresh ones too.
 */
export type Plan =
  | { readonly _tag: "Hit"; readonly stored: Stored }
  | { readonly _tag: "Revalidate"; readonly stored: Stored; readonly headers: Record<string, string> }
  | { readonly _tag: "Fetch" }

const fetchPlan: Plan = { _tag: "Fetch" }

export const plan = (
  variants: ReadonlyArray<Stored>,
  request: Readonly<Record<string, string>>,
  now: number,
  revalidate: boolean
): Plan => {
  // The most recent matching variant (4.1).
  let chosen: Stored | undefined
  for (const stored of variants) {
    if (varyMatches(stored.vary, request) && (chosen === undefined || stored.responseAt > chosen.responseAt)) chosen = stored
  }
  if (chosen === undefined) return fetchPlan
  if (!revalidate && isFresh(chosen, request, now)) return { _tag: "Hit", stored: chosen }
  const headers = conditional(chosen)
  return headers === undefined ? fetchPlan : { _tag: "Revalidate", stored: chosen, headers }
}
