/**
 * The cluster's tables: created when a store starts, and brought up to date
 * when they were made by an older version (the columns it did not have).
 * Every runner and client runs this on start; each statement is idempotent.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"

// Three runners starting at once race on CREATE TABLE IF NOT EXISTS (Postgres
// can fail one with a duplicate pg_type row); a retry sees the table.
const migrationRetry = Schedule.intersect(Schedule.spaced(Duration.millis(200)), Schedule.recurs(10))

/**
 * The jobs and results tables: the same in both dialects but for how each
 * types the results' `seq` (Postgres numbers it with BIGSERIAL, SQLite with
 * its AUTOINCREMENT rowid) and the jobs' `created_at`.
 */
const createJobsAndResults = (sql: SqlClient.SqlClient, types: { readonly seq: string; readonly createdAt: string }) =>
  Effect.zipRight(
    sql`CREATE TABLE IF NOT EXISTS gather_jobs (
      id TEXT PRIMARY KEY,
      total INTEGER NOT NULL,
      created_at ${sql.literal(types.createdAt)} NOT NULL,
      sealed INTEGER NOT NULL DEFAULT 1
    )`,
    sql`CREATE TABLE IF NOT EXISTS gather_results (
      seq ${sql.literal(types.seq)},
      job_id TEXT NOT NULL,
      idx INTEGER NOT NULL,
      ok INTEGER NOT NULL,
      status INTEGER,
      error TEXT,
      stored_at BIGINT,
      runner TEXT NOT NULL,
      record TEXT NOT NULL,
      origin TEXT,
      timing TEXT,
      UNIQUE (job_id, idx)
    )`
  )

/** @internal Creates the results, jobs, batches and in-flight tables and their indexes, or adds what an older table lacks. */
export const migrate: Effect.Effect<void, SqlError, SqlClient.SqlClient> = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* Effect.retry(
    // Both dialects only create and alter: what each returns is dropped.
    Effect.asVoid<unknown, SqlError, never>(sql.onDialectOrElse({
      pg: () =>
        createJobsAndResults(sql, { seq: "BIGSERIAL PRIMARY KEY", createdAt: "BIGINT" }).pipe(
          Effect.zipRight(sql`ALTER TABLE gather_results ADD COLUMN IF NOT EXISTS status INTEGER`),
          Effect.zipRight(sql`ALTER TABLE gather_results ADD COLUMN IF NOT EXISTS error TEXT`),
          Effect.zipRight(sql`ALTER TABLE gather_results ADD COLUMN IF NOT EXISTS stored_at BIGINT`),
          Effect.zipRight(sql`ALTER TABLE gather_results ADD COLUMN IF NOT EXISTS origin TEXT`),
          Effect.zipRight(sql`ALTER TABLE gather_results ADD COLUMN IF NOT EXISTS timing TEXT`),
          Effect.zipRight(sql`ALTER TABLE gather_jobs ADD COLUMN IF NOT EXISTS sealed INTEGER NOT NULL DEFAULT 1`)
        ),
      orElse: () =>
        createJobsAndResults(sql, { seq: "INTEGER PRIMARY KEY AUTOINCREMENT", createdAt: "INTEGER" }).pipe(
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
              names.has("origin") ? Effect.void : sql`ALTER TABLE gather_results ADD COLUMN origin TEXT`,
              names.has("timing") ? Effect.void : sql`ALTER TABLE gather_results ADD COLUMN timing TEXT`,
              jobNames.has("sealed") ? Effect.void : sql`ALTER TABLE gather_jobs ADD COLUMN sealed INTEGER NOT NULL DEFAULT 1`
            ], { discard: true })
          })
        )
    })),
    migrationRetry
  )
  // The same in both dialects: per-origin totals (a row per batch, written
  // by submit; about 1/64 of the results' rows) and what each runner has in
  // flight now (a few rows per runner, replaced every second).
  yield* Effect.retry(
    Effect.zipRight(
      sql`CREATE TABLE IF NOT EXISTS gather_batches (
        job_id TEXT NOT NULL,
        batch INTEGER NOT NULL,
        origin TEXT NOT NULL,
        size INTEGER NOT NULL,
        PRIMARY KEY (job_id, batch)
      )`,
      sql`CREATE TABLE IF NOT EXISTS gather_inflight (
        runner TEXT NOT NULL,
        job_id TEXT NOT NULL,
        origin TEXT NOT NULL,
        in_flight INTEGER NOT NULL,
        updated_at BIGINT NOT NULL,
        PRIMARY KEY (runner, job_id, origin)
      )`
    ),
    migrationRetry
  )
  // `results` pages a job's rows in `seq` order: (job_id, seq) serves it without a sort.
  yield* Effect.retry(sql`CREATE INDEX IF NOT EXISTS gather_results_job_seq ON gather_results (job_id, seq)`, migrationRetry)
  // `status` counts a job's results and `progress` groups them by origin and
  // by runner: this index covers all three, so none reads a row's record
  // (the JSON is most of a row's bytes). One more index per insert: the
  // writer's multi-row inserts keep that cost per statement small.
  yield* Effect.retry(
    sql`CREATE INDEX IF NOT EXISTS gather_results_job_origin ON gather_results (job_id, origin, runner, ok, stored_at)`,
    migrationRetry
  )
})
