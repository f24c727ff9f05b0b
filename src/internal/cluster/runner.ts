import * as RunnerAddress from "@effect/cluster/RunnerAddress"
import * as ShardingConfig from "@effect/cluster/ShardingConfig"
import * as SqlMessageStorage from "@effect/cluster/SqlMessageStorage"
import * as SqlRunnerStorage from "@effect/cluster/SqlRunnerStorage"
import * as NodeClusterSocket from "@effect/platform-node/NodeClusterSocket"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import type * as api from "../../Cluster.js"
import * as Fetch from "../../Fetch.js"
import * as Session from "../../Session.js"
import * as Records from "../record.js"
import { type Input, Origin } from "./entity.js"
import { parseStorage, sqlLayer } from "./storage.js"
import * as Store from "./store.js"

/** @internal */
export const defaults = {
  host: "127.0.0.1",
  port: 34431,
  perOrigin: 4
} as const

/**
 * Failover settings for a crawl: a dead runner's shards move after about
 * `shardLockExpiration` (SQLite; Postgres releases its advisory locks when the
 * connection drops) and `runnerHealthCheckInterval`. `@effect/cluster`'s own
 * defaults (35 s, 1 min) suit long-lived services; a crawl wants its origins
 * back within seconds.
 *
 * @internal
 */
export const shardingDefaults: Partial<ShardingConfig.ShardingConfig["Type"]> = {
  shardLockRefreshInterval: Duration.seconds(2),
  shardLockExpiration: Duration.seconds(10),
  runnerHealthCheckInterval: Duration.seconds(2),
  entityMessagePollInterval: Duration.seconds(1),
  refreshAssignmentsInterval: Duration.seconds(1)
}

// Several runners starting at once on an empty database race on
// `@effect/cluster`'s CREATE TABLE IF NOT EXISTS (Postgres fails all but one
// with a duplicate pg_type row: a runner of four died at start-up here).
// Its storage layers are built here, retried, and handed to the runner.
const migrationRetry = Schedule.intersect(Schedule.spaced(Duration.millis(250)), Schedule.recurs(20))

// SqlMessageStorage dies (rather than fails) when its migration fails, so
// the retry looks at the whole cause.
const retried = <A, E, R>(layer: Layer.Layer<A, E, R>): Layer.Layer<A, E, R> =>
  layer.pipe(
    Layer.catchAllCause((cause) => Layer.fail(cause)),
    Layer.retry(migrationRetry),
    Layer.catchAll((cause) => Layer.failCause(cause))
  )

/** `@effect/cluster`'s SQL message and runner storage, its migrations retried. @internal */
export const clusterStorage = (config: Partial<ShardingConfig.ShardingConfig["Type"]>) =>
  Layer.merge(retried(SqlMessageStorage.layer), retried(SqlRunnerStorage.layer)).pipe(
    Layer.provide(ShardingConfig.layerFromEnv(config))
  )

/** @internal */
export const resolveStorage = (storage: api.Storage | string): Effect.Effect<api.Storage, api.StorageError> =>
  typeof storage === "string" ? Either.match(parseStorage(storage), { onLeft: Effect.fail, onRight: Effect.succeed }) : Effect.succeed(storage)

/** @internal */
export const tag = Context.GenericTag<api.Runner>("effect-gather/Cluster/Runner")

// The storage is shared by every runner: a busy SQLite file or a restarting
// Postgres answers again within seconds.
const storageRetry = Schedule.intersect(Schedule.exponential(Duration.millis(50), 2), Schedule.recurs(8))

/** @internal */
export const layer = (options: api.RunnerOptions): Layer.Layer<api.Runner, api.RunnerError> =>
  Layer.unwrapEffect(Effect.map(resolveStorage(options.storage), (storage) => {
    const host = options.host ?? defaults.host
    const port = options.port ?? defaults.port
    const perOrigin = options.perOrigin ?? defaults.perOrigin
    const address = `${host}:${port}`
    const stats = { fetched: 0, inFlight: 0, pending: 0 }

    const entity = Origin.toLayer(
      Effect.gen(function*() {
        const store = yield* Store.JobStore
        const session = yield* Session.Session
        // The origin's in-flight limit: one semaphore per entity, that is per
        // origin, living on the one runner that holds the origin's shard.
        const slots = yield* Effect.makeSemaphore(perOrigin)
        const fetchOne = (job: string, input: typeof Input.Type) =>
          Effect.gen(function*() {
            stats.pending++
            stats.inFlight++
            const record = yield* Fetch.get(input.url).pipe(
              Effect.match({
                onFailure: (error) => Records.fromError(input.url, error),
                onSuccess: (response) => Records.fromResponse(input.url, response)
              }),
              Effect.ensuring(Effect.sync(() => {
                stats.inFlight--
              })),
              Effect.provideService(Session.Session, session)
            )
            stats.fetched++
            yield* Effect.retry(
              store.put(job, [{
                index: input.index,
                runner: address,
                ok: record.ok,
                status: record.status,
                error: record.error?.tag ?? null,
                record: JSON.stringify(record)
              }]),
              storageRetry
            )
          }).pipe(Effect.ensuring(Effect.sync(() => {
            stats.pending--
          })))
        return Origin.of({
          Fetch: ({ payload }) =>
            Effect.gen(function*() {
              // A batch run again (its runner died, or it died between the
              // stored results and the stored reply) fetches only what has no
              // result yet.
              const stored = yield* Effect.retry(store.stored(payload.job, payload.inputs.map((i) => i.index)), storageRetry)
              const todo = payload.inputs.filter((input) => !stored.has(input.index))
              yield* Effect.forEach(todo, (input) => slots.withPermits(1)(fetchOne(payload.job, input)), {
                concurrency: "unbounded",
                discard: true
              })
            }).pipe(Effect.orDie)
        })
      }),
      { concurrency: perOrigin, maxIdleTime: options.sharding?.entityMaxIdleTime }
    )

    const shardingConfig = {
      ...shardingDefaults,
      ...options.sharding,
      runnerAddress: Option.some(RunnerAddress.make(host, port)),
      runnerListenAddress: Option.some(RunnerAddress.make(options.listenHost ?? host, port))
    }
    const sharding = NodeClusterSocket.layer({ storage: "byo", shardingConfig }).pipe(
      Layer.provideMerge(clusterStorage(shardingConfig))
    )

    const runner: api.Runner = {
      address,
      storage,
      stats: Effect.sync(() => ({ fetched: stats.fetched, inFlight: stats.inFlight, pending: stats.pending }))
    }

    return Layer.succeed(tag, runner).pipe(
      Layer.merge(entity),
      Layer.provide(Store.layer),
      Layer.provide(Session.layer({
        maxInFlightPerHost: perOrigin,
        maxConnectionsPerHost: perOrigin,
        ...options.session
      })),
      Layer.provide(sharding),
      Layer.provide(sqlLayer(storage))
    )
  }))
