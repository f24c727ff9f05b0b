import * as NodeClusterSocket from "@effect/platform-node/NodeClusterSocket"
import * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import type * as api from "../../Cluster.js"
import { batches, FetchBatch, Origin } from "./entity.js"
import * as Report from "./report.js"
import * as ResultStream from "./resultStream.js"
import { clusterStorage, resolveStorage, shardingDefaults } from "./runner.js"
import { sqlLayer } from "./storage.js"
import * as Store from "./store.js"

/** @internal */
export const tag = Context.GenericTag<api.Client>("effect-gather/Cluster/Client")

/** @internal */
export const defaults = {
  // Batch messages sent at once. Each waits for @effect/cluster to store it
  // and tell its runner; 16 at a time, 200 messages took 0.9 s with one
  // runner and 1.4 s with three busy ones, 64 at a time 0.7 and 0.8 s.
  submitConcurrency: 64,
  batchSize: 64,
  /** The window of `progress`'s rates. */
  rateWindowMs: 10_000,
  /** Lines of a streamed job batched at once. */
  readChunk: 16_384,
  pollInterval: Duration.millis(250)
} as const

/** Most pending first (an origin of unknown total last), then most done, then by name. */
const byPending = (a: api.OriginProgress, b: api.OriginProgress): number =>
  (b.pending ?? -1) - (a.pending ?? -1) || b.done - a.done || String(a.origin).localeCompare(String(b.origin))

const isList = <E>(urls: ReadonlyArray<string> | Stream.Stream<string, E>): urls is ReadonlyArray<string> => Array.isArray(urls)

const newJobId = (): string => `job-${crypto.randomUUID().slice(0, 8)}`

/** @internal */
export const layer = (options: api.ClientOptions): Layer.Layer<api.Client, api.ClientError> =>
  Layer.unwrapEffect(Effect.map(resolveStorage(options.storage), (storage) => {
    const client = Effect.gen(function*() {
      const store = yield* Store.JobStore
      const makeClient = yield* Origin.client
      const service: api.Client = {
        storage,
        submit: <E>(urls: ReadonlyArray<string> | Stream.Stream<string, E>, submitOptions?: api.SubmitOptions) =>
          Effect.gen(function*() {
            const job = submitOptions?.job ?? newJobId()
            const size = submitOptions?.batchSize ?? defaults.batchSize
            const known = isList(urls) ? urls.length : undefined
            const found = yield* store.openJob(job)
            // A job stored before (sealed) takes no input past its count.
            const limit = found.sealed ? found.total : Infinity
            const conflict = (count: number) =>
              new Store.JobError({ reason: "Conflict", message: `job ${job} already exists with ${found.total} inputs, not ${count}` })
            let count = 0
            let batch = 0
            let sent = 0
            const part = (chunk: Iterable<string>, length: number) =>
              Effect.gen(function*() {
                if (count + length > limit) return yield* conflict(known ?? count + length)
                const parts = batches(chunk, size, { index: count, batch })
                count += length
                batch += parts.length
                // The per-origin totals of `progress`, before any of the part's results can exist.
                yield* Effect.retry(
                  store.batches(job, parts.map((p) => ({ batch: p.batch, origin: p.origin, size: p.inputs.length }))),
                  Store.storageRetry
                )
                yield* Effect.forEach(
                  parts,
                  ({ batch, inputs, origin }) =>
                    makeClient(origin).Fetch(new FetchBatch({ job, batch, inputs }), { discard: true }).pipe(
                      // A storage busy for a moment; the batch's primary key makes a retry safe.
                      Effect.retry(Store.storageRetry),
                      Effect.tap(() => {
                        sent += inputs.length
                        if (submitOptions?.onProgress !== undefined) submitOptions.onProgress(sent, known)
                      })
                    ),
                  { concurrency: submitOptions?.concurrency ?? defaults.submitConcurrency, discard: true }
                )
                if (!found.sealed) yield* store.grow(job, count)
              })
            // An array is one part (the batches of 0.2.0, so its resubmits
            // match); a stream is read in parts of `readChunk` lines, never
            // held whole.
            if (isList(urls)) yield* part(urls, urls.length)
            else {
              yield* Stream.runForEachChunk(
                Stream.rechunk(urls, Math.max(1, Math.floor(submitOptions?.partSize ?? defaults.readChunk))),
                (chunk) => part(chunk, Chunk.size(chunk))
              )
            }
            if (found.sealed && count !== found.total) return yield* conflict(count)
            yield* store.seal(job, count)
            return job
          }),
        status: store.status,
        prune: store.prune,
        progress: (job) =>
          Effect.gen(function*() {
            const status = yield* store.status(job)
            // One `now` and one read of the in-flight rows, so the runners' and the origins' sums agree.
            const window = { now: Date.now(), windowMs: defaults.rateWindowMs }
            const flying = yield* store.inFlight(job, window.now)
            const runners = yield* store.runners(job, window, flying)
            const origins = [...(yield* store.origins(job, window, flying))].sort(byPending)
            const perSecond = runners.reduce((n, r) => n + r.perSecond, 0)
            const inFlight = runners.reduce((n, r) => n + r.inFlight, 0)
            const pending = Math.max(0, status.total - status.done)
            const etaSeconds = status.submitting || perSecond === 0 ? (pending === 0 && !status.submitting ? 0 : null) : pending / perSecond
            const progress: api.JobProgress = { ...status, pending, inFlight, runners, origins, perSecond, etaSeconds }
            return progress
          }),
        report: (job, reportOptions) => Report.report(store, job, reportOptions),
        jobs: store.jobs,
        results: (job, resultsOptions) =>
          ResultStream.results(store, job, {
            follow: resultsOptions?.follow ?? true,
            pollInterval: resultsOptions?.pollInterval ?? defaults.pollInterval
          })
      }
      return service
    })
    return Layer.effect(tag, client).pipe(
      Layer.provide(Store.layer),
      Layer.provide(
        NodeClusterSocket.layer({
          clientOnly: true,
          storage: "byo",
          shardingConfig: { ...shardingDefaults, ...options.sharding }
        }).pipe(Layer.provideMerge(clusterStorage({ ...shardingDefaults, ...options.sharding })))
      ),
      Layer.provide(sqlLayer(storage))
    )
  }))
