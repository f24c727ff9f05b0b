/**
 * The fetching half of a runner: ONE gather for the whole runner, fed by the
 * batches of every origin entity it holds, and ONE writer that stores
 * results in multi-row inserts.
 *
 * Before, each URL was its own fiber behind an origin semaphore and its own
 * INSERT (its own transaction): on one runner at 20 ms latency and 80 in
 * flight that ran at 0.2x a plain `Gather.stream` with the CPU saturated.
 * Now:
 *
 * - An entity's handler hands its batch to `run` and waits for the batch to
 *   be stored (the message's reply, its acknowledgement, comes after that).
 * - A feeder takes inputs round-robin over the origins' queues and starts an
 *   input only while its origin has fewer than `perOrigin` in flight and the
 *   runner fewer than `concurrency`: the engine never waits on a host limit,
 *   so one busy origin cannot hold up the others. An origin's entity lives on
 *   one runner at a time, so its limit holds for the whole cluster.
 * - The runner's `Gather.stream` (the engine's fast path) fetches.
 * - Outcomes wait in a queue; the writer takes everything there (up to
 *   `writeBatch`, waiting `writeWindow` for more once one is there) and
 *   stores it in one INSERT, then acknowledges each batch whose last result
 *   that was.
 *
 * After a SIGKILL only what `pending` counts (started and not yet stored) is
 * fetched again: queued inputs were never started, and the message of a
 * batch is acknowledged only once all of its results are stored.
 */
import type { SqlError } from "@effect/sql/SqlError"
import * as Chunk from "effect/Chunk"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Fetch from "../../Fetch.js"
import * as Gather from "../../Gather.js"
import type * as Session from "../../Session.js"
import * as Records from "../record.js"
import type { Input } from "./entity.js"
import * as Store from "./store.js"
import * as Timing from "./timing.js"

/**
 * How long the writer waits for more results once one is there. When
 * latency binds, results come one per event-loop turn, and taking only
 * what was there made an INSERT (a statement of its own, with @effect/sql's
 * span, semaphore and prepared-statement lookup) of about 2 rows: 5,114
 * statements for 10,000 results at 570 URLs/s on one runner. A batch is
 * acknowledged this much later; a SIGKILL loses no more (what waits here
 * is counted in `pending`).
 */
const writeWindow = Duration.millis(20)

interface Batch {
  readonly job: string
  remaining: number
  cancelled: boolean
  readonly done: Deferred.Deferred<void, SqlError>
}

interface Work {
  readonly batch: Batch
  readonly origin: OriginQueue
  readonly input: typeof Input.Type
}

interface OriginQueue {
  readonly key: string
  readonly queue: Array<Work>
  /** Index of the next item of `queue` (the queue is compacted now and then). */
  head: number
  inFlight: number
  /** On the feeder's round-robin list. */
  ready: boolean
}

/** @internal */
export interface Stats {
  fetched: number
  inFlight: number
  /** Started and not yet stored: what a crash of this runner would fetch again. */
  pending: number
}

/** @internal */
export interface Fetcher {
  /** Fetches and stores the inputs (all of one origin); succeeds once every result is stored. */
  readonly run: (job: string, origin: string, inputs: ReadonlyArray<typeof Input.Type>) => Effect.Effect<void, SqlError>
  readonly stats: Stats
}

/** @internal */
export const make = (options: {
  readonly address: string
  readonly perOrigin: number
  readonly concurrency: number
  readonly writeBatch: number
  readonly store: Store.JobStore
}): Effect.Effect<Fetcher, never, Scope.Scope | Session.Session> =>
  Effect.gen(function*() {
    const { address, concurrency, perOrigin, store } = options
    const stats: Stats = { fetched: 0, inFlight: 0, pending: 0 }
    const origins = new Map<string, OriginQueue>()
    const ready: Array<OriginQueue> = []
    const started = yield* Queue.unbounded<Work>()
    const written = yield* Queue.unbounded<{ readonly work: Work; readonly row: Store.NewRow }>()
    // In flight per job and origin, published for `progress` (see the publisher below).
    const flying = new Map<string, { readonly job: string; readonly origin: string; inFlight: number }>()
    const flyingKey = (work: Work) => `${work.batch.job}\n${work.origin.key}`

    const markReady = (origin: OriginQueue) => {
      if (!origin.ready && origin.head < origin.queue.length && origin.inFlight < perOrigin) {
        origin.ready = true
        ready.push(origin)
      }
    }

    /** Starts what the limits allow, taking one input per origin in turn. */
    const pump = () => {
      while (stats.inFlight < concurrency && ready.length > 0) {
        const origin = ready.shift()!
        origin.ready = false
        const work = origin.queue[origin.head++]
        if (origin.head > 1024 && origin.head * 2 > origin.queue.length) {
          origin.queue.splice(0, origin.head)
          origin.head = 0
        }
        if (work === undefined) continue
        if (work.batch.cancelled) {
          markReady(origin)
          forgetIfIdle(origin)
          continue
        }
        origin.inFlight++
        stats.inFlight++
        stats.pending++
        const key = flyingKey(work)
        const entry = flying.get(key)
        if (entry === undefined) flying.set(key, { job: work.batch.job, origin: origin.key, inFlight: 1 })
        else entry.inFlight++
        Queue.unsafeOffer(started, work)
        markReady(origin)
      }
    }

    /** An origin with nothing queued or in flight is forgotten (a new batch makes it again). */
    const forgetIfIdle = (origin: OriginQueue) => {
      if (origin.head >= origin.queue.length && origin.inFlight === 0 && origins.get(origin.key) === origin) {
        origins.delete(origin.key)
      }
    }

    const finished = (work: Work) => {
      work.origin.inFlight--
      stats.inFlight--
      const key = flyingKey(work)
      const entry = flying.get(key)
      if (entry !== undefined && --entry.inFlight <= 0) flying.delete(key)
      stats.fetched++
      markReady(work.origin)
      forgetIfIdle(work.origin)
    }

    // The engine: inputs arrive only when their origin and the runner have room.
    yield* Gather.stream(Stream.fromQueue(started), (work) => Fetch.get(work.input.url), {
      concurrency,
      bufferSize: concurrency * 2
    }).pipe(
      // A plain fold, not an Effect per chunk: bench/consumers.ts measured
      // runForEachChunk at 1.44x the CPU per request of raw undici, a fold at 1.10x.
      Stream.runFold(0, (n, { input: work, outcome }) => {
        finished(work)
        const url = work.input.url
        const record = outcome._tag === "Right" ? Records.fromResponse(url, outcome.right) : Records.fromError(url, outcome.left)
        const timing = outcome._tag === "Right" ? outcome.right.timing : outcome.left.timing
        Queue.unsafeOffer(written, {
          work,
          row: {
            index: work.input.index,
            runner: address,
            ok: record.ok,
            status: record.status,
            error: record.error?.tag ?? null,
            record: JSON.stringify(record),
            origin: work.origin.key,
            timing: Timing.encode(timing)
          }
        })
        pump()
        return n + 1
      }),
      Effect.forkScoped
    )

    // The writer: one INSERT per job for all that waits, then the acknowledgements.
    yield* Effect.gen(function*() {
      while (true) {
        const first = yield* Queue.takeBetween(written, 1, options.writeBatch)
        // The rest of a burst joins the INSERT (see writeWindow).
        const items = Chunk.size(first) >= options.writeBatch
          ? first
          : Chunk.appendAll(first, yield* Effect.zipRight(Effect.sleep(writeWindow), Queue.takeUpTo(written, options.writeBatch - Chunk.size(first))))
        const byJob = new Map<string, Array<Store.NewRow>>()
        for (const { row, work } of items) {
          let rows = byJob.get(work.batch.job)
          if (rows === undefined) byJob.set(work.batch.job, rows = [])
          rows.push(row)
        }
        const stored = yield* Effect.either(
          Effect.forEach(byJob, ([job, rows]) => Effect.retry(store.put(job, rows), Store.storageRetry), { discard: true })
        )
        for (const { work } of items) {
          stats.pending--
          if (stored._tag === "Left") Deferred.unsafeDone(work.batch.done, Effect.fail(stored.left))
          else if (--work.batch.remaining === 0) Deferred.unsafeDone(work.batch.done, Effect.void)
        }
      }
    }).pipe(Effect.forkScoped)

    // The publisher: what this runner has in flight, per job and origin, every
    // second (and nothing once it stops). A storage that does not answer
    // skips a beat; the rows only inform `progress`.
    let publishedAny = false
    const publish = Effect.suspend(() => {
      if (flying.size === 0 && !publishedAny) return Effect.void
      publishedAny = flying.size > 0
      return store.publishInFlight(address, Array.from(flying.values(), (e) => ({ job: e.job, origin: e.origin, inFlight: e.inFlight })))
    }).pipe(Effect.catchAll(() => Effect.void))
    // Registered first so it runs last: after the publisher fiber is interrupted.
    yield* Effect.addFinalizer(() => Effect.ignore(Effect.timeout(store.publishInFlight(address, []), "2 seconds")))
    yield* Effect.repeat(publish, Schedule.spaced(Store.inFlightEvery)).pipe(Effect.forkScoped)

    const run: Fetcher["run"] = (job, key, inputs) =>
      inputs.length === 0 ? Effect.void : Effect.flatMap(Deferred.make<void, SqlError>(), (done) =>
        Effect.suspend(() => {
          const batch: Batch = { job, remaining: inputs.length, cancelled: false, done }
          let origin = origins.get(key)
          if (origin === undefined) origins.set(key, origin = { key, queue: [], head: 0, inFlight: 0, ready: false })
          for (const input of inputs) origin.queue.push({ batch, origin, input })
          markReady(origin)
          pump()
          // Interrupted (the shard moved, the runner stops): what has not
          // started never will here; what has started is still stored.
          return Deferred.await(done).pipe(Effect.onInterrupt(() =>
            Effect.sync(() => {
              batch.cancelled = true
            })
          ))
        }))

    return { run, stats }
  })
