import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { assert, describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as ConfigError from "effect/ConfigError"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as FastCheck from "effect/FastCheck"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import { readFileSync } from "node:fs"
import * as Parse from "../src/cli/parse.js"
import * as DemoServer from "../src/DemoServer.js"
import * as Fetch from "../src/Fetch.js"
import { parseRateText } from "../src/internal/policy/rate.js"
import { version } from "../src/internal/version.js"
import * as Session from "../src/Session.js"
import { assertTag, EchoedHeaders, eventually, failure, serverAndSession } from "./support.js"

const packageJson = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
  readonly name: string
  readonly version: string
}

/** The headers the server received for one `/headers` request. */
const echoed = (options?: Fetch.Options) => Effect.map(Fetch.json("/headers", EchoedHeaders, options), (r) => r.body.headers)

const Named = Schema.Struct({ path_name_variable: Schema.String })

describe("Session", () => {
  it("the version in src/internal/version.ts is package.json's", () => {
    expect(version).toBe(packageJson.version)
    expect(Session.defaultUserAgent).toBe(`${packageJson.name}/${packageJson.version}`)
  })

  it.live("the Session service shows its options and pool, and Session.windows the adaptive windows", () =>
    Effect.gen(function*() {
      const session = yield* Session.Session
      expect(Object.keys(session.config).length).toBeGreaterThan(0)
      // @ts-expect-error the engine's parts (hosts, watchdog, cookies) are not part of the public service
      void session.hosts
      const server = yield* DemoServer.DemoServer
      expect(yield* Session.windows).toEqual({})
      const adaptive = yield* Effect.gen(function*() {
        yield* Fetch.get("/json/one")
        return yield* Session.windows
      }).pipe(Effect.provide(Session.layer({ baseUrl: server.baseUrl, adaptive: { max: 16 } })))
      // The window starts at 10 (the default `initial`) and one success in slow start adds 1.
      expect(adaptive).toEqual({ [new URL(server.baseUrl).origin]: 11 })
    }).pipe(Effect.provide(serverAndSession())))

  it.live("sends user-agent effect-gather/<version> and no tracing headers by default", () =>
    Effect.gen(function*() {
      const headers = yield* echoed()
      expect(headers["user-agent"]).toBe(`effect-gather/${packageJson.version}`)
      expect(headers["traceparent"]).toBeUndefined()
      expect(headers["b3"]).toBeUndefined()
      expect(Object.keys(headers).filter((name) => name.startsWith("x-b3"))).toEqual([])
    }).pipe(Effect.provide(serverAndSession())))

  it.live("userAgent replaces the default; false sends none", () =>
    Effect.gen(function*() {
      const custom = yield* echoed().pipe(
        Effect.provide(serverAndSession((server) => ({ baseUrl: server.baseUrl, userAgent: "my-crawler/2.0" })))
      )
      expect(custom["user-agent"]).toBe("my-crawler/2.0")
      const none = yield* echoed().pipe(
        Effect.provide(serverAndSession((server) => ({ baseUrl: server.baseUrl, userAgent: false })))
      )
      expect(none["user-agent"]).toBeUndefined()
    }))

  it.live("tracerPropagation: true sends a W3C traceparent", () =>
    Effect.gen(function*() {
      const first = yield* echoed()
      const second = yield* echoed()
      expect(first["traceparent"]).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/)
      expect(second["traceparent"]).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/)
      // one span per request
      expect(second["traceparent"]!.split("-")[2]).not.toBe(first["traceparent"]!.split("-")[2])
    }).pipe(Effect.provide(serverAndSession((server) => ({ baseUrl: server.baseUrl, tracerPropagation: true })))))

  it.live("session headers are sent; a call's headers and the request's own headers win", () =>
    Effect.gen(function*() {
      const sessionOnly = yield* echoed()
      expect(sessionOnly["x-team"]).toBe("gather")
      expect(sessionOnly["x-shared"]).toBe("session")

      const call = yield* echoed({ headers: { "X-Shared": "call" } })
      expect(call["x-shared"]).toBe("call")
      expect(call["x-team"]).toBe("gather")

      const request = HttpClientRequest.get("/headers").pipe(
        HttpClientRequest.setHeader("x-shared", "request"),
        HttpClientRequest.setHeader("user-agent", "request-agent")
      )
      const own = yield* Fetch.json(request, EchoedHeaders, { headers: { "x-shared": "call" } })
      expect(own.body.headers["x-shared"]).toBe("request")
      expect(own.body.headers["user-agent"]).toBe("request-agent")
      expect(own.body.headers["x-team"]).toBe("gather")
    }).pipe(
      Effect.provide(serverAndSession((server) => ({
        baseUrl: server.baseUrl,
        headers: { "X-Team": "gather", "x-shared": "session" }
      })))
    ))

  it.live("baseUrl joins relative URLs and leaves absolute ones alone", () =>
    Effect.gen(function*() {
      const server = yield* DemoServer.DemoServer
      const run = (baseUrl: string, input: string) => Fetch.get(input).pipe(Effect.map((r) => r.url), Effect.provide(Session.layer({ baseUrl, retry: false })))

      expect(yield* run(server.baseUrl, "/json/a")).toBe(`${server.baseUrl}/json/a`)
      expect(yield* run(`${server.baseUrl}/`, "/json/a")).toBe(`${server.baseUrl}/json/a`)
      expect(yield* run(server.baseUrl, "json/a?a=1")).toBe(`${server.baseUrl}/json/a?a=1`)
      expect(yield* run(`${server.baseUrl}/api/v2`, "/pokemon/4")).toBe(`${server.baseUrl}/api/v2/pokemon/4`)
      expect(yield* run(`${server.baseUrl}/api/v2/`, "pokemon/4")).toBe(`${server.baseUrl}/api/v2/pokemon/4`)
      expect(yield* run("http://127.0.0.1:1", `${server.baseUrl}/json/abs`)).toBe(`${server.baseUrl}/json/abs`)

      const charmander = yield* Fetch.json("pokemon/4", Schema.Struct({ name: Schema.String })).pipe(
        Effect.provide(Session.layer({ baseUrl: `${server.baseUrl}/api/v2`, retry: false }))
      )
      expect(charmander.body.name).toBe("charmander")
    }).pipe(Effect.provide(DemoServer.layer())))

  it.live("invalid options are a defect at construction", () =>
    Effect.gen(function*() {
      for (const options of [{ baseUrl: "ftp://example.com" }, { baseUrl: "not a url" }, { maxConnectionsPerHost: 0 }, { maxRedirects: -1 }]) {
        const exit = yield* Effect.exit(Effect.scoped(Session.make(options)))
        expect(Exit.isFailure(exit) && exit.cause._tag === "Die", JSON.stringify(options)).toBe(true)
      }
    }))

  it.live("ratePerHost reads every form the CLI's --rate reads (one parser), and what it refuses is a typed ConfigError naming it", () =>
    Effect.gen(function*() {
      for (const input of ["20/s", "600/m", "5/100ms", "3/h", "20 per second", "7/2s", "2 per 1.5 seconds"] as const) {
        const cli = Parse.parseRate(input)
        assert(Either.isRight(cli), input)
        const session = yield* Effect.scoped(Session.make({ ratePerHost: input }))
        expect(session.config.hostLimits.ratePerHost, input).toEqual({
          limit: cli.right.limit,
          intervalMs: Duration.toMillis(cli.right.interval)
        })
      }
      const refused: ReadonlyArray<Session.Rate> = ["5 per fortnight", "0/s", "20/0s", "-3/s", "5/1e400s", { limit: 0, interval: "1 second" }]
      // what only a program that skips the type check can pass
      const untyped = ["20", "x/s"] as ReadonlyArray<unknown> as ReadonlyArray<Session.Rate>
      for (const input of [...refused, ...untyped]) {
        const exit = yield* Effect.exit(Effect.scoped(Session.make({ ratePerHost: input })))
        assert(Exit.isFailure(exit), String(input))
        const error = Cause.failureOption(exit.cause)
        assert(Option.isSome(error), `a typed failure, not a defect: ${Cause.pretty(exit.cause)}`)
        expect(ConfigError.isConfigError(error.value)).toBe(true)
        assert(error.value._op === "InvalidData")
        expect(error.value.path).toEqual(["ratePerHost"])
        expect(error.value.message).toContain(typeof input === "string" ? JSON.stringify(input) : "limit: 0")
        if (typeof input === "string") expect(Either.isLeft(Parse.parseRate(input)), input).toBe(true)
      }
    }))

  it.prop(
    "any text as a rate: a rate the limiter can run, or a refusal that quotes it; never a throw",
    [FastCheck.oneof(FastCheck.string(), FastCheck.stringMatching(/^-?\d{0,20}\s?(\/|per)\s?\d{0,3}(\.\d)?\s?[a-z]{0,8}$/))],
    ([input]) => {
      const parsed = parseRateText(input)
      if (Either.isRight(parsed)) {
        expect(Number.isSafeInteger(parsed.right.limit) && parsed.right.limit >= 1).toBe(true)
        expect(parsed.right.intervalMs > 0 && Number.isFinite(parsed.right.intervalMs)).toBe(true)
      } else {
        expect(parsed.left).toContain(JSON.stringify(input))
      }
    },
    { fastCheck: { seed: 20261203, numRuns: 500 } }
  )

  it.live("the HttpClient it provides is plain @effect/platform on the same pool, base URL and headers", () =>
    Effect.gen(function*() {
      const server = yield* DemoServer.DemoServer
      yield* server.resetStats
      const viaFetch = yield* Fetch.json("/json/fetch", Named)
      expect(viaFetch.body.path_name_variable).toBe("fetch")

      const client = yield* HttpClient.HttpClient
      const named = yield* client.get("/json/platform?a=1").pipe(
        Effect.flatMap(HttpClientResponse.schemaBodyJson(Named)),
        Effect.scoped
      )
      expect(named.path_name_variable).toBe("platform")

      const headers = yield* HttpClient.get("/headers").pipe(
        Effect.flatMap(HttpClientResponse.schemaBodyJson(EchoedHeaders)),
        Effect.scoped
      )
      expect(headers.headers["user-agent"]).toBe(`effect-gather/${packageJson.version}`)
      expect(headers.headers["x-team"]).toBe("gather")
      expect(headers.headers["traceparent"]).toBeUndefined()
      expect(headers.headers["b3"]).toBeUndefined()

      const own = yield* HttpClient.execute(HttpClientRequest.get("/headers").pipe(HttpClientRequest.setHeader("x-team", "mine"))).pipe(
        Effect.flatMap(HttpClientResponse.schemaBodyJson(EchoedHeaders)),
        Effect.scoped
      )
      expect(own.headers["x-team"]).toBe("mine")

      // a pool of one connection: had the platform client a pool of its own,
      // the server would have seen a second connection
      const stats = yield* server.stats
      expect(stats.requests).toBe(4)
      expect(stats.connectionsOpened).toBe(1)
    }).pipe(Effect.provide(serverAndSession((server) => ({
      baseUrl: server.baseUrl,
      headers: { "x-team": "gather" },
      maxConnectionsPerHost: 1
    })))))

  it.live("closing the scope closes the pool: the server sees every connection close and in-flight requests cut", () =>
    Effect.gen(function*() {
      const server = yield* DemoServer.make()
      const scope = yield* Scope.make()
      const session = yield* Session.make({ baseUrl: server.baseUrl, retry: false }).pipe(Scope.extend(scope))
      const withSession = <A, E>(effect: Effect.Effect<A, E, Session.Session>) => Effect.provideService(effect, Session.Session, session)

      // a few keep-alive connections, plus one request left hanging
      yield* Effect.all([withSession(Fetch.get("/delay/50")), withSession(Fetch.get("/delay/50")), withSession(Fetch.get("/delay/50"))], {
        concurrency: "unbounded"
      })
      const hanging = yield* Effect.fork(withSession(Fetch.get("/hang")))
      const open = yield* eventually(server.stats, (s) => s.inFlight === 1)
      expect(open.inFlight).toBe(1)
      expect(open.openConnections).toBeGreaterThanOrEqual(2)

      yield* Scope.close(scope, Exit.void)
      const closed = yield* eventually(server.stats, (s) => s.openConnections === 0 && s.inFlight === 0, 3000)
      expect(closed.openConnections).toBe(0)
      expect(closed.inFlight).toBe(0)
      expect(closed.aborted).toBe(1)
      const outcome = yield* Fiber.await(hanging)
      expect(Exit.isFailure(outcome)).toBe(true)
    }).pipe(Effect.scoped))

  it.live("layerConfig reads GATHER_BASE_URL and GATHER_TIMEOUT from the ConfigProvider", () =>
    Effect.gen(function*() {
      const server = yield* DemoServer.make()
      const provider = ConfigProvider.fromMap(
        new Map([
          ["GATHER_BASE_URL", server.baseUrl],
          ["GATHER_TIMEOUT", "300 millis"],
          ["GATHER_USER_AGENT", "from-config/1"]
        ]),
        { pathDelim: "_" }
      )
      const sessionLayer = Session.layerConfig().pipe(Layer.provide(Layer.setConfigProvider(provider)))
      yield* Effect.gen(function*() {
        const session = yield* Session.Session
        expect(session.config.baseUrl).toBe(server.baseUrl)
        // relative URLs reach the server: the base URL took effect
        const named = yield* Fetch.json("/json/configured", Named)
        expect(named.body.path_name_variable).toBe("configured")
        const headers = yield* echoed()
        expect(headers["user-agent"]).toBe("from-config/1")
        // the timeout took effect
        const started = performance.now()
        const error = yield* failure(Fetch.get("/hang", { retry: false }))
        assertTag(error, "Timeout")
        expect(error.phase).toBe("attempt")
        expect(error.limitMs).toBe(300)
        expect(performance.now() - started).toBeLessThan(2000)
      }).pipe(Effect.provide(sessionLayer))

      // a malformed value is a ConfigError, not a silent default
      const bad = ConfigProvider.fromMap(new Map([["GATHER_TIMEOUT", "soon"]]), { pathDelim: "_" })
      const exit = yield* Effect.exit(
        Effect.provide(Session.Session, Session.layerConfig().pipe(Layer.provide(Layer.setConfigProvider(bad))))
      )
      expect(Exit.isFailure(exit)).toBe(true)
    }).pipe(Effect.scoped))
})
