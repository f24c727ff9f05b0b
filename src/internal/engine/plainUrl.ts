/**
 * Splits a plain URL into origin and path without `new URL()`.
 *
 * `new URL()` costs an object with its own internal state per request
 * (about 0.3 KB and a few percent of the fast path's CPU, measured with
 * allocation sampling in bench/). Most gathered URLs are plain: lower-case
 * `http(s)://host[:port]/path?query` in printable ASCII. For exactly those,
 * the WHATWG parser would return the input unchanged, so splitting the
 * string gives the same origin, path and href. Anything it is not sure of
 * (userinfo, IPv4 shorthands, default ports, dot segments, characters the
 * parser would encode, a fragment) returns `undefined`, and the caller
 * parses with `new URL()` as before. A property test holds it to that.
 */

export interface PlainUrl {
  readonly href: string
  readonly origin: string
  /** Path and query, as the request line carries them. */
  readonly path: string
}

// A host of lower-case letters, digits and hyphens in non-empty labels.
const hostPattern = /^[a-z0-9-]+(?:\.[a-z0-9-]+)*$/
// What WHATWG treats as an IPv4 number in the last label (then it normalizes).
const numericLabel = /^(?:0x[0-9a-f]*|[0-9]+)$/
const canonicalIpv4 = /^(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$/
const portPattern = /^[1-9][0-9]{0,4}$/
// Path and query characters the parser keeps as they are (no `'`, which it
// encodes in a special scheme's query; no `\`, `#`, spaces or controls).
const pathPattern = /^[A-Za-z0-9\-._~!$&()*+,;=:@/?%]*$/
const badPercent = /%(?![0-9A-Fa-f]{2})/
const dotSegment = /(?:^|\/)(?:\.|%2e){1,2}(?:\/|\?|$)/i

const isPlainHost = (host: string): boolean => {
  if (!hostPattern.test(host)) return false
  const last = host.slice(host.lastIndexOf(".") + 1)
  if (numericLabel.test(last)) return canonicalIpv4.test(host)
  // Punycode labels are checked (and may be rewritten) by the parser.
  return !host.startsWith("xn--") && !host.includes(".xn--")
}

export const splitPlainUrl = (input: string): PlainUrl | undefined => {
  let schemeEnd: number
  let defaultPort: string
  if (input.startsWith("http://")) {
    schemeEnd = 7
    defaultPort = "80"
  } else if (input.startsWith("https://")) {
    schemeEnd = 8
    defaultPort = "443"
  } else {
    return undefined
  }
  let authorityEnd = schemeEnd
  while (authorityEnd < input.length) {
    const c = input.charCodeAt(authorityEnd)
    if (c === 47 /* / */ || c === 63 /* ? */) break
    authorityEnd++
  }
  const authority = input.slice(schemeEnd, authorityEnd)
  const colon = authority.indexOf(":")
  const host = colon === -1 ? authority : authority.slice(0, colon)
  if (!isPlainHost(host)) return undefined
  if (colon !== -1) {
    const port = authority.slice(colon + 1)
    if (!portPattern.test(port) || Number(port) > 65535 || port === defaultPort) return undefined
  }
  const rest = input.slice(authorityEnd)
  if (!pathPattern.test(rest) || badPercent.test(rest)) return undefined
  const query = rest.indexOf("?")
  // An empty query: the parser keeps the "?" in href but not in search.
  if (query !== -1 && query === rest.length - 1) return undefined
  if (dotSegment.test(query === -1 ? rest : rest.slice(0, query))) return undefined
  const origin = input.slice(0, authorityEnd)
  if (rest === "" || rest.charCodeAt(0) === 63) {
    const path = "/" + rest
    return { href: origin + path, origin, path }
  }
  return { href: input, origin, path: rest }
}
