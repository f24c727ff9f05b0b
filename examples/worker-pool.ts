/**
 * Jobs of random length through a pool of three workers.
 *
 * The aiohttp original ran jobs with random delays through a pool of three
 * workers, printing when each worker started and finished a job, then the
 * total time against the sum of the delays. Here each job is a request to
 * `/delay/{ms}` and
 * `Gather.forEach` with `concurrency: 3` is the pool: it never runs more
 * than three jobs and starts the next one as soon as a slot frees. The
 * delays come from a seeded `Random`, so every run is the same.
 *
 * Run: npx tsx examples/worker-pool.ts [--seed 42] [--base-url URL]
 * (--base-url must serve the DemoServer's routes, e.g. a server started with
 * `npx tsx examples/aiohttp-server.ts --serve`)
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Clock, Console, Effect, Random } from "effect"
import { Fetch, Gather, Session } from "effect-gather"
import { arg, target } from "./shared/demo.js"
import { seconds } from "./shared/format.js"

const workers = 3

interface Job {
  readonly id: number
  readonly ms: number
}

/** Ten jobs of 100–800 ms, the same for the same seed. */
const makeJobs = (seed: string) =>
  Effect.forEach(
    Array.from({ length: 10 }, (_, i) => i + 1),
    (id) => Effect.map(Random.nextIntBetween(100, 800), (ms): Job => ({ id, ms }))
  ).pipe(Effect.withRandom(Random.make(seed)))

const main = Effect.gen(function*() {
  const { baseUrl } = yield* target()
  const jobs = yield* makeJobs(arg("seed") ?? "42")
  yield* Console.log(`\n  effect-gather · ${jobs.length} jobs through a pool of ${workers} workers\n  on ${baseUrl}\n`)
  const t0 = yield* Clock.currentTimeMillis
  const log = (message: string) => Effect.flatMap(Clock.currentTimeMillis, (now) => Console.log(`  ${seconds(now - t0).padStart(7)}  ${message}`))

  // The pool's slots, to show which one runs each job: a job takes the lowest
  // free slot and gives it back when it ends. Gather never runs more than
  // `workers` jobs at once, so there is always one free.
  const busy = new Set<number>()
  const takeSlot = Effect.sync(() => {
    let slot = 1
    while (busy.has(slot)) slot++
    busy.add(slot)
    return slot
  })
  const freeSlot = (slot: number) => Effect.sync(() => busy.delete(slot))

  const runJob = (job: Job) =>
    Effect.acquireUseRelease(
      takeSlot,
      (slot) =>
        Effect.gen(function*() {
          const label = `slot ${slot}  job ${String(job.id).padStart(2)}`
          yield* log(`${label}  start   ${job.ms} ms`)
          const response = yield* Fetch.get(`/delay/${job.ms}`)
          yield* log(`${label}  done    ${Math.round(response.timing.totalMs)} ms`)
        }),
      freeSlot
    )

  yield* Gather.forEach(jobs, runJob, { concurrency: workers }).pipe(Effect.provide(Session.layer({ baseUrl })))
  const total = (yield* Clock.currentTimeMillis) - t0

  const sum = jobs.reduce((acc, job) => acc + job.ms, 0)
  const best = Math.max(sum / workers, ...jobs.map((job) => job.ms))
  yield* Console.log(`
  sum of the delays   ${seconds(sum).padStart(7)}   (one worker would take this long)
  took                ${seconds(total).padStart(7)}   (${(sum / total).toFixed(1)}× faster)
  lower bound         ${seconds(best).padStart(7)}   (sum / ${workers}, or the longest job)
`)
})

NodeRuntime.runMain(Effect.scoped(main))
