/**
 * Past one machine: a sharded, durable gather on `@effect/cluster`.
 *
 * Every input URL becomes a persisted message to the entity of its origin
 * (`scheme://host:port`). An origin's entity lives on one runner at a time,
 * the one holding its shard, so the per-origin in-flight limit holds for the
 * whole cluster, not per runner. The runner fetches with its own `Session`
 * and stores the outcome (the same record as `gather fetch` writes) in a
 * results table keyed by job and input index: an input has exactly one stored
 * result even when its message runs twice. When a runner dies, the runners
 * left take over its shards and run the messages it had not finished.
 *
 * Storage is a SQLite file (one machine, nothing to start) or Postgres (many
 * machines). This module is a separate entry point, `effect-gather/Cluster`:
 * `effect-gather` itself never loads it. It needs the optional peer
 * dependencies `@effect/cluster` and `@effect/sql`, plus
 * `@effect/sql-sqlite-node` or `@effect/sql-pg` for the storage used.
 *
 * @since 0.1.0
 */
import type * as ClusterError from "@effect/cluster/ClusterError"
import type * as ShardingConfig from "@effect/cluster/ShardingConfig"
import type * as SocketServer from "@effect/platform/SocketServer"
import type { SqlError } from "@effect/sql/SqlError"
import type { ConfigError } from "effect/ConfigError"
import type * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Either from "effect/Either"
import type * as Layer from "effect/Layer"
import type * as Redacted from "effect/Redacted"
import type * as Stream from "effect/Stream"
import * as client from "./internal/cluster/client.js"
import * as runner from "./internal/cluster/runner.js"
import * as storage from "./internal/cluster/storage.js"
import * as store from "./internal/cluster/store.js"
import type * as Report from "./Report.js"
import type * as Session from "./Session.js"

/**
 * Where the cluster keeps messages, replies, runners, shard locks and
 * results. Every runner and client of one cluster names the same storage.
 *
 * @since 0.1.0
 * @category models
 */
export type Storage =
  | { readonly _tag: "Sqlite"; readonly filename: string }
  | { readonly _tag: "Postgres"; readonly url: Redacted.Redacted<string> }

/**
 * A storage string that does not parse, or a driver that is not installed.
 *
 * @since 0.1.0
 * @category errors
 */
export const StorageError: typeof storage.StorageError = storage.StorageError

/**
 * @since 0.1.0
 * @category errors
 */
export type StorageError = storage.StorageError

/**
 * A job that does not exist, or a job id reused for different inputs.
 *
 * @since 0.1.0
 * @category errors
 */
export const JobError: typeof store.JobError = store.JobError

/**
 * @since 0.1.0
 * @category errors
 */
export type JobError = store.JobError

/**
 * Why a runner could not start.
 *
 * @since 0.1.0
 * @category errors
 */
export type RunnerError = StorageError | SqlError | ConfigError | SocketServer.SocketServerError

/**
 * Why a client could not start.
 *
 * @since 0.1.0
 * @category errors
 */
export type ClientError = StorageError | SqlError | ConfigError

/**
 * Parses `sqlite:FILE` or `postgres://USER:PASSWORD@HOST:PORT/DB` (the
 * password is kept `Redacted`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const parseStorage: (spec: string) => Either.Either<Storage, StorageError> = storage.parseStorage

/**
 * The storage as text with any password redacted, for logs.
 *
 * @since 0.1.0
 * @category combinators
 */
export const describeStorage: (storage: Storage) => string = storage.describeStorage

/**
 * How to run a runner.
 *
 * @since 0.1.0
 * @category models
 */
export interface RunnerOptions {
  /** The cluster's storage, or its string form. Required. */
  readonly storage: Storage | string
  /** The address other runners and clients reach this runner at. Default `"127.0.0.1"`. */
  readonly host?: string | undefined
  /** The TCP port of the runner's socket. Default `34431`. */
  readonly port?: number | undefined
  /** The interface to listen on (e.g. `"0.0.0.0"`). Default: `host`. */
  readonly listenHost?: string | undefined
  /**
   * Requests in flight at once per origin, for the whole cluster (the
   * origin's entity runs this many messages at once). Every runner of a
   * cluster must use the same value. Default `4`.
   */
  readonly perOrigin?: number | undefined
  /**
   * Requests this runner has in flight at once, over all the origins it
   * holds: each runner brings its own budget, so runners add throughput
   * while `perOrigin` still holds for the whole cluster. Default `64`.
   */
  readonly concurrency?: number | undefined
  /**
   * Options of the runner's local `Session` (timeouts, retries,
   * `ratePerOrigin`...). `maxInFlightPerOrigin` and `maxConnectionsPerOrigin`
   * default to `perOrigin` (when neither of the option's names is given).
   */
  readonly session?: Session.Options | undefined
  /**
   * `@effect/cluster` settings over ours (lock refresh 2 s, lock expiry 10 s,
   * health checks every 2 s, storage polled every second). `shardsPerGroup`
   * must be the same on every runner and client.
   */
  readonly sharding?: Partial<ShardingConfig.ShardingConfig["Type"]> | undefined
}

/**
 * A running runner.
 *
 * @since 0.1.0
 * @category models
 */
export interface Runner {
  /** `host:port`, as stored with every result it fetched. */
  readonly address: string
  readonly storage: Storage
  /**
   * Fetches finished by this runner since it started; requests in flight
   * now; URLs begun and not yet stored (in flight, or fetched and being
   * stored): what a crash of this runner would fetch again.
   */
  readonly stats: Effect.Effect<{ readonly fetched: number; readonly inFlight: number; readonly pending: number }>
}

/**
 * The runner service tag.
 *
 * @since 0.1.0
 * @category models
 */
export const Runner: Context.Tag<Runner, Runner> = runner.tag

/**
 * A runner: joins the cluster, takes its share of the shards, fetches the
 * messages of the origins it holds and stores their results. It leaves the
 * cluster (handing its shards over) when the layer's scope closes.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerRunner: (options: RunnerOptions) => Layer.Layer<Runner, RunnerError> = runner.layer

/**
 * How to reach a cluster without running fetches.
 *
 * @since 0.1.0
 * @category models
 */
export interface ClientOptions {
  /** The cluster's storage, or its string form. Required. */
  readonly storage: Storage | string
  /** `@effect/cluster` settings; `shardsPerGroup` must match the runners'. */
  readonly sharding?: Partial<ShardingConfig.ShardingConfig["Type"]> | undefined
}

/**
 * Options of `submit`.
 *
 * @since 0.1.0
 * @category models
 */
export interface SubmitOptions {
  /**
   * The job id. Default: a new random id. Submitting the same inputs under
   * the same id again (after the submitting process crashed, say) stores
   * nothing twice: each input's message is keyed by job and index.
   */
  readonly job?: string | undefined
  /**
   * Inputs per message: each batch holds URLs of one origin and is
   * acknowledged once all of its results are stored. The origin's in-flight
   * limit counts URLs, not batches. Default `64`.
   */
  readonly batchSize?: number | undefined
  /**
   * Lines of a streamed job batched at once (the batches of a part never mix
   * with the next part's). A resubmit of the same stream must use the same
   * value to find the same batches. Default `16384`.
   */
  readonly partSize?: number | undefined
  /** Messages written at once. Default `64`. */
  readonly concurrency?: number | undefined
  /** Called after each message is stored, with the inputs sent so far and the total (unknown for a stream). */
  readonly onProgress?: ((sent: number, total: number | undefined) => void) | undefined
}

/**
 * Options of `results`.
 *
 * @since 0.1.0
 * @category models
 */
export interface ResultsOptions {
  /** Keep reading until every input has a result. Default `true`; `false` ends at what is stored now. */
  readonly follow?: boolean | undefined
  /** How often to look for new results while following. Default 250 ms. */
  readonly pollInterval?: Duration.DurationInput | undefined
}

/**
 * Where a job stands.
 *
 * @since 0.1.0
 * @category models
 */
export interface JobStatus {
  readonly job: string
  /** Inputs submitted (so far, while `submitting`). */
  readonly total: number
  /** Inputs with a stored result. */
  readonly done: number
  readonly ok: number
  readonly failed: number
  /** The job's inputs are still being stored by `submit`. */
  readonly submitting: boolean
  /** Every input is stored and has a result. */
  readonly finished: boolean
  readonly createdAt: Date
}

/**
 * What one runner stored of a job (`Client.progress`).
 *
 * @since 0.3.0
 * @category models
 */
export interface RunnerProgress {
  /** The runner (`host:port`). */
  readonly runner: string
  readonly done: number
  readonly ok: number
  readonly failed: number
  /**
   * Requests of the job it has in flight now, as it last published them
   * (every second); 0 for a runner not heard from in 5 s.
   *
   * @since 0.3.0
   */
  readonly inFlight: number
  /** Results it stored per second over the last 10 s. */
  readonly perSecond: number
}

/**
 * Where one origin of a job stands (`Client.progress`).
 *
 * @since 0.3.0
 * @category models
 */
export interface OriginProgress {
  /** `scheme://host:port`, or `"invalid"` for inputs that are not URLs; `null` for results stored before 0.3.0 (no origin column). */
  readonly origin: string | null
  /** Inputs of this origin submitted; `null` for a job submitted before 0.3.0. */
  readonly total: number | null
  readonly done: number
  readonly ok: number
  readonly failed: number
  /** Requests in flight now, over every runner (an origin lives on one runner at a time). */
  readonly inFlight: number
  /** Inputs without a result yet, in flight included (`total - done`); `null` when `total` is. */
  readonly pending: number | null
  /** Results stored per second over the last 10 s. */
  readonly perSecond: number
}

/**
 * A job's status with its throughput, per runner and in all.
 *
 * @since 0.3.0
 * @category models
 */
export interface JobProgress extends JobStatus {
  readonly runners: ReadonlyArray<RunnerProgress>
  /**
   * Every origin of the job, most pending first (then most done). A job of
   * many origins returns one row each: the command line prints the first few.
   *
   * @since 0.3.0
   */
  readonly origins: ReadonlyArray<OriginProgress>
  /** Inputs without a result yet (`total - done`), in flight included. @since 0.3.0 */
  readonly pending: number
  /** Requests in flight now, over every runner heard from in the last 5 s. @since 0.3.0 */
  readonly inFlight: number
  /** Results stored per second over the last 10 s, by every runner. */
  readonly perSecond: number
  /** Seconds left at that rate; `null` when nothing was stored in the last 10 s or the job is still being submitted. */
  readonly etaSeconds: number | null
}

/**
 * One stored result.
 *
 * @since 0.1.0
 * @category models
 */
export interface StoredResult {
  /** The input's position in the submitted list, from 0. */
  readonly index: number
  /** The runner that fetched it (`host:port`). */
  readonly runner: string
  /** The fetch succeeded (a 2xx response, or any status the session accepts). */
  readonly ok: boolean
  /** The response's final status (also of a `BadStatus` failure); `null` when no response came. */
  readonly status: number | null
  /** The failure's tag (`BadStatus`, `Timeout`, `InvalidUrl`...); `null` on success. */
  readonly error: string | null
  /** The `gather fetch` NDJSON record of the outcome, without its newline. */
  readonly record: string
}

/**
 * A client of the cluster: submits jobs and reads their results.
 *
 * @since 0.1.0
 * @category models
 */
export interface Client {
  readonly storage: Storage
  /**
   * Stores a job and its inputs as messages of batches; returns the job id
   * once every input is stored. A `Stream` is read in parts (16,384 lines at
   * a time) and never held whole: a job of a million URLs submits in flat
   * memory; `status` shows it as `submitting` until its last part is stored.
   */
  readonly submit: <E = never>(
    urls: ReadonlyArray<string> | Stream.Stream<string, E>,
    options?: SubmitOptions
  ) => Effect.Effect<string, JobError | SqlError | ClusterSendError | E>
  readonly status: (job: string) => Effect.Effect<JobStatus, JobError | SqlError>
  /**
   * Deletes a job and its stored results (retention); succeeds with how many
   * results it deleted. `@effect/cluster`'s own messages and replies of the
   * job stay in its tables.
   */
  readonly prune: (job: string) => Effect.Effect<number, JobError | SqlError>
  /**
   * The status with what each runner and each origin stored, has in flight
   * and the rate of the last 10 s. Counted with GROUP BY over an index of
   * the results (origin, runner, ok, stored time): no record is read, but
   * the index entries of every result of the job are.
   */
  readonly progress: (job: string) => Effect.Effect<JobProgress, JobError | SqlError>
  /**
   * The run report of the job (the page `gather fetch --report` writes),
   * rebuilt from the timing stored with each result: write it with
   * `Report.write`. It reads every stored result of the job and keeps each
   * in memory until the page is built (a row of numbers and its URL).
   * Results stored before 0.3.0 have no timing and are left out of the
   * page (its total says how many it shows).
   *
   * @since 0.3.0
   */
  readonly report: (job: string, options?: Report.Options) => Effect.Effect<Report.Tracker, JobError | SqlError>
  /** Every job in this storage, oldest first. */
  readonly jobs: Effect.Effect<ReadonlyArray<JobStatus>, SqlError>
  /** The job's results in the order they were stored, each input once. */
  readonly results: (job: string, options?: ResultsOptions) => Stream.Stream<StoredResult, JobError | SqlError>
}

/**
 * What sending a message to the cluster can fail with (`@effect/cluster`'s
 * `PersistenceError`, `MailboxFull`, `AlreadyProcessingMessage`).
 *
 * @since 0.1.0
 * @category errors
 */
export type ClusterSendError =
  | ClusterError.PersistenceError
  | ClusterError.MailboxFull
  | ClusterError.AlreadyProcessingMessage

/**
 * The client service tag.
 *
 * @since 0.1.0
 * @category models
 */
export const Client: Context.Tag<Client, Client> = client.tag

/**
 * A client: reads the cluster's shard assignments from its storage and
 * writes messages there (a client runs no entities).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerClient: (options: ClientOptions) => Layer.Layer<Client, ClientError> = client.layer
