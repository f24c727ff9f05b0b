/**
 * The redirect rule, as a pure state machine: which answers are redirects,
 * and given the chain followed so far, the request that was redirected, its
 * status and its `Location`, the next hop or why there is none. Too many
 * hops (`maxRedirects`), a Location that is no http(s) URL, and an https to
 * http hop (unless `allowInsecureRedirects`) are refused. A hop to another
 * origin drops the headers `strip` names (the credentials); a 303, and a
 * 301/302 after a POST, become a GET without a body (RFC 9110 15.4). The
 * fetch runs it (`Fetching.redirect`); the URLs it refuses are redacted
 * there, when they become an error.
 */

/** The status codes that redirect, when the answer has a `Location`. */
const redirectStatuses: ReadonlySet<number> = new Set([301, 302, 303, 307, 308])

/** True for an answer that redirects: a redirect status with a `Location`. */
export const isRedirect = (status: number, headers: Record<string, string>): boolean => redirectStatuses.has(status) && headers["location"] !== undefined

/** The request a redirect answered, as far as the rule reads it. */
export interface Redirected<Body> {
  readonly method: string
  readonly href: string
  readonly url: URL
  readonly origin: string
  readonly headers: Readonly<Record<string, string>>
  readonly body: Body
}

/** The limits the rule reads (the fetch's resolved limits are one). */
export interface RedirectLimits {
  readonly maxRedirects: number
  readonly allowInsecureRedirects: boolean
}

/** The next request: its URL resolved against the last one, its fragment dropped. */
export interface Hop<Body> {
  readonly _tag: "Hop"
  readonly method: string
  readonly url: URL
  readonly headers: Record<string, string>
  readonly body: Body | null
}

/** Why a redirect is not followed; the URLs as they are (the error redacts them). */
export type Refusal =
  | {
    readonly _tag: "TooManyRedirects"
    readonly limit: number
    /** Every URL that redirected, the refused one last. */
    readonly chain: ReadonlyArray<string>
  }
  | {
    readonly _tag: "RedirectRejected"
    readonly reason: "InvalidLocation" | "Downgrade"
    /** The resolved URL, or the `Location` as given when it does not parse. */
    readonly location: string | URL
  }

/** A redirect followed: the chain with the redirected request's URL added, and the hop. */
export interface Followed<Body> {
  readonly _tag: "Follow"
  readonly chain: ReadonlyArray<string>
  readonly hop: Hop<Body>
}

/** A redirect as it was answered (the engine's `Redirect` is one). */
export interface Answer {
  readonly status: number
  readonly location: string
}

/**
 * One step of the machine: `from` was answered with the redirect `answer`
 * after `chain` (the URLs that redirected before it, `undefined` for none);
 * within `limits`, a hop to another origin dropping the headers `strip`
 * names.
 */
export const follow = <Body>(
  chain: ReadonlyArray<string> | undefined,
  from: Redirected<Body>,
  answer: Answer,
  limits: RedirectLimits,
  strip: (name: string) => boolean
): Followed<Body> | Refusal => {
  const next = chain === undefined ? [from.href] : [...chain, from.href]
  if (next.length > limits.maxRedirects) return { _tag: "TooManyRedirects", limit: limits.maxRedirects, chain: next }
  const hop = nextHop(from, answer.status, answer.location, limits.allowInsecureRedirects, strip)
  return hop._tag === "Hop" ? { _tag: "Follow", chain: next, hop } : hop
}

/** The hop a redirect of `from` leads to, or why it is refused; the chain is `follow`'s. */
export const nextHop = <Body>(
  from: Redirected<Body>,
  status: number,
  location: string,
  allowInsecure: boolean,
  strip: (name: string) => boolean
): Hop<Body> | Refusal => {
  let url: URL
  try {
    url = new URL(location, from.url)
  } catch {
    return { _tag: "RedirectRejected", reason: "InvalidLocation", location }
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return { _tag: "RedirectRejected", reason: "InvalidLocation", location: url }
  if (from.url.protocol === "https:" && url.protocol === "http:" && !allowInsecure) {
    return { _tag: "RedirectRejected", reason: "Downgrade", location: url }
  }
  const headers = { ...from.headers }
  if (url.origin !== from.origin) {
    for (const name of Object.keys(headers)) {
      if (strip(name)) delete headers[name]
    }
  }
  const toGet = status === 303 ? from.method !== "HEAD" : (status === 301 || status === 302) && from.method === "POST"
  let method = from.method
  let body: Body | null = from.body
  if (toGet) {
    method = "GET"
    body = null
    // Every header that describes the body goes with it, as undici does.
    for (const name of Object.keys(headers)) {
      if (name.startsWith("content-")) delete headers[name]
    }
  }
  url.hash = ""
  return { _tag: "Hop", method, url, headers, body }
}
