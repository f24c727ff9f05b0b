/**
 * The report page's data block: what `html.ts` writes as JSON and the page's
 * script (`browser/`) reads. Declared once, for both sides.
 */

/** A latency histogram as (log-scaled bucket key, count) pairs, ascending. */
export type HistogramPairs = ReadonlyArray<readonly [key: number, count: number]>

/** Percentiles in milliseconds (null: no latency recorded). */
export interface Quantiles {
  readonly p50: number | null
  readonly p95: number | null
  readonly p99: number | null
}

/** One origin's totals, percentiles and latency histogram. */
export interface OriginData extends Quantiles {
  readonly name: string
  readonly requests: number
  readonly ok: number
  /** (error tag, count), most frequent first. */
  readonly failed: ReadonlyArray<readonly [tag: string, count: number]>
  readonly retries: number
  readonly redirects: number
  readonly bytes: number
  readonly hist: HistogramPairs
}

/**
 * The kept requests in column arrays, one entry per row (`phases`:
 * `phaseStride` per row). Times in tenths of a millisecond, -1: did not
 * happen; URLs without their origin when it is the row's.
 */
export interface RowColumns {
  readonly start: ReadonlyArray<number>
  readonly phases: ReadonlyArray<number>
  readonly status: ReadonlyArray<number>
  /** Index into `ReportData.outcomes` (0: ok). */
  readonly outcome: ReadonlyArray<number>
  readonly attempts: ReadonlyArray<number>
  readonly bytes: ReadonlyArray<number>
  /** Index into `ReportData.origins`. */
  readonly origin: ReadonlyArray<number>
  readonly url: ReadonlyArray<string>
}

/** Completions, failures, retries and in-flight levels per bucket of `widthMs`. */
export interface TimelineData {
  readonly widthMs: number
  readonly starts: ReadonlyArray<number>
  readonly ok: ReadonlyArray<number>
  readonly failed: ReadonlyArray<number>
  readonly retries: ReadonlyArray<number>
  readonly peak: ReadonlyArray<number>
  /** The level at the bucket's end, -1: nothing changed in it. */
  readonly last: ReadonlyArray<number>
}

/** Everything the page draws. */
export interface ReportData {
  readonly version: number
  readonly title: string
  readonly generatedAt: string
  /** Where the time axis starts, ms since the epoch. */
  readonly startedAt: number
  readonly durationMs: number | null
  readonly total: number
  readonly started: number
  readonly inFlight: number
  readonly peakInFlight: number
  readonly kept: number
  readonly limit: number
  readonly sampled: boolean
  /** The concurrency limit of each gather reported (null: unbounded). */
  readonly limits: ReadonlyArray<number | null>
  readonly phaseStride: number
  readonly segmentStride: number
  readonly outcomes: ReadonlyArray<string>
  readonly histScale: number
  readonly rows: RowColumns
  /** Per row with earlier attempts: the row, then `segmentStride` numbers per attempt. */
  readonly segments: ReadonlyArray<ReadonlyArray<number>>
  readonly origins: ReadonlyArray<OriginData>
  readonly overall: Quantiles & { readonly hist: HistogramPairs; readonly min: number | null }
  /** (status, count), ascending. */
  readonly statuses: ReadonlyArray<readonly [status: number, count: number]>
  /** (error tag, count), most frequent first. */
  readonly errors: ReadonlyArray<readonly [tag: string, count: number]>
  /** (hit | revalidated | miss, count), the kinds that happened. */
  readonly caches: ReadonlyArray<readonly [kind: string, count: number]>
  readonly timeline: TimelineData
}
