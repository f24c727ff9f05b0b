import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import type * as FetchError from "../../FetchError.js"

export const requestDuration = Metric.histogram(
  "effect_gather_request_duration_ms",
  MetricBoundaries.exponential({ start: 1, factor: 2, count: 17 }),
  "Duration of a fetch (all attempts and redirects), by origin and final status"
)

export const fetches = Metric.counter("effect_gather_fetches_total", {
  description: "Finished fetches by outcome: ok or the error tag"
})

export const adaptiveWindow = Metric.gauge("effect_gather_adaptive_window", {
  description: "Requests the adaptive window allows in flight, by origin"
})

/** A setter for one origin's window gauge (the tagged metric made once per origin; its tag keeps the name `host`). */
export const windowGauge = (origin: string): (size: number) => void => {
  const metric = adaptiveWindow.pipe(Metric.tagged("host", origin))
  return (size) => metric.unsafeUpdate(size, [])
}

// Tagging makes a new metric object; keep one per key, not one per request.
const durationByKey = new Map<string, Metric.Metric.Histogram<number>>()
const fetchesByOutcome = new Map<string, Metric.Metric.Counter<number>>()

const durationFor = (origin: string, status: string) => {
  const key = `${origin} ${status}`
  let metric = durationByKey.get(key)
  if (metric === undefined) {
    metric = requestDuration.pipe(Metric.tagged("host", origin), Metric.tagged("status", status))
    durationByKey.set(key, metric)
  }
  return metric
}

const fetchesFor = (outcome: string) => {
  let metric = fetchesByOutcome.get(outcome)
  if (metric === undefined) {
    metric = fetches.pipe(Metric.tagged("outcome", outcome))
    fetchesByOutcome.set(outcome, metric)
  }
  return metric
}

const originOf = (url: string): string => {
  try {
    return new URL(url).origin
  } catch {
    return "invalid"
  }
}

export const recordSuccess = (url: string, status: number, ms: number): Effect.Effect<void> =>
  Effect.zipRight(
    Metric.update(durationFor(originOf(url), String(status)), ms),
    Metric.increment(fetchesFor("ok"))
  )

export const recordFailure = (error: FetchError.FetchError): Effect.Effect<void> => {
  const status = error._tag === "BadStatus" ? String(error.status) : "error"
  return Effect.zipRight(
    Metric.update(durationFor(originOf(error.url), status), error.elapsedMs),
    Metric.increment(fetchesFor(error._tag))
  )
}
