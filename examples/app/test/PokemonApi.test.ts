import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { Fetch, Session } from "effect-gather"
import * as DemoServer from "effect-gather/DemoServer"
import { layer, PokemonApi } from "../src/PokemonApi.js"

// A DemoServer on a free port and a test session pointed at it, built in one
// scope (the session closes before the server).
const TestSession = Layer.unwrapEffect(
  Effect.map(DemoServer.DemoServer, (server) => Session.layerTest({ baseUrl: server.baseUrl }))
).pipe(Layer.provideMerge(DemoServer.layerTest))

const TestApi = layer.pipe(Layer.provideMerge(TestSession))

describe("PokemonApi", () => {
  it.effect("reads names in input order", () =>
    Effect.gen(function*() {
      const api = yield* PokemonApi
      expect(yield* api.names([25, 1, 4])).toEqual(["pikachu", "bulbasaur", "charmander"])
      const stats = yield* DemoServer.DemoServer.pipe(Effect.flatMap((server) => server.stats))
      expect(stats.requests).toBe(3)
    }).pipe(Effect.provide(TestApi)))

  it.effect("an unknown id fails with BadStatus 404", () =>
    Effect.gen(function*() {
      const api = yield* PokemonApi
      const error = yield* Effect.flip(api.name(9999))
      expect(error._tag === "BadStatus" && error.status).toBe(404)
    }).pipe(Effect.provide(TestApi)))

  // Under it.effect the Clock is a TestClock: a session that retries would
  // wait for TestClock.adjust before its second attempt, and the test would
  // hang. Session.layerTest does not retry: the 503 fails at once.
  it.effect("a 503 fails after one attempt under the TestClock", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Fetch.get("/status/503"))
      expect(error._tag).toBe("BadStatus")
      expect(error.attempt).toBe(1)
    }).pipe(Effect.provide(TestSession)))

  // it.live runs on the real Clock, so a session that retries really waits
  // its backoff (under it.effect this test would hang until vitest's timeout).
  it.live("a retrying session retries a 503 on the real clock", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Fetch.get("/status/503"))
      expect(error._tag).toBe("BadStatus")
      expect(error.attempt).toBe(3)
    }).pipe(
      Effect.provide(
        Layer.unwrapEffect(
          Effect.map(DemoServer.DemoServer, (server) => Session.layerTest({ baseUrl: server.baseUrl, retry: { times: 2, baseDelay: "10 millis" } }))
        ).pipe(Layer.provideMerge(DemoServer.layerTest))
      )
    ))
})
