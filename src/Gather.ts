/**
 * Many effects at once with a bound on how many run: `asyncio.gather`, done
 * right.
 *
 * - {@link all}: results in input order; the first failure fails the whole,
 *   interrupts the effects still running (a fetch aborts its request on the
 *   socket) and starts no new ones.
 * - {@link settle}: never fails; one `Either` per input, in input order
 *   (`return_exceptions=True`).
 * - {@link forEach}: both modes over any iterable and a function.
 * - {@link stream}: inputs too large for memory, outcomes as a `Stream`.
 *
 * Work is done by `concurrency` worker fibers pulling from the input's
 * iterator, so a lazy iterable is consumed only as fast as work completes.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Duration from "effect/Duration"
import type * as Either from "effect/Either"
import { dual } from "effect/Function"
import * as Stream from "effect/Stream"
import * as internal from "./internal/gather.js"
import { tracked } from "./internal/progress.js"
import type * as Progress from "./Progress.js"
import * as Report from "./Report.js"
import { reported } from "./internal/report/track.js"

/**
 * At most this many effects run at once: a whole number ≥ 1, or
 * `"unbounded"` (all at once; the input is read into memory first).
 *
 * @since 0.1.0
 * @category models
 */
export type Concurrency = number | "unbounded"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** How many run at once. Default `32`. */
  readonly concurrency?: Concurrency | undefined
  /**
   * A deadline for the whole gather, honoured by every `Fetch` inside it:
   * fetches still running when it passes are aborted and fail with `Timeout`
   * phase `"deadline"`, and the ones not yet started fail the same way at
   * once. In fail-fast mode the first of them fails the whole. Default none.
   */
  readonly deadline?: Duration.DurationInput | undefined
  /** A tracker to report to (see `Progress`). Default none. */
  readonly progress?: Progress.Tracker | undefined
  /** A run report to record to (see `Report`). Default the `Report.Report` in context, if any. */
  readonly report?: Report.Tracker | undefined
}

/**
 * What happened to one input in settle mode: `Right` with the value or
 * `Left` with the typed error.
 *
 * @since 0.1.0
 * @category models
 */
export type Outcome<A, E> = Either.Either<A, E>

/**
 * The default `concurrency`.
 *
 * @since 0.1.0
 * @category models
 */
export const defaultConcurrency: number = internal.defaultConcurrency

const identity = <A, E, R>(effect: Effect.Effect<A, E, R>) => effect

interface Watchers {
  readonly concurrency?: Concurrency | undefined
  readonly progress?: Progress.Tracker | undefined
  readonly report?: Report.Tracker | undefined
}

/** The run report this gather records to: the one passed, else the one in context. */
const currentReport = (options: Watchers | undefined): Effect.Effect<Report.Tracker | undefined> =>
  options?.report !== undefined
    ? Effect.succeed(options.report)
    : Effect.map(Effect.serviceOption(Report.Report), Option.getOrUndefined)

/** `f` reporting to the gather's trackers (the report learns the concurrency limit). */
const watched = <I, A, E, R>(
  f: (input: I, index: number) => Effect.Effect<A, E, R>,
  options: Watchers | undefined,
  report: Report.Tracker | undefined
): (input: I, index: number) => Effect.Effect<A, E, R> => {
  if (report !== undefined) {
    const limit = options?.concurrency ?? internal.defaultConcurrency
    report.recorder.gather(limit === "unbounded" ? null : limit)
  }
  return reported(tracked(f, options?.progress?.counters), report?.recorder)
}

/**
 * Runs the effects with at most `concurrency` at once and collects their
 * results in input order. Fails fast: the first failure interrupts the rest.
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { Fetch, Gather } from "effect-gather"
 *
 * const Pokemon = Schema.Struct({ id: Schema.Number, name: Schema.String })
 * const all151 = Gather.all(
 *   Array.from({ length: 151 }, (_, i) => Fetch.json(`/api/v2/pokemon/${i + 1}`, Pokemon)),
 *   { concurrency: 50 }
 * )
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const all = <A, E, R>(
  effects: Iterable<Effect.Effect<A, E, R>>,
  options?: Options
): Effect.Effect<Array<A>, E, R> =>
  Effect.flatMap(currentReport(options), (report) =>
    internal.withDeadline(
      internal.all(effects, watched(identity, options, report), options?.concurrency),
      options?.deadline
    ))

/**
 * Runs the effects with at most `concurrency` at once and never fails: one
 * {@link Outcome} per input, in input order.
 *
 * @example
 * ```ts
 * import { Effect, Either } from "effect"
 * import { Fetch, Gather } from "effect-gather"
 *
 * const report = Gather.settle(["/status/200", "/status/503"].map((url) => Fetch.get(url))).pipe(
 *   Effect.map((outcomes) => outcomes.map(Either.match({ onLeft: (e) => e._tag, onRight: (r) => r.status })))
 * )
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const settle = <A, E, R>(
  effects: Iterable<Effect.Effect<A, E, R>>,
  options?: Options
): Effect.Effect<Array<Outcome<A, E>>, never, R> =>
  Effect.flatMap(currentReport(options), (report) =>
    internal.withDeadline(
      internal.settle(effects, watched(identity, options, report), options?.concurrency),
      options?.deadline
    ))

/**
 * Options of {@link forEach}: the mode and the concurrency.
 *
 * @since 0.1.0
 * @category models
 */
export interface ForEachOptions<Mode extends "fail-fast" | "settle"> extends Options {
  /** `"fail-fast"` (default, like {@link all}) or `"settle"` (like {@link settle}). */
  readonly mode?: Mode | undefined
}

/**
 * Applies `f` to every input with at most `concurrency` at once; the index is
 * the input's position. In `"fail-fast"` mode (default) results are values;
 * in `"settle"` mode they are {@link Outcome}s and the whole never fails.
 *
 * @example
 * ```ts
 * import { pipe } from "effect"
 * import { Fetch, Gather } from "effect-gather"
 *
 * const years = Array.from({ length: 30 }, (_, i) => 1990 + i)
 * const pages = pipe(years, Gather.forEach((year) => Fetch.text(`/wiki/${year}`), { concurrency: 10 }))
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const forEach: {
  <I, A, E, R>(
    f: (input: I, index: number) => Effect.Effect<A, E, R>,
    options: ForEachOptions<"settle"> & { readonly mode: "settle" }
  ): (inputs: Iterable<I>) => Effect.Effect<Array<Outcome<A, E>>, never, R>
  <I, A, E, R>(
    f: (input: I, index: number) => Effect.Effect<A, E, R>,
    options?: ForEachOptions<"fail-fast">
  ): (inputs: Iterable<I>) => Effect.Effect<Array<A>, E, R>
  <I, A, E, R>(
    inputs: Iterable<I>,
    f: (input: I, index: number) => Effect.Effect<A, E, R>,
    options: ForEachOptions<"settle"> & { readonly mode: "settle" }
  ): Effect.Effect<Array<Outcome<A, E>>, never, R>
  <I, A, E, R>(
    inputs: Iterable<I>,
    f: (input: I, index: number) => Effect.Effect<A, E, R>,
    options?: ForEachOptions<"fail-fast">
  ): Effect.Effect<Array<A>, E, R>
} = dual(
  (args) => typeof args[0] !== "function",
  <I, A, E, R>(
    inputs: Iterable<I>,
    f: (input: I, index: number) => Effect.Effect<A, E, R>,
    options?: ForEachOptions<"fail-fast" | "settle">
  ): Effect.Effect<Array<A> | Array<Outcome<A, E>>, E, R> => {
    return Effect.flatMap(currentReport(options), (report) => {
      const g = watched(f, options, report)
      return internal.withDeadline<Array<A> | Array<Outcome<A, E>>, E, R>(
        options?.mode === "settle"
          ? internal.settle(inputs, g, options.concurrency)
          : internal.all(inputs, g, options?.concurrency),
        options?.deadline
      )
    })
  }
)

/**
 * Where a streamed gather reads its inputs: an Effect `Stream`, an iterable
 * or an async iterable. Inputs are pulled only as workers free up.
 *
 * @since 0.1.0
 * @category models
 */
export type Source<I, EI = never, RI = never> = internal.Source<I, EI, RI>

/**
 * One input's outcome in a streamed gather, with its position and the input.
 *
 * @since 0.1.0
 * @category models
 */
export interface Result<I, A, E> {
  readonly index: number
  readonly input: I
  readonly outcome: Outcome<A, E>
}

/**
 * One input's value in a fail-fast streamed gather.
 *
 * @since 0.1.0
 * @category models
 */
export interface Success<I, A> {
  readonly index: number
  readonly input: I
  readonly value: A
}

/**
 * Options of {@link stream}.
 *
 * @since 0.1.0
 * @category models
 */
export interface StreamOptions<Mode extends "settle" | "fail-fast"> {
  /** How many run at once (a whole number). Default `32`. */
  readonly concurrency?: number | undefined
  /** Emit in input order (`true`) or as each completes (`false`, default). */
  readonly ordered?: boolean | undefined
  /**
   * Inputs taken but not yet emitted, at most; bounds memory and the reorder
   * buffer. Default `2 × concurrency` (never less than `concurrency`).
   */
  readonly bufferSize?: number | undefined
  /** `"settle"` (default): a {@link Result} per input; `"fail-fast"`: values, failing on the first error. */
  readonly mode?: Mode | undefined
  /** A deadline honoured by every `Fetch` inside, as in {@link Options}. */
  readonly deadline?: Duration.DurationInput | undefined
  /** A tracker to report to (see `Progress`). */
  readonly progress?: Progress.Tracker | undefined
  /** A run report to record to (see `Report`). Default the `Report.Report` in context, if any. */
  readonly report?: Report.Tracker | undefined
}

// In fail-fast mode the workers fail the stream on the first Left, so every
// item that arrives here is a Right.
const values = <I, A, E, EI, R>(
  results: Stream.Stream<Result<I, A, E>, E | EI, R>
): Stream.Stream<Success<I, A>, E | EI, R> =>
  Stream.filterMap(results, ({ index, input, outcome }) =>
    outcome._tag === "Right" ? Option.some({ index, input, value: outcome.right }) : Option.none())

/**
 * Gathers an input too large to hold in memory: pulls inputs lazily with
 * backpressure, runs at most `concurrency` at once and emits each outcome as
 * a `Stream`. Memory is O(`bufferSize`), not O(inputs).
 *
 * @example
 * ```ts
 * import { Effect, Stream } from "effect"
 * import { Fetch, Gather } from "effect-gather"
 *
 * const ids = Stream.range(1, 1_000_000)
 * const okCount = Gather.stream(ids, (id) => Fetch.get(`/bytes/${id % 100}`), { concurrency: 256 }).pipe(
 *   Stream.runFold(0, (n, result) => (result.outcome._tag === "Right" ? n + 1 : n))
 * )
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const stream: {
  <I, A, E, R>(
    f: (input: I, index: number) => Effect.Effect<A, E, R>,
    options: StreamOptions<"fail-fast"> & { readonly mode: "fail-fast" }
  ): <EI, RI>(source: Source<I, EI, RI>) => Stream.Stream<Success<I, A>, E | EI, R | RI>
  <I, A, E, R>(
    f: (input: I, index: number) => Effect.Effect<A, E, R>,
    options?: StreamOptions<"settle">
  ): <EI, RI>(source: Source<I, EI, RI>) => Stream.Stream<Result<I, A, E>, EI, R | RI>
  <I, A, E, R, EI = never, RI = never>(
    source: Source<I, EI, RI>,
    f: (input: I, index: number) => Effect.Effect<A, E, R>,
    options: StreamOptions<"fail-fast"> & { readonly mode: "fail-fast" }
  ): Stream.Stream<Success<I, A>, E | EI, R | RI>
  <I, A, E, R, EI = never, RI = never>(
    source: Source<I, EI, RI>,
    f: (input: I, index: number) => Effect.Effect<A, E, R>,
    options?: StreamOptions<"settle">
  ): Stream.Stream<Result<I, A, E>, EI, R | RI>
} = dual(
  (args) => typeof args[0] !== "function",
  <I, A, E, R, EI, RI>(
    source: Source<I, EI, RI>,
    f: (input: I, index: number) => Effect.Effect<A, E, R>,
    options?: StreamOptions<"settle" | "fail-fast">
  ): Stream.Stream<Result<I, A, E> | Success<I, A>, E | EI, R | RI> => {
    const failFast = options?.mode === "fail-fast"
    const results = Stream.unwrap(Effect.map(currentReport(options), (report) =>
      internal.stream(source, watched(f, options, report), { ...options, failFast })))
    // In settle mode no worker ever fails with E: only the source's EI remains.
    return failFast ? values(results) : results as Stream.Stream<Result<I, A, E>, EI, R | RI>
  }
)
