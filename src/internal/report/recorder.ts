/**
 * What a run report remembers, in bounded memory.
 *
 * Every finished request becomes a row of plain numbers in column arrays
 * (its start, the six phase moments of its final attempt, status, outcome,
 * attempts, bytes, origin) plus its redacted URL; retries and redirect hops
 * are kept beside it only for the rows that had them. Up to `limit` rows are
 * kept; after that a reservoir sample of `limit` rows stays (each request
 * equally likely), while the aggregates the page shows as totals (counts by
 * origin, status and error, latency histograms, the timeline) go on counting
 * every request.
 */
import type { Timing } from "../../Fetch.js"
import * as FetchError from "../../FetchError.js"
import { redactUrl } from "../engine/redact.js"

export const defaultLimit = 100_000

/** At most this many origins are told apart; the rest count as one. */
export const maxOrigins = 5_000
export const otherOrigins = "(other origins)"

/** Outcome codes: 0 ok, then the FetchError tags, then anything else. */
export const outcomeNames: ReadonlyArray<string> = ["ok", ...FetchError.tags, "Redirect", "Other", "Interrupted"]
const outcomeCode = new Map(outcomeNames.map((name, i) => [name, i]))
const OTHER = outcomeCode.get("Other")!
export const INTERRUPTED = outcomeCode.get("Interrupted")!

/** Phase moments per row (see Fetch.Phases): dispatch, connect, tls, sent, headers, end. */
export const PHASES = 6
/** Per earlier attempt: the six moments, the status and the outcome code. */
export const SEGMENT = 8

/** Latency histogram: log buckets of about 2 % (key = round(ln(ms) * 50)). */
const HIST_SCALE = 50
const histKey = (ms: number): number => Math.round(Math.log(Math.max(ms, 0.01)) * HIST_SCALE)
export const histValue = (key: number): number => Math.exp(key / HIST_SCALE)

export class Histogram {
  readonly counts = new Map<number, number>()
  n = 0
  add(ms: number): void {
    const key = histKey(ms)
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1)
    this.n++
  }
  /** Sorted [key, count] pairs. */
  pairs(): Array<[number, number]> {
    return Array.from(this.counts).sort((a, b) => a[0] - b[0])
  }
  /** The q-quantile (0..1), within the bucket resolution; NaN when empty. */
  quantile(q: number): number {
    if (this.n === 0) return Number.NaN
    const rank = Math.max(1, Math.ceil(q * this.n))
    let seen = 0
    for (const [key, count] of this.pairs()) {
      seen += count
      if (seen >= rank) return histValue(key)
    }
    return Number.NaN
  }
}

export class OriginStats {
  requests = 0
  ok = 0
  retries = 0
  redirects = 0
  bytes = 0
  readonly failed = new Map<string, number>()
  readonly latency = new Histogram()
  constructor(readonly name: string) {}
}

/** Time buckets that double their width to stay under `maxBuckets`. */
export class Timeline {
  widthMs = 10
  starts: Array<number> = []
  ok: Array<number> = []
  failed: Array<number> = []
  retries: Array<number> = []
  /** Most in flight during the bucket. */
  peak: Array<number> = []
  /** In flight after the bucket's last event; -1 when it had none. */
  last: Array<number> = []
  constructor(readonly maxBuckets = 2000) {}

  private bucket(at: number): number {
    let i = Math.floor(Math.max(0, at) / this.widthMs)
    while (i >= this.maxBuckets) {
      this.halve()
      i = Math.floor(Math.max(0, at) / this.widthMs)
    }
    while (this.starts.length <= i) {
      this.starts.push(0)
      this.ok.push(0)
      this.failed.push(0)
      this.retries.push(0)
      this.peak.push(0)
      this.last.push(-1)
    }
    return i
  }

  private halve(): void {
    const sum = (xs: Array<number>) => {
      const out: Array<number> = []
      for (let i = 0; i < xs.length; i += 2) out.push(xs[i]! + (xs[i + 1] ?? 0))
      return out
    }
    const peak: Array<number> = []
    const last: Array<number> = []
    for (let i = 0; i < this.starts.length; i += 2) {
      peak.push(Math.max(this.peak[i]!, this.peak[i + 1] ?? 0))
      const b = this.last[i + 1] ?? -1
      last.push(b >= 0 ? b : this.last[i]!)
    }
    this.starts = sum(this.starts)
    this.ok = sum(this.ok)
    this.failed = sum(this.failed)
    this.retries = sum(this.retries)
    this.peak = peak
    this.last = last
    this.widthMs *= 2
  }

  level(at: number, inFlight: number): number {
    const i = this.bucket(at)
    if (inFlight > this.peak[i]!) this.peak[i] = inFlight
    this.last[i] = inFlight
    return i
  }

  start(at: number, inFlight: number): void {
    this.starts[this.level(at, inFlight)]!++
  }

  end(at: number, inFlight: number, ok: boolean): void {
    const i = this.level(at, inFlight)
    if (ok) this.ok[i]!++
    else this.failed[i]!++
  }

  retry(at: number): void {
    this.retries[this.bucket(at)]!++
  }
}

/** A small seeded generator, so a sample is the same for the same run. */
const nextRandom = (state: { s: number }): number => {
  state.s = (state.s + 0x6d2b79f5) | 0
  let t = state.s
  t = Math.imul(t ^ (t >>> 15), t | 1)
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

const round = (ms: number): number => ms < 0 ? -1 : Math.round(ms * 100) / 100

/** The origin of an absolute URL, by string search (no URL parsing per request). */
export const originOf = (url: string): string => {
  const scheme = url.indexOf("://")
  if (scheme < 0) return "(no origin)"
  const end = url.slice(scheme + 3).search(/[/?#]/)
  const origin = end < 0 ? url : url.slice(0, scheme + 3 + end)
  const at = origin.lastIndexOf("@")
  return at < 0 ? origin : origin.slice(0, scheme + 3) + origin.slice(at + 1)
}

// Any query parameter name redactUrl could hide contains one of these (or is percent-encoded).
const maybeSecret = /tok|key|secret|pass|pwd|auth|sig|amz|%/i

/** A URL safe to show: redacted unless it plainly holds no credentials (parsing a URL per request is the cost to avoid). */
const shown = (url: string): string => url.length <= 2048 && url.indexOf("@") < 0 && (url.indexOf("?") < 0 || !maybeSecret.test(url)) ? url : redactUrl(url)

export interface Observed {
  readonly url: string
  readonly status: number
  readonly outcome: string
  readonly attempts: number
  readonly bytes: number
  readonly timing: Timing
  /** The response's cache outcome (`FetchResponse.cache`), when it has one other than "bypass". */
  readonly cache?: string | undefined
}

export class Recorder {
  /** Wall-clock ms at which the report's time axis starts. */
  readonly originAt: number
  /** performance.now() at the same moment. */
  readonly originPerf: number
  started = 0
  finished = 0
  inFlight = 0
  peakInFlight = 0
  endPerf = 0
  /** The concurrency limits of the gathers reported here (null: unbounded). */
  readonly limits: Array<number | null> = []
  // Kept rows, in columns.
  readonly start: Array<number> = []
  readonly phases: Array<number> = []
  readonly status: Array<number> = []
  readonly outcome: Array<number> = []
  readonly attempts: Array<number> = []
  readonly bytes: Array<number> = []
  readonly origin: Array<number> = []
  readonly url: Array<string> = []
  /** Earlier attempts of the rows that had some, SEGMENT numbers each. */
  readonly segments = new Map<number, Array<number>>()
  // Aggregates over every request.
  readonly origins: Array<OriginStats> = []
  private readonly originIndex = new Map<string, number>()
  readonly latency = new Histogram()
  readonly statuses = new Map<number, number>()
  readonly errors = new Map<string, number>()
  /** Responses by cache outcome: hit, revalidated, miss (a session with a cache). */
  readonly caches = new Map<string, number>()
  readonly timeline = new Timeline()
  private readonly random = { s: 0x5eed }

  /** `originAt`: where the time axis starts (ms since the epoch); default now. A replay of stored timings starts it at the first. */
  constructor(readonly limit: number = defaultLimit, originAt?: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`report limit must be a whole number >= 1, got ${limit}`)
    this.originPerf = originAt === undefined ? performance.now() : originAt - performance.timeOrigin
    this.originAt = performance.timeOrigin + this.originPerf
  }

  /** Wall-clock → ms on the report's axis. */
  at(epochMs: number): number {
    return epochMs - this.originAt
  }

  gather(limit: number | null): void {
    this.limits.push(limit)
  }

  onStart(nowPerf: number): void {
    this.started++
    this.inFlight++
    if (this.inFlight > this.peakInFlight) this.peakInFlight = this.inFlight
    this.timeline.start(nowPerf - this.originPerf, this.inFlight)
  }

  private originStats(url: string): number {
    const name = originOf(url)
    let index = this.originIndex.get(name)
    if (index === undefined) {
      if (this.origins.length >= maxOrigins) return this.originStats(`${otherOrigins}://`)
      index = this.origins.length
      this.origins.push(new OriginStats(name === `${otherOrigins}://` ? otherOrigins : name))
      this.originIndex.set(name, index)
    }
    return index
  }

  /** One finished request (or one interrupted: `outcome` "Interrupted"). */
  onEnd(nowPerf: number, seen: Observed): void {
    this.finished++
    this.inFlight = Math.max(0, this.inFlight - 1)
    this.endPerf = nowPerf
    const ok = seen.outcome === "ok"
    this.timeline.end(nowPerf - this.originPerf, this.inFlight, ok)
    const { timing } = seen
    const start = this.at(timing.startedAt)
    for (const segment of timing.previous) this.timeline.retry(start + segment.endMs)

    const originIndex = this.originStats(seen.url)
    const stats = this.origins[originIndex]!
    stats.requests++
    if (ok) {
      stats.ok++
      stats.bytes += seen.bytes
    } else {
      stats.failed.set(seen.outcome, (stats.failed.get(seen.outcome) ?? 0) + 1)
      this.errors.set(seen.outcome, (this.errors.get(seen.outcome) ?? 0) + 1)
    }
    for (const segment of timing.previous) {
      if (segment.outcome === "Redirect") stats.redirects++
      else stats.retries++
    }
    if (seen.outcome !== "Interrupted") {
      stats.latency.add(timing.totalMs)
      this.latency.add(timing.totalMs)
    }
    if (seen.status > 0) this.statuses.set(seen.status, (this.statuses.get(seen.status) ?? 0) + 1)
    if (seen.cache !== undefined) this.caches.set(seen.cache, (this.caches.get(seen.cache) ?? 0) + 1)

    // Keep the row: append while under the limit, else replace a random one.
    const n = this.finished
    let row: number
    if (n <= this.limit) row = n - 1
    else {
      row = Math.floor(nextRandom(this.random) * n)
      if (row >= this.limit) return
    }
    this.start[row] = round(start)
    const p = row * PHASES
    this.phases[p] = round(timing.dispatchMs)
    this.phases[p + 1] = round(timing.connectMs)
    this.phases[p + 2] = round(timing.tlsMs)
    this.phases[p + 3] = round(timing.sentMs)
    this.phases[p + 4] = round(timing.headersMs)
    this.phases[p + 5] = round(timing.endMs)
    this.status[row] = seen.status
    this.outcome[row] = outcomeCode.get(seen.outcome) ?? OTHER
    this.attempts[row] = seen.attempts
    this.bytes[row] = seen.bytes
    this.origin[row] = originIndex
    this.url[row] = shown(seen.url)
    if (timing.previous.length === 0) {
      this.segments.delete(row)
    } else {
      const flat: Array<number> = []
      for (const s of timing.previous) {
        flat.push(
          round(s.dispatchMs),
          round(s.connectMs),
          round(s.tlsMs),
          round(s.sentMs),
          round(s.headersMs),
          round(s.endMs),
          s.status,
          outcomeCode.get(s.outcome) ?? OTHER
        )
      }
      this.segments.set(row, flat)
    }
  }
}
