/**
 * `internal/gather/observe.ts`, by which `gather fetch` keeps its outcomes:
 * a hook told of each item's end before the gather emits it, whether the
 * fetch ran on the Gather's callback loop, went back to the fiber (a retry,
 * a redirect) or was never startable on callbacks (an invalid URL, a
 * composed effect); and never told of an interrupted one. Against a real
 * DemoServer.
 */
import { expect, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Stream from "effect/Stream"
import * as Fetch from "../src/Fetch.js"
import type * as FetchError from "../src/FetchError.js"
import * as Gather from "../src/Gather.js"
import type { Hook } from "../src/internal/gather/observe.js"
import { observe } from "../src/internal/gather/observe.js"
import { serverAndSession, settledStats } from "./support.js"

type Response = Fetch.FetchResponse<Uint8Array>
type Seen = Either.Either<Response, FetchError.FetchError>

/** A hook that keeps what it was told, by the item's index. */
const recorder = () => {
  const seen = new Map<number, Array<Seen>>()
  const add = (index: number, outcome: Seen) => seen.set(index, [...(seen.get(index) ?? []), outcome])
  const hook: Hook<Response, FetchError.FetchError, number> = {
    onSuccess: (index, response) => add(index, Either.right(response)),
    onFailure: (index, error) => add(index, Either.left(error))
  }
  return { seen, hook }
}

// Successes, a status error, a retried 503 and redirects (both finish on the
// fiber), an invalid URL (never startable on callbacks), a slow one.
const paths = ["/status/200", "/status/404", "/redirect/2", "/status/503", "http://", "/delay/20", "/bytes/10", "not a url"]

const summary = (outcome: Seen) =>
  Either.match(outcome, {
    onLeft: (error) => `${error._tag} ${error.attempt}`,
    onRight: (response) => `${response.status} ${response.url.replace(/^.*\/\/[^/]+/, "")} ${response.attempts}`
  })

layer(serverAndSession((server) => ({ baseUrl: server.baseUrl, retry: { times: 1, baseDelay: "1 millis" } })), { excludeTestServices: true })(
  "observe",
  (it) => {
    it.effect("tells the hook of every outcome once, before the gather emits it, and changes none", () =>
      Effect.gen(function*() {
        for (const compose of [false, true]) {
          const { hook, seen } = recorder()
          const emittedBeforeHook: Array<number> = []
          const results = yield* Gather.stream(paths, (path, index) => {
            const fetch = compose ? Effect.map(Fetch.get(path), (response) => response) : Fetch.get(path)
            return observe(fetch, hook, index)
          }, { concurrency: 3 }).pipe(
            Stream.tap((result) => Effect.sync(() => seen.has(result.index) || emittedBeforeHook.push(result.index))),
            Stream.runCollect
          )
          expect(emittedBeforeHook).toEqual([])
          expect(results.length).toBe(paths.length)
          for (const result of results) {
            const told = seen.get(result.index) ?? []
            expect(told.length).toBe(1)
            expect(summary(told[0]!)).toBe(summary(result.outcome))
          }
          const byPath = Object.fromEntries(Array.from(results, (result) => [result.input, summary(result.outcome)]))
          expect(byPath["/status/200"]).toBe("200 /status/200 1")
          expect(byPath["/status/404"]).toBe("BadStatus 1")
          expect(byPath["/redirect/2"]).toBe("200 /redirect/0 1")
          expect(byPath["/status/503"]).toBe("BadStatus 2")
          expect(byPath["http://"]).toBe("InvalidUrl 1")
        }
      }))

    it.effect("is not told of a fetch that was interrupted", () =>
      Effect.gen(function*() {
        const { hook, seen } = recorder()
        const exit = yield* Gather.all(["/hang", "/hang"].map((path, index) => observe(Fetch.get(path), hook, index)), { concurrency: 2 }).pipe(
          Effect.timeout("200 millis"),
          Effect.exit
        )
        expect(exit._tag).toBe("Failure")
        expect(seen.size).toBe(0)
        const stats = yield* settledStats
        expect(stats.inFlight).toBe(0)
      }))
  }
)
