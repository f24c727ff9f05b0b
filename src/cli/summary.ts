/**
 * Counting results and rendering what the user reads at the end of a run:
 * counts by status and by error tag, latency percentiles, throughput, and the
 * per-URL bar chart. Memory does not grow with the number of inputs: the
 * latencies go into a log-bucketed histogram (about 1% relative error).
 */
import type { ResultRecord } from "../internal/record.js"

const floorMs = 0.01
const growth = 1.02
const logGrowth = Math.log(growth)

/** Latencies in a histogram of buckets `floorMs × 1.02^k` wide; percentiles are within 1%. */
export class LatencyHistogram {
  private readonly buckets = new Map<number, number>()
  count = 0
  min = Number.POSITIVE_INFINITY
  max = 0
  sum = 0

  add(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) return
    const key = ms <= floorMs ? 0 : Math.floor(Math.log(ms / floorMs) / logGrowth)
    this.buckets.set(key, (this.buckets.get(key) ?? 0) + 1)
    this.count++
    this.sum += ms
    if (ms < this.min) this.min = ms
    if (ms > this.max) this.max = ms
  }

  /** Each non-empty bucket as `[ms, count]`, fastest first (ms: the bucket's middle, kept inside what was observed). */
  entries(): Array<readonly [number, number]> {
    return Array.from(this.buckets.keys()).sort((a, b) => a - b).map((key) =>
      [Math.min(this.max, Math.max(this.min, floorMs * growth ** (key + 0.5))), this.buckets.get(key)!] as const
    )
  }

  /** The nearest-rank percentile (`p` in 0–100), `undefined` when empty. */
  percentile(p: number): number | undefined {
    if (this.count === 0) return undefined
    const rank = Math.max(1, Math.ceil((Math.min(100, Math.max(0, p)) / 100) * this.count))
    const keys = Array.from(this.buckets.keys()).sort((a, b) => a - b)
    let seen = 0
    for (const key of keys) {
      seen += this.buckets.get(key)!
      if (seen >= rank) {
        // The geometric middle of the bucket, kept inside what was observed.
        const estimate = floorMs * growth ** (key + 0.5)
        return Math.min(this.max, Math.max(this.min, estimate))
      }
    }
    return this.max
  }
}

/** Tags of failures that never reached the network; their times are left out of the latencies. */
const localFailures: ReadonlySet<string> = new Set(["InvalidUrl", "InvalidRequest"])

/** Whether a record's input failed before any request was sent (its time says nothing about the server). */
export const sentNothing = (record: ResultRecord): boolean => record.error !== null && localFailures.has(record.error.tag)

/** Running counts of a `gather fetch` run. */
export class Tally {
  done = 0
  ok = 0
  failed = 0
  bytes = 0
  readonly byStatus = new Map<number, number>()
  readonly byError = new Map<string, number>()
  readonly latency = new LatencyHistogram()
  /** Responses by cache outcome (with `--cache`). */
  readonly cache = { hit: 0, revalidated: 0, miss: 0 }

  add(record: ResultRecord): void {
    this.done++
    if (record.cache !== undefined && record.cache !== "bypass") this.cache[record.cache]++
    if (record.ok) this.ok++
    else this.failed++
    if (record.bytes !== null) this.bytes += record.bytes
    if (record.status !== null) this.byStatus.set(record.status, (this.byStatus.get(record.status) ?? 0) + 1)
    if (record.error !== null) this.byError.set(record.error.tag, (this.byError.get(record.error.tag) ?? 0) + 1)
    if (record.ms !== null && !sentNothing(record)) this.latency.add(record.ms)
  }
}

/** `0.42 ms`, `12.3 ms`, `4.21 s`. */
export const formatMs = (ms: number): string => ms < 1 ? `${ms.toFixed(2)} ms` : ms < 1000 ? `${ms.toFixed(1)} ms` : `${(ms / 1000).toFixed(2)} s`

/** `512 B`, `1.5 KiB`, `2.3 MiB`. */
export const formatBytes = (bytes: number): string => {
  if (bytes < 1024) return `${Math.round(bytes)} B`
  const units = ["KiB", "MiB", "GiB", "TiB"]
  let value = bytes / 1024
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return `${value.toFixed(1)} ${units[unit]}`
}

/** `12.3/s` over an elapsed time. */
export const formatRate = (count: number, elapsedMs: number): string => {
  const rate = elapsedMs > 0 ? (count * 1000) / elapsedMs : 0
  return rate >= 100 ? `${Math.round(rate)}/s` : `${rate.toFixed(1)}/s`
}

const counts = <K>(map: ReadonlyMap<K, number>, order: (a: K, b: K) => number): string =>
  Array.from(map.keys()).sort(order).map((key) => `${String(key)} ×${map.get(key)}`).join(", ")

/** What else the summary reports about the run. */
export interface RunInfo {
  readonly elapsedMs: number
  /** Inputs skipped by `--resume`. */
  readonly skipped?: number | undefined
  /** Inputs fetched again by `--retry-failed`. */
  readonly retried?: number | undefined
  /** The file that was resumed. */
  readonly resumedFrom?: string | undefined
  /** Set when the run was stopped by a signal. */
  readonly interrupted?: boolean | undefined
  /** Requests cut while in flight when the run was stopped. */
  readonly aborted?: number | undefined
  /** Where the records went, how many it took, and why it stopped taking them. */
  readonly output?: {
    readonly description: string
    readonly written: number
    readonly stopped?: "closed" | "failed" | undefined
  } | undefined
}

/** The end-of-run summary, one string per line. */
export const renderSummary = (tally: Tally, info: RunInfo): Array<string> => {
  const lines = [
    `gather: ${tally.done} done in ${formatMs(info.elapsedMs)} (${formatRate(tally.done, info.elapsedMs)}): ${tally.ok} ok, ${tally.failed} failed`
  ]
  if (tally.byStatus.size > 0) lines.push(`  status   ${counts(tally.byStatus, (a, b) => a - b)}`)
  if (tally.byError.size > 0) lines.push(`  errors   ${counts(tally.byError, (a, b) => (a < b ? -1 : a > b ? 1 : 0))}`)
  const { latency } = tally
  if (latency.count > 0) {
    const p = (n: number) => formatMs(latency.percentile(n)!)
    lines.push(`  latency  p50 ${p(50)}, p95 ${p(95)}, p99 ${p(99)}, max ${formatMs(latency.max)}`)
  }
  if (tally.bytes > 0) {
    const perSecond = info.elapsedMs > 0 ? (tally.bytes * 1000) / info.elapsedMs : 0
    lines.push(`  bytes    ${formatBytes(tally.bytes)} (${formatBytes(perSecond)}/s)`)
  }
  const { hit, miss, revalidated } = tally.cache
  if (hit + revalidated + miss > 0) {
    lines.push(`  cache    ${hit} hit, ${revalidated} revalidated (304), ${miss} miss`)
  }
  if (info.skipped !== undefined && info.skipped > 0) {
    lines.push(`  resumed  ${info.skipped} skipped, already in ${info.resumedFrom ?? "the output"}`)
  }
  if (info.retried !== undefined && info.retried > 0) {
    lines.push(`  retried  ${info.retried} input(s) whose record had failed`)
  }
  const output = info.output
  if (output !== undefined && (output.stopped !== undefined || output.written < tally.done)) {
    const records = `${output.written} of ${tally.done} record${tally.done === 1 ? "" : "s"}`
    lines.push(
      output.stopped === "closed"
        ? `  output   ${output.description} closed after ${records}; the run was stopped`
        : `  output   ${records} written to ${output.description}${output.stopped === "failed" ? " (a write failed; the run was stopped)" : ""}`
    )
  }
  if (info.interrupted === true) {
    lines.push(`  interrupted: no new inputs taken, ${info.aborted ?? 0} in-flight request(s) aborted`)
  }
  return lines
}

/** One row of a bar chart. */
export interface Bar {
  readonly label: string
  readonly ms: number
  /** Shown after the time: the status, or the error tag. */
  readonly note: string
}

const maxOf = <A>(items: ReadonlyArray<A>, f: (item: A) => number): number => items.reduce((max, item) => Math.max(max, f(item)), 0)

const fit = (text: string, width: number): string => text.length > width ? `…${text.slice(text.length - width + 1)}` : text.padEnd(width)

/**
 * The classic timing chart: each URL, its time and a bar of `#`
 * proportional to it (the slowest gets `width` marks, any non-zero time at
 * least one).
 */
export const renderBars = (bars: ReadonlyArray<Bar>, width = 40, labelWidth = 50): Array<string> => {
  if (bars.length === 0) return []
  const slowest = maxOf(bars, (bar) => bar.ms)
  const labels = Math.min(labelWidth, maxOf(bars, (bar) => bar.label.length))
  const notes = maxOf(bars, (bar) => bar.note.length)
  return bars.map((bar) => {
    const marks = slowest <= 0 ? 0 : Math.max(bar.ms > 0 ? 1 : 0, Math.round((bar.ms / slowest) * width))
    return `${fit(bar.label, labels)} ${formatMs(bar.ms).padStart(10)} ${bar.note.padEnd(notes)} ${"#".repeat(marks)}`
  })
}

/** One request of a timeline: when it started and how long it took, from the run's start. */
export interface Span {
  readonly label: string
  readonly startMs: number
  readonly ms: number
  readonly note: string
}

/**
 * A timeline (Gantt) chart over `totalMs`: each request's bar starts where
 * it started, so sequential runs show a staircase and concurrent runs show
 * bars stacked on top of each other.
 */
export const renderTimeline = (spans: ReadonlyArray<Span>, totalMs: number, width = 50, labelWidth = 40): Array<string> => {
  if (spans.length === 0) return []
  const scale = totalMs > 0 ? width / totalMs : 0
  const labels = Math.min(labelWidth, maxOf(spans, (span) => span.label.length))
  return spans.map((span) => {
    const start = Math.min(width - 1, Math.floor(span.startMs * scale))
    const length = Math.max(1, Math.min(width - start, Math.round(span.ms * scale)))
    const bar = `${" ".repeat(start)}${"#".repeat(length)}`.padEnd(width)
    return `${fit(span.label, labels)} ${formatMs(span.ms).padStart(10)} ${span.note.padEnd(3)} |${bar}|`
  })
}

/**
 * A latency histogram in text: up to `rows` bins from the fastest to the
 * slowest time on a log scale, each with its range, its count and a bar of
 * `#` proportional to the count (the fullest gets `width`, any non-empty at
 * least one). What `--format bars` shows when there are too many inputs for
 * a bar each.
 */
export const renderHistogram = (histogram: LatencyHistogram, rows = 10, width = 40): Array<string> => {
  if (histogram.count === 0) return []
  const low = Math.max(histogram.min, floorMs)
  const high = Math.max(histogram.max, low)
  const bins = high / low < 1.05 ? 1 : rows
  const span = Math.log(high / low)
  const counts = new Array<number>(bins).fill(0)
  for (const [ms, count] of histogram.entries()) {
    const at = bins === 1 ? 0 : Math.floor((Math.log(Math.max(ms, low) / low) / span) * bins)
    counts[Math.min(bins - 1, Math.max(0, at))]! += count
  }
  const edge = (i: number) => (bins === 1 ? (i === 0 ? low : high) : low * Math.exp((span * i) / bins))
  const fullest = Math.max(...counts)
  const countWidth = String(fullest).length
  return counts.map((count, i) => {
    const marks = count === 0 ? 0 : Math.max(1, Math.round((count / fullest) * width))
    return `${formatMs(edge(i)).padStart(10)} – ${formatMs(edge(i + 1)).padStart(10)}  ${String(count).padStart(countWidth)} ${"#".repeat(marks)}`.trimEnd()
  })
}
