/**
 * A job's stored results read as a Stream, each once, in the order they
 * were stored; followed while the job is still being submitted.
 */
import type { SqlError } from "@effect/sql/SqlError"
import * as Chunk from "effect/Chunk"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import type * as api from "../../Cluster.js"
import type { JobError, JobStore, StoredRow } from "./store.js"

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
