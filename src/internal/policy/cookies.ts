/**
 * The session's cookie jar: `Set-Cookie` lines are parsed with
 * `@effect/platform`'s `Cookies`, kept by (domain, port, path, name), and
 * sent back only where they belong (RFC 6265 matching of domain and path,
 * `Secure` only over https, `Expires`/`Max-Age` on the session's `Clock`).
 *
 * Stricter than a browser on purpose: a cookie goes back only to the port
 * that set it (RFC 6265 ignores ports, so two services on one host would see
 * each other's cookies), a `Domain` must have a dot and cover the host that
 * set it, an IP address only ever gets its own cookies, and a `Secure`
 * cookie is accepted only from https.
 */
import * as Cookies from "@effect/platform/Cookies"
import * as Duration from "effect/Duration"

/** A stored cookie. */
interface Stored {
  readonly name: string
  /** The value as the server sent it (sent back unchanged). */
  readonly value: string
  /** Lower-case host (host-only) or domain (a `Domain` cookie). */
  readonly domain: string
  readonly hostOnly: boolean
  readonly port: string
  readonly path: string
  readonly secure: boolean
  /** Clock ms; Infinity for a session cookie. */
  readonly expiresAt: number
  readonly createdAt: number
}

/** More than this many cookies: the oldest ones go first (no jar grows without bound). */
const MAX_COOKIES = 3000

const portOf = (url: URL): string => url.port !== "" ? url.port : url.protocol === "https:" ? "443" : "80"

const isIpAddress = (host: string): boolean => host.startsWith("[") || /^\d{1,3}(\.\d{1,3}){3}$/.test(host)

const domainMatches = (host: string, domain: string): boolean =>
  host === domain || (host.endsWith(domain) && host.charCodeAt(host.length - domain.length - 1) === 46 /* "." */)

// RFC 6265 5.1.4: the request path's directory.
const defaultPath = (url: URL): string => {
  const path = url.pathname
  if (path === "" || path.charCodeAt(0) !== 47) return "/"
  const last = path.lastIndexOf("/")
  return last <= 0 ? "/" : path.slice(0, last)
}

const pathMatches = (requestPath: string, cookiePath: string): boolean =>
  requestPath === cookiePath ||
  (requestPath.startsWith(cookiePath) &&
    (cookiePath.endsWith("/") || requestPath.charCodeAt(cookiePath.length) === 47))

export class CookieJar {
  private readonly cookies = new Map<string, Stored>()

  constructor(private readonly now: () => number) {}

  /** How many cookies the jar holds (expired ones included until next use). */
  get size(): number {
    return this.cookies.size
  }

  /** Stores the cookies of a response from `url` (`set-cookie` lines joined with "\n"). */
  capture(url: URL, setCookie: string | undefined): void {
    if (setCookie === undefined) return
    const now = this.now()
    for (const line of setCookie.split("\n")) {
      const parsed = Cookies.fromSetCookie(line).cookies
      for (const name in parsed) this.store(url, parsed[name]!, now)
    }
  }

  private store(url: URL, cookie: Cookies.Cookie, now: number): void {
    const options = cookie.options ?? {}
    const host = url.hostname.toLowerCase()
    const secure = options.secure === true
    if (secure && url.protocol !== "https:") return
    let domain = host
    let hostOnly = true
    if (options.domain !== undefined) {
      const wanted = options.domain.toLowerCase()
      if (wanted !== host) {
        // Another host's cookie (or a whole top-level domain's): refused.
        if (isIpAddress(host) || !wanted.includes(".") || !domainMatches(host, wanted)) return
        domain = wanted
        hostOnly = false
      }
    }
    const path = options.path ?? defaultPath(url)
    // Cookie prefixes (RFC 6265bis 4.1.3).
    if (cookie.name.startsWith("__Secure-") && !secure) return
    if (cookie.name.startsWith("__Host-") && (!secure || !hostOnly || path !== "/")) return
    let expiresAt = Number.POSITIVE_INFINITY
    if (options.maxAge !== undefined) {
      expiresAt = now + Duration.toMillis(Duration.decode(options.maxAge))
      if (expiresAt <= now) expiresAt = Number.NEGATIVE_INFINITY
    } else if (options.expires !== undefined) {
      expiresAt = options.expires.getTime()
    }
    const port = portOf(url)
    const key = `${domain};${port};${path};${cookie.name}`
    const previous = this.cookies.get(key)
    this.cookies.delete(key)
    if (expiresAt <= now) return // an expired cookie deletes the one it names
    this.cookies.set(key, {
      name: cookie.name,
      value: cookie.valueEncoded,
      domain,
      hostOnly,
      port,
      path,
      secure,
      expiresAt,
      createdAt: previous?.createdAt ?? now
    })
    if (this.cookies.size > MAX_COOKIES) {
      const oldest = this.cookies.keys().next()
      if (oldest.done !== true) this.cookies.delete(oldest.value)
    }
  }

  /** The `Cookie` header value for a request to `url`, or `undefined` when no cookie belongs there. */
  header(url: URL): string | undefined {
    if (this.cookies.size === 0) return undefined
    const now = this.now()
    const host = url.hostname.toLowerCase()
    const port = portOf(url)
    const https = url.protocol === "https:"
    const path = url.pathname === "" ? "/" : url.pathname
    const matched: Array<Stored> = []
    for (const [key, cookie] of this.cookies) {
      if (cookie.expiresAt <= now) {
        this.cookies.delete(key)
        continue
      }
      if (cookie.port !== port) continue
      if (cookie.hostOnly ? cookie.domain !== host : !domainMatches(host, cookie.domain)) continue
      if (cookie.secure && !https) continue
      if (!pathMatches(path, cookie.path)) continue
      matched.push(cookie)
    }
    if (matched.length === 0) return undefined
    // RFC 6265 5.4: longer paths first, then the older cookie.
    matched.sort((a, b) => b.path.length - a.path.length || a.createdAt - b.createdAt)
    let out = ""
    for (const cookie of matched) out += out === "" ? `${cookie.name}=${cookie.value}` : `; ${cookie.name}=${cookie.value}`
    return out
  }
}
