/**
 * How a gather reports to a recorder: each effect's start, and at its exit
 * what its value or error says about the request (a `FetchResponse` and
 * every `FetchError` carry their timing; anything else is timed from the
 * outside).
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import type { Timing } from "../../Fetch.js"
import * as FetchError from "../../FetchError.js"
import { noSegments } from "../engine/errors.js"
import type { Watcher } from "../gather/work.js"
import type { Observed, Recorder } from "./recorder.js"

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

/** The recorder as a Gather watcher: told of each item's start and end by the workers. */
export const watcher = (recorder: Recorder): Watcher => ({
  bind: () => {},
  onStart: (startPerf) => recorder.onStart(startPerf),
  onSuccess: (value, startPerf) => {
    const endPerf = performance.now()
    recorder.onEnd(endPerf, fromValue(value, startPerf, endPerf))
  },
  onFailure: (error, startPerf) => {
    const endPerf = performance.now()
    recorder.onEnd(endPerf, fromError(error, startPerf, endPerf))
  },
  onInterrupt: (startPerf) => {
    const endPerf = performance.now()
    recorder.onEnd(endPerf, { ...fromError(undefined, startPerf, endPerf), outcome: "Interrupted" })
  }
})

/**
 * Wraps `f` so every call reports to `recorder`, through the same watcher a
 * Gather's workers use (one rule for what a record says).
 */
export const reported = <I, A, E, R>(
  f: (input: I, index: number) => Effect.Effect<A, E, R>,
  recorder: Recorder | undefined
): (input: I, index: number) => Effect.Effect<A, E, R> => {
  if (recorder === undefined) return f
  const watch = watcher(recorder)
  return (input, index) =>
    Effect.suspend(() => {
      const startPerf = performance.now()
      watch.onStart(startPerf)
      return Effect.onExit(f(input, index), (exit) =>
        Effect.sync(() => {
          if (Exit.isSuccess(exit)) return watch.onSuccess(exit.value, startPerf)
          const failure = Cause.failureOption(exit.cause)
          if (Option.isSome(failure)) return watch.onFailure(failure.value, startPerf)
          watch.onInterrupt(startPerf)
        }))
    })
}
