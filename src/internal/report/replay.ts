/**
 * A recorder filled from requests that already happened (the stored results
 * of a cluster job) instead of watched live: the same `Recorder`, so the same
 * page as `gather fetch --report`. Each request's start and end are fed in
 * time order, so in flight and the timeline are what they were across every
 * runner.
 */
import { Recorder } from "./recorder.js"
import type { Observed } from "./recorder.js"

/** Feeds `seen` to a new recorder whose time axis starts at the first request. */
export const replay = (seen: ReadonlyArray<Observed>, limit: number): Recorder => {
  let first = Infinity
  for (const s of seen) if (s.timing.startedAt < first) first = s.timing.startedAt
  const recorder = new Recorder(limit, Number.isFinite(first) ? first : undefined)
  // Event i < n starts request i, event n + i ends it; at equal times starts come first.
  const n = seen.length
  const times = new Float64Array(2 * n)
  for (let i = 0; i < n; i++) {
    const timing = seen[i]!.timing
    times[i] = timing.startedAt
    times[n + i] = timing.startedAt + Math.max(0, timing.totalMs)
  }
  const order = Array.from({ length: 2 * n }, (_, i) => i)
  order.sort((a, b) => times[a]! - times[b]! || (a < n ? 0 : 1) - (b < n ? 0 : 1))
  const toPerf = (epochMs: number) => epochMs - performance.timeOrigin
  for (const event of order) {
    if (event < n) recorder.onStart(toPerf(times[event]!))
    else recorder.onEnd(toPerf(times[event]!), seen[event - n]!)
  }
  return recorder
}
