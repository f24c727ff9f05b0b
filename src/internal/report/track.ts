/**
 * A run report's tracker, the Gather watcher that feeds a recorder: each
 * effect's start, and at its exit what its value or error says about the
 * request (a `FetchResponse` and every `FetchError` carry their timing;
 * anything else is timed from the outside).
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import type { Timing } from "../../Fetch.js"
import * as FetchError from "../../FetchError.js"
import type { Concurrency, Watcher } from "../../Gather.js"
import type * as Report from "../../Report.js"
import { noSegments } from "../engine/errors.js"
import type { Observed, Recorder } from "./recorder.js"

/** `Report.TypeId`, declared here so the tracker class below can carry it. */
export const TypeId: unique symbol = Symbol.for("effect-gather/Report")

const isTiming = (u: unknown): u is Timing =>
  typeof u === "object" && u !== null && "startedAt" in u && typeof u.startedAt === "number" && "endMs" in u &&
  "previous" in u

/** Timing measured around an effect that is not a fetch. */
const outside = (startPerf: number, endPerf: number): Timing => ({
  startedAt: performance.timeOrigin + startPerf,
  dispatchMs: -1,
  connectMs: -1,
  tlsMs: -1,
  sentMs: -1,
  headersMs: -1,
  endMs: endPerf - startPerf,
  totalMs: endPerf - startPerf,
  previous: noSegments
})

const fromValue = (value: unknown, startPerf: number, endPerf: number): Observed => {
  if (typeof value === "object" && value !== null && "timing" in value && isTiming(value.timing)) {
    const r = value as {
      readonly url?: unknown
      readonly status?: unknown
      readonly attempts?: unknown
      readonly bytes?: unknown
      readonly cache?: unknown
    }
    return {
      url: typeof r.url === "string" ? r.url : "",
      status: typeof r.status === "number" ? r.status : 0,
      outcome: "ok",
      attempts: typeof r.attempts === "number" ? r.attempts : 1,
      bytes: typeof r.bytes === "number" && r.bytes > 0 ? r.bytes : 0,
      timing: value.timing,
      cache: typeof r.cache === "string" && r.cache !== "bypass" ? r.cache : undefined
    }
  }
  return { url: "", status: 0, outcome: "ok", attempts: 1, bytes: 0, timing: outside(startPerf, endPerf) }
}

const fromError = (error: unknown, startPerf: number, endPerf: number): Observed => {
  if (FetchError.isFetchError(error)) {
    return {
      url: error.url,
      status: error._tag === "BadStatus" ? error.status : 0,
      outcome: error._tag,
      attempts: error.attempt,
      bytes: 0,
      timing: error.timing
    }
  }
  return { url: "", status: 0, outcome: "Other", attempts: 1, bytes: 0, timing: outside(startPerf, endPerf) }
}

/**
 * A `Report.Tracker`: its recorder is a `#` field, so the public type shows
 * only the watcher and the title; {@link recorderOf} finds it again for the
 * page. A class rather than a WeakMap from tracker to recorder: the item
 * calls read the field directly (no lookup, no closure per tracker), and
 * `#recorder in tracker` tells a real tracker from a look-alike without a
 * cast and without module-level state.
 */
export class ReportTracker implements Report.Tracker {
  readonly [TypeId]: typeof TypeId = TypeId
  readonly #recorder: Recorder

  constructor(recorder: Recorder, readonly title: string | undefined) {
    this.#recorder = recorder
  }

  /** The recorder of `tracker`; `undefined` for an object this class did not make. */
  static recorderOf(tracker: Report.Tracker): Recorder | undefined {
    return #recorder in tracker ? tracker.#recorder : undefined
  }

  /** A gather's concurrency limit, for the page to draw (null: unbounded). */
  onGather(concurrency: Concurrency): void {
    this.#recorder.gather(concurrency === "unbounded" ? null : concurrency)
  }

  onStart(startPerf: number): void {
    this.#recorder.onStart(startPerf)
  }

  onSuccess(value: unknown, startPerf: number): void {
    const endPerf = performance.now()
    this.#recorder.onEnd(endPerf, fromValue(value, startPerf, endPerf))
  }

  onFailure(error: unknown, startPerf: number): void {
    const endPerf = performance.now()
    this.#recorder.onEnd(endPerf, fromError(error, startPerf, endPerf))
  }

  onInterrupt(startPerf: number): void {
    const endPerf = performance.now()
    this.#recorder.onEnd(endPerf, { ...fromError(undefined, startPerf, endPerf), outcome: "Interrupted" })
  }
}

/** The recorder behind a tracker `Report.make` made; a defect for any other object. */
export const recorderOf = (tracker: Report.Tracker): Recorder => {
  const recorder = ReportTracker.recorderOf(tracker)
  if (recorder === undefined) throw new TypeError("not a Report.Tracker made by Report.make")
  return recorder
}

/**
 * Runs `self` reporting to `watch` as a Gather's workers would (for a
 * tracker: one rule for what a record says). An exit that is neither a
 * value nor a typed error counts as interrupted.
 */
export const tracked = <A, E, R>(self: Effect.Effect<A, E, R>, watch: Watcher): Effect.Effect<A, E, R> =>
  Effect.suspend(() => {
    const startPerf = performance.now()
    watch.onStart(startPerf)
    return Effect.onExit(self, (exit) =>
      Effect.sync(() => {
        if (Exit.isSuccess(exit)) return watch.onSuccess(exit.value, startPerf)
        const failure = Cause.failureOption(exit.cause)
        if (Option.isSome(failure)) return watch.onFailure(failure.value, startPerf)
        watch.onInterrupt(startPerf)
      }))
  })
