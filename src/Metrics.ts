/**
 * Effect `Metric`s the session records when it is made with
 * `metrics: true`: a histogram of request durations by origin and status,
 * a counter of finished fetches by outcome (`"ok"` or the error's tag), and
 * with `adaptive`, a gauge of each origin's window.
 * Read them with `Metric.value`, or export them with any Effect metrics
 * exporter.
 *
 * @since 0.1.0
 */
import type * as Metric from "effect/Metric"
import type * as MetricKeyType from "effect/MetricKeyType"
import type * as MetricState from "effect/MetricState"
import * as internal from "./internal/policy/metrics.js"

/**
 * `effect_gather_request_duration_ms`, tagged `host` (the origin) and
 * `status` (the final status, or `"error"`); buckets from 1 ms to ~65 s.
 *
 * @since 0.1.0
 * @category models
 */
export const requestDuration: Metric.Metric<
  MetricKeyType.MetricKeyType.Histogram,
  number,
  MetricState.MetricState.Histogram
> = internal.requestDuration

/**
 * `effect_gather_fetches_total`, tagged `outcome`: `"ok"` or a
 * `FetchError` tag.
 *
 * @since 0.1.0
 * @category models
 */
export const fetches: Metric.Metric.Counter<number> = internal.fetches

/**
 * `effect_gather_adaptive_window`, tagged `host` (the origin): the requests
 * the adaptive window allows in flight now (sessions with `adaptive` and
 * `metrics: true`).
 *
 * @since 0.1.0
 * @category models
 */
export const adaptiveWindow: Metric.Metric.Gauge<number> = internal.adaptiveWindow
