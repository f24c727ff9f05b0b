/**
 * Secrets never leave the library in clear text: every URL and header that
 * reaches an error, a log line or a report passes through here first.
 */

const REDACTED = "***"

// Query parameters that carry credentials often enough that showing them is
// never worth the risk; matched case-insensitively on the whole name.
const secretParam = /^(access_token|refresh_token|id_token|token|api[-_]?key|apikey|key|secret|client_secret|password|passwd|pwd|auth|signature|sig|x-amz-signature|x-amz-credential|x-amz-security-token)$/i

const secretHeaders: ReadonlySet<string> = new Set([
  "authorization",
  "proxy-authorization",
  "cookie",
  "set-cookie",
  "x-api-key"
])

/** Redacts user info and credential-like query parameters of a URL. */
export const redactUrl = (input: string | URL): string => {
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
    let changed = false
    for (const name of Array.from(url.searchParams.keys())) {
      if (secretParam.test(name)) {
        url.searchParams.set(name, REDACTED)
        changed = true
      }
    }
    if (changed) url.search = url.searchParams.toString().replaceAll("%2A", "*")
  }
  return url.href
}

// A string that does not parse as a URL can still hold `user:pass@` and
// secret query parameters.
const redactUnparsable = (input: string): string =>
  input
    .replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/?#@\s]*@/i, `$1${REDACTED}@`)
    .replace(/([?&;])([^=&;#]*)=([^&;#]*)/g, (whole, separator: string, name: string) =>
      secretParam.test(name) ? `${separator}${name}=${REDACTED}` : whole)
    .slice(0, 2048)

/** True for header names whose values are credentials. */
export const isSecretHeader = (name: string): boolean => secretHeaders.has(name.toLowerCase())

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
