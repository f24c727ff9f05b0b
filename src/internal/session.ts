import * as HttpClient from "@effect/platform/HttpClient"
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as ConfigError from "effect/ConfigError"
import type * as Scope from "effect/Scope"
import { Agent } from "undici"
import type { Dispatcher } from "undici"
import * as Hosts from "./hosts.js"
import * as LeanClient from "./httpClient.js"
import { Watchdog } from "./watchdog.js"
import type { ResolvedSession, SessionOptions } from "./options.js"
import { resolveSession } from "./options.js"

export const TypeId: unique symbol = Symbol.for("effect-gather/Session")
export type TypeId = typeof TypeId

export interface SessionImpl {
  readonly [TypeId]: TypeId
  readonly config: ResolvedSession
  readonly dispatcher: Dispatcher
  readonly hosts: Hosts.Hosts
  readonly watchdog: Watchdog
}

export const tag = Context.GenericTag<SessionImpl>("effect-gather/Session")

export const make = (options?: SessionOptions): Effect.Effect<SessionImpl, never, Scope.Scope> =>
  Effect.gen(function*() {
    const config = yield* Effect.try({
      try: () => resolveSession(options),
      catch: (error) => new TypeError(`effect-gather: invalid session options: ${(error as Error).message}`)
    }).pipe(Effect.orDie)
    const dispatcher = yield* Effect.acquireRelease(
      Effect.sync(() =>
        new Agent({
          connections: config.maxConnectionsPerHost,
          connect: { timeout: config.timeouts.connectMs },
          // Limits come per request from the session's options (0 = off).
          headersTimeout: 0,
          bodyTimeout: 0
        })
      ),
      // destroy, not close: whatever is still in flight when the scope ends
      // belongs to an interrupted fiber and must be cut (close would drain).
      (agent) => Effect.promise(() => agent.destroy())
    )
    const hosts = Hosts.make(config.hostLimits, yield* Effect.scope)
    const watchdog = yield* Effect.acquireRelease(
      Effect.sync(() => new Watchdog()),
      (watchdog) => Effect.sync(() => watchdog.close())
    )
    return { [TypeId]: TypeId, config, dispatcher, hosts, watchdog } satisfies SessionImpl
  })

/** The `@effect/platform` client on the session's engine (see httpClient.ts). */
export const httpClient = (session: SessionImpl): HttpClient.HttpClient => LeanClient.make(session)

export const layer = (
  options?: SessionOptions
): Layer.Layer<SessionImpl | HttpClient.HttpClient> =>
  Layer.scopedContext(
    Effect.map(make(options), (session) =>
      Context.make(tag, session).pipe(Context.add(HttpClient.HttpClient, httpClient(session))))
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
): Layer.Layer<SessionImpl | HttpClient.HttpClient> => layer({ ...testDefaults, ...options })

const optional = <A>(config: Config.Config<A>): Config.Config<A | undefined> =>
  Config.map(Config.option(config), Option.getOrUndefined)

/** Session options from `GATHER_*` variables (any `ConfigProvider`). */
export const config: Config.Config<SessionOptions> = Config.all({
  baseUrl: optional(Config.string("BASE_URL")),
  userAgent: optional(Config.string("USER_AGENT")),
  maxConnectionsPerHost: optional(Config.integer("MAX_CONNECTIONS_PER_HOST")),
  timeout: optional(Config.duration("TIMEOUT")),
  connectTimeout: optional(Config.duration("CONNECT_TIMEOUT")),
  maxBodyBytes: optional(Config.integer("MAX_BODY_BYTES")),
  maxRedirects: optional(Config.integer("MAX_REDIRECTS")),
  tracerPropagation: optional(Config.boolean("TRACER_PROPAGATION"))
}).pipe(
  Config.map(({ connectTimeout, timeout, ...rest }): SessionOptions => ({
    ...rest,
    timeout: connectTimeout === undefined ? timeout : { attempt: timeout, connect: connectTimeout }
  })),
  Config.nested("GATHER")
)

export const layerConfig = (
  options: Config.Config<SessionOptions> = config
): Layer.Layer<SessionImpl | HttpClient.HttpClient, ConfigError.ConfigError> =>
  Layer.unwrapEffect(Effect.map(options, layer))
