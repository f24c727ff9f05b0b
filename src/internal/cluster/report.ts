/**
 * The run report of a cluster job: the stored results (their records and
 * compact timings) replayed into the report's own `Recorder`, so the page is
 * the one `gather fetch --report` writes, not a second report.
 */
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import type * as Report from "../../Report.js"
import * as Records from "../record.js"
import { defaultLimit, type Observed } from "../report/recorder.js"
import { replay } from "../report/replay.js"
import { ReportTracker } from "../report/track.js"
import type { JobError, JobStore, StoredRow } from "./store.js"
import * as Timing from "./timing.js"

/** What the report reads of a stored result; `undefined` for a row with no timing (stored before 0.3.0). @internal */
export const observedOf = (row: StoredRow): Observed | undefined => {
  const timing = Timing.decode(row.timing)
  const record = Records.parseLine(row.record)
  if (timing === undefined || record === undefined) return undefined
  return {
    url: record.url,
    status: record.status ?? 0,
    // As a live report names them: "ok", or the FetchError's tag.
    outcome: record.ok ? "ok" : record.error?.tag ?? "Other",
    attempts: record.attempts ?? 1,
    bytes: record.ok ? record.bytes ?? 0 : 0,
    timing,
    cache: record.cache !== undefined && record.cache !== "bypass" ? record.cache : undefined
  }
}

const pageSize = 1000

/** Every stored result of the job, in stored order, replayed into a tracker. @internal */
export const report = (
  store: JobStore,
  job: string,
  options: Report.Options | undefined
): Effect.Effect<Report.Tracker, JobError | SqlError> =>
  Effect.gen(function*() {
    // A job that is not there fails here, as status does.
    yield* store.status(job)
    const seen: Array<Observed> = []
    let after = 0
    while (true) {
      const rows = yield* store.page(job, after, pageSize)
      if (rows.length === 0) break
      after = rows[rows.length - 1]!.seq
      for (const row of rows) {
        const observed = observedOf(row)
        if (observed !== undefined) seen.push(observed)
      }
    }
    const recorder = replay(seen, options?.limit ?? defaultLimit)
    if (options?.concurrency !== undefined) recorder.gather(options.concurrency)
    const tracker: Report.Tracker = new ReportTracker(recorder, options?.title)
    return tracker
  })
