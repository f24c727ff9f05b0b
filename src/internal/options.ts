import * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import * as Redacted from "effect/Redacted"
import * as crypto from "node:crypto"
import type * as Fetch from "../Fetch.js"
import type * as Session from "../Session.js"
import type { RetryAfterScope } from "../Session.js"
import type { Pem, TlsOptions } from "../Session.js"
import type { ResolvedCache } from "./cache/stage.js"
import type { AttemptLimits, Timeouts } from "./engine/limits.js"
import type { ProxyEnv, ResolvedProxy } from "./engine/proxy.js"
import { resolveProxy } from "./engine/proxy.js"
import { isSecretHeader } from "./engine/redact.js"
import * as Adaptive from "./policy/adaptive.js"
import { resolveAuth } from "./policy/auth.js"
import type { HostLimitsConfig } from "./policy/hosts.js"
import type { ParsedRate } from "./policy/rate.js"
import { parseRate } from "./policy/rate.js"
import type { RetryPolicy } from "./policy/retry.js"
import { defaultPolicy, resolvePolicy } from "./policy/retry.js"
import { version } from "./version.js"

// The option types are the public modules' own (declared once, there).
/** A duration, or `false`/`0` to switch a limit off. */
export type LimitInput = Session.Limit
export type TimeoutRecord = Session.Timeouts
export type SessionOptions = Session.Options
export type CallOptions = Fetch.Options

/** Everything one request needs to know, resolved once. */
export interface Limits extends AttemptLimits {
  readonly maxRedirects: number
  readonly allowInsecureRedirects: boolean
  readonly acceptStatus: (status: number) => boolean
  readonly retry: RetryPolicy
}

/**
 * The session's options resolved: the public view (`Session.ResolvedOptions`,
 * what `session.config` shows) with what only the engine reads: the redirect
 * and status predicates, the retry schedule, the gate's config, the secrets
 * kept redacted (TLS key, proxy URLs). Fields the public view also declares
 * are narrowed here to the internal types, which are assignable to it.
 */
export interface ResolvedSession extends Limits, Session.ResolvedOptions {
  readonly timeouts: Timeouts
  readonly retry: RetryPolicy
  /** Whether a header (lower-case name) is dropped when a redirect leaves the origin. */
  readonly stripOnCrossOrigin: (name: string) => boolean
  /** The gate's config, and the old names of its per-origin fields that `session.config` still shows. */
  readonly hostLimits: HostLimitsConfig & Session.ResolvedHostLimits
  readonly tls: ResolvedTls | undefined
  /** The proxies requests go through, their URLs kept `Redacted`; `undefined`: direct. */
  readonly proxy: ResolvedProxy | undefined
  readonly cache: ResolvedCache | undefined
}

/** TLS options checked once; secrets stay redacted until the connector gets them. */
export interface ResolvedTls extends Session.ResolvedTls {
  readonly key: Redacted.Redacted<Pem> | undefined
  readonly passphrase: Redacted.Redacted<string> | undefined
}

export const defaultUserAgent = `effect-gather/${version}`

export const isOk = (status: number): boolean => status >= 200 && status < 300

export const defaults = {
  maxConnectionsPerOrigin: 128,
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

const retryAfterScope = (input: RetryAfterScope | undefined): RetryAfterScope => {
  if (input === undefined) return "request"
  if (input !== "request" && input !== "origin") {
    throw new RangeError(`retryAfter must be "request" or "origin", got ${JSON.stringify(input)}`)
  }
  return input
}

const byteLimit = (n: number | false | undefined, fallback: number): number => n === false ? Number.POSITIVE_INFINITY : positiveInt("maxBodyBytes", n, fallback)

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

/**
 * Credentials that never follow a redirect to another origin, whatever
 * `stripOnCrossOrigin` says: a list or a test only adds to them. The
 * session's own `auth` travels as `authorization`.
 */
const alwaysStripped: ReadonlySet<string> = new Set(["authorization", "proxy-authorization", "cookie"])

const stripTest = (input: ReadonlyArray<string> | ((name: string) => boolean) | undefined): (name: string) => boolean => {
  if (input === undefined) return isSecretHeader
  if (typeof input === "function") return (name) => alwaysStripped.has(name) || input(name)
  const names = new Set(input.map((name) => name.toLowerCase()))
  return (name) => alwaysStripped.has(name) || names.has(name)
}

const pemText = (pem: Pem): string => typeof pem === "string" ? pem : Buffer.from(pem).toString("utf8")

/**
 * Checks the TLS options at construction, so a CA file that is not a
 * certificate or a key with the wrong passphrase is reported once, here,
 * rather than as a handshake failure on every request.
 */
export const resolveTls = (input: TlsOptions | undefined): ResolvedTls | undefined => {
  if (input === undefined) return undefined
  const ca = input.ca === undefined ? undefined : (Array.isArray(input.ca) ? input.ca : [input.ca as Pem])
  for (const pem of ca ?? []) {
    try {
      new crypto.X509Certificate(pemText(pem))
    } catch {
      throw new TypeError("tls.ca must be PEM certificates")
    }
  }
  if (input.cert !== undefined) {
    try {
      new crypto.X509Certificate(pemText(input.cert))
    } catch {
      throw new TypeError("tls.cert must be a PEM certificate")
    }
  }
  const key = input.key === undefined ? undefined : Redacted.isRedacted(input.key) ? input.key : Redacted.make(input.key)
  const passphrase = input.passphrase === undefined
    ? undefined
    : Redacted.isRedacted(input.passphrase)
    ? input.passphrase
    : Redacted.make(input.passphrase)
  if ((input.cert === undefined) !== (key === undefined)) throw new TypeError("tls.cert and tls.key go together")
  if (key !== undefined) {
    try {
      const keyValue = Redacted.value(key)
      crypto.createPrivateKey({
        key: typeof keyValue === "string" ? keyValue : Buffer.from(keyValue),
        ...(passphrase === undefined ? {} : { passphrase: Redacted.value(passphrase) })
      })
    } catch {
      throw new TypeError("tls.key cannot be read (not a PEM private key, or a wrong or missing passphrase)")
    }
  }
  const rejectUnauthorized = input.rejectUnauthorized ?? true
  if (typeof rejectUnauthorized !== "boolean") throw new TypeError("tls.rejectUnauthorized must be true or false")
  const minVersion = input.minVersion ?? "TLSv1.2"
  if (minVersion !== "TLSv1.2" && minVersion !== "TLSv1.3") {
    throw new TypeError(`tls.minVersion must be "TLSv1.2" or "TLSv1.3", got ${String(minVersion)}`)
  }
  return { ca, cert: input.cert, key, passphrase, servername: input.servername, rejectUnauthorized, minVersion }
}

/**
 * A rate is text (often read from a file or a flag), so what the parser
 * refuses is thrown as its `ConfigError`, which `Session.make` fails with
 * (not a defect, unlike the options below that only a program gets wrong).
 */
const rateOf = (input: Session.Rate, name: string): ParsedRate => {
  const parsed = parseRate(input, name)
  if (Either.isLeft(parsed)) throw parsed.left
  return parsed.right
}

/** One name of an option: what the user gave under it, and that value checked. */
interface Named<A> {
  readonly name: string
  readonly given: unknown
  readonly value: A | undefined
}

const shown = (given: unknown): string =>
  typeof given === "object" && given !== null && "limit" in given && "interval" in given
    ? `{ limit: ${String(given.limit)}, interval: ${String(given.interval)} }`
    : JSON.stringify(given)

/**
 * An option with two names, the documented one and its old (deprecated)
 * one: either may be given, or both alike. Both with different values is a
 * `ConfigError` naming the two and what each was given, not a defect: such
 * values come from a user's flags or files as often as a program's.
 */
const eitherName = <A>(current: Named<A>, old: Named<A>, same: (a: A, b: A) => boolean): A | undefined => {
  if (current.value === undefined) return old.value
  if (old.value !== undefined && !same(current.value, old.value)) {
    throw ConfigError.InvalidData(
      [current.name],
      `${current.name} (${shown(current.given)}) and ${old.name} (${shown(old.given)}) are one option ` +
        `(${old.name} is its old name) given two values: give ${current.name} alone`
    )
  }
  return current.value
}

/** `maxInFlightPerOrigin`, or its old name `maxInFlightPerHost`. */
const maxInFlightPerOrigin = (options: SessionOptions): number | undefined =>
  eitherName(
    { name: "maxInFlightPerOrigin", given: options.maxInFlightPerOrigin, value: optionalLimit("maxInFlightPerOrigin", options.maxInFlightPerOrigin) },
    { name: "maxInFlightPerHost", given: options.maxInFlightPerHost, value: optionalLimit("maxInFlightPerHost", options.maxInFlightPerHost) },
    (a, b) => a === b
  )

/**
 * A pool size per origin under `name`: a whole number, and at least 1 (the
 * two checks and their messages as they were for `maxConnectionsPerHost`).
 */
const connectionLimit = (name: string, n: number | undefined): number | undefined => {
  if (n === undefined) return undefined
  if (positiveInt(name, n, 0) === 0) throw new RangeError(`${name} must be at least 1`)
  return n
}

/** `maxConnectionsPerOrigin`, or its old name `maxConnectionsPerHost`, or the default. */
const maxConnectionsPerOrigin = (options: SessionOptions): number =>
  eitherName(
    {
      name: "maxConnectionsPerOrigin",
      given: options.maxConnectionsPerOrigin,
      value: connectionLimit("maxConnectionsPerOrigin", options.maxConnectionsPerOrigin)
    },
    { name: "maxConnectionsPerHost", given: options.maxConnectionsPerHost, value: connectionLimit("maxConnectionsPerHost", options.maxConnectionsPerHost) },
    (a, b) => a === b
  ) ?? defaults.maxConnectionsPerOrigin

/** `ratePerOrigin`, or its old name `ratePerHost`; two spellings of one rate (`"10/s"`, `"10 per second"`) agree. */
const ratePerOrigin = (options: SessionOptions): ParsedRate | undefined =>
  eitherName(
    {
      name: "ratePerOrigin",
      given: options.ratePerOrigin,
      value: options.ratePerOrigin === undefined ? undefined : rateOf(options.ratePerOrigin, "ratePerOrigin")
    },
    { name: "ratePerHost", given: options.ratePerHost, value: options.ratePerHost === undefined ? undefined : rateOf(options.ratePerHost, "ratePerHost") },
    (a, b) => a.limit === b.limit && a.intervalMs === b.intervalMs
  )

/**
 * Normalizes session options once; throws on options that can never work (a
 * `ConfigError` for a rate, or for an option given under both its names with
 * different values). `env` is what `proxy: "env"` reads (the proxy variables).
 */
export const resolveSession = (options: SessionOptions = {}, env: ProxyEnv = {}): ResolvedSession => {
  if (options.proxy !== undefined && options.proxy !== false && options.dispatcher !== undefined) {
    throw new TypeError("proxy and dispatcher cannot both be given (a dispatcher of your own sets its own proxy)")
  }
  const userAgent = options.userAgent === false ? undefined : (options.userAgent ?? defaultUserAgent)
  const headers = lowerCaseHeaders(options.headers)
  if (userAgent !== undefined && headers["user-agent"] === undefined) headers["user-agent"] = userAgent
  const connectionsPerOrigin = maxConnectionsPerOrigin(options)
  const inFlightPerOrigin = maxInFlightPerOrigin(options)
  const rate = ratePerOrigin(options)
  const baseUrl = normalizeBaseUrl(options.baseUrl)
  return {
    baseUrl,
    headers,
    userAgent,
    maxConnectionsPerOrigin: connectionsPerOrigin,
    maxConnectionsPerHost: connectionsPerOrigin,
    timeouts: resolveTimeouts(options.timeout, defaults.timeouts),
    maxBodyBytes: byteLimit(options.maxBodyBytes, defaults.maxBodyBytes),
    maxRedirects: positiveInt("maxRedirects", options.maxRedirects, defaults.maxRedirects),
    allowInsecureRedirects: options.allowInsecureRedirects ?? false,
    stripOnCrossOrigin: stripTest(options.stripOnCrossOrigin),
    acceptStatus: isOk,
    retry: resolvePolicy(options.retry, defaultPolicy),
    tracerPropagation: options.tracerPropagation ?? defaults.tracerPropagation,
    metrics: options.metrics ?? false,
    hostLimits: {
      maxInFlight: optionalLimit("maxInFlight", options.maxInFlight),
      maxInFlightPerOrigin: inFlightPerOrigin,
      ratePerOrigin: rate,
      maxInFlightPerHost: inFlightPerOrigin,
      ratePerHost: rate,
      adaptive: Adaptive.normalize(options.adaptive, inFlightPerOrigin ?? connectionsPerOrigin),
      retryAfter: retryAfterScope(options.retryAfter),
      metrics: options.metrics ?? false
    },
    tls: resolveTls(options.tls),
    allowH2: options.allowH2 ?? false,
    auth: resolveAuth(options.auth, baseUrl),
    cookies: options.cookies ?? false,
    proxy: resolveProxy(options.proxy, env),
    cache: resolveCache(options.cache)
  }
}

export const cacheDefaults = { maxBytes: 64 * 1024 * 1024 } as const

const resolveCache = (input: Session.Options["cache"]): ResolvedCache | undefined => {
  if (input === undefined || input === false) return undefined
  const record: Session.CacheOptions = input === true ? {} : input
  const store = record.store ?? "memory"
  if (store !== "memory" && (typeof store !== "object" || typeof store.sqlite !== "string" || store.sqlite === "")) {
    throw new TypeError(`cache.store must be "memory" or { sqlite: "file" }, got ${JSON.stringify(store)}`)
  }
  const revalidate = record.revalidate ?? false
  if (typeof revalidate !== "boolean") throw new TypeError("cache.revalidate must be true or false")
  return { store, maxBytes: positiveInt("cache.maxBytes", record.maxBytes, cacheDefaults.maxBytes), revalidate }
}

/** The limits of one call: the session's, overridden by the call's options. */
export const resolveCall = (session: ResolvedSession, options: CallOptions | undefined): Limits => {
  if (options === undefined) return session
  // `connect` is the pool's (one per session): a call's own is ignored, as
  // documented, and so never reaches an error's limitMs either.
  const timeouts = resolveTimeouts(options.timeout, session.timeouts)
  return {
    timeouts: timeouts.connectMs === session.timeouts.connectMs ? timeouts : { ...timeouts, connectMs: session.timeouts.connectMs },
    maxBodyBytes: byteLimit(options.maxBodyBytes, session.maxBodyBytes),
    maxRedirects: positiveInt("maxRedirects", options.maxRedirects, session.maxRedirects),
    allowInsecureRedirects: options.allowInsecureRedirects ?? session.allowInsecureRedirects,
    acceptStatus: options.acceptStatus ?? session.acceptStatus,
    retry: resolvePolicy(options.retry, session.retry)
  }
}
