import type * as HttpClient from "@effect/platform/HttpClient"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as fs from "node:fs"
import type * as Undici from "undici"
import type { Dispatcher } from "undici"
import type { Session as PublicSession } from "../Session.js"
import * as Cache from "./cache/stage.js"
import { OpenConnections, ReturningSockets, timedConnector } from "./engine/connections.js"
import type { ProxyEnv, ResolvedProxy } from "./engine/proxy.js"
import { envNames, namingProxy, proxyFor } from "./engine/proxy.js"
import { isTlsLayerCode } from "./engine/tlsCodes.js"
import { Agent, buildConnector, Client, EnvHttpProxyAgent, Pool, ProxyAgent } from "./engine/undici.js"
import { Watchdog } from "./engine/watchdog.js"
import type { ResolvedSession, ResolvedTls, SessionOptions } from "./options.js"
import { resolveSession } from "./options.js"
import type { CookieJar } from "./policy/cookies.js"
import * as Hosts from "./policy/hosts.js"

export const TypeId: unique symbol = Symbol.for("effect-gather/Session")
export type TypeId = typeof TypeId

/**
 * The session as the engine sees it: the public {@link PublicSession} plus
 * what only the engine may touch. Services are found by the tag's key, so
 * the public tag (typed with the public view) and this one (typed with the
 * whole) find the same object; the requirement type is the public one
 * everywhere.
 */
export interface SessionImpl extends PublicSession {
  /** The options as the engine reads them: the public `config` and what only the engine needs. */
  readonly config: ResolvedSession
  readonly hosts: Hosts.Hosts
  readonly watchdog: Watchdog
  /** The cookie jar, when the session keeps one. */
  readonly cookies: CookieJar | undefined
  /** Open connections per origin, on the session's own pool (not a dispatcher the user gave). */
  readonly connections: OpenConnections | undefined
  /** Sockets that come back to the pool at the next turn (see connections.ts). */
  readonly returning: ReturningSockets
  /** The HTTP cache, when the session keeps one. */
  readonly cache: Cache.SessionCache | undefined
}

export const key = "effect-gather/Session"

export const tag: Context.Tag<PublicSession, SessionImpl> = Context.GenericTag<PublicSession, SessionImpl>(key)

export const make = (options?: SessionOptions): Effect.Effect<SessionImpl, ConfigError.ConfigError, Scope.Scope> =>
  Effect.gen(function*() {
    // The proxy variables come through the ConfigProvider (the environment by default), read once.
    const env: ProxyEnv = options?.proxy === "env" ? yield* Effect.orDie(proxyEnv) : {}
    const config = yield* resolve(options, env)
    if (config.tls !== undefined && !config.tls.rejectUnauthorized) {
      yield* Effect.logWarning(
        "effect-gather: TLS certificate checks are off for this session (tls.rejectUnauthorized: false); " +
          "anyone on the network path can read and change its https traffic"
      )
    }
    // A dispatcher the user gives (a proxy, custom TLS) is theirs to close,
    // and opaque: connections are counted only on our own pool.
    const { connections, dispatcher } = options?.dispatcher !== undefined
      ? { connections: undefined, dispatcher: options.dispatcher }
      : config.proxy !== undefined
      ? yield* proxiedPool(config, config.proxy)
      : yield* ownPool(config)
    const hosts = Hosts.make(config.hostLimits, yield* Effect.scope, config.retry.maxRetryAfterMs)
    const watchdog = yield* Effect.acquireRelease(
      Effect.sync(() => new Watchdog()),
      (watchdog) => Effect.sync(() => watchdog.close())
    )
    // Expiry runs on the Clock, so a TestClock can age cookies in tests.
    const clock = yield* Effect.clock
    // Loaded only for a session that keeps cookies (see `layer` on import cost).
    const cookies = config.cookies
      ? new (yield* Effect.promise(() => import("./policy/cookies.js"))).CookieJar(() => clock.unsafeCurrentTimeMillis())
      : undefined
    const cache = config.cache === undefined ? undefined : yield* Cache.open(config.cache)
    const returning = new ReturningSockets()
    return {
      [TypeId]: TypeId,
      config,
      dispatcher,
      hosts,
      watchdog,
      cookies,
      connections,
      returning,
      cache
    } satisfies SessionImpl
  })

/** A rate the parser refuses, or one option under two names with two values, is a typed ConfigError; any other invalid option a defect. */
const resolve = (options: SessionOptions | undefined, env: ProxyEnv): Effect.Effect<ResolvedSession, ConfigError.ConfigError> => {
  try {
    return Effect.succeed(resolveSession(options, env))
  } catch (error) {
    if (ConfigError.isConfigError(error)) return Effect.fail(error)
    return Effect.die(new TypeError(`effect-gather: invalid session options: ${(error as Error).message}`))
  }
}

/** The session's own undici pool, its connections counted. */
const ownPool = (
  config: ResolvedSession
): Effect.Effect<{ readonly connections: OpenConnections; readonly dispatcher: Dispatcher }, never, Scope.Scope> => {
  const connections = new OpenConnections(config.maxConnectionsPerOrigin)
  return Effect.map(
    Effect.acquireRelease(
      Effect.sync(() =>
        new Agent({
          connections: config.maxConnectionsPerOrigin,
          // undici's own connector, wrapped to name TLS failures and to time and count each new connection.
          connect: timedConnector(
            connector({ timeout: config.timeouts.connectMs, allowH2: config.allowH2, ...connectTls(config.tls) }),
            connections
          ),
          allowH2: config.allowH2,
          ...(config.allowH2 ? { factory: h2Pool } : {}),
          // Limits come per request from the session's options (0 = off).
          headersTimeout: 0,
          bodyTimeout: 0
        })
      ),
      // destroy, not close: whatever is still in flight when the scope ends
      // belongs to an interrupted fiber and must be cut (close would drain).
      (agent) => Effect.promise(() => agent.destroy())
    ),
    (dispatcher) => ({ connections, dispatcher })
  )
}

const proxyEnv: Effect.Effect<ProxyEnv, ConfigError.ConfigError> = Effect.suspend(() =>
  Effect.map(
    Config.all(envNames.map((name) => optional(Config.string(name)))),
    (values) => Object.fromEntries(envNames.map((name, i) => [name, values[i]]))
  )
)

/**
 * The session's own pools behind undici's proxy agents: a `ProxyAgent` for
 * one proxy, an `EnvHttpProxyAgent` (given the resolved variables, so it
 * reads nothing itself) when http and https differ or `NO_PROXY` is set.
 * Every pool, direct or tunnelled, is made by one factory that times and
 * counts its connections per target origin like {@link ownPool}, and names
 * the proxy when the tunnel fails.
 */
const proxiedPool = (
  config: ResolvedSession,
  proxy: ResolvedProxy
): Effect.Effect<{ readonly connections: OpenConnections; readonly dispatcher: Dispatcher }, never, Scope.Scope> => {
  const connections = new OpenConnections(config.maxConnectionsPerOrigin)
  const timeout = config.timeouts.connectMs
  const direct = connector({ timeout, allowH2: config.allowH2, ...connectTls(config.tls) })
  const pool = config.allowH2 ? h2Pool : (origin: string | URL, options: object) => new Pool(origin, options)
  const factory = (origin: string | URL, options: object): Dispatcher => {
    const connect: unknown = Reflect.get(options, "connect")
    const originText = typeof origin === "string" ? origin : origin.origin
    const through = proxyFor(proxy, originText)
    if (typeof connect !== "function" || connect === direct || through === undefined) {
      return pool(origin, { ...options, connect: timedConnector(direct, connections) })
    }
    // undici's tunnel connector, as ProxyAgent passes it to its pools' factory
    return pool(origin, { ...options, connect: timedConnector(namingProxy(connect as Undici.buildConnector.connector, through), connections) })
  }
  const shared = {
    connections: config.maxConnectionsPerOrigin,
    allowH2: config.allowH2,
    headersTimeout: 0,
    bodyTimeout: 0,
    connect: direct,
    factory,
    // TLS to the target, inside the tunnel; and to an https: proxy.
    requestTls: { timeout, allowH2: config.allowH2, ...connectTls(config.tls) },
    proxyTls: { timeout }
  }
  // The same proxy for both, credentials included (`shown` is redacted: two
  // URLs differing only in their password must stay two proxies).
  const single = proxy.noProxy === "" && proxy.http !== undefined && proxy.https !== undefined &&
    Redacted.value(proxy.http.url) === Redacted.value(proxy.https.url)
  return Effect.map(
    Effect.acquireRelease(
      Effect.sync((): Dispatcher =>
        single
          ? new ProxyAgent({ ...shared, uri: Redacted.value(proxy.http!.url) })
          : new EnvHttpProxyAgent({
            ...shared,
            // "" (not undefined) so undici reads no variable itself
            httpProxy: proxy.http === undefined ? "" : Redacted.value(proxy.http.url),
            httpsProxy: proxy.https === undefined ? "" : Redacted.value(proxy.https.url),
            noProxy: proxy.noProxy
          })
      ),
      (agent) => Effect.promise(() => agent.destroy())
    ),
    (dispatcher) => ({ connections, dispatcher })
  )
}

/** undici's connector options (node:tls's) from the resolved TLS options. */
const connectTls = (tls: ResolvedTls | undefined) => {
  if (tls === undefined) return {}
  const pem = (value: string | Uint8Array): string | Buffer => typeof value === "string" ? value : Buffer.from(value)
  return {
    ...(tls.ca === undefined ? {} : { ca: tls.ca.map(pem) }),
    ...(tls.cert === undefined ? {} : { cert: pem(tls.cert) }),
    ...(tls.key === undefined ? {} : { key: pem(Redacted.value(tls.key)) }),
    ...(tls.passphrase === undefined ? {} : { passphrase: Redacted.value(tls.passphrase) }),
    ...(tls.servername === undefined ? {} : { servername: tls.servername }),
    rejectUnauthorized: tls.rejectUnauthorized,
    minVersion: tls.minVersion
  }
}

const isTlsError = (error: unknown): boolean => {
  const code = (error as { code?: unknown } | null)?.code
  return typeof code === "string" && isTlsLayerCode(code)
}

/**
 * undici's connector, with one change: a TLS error on an open socket ends
 * it at once. With TLS 1.3 a server that wants a client certificate rejects
 * it after the client's handshake is done (alert 116, "certificate
 * required"), then closes; undici saw the alert, then the close, and
 * reported the close (`UND_ERR_SOCKET` "other side closed", retried as a
 * reset) instead of the alert. Destroying the socket on the alert makes the
 * alert the error undici reports. One listener per connection, not per request.
 */
const connector = (options: Undici.buildConnector.BuildOptions): Undici.buildConnector.connector => {
  const connect = buildConnector(options)
  return (target, callback) =>
    connect(target, (...args) => {
      const socket = args[1]
      // undici passes (error) alone on failure, not (error, null) as typed
      if (socket != null) {
        socket.prependListener("error", (cause: unknown) => {
          if (isTlsError(cause)) socket.destroy()
        })
      }
      callback(...args)
    })
}

/**
 * With `allowH2`, undici 7 still caps every connection at `pipelining` (1 by
 * default) requests, so HTTP/2 got one stream per connection: 8 handshakes
 * for 8 in flight, measured. Its HTTP/2 code has its own default (as many
 * streams as the server allows) that applies only when `pipelining` is
 * unset, which its constructor cannot express; the setter can. HTTP/1.1
 * connections keep undici's default of 1 (no pipelining).
 */
const h2Pool = (origin: string | URL, options: object): Undici.Pool =>
  new Pool(origin, {
    ...options,
    factory: (url: URL, clientOptions: object) => {
      const client = new Client(url, clientOptions)
      // typed as a number; null is what restores the per-protocol default
      Reflect.set(client, "pipelining", null)
      return client
    }
  })

/**
 * The session and the `@effect/platform` client on its engine (see
 * httpClient.ts). The platform's client modules load `effect/Schema` and,
 * through it, fast-check: 14 MB of RSS and ~240 modules that a program using
 * only `Fetch` and `Gather` never runs. They are imported when the layer is
 * built, not when `Session` is.
 */
export const layer = (
  options?: SessionOptions
): Layer.Layer<PublicSession | HttpClient.HttpClient, ConfigError.ConfigError> =>
  Layer.scopedContext(
    Effect.flatMap(make(options), (session) =>
      Effect.map(
        Effect.promise(() => import("./httpClient.js")),
        (lean) => Context.make(tag, session).pipe(Context.add(lean.HttpClientTag, lean.make(session)))
      ))
  )

/**
 * What `layerTest` changes: no retries (a backoff waits on the `Clock`, which
 * under `it.effect` is a `TestClock` that only moves when told) and time
 * limits a test can wait out (they run on real timers whatever the `Clock`).
 */
export const testDefaults: SessionOptions = {
  retry: false,
  timeout: { connect: "1 second", headers: "5 seconds", bodyIdle: "5 seconds", attempt: "5 seconds", total: "10 seconds" }
}

export const layerTest = (
  options?: SessionOptions
): Layer.Layer<PublicSession | HttpClient.HttpClient, ConfigError.ConfigError> => layer({ ...testDefaults, ...options })

const optional = <A>(config: Config.Config<A>): Config.Config<A | undefined> => Config.map(Config.option(config), Option.getOrUndefined)

/** A PEM file named by a config value, read when the config is. */
const pemFile = (name: string): Config.Config<Buffer | undefined> =>
  Config.mapOrFail(optional(Config.string(name)), (path) => {
    if (path === undefined) return Either.right(undefined)
    try {
      return Either.right(fs.readFileSync(path))
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? "unreadable"
      return Either.left(ConfigError.InvalidData([], `cannot read ${path} (${code})`))
    }
  })

const tlsConfig: Config.Config<SessionOptions["tls"]> = Config.all({
  ca: pemFile("GATHER_TLS_CA_FILE"),
  cert: pemFile("GATHER_TLS_CERT_FILE"),
  key: pemFile("GATHER_TLS_KEY_FILE"),
  passphrase: optional(Config.redacted("GATHER_TLS_PASSPHRASE")),
  servername: optional(Config.string("GATHER_TLS_SERVERNAME")),
  rejectUnauthorized: optional(Config.boolean("GATHER_TLS_REJECT_UNAUTHORIZED")),
  minVersion: optional(Config.literal("TLSv1.2", "TLSv1.3")("GATHER_TLS_MIN_VERSION"))
}).pipe(
  Config.map((tls) => {
    const given = Object.entries(tls).filter(([, value]) => value !== undefined)
    if (given.length === 0) return undefined
    return { ...tls, key: tls.key === undefined ? undefined : Redacted.make(tls.key.toString("utf8")) }
  })
)

const connectionsKey = "GATHER_MAX_CONNECTIONS_PER_ORIGIN"
const oldConnectionsKey = "GATHER_MAX_CONNECTIONS_PER_HOST"

/**
 * The pool's size per origin, under its key or its old one. Each key sets the
 * option of its name (the old key what it always set, so options read from
 * it are as they were), and the session resolves the two names as one;
 * both keys with different values fail here, naming the keys as typed.
 */
const connectionsConfig: Config.Config<Pick<SessionOptions, "maxConnectionsPerOrigin" | "maxConnectionsPerHost">> = Config.all({
  maxConnectionsPerOrigin: optional(Config.integer(connectionsKey)),
  maxConnectionsPerHost: optional(Config.integer(oldConnectionsKey))
}).pipe(
  Config.mapOrFail((given) => {
    const { maxConnectionsPerHost: old, maxConnectionsPerOrigin: current } = given
    if (current === undefined || old === undefined || current === old) return Either.right(given)
    return Either.left(ConfigError.InvalidData(
      [connectionsKey],
      `${connectionsKey} (${current}) and ${oldConnectionsKey} (${old}) are one setting ` +
        `(${oldConnectionsKey} is its old name) given two values: give ${connectionsKey} alone`
    ))
  })
)

/**
 * Session options from `GATHER_*` variables (any `ConfigProvider`). The
 * names are whole (`GATHER_TIMEOUT`, not `TIMEOUT` nested in `GATHER`), so
 * an error names the variable as the user typed it.
 */
export const config: Config.Config<SessionOptions> = Config.all({
  tls: tlsConfig,
  allowH2: optional(Config.boolean("GATHER_ALLOW_H2")),
  baseUrl: optional(Config.string("GATHER_BASE_URL")),
  userAgent: optional(Config.string("GATHER_USER_AGENT")),
  connections: connectionsConfig,
  timeout: optional(Config.duration("GATHER_TIMEOUT")),
  connectTimeout: optional(Config.duration("GATHER_CONNECT_TIMEOUT")),
  maxBodyBytes: optional(Config.integer("GATHER_MAX_BODY_BYTES")),
  maxRedirects: optional(Config.integer("GATHER_MAX_REDIRECTS")),
  tracerPropagation: optional(Config.boolean("GATHER_TRACER_PROPAGATION")),
  cookies: optional(Config.boolean("GATHER_COOKIES")),
  bearerToken: optional(Config.redacted("GATHER_BEARER_TOKEN"))
}).pipe(
  Config.map(({ bearerToken, connectTimeout, connections, timeout, ...rest }): SessionOptions => ({
    ...rest,
    ...connections,
    timeout: connectTimeout === undefined ? timeout : { attempt: timeout, connect: connectTimeout },
    auth: bearerToken === undefined ? undefined : { bearer: bearerToken }
  }))
)

export const layerConfig = (
  options: Config.Config<SessionOptions> = config
): Layer.Layer<PublicSession | HttpClient.HttpClient, ConfigError.ConfigError> => Layer.unwrapEffect(Effect.map(options, layer))
