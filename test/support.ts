/**
 * Shared helpers for the tests that cross a socket: a DemoServer and a
 * Session built in one scope (the session is closed before the server), real
 * timers for polling, a port that refuses connections.
 */
import { expect } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Net from "node:net"
import { performance } from "node:perf_hooks"
import * as DemoServer from "../src/DemoServer.js"
import type * as Fetch from "../src/Fetch.js"
import type * as FetchError from "../src/FetchError.js"
import * as Session from "../src/Session.js"

/**
 * A fresh DemoServer on 127.0.0.1 port 0 and a real Session. The session's
 * options are computed from the server (by default only its `baseUrl`);
 * `Layer.provideMerge` builds the server first and releases it last, so the
 * session never outlives it.
 */
export const serverAndSession = (
  options: (server: DemoServer.DemoServer) => Session.Options = (server) => ({ baseUrl: server.baseUrl })
) =>
  Layer.unwrapEffect(Effect.map(DemoServer.DemoServer, (server) => Session.layer(options(server)))).pipe(
    Layer.provideMerge(DemoServer.layer())
  )

/** Waits on a real timer, whatever `Clock` the fiber sees. */
export const realSleep = (millis: number): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    const timer = setTimeout(() => resume(Effect.void), millis)
    return Effect.sync(() => clearTimeout(timer))
  })

/** Polls `effect` on real timers until `predicate` holds or `timeoutMillis` pass; returns the last value. */
export const eventually = <A, E, R>(
  effect: Effect.Effect<A, E, R>,
  predicate: (a: A) => boolean,
  timeoutMillis = 3000
): Effect.Effect<A, E, R> =>
  Effect.gen(function*() {
    const deadline = performance.now() + timeoutMillis
    let value = yield* effect
    while (!predicate(value) && performance.now() < deadline) {
      yield* realSleep(10)
      value = yield* effect
    }
    return value
  })

/** Server stats once the server has no request in flight any more. */
export const settledStats = Effect.flatMap(
  DemoServer.DemoServer,
  (server) => eventually(server.stats, (s) => s.inFlight === 0)
)

/** A TCP port on 127.0.0.1 that was just bound and closed: connecting to it is refused. */
export const closedPort: Effect.Effect<number> = Effect.async<number>((resume) => {
  const server = Net.createServer()
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    server.close(() => resume(Effect.succeed(port)))
  })
})

/** Runs `effect` expecting it to fail (within 10 s); returns the error. */
export const failure = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<E, never, R> =>
  Effect.flip(effect).pipe(
    Effect.orDieWith(() => new Error("test: expected a failure, got a success")),
    Effect.timeoutFail({
      duration: "10 seconds",
      onTimeout: () => new Error("test: expected a failure, got nothing within 10 s")
    }),
    Effect.orDie
  )

/** Asserts the error's tag and narrows it. */
export function assertTag<T extends FetchError.FetchError["_tag"]>(
  error: FetchError.FetchError,
  tag: T
): asserts error is Extract<FetchError.FetchError, { readonly _tag: T }> {
  expect(error._tag, `expected ${tag}, got ${error._tag}: ${error.message}`).toBe(tag)
}

/** The body of `/headers`. */
export const EchoedHeaders = Schema.Struct({ headers: Schema.Record({ key: Schema.String, value: Schema.String }) })

/** The body of `/delay/{ms}`. */
export const Delayed = Schema.Struct({ delayed_ms: Schema.Number })

/** A made-up timing for records built by hand: headers at `headersMs` (-1: none), end at `totalMs`. */
export const timingOf = (headersMs: number, totalMs: number): Fetch.Timing => ({
  startedAt: 0,
  dispatchMs: 0,
  connectMs: -1,
  tlsMs: -1,
  sentMs: 0,
  headersMs,
  endMs: totalMs,
  totalMs,
  previous: []
})
