/**
 * Watching a running gather: how many started, succeeded and failed (by
 * error tag), bytes received, how many are in flight, the rate and the time
 * elapsed. A tracker is plain counters bumped by the gather's workers, so it
 * is cheap enough to leave on; read it when you like (`snapshot`) or sample
 * it as a `Stream` (`changes`).
 *
 * @example
 * ```ts
 * import { Console, Effect, Stream } from "effect"
 * import { Fetch, Gather, Progress } from "effect-gather"
 *
 * const program = Effect.gen(function*() {
 *   const progress = yield* Progress.make
 *   yield* Progress.changes(progress, "200 millis").pipe(
 *     Stream.runForEach((s) => Console.log(`${s.succeeded + s.failed}/${s.started} ${s.ratePerSecond.toFixed(0)}/s`)),
 *     Effect.fork
 *   )
 *   return yield* Gather.forEach([1, 2, 3], (id) => Fetch.get(`/api/v2/pokemon/${id}`), { progress })
 * })
 * ```
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import type * as Gather from "./Gather.js"
import * as internal from "./internal/progress.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Snapshot {
  /** Inputs whose effect has started. */
  readonly started: number
  readonly succeeded: number
  readonly failed: number
  /** Failures by the error's `_tag` (`"unknown"` for errors without one). */
  readonly failedByTag: Readonly<Record<string, number>>
  /** Body bytes of the successes that report `bytes` (every `FetchResponse` does). */
  readonly bytes: number
  readonly inFlight: number
  /** Milliseconds since the tracker was made. */
  readonly elapsedMs: number
  /** Completed (succeeded + failed) per second since the tracker was made. */
  readonly ratePerSecond: number
  /**
   * The adaptive window of each origin (requests allowed in flight now), from
   * the session the tracked gather runs on; empty without `adaptive`.
   */
  readonly windows: Readonly<Record<string, number>>
}

/**
 * A progress tracker; pass it to a gather as `progress`. One tracker can
 * watch several gathers (their counts add up). It is a `Gather.Watcher`:
 * the gather's workers bump its counts as items start and end.
 *
 * @since 0.1.0
 * @category models
 */
export interface Tracker extends Gather.Watcher {
  /** The counts now. */
  readonly snapshot: Effect.Effect<Snapshot>
}

/**
 * A new tracker, its clock starting now.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<Tracker> = Effect.map(Clock.currentTimeMillis, (now) => new internal.Counters(now))

/**
 * Samples the tracker every `interval` (first sample at once), forever: run
 * it in a fiber next to the gather, or `Stream.takeUntil` a condition.
 *
 * @since 0.1.0
 * @category combinators
 */
export const changes = (tracker: Tracker, interval: Duration.DurationInput): Stream.Stream<Snapshot> =>
  Stream.repeatEffectWithSchedule(tracker.snapshot, Schedule.spaced(interval))
