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
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Either from "effect/Either"
import { dual } from "effect/Function"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as Run from "./internal/gather/run.js"
import * as Streamed from "./internal/gather/stream.js"
import { withDeadline } from "./internal/gather/withDeadline.js"
import * as Work from "./internal/gather/work.js"
import * as Workers from "./internal/gather/workers.js"
import type * as Progress from "./Progress.js"

/**
 * At most this many effects run at once: a whole number ≥ 1, or
 * `"unbounded"` (all at once; the input is read into memory first).
 *
 * @since 0.1.0
 * @category models
 */
export type Concurrency = number | "unbounded"

/**
 * Who watches a gather's items: told when each starts and how it ends (a
 * value, a typed error, or interrupted), each time with the moment it
 * started (`performance.now()`), so timing an item needs no state per item.
 * A `Progress.Tracker` and a `Report.Tracker` are watchers; pass your own
 * as `watch` (see {@link Options}).
 *
 * The gather's workers call a watcher from the item's completion (often a
 * socket callback, not a fiber), and the effects themselves stay unwrapped,
 * so a fetch keeps its fast path: keep each call quick, and never throw.
 * An item that dies (a defect, or `f` throwing) gets no end call: the
 * defect ends the whole gather, and the items still running are
 * interrupted (`onInterrupt`).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Fetch, Gather } from "effect-gather"
 *
 * // Counts the outcomes and keeps the slowest success, in milliseconds.
 * const outcomes = { started: 0, ok: 0, failed: 0, interrupted: 0, slowestMs: 0 }
 * const watcher: Gather.Watcher = {
 *   onStart: () => {
 *     outcomes.started++
 *   },
 *   onSuccess: (_value, startedAt) => {
 *     outcomes.ok++
 *     outcomes.slowestMs = Math.max(outcomes.slowestMs, performance.now() - startedAt)
 *   },
 *   onFailure: () => {
 *     outcomes.failed++
 *   },
 *   onInterrupt: () => {
 *     outcomes.interrupted++
 *   }
 * }
 * const program = Gather.settle(["/status/200", "/status/503"].map((url) => Fetch.get(url)), { watch: watcher }).pipe(
 *   Effect.map(() => outcomes)
 * )
 * ```
 *
 * @since 0.3.0
 * @category models
 */
export interface Watcher {
  /**
   * Optional: told once as a gather starts, before its first item, with its
   * concurrency limit (the default applied) and the services it runs with
   * (`Context.getOption(context, Session.Session)` finds its session). A
   * watcher given to several gathers hears from each.
   */
  readonly onGather?: ((concurrency: Concurrency, context: Context.Context<never>) => void) | undefined
  /** An item's effect starts, at `startedAt`. */
  readonly onStart: (startedAt: number) => void
  /** The item that started at `startedAt` succeeded with `value`. */
  readonly onSuccess: (value: unknown, startedAt: number) => void
  /** The item that started at `startedAt` failed with `error`, its typed error. */
  readonly onFailure: (error: unknown, startedAt: number) => void
  /** The item that started at `startedAt` was interrupted (fail-fast, a timeout around the gather, an interrupted gather). */
  readonly onInterrupt: (startedAt: number) => void
}

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
  /**
   * A run report to record to (a `Report.Tracker`, see `Report`). Default
   * the `Report.Report` in context, if any.
   */
  readonly report?: Watcher | undefined
  /** Watchers of your own (see {@link Watcher}), told of every item besides `progress` and `report`. Default none. */
  readonly watch?: Watcher | ReadonlyArray<Watcher> | undefined
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
export const defaultConcurrency: number = Workers.defaultConcurrency

const identity = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> => effect

/**
 * Any effect: what a tuple or record given to {@link all} or {@link settle}
 * holds (`Effect` is covariant, so every effect is one).
 *
 * @since 0.2.0
 * @category models
 */
export type AnyEffect = Effect.Effect<unknown, unknown, unknown>

/**
 * A tuple, array or record of effects, as {@link all} and {@link settle} take
 * them (an iterable is accepted too).
 *
 * @since 0.2.0
 * @category models
 */
export type Effects = ReadonlyArray<AnyEffect> | Readonly<Record<string, AnyEffect>>

type SuccessOf<T> = T extends Effect.Effect<infer A, infer _E, infer _R> ? A : never
type ErrorOf<T> = T extends Effect.Effect<infer _A, infer E, infer _R> ? E : never
type ContextOf<T> = T extends Effect.Effect<infer _A, infer _E, infer R> ? R : never

/**
 * What {@link all} gives for a tuple or record: the same shape holding each
 * effect's value (a tuple stays a tuple, position by position).
 *
 * @since 0.2.0
 * @category models
 */
export type Successes<T extends Effects> = { -readonly [K in keyof T]: SuccessOf<T[K]> }

/**
 * What {@link settle} gives for a tuple or record: the same shape holding
 * each effect's {@link Outcome}.
 *
 * @since 0.2.0
 * @category models
 */
export type Outcomes<T extends Effects> = { -readonly [K in keyof T]: Outcome<SuccessOf<T[K]>, ErrorOf<T[K]>> }

/**
 * The union of the errors of a tuple or record of effects.
 *
 * @since 0.2.0
 * @category models
 */
export type Errors<T extends Effects> = ErrorOf<T[keyof T & (T extends ReadonlyArray<unknown> ? number : string)]>

/**
 * The union of the requirements of a tuple or record of effects.
 *
 * @since 0.2.0
 * @category models
 */
export type Requirements<T extends Effects> = ContextOf<
  T[keyof T & (T extends ReadonlyArray<unknown> ? number : string)]
>

const isIterable = (u: object): u is Iterable<unknown> => Symbol.iterator in u

/**
 * A record's values, gathered in key order, put back under their keys.
 * Tuples and iterables go straight through.
 */
const byShape = <A, E, R, B, E2>(
  effects: Iterable<Effect.Effect<A, E, R>> | Readonly<Record<string, Effect.Effect<A, E, R>>>,
  run: (effects: Iterable<Effect.Effect<A, E, R>>) => Effect.Effect<Array<B>, E2, R>
): Effect.Effect<Array<B> | Record<string, B>, E2, R> => {
  if (isIterable(effects)) return run(effects)
  const keys = Object.keys(effects)
  return Effect.map(run(keys.map((key) => effects[key]!)), (values) => {
    const out: Record<string, B> = {}
    keys.forEach((key, i) => out[key] = values[i]!)
    return out
  })
}

/** What the watchers are made from, in {@link Options} and {@link StreamOptions} alike. */
type Watching = Pick<Options, "concurrency" | "progress" | "report" | "watch">

const isList = (watch: Watcher | ReadonlyArray<Watcher>): watch is ReadonlyArray<Watcher> => Array.isArray(watch)

/**
 * The gather's watchers as one, told that the gather starts: its progress
 * tracker, its run report (the one passed, else the one in context) and the
 * user's own. Workers tell them about each item, so the effects themselves
 * stay unwrapped (and plain fetches keep the fast path).
 */
const watcherOf = (options: Watching | undefined, context: Context.Context<never>): Watcher | undefined => {
  const report = options?.report ?? Option.getOrUndefined(Context.getOption(context, Work.reportInContext))
  const watch = options?.watch
  const watcher = Work.watchers(
    watch === undefined
      ? [options?.progress, report]
      : isList(watch)
      ? [options?.progress, report, ...watch]
      : [options?.progress, report, watch]
  )
  watcher?.onGather?.(options?.concurrency ?? Workers.defaultConcurrency, context)
  return watcher
}

/**
 * Runs the effects with at most `concurrency` at once and collects their
 * results in input order. Fails fast: the first failure interrupts the rest.
 *
 * Like `Effect.all`, a tuple of different effects gives a tuple of their
 * values, and a record gives a record (keys in their own order); any other
 * iterable gives an array.
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
 * // a tuple: Effect<[FetchResponse<{ id, name }>, FetchResponse<string>], FetchError, Session>
 * const pair = Gather.all([Fetch.json("/api/v2/pokemon/1", Pokemon), Fetch.text("/index")])
 * // a record: Effect<{ pokemon: FetchResponse<...>; index: FetchResponse<string> }, ...>
 * const named = Gather.all({ pokemon: Fetch.json("/api/v2/pokemon/1", Pokemon), index: Fetch.text("/index") })
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export function all<const T extends Effects>(
  effects: T,
  options?: Options
): Effect.Effect<Successes<T>, Errors<T>, Requirements<T>>
export function all<A, E, R>(effects: Iterable<Effect.Effect<A, E, R>>, options?: Options): Effect.Effect<Array<A>, E, R>
export function all<A, E, R>(
  effects: Iterable<Effect.Effect<A, E, R>> | Readonly<Record<string, Effect.Effect<A, E, R>>>,
  options?: Options
): Effect.Effect<Array<A> | Record<string, A>, E, R> {
  return Effect.contextWithEffect((context: Context.Context<never>) =>
    withDeadline(
      byShape(effects, (list) => Run.all(list, identity, options?.concurrency, watcherOf(options, context))),
      options?.deadline
    )
  )
}

/**
 * Runs the effects with at most `concurrency` at once and never fails: one
 * {@link Outcome} per input, in input order. A tuple gives a tuple of
 * outcomes, a record a record (as {@link all}).
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
export function settle<const T extends Effects>(
  effects: T,
  options?: Options
): Effect.Effect<Outcomes<T>, never, Requirements<T>>
export function settle<A, E, R>(
  effects: Iterable<Effect.Effect<A, E, R>>,
  options?: Options
): Effect.Effect<Array<Outcome<A, E>>, never, R>
export function settle<A, E, R>(
  effects: Iterable<Effect.Effect<A, E, R>> | Readonly<Record<string, Effect.Effect<A, E, R>>>,
  options?: Options
): Effect.Effect<Array<Outcome<A, E>> | Record<string, Outcome<A, E>>, never, R> {
  return Effect.contextWithEffect((context: Context.Context<never>) =>
    withDeadline(
      byShape(effects, (list) => Run.settle(list, identity, options?.concurrency, watcherOf(options, context))),
      options?.deadline
    )
  )
}

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
    return Effect.contextWithEffect((context: Context.Context<never>) => {
      const watcher = watcherOf(options, context)
      return withDeadline<Array<A> | Array<Outcome<A, E>>, E, R>(
        options?.mode === "settle"
          ? Run.settle(inputs, f, options.concurrency, watcher)
          : Run.all(inputs, f, options?.concurrency, watcher),
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
export type Source<I, EI = never, RI = never> = Stream.Stream<I, EI, RI> | Iterable<I> | AsyncIterable<I>

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
  /**
   * A run report to record to (a `Report.Tracker`, see `Report`). Default
   * the `Report.Report` in context, if any.
   */
  readonly report?: Watcher | undefined
  /** Watchers of your own, as in {@link Options}. Default none. */
  readonly watch?: Watcher | ReadonlyArray<Watcher> | undefined
}

// In fail-fast mode the workers fail the stream on the first Left, so every
// item that arrives here is a Right.
const values = <I, A, E, EI, R>(
  results: Stream.Stream<Result<I, A, E>, E | EI, R>
): Stream.Stream<Success<I, A>, E | EI, R> =>
  Stream.filterMap(results, ({ index, input, outcome }) => outcome._tag === "Right" ? Option.some({ index, input, value: outcome.right }) : Option.none())

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
    const results = Stream.unwrap(
      Effect.contextWith((context: Context.Context<never>) => Streamed.stream(source, f, { ...options, failFast, watcher: watcherOf(options, context) }))
    )
    // In settle mode no worker ever fails with E: only the source's EI remains.
    return failFast ? values(results) : results as Stream.Stream<Result<I, A, E>, EI, R | RI>
  }
)
