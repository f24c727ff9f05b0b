/// <reference lib="dom" />
/**
 * The kept requests as the charts read them: times in milliseconds, the
 * earlier attempts by row, each row's phases as spans, and the rows in the
 * order they started.
 */
import type { ReportData, RowColumns } from "../pageData.js"

/** A phase of one row: [from, to, phase index], in ms from the row's start. */
export type Span = [from: number, to: number, phase: number]

/** The rows, decoded. */
export interface Rows extends Omit<RowColumns, "start" | "phases"> {
  readonly n: number
  /** Each row's start, ms from the run's start. */
  readonly start: Float64Array
  /** `PS` per row, ms from the row's start (-1: did not happen). */
  readonly phases: Float64Array
  /** Numbers per row in `phases`. */
  readonly PS: number
  /** Numbers per earlier attempt in a row's segments. */
  readonly SS: number
  /** Earlier attempts by row: the row, then `SS` numbers per attempt. */
  readonly segs: Record<number, ReadonlyArray<number> | undefined>
  /** Row numbers by start time. */
  readonly byStart: Uint32Array
  /** Each row's place in `byStart`. */
  readonly rankOf: Uint32Array
}

/** Reads the data's rows: times come in tenths of a millisecond, URLs without their origin. */
export function decodeRows(D: ReportData): Rows {
  const R = D.rows, n = R.start.length
  const s = new Float64Array(n), p = new Float64Array(R.phases.length)
  let i
  for (i = 0; i < n; i++) s[i] = R.start[i]! / 10
  for (i = 0; i < p.length; i++) {
    const x = R.phases[i]!
    p[i] = x < 0 ? -1 : x / 10
  }
  const segs: Record<number, ReadonlyArray<number> | undefined> = {}
  for (let si = 0; si < D.segments.length; si++) segs[D.segments[si]![0]!] = D.segments[si]
  // Rows by start time: one numeric sort of (start in tenths, row) packed
  // in a double, no comparator call per pair.
  const byStart = new Uint32Array(n)
  let K = 1
  while (K <= n) K *= 2
  const keys = new Float64Array(n)
  for (let bi = 0; bi < n; bi++) keys[bi] = Math.round(s[bi]! * 10) * K + bi
  keys.sort()
  for (let bj = 0; bj < n; bj++) byStart[bj] = ((keys[bj]! % K) + K) % K
  const rankOf = new Uint32Array(n)
  for (let bk = 0; bk < n; bk++) rankOf[byStart[bk]!] = bk
  return { ...R, n, start: s, phases: p, PS: D.phaseStride, SS: D.segmentStride, segs, byStart, rankOf }
}

/** A row's URL, with its origin put back. */
export function urlOf(D: ReportData, R: Rows, row: number): string {
  const v = R.url[row]!, o = D.origins[R.origin[row]!]!.name
  return v.charAt(0) === "/" && o.indexOf("http") === 0 ? o + v : v
}

/** The phases of a row as [from, to, phaseIndex] relative to its start, into `out`. */
export function spans(R: Rows, row: number, out: Array<Span>): Array<Span> {
  out.length = 0
  const s = R.segs[row], PS = R.PS
  let from = 0
  if (s) {
    const last = s[s.length - R.SS + 5]!
    if (last > 0) out.push([0, last, 5])
    from = last
  }
  const p = row * PS, c = R.phases[p + 1]!, t = R.phases[p + 2]!, sent = R.phases[p + 3]!, h = R.phases[p + 4]!, e = R.phases[p + 5]!
  const firstNet = c >= 0 ? c : sent >= 0 ? sent : e
  if (firstNet > from) out.push([from, firstNet, 0])
  if (c >= 0) {
    const ce = t >= 0 ? t : sent >= 0 ? sent : e
    if (ce > c) out.push([c, ce, 1])
  }
  if (t >= 0) {
    const te = sent >= 0 ? sent : e
    if (te > t) out.push([t, te, 2])
  }
  if (sent >= 0) {
    const we = h >= 0 ? h : e
    if (we > sent) out.push([sent, we, 3])
  }
  if (h >= 0 && e > h) out.push([h, e, 4])
  return out
}

/** When a row ended, ms from the run's start. */
export function rowEnd(R: Rows, row: number): number {
  return R.start[row]! + R.phases[row * R.PS + 5]!
}
