/**
 * The adaptive per-origin window: the controller as a pure function
 * (properties), the gate that applies it (shared by every gather of a
 * session, shown in Progress and Metrics), and convergence at a DemoServer
 * route with a hidden capacity.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, FastCheck, Fiber, Metric, Option, TestClock } from "effect"
import * as DemoServer from "../src/DemoServer.js"
import * as Fetch from "../src/Fetch.js"
import * as Gather from "../src/Gather.js"
import * as Adaptive from "../src/internal/adaptive.js"
import * as Metrics from "../src/Metrics.js"
import * as Progress from "../src/Progress.js"
import * as Session from "../src/Session.js"
import { realSleep } from "./support.js"

const configArb = FastCheck.record({
  min: FastCheck.integer({ min: 1, max: 20 }),
  span: FastCheck.integer({ min: 0, max: 300 }),
  increase: FastCheck.double({ min: 0.1, max: 8, noNaN: true }),
  decrease: FastCheck.double({ min: 0.05, max: 0.95, noNaN: true })
}).map(({ decrease, increase, min, span }): Adaptive.AdaptiveConfig => ({ min, max: min + span, increase, decrease }))

type Event =
  | { readonly _tag: "success" }
  | { readonly _tag: "overload"; readonly age: number; readonly inFlight: number }
  | { readonly _tag: "neutral" }

const eventArb: FastCheck.Arbitrary<Event> = FastCheck.oneof(
  FastCheck.constant({ _tag: "success" } as const),
  FastCheck.record({
    _tag: FastCheck.constant("overload" as const),
    // How many decreases ago the request was sent (0: in the current epoch).
    age: FastCheck.integer({ min: 0, max: 3 }),
    inFlight: FastCheck.integer({ min: 1, max: 400 })
  }),
  FastCheck.constant({ _tag: "neutral" } as const)
)

const apply = (config: Adaptive.AdaptiveConfig, window: Adaptive.Window, event: Event): Adaptive.Window =>
  event._tag === "overload"
    ? Adaptive.update(config, window, "overload", Math.max(0, window.epoch - event.age), event.inFlight)
    : Adaptive.update(config, window, event._tag, window.epoch, 1)

const run = (config: Adaptive.AdaptiveConfig, events: ReadonlyArray<Event>): Adaptive.Window =>
  events.reduce((window, event) => apply(config, window, event), Adaptive.initial(config))

describe("the adaptive controller (pure)", () => {
  it.prop(
    "the window stays within [min, max] whatever happens",
    [configArb, FastCheck.array(eventArb, { maxLength: 300 })],
    ([config, events]) => {
      let window = Adaptive.initial(config)
      expect(window.size).toBe(config.max)
      for (const event of events) {
        window = apply(config, window, event)
        expect(window.size).toBeGreaterThanOrEqual(config.min)
        expect(window.size).toBeLessThanOrEqual(config.max)
        expect(Adaptive.limit(window)).toBeGreaterThanOrEqual(config.min)
      }
    }
  )

  it.prop(
    "a run of failures sent in one round trip shrinks the window once",
    [configArb, FastCheck.array(eventArb, { maxLength: 100 }), FastCheck.array(FastCheck.integer({ min: 1, max: 400 }), { minLength: 1, maxLength: 200 })],
    ([config, before, burst]) => {
      const start = run(config, before)
      // Every request of the burst was sent before any of its failures came back.
      const sentEpoch = start.epoch
      const after = burst.reduce((window, inFlight) => Adaptive.onOverload(config, window, sentEpoch, inFlight), start)
      expect(after.epoch).toBe(start.epoch + 1)
      expect(after.size).toBe(Math.max(config.min, Math.min(config.max, Math.min(start.size, burst[0]!) * config.decrease)))
      // The next round trip (sent after the decrease) may shrink it again, once.
      const next = Adaptive.onOverload(config, Adaptive.onOverload(config, after, after.epoch, 400), after.epoch, 400)
      expect(next.epoch).toBe(after.epoch + 1)
    }
  )

  it.prop(
    "successes never shrink the window",
    [configArb, FastCheck.array(eventArb, { maxLength: 200 })],
    ([config, events]) => {
      const window = run(config, events)
      const grown = Adaptive.onSuccess(config, window)
      expect(grown.size).toBeGreaterThanOrEqual(window.size)
      expect(grown.epoch).toBe(window.epoch)
    }
  )

  it.prop(
    "once failures stop, successes bring it back to max (within about max²/(2·increase) of them)",
    [configArb, FastCheck.array(eventArb, { maxLength: 200 })],
    ([config, events]) => {
      let window = run(config, events)
      // Each step adds increase/size >= increase/max, so max²/increase steps always suffice.
      const bound = Math.ceil((config.max * config.max) / config.increase) + 1
      let steps = 0
      while (window.size < config.max && steps <= bound) {
        window = Adaptive.onSuccess(config, window)
        steps++
      }
      expect(window.size).toBe(config.max)
      expect(steps).toBeLessThanOrEqual(bound)
    }
  )

  it("grows by about `increase` per window's worth of successes", () => {
    const config = { min: 1, max: 100, increase: 1, decrease: 0.5 }
    let window: Adaptive.Window = { size: 20, epoch: 0 }
    for (let i = 0; i < 20; i++) window = Adaptive.onSuccess(config, window)
    expect(window.size).toBeGreaterThan(20.9)
    expect(window.size).toBeLessThan(21)
  })

  it("a decrease starts from the requests in flight when the refused one was sent, not from a larger window", () => {
    const config = { min: 1, max: 256, increase: 1, decrease: 0.5 }
    const shrunk = Adaptive.onOverload(config, Adaptive.initial(config), 0, 21)
    expect(shrunk.size).toBe(10.5)
    expect(Adaptive.limit(shrunk)).toBe(10)
  })

  it("classifies outcomes: 429, 503, resets and timeouts are overload; other answers succeed; the rest say nothing", () => {
    expect(Adaptive.signalOfFailure({ _tag: "BadStatus", status: 429 })).toBe("overload")
    expect(Adaptive.signalOfFailure({ _tag: "BadStatus", status: 503 })).toBe("overload")
    expect(Adaptive.signalOfFailure({ _tag: "BadStatus", status: 404 })).toBe("success")
    expect(Adaptive.signalOfFailure({ _tag: "BadStatus", status: 500 })).toBe("success")
    expect(Adaptive.signalOfFailure({ _tag: "ConnectionError", reason: "Reset" })).toBe("overload")
    expect(Adaptive.signalOfFailure({ _tag: "ConnectionError", reason: "Refused" })).toBe("neutral")
    expect(Adaptive.signalOfFailure({ _tag: "Timeout", phase: "headers" })).toBe("overload")
    expect(Adaptive.signalOfFailure({ _tag: "Timeout", phase: "deadline" })).toBe("neutral")
    expect(Adaptive.signalOfFailure({ _tag: "DecodeError" })).toBe("neutral")
    expect(Adaptive.signalOfFailure("boom")).toBe("neutral")
  })
})

describe("the origin-wide Retry-After rule (pure)", () => {
  it.prop(
    "refusals sent during the first wait never pause the origin",
    [FastCheck.array(FastCheck.tuple(FastCheck.string(), FastCheck.integer({ min: 0, max: 999 })), { maxLength: 100 })],
    ([refusals]) => {
      let episode = Adaptive.onRefusal(undefined, "/first", 0, 1000).episode
      for (const [path, sentAt] of refusals) {
        const refusal = Adaptive.onRefusal(episode, path, sentAt, sentAt + 1000)
        expect(refusal.pauseUntil).toBeUndefined()
        episode = refusal.episode
      }
    }
  )

  it("4 distinct paths sent after the first wait pause the origin until the latest time asked; repeats do not count", () => {
    let episode = Adaptive.onRefusal(undefined, "/a", 0, 1000).episode
    const steps: Array<readonly [string, number]> = [["/b", 1000], ["/b", 1001], ["/c", 1002], ["/d", 1003]]
    for (const [path, at] of steps) {
      const refusal = Adaptive.onRefusal(episode, path, at, at + 5000)
      expect(refusal.pauseUntil).toBeUndefined()
      episode = refusal.episode
    }
    const last = Adaptive.onRefusal(episode, "/e", 1004, 2004)
    expect(last.pauseUntil).toBe(6003)
  })
})

/** A DemoServer and an adaptive session on it. */
const withAdaptive = <A, E>(
  options: Session.Options,
  body: (server: DemoServer.DemoServer) => Effect.Effect<A, E, Session.Session>
) => Effect.scoped(Effect.flatMap(DemoServer.make(), (server) => body(server).pipe(Effect.provide(Session.layer({ baseUrl: server.baseUrl, ...options })))))

describe("the adaptive window at a server", () => {
  it.live(
    "converges near a hidden capacity (k = 10) from a start of 64, and wastes few requests",
    () =>
      withAdaptive({ adaptive: { max: 64 }, retry: { times: 20 } }, (server) =>
        Effect.gen(function*() {
          const origin = new URL(server.baseUrl).origin
          // The window after each completion, in completion order.
          const samples: Array<number> = []
          const inputs = Array.from({ length: 200 }, (_, i) => i)
          const results = yield* Gather.forEach(
            inputs,
            (i) =>
              Fetch.get(`/capacity?k=10&ms=150&retryAfter=0&i=${i}`).pipe(
                Effect.tap(() => Effect.map(Session.windows, (windows) => samples.push(windows[origin]!)))
              ),
            { concurrency: 64, mode: "settle" }
          )
          const ok = results.filter(Either.isRight)
          expect(ok.length).toBe(inputs.length)
          const refused = ok.reduce((sum, result) => sum + result.right.attempts - 1, 0)
          // A fixed 64 would be refused 54 times per round of 150 ms, for the whole run.
          expect(refused).toBeLessThan(250)
          // The last two thirds of the run: the window has left 64 for the capacity.
          const settled = samples.slice(70).sort((a, b) => a - b)
          const median = settled[Math.floor(settled.length / 2)]!
          // The window counts a request from its send to its response read, the
          // server only while it serves it (150 ms, long next to the event loop's
          // delays on a busy machine): the window settles near k, at most a little above.
          expect(median).toBeGreaterThanOrEqual(4)
          expect(median).toBeLessThanOrEqual(20)
          const stats = yield* server.stats
          expect(stats.requests).toBe(inputs.length + refused)
          console.log(`adaptive at /capacity?k=10: median window ${median} after the first 70, ${refused} refused`)
        })),
    { timeout: 60_000 }
  )

  it.live(
    "one window per origin, shared by two gathers at once; shown in Progress and in the Metrics gauge",
    () =>
      withAdaptive({ adaptive: { max: 32 }, retry: { times: 20 }, metrics: true }, (server) =>
        Effect.gen(function*() {
          const progress = yield* Progress.make
          const gather = Gather.forEach(
            Array.from({ length: 150 }, (_, i) => i),
            (i) => Fetch.get(`/capacity?k=6&ms=10&retryAfter=0&i=${i}`),
            { concurrency: 32, progress }
          )
          yield* Effect.all([gather, gather], { concurrency: 2 })
          const origin = new URL(server.baseUrl).origin
          const snapshot = yield* progress.snapshot
          const window = snapshot.windows[origin]
          expect(window).toBeDefined()
          expect(window!).toBeLessThan(32)
          // Both gathers together never held more than k = 6 for long: the server's
          // peak stays far below the 64 the two gathers could have sent.
          expect((yield* server.stats).peakInFlight).toBeLessThan(40)
          const gauge = yield* Metric.value(Metrics.adaptiveWindow.pipe(Metric.tagged("host", origin)))
          expect(gauge.value).toBe(window)
        })),
    { timeout: 60_000 }
  )

  it.live("with nothing failing the window stays at max and never holds a request back", () =>
    withAdaptive({ adaptive: true, maxConnectionsPerHost: 16 }, (server) =>
      Effect.gen(function*() {
        const progress = yield* Progress.make
        // Long requests, so all 16 overlap at the server even on a busy machine.
        yield* Gather.forEach(Array.from({ length: 48 }, (_, i) => i), (i) => Fetch.get(`/delay/300?i=${i}`), {
          concurrency: 16,
          progress
        })
        expect((yield* progress.snapshot).windows[new URL(server.baseUrl).origin]).toBe(16)
        expect((yield* server.stats).peakInFlight).toBe(16)
      })))

  it.live("requests whose deadline passes while they wait for a slot give nothing back twice and keep nothing", () =>
    withAdaptive({ adaptive: { max: 2 } }, (server) =>
      Effect.gen(function*() {
        const slow = yield* Effect.fork(Gather.all([Fetch.get("/delay/300"), Fetch.get("/delay/300")], { concurrency: 2 }))
        yield* Effect.sleep("50 millis")
        const waiting = yield* Gather.forEach(Array.from({ length: 6 }, (_, i) => i), (i) => Fetch.get(`/json/w${i}`), {
          concurrency: 6,
          mode: "settle",
          deadline: "100 millis"
        })
        expect(waiting.every(Either.isLeft)).toBe(true)
        yield* Fiber.join(slow)
        yield* server.resetStats
        // The window still holds exactly 2: no slot leaked, none handed out twice.
        yield* Gather.all(Array.from({ length: 8 }, (_, i) => Fetch.get(`/delay/30?i=${i}`)), { concurrency: 8 })
        expect((yield* server.stats).peakInFlight).toBe(2)
        expect((yield* Session.windows)[new URL(server.baseUrl).origin]).toBe(2)
      })))

  it.effect("a refused request's retry waits what Retry-After asked, while the window lets others through (TestClock)", () =>
    withAdaptive({ adaptive: { max: 8 }, retry: { times: 1 } }, () =>
      Effect.gen(function*() {
        const refused = yield* Effect.fork(Fetch.get("/retry-after/3?status=503&times=1&key=tc"))
        // Others go on at once (the server runs on real time, the retry waits on the TestClock).
        const others = yield* Gather.all(Array.from({ length: 8 }, (_, i) => Fetch.get(`/json/o${i}`)), { concurrency: 8 })
        expect(others.every((r) => r.status === 200)).toBe(true)
        yield* TestClock.adjust("2999 millis")
        yield* realSleep(100)
        expect(Option.isNone(yield* Fiber.poll(refused))).toBe(true)
        yield* TestClock.adjust("1 millis")
        const retried = yield* Fiber.join(refused)
        expect(retried.status).toBe(200)
        expect(retried.attempts).toBe(2)
      })))
})
