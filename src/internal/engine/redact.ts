/**
 * Secrets never leave the library in clear text: every URL and header that
 * reaches an error, a log line or a report passes through here first.
 */

import { splitPlainUrl } from "./plainUrl.js"

const REDACTED = "***"

// Query and fragment parameters that carry credentials often enough that
// showing them is never worth the risk. A name is lower-cased and split into
// words at `-`, `_` and `.` (`X-Goog-Signature` → x, goog, signature); it is
// secret when one of its words is a secret word, or when it ends in `sig`,
// `token` or `secret` glued to another word (`urlsig`, `accesstoken`).
const secretWords: ReadonlySet<string> = new Set([
  "token",
  "secret",
  "signature",
  "sig",
  "password",
  "passwd",
  "pwd",
  "passphrase",
  "key",
  "apikey",
  "auth",
  "authorization",
  "credential",
  "credentials",
  "session",
  "sessionid",
  "sid",
  "jwt",
  "bearer",
  "otp",
  "cookie"
])

const secretSuffix = /(sig|token|secret|signature|password|apikey|sessionid)$/

/** True for query (or fragment) parameter names whose values are credentials. */
export const isSecretParam = (name: string): boolean => {
  const lower = name.toLowerCase()
  if (secretSuffix.test(lower)) return true
  for (const word of lower.split(/[-_.\s]+/)) {
    if (secretWords.has(word)) return true
  }
  return false
}

// Header names that are credentials whatever their words say.
const secretHeaders: ReadonlySet<string> = new Set([
  "authorization",
  "proxy-authorization",
  "cookie",
  "set-cookie",
  "x-api-key"
])

/** True for header names whose values are credentials (`Authorization`, `Cookie`, `X-Auth-Token`, `X-Goog-Signature`...). */
export const isSecretHeader = (name: string): boolean => {
  const lower = name.toLowerCase()
  return secretHeaders.has(lower) || isSecretParam(lower)
}

// ASCII control characters (CR, LF, NUL...) never reach a message as such:
// a message is one line, and a log line cannot be forged through it.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const controlCharacters = /[\x00-\x1f\x7f]/g

/** Replaces control characters with their percent-escapes (`\r` → `%0D`). */
export const escapeControls = (text: string): string =>
  text.replace(controlCharacters, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, "0")}`)

const redactParams = (text: string): string | undefined => {
  const params = new URLSearchParams(text)
  let changed = false
  for (const name of Array.from(params.keys())) {
    if (isSecretParam(name)) {
      params.set(name, REDACTED)
      changed = true
    }
  }
  return changed ? params.toString().replaceAll("%2A", "*") : undefined
}

/**
 * Whether `input` is already its own redacted form, decided without `new
 * URL()`: a plain URL (the parser would return it unchanged, with no user
 * info and no fragment, see plainUrl.ts) whose query names no secret. Names
 * with `%` or `+` are left to URLSearchParams, which decodes them. `gather
 * fetch` redacts every input for its record; the parse and the
 * URLSearchParams round trip were about 3 µs of its 30 per request
 * (bench S4 profile).
 */
const isPlainAndClean = (input: string): boolean => {
  const plain = splitPlainUrl(input)
  if (plain === undefined || plain.href !== input) return false
  const query = input.indexOf("?")
  if (query === -1) return true
  let start = query + 1
  while (start <= input.length) {
    let end = input.indexOf("&", start)
    if (end === -1) end = input.length
    const equals = input.indexOf("=", start)
    const name = input.slice(start, equals === -1 || equals > end ? end : equals)
    if (name.includes("%") || name.includes("+") || isSecretParam(name)) return false
    start = end + 1
  }
  return true
}

/** Redacts user info and credential-like query and fragment parameters of a URL. */
export const redactUrl = (input: string | URL): string => {
  if (typeof input === "string" && isPlainAndClean(input)) return input
  let url: URL
  try {
    url = typeof input === "string" ? new URL(input) : new URL(input.href)
  } catch {
    return redactUnparsable(String(input))
  }
  if (url.username !== "" || url.password !== "") {
    url.username = url.username === "" ? "" : REDACTED
    url.password = url.password === "" ? "" : REDACTED
  }
  if (url.search !== "") {
    const search = redactParams(url.search)
    if (search !== undefined) url.search = search
  }
  // OAuth's implicit flow returns `#access_token=...`.
  if (url.hash.includes("=")) {
    const hash = redactParams(url.hash.slice(1))
    if (hash !== undefined) url.hash = hash
  }
  return escapeControls(url.href)
}

// A string that does not parse as a URL can still hold `user:pass@` and
// secret query parameters. Its user info may hold any character (`#`, `/`,
// `?` too: that is often why it does not parse), so everything after the
// scheme up to the last `@` is hidden (found by fuzzing: `http://#:pw@h/`).
const redactUnparsable = (input: string): string =>
  escapeControls(
    input
      .slice(0, 4096)
      .replace(/^([a-z][a-z0-9+.-]*:(?:\/\/)?)?.*@/is, (_whole, scheme: string | undefined) => `${scheme ?? ""}${REDACTED}@`)
      .replace(/([?&;#])([^=&;#]*)=([^&;#]*)/g, (whole, separator: string, name: string) => isSecretParam(name) ? `${separator}${name}=${REDACTED}` : whole)
  ).slice(0, 2048)

/** A copy of the headers with credential values replaced. */
export const redactHeaders = (
  headers: Readonly<Record<string, string>>
): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const name of Object.keys(headers)) {
    out[name] = isSecretHeader(name) ? REDACTED : headers[name]!
  }
  return out
}
