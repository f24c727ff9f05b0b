/**
 * Where the CPU of a gather goes: the engine alone against the ways its
 * results can reach a consumer.
 *
 *   npx tsx bench/consumers.ts URL_TEMPLATE N C --consumer=NAME [--warmup=K]
 *
 * Every consumer runs the same N plain `Fetch.get`s through the same Gather
 * lanes (the internal runner that `Gather.all` and `Gather.stream` share);
 * only what happens to each result differs:
 *
 * - `none`: nothing (the engine alone; each response is dropped at once);
 * - `callback`: a `Gather.stream` item (`{ index, input, outcome }`) per
 *   result, batched per event-loop turn and handed to a plain function;
 * - `mailbox`: the same batches through a `Mailbox`, taken by a fiber
 *   (`takeAll` in a loop);
 * - `fold`: the same batches through `Mailbox.toStream`, consumed with
 *   `Stream.runFold` (a pure function per item);
 * - `stream`: the same, consumed with `Stream.runForEachChunk` (an Effect
 *   per chunk);
 * - `gather`: `Gather.stream` itself, consumed with `Stream.runFold` (what
 *   `bench/client.ts` does).
 *
 * Prints one JSON line: req/s and CPU µs per request over the load phase,
 * and the time spent in GC (from `PerformanceObserver`, main thread) per
 * request, minor (scavenges) and major apart. Only loopback targets.
 * Internal API on purpose: this measures the parts, not a user's program
 * (that is `bench/client.ts`).
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Mailbox from "effect/Mailbox"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Stream from "effect/Stream"
import { constants, PerformanceObserver } from "node:perf_hooks"
import * as Fetch from "../src/Fetch.js"
import * as PublicGather from "../src/Gather.js"
import * as Gather from "../src/internal/gather/run.js"
import * as Session from "../src/Session.js"
import { armDeadline, parseArgs, range, refuse, urlOf } from "./common.js"

const args = parseArgs("bench/consumers.ts")
armDeadline(args.flags)
const consumer = args.flags.get("consumer") ?? "none"
if (!["none", "callback", "mailbox", "fold", "stream", "gather"].includes(consumer)) {
  refuse(`--consumer must be none, callback, mailbox, fold, stream or gather, got ${consumer}`)
}
const { template, c } = args

interface Counts {
  results: number
}

/** Items batched per event-loop turn, as Gather.stream batches them. */
const batcher = (deliver: (items: Array<unknown>) => void) => {
  let batch: Array<unknown> = []
  let scheduled = false
  const flush = () => {
    scheduled = false
    const items = batch
    batch = []
    deliver(items)
  }
  return {
    flush,
    onValue: (index: number, value: unknown) => {
      batch.push({ index, input: index, outcome: Either.right(value) })
      if (!scheduled) {
        scheduled = true
        setImmediate(flush)
      }
    }
  }
}

// Failures are counted as results too (none are expected from the target);
// the run never fails with them.
const fetches = (n: number, onValue: (index: number, value: unknown) => void): Effect.Effect<void, never, Session.Session> =>
  Effect.orDie(Gather.run(range(n), (i) => Fetch.get(urlOf(template, i)), c, onValue, (index, error) => {
    onValue(index, error)
    return true
  }, undefined))

const load = (n: number, counts: Counts): Effect.Effect<void, never, Session.Session> => {
  if (consumer === "none") return fetches(n, () => counts.results++)
  if (consumer === "gather") {
    return PublicGather.stream(range(n), (i) => Fetch.get(urlOf(template, i)), { concurrency: c }).pipe(
      Stream.runFold(counts, (total, _item) => {
        total.results++
        return total
      }),
      Effect.asVoid
    )
  }
  if (consumer === "callback") {
    const { flush, onValue } = batcher((items) => counts.results += items.length)
    return Effect.zipRight(fetches(n, onValue), Effect.sync(flush))
  }
  return Effect.scoped(Effect.gen(function*() {
    const mailbox = yield* Mailbox.make<unknown>()
    const { flush, onValue } = batcher((items) => mailbox.unsafeOfferAll(items))
    const taking: Effect.Effect<void> = consumer === "mailbox"
      ? Effect.flatMap(mailbox.takeAll, ([items, done]) => {
        counts.results += items.length
        return done ? Effect.void : taking
      })
      : consumer === "fold"
      ? Effect.asVoid(Stream.runFold(Mailbox.toStream(mailbox), counts, (total, _item) => {
        total.results++
        return total
      }))
      : Stream.runForEachChunk(Mailbox.toStream(mailbox), (items) => Effect.sync(() => counts.results += items.length))
    const taker = yield* Effect.fork(taking)
    yield* fetches(n, onValue)
    flush()
    yield* mailbox.end
    yield* Fiber.join(taker)
  }))
}

const runtime = ManagedRuntime.make(Session.layer({ maxConnectionsPerOrigin: c }))
try {
  if (args.warmup > 0) await runtime.runPromise(load(args.warmup, { results: 0 }))
  let minorMs = 0
  let majorMs = 0
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const detail: unknown = "detail" in entry ? entry.detail : undefined
      const kind = typeof detail === "object" && detail !== null && "kind" in detail ? detail.kind : undefined
      if (kind === constants.NODE_PERFORMANCE_GC_MINOR) minorMs += entry.duration
      else majorMs += entry.duration
    }
  })
  observer.observe({ entryTypes: ["gc"] })
  const counts: Counts = { results: 0 }
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  await runtime.runPromise(load(args.n, counts))
  const wallS = (performance.now() - t0) / 1000
  const cpu = process.cpuUsage(cpu0)
  await new Promise((resolve) => setImmediate(resolve))
  observer.disconnect()
  const perRequest = (x: number) => Number((x / args.n).toFixed(1))
  process.stdout.write(`${
    JSON.stringify({
      consumer,
      req_per_s: Math.round(args.n / wallS),
      cpu_us_per_req: perRequest(cpu.user + cpu.system),
      gc_minor_us_per_req: perRequest(minorMs * 1000),
      gc_major_us_per_req: perRequest(majorMs * 1000),
      results: counts.results
    })
  }\n`)
  process.exitCode = counts.results === args.n ? 0 : 1
} finally {
  await runtime.dispose()
}
