/**
 * The adaptive per-origin window: the controller as a pure function
 * (properties), the gate that applies it (shared by every gather of a
 * session, shown in Progress and Metrics), and convergence at a DemoServer
 * route with a hidden capacity.
 */
import { describe, expect, it } from "@effect/vitest"
import { Clock, Duration, Effect, Either, FastCheck, Fiber, Metric, Option, TestClock } from "effect"
import * as DemoServer from "../src/DemoServer.js"
import * as Fetch from "../src/Fetch.js"
import * as Gather from "../src/Gather.js"
import * as Adaptive from "../src/internal/policy/adaptive.js"
import * as Hosts from "../src/internal/policy/hosts.js"
import * as Metrics from "../src/Metrics.js"
import * as Progress from "../src/Progress.js"
import * as Session from "../src/Session.js"
import { realSleep } from "./support.js"

const configArb = FastCheck.record({
  min: FastCheck.integer({ min: 1, max: 20 }),
  span: FastCheck.integer({ min: 0, max: 300 }),
  // Where `initial` sits in [min, max].
  at: FastCheck.double({ min: 0, max: 1, noNaN: true }),
  increase: FastCheck.double({ min: 0.1, max: 8, noNaN: true }),
  decrease: FastCheck.double({ min: 0.05, max: 0.95, noNaN: true })
}).map(({ at, decrease, increase, min, span }): Adaptive.AdaptiveConfig => ({
  initial: min + Math.floor(at * span),
  min,
  max: min + span,
  increase,
  decrease
}))

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
      expect(window.size).toBe(config.initial)
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
      // One decrease, measured from the smallest flight size refused in the burst.
      const smallest = Math.max(1, Math.min(...burst))
      expect(after.size).toBeCloseTo(Math.max(config.min, Math.min(config.max, Math.min(start.size, smallest) * config.decrease)), 9)
      // The refused flight size is the ceiling; slow start brings the window back to just below it.
      // The ceiling is the smallest flight size refused in the burst.
      const flight = Math.max(1, Math.min(...burst))
      expect(after.ceiling).toBe(flight)
      expect(after.threshold).toBe(Math.max(after.size, Math.min(config.max, flight - 1)))
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
    "once failures stop, successes bring it back to max (within max²/increase + (maxHold + 2)·max of them)",
    [configArb, FastCheck.array(eventArb, { maxLength: 200 })],
    ([config, events]) => {
      let window = run(config, events)
      // Additive steps add increase/size >= increase/max, so max²/increase of them always suffice;
      // the hold below a ceiling lasts at most maxHold round trips, and slow start at most max steps.
      const bound = Math.ceil((config.max * config.max) / config.increase) + (Adaptive.maxHold + 2) * config.max + 1
      let steps = 0
      while (window.size < config.max && steps <= bound) {
        window = Adaptive.onSuccess(config, window)
        steps++
      }
      expect(window.size).toBe(config.max)
      expect(steps).toBeLessThanOrEqual(bound)
    }
  )

  it.prop(
    "without refusals a new window reaches max in about log2(max / initial) round trips (slow start)",
    [configArb],
    ([config]) => {
      let window = Adaptive.initial(config)
      let rounds = 0
      // A round trip: every request the window allows comes back a success.
      while (window.size < config.max && rounds <= 64) {
        const allowed = Adaptive.limit(window)
        for (let i = 0; i < allowed; i++) window = Adaptive.onSuccess(config, window)
        rounds++
      }
      expect(window.size).toBe(config.max)
      expect(rounds).toBeLessThanOrEqual(Math.ceil(Math.log2(config.max / config.initial)) + 1)
    }
  )

  it.prop(
    "a refusal of the current round trip leaves at most decrease × the window before it (never below min); an older one changes nothing",
    [configArb, FastCheck.array(eventArb, { maxLength: 200 }), FastCheck.integer({ min: 1, max: 400 }), FastCheck.integer({ min: 1, max: 3 })],
    ([config, events, inFlight, age]) => {
      const before = run(config, events)
      const after = Adaptive.onOverload(config, before, before.epoch, inFlight)
      expect(after.size).toBeLessThanOrEqual(Math.max(config.min, config.decrease * before.size))
      expect(after.epoch).toBe(before.epoch + 1)
      const stale = Adaptive.onOverload(config, after, after.epoch - age, inFlight)
      // An older refusal never shrinks the window again; one of the burst just answered may only lower the ceiling.
      expect(stale.size).toBe(after.size)
      expect(stale.epoch).toBe(after.epoch)
      expect(stale.ceiling).toBeLessThanOrEqual(after.ceiling)
      expect(stale.threshold).toBeLessThanOrEqual(after.threshold)
      if (age > 1) expect(stale).toEqual(after)
    }
  )

  it.prop(
    "after a refusal the window is back just below the refused flight size in slow start, and holds there a round trip",
    [configArb, FastCheck.array(eventArb, { maxLength: 200 }), FastCheck.integer({ min: 2, max: 400 })],
    ([config, events, inFlight]) => {
      const refused = Adaptive.onOverload(config, run(config, events), Number.MAX_SAFE_INTEGER, inFlight)
      const target = Math.floor(Math.max(refused.size, Math.min(config.max, inFlight - 1)))
      let window = refused
      let steps = 0
      // Slow start: one success per step adds 1, so a round trip of them doubles the window.
      while (Adaptive.limit(window) < target && steps <= 1000) {
        window = Adaptive.onSuccess(config, window)
        steps++
      }
      expect(steps).toBeLessThanOrEqual(Math.ceil(target - refused.size))
      if (inFlight - 1 >= refused.size && inFlight <= config.max) {
        // Held: a round trip of successes at the ceiling's edge leaves it where it is.
        const held = window.size
        for (let i = 0; i < Adaptive.limit(window); i++) window = Adaptive.onSuccess(config, window)
        expect(window.size).toBe(held)
        expect(Adaptive.limit(window)).toBe(inFlight - 1)
      }
    }
  )

  /**
   * Round trips against a server that refuses whatever is in flight above
   * `capacity(round)`, answering refusals first; the window's limit after each.
   */
  const simulate = (config: Adaptive.AdaptiveConfig, rounds: number, capacity: (round: number) => number) => {
    let window = Adaptive.initial(config)
    // Every answer goes through judge, as in the session's gate (hosts.ts).
    const answers = new Adaptive.Answers(config.max)
    const answer = (signal: "success" | "overload", epoch: number, flight: number) => {
      window = Adaptive.update(config, window, Adaptive.judge(answers, window, signal, flight), epoch, flight)
    }
    let refusedRounds = 0
    const limits: Array<number> = []
    for (let round = 0; round < rounds; round++) {
      const allowed = Adaptive.limit(window)
      const epoch = window.epoch
      const k = capacity(round)
      if (allowed > k) refusedRounds++
      for (let flight = k + 1; flight <= allowed; flight++) answer("overload", epoch, flight)
      for (let flight = 1; flight <= Math.min(allowed, k); flight++) answer("success", epoch, flight)
      limits.push(Adaptive.limit(window))
    }
    return { limits, refusedRounds }
  }

  /**
   * Round trips against a server that refuses a `share` of requests at
   * random whatever the load (per-route limits, bench B); every request is
   * sent with the window full. `judged: false` feeds every refusal to the
   * window as overload, as before refusals were judged.
   */
  const simulateRandomRefusals = (config: Adaptive.AdaptiveConfig, rounds: number, share: number, judged: boolean) => {
    let window = Adaptive.initial(config)
    const answers = new Adaptive.Answers(config.max)
    let seed = 12345
    const random = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296
    const limits: Array<number> = []
    for (let round = 0; round < rounds; round++) {
      const allowed = Adaptive.limit(window)
      const epoch = window.epoch
      for (let i = 0; i < allowed; i++) {
        const signal = random() < share ? "overload" : "success"
        const given = judged ? Adaptive.judge(answers, window, signal, allowed) : signal
        window = Adaptive.update(config, window, given, epoch, allowed)
      }
      limits.push(Adaptive.limit(window))
    }
    return limits
  }

  it("refusals that come at random whatever the load do not shrink the window; taken as overload they starve it", () => {
    const config = { initial: 10, min: 1, max: 32, increase: 1, decrease: 0.7 }
    expect(median(simulateRandomRefusals(config, 400, 0.04, true).slice(20))).toBe(32)
    // The same refusals, every one read as congestion (the rule before judge): far below max.
    expect(median(simulateRandomRefusals(config, 400, 0.04, false).slice(20))).toBeLessThanOrEqual(12)
  })

  it("judge: a refusal counts as overload when at least a quarter of the recent answers at its flight size or above were refusals", () => {
    const answers = new Adaptive.Answers(32)
    const window = Adaptive.initial({ initial: 10, min: 1, max: 32, increase: 1, decrease: 0.7 })
    // Nothing known yet: a refusal is overload.
    expect(Adaptive.judge(answers, window, "overload", 5)).toBe("overload")
    for (let i = 0; i < 8; i++) expect(Adaptive.judge(answers, window, "success", 5)).toBe("success")
    // 2 refused of 10 at flight >= 5: below a quarter, not about load.
    expect(Adaptive.judge(answers, window, "overload", 5)).toBe("neutral")
    // Above any flight served: overload.
    expect(Adaptive.judge(answers, window, "overload", 6)).toBe("overload")
    // Neutral answers are not counted.
    expect(Adaptive.judge(answers, window, "neutral", 5)).toBe("neutral")
  })
  const median = (values: ReadonlyArray<number>) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!

  it("holds at a server's capacity with refusals only in rare probes, longer each time the same limit is confirmed", () => {
    const config = { initial: 10, min: 1, max: 256, increase: 1, decrease: 0.7 }
    const { limits, refusedRounds } = simulate(config, 1000, () => 20)
    expect(median(limits.slice(50))).toBe(20)
    // Plain AIMD probes every few round trips (one refusal per about 7 here); holds that double to maxHold probe ~1000/33 times.
    expect(refusedRounds).toBeLessThanOrEqual(Math.ceil(1000 / Adaptive.maxHold) + 10)
  })

  it("each confirmation of the same ceiling makes the hold four times longer, up to maxHold; a refusal well below resets it", () => {
    const config = { initial: 10, min: 1, max: 256, increase: 1, decrease: 0.7 }
    let window = Adaptive.onOverload(config, Adaptive.initial(config), 0, 21)
    const holds = [window.hold]
    for (let i = 0; i < 6; i++) {
      window = Adaptive.onOverload(config, window, window.epoch, 21)
      holds.push(window.hold)
    }
    expect(holds).toEqual([1, 4, 16, 64, 256, 256, 256])
    expect(Adaptive.maxHold).toBe(256)
    expect(Adaptive.onOverload(config, window, window.epoch, 10).hold).toBe(1)
  })

  it("follows a capacity that halves down, and finds it again when it comes back", () => {
    const config = { initial: 10, min: 1, max: 256, increase: 1, decrease: 0.7 }
    const { limits } = simulate(config, 900, (round) => round >= 300 && round < 600 ? 10 : 20)
    expect(median(limits.slice(320, 600))).toBeLessThanOrEqual(10)
    expect(median(limits.slice(320, 600))).toBeGreaterThanOrEqual(8)
    const back = limits.slice(600).findIndex((limit) => limit >= 19)
    expect(back).toBeGreaterThanOrEqual(0)
    expect(back).toBeLessThanOrEqual(Adaptive.maxHold + 20)
    expect(median(limits.slice(700))).toBe(20)
  })

  it("slow start doubles the window per round trip: 10, 20, 40, 80, then max", () => {
    const config = { initial: 10, min: 1, max: 100, increase: 1, decrease: 0.7 }
    let window = Adaptive.initial(config)
    const sizes = [Adaptive.limit(window)]
    for (let round = 0; round < 4; round++) {
      const allowed = Adaptive.limit(window)
      for (let i = 0; i < allowed; i++) window = Adaptive.onSuccess(config, window)
      sizes.push(Adaptive.limit(window))
    }
    expect(sizes).toEqual([10, 20, 40, 80, 100])
  })

  it("grows by about `increase` per window's worth of successes once slow start has ended", () => {
    const config = { initial: 10, min: 1, max: 100, increase: 1, decrease: 0.5 }
    // Past slow start (threshold reached).
    let window: Adaptive.Window = { ...Adaptive.initial(config), size: 20, threshold: 20, epoch: 1 }
    for (let i = 0; i < 20; i++) window = Adaptive.onSuccess(config, window)
    expect(window.size).toBeGreaterThan(20.9)
    expect(window.size).toBeLessThan(21)
  })

  it("a decrease starts from the requests in flight when the refused one was sent, not from a larger window", () => {
    const config = { initial: 256, min: 1, max: 256, increase: 1, decrease: 0.5 }
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

describe("the adaptive options, normalized once", () => {
  it("defaults: initial 10 (TCP's initial window), min 1, increase 1, decrease 0.7, max the session's per-origin limit", () => {
    expect(Adaptive.normalize(true, 128)).toEqual({ initial: 10, min: 1, max: 128, increase: 1, decrease: 0.7 })
    expect(Adaptive.normalize({ max: 256 }, 128)).toEqual({ initial: 10, min: 1, max: 256, increase: 1, decrease: 0.7 })
    expect(Adaptive.normalize(false, 128)).toBeUndefined()
    expect(Adaptive.normalize(undefined, 128)).toBeUndefined()
  })

  it("the default start is clamped into [min, max]; a given one must lie there", () => {
    expect(Adaptive.normalize({ max: 4 }, 128)?.initial).toBe(4)
    expect(Adaptive.normalize({ min: 16, max: 64 }, 128)?.initial).toBe(16)
    expect(Adaptive.normalize({ initial: 64, max: 64 }, 128)?.initial).toBe(64)
    expect(() => Adaptive.normalize({ initial: 65, max: 64 }, 128)).toThrow(/adaptive\.initial \(65\)/)
    expect(() => Adaptive.normalize({ initial: 2, min: 4 }, 128)).toThrow(/adaptive\.initial \(2\)/)
  })

  it.each([
    [{ initial: 0 }, /adaptive\.initial/],
    [{ initial: 2.5 }, /adaptive\.initial/],
    [{ max: 0 }, /adaptive\.max/],
    [{ min: -1 }, /adaptive\.min/],
    [{ min: 8, max: 4 }, /adaptive\.min \(8\) must not exceed/],
    [{ increase: 0 }, /adaptive\.increase/],
    [{ increase: Number.POSITIVE_INFINITY }, /adaptive\.increase/],
    [{ decrease: 1 }, /adaptive\.decrease/],
    [{ decrease: Number.NaN }, /adaptive\.decrease/]
  ])("refuses %j with an error naming the field", (options, message) => {
    expect(() => Adaptive.normalize(options, 128)).toThrow(message)
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

/**
 * The session's gate (hosts.ts) over a stand-in origin on the TestClock,
 * so that rounds, capacity changes and completion times are exact: each
 * request holds one of `capacity(now)` places for `serviceMs`, and one that
 * finds them all taken is refused at once (a 503 that reaches the client
 * 1 ms later, as the bench's capacity target does); a refused request is
 * sent again after `retryMs`.
 * The real server's version of this is the DemoServer `/capacity` test
 * below; this one makes time deterministic.
 */
const simulate = (options: {
  readonly adaptive: Adaptive.AdaptiveConfig
  readonly capacity: (now: number) => number
  readonly n: number
  readonly workers: number
  readonly serviceMs: number
  readonly retryMs: number
}) =>
  Effect.scoped(Effect.gen(function*() {
    const scope = yield* Effect.scope
    const hosts = Hosts.make(
      {
        maxInFlight: undefined,
        maxInFlightPerOrigin: undefined,
        ratePerOrigin: undefined,
        adaptive: options.adaptive,
        retryAfter: "request",
        metrics: false
      },
      scope,
      60_000
    )
    const origin = "http://stand-in"
    let serving = 0
    let peakBeforeFirstAnswer = 0
    let answered = false
    let refused = 0
    let done = 0
    let next = 0
    const request = Effect.flatMap(Clock.currentTimeMillis, (now) => {
      if (serving >= options.capacity(now)) {
        refused++
        // The refusal takes a moment to come back: whatever was sent meanwhile is sent.
        return Effect.zipRight(Effect.sleep("1 millis"), Effect.fail({ _tag: "BadStatus", status: 503 } as const))
      }
      serving++
      if (!answered) peakBeforeFirstAnswer = Math.max(peakBeforeFirstAnswer, serving)
      return Effect.sleep(Duration.millis(options.serviceMs)).pipe(Effect.ensuring(Effect.sync(() => {
        serving--
        answered = true
      })))
    })
    const one: Effect.Effect<void> = hosts.gate(origin, request, undefined, () => "deadline" as const).pipe(
      Effect.catchAll(() => Effect.zipRight(Effect.sleep(Duration.millis(options.retryMs)), one))
    )
    const worker = Effect.suspend(function loop(): Effect.Effect<void> {
      if (next >= options.n) return Effect.void
      next++
      return Effect.zipRight(one, Effect.suspend(() => (done++, loop())))
    })
    yield* Effect.forkScoped(Effect.all(Array.from({ length: options.workers }, () => worker), { concurrency: "unbounded" }))
    // [ms, window] every 10 ms of TestClock time, until every request is done.
    const trace: Array<readonly [number, number]> = []
    let now = 0
    while (done < options.n && now < 120_000) {
      yield* TestClock.adjust("10 millis")
      now += 10
      trace.push([now, hosts.windows()[origin] ?? 0])
    }
    return { completedMs: now, refused, peakBeforeFirstAnswer, trace }
  }))

const median = (values: ReadonlyArray<number>): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!
const windowsIn = (trace: ReadonlyArray<readonly [number, number]>, from: number, to: number) => trace.filter(([t]) => t >= from && t < to).map(([, w]) => w)

describe("the adaptive gate over time (TestClock, a stand-in origin)", () => {
  const config = (max: number): Adaptive.AdaptiveConfig => Adaptive.normalize({ max }, max)!

  it.effect("starts at `initial`, slow-starts to the capacity within a few round trips, and wastes little", () =>
    Effect.gen(function*() {
      const result = yield* simulate({
        adaptive: config(64),
        capacity: () => 20,
        n: 600,
        workers: 64,
        serviceMs: 100,
        retryMs: 1000
      })
      // Before the origin's first answer, no more than the initial window was sent
      // (starting at max, 64 were sent at once and 44 of them refused).
      expect(result.peakBeforeFirstAnswer).toBe(10)
      // Starting at max (64) wasted 94 here, sending 64 at once into a capacity of 20.
      expect(result.refused).toBeLessThanOrEqual(40)
      // Near K = 20 from the third round trip on.
      const settled = windowsIn(result.trace, 300, result.completedMs - 200)
      expect(median(settled)).toBeGreaterThanOrEqual(14)
      expect(Math.max(...settled)).toBeLessThanOrEqual(22)
      // The best fixed client (20 in flight) needs 600 / 20 × 100 ms = 3 s; the
      // requests refused near the end add one Retry-After wait (1 s) to it.
      expect(result.completedMs).toBeLessThanOrEqual(1.2 * 3000 + 1000)
    }))

  it.effect("follows a capacity that halves half-way and comes back: down within a few round trips, then up again", () =>
    Effect.gen(function*() {
      // K = 20 until 1.5 s, 10 until 3 s, 20 again.
      const capacity = (now: number) => now >= 1500 && now < 3000 ? 10 : 20
      const result = yield* simulate({ adaptive: config(64), capacity, n: 900, workers: 64, serviceMs: 100, retryMs: 200 })
      const before = windowsIn(result.trace, 500, 1500)
      const halved = windowsIn(result.trace, 2000, 3000)
      const restored = windowsIn(result.trace, 3800, result.completedMs - 200)
      expect(median(before)).toBeGreaterThanOrEqual(14)
      expect(Math.max(...halved)).toBeLessThanOrEqual(11)
      expect(median(halved)).toBeGreaterThanOrEqual(6)
      expect(median(restored)).toBeGreaterThanOrEqual(14)
      // An oracle that switches its concurrency with the capacity: 300 requests by
      // 1.5 s, 150 more by 3 s, the last 450 at 200/s: 5.25 s.
      expect(result.completedMs).toBeLessThanOrEqual(1.3 * 5250)
      console.log(
        `stand-in C: ${result.completedMs} ms (oracle 5250), ${result.refused} refused; windows: before ${median(before)}, halved ${median(halved)}, restored ${
          median(restored)
        }`
      )
    }))
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
      withAdaptive({ adaptive: { max: 64, initial: 64 }, retry: { times: 20 } }, (server) =>
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

  it.live("a new origin gets `initial` requests before its first answer, not `max`", () =>
    withAdaptive({ adaptive: { max: 32 }, maxConnectionsPerHost: 32 }, (server) =>
      Effect.gen(function*() {
        // 32 long requests at once: the first round trip holds 10 (the default start).
        const gather = yield* Effect.fork(
          Gather.forEach(Array.from({ length: 32 }, (_, i) => i), (i) => Fetch.get(`/delay/600?i=${i}`), { concurrency: 32 })
        )
        yield* realSleep(400)
        expect((yield* server.stats).peakInFlight).toBe(10)
        yield* Fiber.join(gather)
      })))

  it.live("with nothing failing the window slow-starts to max (doubling per round trip) and then holds nothing back", () =>
    withAdaptive({ adaptive: true, maxConnectionsPerHost: 16 }, (server) =>
      Effect.gen(function*() {
        const progress = yield* Progress.make
        // Long requests, so all 16 overlap at the server even on a busy machine;
        // the window starts at 10 and reaches 16 within the second round trip.
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
