/**
 * How an effect can run without a fiber step per item inside a Gather.
 *
 * Gather is generic: it knows nothing of HTTP. An effect that can start its
 * work with callbacks (a plain `Fetch.get`, say) carries a `start` function
 * under {@link TypeId}; a Gather worker that finds one calls it instead of
 * running the effect, and takes its next input from the completion callback,
 * so a worker fiber suspends once for a whole run of such effects instead of
 * once per item (about 3 KB of allocation and the GC that follows, measured
 * in `bench/`). Anything the callbacks cannot finish (a retry wait, a
 * redirect, a user's `Effect.map`) goes back to the fiber through
 * {@link Sink.continueWith}, so every semantic stays the effect's own.
 */
import type * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"

/** @internal */
export const TypeId: unique symbol = Symbol.for("effect-gather/FastPath")
export type TypeId = typeof TypeId

/** Where a started effect reports, exactly once. */
export interface Sink<A, E, R> {
  succeed(value: A): void
  fail(error: E): void
  /** The rest needs the fiber (a wait, a user's effect): run this there. */
  continueWith(effect: Effect.Effect<A, E, R>): void
}

/** A started effect, to abort when the worker is interrupted. */
export interface Running {
  interrupt(): void
}

export interface FastPath<A, E, R> {
  /**
   * Starts the effect's work in `fiber`'s context and reports to `sink`, or
   * returns `undefined` (nothing started, `sink` never called) when it must
   * run as a plain effect this time.
   */
  readonly [TypeId]: (
    fiber: Fiber.RuntimeFiber<unknown, unknown>,
    sink: Sink<A, E, R>
  ) => Running | undefined
}

export const isFastPath = <A, E, R>(effect: Effect.Effect<A, E, R>): effect is Effect.Effect<A, E, R> & FastPath<A, E, R> => TypeId in effect

/**
 * Starts `effect` on callbacks when it can: what a Gather lane, or an effect
 * that wraps another, asks of each effect. `undefined`: nothing started and
 * `sink` is never called; run `effect` on a fiber. The effect decides (a
 * fetch by its `plan`); this only asks it.
 */
export const start = <A, E, R>(
  effect: Effect.Effect<A, E, R>,
  fiber: Fiber.RuntimeFiber<unknown, unknown>,
  sink: Sink<A, E, R>
): Running | undefined => isFastPath(effect) ? effect[TypeId](fiber, sink) : undefined
