import * as Duration from "effect/Duration"
import type { Dispatcher } from "undici"
import type { Auth } from "../Session.js"
import type { ResolvedAuth } from "./auth.js"
import { resolveAuth } from "./auth.js"
import type { HostLimitsConfig, RateInput } from "./hosts.js"
import { parseRate } from "./hosts.js"
import type { RetryInput, RetryPolicy } from "./retry.js"
import { defaultPolicy, resolvePolicy } from "./retry.js"
import { version } from "./version.js"

/** A duration, or `false`/`0` to switch a limit off. */
export type LimitInput = Duration.DurationInput | false

export interface TimeoutRecord {
  readonly attempt?: LimitInput | undefined
  readonly connect?: LimitInput | undefined
  readonly headers?: LimitInput | undefined
  readonly bodyIdle?: LimitInput | undefined
  readonly total?: LimitInput | undefined
}

export interface SessionOptions {
  readonly baseUrl?: string | URL | undefined
  readonly headers?: Readonly<Record<string, string>> | undefined
  readonly userAgent?: string | false | undefined
  readonly maxConnectionsPerHost?: number | undefined
  readonly timeout?: LimitInput | TimeoutRecord | undefined
  readonly maxBodyBytes?: number | false | undefined
  readonly maxRedirects?: number | undefined
  readonly allowInsecureRedirects?: boolean | undefined
  readonly tracerPropagation?: boolean | undefined
  readonly retry?: RetryInput | undefined
  readonly maxInFlight?: number | undefined
  readonly maxInFlightPerHost?: number | undefined
  readonly ratePerHost?: RateInput | undefined
  readonly metrics?: boolean | undefined
  readonly auth?: Auth | undefined
  readonly cookies?: boolean | undefined
  readonly dispatcher?: Dispatcher | undefined
}

export interface CallOptions {
  readonly headers?: Readonly<Record<string, string>> | undefined
  readonly timeout?: LimitInput | TimeoutRecord | undefined
  readonly maxBodyBytes?: number | false | undefined
  readonly maxRedirects?: number | undefined
  readonly allowInsecureRedirects?: boolean | undefined
  readonly acceptStatus?: ((status: number) => boolean) | undefined
  readonly retry?: RetryInput | undefined
}

/** Time limits in milliseconds; 0 means off. */
export interface Timeouts {
  readonly attemptMs: number
  readonly connectMs: number
  readonly headersMs: number
  readonly bodyIdleMs: number
  readonly totalMs: number
}

/** Everything one request needs to know, resolved once. */
export interface Limits {
  readonly timeouts: Timeouts
  readonly maxBodyBytes: number
  readonly maxRedirects: number
  readonly allowInsecureRedirects: boolean
  readonly acceptStatus: (status: number) => boolean
  readonly retry: RetryPolicy
}

export interface ResolvedSession extends Limits {
  readonly baseUrl: string | undefined
  readonly headers: Readonly<Record<string, string>>
  readonly userAgent: string | undefined
  readonly maxConnectionsPerHost: number
  readonly tracerPropagation: boolean
  readonly metrics: boolean
  readonly hostLimits: HostLimitsConfig
  /** The session's credentials, the secret kept `Redacted`. */
  readonly auth: ResolvedAuth | undefined
  /** Whether the session keeps a cookie jar. */
  readonly cookies: boolean
}

export const defaultUserAgent = `effect-gather/${version}`

export const isOk = (status: number): boolean => status >= 200 && status < 300

export const defaults = {
  maxConnectionsPerHost: 128,
  timeouts: {
    attemptMs: 60_000,
    connectMs: 10_000,
    headersMs: 30_000,
    bodyIdleMs: 30_000,
    totalMs: 180_000
  },
  maxBodyBytes: 32 * 1024 * 1024,
  maxRedirects: 10,
  tracerPropagation: false
} as const

const toMillis = (input: LimitInput | undefined, fallback: number): number => {
  if (input === undefined) return fallback
  if (input === false) return 0
  const ms = Duration.toMillis(Duration.decode(input))
  if (!Number.isFinite(ms)) return 0
  return Math.max(0, Math.round(ms))
}

const isTimeoutRecord = (u: LimitInput | TimeoutRecord | undefined): u is TimeoutRecord =>
  typeof u === "object" && u !== null && !Array.isArray(u) && !Duration.isDuration(u)

export const resolveTimeouts = (input: LimitInput | TimeoutRecord | undefined, base: Timeouts): Timeouts => {
  if (input === undefined) return base
  if (!isTimeoutRecord(input)) {
    return { ...base, attemptMs: toMillis(input, base.attemptMs) }
  }
  return {
    attemptMs: toMillis(input.attempt, base.attemptMs),
    connectMs: toMillis(input.connect, base.connectMs),
    headersMs: toMillis(input.headers, base.headersMs),
    bodyIdleMs: toMillis(input.bodyIdle, base.bodyIdleMs),
    totalMs: toMillis(input.total, base.totalMs)
  }
}

const positiveInt = (name: string, n: number | undefined, fallback: number): number => {
  if (n === undefined) return fallback
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`${name} must be a whole number >= 0, got ${n}`)
  return n
}

const optionalLimit = (name: string, n: number | undefined): number | undefined => {
  if (n === undefined) return undefined
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`${name} must be a whole number >= 1, got ${n}`)
  return n
}

const byteLimit = (n: number | false | undefined, fallback: number): number =>
  n === false ? Number.POSITIVE_INFINITY : positiveInt("maxBodyBytes", n, fallback)

export const lowerCaseHeaders = (headers: Readonly<Record<string, string>> | undefined): Record<string, string> => {
  const out: Record<string, string> = {}
  if (headers === undefined) return out
  for (const name of Object.keys(headers)) out[name.toLowerCase()] = headers[name]!
  return out
}

const normalizeBaseUrl = (input: string | URL | undefined): string | undefined => {
  if (input === undefined) return undefined
  const href = typeof input === "string" ? input : input.href
  // Validated here so a bad session option is reported once, at construction.
  const url = new URL(href)
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new TypeError(`baseUrl must be an http(s) URL, got ${url.protocol}`)
  }
  return href.endsWith("/") ? href.slice(0, -1) : href
}

/** Normalizes session options once; throws on options that can never work. */
export const resolveSession = (options: SessionOptions = {}): ResolvedSession => {
  const userAgent = options.userAgent === false ? undefined : (options.userAgent ?? defaultUserAgent)
  const headers = lowerCaseHeaders(options.headers)
  if (userAgent !== undefined && headers["user-agent"] === undefined) headers["user-agent"] = userAgent
  const maxConnectionsPerHost = positiveInt("maxConnectionsPerHost", options.maxConnectionsPerHost, defaults.maxConnectionsPerHost)
  if (maxConnectionsPerHost === 0) throw new RangeError("maxConnectionsPerHost must be at least 1")
  const baseUrl = normalizeBaseUrl(options.baseUrl)
  return {
    baseUrl,
    headers,
    userAgent,
    maxConnectionsPerHost,
    timeouts: resolveTimeouts(options.timeout, defaults.timeouts),
    maxBodyBytes: byteLimit(options.maxBodyBytes, defaults.maxBodyBytes),
    maxRedirects: positiveInt("maxRedirects", options.maxRedirects, defaults.maxRedirects),
    allowInsecureRedirects: options.allowInsecureRedirects ?? false,
    acceptStatus: isOk,
    retry: resolvePolicy(options.retry, defaultPolicy),
    tracerPropagation: options.tracerPropagation ?? defaults.tracerPropagation,
    metrics: options.metrics ?? false,
    hostLimits: {
      maxInFlight: optionalLimit("maxInFlight", options.maxInFlight),
      maxInFlightPerHost: optionalLimit("maxInFlightPerHost", options.maxInFlightPerHost),
      ratePerHost: options.ratePerHost === undefined ? undefined : parseRate(options.ratePerHost)
    },
    auth: resolveAuth(options.auth, baseUrl),
    cookies: options.cookies ?? false
  }
}

/** The limits of one call: the session's, overridden by the call's options. */
export const resolveCall = (session: ResolvedSession, options: CallOptions | undefined): Limits => {
  if (options === undefined) return session
  return {
    timeouts: resolveTimeouts(options.timeout, session.timeouts),
    maxBodyBytes: byteLimit(options.maxBodyBytes, session.maxBodyBytes),
    maxRedirects: positiveInt("maxRedirects", options.maxRedirects, session.maxRedirects),
    allowInsecureRedirects: options.allowInsecureRedirects ?? session.allowInsecureRedirects,
    acceptStatus: options.acceptStatus ?? session.acceptStatus,
    retry: resolvePolicy(options.retry, session.retry)
  }
}
