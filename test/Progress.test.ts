import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Metric, MetricState, Stream } from "effect"
import * as DemoServer from "../src/DemoServer.js"
import * as Fetch from "../src/Fetch.js"
import * as Gather from "../src/Gather.js"
import * as Metrics from "../src/Metrics.js"
import * as Progress from "../src/Progress.js"
import * as Session from "../src/Session.js"

const withServer = <A, E>(
  f: (server: DemoServer.DemoServer) => Effect.Effect<A, E, Session.Session>,
  options: Session.Options = {}
) =>
  Effect.scoped(
    Effect.flatMap(DemoServer.make(), (server) => f(server).pipe(Effect.provide(Session.layer({ baseUrl: server.baseUrl, retry: false, ...options }))))
  )

describe("Progress", () => {
  it.live("counts started, succeeded, failed by tag and bytes of a settled gather", () =>
    withServer(() =>
      Effect.gen(function*() {
        const progress = yield* Progress.make
        const urls = ["/bytes/100", "/bytes/250", "/status/404", "/status/503", "file:///x", "/bytes/0"]
        yield* Gather.forEach(urls, (url) => Fetch.get(url), { concurrency: 3, mode: "settle", progress })
        const s = yield* progress.snapshot
        expect(s.started).toBe(6)
        expect(s.succeeded).toBe(3)
        expect(s.failed).toBe(3)
        expect(s.failedByTag).toEqual({ BadStatus: 2, InvalidUrl: 1 })
        expect(s.bytes).toBe(350)
        expect(s.inFlight).toBe(0)
        expect(s.ratePerSecond).toBeGreaterThan(0)
      })
    ))

  it.live("sees requests in flight while a gather runs, and samples as a stream", () =>
    withServer(() =>
      Effect.gen(function*() {
        const progress = yield* Progress.make
        const fiber = yield* Effect.fork(
          Gather.all(Array.from({ length: 4 }, () => Fetch.get("/delay/300")), { concurrency: 4, progress })
        )
        const samples = yield* Progress.changes(progress, "20 millis").pipe(
          Stream.takeUntil((s) => s.inFlight === 4),
          Stream.runCollect,
          Effect.timeout("2 seconds")
        )
        expect(Chunk.last(samples).pipe((o) => o._tag === "Some" && o.value.inFlight)).toBe(4)
        yield* fiber.await
        expect((yield* progress.snapshot).succeeded).toBe(4)
      })
    ))

  it.live("interrupted work is not left counted as in flight", () =>
    withServer(() =>
      Effect.gen(function*() {
        const progress = yield* Progress.make
        const exit = yield* Gather.all([Fetch.get("/status/500"), Fetch.get("/hang"), Fetch.get("/hang")], {
          concurrency: 3,
          progress
        }).pipe(Effect.exit)
        expect(exit._tag).toBe("Failure")
        const s = yield* progress.snapshot
        expect(s.started).toBe(3)
        expect(s.failed).toBe(1)
        expect(s.inFlight).toBe(0)
      })
    ))
})

describe("Metrics", () => {
  it.live("a session with metrics: true records durations by host and status, and outcomes", () =>
    withServer((server) =>
      Effect.gen(function*() {
        const okBefore = (yield* Metric.value(Metrics.fetches.pipe(Metric.tagged("outcome", "ok")))).count
        const badBefore = (yield* Metric.value(Metrics.fetches.pipe(Metric.tagged("outcome", "BadStatus")))).count
        yield* Gather.settle([Fetch.get("/empty"), Fetch.get("/empty"), Fetch.get("/status/404")])
        expect((yield* Metric.value(Metrics.fetches.pipe(Metric.tagged("outcome", "ok")))).count - okBefore).toBe(2)
        expect((yield* Metric.value(Metrics.fetches.pipe(Metric.tagged("outcome", "BadStatus")))).count - badBefore).toBe(1)
        const histogram = yield* Metric.value(
          Metrics.requestDuration.pipe(Metric.tagged("host", server.baseUrl), Metric.tagged("status", "200"))
        )
        expect(MetricState.isHistogramState(histogram)).toBe(true)
        expect(histogram.count).toBe(2)
      }), { metrics: true }))

  it.live("a session without metrics records nothing", () =>
    withServer((server) =>
      Effect.gen(function*() {
        yield* Fetch.get("/empty")
        const histogram = yield* Metric.value(
          Metrics.requestDuration.pipe(Metric.tagged("host", server.baseUrl), Metric.tagged("status", "200"))
        )
        expect(histogram.count).toBe(0)
      })
    ))
})
