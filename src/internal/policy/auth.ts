/**
 * Session credentials (bearer token or basic user and password). The secret
 * stays a `Redacted` inside the session and becomes a header value only on
 * the request that carries it, so it never appears in the session's config,
 * an error, a log line or a report. It is sent only to the origins it is
 * meant for, and a redirect to any other origin drops it (see `nextHop`).
 */
import * as Redacted from "effect/Redacted"
import type { Auth, ResolvedAuth } from "../../Session.js"

export type { ResolvedAuth } from "../../Session.js"

const reveal = (secret: string | Redacted.Redacted<string>): string => Redacted.isRedacted(secret) ? Redacted.value(secret) : secret

const originOf = (input: string): string => {
  const url = new URL(input)
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new TypeError(`auth.origins must be http(s) URLs, got ${url.protocol}`)
  }
  return url.origin
}

/**
 * Normalizes the `auth` option. The header goes to the listed `origins`; by
 * default to the origin of `baseUrl` when there is one, else to every origin.
 * Throws on an unusable value (a bug in the program, reported once).
 */
export const resolveAuth = (input: Auth | undefined, baseUrl: string | undefined): ResolvedAuth | undefined => {
  if (input === undefined) return undefined
  const origins = input.origins !== undefined
    ? new Set(input.origins.map(originOf))
    : baseUrl !== undefined
    ? new Set([originOf(baseUrl)])
    : undefined
  if ("bearer" in input) {
    const token = reveal(input.bearer)
    if (token === "" || /[\r\n]/.test(token)) throw new TypeError("auth.bearer must be a non-empty single-line token")
    return { scheme: "Bearer", authorization: Redacted.make(`Bearer ${token}`), origins }
  }
  const password = reveal(input.password)
  if (input.username.includes(":")) throw new TypeError("auth.username must not contain ':'")
  const encoded = Buffer.from(`${input.username}:${password}`, "utf8").toString("base64")
  return { scheme: "Basic", authorization: Redacted.make(`Basic ${encoded}`), origins }
}

/** The `Authorization` value for a request to `url`, or `undefined` when it does not belong there. */
export const authorizationFor = (auth: ResolvedAuth, url: URL): string | undefined =>
  auth.origins === undefined || auth.origins.has(url.origin) ? Redacted.value(auth.authorization) : undefined
