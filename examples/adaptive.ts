/**
 * Finding a server's capacity: 300 requests at concurrency 64 to a route that
 * answers 503 + `Retry-After` whenever more than 10 are in flight (the
 * DemoServer's `/capacity?k=10`). With `adaptive: { max: 64 }` the session's
 * window for that origin starts at 10 and doubles per round trip while
 * nothing refuses (slow start); the refusals shrink it, at most once per
 * round trip, and it settles near 10; the progress line shows it.
 *
 * Run: npx tsx examples/adaptive.ts [--k 10]
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Console, Effect, Either, Stream } from "effect"
import { Fetch, Gather, Progress, Session } from "effect-gather"
import * as DemoServer from "effect-gather/DemoServer"
import { arg } from "./shared/demo.js"

const main = Effect.gen(function*() {
  const k = Number(arg("k") ?? "10")
  const server = yield* DemoServer.make({ port: 0, host: "127.0.0.1" })
  const origin = new URL(server.baseUrl).origin
  yield* Console.log(`\n  effect-gather · 300 requests, 64 workers, a server that holds ${k} at once\n`)
  const progress = yield* Progress.make
  yield* Progress.changes(progress, "100 millis").pipe(
    Stream.runForEach((s) =>
      Console.log(`  ${(s.elapsedMs / 1000).toFixed(1).padStart(5)} s  done ${String(s.succeeded + s.failed).padStart(3)}  window ${s.windows[origin] ?? "-"}`)
    ),
    Effect.fork
  )
  const results = yield* Gather.forEach(
    Array.from({ length: 300 }, (_, i) => i),
    (i) => Fetch.get(`/capacity?k=${k}&ms=40&retryAfter=0&i=${i}`),
    { concurrency: 64, mode: "settle", progress }
  ).pipe(Effect.provide(Session.layer({ baseUrl: server.baseUrl, adaptive: { max: 64 }, retry: { times: 20 } })))
  const refused = results.reduce((sum, r) => sum + (Either.isRight(r) ? r.right.attempts - 1 : 0), 0)
  const final = yield* progress.snapshot
  yield* Console.log(
    `\n  ${results.filter(Either.isRight).length} ok, ${refused} refused along the way, final window ${final.windows[origin]} (capacity ${k})\n`
  )
})

NodeRuntime.runMain(Effect.scoped(main))
