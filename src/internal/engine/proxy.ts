/**
 * Proxies: the `proxy` option resolved once (a URL, or the `HTTP_PROXY` /
 * `HTTPS_PROXY` / `NO_PROXY` variables), and the connector wrapper that
 * names the proxy when the connection to it fails.
 *
 * The dispatcher itself is undici's (`ProxyAgent`, `EnvHttpProxyAgent`), in
 * session.ts. Every request goes through a `CONNECT` tunnel (undici's
 * default, for http: targets too), so the session's pool, its per-origin
 * connection cap and connection counting work per target origin exactly as
 * without a proxy.
 */
import * as Redacted from "effect/Redacted"
import type { buildConnector } from "undici"
import type * as Session from "../../Session.js"
import { redactUrl } from "./redact.js"
import { isTlsLayerCode } from "./tlsCodes.js"

/** One proxy: the URL as given (credentials kept secret) and as shown (credentials redacted). */
export interface ProxyEndpoint {
  readonly url: Redacted.Redacted<string>
  readonly shown: string
}

/** The proxies of a session, resolved once. */
export interface ResolvedProxy {
  /** For `http:` targets. */
  readonly http: ProxyEndpoint | undefined
  /** For `https:` targets; falls back to `http` (undici's rule). */
  readonly https: ProxyEndpoint | undefined
  /** Hosts reached directly, in `NO_PROXY`'s form; `""` for none. */
  readonly noProxy: string
}

/** The environment the `"env"` setting reads (names as written). */
export type ProxyEnv = Readonly<Record<string, string | undefined>>

/** The variables `"env"` reads, lower case first as curl and undici do. */
export const envNames = ["http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "no_proxy", "NO_PROXY"] as const

/**
 * A proxy URL checked once. A value without a scheme (`proxy:3128`, as curl
 * accepts) is taken as `http://`. `name` is the option or variable, for the
 * error; the error shows the value with credentials redacted.
 */
export const endpoint = (name: string, input: string | URL | Redacted.Redacted<string>): ProxyEndpoint => {
  const raw = Redacted.isRedacted(input) ? Redacted.value(input) : typeof input === "string" ? input : input.href
  const text = raw.trim()
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `http://${text}`
  let url: URL
  try {
    url = new URL(withScheme)
  } catch {
    throw new TypeError(`${name} must be an http(s) proxy URL, got ${JSON.stringify(redactUrl(text))}`)
  }
  if ((url.protocol !== "http:" && url.protocol !== "https:") || url.hostname === "") {
    throw new TypeError(`${name} must be an http(s) proxy URL, got ${JSON.stringify(redactUrl(text))}`)
  }
  const shown = redactUrl(url)
  return { url: Redacted.make(url.href), shown: url.pathname === "/" && url.search === "" ? shown.replace(/\/$/, "") : shown }
}

const fromEnv = (env: ProxyEnv): ResolvedProxy | undefined => {
  const pick = (lower: string, upper: string): [string, string] | undefined => {
    const value = env[lower] ?? env[upper]
    if (value === undefined || value.trim() === "") return undefined
    return [env[lower] !== undefined ? lower : upper, value]
  }
  const http = pick("http_proxy", "HTTP_PROXY")
  const https = pick("https_proxy", "HTTPS_PROXY")
  if (http === undefined && https === undefined) return undefined
  return {
    http: http === undefined ? undefined : endpoint(http[0], http[1]),
    https: https === undefined ? undefined : endpoint(https[0], https[1]),
    noProxy: (env["no_proxy"] ?? env["NO_PROXY"] ?? "").trim()
  }
}

/**
 * The `proxy` option resolved: `undefined` when requests go direct (no
 * option, `false`, or `"env"` with no proxy variable set).
 */
export const resolveProxy = (input: Session.Proxy | undefined, env: ProxyEnv): ResolvedProxy | undefined => {
  if (input === undefined || input === false) return undefined
  if (input === "env") return fromEnv(env)
  const one = endpoint("proxy", input)
  return { http: one, https: one, noProxy: "" }
}

/** The proxy a target origin goes through (before `NO_PROXY`). */
export const proxyFor = (proxy: ResolvedProxy, origin: string): ProxyEndpoint | undefined =>
  origin.startsWith("https:") ? (proxy.https ?? proxy.http) : proxy.http

/**
 * A connection to the proxy (or the tunnel through it) failed. undici hands
 * it to every request waiting for the connection; `fromUndici` turns it into
 * a `ConnectionError` with reason `"Proxy"` that names the proxy.
 */
export class ProxyFailure extends Error {
  constructor(
    readonly proxy: string,
    /** The proxy's answer to `CONNECT`, when it answered with something other than 200. */
    readonly status: number | undefined,
    /** The system or undici code of the failure, if any. */
    readonly code: string | undefined
  ) {
    super(status === undefined ? `proxy ${proxy} failed (${code ?? "unknown"})` : `proxy ${proxy} answered ${status} to CONNECT`)
    this.name = "ProxyFailure"
  }
}

const codeOf = (error: unknown): string | undefined => {
  const code = (error as { code?: unknown } | null)?.code
  return typeof code === "string" ? code : undefined
}

/** Failures that are the target's, not the proxy's, even through a tunnel: its TLS, and time limits. */
const isTargetsOwn = (code: string | undefined): boolean =>
  code !== undefined && (
    isTlsLayerCode(code) || code.includes("CERT") || code === "EPROTO" ||
    code === "UND_ERR_CONNECT_TIMEOUT" || code === "ETIMEDOUT"
  )

/**
 * undici's ProxyAgent reports a `CONNECT` answer other than 200 only in its
 * message ("Proxy response (407) !== 200 when HTTP Tunneling").
 */
const tunnelStatus = /^Proxy response \((\d{3})\)/

/**
 * Wraps the tunnel connector of a proxied pool: a failure to reach the proxy
 * or a refused `CONNECT` becomes a {@link ProxyFailure} naming `proxy`.
 */
export const namingProxy = (connect: buildConnector.connector, proxy: ProxyEndpoint): buildConnector.connector => (options, callback) =>
  connect(options, (...args) => {
    const error: unknown = args[0]
    if (error === null || error === undefined) return callback(...args)
    const code = codeOf(error)
    if (isTargetsOwn(code) || !(error instanceof Error)) return callback(...args)
    const status = tunnelStatus.exec(error.message)?.[1]
    callback(new ProxyFailure(proxy.shown, status === undefined ? undefined : Number(status), status === undefined ? code : undefined), null)
  })
