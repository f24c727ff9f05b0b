/**
 * The results table: one row per (job, input index), written by the runner
 * that fetched it, read by `results` and `status`. The unique key makes a
 * result stored twice (a message run again after its runner died between
 * the fetch and the reply) a no-op, so every input has exactly one row.
 *
 * `@effect/cluster` keeps the messages and their replies in its own tables;
 * this table is ours because it must be read by job, in the order results
 * were stored, by a process that is not a runner.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import type * as api from "../../Cluster.js"

/** @internal */
export class JobError extends Data.TaggedError("JobError")<{
  readonly reason: "NotFound" | "Conflict"
  readonly message: string
}> {}

/** A stored result with its place in the table. @internal */
export interface StoredRow extends api.StoredResult {
  readonly seq: number
}

/** @internal */
export interface JobStore {
  /**
   * Creates the job (open: its inputs are still being stored) or finds it.
   * A job found sealed says how many inputs it has; a resubmit must match.
   */
  readonly openJob: (job: string) => Effect.Effect<{ readonly total: number; readonly sealed: boolean }, SqlError>
  /** The inputs stored so far of an open job (status shows them while it is submitted). */
  readonly grow: (job: string, total: number) => Effect.Effect<void, SqlError>
  /** Every input is stored: the job has `total` inputs; a job sealed with another count is a Conflict. */
  readonly seal: (job: string, total: number) => Effect.Effect<void, SqlError | JobError>
  /** Which of these inputs have a result. */
  readonly stored: (job: string, indexes: ReadonlyArray<number>) => Effect.Effect<ReadonlySet<number>, SqlError>
  /** Stores results in one statement; a result already stored (same job and index) is left as it is. */
  readonly put: (job: string, results: ReadonlyArray<api.StoredResult>) => Effect.Effect<void, SqlError>
  readonly status: (job: string) => Effect.Effect<api.JobStatus, SqlError | JobError>
  /** Results per runner, and how many each stored in the last `windowMs`. */
  readonly runners: (job: string, windowMs: number) => Effect.Effect<ReadonlyArray<api.RunnerProgress>, SqlError>
  /** Deletes the job and its results; how many results there were. */
  readonly prune: (job: string) => Effect.Effect<number, SqlError | JobError>
  readonly jobs: Effect.Effect<ReadonlyArray<api.JobStatus>, SqlError>
  readonly page: (
    job: string,
    afterSeq: number,
    limit: number
  ) => Effect.Effect<ReadonlyArray<StoredRow>, SqlError>
}

/** @internal */
export const JobStore = Context.GenericTag<JobStore>("effect-gather/Cluster/JobStore")

// Three runners starting at once race on CREATE TABLE IF NOT EXISTS (Postgres
// can fail one with a duplicate pg_type row); a retry sees the table.
/**
 * @internal
 * The storage is shared by every runner and client: a busy SQLite file or a
 * restarting Postgres answers again within seconds.
 */
export const storageRetry = Schedule.intersect(Schedule.exponential(Duration.millis(50), 2), Schedule.recurs(8))

const migrationRetry = Schedule.intersect(Schedule.spaced(Duration.millis(200)), Schedule.recurs(10))

const asNumber = (value: unknown): number => typeof value === "number" ? value : Number(value ?? 0)

/** @internal */
export const make: Effect.Effect<JobStore, SqlError, SqlClient.SqlClient> = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient

  yield* Effect.retry(
    // Both dialects only create and alter: what each returns is dropped.
    Effect.asVoid<unknown, SqlError, never>(sql.onDialectOrElse({
      pg: () =>
        Effect.zipRight(
          sql`CREATE TABLE IF NOT EXISTS gather_jobs (
            id TEXT PRIMARY KEY,
            total INTEGER NOT NULL,
            created_at BIGINT NOT NULL,
            sealed INTEGER NOT NULL DEFAULT 1
          )`,
          sql`CREATE TABLE IF NOT EXISTS gather_results (
            seq BIGSERIAL PRIMARY KEY,
            job_id TEXT NOT NULL,
            idx INTEGER NOT NULL,
            ok INTEGER NOT NULL,
            status INTEGER,
            error TEXT,
            stored_at BIGINT,
            runner TEXT NOT NULL,
            record TEXT NOT NULL,
            UNIQUE (job_id, idx)
          )`
        ).pipe(
          Effect.zipRight(sql`ALTER TABLE gather_results ADD COLUMN IF NOT EXISTS status INTEGER`),
          Effect.zipRight(sql`ALTER TABLE gather_results ADD COLUMN IF NOT EXISTS error TEXT`),
          Effect.zipRight(sql`ALTER TABLE gather_results ADD COLUMN IF NOT EXISTS stored_at BIGINT`),
          Effect.zipRight(sql`ALTER TABLE gather_jobs ADD COLUMN IF NOT EXISTS sealed INTEGER NOT NULL DEFAULT 1`)
        ),
      orElse: () =>
        Effect.zipRight(
          sql`CREATE TABLE IF NOT EXISTS gather_jobs (
            id TEXT PRIMARY KEY,
            total INTEGER NOT NULL,
            created_at INTEGER NOT NULL,
            sealed INTEGER NOT NULL DEFAULT 1
          )`,
          sql`CREATE TABLE IF NOT EXISTS gather_results (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            job_id TEXT NOT NULL,
            idx INTEGER NOT NULL,
            ok INTEGER NOT NULL,
            status INTEGER,
            error TEXT,
            stored_at BIGINT,
            runner TEXT NOT NULL,
            record TEXT NOT NULL,
            UNIQUE (job_id, idx)
          )`
        ).pipe(
          // SQLite has no ADD COLUMN IF NOT EXISTS: a table of 0.2.0 gets the columns here.
          Effect.zipRight(Effect.all([
            sql<{ readonly name: unknown }>`PRAGMA table_info(gather_results)`,
            sql<{ readonly name: unknown }>`PRAGMA table_info(gather_jobs)`
          ])),
          Effect.flatMap(([results, jobs]) => {
            const names = new Set(results.map((c) => String(c.name)))
            const jobNames = new Set(jobs.map((c) => String(c.name)))
            return Effect.all([
              names.has("status") ? Effect.void : sql`ALTER TABLE gather_results ADD COLUMN status INTEGER`,
              names.has("error") ? Effect.void : sql`ALTER TABLE gather_results ADD COLUMN error TEXT`,
              names.has("stored_at") ? Effect.void : sql`ALTER TABLE gather_results ADD COLUMN stored_at BIGINT`,
              jobNames.has("sealed") ? Effect.void : sql`ALTER TABLE gather_jobs ADD COLUMN sealed INTEGER NOT NULL DEFAULT 1`
            ], { discard: true })
          })
        )
    })),
    migrationRetry
  )
  // `results` pages a job's rows in `seq` order and `status` counts them:
  // both by job, so (job_id, seq) serves both without a sort.
  yield* Effect.retry(sql`CREATE INDEX IF NOT EXISTS gather_results_job_seq ON gather_results (job_id, seq)`, migrationRetry)

  type JobRow = { readonly id: unknown; readonly total: unknown; readonly created_at: unknown; readonly sealed: unknown }
  const statusOf = (row: JobRow) =>
    Effect.map(
      sql<{ readonly done: unknown; readonly ok: unknown }>`
        SELECT COUNT(*) AS done, COALESCE(SUM(ok), 0) AS ok FROM gather_results WHERE job_id = ${String(row.id)}`,
      (rows): api.JobStatus => {
        const done = asNumber(rows[0]?.done)
        const ok = asNumber(rows[0]?.ok)
        const total = asNumber(row.total)
        const sealed = asNumber(row.sealed) === 1
        return {
          job: String(row.id),
          total,
          done,
          ok,
          failed: done - ok,
          submitting: !sealed,
          finished: sealed && done >= total,
          createdAt: new Date(asNumber(row.created_at))
        }
      }
    )

  const store: JobStore = {
    openJob: (job) =>
      Effect.gen(function*() {
        yield* sql`INSERT INTO gather_jobs (id, total, created_at, sealed) VALUES (${job}, 0, ${Date.now()}, 0)
          ON CONFLICT (id) DO NOTHING`
        const rows = yield* sql<{ readonly total: unknown; readonly sealed: unknown }>`
          SELECT total, sealed FROM gather_jobs WHERE id = ${job}`
        return { total: asNumber(rows[0]?.total), sealed: asNumber(rows[0]?.sealed) === 1 }
      }),
    grow: (job, total) => Effect.asVoid(sql`UPDATE gather_jobs SET total = ${total} WHERE id = ${job} AND sealed = 0 AND total < ${total}`),
    seal: (job, total) =>
      Effect.gen(function*() {
        yield* sql`UPDATE gather_jobs SET total = ${total}, sealed = 1 WHERE id = ${job} AND sealed = 0`
        const rows = yield* sql<{ readonly total: unknown }>`SELECT total FROM gather_jobs WHERE id = ${job}`
        const stored = asNumber(rows[0]?.total)
        if (stored !== total) {
          return yield* new JobError({
            reason: "Conflict",
            message: `job ${job} already exists with ${stored} inputs, not ${total}`
          })
        }
      }),
    stored: (job, indexes) =>
      indexes.length === 0
        ? Effect.succeed(new Set<number>())
        : Effect.map(
          sql<{ readonly idx: unknown }>`SELECT idx FROM gather_results WHERE job_id = ${job} AND ${sql.in("idx", indexes)}`,
          (rows) => new Set(rows.map((row) => asNumber(row.idx)))
        ),
    put: (job, results) =>
      results.length === 0 ? Effect.void : Effect.suspend(() => {
        const storedAt = Date.now()
        return Effect.asVoid(
          sql`INSERT INTO gather_results ${
            sql.insert(results.map((result) => ({
              job_id: job,
              idx: result.index,
              ok: result.ok ? 1 : 0,
              status: result.status,
              error: result.error,
              stored_at: storedAt,
              runner: result.runner,
              record: result.record
            })))
          } ON CONFLICT (job_id, idx) DO NOTHING`
        )
      }),
    runners: (job, windowMs) =>
      Effect.map(
        sql<{ readonly runner: unknown; readonly done: unknown; readonly ok: unknown; readonly recent: unknown }>`
          SELECT runner, COUNT(*) AS done, COALESCE(SUM(ok), 0) AS ok,
            COALESCE(SUM(CASE WHEN stored_at >= ${Date.now() - windowMs} THEN 1 ELSE 0 END), 0) AS recent
          FROM gather_results WHERE job_id = ${job} GROUP BY runner ORDER BY runner`,
        (rows) =>
          rows.map((row): api.RunnerProgress => {
            const done = asNumber(row.done)
            const ok = asNumber(row.ok)
            return { runner: String(row.runner), done, ok, failed: done - ok, perSecond: (asNumber(row.recent) * 1000) / windowMs }
          })
      ),
    status: (job) =>
      Effect.flatMap(
        sql<JobRow>`SELECT id, total, created_at, sealed FROM gather_jobs WHERE id = ${job}`,
        (rows): Effect.Effect<api.JobStatus, SqlError | JobError> =>
          rows[0] === undefined
            ? Effect.fail(new JobError({ reason: "NotFound", message: `no job ${job} in this storage` }))
            : statusOf(rows[0])
      ),
    prune: (job) =>
      sql.withTransaction(Effect.gen(function*() {
        const rows = yield* sql<{ readonly id: unknown }>`SELECT id FROM gather_jobs WHERE id = ${job}`
        if (rows.length === 0) return yield* new JobError({ reason: "NotFound", message: `no job ${job} in this storage` })
        const counted = yield* sql<{ readonly n: unknown }>`SELECT COUNT(*) AS n FROM gather_results WHERE job_id = ${job}`
        yield* sql`DELETE FROM gather_results WHERE job_id = ${job}`
        yield* sql`DELETE FROM gather_jobs WHERE id = ${job}`
        return asNumber(counted[0]?.n)
      })),
    jobs: Effect.flatMap(
      sql<JobRow>`SELECT id, total, created_at, sealed FROM gather_jobs ORDER BY created_at`,
      (rows) => Effect.forEach(rows, statusOf)
    ),
    page: (job, afterSeq, limit) =>
      Effect.map(
        sql<{
          readonly seq: unknown
          readonly idx: unknown
          readonly ok: unknown
          readonly status: unknown
          readonly error: unknown
          readonly runner: unknown
          readonly record: unknown
        }>`
          SELECT seq, idx, ok, status, error, runner, record FROM gather_results
          WHERE job_id = ${job} AND seq > ${afterSeq} ORDER BY seq LIMIT ${limit}`,
        (rows) =>
          rows.map((row): StoredRow => ({
            seq: asNumber(row.seq),
            index: asNumber(row.idx),
            runner: String(row.runner),
            ok: asNumber(row.ok) === 1,
            status: row.status === null || row.status === undefined ? null : asNumber(row.status),
            error: row.error === null || row.error === undefined ? null : String(row.error),
            record: String(row.record)
          }))
      )
  }
  return store
})

/** @internal */
export const layer: Layer.Layer<JobStore, SqlError, SqlClient.SqlClient> = Layer.effect(JobStore, make)

/**
 * Every stored result of a job, in the order they were stored, each once.
 *
 * Postgres hands out `seq` values before the rows commit, so a row with a
 * lower `seq` can appear after a higher one was read: each page re-reads a
 * window behind the cursor, and a set of the indexes already emitted drops
 * the repeats. When the stream ends, one full pass picks up anything the
 * window missed. A job still being submitted is followed until it is
 * sealed and every input has a result.
 *
 * @internal
 */
export const results = (
  store: JobStore,
  job: string,
  options: { readonly follow: boolean; readonly pollInterval: Duration.DurationInput }
): Stream.Stream<api.StoredResult, SqlError | JobError> =>
  Stream.unwrap(Effect.map(store.status(job), (initial) => {
    // One byte per input; grows while the job is still being submitted.
    let seen = new Uint8Array(Math.max(initial.total, 1024))
    let total = initial.total
    let sealed = !initial.submitting
    let emitted = 0
    let cursor = 0
    const window = 256
    const pageSize = 1000

    const fresh = (rows: ReadonlyArray<StoredRow>): Array<api.StoredResult> => {
      const out: Array<api.StoredResult> = []
      for (const row of rows) {
        if (row.seq > cursor) cursor = row.seq
        if (row.index < 0) continue
        if (row.index >= seen.length) {
          const grown = new Uint8Array(Math.max(row.index + 1, seen.length * 2))
          grown.set(seen)
          seen = grown
        }
        if (seen[row.index] === 1) continue
        seen[row.index] = 1
        emitted++
        out.push({ index: row.index, runner: row.runner, ok: row.ok, status: row.status, error: row.error, record: row.record })
      }
      return out
    }

    const sweep = Effect.gen(function*() {
      const out: Array<api.StoredResult> = []
      let after = 0
      while (true) {
        const rows = yield* store.page(job, after, pageSize)
        if (rows.length === 0) return out
        after = rows[rows.length - 1]!.seq
        const keep = cursor
        for (const row of fresh(rows)) out.push(row)
        cursor = keep
      }
    })

    // None: the stream is over.
    const next: Effect.Effect<Option.Option<Chunk.Chunk<api.StoredResult>>, SqlError | JobError> = Effect.gen(function*() {
      while (true) {
        if (sealed && emitted >= total) return Option.none()
        const rows = yield* store.page(job, Math.max(0, cursor - window), pageSize)
        const out = fresh(rows)
        if (out.length > 0) return Option.some(Chunk.unsafeFromArray(out))
        if (rows.length >= pageSize) continue
        const status = yield* store.status(job)
        total = status.total
        sealed = !status.submitting
        if (status.done > emitted) {
          const missed = yield* sweep
          if (missed.length > 0) return Option.some(Chunk.unsafeFromArray(missed))
        }
        if (!options.follow) return Option.none()
        yield* Effect.sleep(options.pollInterval)
      }
    })

    return Stream.flattenChunks(Stream.repeatEffectOption(
      Effect.flatMap(Effect.mapError(next, Option.some), (o) => Option.isSome(o) ? Effect.succeed(o.value) : Effect.fail(Option.none()))
    ))
  }))
