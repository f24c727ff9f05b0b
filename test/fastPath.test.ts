/**
 * The callback fast path of a Gather (plain `Fetch` effects started without
 * a fiber step per request) against the ordinary fiber path: the same inputs
 * must give the same outcomes, attempts and redirect chains, and the server
 * must see the same requests.
 */
import { describe, expect, it, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FastCheck from "effect/FastCheck"
import * as Fiber from "effect/Fiber"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as Supervisor from "effect/Supervisor"
import * as DemoServer from "../src/DemoServer.js"
import * as Fetch from "../src/Fetch.js"
import type * as FetchError from "../src/FetchError.js"
import * as Gather from "../src/Gather.js"
import { isFastPath } from "../src/internal/engine/fastPath.js"
import { FetchEffect, runOnEngine } from "../src/internal/fetch.js"
import * as Session from "../src/Session.js"
import { eventually, settledStats } from "./support.js"

const kinds = [
  "ok",
  "text",
  "json",
  "bad-json",
  "404",
  "503-retried",
  "retry-after",
  "flaky",
  "hang",
  "reset",
  "redirect",
  "redirect-loop",
  "gzip",
  "invalid",
  "big",
  "post-text",
  "post-json",
  "put-bytes",
  "post-form",
  "post-303",
  "post-307",
  "post-retry-after",
  "head"
] as const
type Kind = typeof kinds[number]

const Named = Schema.Struct({ name: Schema.String })
/** What /echo saw; a form's body is left out (its boundary differs per request). */
const Echoed = Schema.Struct({ method: Schema.String, body: Schema.String })
const EchoedMethod = Schema.Struct({ method: Schema.String })

/** Every input is a plain Fetch effect: what the fast path recognises. */
const fetchOf = (kind: Kind, i: number, run: string): Effect.Effect<Fetch.FetchResponse<unknown>, FetchError.FetchError, Session.Session> => {
  switch (kind) {
    case "ok":
      return Fetch.get(`/bytes/${i % 50}`)
    case "text":
      return Fetch.text(`/json/t${i}`)
    case "json":
      return Fetch.json(`/json/j${i}`, Named)
    case "bad-json":
      return Fetch.json("/bad-json", Schema.Unknown)
    case "404":
      return Fetch.get("/status/404")
    case "503-retried":
      return Fetch.get("/status/503")
    case "retry-after":
      return Fetch.get(`/retry-after/0?status=429&times=1&key=${run}-${i}`)
    case "flaky":
      return Fetch.text(`/flaky?p=0.5&seed=${i}`)
    case "hang":
      return Fetch.get("/hang", { timeout: { headers: "200 millis" } })
    case "reset":
      return Fetch.get("/reset")
    case "redirect":
      return Fetch.get(`/redirect/${1 + (i % 3)}`)
    case "redirect-loop":
      return Fetch.get("/redirect-loop")
    case "gzip":
      return Fetch.text("/gzip")
    case "invalid":
      return Fetch.get("http://[::1")
    case "big":
      return Fetch.get("/bytes/4096", { maxBodyBytes: 1000 })
    // The method helpers build the same fetch: a body of bytes takes the
    // fast path, a form is encoded on the fiber path; a 303 turns a POST
    // into a GET without body, a 307 sends it again; a POST is not retried.
    case "post-text":
      return Fetch.post("/echo", { text: `t${i}`, schema: Echoed })
    case "post-json":
      return Fetch.post("/echo", { json: { i }, schema: Echoed })
    case "put-bytes":
      return Fetch.put("/echo", { bytes: new Uint8Array([i % 256, 1, 2]), schema: Echoed })
    case "post-form": {
      const form = new FormData()
      form.set("i", String(i))
      return Fetch.post("/echo", { form, schema: EchoedMethod })
    }
    case "post-303":
      return Fetch.post("/redirect-to?url=/echo&status=303", { text: `r${i}`, schema: Echoed })
    case "post-307":
      return Fetch.post("/redirect-to?url=/echo&status=307", { text: `r${i}`, schema: Echoed })
    case "post-retry-after":
      return Fetch.post(`/retry-after/0?status=429&times=1&key=${run}-${i}`, { text: "x" })
    case "head":
      return Fetch.head("/echo")
  }
}

/** What must be the same on both paths (timings and ports are not). */
const project = (outcome: Either.Either<Fetch.FetchResponse<unknown>, FetchError.FetchError>) =>
  Either.match(outcome, {
    onRight: (response) => ({
      ok: true,
      status: response.status,
      body: response.body instanceof Uint8Array ? Buffer.from(response.body).toString("base64") : response.body,
      attempts: response.attempts,
      redirects: response.redirects.length,
      path: new URL(response.url).pathname
    }),
    onLeft: (error) => ({
      ok: false,
      tag: error._tag,
      detail: "status" in error ? error.status : "phase" in error ? error.phase : "reason" in error ? error.reason : "",
      attempt: error.attempt
    })
  })

const sessionOptions = (server: DemoServer.DemoServer): Session.Options => ({
  baseUrl: server.baseUrl,
  retry: { times: 2, baseDelay: "1 millis", maxDelay: "4 millis" },
  // Generous: a limit that fires on a busy machine would differ between runs.
  timeout: { headers: "5 seconds" }
})

layer(DemoServer.layer(), { excludeTestServices: true })("Gather fast path", (it) => {
  // Four ways to run the same fetch: a Gather lane on callbacks ("lane"), a
  // Gather worker fiber running the effect ("worker": an Effect.map hides it
  // from the lane), a fiber per request with Effect.forEach ("forEach"), and
  // the Effect engine alone, without callbacks ("engine").
  type Mode = "lane" | "worker" | "forEach" | "engine"
  const modes: ReadonlyArray<Mode> = ["engine", "lane", "worker", "forEach"]
  it.effect.prop(
    "plain fetches give the same outcomes, attempts and server requests on every path",
    [FastCheck.array(FastCheck.constantFrom(...kinds), { minLength: 1, maxLength: 24 }), FastCheck.integer({ min: 1, max: 6 })],
    ([inputs, concurrency]) =>
      Effect.gen(function*() {
        const server = yield* DemoServer.DemoServer
        const nonce = Math.random().toString(36).slice(2)
        const gather = (mode: Mode) =>
          Effect.gen(function*() {
            yield* settledStats
            yield* server.resetStats
            yield* server.resetState
            const effects = inputs.map((kind, i) => {
              const fetch = fetchOf(kind, i, `${mode}-${nonce}`)
              if (mode === "lane" || mode === "forEach") return fetch
              // An Effect.map hides the fetch from the lane: a worker fiber runs it.
              if (mode === "worker") return Effect.map(fetch, (response) => response)
              if (!(fetch instanceof FetchEffect)) throw new Error(`${kind} is not a FetchEffect`)
              return Effect.map(runOnEngine(fetch), (response) => response)
            })
            expect(effects.every((effect) => isFastPath(effect) === (mode === "lane" || mode === "forEach"))).toBe(true)
            const outcomes = mode === "forEach"
              ? yield* Effect.forEach(effects, Effect.either, { concurrency })
              : yield* Gather.settle(effects, { concurrency })
            const stats = yield* settledStats
            return { outcomes: outcomes.map(project), requests: stats.requests, aborted: stats.aborted }
          }).pipe(Effect.provide(Session.layer(sessionOptions(server))))
        const [reference, ...others] = yield* Effect.forEach(modes, gather)
        for (const other of others) {
          expect(other.outcomes).toEqual(reference!.outcomes)
          expect(other.requests).toBe(reference!.requests)
          expect(other.aborted).toBe(reference!.aborted)
        }
      }),
    { timeout: 120_000, fastCheck: { numRuns: 12, seed: 20261201 } }
  )

  it.effect("Gather.stream and Gather.all over plain fetches agree with settle, in order", () =>
    Effect.gen(function*() {
      const server = yield* DemoServer.DemoServer
      const urls = Array.from({ length: 300 }, (_, i) => `/bytes/${i % 97}`)
      const run = Effect.gen(function*() {
        const all = yield* Gather.all(urls.map((url) => Fetch.get(url)), { concurrency: 16 })
        const streamed = yield* Gather.stream(urls, (url) => Fetch.get(url), { concurrency: 16, ordered: true }).pipe(
          Stream.runCollect
        )
        return { all, streamed: Array.from(streamed) }
      }).pipe(Effect.provide(Session.layer({ baseUrl: server.baseUrl })))
      const { all, streamed } = yield* run
      expect(all.map((r) => r.bytes)).toEqual(urls.map((_, i) => i % 97))
      expect(streamed.map((r) => r.index)).toEqual(urls.map((_, i) => i))
      expect(streamed.map((r) => Either.isRight(r.outcome) ? r.outcome.right.bytes : -1)).toEqual(urls.map((_, i) => i % 97))
    }))
})

/** Counts the fibers started under it (and how many are running). */
class ForkCounter extends Supervisor.AbstractSupervisor<number> {
  started = 0
  get value() {
    return Effect.sync(() => this.started)
  }
  override onStart(): void {
    this.started++
  }
}

layer(DemoServer.layer(), { excludeTestServices: true })("Gather lanes", (it) => {
  const inSession = <A, E>(body: (server: DemoServer.DemoServer) => Effect.Effect<A, E, Session.Session | DemoServer.DemoServer>) =>
    Effect.flatMap(DemoServer.DemoServer, (server) => body(server).pipe(Effect.provide(Session.layer({ baseUrl: server.baseUrl }))))

  it.effect("a gather of plain fetches forks no fiber; a composed item gets one for its lane from then on", () =>
    inSession(() =>
      Effect.gen(function*() {
        const plain = new ForkCounter()
        const urls = Array.from({ length: 40 }, (_, i) => `/bytes/${i}`)
        const all = yield* Gather.all(urls.map((url) => Fetch.get(url)), { concurrency: 8 }).pipe(Effect.supervised(plain))
        expect(all.map((r) => r.bytes)).toEqual(urls.map((_, i) => i))
        expect(plain.started).toBe(0)
        const mixed = new ForkCounter()
        const effects = urls.map((url, i) => i % 10 === 3 ? Effect.map(Fetch.get(url), (r) => r) : Fetch.get(url))
        const results = yield* Gather.all(effects, { concurrency: 8 }).pipe(Effect.supervised(mixed))
        expect(results.map((r) => r.bytes)).toEqual(urls.map((_, i) => i))
        // 4 composed items: each moves at most one lane onto a fiber of its own.
        expect(mixed.started).toBeGreaterThanOrEqual(1)
        expect(mixed.started).toBeLessThanOrEqual(4)
      })
    ))

  it.effect("Gather.stream lanes wait for the consumer and for a Stream source on callbacks, forking nothing per lane", () =>
    inSession(() =>
      Effect.gen(function*() {
        // A slow consumer and a small window: lanes keep running out of permits.
        const run = (n: number, source: "iterable" | "stream") =>
          Effect.gen(function*() {
            const counter = new ForkCounter()
            const urls = Array.from({ length: n }, (_, i) => `/bytes/${i % 7}`)
            const items = yield* Gather.stream(
              source === "iterable" ? urls : Stream.fromIterable(urls).pipe(Stream.rechunk(3)),
              (url) => Fetch.get(url),
              { concurrency: 4, bufferSize: 4, ordered: true }
            ).pipe(
              Stream.tap(() => Effect.sleep("1 millis")),
              Stream.runCollect,
              Effect.supervised(counter)
            )
            expect(Array.from(items).map((item) => Either.isRight(item.outcome) ? item.outcome.right.bytes : -1)).toEqual(
              urls.map((_, i) => i % 7)
            )
            return counter.started
          })
        // What a stream always starts (its own fibers) is the same for no input as for 120.
        expect(yield* run(120, "iterable")).toBe(yield* run(0, "iterable"))
        expect(yield* run(120, "stream")).toBe(yield* run(0, "stream"))
      })
    ))

  it.effect("fail-fast with lanes on callbacks and on fibers: the first failure ends the gather and aborts the rest at the server", () =>
    inSession((server) =>
      Effect.gen(function*() {
        yield* settledStats
        yield* server.resetStats
        // Slow requests on both kinds of lane, then a 404 that fails the gather.
        const effects = Array.from({ length: 12 }, (_, i) =>
          i === 9
            ? Effect.zipRight(Effect.sleep("50 millis"), Fetch.get("/status/404"))
            : i % 2 === 0
            ? Fetch.get(`/delay/3000?i=${i}`)
            : Effect.map(Fetch.get(`/delay/3000?i=${i}`), (r) => r))
        const started = performance.now()
        const error = yield* Effect.flip(Gather.all(effects, { concurrency: 12 }))
        expect(error._tag).toBe("BadStatus")
        expect(performance.now() - started).toBeLessThan(2500)
        const stats = yield* settledStats
        expect(stats.inFlight).toBe(0)
        // Every slow request was cut, fast lane or fiber alike.
        expect(stats.aborted).toBe(11)
      })
    ))

  it.effect("interrupting a gather aborts every request in flight, on either kind of lane", () =>
    inSession((server) =>
      Effect.gen(function*() {
        yield* settledStats
        yield* server.resetStats
        const effects = Array.from({ length: 10 }, (_, i) =>
          i % 3 === 0 ? Effect.map(Fetch.get(`/delay/3000?i=${i}`), (r) => r) : Fetch.get(`/delay/3000?i=${i}`))
        const fiber = yield* Effect.fork(Gather.all(effects, { concurrency: 10 }))
        yield* eventually(server.stats, (s) =>
          s.inFlight === 10)
        yield* Fiber.interrupt(fiber)
        const stats = yield* settledStats
        expect(stats.inFlight).toBe(0)
        expect(stats.aborted).toBe(10)
      })
    ))

  it.effect("Effect.forEach over plain fetches: interruption, a timeout and a lost race each abort at the server", () =>
    inSession((server) =>
      Effect.gen(function*() {
        yield* settledStats
        yield* server.resetStats
        // A fiber per request (no Gather): each holds its own canceler.
        const slow = Array.from({ length: 8 }, (_, i) => Fetch.get(`/delay/3000?i=${i}`))
        const fiber = yield* Effect.fork(Effect.forEach(slow, (effect) => effect, { concurrency: 8 }))
        yield* eventually(server.stats, (s) => s.inFlight === 8)
        yield* Fiber.interrupt(fiber)
        expect(yield* settledStats).toMatchObject({ inFlight: 0, aborted: 8 })

        yield* server.resetStats
        const timedOut = yield* Effect.either(Effect.timeout(Fetch.get("/delay/3000?t=1"), "150 millis"))
        expect(Either.isLeft(timedOut)).toBe(true)
        const raced = yield* Effect.race(Fetch.get("/delay/3000?r=1"), Effect.as(Effect.sleep("150 millis"), "sleep"))
        expect(raced).toBe("sleep")
        expect(yield* settledStats).toMatchObject({ inFlight: 0, aborted: 2 })
      })
    ))

  it.effect("a fiber that gives up a fetch and moves on aborts it when its next fetch starts, before that one ends", () =>
    inSession((server) =>
      Effect.gen(function*() {
        yield* settledStats
        yield* server.resetStats
        // The first fetch is interrupted but its fiber carries on
        // (uninterruptibly, as Effect.forEach's own workers do) to a second
        // one: the first must be cut at that moment, not at the fiber's end.
        let abortedWhileSecondRan = -1
        const fiber = yield* Effect.fork(Effect.uninterruptibleMask((restore) =>
          Effect.gen(function*() {
            yield* Effect.exit(restore(Fetch.get("/delay/3000?first=1")))
            yield* Fetch.get("/delay/300?second=1")
            abortedWhileSecondRan = (yield* server.stats).aborted
          })
        ))
        yield* eventually(server.stats, (s) => s.inFlight === 1)
        yield* Fiber.interrupt(fiber)
        // While the second was in flight (and before it ended), the first had gone.
        expect(abortedWhileSecondRan).toBe(1)
        expect(yield* settledStats).toMatchObject({ inFlight: 0, aborted: 1 })
      })
    ))
})

describe("isFastPath", () => {
  it("recognises plain Fetch effects and nothing composed from them", () => {
    expect(isFastPath(Fetch.get("http://127.0.0.1:1/"))).toBe(true)
    expect(isFastPath(Fetch.text("http://127.0.0.1:1/"))).toBe(true)
    expect(isFastPath(Fetch.json("http://127.0.0.1:1/", Schema.Unknown))).toBe(true)
    expect(isFastPath(Effect.map(Fetch.get("http://127.0.0.1:1/"), (r) => r.status))).toBe(false)
    expect(isFastPath(Effect.succeed(1))).toBe(false)
  })
})
