/**
 * The per-origin limits under their names: `maxInFlightPerOrigin` and
 * `ratePerOrigin`, and their old names `maxInFlightPerHost` and
 * `ratePerHost`, which still work. Either name limits the same origin (at
 * the server), both alike are one limit, both with different values are a
 * typed ConfigError; the CLI's `--per-origin` and its old `--per-host`
 * give the same session, and a cluster runner's default yields to either
 * name. The same for the pool's size, `maxConnectionsPerOrigin` (old name
 * `maxConnectionsPerHost`), and its keys `GATHER_MAX_CONNECTIONS_PER_ORIGIN`
 * (old key `GATHER_MAX_CONNECTIONS_PER_HOST`), counted as connections the
 * server saw opened.
 */
import * as CliConfig from "@effect/cli/CliConfig"
import * as Options from "@effect/cli/Options"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { assert, describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as ConfigError from "effect/ConfigError"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import { performance } from "node:perf_hooks"
import { options as fetchFlags } from "../src/cli/fetchOptions.js"
import { toFetchSessionOptions } from "../src/cli/sessionOptions.js"
import * as DemoServer from "../src/DemoServer.js"
import * as Fetch from "../src/Fetch.js"
import * as Gather from "../src/Gather.js"
import * as Runner from "../src/internal/cluster/runner.js"
import * as Session from "../src/Session.js"

/**
 * The most requests a fresh demo server had in flight while two gathers of
 * 12 `/delay/40` ran at once through one session with `options` (as the
 * test of `maxInFlightPerHost` across two gathers does).
 */
const peakInFlight = (options: Session.Options) =>
  Effect.scoped(Effect.gen(function*() {
    const server = yield* DemoServer.make()
    const gather = Gather.all(Array.from({ length: 12 }, () => Fetch.get("/delay/40")), { concurrency: 12 })
    yield* Effect.all([gather, gather], { concurrency: 2 }).pipe(Effect.provide(Session.layer({ baseUrl: server.baseUrl, ...options })))
    const stats = yield* server.stats
    expect(stats.requests).toBe(24)
    return stats.peakInFlight
  }))

/** How long 15 requests at once take through a session with `options` (a rate of 5 per 100 ms: two refills at least). */
const fifteenRequestsMs = (options: Session.Options) =>
  Effect.scoped(Effect.gen(function*() {
    const server = yield* DemoServer.make()
    const started = performance.now()
    yield* Gather.all(Array.from({ length: 15 }, () => Fetch.get("/empty")), { concurrency: 15 }).pipe(
      Effect.provide(Session.layer({ baseUrl: server.baseUrl, ...options }))
    )
    expect((yield* server.stats).requests).toBe(15)
    return performance.now() - started
  }))

/** The typed failure of `Session.make(options)`; a defect or a success fails the test. */
const configErrorOf = (options: Session.Options) =>
  Effect.gen(function*() {
    const exit = yield* Effect.exit(Effect.scoped(Session.make(options)))
    assert(Exit.isFailure(exit), JSON.stringify(options))
    const error = Cause.failureOption(exit.cause)
    assert(Option.isSome(error), `a typed failure, not a defect: ${Cause.pretty(exit.cause)}`)
    assert(ConfigError.isConfigError(error.value))
    assert(error.value._op === "InvalidData")
    return error.value
  })

/**
 * The connections a fresh demo server saw opened, and the most requests it
 * had in flight, while 12 `/delay/40` ran at once through one session with
 * `options` (with no in-flight limit, the pool's size per origin holds them).
 */
const connectionsAt = (options: Session.Options) =>
  Effect.scoped(Effect.gen(function*() {
    const server = yield* DemoServer.make()
    yield* Gather.all(Array.from({ length: 12 }, () => Fetch.get("/delay/40")), { concurrency: 12 }).pipe(
      Effect.provide(Session.layer({ ...options, baseUrl: server.baseUrl }))
    )
    const stats = yield* server.stats
    expect(stats.requests).toBe(12)
    return { opened: stats.connectionsOpened, peakInFlight: stats.peakInFlight }
  }))

/** `Session.config` read from these variables alone. */
const configFrom = (env: Record<string, string>) =>
  Effect.either(Session.config).pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)), { pathDelim: "_" })))

describe("maxInFlightPerOrigin and ratePerOrigin (old names maxInFlightPerHost and ratePerHost)", () => {
  it.live("maxInFlightPerOrigin caps the requests in flight at the origin exactly as maxInFlightPerHost does", () =>
    Effect.gen(function*() {
      expect(yield* peakInFlight({ maxInFlightPerOrigin: 3 })).toBe(3)
      expect(yield* peakInFlight({ maxInFlightPerHost: 3 })).toBe(3)
      expect(yield* peakInFlight({ maxInFlightPerOrigin: 3, maxInFlightPerHost: 3 })).toBe(3)
    }))

  it.live("ratePerOrigin spaces out request starts as ratePerHost does, and two spellings of one rate are one rate", () =>
    Effect.gen(function*() {
      // 5 at once, then 5 per 100 ms: the last 5 start after ~200 ms.
      expect(yield* fifteenRequestsMs({ ratePerOrigin: "5/100ms" })).toBeGreaterThanOrEqual(180)
      expect(yield* fifteenRequestsMs({ ratePerHost: "5/100ms" })).toBeGreaterThanOrEqual(180)
      expect(yield* fifteenRequestsMs({ ratePerOrigin: "5/100ms", ratePerHost: "5 per 100 millis" })).toBeGreaterThanOrEqual(180)
    }))

  it.live("both names with different values fail Session.make with a ConfigError naming both options and their values", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [Session.Options, string, ReadonlyArray<string>]> = [
        [{ maxInFlightPerOrigin: 3, maxInFlightPerHost: 8 }, "maxInFlightPerOrigin", ["maxInFlightPerOrigin (3)", "maxInFlightPerHost (8)"]],
        [{ ratePerOrigin: "10/s", ratePerHost: "20/s" }, "ratePerOrigin", ["ratePerOrigin (\"10/s\")", "ratePerHost (\"20/s\")"]],
        // the same count per a different interval is a different rate (and a different burst)
        [{ ratePerOrigin: { limit: 10, interval: "1 second" }, ratePerHost: "10/2s" }, "ratePerOrigin", [
          "ratePerOrigin ({ limit: 10, interval: 1 second })",
          "ratePerHost (\"10/2s\")"
        ]]
      ]
      for (const [options, path, named] of cases) {
        const error = yield* configErrorOf(options)
        expect(error.path).toEqual([path])
        for (const part of named) expect(error.message).toContain(part)
      }
    }))

  it.live("what either name refuses is refused under that name: a rate as a ConfigError at it, a limit below 1 as a defect", () =>
    Effect.gen(function*() {
      expect((yield* configErrorOf({ ratePerOrigin: "5 per fortnight" })).path).toEqual(["ratePerOrigin"])
      expect((yield* configErrorOf({ ratePerHost: "5 per fortnight" })).path).toEqual(["ratePerHost"])
      for (const options of [{ maxInFlightPerOrigin: 0 }, { maxInFlightPerHost: 0 }, { maxInFlightPerOrigin: 0, maxInFlightPerHost: 0 }]) {
        const exit = yield* Effect.exit(Effect.scoped(Session.make(options)))
        assert(Exit.isFailure(exit) && exit.cause._tag === "Die", JSON.stringify(options))
        expect(Cause.pretty(exit.cause)).toContain(Object.keys(options)[0])
      }
    }))

  it.live("a cluster runner's perOrigin default yields to the user's session under either name", () =>
    Effect.gen(function*() {
      // More connections than perOrigin, so that only the in-flight limit caps the peak.
      const runnerSession = (session: Session.Options) => Runner.sessionOptions(4, { maxConnectionsPerHost: 16, ...session })
      expect(yield* peakInFlight(runnerSession({}))).toBe(4)
      expect(yield* peakInFlight(runnerSession({ maxInFlightPerOrigin: 2 }))).toBe(2)
      expect(yield* peakInFlight(runnerSession({ maxInFlightPerHost: 2 }))).toBe(2)
    }))
})

describe("maxConnectionsPerOrigin (old name maxConnectionsPerHost) and its GATHER_ keys", () => {
  it.live("maxConnectionsPerOrigin caps the connections to the origin exactly as maxConnectionsPerHost does", () =>
    Effect.gen(function*() {
      const capped = { opened: 3, peakInFlight: 3 }
      expect(yield* connectionsAt({ maxConnectionsPerOrigin: 3 })).toEqual(capped)
      expect(yield* connectionsAt({ maxConnectionsPerHost: 3 })).toEqual(capped)
      expect(yield* connectionsAt({ maxConnectionsPerOrigin: 3, maxConnectionsPerHost: 3 })).toEqual(capped)
      // the default pool (128) is not what held them to 3
      expect((yield* connectionsAt({})).opened).toBeGreaterThan(3)
    }))

  it.live("both names with different values fail Session.make with a ConfigError naming both options and their values", () =>
    Effect.gen(function*() {
      const error = yield* configErrorOf({ maxConnectionsPerOrigin: 3, maxConnectionsPerHost: 8 })
      expect(error.path).toEqual(["maxConnectionsPerOrigin"])
      expect(error.message).toContain("maxConnectionsPerOrigin (3)")
      expect(error.message).toContain("maxConnectionsPerHost (8)")
    }))

  it.live("what either name refuses is a defect naming that name, as maxConnectionsPerHost's always was", () =>
    Effect.gen(function*() {
      for (
        const options of [
          { maxConnectionsPerOrigin: 0 },
          { maxConnectionsPerHost: 0 },
          { maxConnectionsPerOrigin: 1.5 },
          { maxConnectionsPerHost: -1 },
          { maxConnectionsPerOrigin: 0, maxConnectionsPerHost: 0 }
        ]
      ) {
        const exit = yield* Effect.exit(Effect.scoped(Session.make(options)))
        assert(Exit.isFailure(exit) && exit.cause._tag === "Die", JSON.stringify(options))
        expect(Cause.pretty(exit.cause)).toContain(Object.keys(options)[0])
      }
    }))

  it.live("GATHER_MAX_CONNECTIONS_PER_ORIGIN and the old GATHER_MAX_CONNECTIONS_PER_HOST each cap the pool; the old key reads as it did", () =>
    Effect.gen(function*() {
      const capped = { opened: 3, peakInFlight: 3 }
      const documented = yield* configFrom({ GATHER_MAX_CONNECTIONS_PER_ORIGIN: "3" })
      const old = yield* configFrom({ GATHER_MAX_CONNECTIONS_PER_HOST: "3" })
      const both = yield* configFrom({ GATHER_MAX_CONNECTIONS_PER_ORIGIN: "3", GATHER_MAX_CONNECTIONS_PER_HOST: "3" })
      assert(Either.isRight(documented) && Either.isRight(old) && Either.isRight(both))
      expect(documented.right).toMatchObject({ maxConnectionsPerOrigin: 3, maxConnectionsPerHost: undefined })
      expect(old.right).toMatchObject({ maxConnectionsPerOrigin: undefined, maxConnectionsPerHost: 3 })
      for (const options of [documented.right, old.right, both.right]) expect(yield* connectionsAt(options)).toEqual(capped)
    }))

  it.effect("both GATHER_ keys with different values are a ConfigError at the new key naming both keys", () =>
    Effect.gen(function*() {
      const read = yield* configFrom({ GATHER_MAX_CONNECTIONS_PER_ORIGIN: "3", GATHER_MAX_CONNECTIONS_PER_HOST: "8" })
      assert(Either.isLeft(read))
      assert(read.left._op === "InvalidData")
      expect(read.left.path).toEqual(["GATHER_MAX_CONNECTIONS_PER_ORIGIN"])
      expect(read.left.message).toContain("GATHER_MAX_CONNECTIONS_PER_ORIGIN (3)")
      expect(read.left.message).toContain("GATHER_MAX_CONNECTIONS_PER_HOST (8)")
      // what the new key cannot read is refused under its name, as the old key's always was
      const bad = yield* configFrom({ GATHER_MAX_CONNECTIONS_PER_ORIGIN: "many" })
      assert(Either.isLeft(bad) && bad.left._op === "InvalidData")
      expect(bad.left.path).toEqual(["GATHER_MAX_CONNECTIONS_PER_ORIGIN"])
    }))

  it.live("a cluster runner's perOrigin connections yield to the user's session under either name", () =>
    Effect.gen(function*() {
      expect(yield* connectionsAt(Runner.sessionOptions(4, {}))).toEqual({ opened: 4, peakInFlight: 4 })
      expect(yield* connectionsAt(Runner.sessionOptions(4, { maxConnectionsPerOrigin: 2 }))).toEqual({ opened: 2, peakInFlight: 2 })
      expect(yield* connectionsAt(Runner.sessionOptions(4, { maxConnectionsPerHost: 2 }))).toEqual({ opened: 2, peakInFlight: 2 })
    }))
})

describe("gather fetch --per-origin (old name --per-host)", () => {
  /** The session flags of `gather fetch`, as its command declares them. */
  const sessionFlags = Options.all({
    concurrency: fetchFlags.concurrency,
    perOrigin: fetchFlags.perOrigin,
    adaptive: fetchFlags.adaptive,
    retryAfter: fetchFlags.retryAfter,
    rate: fetchFlags.rate,
    timeout: fetchFlags.timeout,
    retries: fetchFlags.retries,
    maxBody: fetchFlags.maxBody,
    http2: fetchFlags.http2,
    revalidate: fetchFlags.revalidate,
    proxy: fetchFlags.proxy
  })

  /** The `Session.Options` of `gather fetch` with `args` (nothing else on the command line). */
  const sessionOf = (args: ReadonlyArray<string>) =>
    Options.processCommandLine(sessionFlags, args, CliConfig.defaultConfig).pipe(
      Effect.map(([, leftover, flags]) => {
        expect(leftover).toEqual([])
        return toFetchSessionOptions(flags, { headers: {}, ca: undefined, cacheDir: undefined })
      }),
      Effect.provide(NodeContext.layer)
    )

  it.effect("--per-origin and --per-host parse to the same Session.Options, under the origin names", () =>
    Effect.gen(function*() {
      const documented = yield* sessionOf(["-c", "16", "--per-origin", "8", "--rate", "20/s"])
      expect(yield* sessionOf(["-c", "16", "--per-host", "8", "--rate", "20/s"])).toEqual(documented)
      expect(documented).toMatchObject({ maxInFlightPerOrigin: 8, maxConnectionsPerHost: 8, ratePerOrigin: { limit: 20 } })
      expect(documented.maxInFlightPerHost).toBeUndefined()
      expect(documented.ratePerHost).toBeUndefined()
      // Without the flag, -c alone sets the connections and no in-flight limit.
      expect(yield* sessionOf(["-c", "16"])).toMatchObject({ maxInFlightPerOrigin: undefined, maxConnectionsPerHost: 16 })
    }))

  it.live("-c, --per-origin and --per-host size the pool at the server as maxConnectionsPerOrigin does", () =>
    Effect.gen(function*() {
      const documented = yield* connectionsAt({ maxConnectionsPerOrigin: 3 })
      for (const args of [["-c", "3"], ["-c", "12", "--per-origin", "3"], ["-c", "12", "--per-host", "3"]]) {
        const options = yield* sessionOf([...args, "--proxy", "none"])
        expect(yield* connectionsAt(options), args.join(" ")).toEqual(documented)
        const session = yield* Effect.scoped(Session.make(options))
        expect(session.config.maxConnectionsPerHost).toBe(3)
      }
    }))

  it.effect("--per-host refuses what --per-origin refuses", () =>
    Effect.gen(function*() {
      for (const flag of ["--per-origin", "--per-host"]) {
        const exit = yield* Effect.exit(sessionOf([flag, "0"]))
        expect(Exit.isFailure(exit), flag).toBe(true)
      }
    }))
})
