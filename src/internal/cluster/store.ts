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
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import type * as api from "../../Cluster.js"
import { migrate } from "./schema.js"

/** @internal */
export class JobError extends Data.TaggedError("JobError")<{
  readonly reason: "NotFound" | "Conflict"
  readonly message: string
}> {}

/** A stored result with its place in the table and its compact timing (see timing.ts). @internal */
export interface StoredRow extends api.StoredResult {
  readonly seq: number
  readonly timing: string | null
}

/** A result as the runner stores it: with its origin (the entity's key) and compact timing. @internal */
export interface NewRow extends api.StoredResult {
  readonly origin: string
  readonly timing: string | null
}

/** The rate window of `progress`: one `now` for every count of one call. @internal */
export interface Window {
  readonly now: number
  readonly windowMs: number
}

/** A runner's in-flight count of one origin, as read back. @internal */
export interface InFlightOf {
  readonly runner: string
  readonly origin: string
  readonly inFlight: number
}

/** What a runner has in flight now of one job's origin. @internal */
export interface InFlightRow {
  readonly job: string
  readonly origin: string
  readonly inFlight: number
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
  readonly put: (job: string, results: ReadonlyArray<NewRow>) => Effect.Effect<void, SqlError>
  /** Records the size and origin of batches (a batch recorded before is left as it is): the per-origin totals. */
  readonly batches: (
    job: string,
    batches: ReadonlyArray<{ readonly batch: number; readonly origin: string; readonly size: number }>
  ) => Effect.Effect<void, SqlError>
  /** Replaces what `runner` has in flight (one row per job and origin), stamped now. */
  readonly publishInFlight: (runner: string, rows: ReadonlyArray<InFlightRow>) => Effect.Effect<void, SqlError>
  readonly status: (job: string) => Effect.Effect<api.JobStatus, SqlError | JobError>
  /** What every runner heard from in the last 5 s has in flight of the job, per origin: read once per `progress`, so its sums agree. */
  readonly inFlight: (job: string, now: number) => Effect.Effect<ReadonlyArray<InFlightOf>, SqlError>
  /** Results per runner, how many each stored in the `windowMs` before `now`, and what each has in `flying`. */
  readonly runners: (
    job: string,
    window: Window,
    flying: ReadonlyArray<InFlightOf>
  ) => Effect.Effect<ReadonlyArray<api.RunnerProgress>, SqlError>
  /** Per origin: inputs submitted, results, how many stored in the window, what `flying` has in flight. */
  readonly origins: (
    job: string,
    window: Window,
    flying: ReadonlyArray<InFlightOf>
  ) => Effect.Effect<ReadonlyArray<api.OriginProgress>, SqlError>
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

/**
 * @internal
 * The storage is shared by every runner and client: a busy SQLite file or a
 * restarting Postgres answers again within seconds.
 */
export const storageRetry = Schedule.intersect(Schedule.exponential(Duration.millis(50), 2), Schedule.recurs(8))

const asNumber = (value: unknown): number => typeof value === "number" ? value : Number(value ?? 0)

/** One group's counts as the database returns them. */
interface Counts {
  readonly done: unknown
  readonly ok: unknown
  readonly recent: unknown
}

const setCounts = (target: { done: number; ok: number; recent: number }, row: Counts): void => {
  target.done = asNumber(row.done)
  target.ok = asNumber(row.ok)
  target.recent = asNumber(row.recent)
}

/**
 * A runner's in-flight rows older than this are not counted: it publishes
 * every second (`inFlightEvery`), so a runner that stopped (or was killed)
 * drops out of `progress` within seconds.
 */
const inFlightStaleMs = 5_000

/** @internal How often a runner publishes what it has in flight. */
export const inFlightEvery = Duration.seconds(1)

// Rows per multi-row INSERT: SQLite allows 32,766 bound values per statement.
const insertChunk = 500

const chunks = <A>(items: ReadonlyArray<A>, size: number): Array<ReadonlyArray<A>> => {
  const out: Array<ReadonlyArray<A>> = []
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size))
  return out
}

/** @internal */
export const make: Effect.Effect<JobStore, SqlError, SqlClient.SqlClient> = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  // A job's results counted per runner or per origin (the covering index
  // answers both): done, ok, and stored since `since`.
  const countsBy = (job: string, column: "runner" | "origin", since: number) =>
    sql<Counts & { readonly grp: unknown }>`
      SELECT ${sql(column)} AS grp, COUNT(*) AS done, COALESCE(SUM(ok), 0) AS ok,
        COALESCE(SUM(CASE WHEN stored_at >= ${since} THEN 1 ELSE 0 END), 0) AS recent
      FROM gather_results WHERE job_id = ${job} GROUP BY ${sql(column)}`

  yield* migrate

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
              record: result.record,
              origin: result.origin,
              timing: result.timing
            })))
          } ON CONFLICT (job_id, idx) DO NOTHING`
        )
      }),
    batches: (job, batches) =>
      Effect.forEach(
        chunks(batches, insertChunk),
        (chunk) =>
          sql`INSERT INTO gather_batches ${
            sql.insert(chunk.map((b) => ({ job_id: job, batch: b.batch, origin: b.origin, size: b.size })))
          } ON CONFLICT (job_id, batch) DO NOTHING`,
        { discard: true }
      ),
    publishInFlight: (runner, rows) =>
      sql.withTransaction(Effect.gen(function*() {
        yield* sql`DELETE FROM gather_inflight WHERE runner = ${runner}`
        const now = Date.now()
        for (const chunk of chunks(rows, insertChunk)) {
          yield* sql`INSERT INTO gather_inflight ${
            sql.insert(chunk.map((r) => ({ runner, job_id: r.job, origin: r.origin, in_flight: r.inFlight, updated_at: now })))
          }`
        }
      })),
    inFlight: (job, now) =>
      Effect.map(
        sql<{ readonly runner: unknown; readonly origin: unknown; readonly in_flight: unknown }>`
          SELECT runner, origin, in_flight FROM gather_inflight WHERE job_id = ${job} AND updated_at >= ${now - inFlightStaleMs}`,
        (rows) => rows.map((row): InFlightOf => ({ runner: String(row.runner), origin: String(row.origin), inFlight: asNumber(row.in_flight) }))
      ),
    runners: (job, { now, windowMs }, flying) =>
      Effect.gen(function*() {
        const rows = yield* countsBy(job, "runner", now - windowMs)
        const byRunner = new Map<string, { done: number; ok: number; recent: number; inFlight: number }>()
        const entry = (runner: string) => {
          let found = byRunner.get(runner)
          if (found === undefined) byRunner.set(runner, found = { done: 0, ok: 0, recent: 0, inFlight: 0 })
          return found
        }
        for (const row of rows) setCounts(entry(String(row.grp)), row)
        for (const row of flying) entry(row.runner).inFlight += row.inFlight
        return Array.from(byRunner, ([runner, r]): api.RunnerProgress => ({
          runner,
          done: r.done,
          ok: r.ok,
          failed: r.done - r.ok,
          inFlight: r.inFlight,
          perSecond: (r.recent * 1000) / windowMs
        })).sort((a, b) => a.runner < b.runner ? -1 : a.runner > b.runner ? 1 : 0)
      }),
    origins: (job, { now, windowMs }, flying) =>
      Effect.gen(function*() {
        const totals = yield* sql<{ readonly origin: unknown; readonly total: unknown }>`
          SELECT origin, SUM(size) AS total FROM gather_batches WHERE job_id = ${job} GROUP BY origin`
        const rows = yield* countsBy(job, "origin", now - windowMs)
        // Results stored before 0.3.0 have no origin: they count under null.
        const byOrigin = new Map<string | null, { total: number | null; done: number; ok: number; recent: number; inFlight: number }>()
        const entry = (origin: unknown) => {
          const key = origin === null || origin === undefined ? null : String(origin)
          let found = byOrigin.get(key)
          if (found === undefined) byOrigin.set(key, found = { total: null, done: 0, ok: 0, recent: 0, inFlight: 0 })
          return found
        }
        for (const row of totals) entry(row.origin).total = asNumber(row.total)
        for (const row of rows) setCounts(entry(row.grp), row)
        for (const row of flying) entry(row.origin).inFlight += row.inFlight
        return Array.from(byOrigin, ([origin, o]): api.OriginProgress => ({
          origin,
          total: o.total,
          done: o.done,
          ok: o.ok,
          failed: o.done - o.ok,
          inFlight: o.inFlight,
          pending: o.total === null ? null : Math.max(0, o.total - o.done),
          perSecond: (o.recent * 1000) / windowMs
        }))
      }),
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
        yield* sql`DELETE FROM gather_batches WHERE job_id = ${job}`
        yield* sql`DELETE FROM gather_inflight WHERE job_id = ${job}`
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
          readonly timing: unknown
        }>`
          SELECT seq, idx, ok, status, error, runner, record, timing FROM gather_results
          WHERE job_id = ${job} AND seq > ${afterSeq} ORDER BY seq LIMIT ${limit}`,
        (rows) =>
          rows.map((row): StoredRow => ({
            seq: asNumber(row.seq),
            index: asNumber(row.idx),
            runner: String(row.runner),
            ok: asNumber(row.ok) === 1,
            status: row.status === null || row.status === undefined ? null : asNumber(row.status),
            error: row.error === null || row.error === undefined ? null : String(row.error),
            record: String(row.record),
            timing: typeof row.timing === "string" ? row.timing : null
          }))
      )
  }
  return store
})

/** @internal */
export const layer: Layer.Layer<JobStore, SqlError, SqlClient.SqlClient> = Layer.effect(JobStore, make)
