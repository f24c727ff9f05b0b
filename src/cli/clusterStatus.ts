/**
 * `gather cluster status` for people: a job's counts, its runners and its
 * busiest origins as aligned columns that fit one screen (`--json` prints
 * the machine form instead). Pure functions from the client's records to
 * lines.
 */
import type * as Cluster from "../Cluster.js"

/** Origins shown by default: the ones with most inputs pending. */
export const defaultTopOrigins = 10

/** Seconds as `45s`, `3m 05s`, `2h 07m`; `unknown` when there is no estimate. */
export const formatEta = (seconds: number | null): string => {
  if (seconds === null || !Number.isFinite(seconds)) return "unknown"
  const s = Math.max(0, Math.round(seconds))
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, "0")}s`
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`
}

const rate = (perSecond: number): string => perSecond >= 100 ? perSecond.toFixed(0) : perSecond.toFixed(1)

/** Columns: the first left-aligned, the rest right-aligned, two spaces apart. */
const table = (rows: ReadonlyArray<ReadonlyArray<string>>): Array<string> => {
  const widths: Array<number> = []
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)))
  return rows.map((row) => row.map((cell, i) => i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)).join("  ").trimEnd())
}

const state = (status: Cluster.JobStatus): string => status.submitting ? "submitting" : status.finished ? "finished" : "running"

/** One job: its counts, rate and ETA, a row per runner, the top origins by pending. */
export const renderProgress = (progress: Cluster.JobProgress, topOrigins = defaultTopOrigins): Array<string> => {
  let lines = [
    `job ${progress.job}  ${
      state(progress)
    }  ${progress.done}/${progress.total} done (${progress.ok} ok, ${progress.failed} failed), ${progress.pending} pending, ${progress.inFlight} in flight`,
    `rate ${rate(progress.perSecond)} URLs/s over the last 10 s, ETA ${
      progress.etaSeconds === null
        ? progress.submitting ? "unknown (still submitting)" : "unknown (nothing stored in the last 10 s)"
        : formatEta(progress.etaSeconds)
    }`
  ]
  if (progress.runners.length > 0) {
    lines = lines.concat(
      "",
      table([
        ["runner", "done", "failed", "in flight", "URLs/s"],
        ...progress.runners.map((r) => [r.runner, String(r.done), String(r.failed), String(r.inFlight), rate(r.perSecond)])
      ])
    )
  }
  if (progress.origins.length > 0) {
    const shown = progress.origins.slice(0, topOrigins)
    const heading = progress.origins.length > shown.length
      ? `origin (top ${shown.length} of ${progress.origins.length} by pending)`
      : "origin"
    lines = lines.concat(
      "",
      table([
        [heading, "done", "failed", "in flight", "pending", "URLs/s"],
        ...shown.map((o) => [
          o.origin ?? "(stored before 0.3.0)",
          String(o.done),
          String(o.failed),
          String(o.inFlight),
          o.pending === null ? "?" : String(o.pending),
          rate(o.perSecond)
        ])
      ])
    )
  }
  return lines
}

/** Every job, oldest first, one row each. */
export const renderJobs = (jobs: ReadonlyArray<Cluster.JobStatus>): Array<string> =>
  jobs.length === 0 ? ["no jobs in this storage"] : table([
    ["job", "state", "total", "done", "ok", "failed", "created"],
    ...jobs.map((j) => [j.job, state(j), String(j.total), String(j.done), String(j.ok), String(j.failed), j.createdAt.toISOString()])
  ])
