/**
 * What the workers of one gather share: the work (where inputs come from and
 * outcomes go), the markers a poll answers with, and who watches the items.
 */
import type * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"

/**
 * Who watches a gather's items (progress counters, a run report): told when
 * each starts and how it ends, with the moment it started (performance.now()).
 */
export interface Watcher {
  /** The worker's fiber, once per worker run (to find services in its context). */
  bind(fiber: Fiber.RuntimeFiber<unknown, unknown>): void
  onStart(startedAt: number): void
  onSuccess(value: unknown, startedAt: number): void
  onFailure(error: unknown, startedAt: number): void
  onInterrupt(startedAt: number): void
}

/** Several watchers as one; `undefined` when there are none. */
export const watchers = (list: ReadonlyArray<Watcher | undefined>): Watcher | undefined => {
  const present = list.filter((watcher): watcher is Watcher => watcher !== undefined)
  if (present.length <= 1) return present[0]
  return {
    bind: (fiber) => present.forEach((watcher) => watcher.bind(fiber)),
    onStart: (at) => present.forEach((watcher) => watcher.onStart(at)),
    onSuccess: (value, at) => present.forEach((watcher) => watcher.onSuccess(value, at)),
    onFailure: (error, at) => present.forEach((watcher) => watcher.onFailure(error, at)),
    onInterrupt: (at) => present.forEach((watcher) => watcher.onInterrupt(at))
  }
}

export const End: unique symbol = Symbol("effect-gather/End")
export type End = typeof End
export const Pending: unique symbol = Symbol("effect-gather/Pending")
export type Pending = typeof Pending

export type Readiness = "retry" | "waiting" | "fiber"

/** What the workers of one gather share: where inputs come from and outcomes go. */
export interface Work<I, A, E, EI, R> {
  /** The next input, `End`, or `Pending` (run `wait`, then poll again). Never blocks. */
  readonly poll: () => I | End | Pending
  /** Completes when `poll` may have something again; fails if the source failed. */
  readonly wait: Effect.Effect<void, EI>
  /**
   * After `poll` said `Pending`, without a fiber: `"retry"` (poll again now),
   * `"waiting"` (`wake` is called once `poll` may have something), or
   * `"fiber"` (run `wait` on a fiber: it fails, say). Absent: always `"fiber"`.
   */
  readonly whenReady?: ((wake: () => void) => Readiness) | undefined
  readonly f: (input: I, index: number) => Effect.Effect<A, E, R>
  readonly onValue: (index: number, input: I, value: A) => void
  /** Records a failure; `false` ends the gather with it (fail-fast). */
  readonly onError: (index: number, input: I, error: E) => boolean
  readonly watcher: Watcher | undefined
}
