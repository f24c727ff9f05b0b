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
import * as Session from "../../Session.js"
import { Origin, originOf } from "./entity.js"
import * as Fetcher from "./fetcher.js"
import { parseStorage, sqlLayer } from "./storage.js"
import * as Store from "./store.js"

/** @internal */
export const defaults = {
  host: "127.0.0.1",
  port: 34431,
  perOrigin: 4,
  concurrency: 64,
  /** Results stored in one INSERT at most. */
  writeBatch: 500
} as const

/** Batches an origin's entity holds in memory per request it may have in flight (the rest wait in storage). */
const mailboxBatchesPerSlot = 4

const FetcherTag = Context.GenericTag<Fetcher.Fetcher>("effect-gather/Cluster/Fetcher")

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

/** Whether the user's session options name an option under either of its names (a key present, even undefined, is their choice). */
const names = (session: Session.Options | undefined, name: keyof Session.Options, oldName: keyof Session.Options): boolean =>
  session !== undefined && (name in session || oldName in session)

/**
 * The runner's local session: `perOrigin` requests in flight and as many
 * connections per origin, unless the user's session options say otherwise.
 * Both limits have two names (`maxInFlightPerOrigin` and its old
 * `maxInFlightPerHost`, `maxConnectionsPerOrigin` and its old
 * `maxConnectionsPerHost`), so each default goes in only when neither of its
 * names is given: beside the user's own it would be a second value of one option.
 *
 * @internal
 */
export const sessionOptions = (perOrigin: number, session: Session.Options | undefined): Session.Options => ({
  ...(names(session, "maxInFlightPerOrigin", "maxInFlightPerHost") ? {} : { maxInFlightPerOrigin: perOrigin }),
  ...(names(session, "maxConnectionsPerOrigin", "maxConnectionsPerHost") ? {} : { maxConnectionsPerOrigin: perOrigin }),
  ...session
})

/** @internal */
export const tag = Context.GenericTag<api.Runner>("effect-gather/Cluster/Runner")

/** @internal */
export const layer = (options: api.RunnerOptions): Layer.Layer<api.Runner, api.RunnerError> =>
  Layer.unwrapEffect(Effect.map(resolveStorage(options.storage), (storage) => {
    const host = options.host ?? defaults.host
    const port = options.port ?? defaults.port
    const perOrigin = options.perOrigin ?? defaults.perOrigin
    const address = `${host}:${port}`
    const concurrency = options.concurrency ?? defaults.concurrency

    // One fetcher per runner, shared by every origin entity it holds.
    const fetcherLayer = Layer.scoped(
      FetcherTag,
      Effect.flatMap(Store.JobStore, (store) => Fetcher.make({ address, perOrigin, concurrency, writeBatch: defaults.writeBatch, store }))
    )

    const entity = Origin.toLayer(
      Effect.gen(function*() {
        const store = yield* Store.JobStore
        const fetcher = yield* FetcherTag
        return Origin.of({
          Fetch: ({ payload }) =>
            Effect.gen(function*() {
              // A batch run again (its runner died, or it died between the
              // stored results and the stored reply) fetches only what has no
              // result yet.
              const stored = yield* Effect.retry(store.stored(payload.job, payload.inputs.map((i) => i.index)), Store.storageRetry)
              const todo = payload.inputs.filter((input) => !stored.has(input.index))
              if (todo.length === 0) return
              yield* fetcher.run(payload.job, originOf(todo[0]!.url), todo)
            }).pipe(Effect.orDie)
        })
      }),
      {
        concurrency: perOrigin,
        // A few batches per origin in memory; the rest stay in storage.
        // @effect/cluster's default mailbox (4,096 messages per entity) took
        // every pending batch of a runner's origins into memory: at 1,000,000
        // URLs over 3 runners, 1.5-2.7 GB per runner after 12 minutes. A full
        // mailbox leaves a message stored and resumes the entity from
        // storage, 1,024 ids at a time, as the handler frees room.
        mailboxCapacity: perOrigin * mailboxBatchesPerSlot,
        maxIdleTime: options.sharding?.entityMaxIdleTime
      }
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

    const runnerLayer = Layer.effect(
      tag,
      Effect.map(FetcherTag, ({ stats }): api.Runner => ({
        address,
        storage,
        stats: Effect.sync(() => ({ fetched: stats.fetched, inFlight: stats.inFlight, pending: stats.pending }))
      }))
    )

    return Layer.merge(runnerLayer, entity).pipe(
      Layer.provide(fetcherLayer),
      Layer.provide(Store.layer),
      Layer.provide(Session.layer(sessionOptions(perOrigin, options.session))),
      Layer.provide(sharding),
      Layer.provide(sqlLayer(storage))
    )
  }))
