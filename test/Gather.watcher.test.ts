/**
 * A watcher written by a user, passed as `watch`: every start and every end
 * (success, typed failure, interruption) reaches it, each end with the
 * start moment of its item, through `Gather.all`, `Gather.forEach` (on the
 * fast path, with real fetches) and `Gather.stream`. The counts are exact,
 * so a watcher the gather forgot to call fails them.
 */
import { describe, expect, it, layer } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as Fetch from "../src/Fetch.js"
import * as Gather from "../src/Gather.js"
import * as Session from "../src/Session.js"
import { realSleep, serverAndSession } from "./support.js"

interface Counts {
  readonly started: number
  readonly succeeded: number
  readonly failed: number
  readonly interrupted: number
}

/** A watcher as a user writes one: plain functions over its own state. */
const recording = () => {
  const starts: Array<number> = []
  const ends: Array<number> = []
  const values: Array<unknown> = []
  const errors: Array<unknown> = []
  const gathers: Array<{ readonly concurrency: Gather.Concurrency; readonly hasSession: boolean }> = []
  let interrupted = 0
  const watcher: Gather.Watcher = {
    onGather: (concurrency, context) => {
      gathers.push({ concurrency, hasSession: Context.getOption(context, Session.Session)._tag === "Some" })
    },
    onStart: (startedAt) => {
      starts.push(startedAt)
    },
    onSuccess: (value, startedAt) => {
      values.push(value)
      ends.push(startedAt)
    },
    onFailure: (error, startedAt) => {
      errors.push(error)
      ends.push(startedAt)
    },
    onInterrupt: (startedAt) => {
      interrupted++
      ends.push(startedAt)
    }
  }
  const counts = (): Counts => ({ started: starts.length, succeeded: values.length, failed: errors.length, interrupted })
  /** Every item ended once, and each end named the start moment of an item that started. */
  const expectEachEndedOnce = () => {
    const byTime = (a: number, b: number) => a - b
    expect([...ends].sort(byTime)).toEqual([...starts].sort(byTime))
  }
  return { watcher, counts, values, errors, gathers, expectEachEndedOnce }
}

/** What a watcher sees is `unknown`: it reads a field only where there is one. */
const field = (u: unknown, name: string): unknown => typeof u === "object" && u !== null && name in u ? Reflect.get(u, name) : undefined

describe("Gather watchers of a user's own", () => {
  it.live("Gather.all tells a watcher of each start, success, failure and interruption", () =>
    Effect.gen(function*() {
      const watched = recording()
      // The first succeeds at once, its worker takes the fourth; the second
      // fails later, which interrupts the third and the fourth (fail-fast).
      const exit = yield* Gather.all([
        Effect.succeed(1),
        Effect.zipRight(realSleep(30), Effect.fail("boom")),
        Effect.never,
        Effect.never
      ], { concurrency: 3, watch: watched.watcher }).pipe(Effect.exit)
      expect(exit._tag).toBe("Failure")
      expect(watched.counts()).toEqual({ started: 4, succeeded: 1, failed: 1, interrupted: 2 })
      expect(watched.values).toEqual([1])
      expect(watched.errors).toEqual(["boom"])
      watched.expectEachEndedOnce()
      expect(watched.gathers).toEqual([{ concurrency: 3, hasSession: false }])
    }))

  it.live("several watchers in `watch` each hear every item, in a gather of the default concurrency", () =>
    Effect.gen(function*() {
      const first = recording()
      const second = recording()
      const outcomes = yield* Gather.settle([Effect.succeed("a"), Effect.fail("b"), Effect.succeed("c")], {
        watch: [first.watcher, second.watcher]
      })
      expect(outcomes.map((o) => o._tag)).toEqual(["Right", "Left", "Right"])
      for (const watched of [first, second]) {
        expect(watched.counts()).toEqual({ started: 3, succeeded: 2, failed: 1, interrupted: 0 })
        watched.expectEachEndedOnce()
        expect(watched.gathers).toEqual([{ concurrency: Gather.defaultConcurrency, hasSession: false }])
      }
    }))

  it.live("Gather.stream tells a watcher of each outcome, and of the items a stream that stops early interrupts", () =>
    Effect.gen(function*() {
      const settled = recording()
      const results = yield* Gather.stream(
        Stream.range(1, 5),
        (n) => n === 2 ? Effect.fail(`no ${n}`) : Effect.succeed(n),
        { concurrency: 2, watch: settled.watcher }
      ).pipe(Stream.runCollect)
      expect(Chunk.size(results)).toBe(5)
      expect(settled.counts()).toEqual({ started: 5, succeeded: 4, failed: 1, interrupted: 0 })
      expect(settled.errors).toEqual(["no 2"])
      settled.expectEachEndedOnce()
      expect(settled.gathers).toEqual([{ concurrency: 2, hasSession: false }])

      // The consumer takes the first outcome and stops: the two items still
      // running are interrupted, and the watcher hears of it before the
      // stream's run returns.
      const stopped = recording()
      const first = yield* Gather.stream(
        [1, 2, 3],
        (n) => n === 1 ? Effect.succeed(n) : Effect.never,
        { concurrency: 3, watch: stopped.watcher }
      ).pipe(Stream.take(1), Stream.runCollect)
      expect(Chunk.toReadonlyArray(first).map((r) => r.index)).toEqual([0])
      expect(stopped.counts()).toEqual({ started: 3, succeeded: 1, failed: 0, interrupted: 2 })
      stopped.expectEachEndedOnce()
    }))
})

layer(serverAndSession((server) => ({ baseUrl: server.baseUrl, retry: false })), { excludeTestServices: true })(
  "Gather watchers of a user's own (fetches on the fast path)",
  (it) => {
    it.effect("Gather.forEach tells a watcher of fetches run on callbacks: successes, a failure, and the gather's session", () =>
      Effect.gen(function*() {
        const watched = recording()
        const outcomes = yield* Gather.forEach(["/bytes/10", "/status/404", "/bytes/20"], (url) => Fetch.get(url), {
          concurrency: 2,
          mode: "settle",
          watch: watched.watcher
        })
        expect(outcomes.map((o) => o._tag)).toEqual(["Right", "Left", "Right"])
        expect(watched.counts()).toEqual({ started: 3, succeeded: 2, failed: 1, interrupted: 0 })
        expect(watched.values.map((v) => field(v, "bytes")).sort()).toEqual([10, 20])
        expect(watched.errors.map((e) => field(e, "_tag"))).toEqual(["BadStatus"])
        watched.expectEachEndedOnce()
        expect(watched.gathers).toEqual([{ concurrency: 2, hasSession: true }])
      }))

    it.effect("a fail-fast Gather.forEach tells a watcher of the fetches its failure interrupts", () =>
      Effect.gen(function*() {
        const watched = recording()
        const exit = yield* Gather.forEach(["/hang", "/hang", "/status/500"], (url) => Fetch.get(url), {
          concurrency: 3,
          watch: watched.watcher
        }).pipe(Effect.exit)
        expect(exit._tag).toBe("Failure")
        expect(watched.counts()).toEqual({ started: 3, succeeded: 0, failed: 1, interrupted: 2 })
        watched.expectEachEndedOnce()
      }))
  }
)
