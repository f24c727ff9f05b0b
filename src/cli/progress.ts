/**
 * The live progress line of `gather fetch` (stderr, TTY only), rendered by a
 * pure function from a snapshot of the run.
 */
import { formatRate } from "./summary.js"

/** What the progress line shows. */
export interface Snapshot {
  readonly done: number
  /** Inputs to fetch in all, once known (counted in the background for files). */
  readonly total: number | undefined
  readonly ok: number
  readonly failed: number
  readonly inFlight: number
  readonly elapsedMs: number
  /** With `--adaptive`: the smallest window of any host. */
  readonly window?: number | undefined
}

/** Whether to draw the progress line: only on a terminal, and never with `--quiet`. */
export const showProgress = (options: { readonly quiet: boolean; readonly stderrIsTTY: boolean }): boolean => options.stderrIsTTY && !options.quiet

const formatEta = (seconds: number): string => {
  if (!Number.isFinite(seconds)) return "?"
  const s = Math.max(0, Math.round(seconds))
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`
}

/** `1234/10000 (12%)  ok 1200  failed 34  in flight 64  812/s  ETA 11s`, cut to `columns`. */
export const renderProgress = (snapshot: Snapshot, columns = 80): string => {
  const { done, elapsedMs, failed, inFlight, ok, total } = snapshot
  const rate = elapsedMs > 0 ? (done * 1000) / elapsedMs : 0
  const count = total === undefined
    ? `${done}`
    : `${done}/${total} (${total === 0 ? 100 : Math.floor((Math.min(done, total) / total) * 100)}%)`
  const parts = [count, `ok ${ok}`, `failed ${failed}`, `in flight ${inFlight}`]
  if (snapshot.window !== undefined) parts.push(`window ${snapshot.window}`)
  parts.push(formatRate(done, elapsedMs))
  if (total !== undefined && total > done) parts.push(`ETA ${rate > 0 ? formatEta((total - done) / rate) : "?"}`)
  const line = parts.join("  ")
  return line.length >= columns ? line.slice(0, Math.max(0, columns - 1)) : line
}
