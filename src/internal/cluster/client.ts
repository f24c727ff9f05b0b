import * as NodeClusterSocket from "@effect/platform-node/NodeClusterSocket"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import type * as api from "../../Cluster.js"
import { batches, FetchBatch, Origin } from "./entity.js"
import { clusterStorage, resolveStorage, shardingDefaults } from "./runner.js"
import { sqlLayer } from "./storage.js"
import * as Store from "./store.js"

/** @internal */
export const tag = Context.GenericTag<api.Client>("effect-gather/Cluster/Client")

/** @internal */
export const defaults = {
  submitConcurrency: 16,
  batchSize: 64,
  pollInterval: Duration.millis(250)
} as const

const sendRetry = Schedule.intersect(Schedule.exponential(Duration.millis(50), 2), Schedule.recurs(8))

const newJobId = (): string => `job-${crypto.randomUUID().slice(0, 8)}`

/** @internal */
export const layer = (options: api.ClientOptions): Layer.Layer<api.Client, api.ClientError> =>
  Layer.unwrapEffect(Effect.map(resolveStorage(options.storage), (storage) => {
    const client = Effect.gen(function*() {
      const store = yield* Store.JobStore
      const makeClient = yield* Origin.client
      const service: api.Client = {
        storage,
        submit: (urls, submitOptions) =>
          Effect.gen(function*() {
            const job = submitOptions?.job ?? newJobId()
            yield* store.createJob(job, urls.length)
            let sent = 0
            yield* Effect.forEach(
              batches(urls, submitOptions?.batchSize ?? defaults.batchSize),
              ({ batch, inputs, origin }) =>
                makeClient(origin).Fetch(new FetchBatch({ job, batch, inputs }), { discard: true }).pipe(
                  // A storage busy for a moment; the batch's primary key makes a retry safe.
                  Effect.retry(sendRetry),
                  Effect.tap(() => {
                    sent += inputs.length
                    if (submitOptions?.onProgress !== undefined) submitOptions.onProgress(sent, urls.length)
                  })
                ),
              { concurrency: submitOptions?.concurrency ?? defaults.submitConcurrency, discard: true }
            )
            return job
          }),
        status: store.status,
        jobs: store.jobs,
        results: (job, resultsOptions) =>
          Store.results(store, job, {
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
