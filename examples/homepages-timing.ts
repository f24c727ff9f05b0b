/**
 * Five home pages, one after another and then all at once, with a timeline
 * of every request.
 *
 * The aiohttp original timed five well-known home pages, one by one and
 * then concurrently, printing the time of each request and the total: one
 * by one the total is the sum of the times, concurrently it is about the
 * slowest one. Here the "home pages" are DemoServer routes that answer
 * after different delays, and each bar is drawn from the timing that every
 * fetch reports (`response.timing`).
 *
 * Both runs are recorded to a run report, written at the end: its waterfall
 * is the same picture, with each request split into its phases.
 *
 * Run: npx tsx examples/homepages-timing.ts [--base-url URL]
 * (--base-url must serve the DemoServer's routes, e.g. a server started with
 * `npx tsx examples/aiohttp-server.ts --serve`)
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Clock, Console, Effect } from "effect"
import { Fetch, Gather, Report, Session } from "effect-gather"
import * as os from "node:os"
import * as path from "node:path"
import { target } from "./shared/demo.js"
import { seconds, span } from "./shared/format.js"

const pages = ["/index", "/delay/450", "/wiki/2024", "/delay/300", "/delay/150"]

interface Run {
  /** When the run started, ms since the epoch. */
  readonly start: number
  readonly total: number
  readonly responses: ReadonlyArray<Fetch.FetchResponse<Uint8Array>>
}

/** Runs `fetchAll` and returns when it started, its total time and the responses. */
const timed = <E, R>(fetchAll: Effect.Effect<Array<Fetch.FetchResponse<Uint8Array>>, E, R>): Effect.Effect<Run, E, R> =>
  Effect.gen(function*() {
    const start = yield* Clock.currentTimeMillis
    const responses = yield* fetchAll
    const total = (yield* Clock.currentTimeMillis) - start
    return { start, total, responses }
  })

/** One line per request: where it started and how long it took, on a common scale. */
const printTimeline = (title: string, run: Run, scale: number) =>
  Effect.gen(function*() {
    yield* Console.log(`  ${title}`)
    for (const [i, response] of run.responses.entries()) {
      const { startedAt, totalMs } = response.timing
      const line = span(startedAt - run.start, totalMs, scale, 50)
      yield* Console.log(`  ${pages[i]!.padEnd(12)}│${line}│ ${Math.round(totalMs).toString().padStart(4)} ms`)
    }
    yield* Console.log(`  ${"total".padEnd(12)} ${seconds(run.total)}\n`)
  })

const compare = (report: Report.Tracker) =>
  Effect.gen(function*() {
    const fetches = pages.map((page) => Fetch.get(page).pipe(Report.track(report)))
    const oneByOne = yield* timed(Effect.all(fetches))
    yield* printTimeline("one after another (Effect.all)", oneByOne, oneByOne.total)

    const together = yield* timed(Gather.all(fetches))
    yield* printTimeline("all at once (Gather.all)", together, oneByOne.total)

    yield* Console.log(`  ${(oneByOne.total / together.total).toFixed(1)}× faster all at once\n`)
  })

const main = Effect.gen(function*() {
  const { baseUrl } = yield* target({ latency: "200 millis" })
  yield* Console.log(`\n  effect-gather · ${pages.length} home pages, one by one and all at once\n  from ${baseUrl}\n`)
  const report = yield* Report.make({ title: `${pages.length} home pages, one by one and all at once`, concurrency: pages.length })
  yield* compare(report).pipe(Effect.provide(Session.layer({ baseUrl })))
  const written = yield* Report.write(report, path.join(os.tmpdir(), "effect-gather-homepages.html"))
  yield* Console.log(`  run report: ${written}\n`)
})

NodeRuntime.runMain(Effect.scoped(main))
