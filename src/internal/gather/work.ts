/**
 * What the workers of one gather share: the work (where inputs come from and
 * outcomes go), the markers a poll answers with, and who watches the items.
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type { Concurrency, Watcher } from "../../Gather.js"

/**
 * The key `Report.Report` is provided under. Gather reads the tracker there
 * as the {@link Watcher} it is, through {@link reportInContext}, so that
 * Gather imports nothing of Report (Report depends on Gather, not the
 * reverse); the key is declared here, below both, once.
 */
export const reportKey = "effect-gather/Report"

/** The run report in context (`Report.Report`), seen as a watcher: a gather's default `report`. */
export const reportInContext: Context.Tag<Watcher, Watcher> = Context.GenericTag<Watcher>(reportKey)

/**
 * Several watchers told in turn, in the order given. Indexed loops: an
 * item's call allocates nothing (no closure per call, no iterator).
 */
class Several implements Watcher {
  constructor(private readonly list: ReadonlyArray<Watcher>) {}

  onGather(concurrency: Concurrency, context: Context.Context<never>): void {
    for (let i = 0; i < this.list.length; i++) this.list[i]!.onGather?.(concurrency, context)
  }

  onStart(startedAt: number): void {
    for (let i = 0; i < this.list.length; i++) this.list[i]!.onStart(startedAt)
  }

  onSuccess(value: unknown, startedAt: number): void {
    for (let i = 0; i < this.list.length; i++) this.list[i]!.onSuccess(value, startedAt)
  }

  onFailure(error: unknown, startedAt: number): void {
    for (let i = 0; i < this.list.length; i++) this.list[i]!.onFailure(error, startedAt)
  }

  onInterrupt(startedAt: number): void {
    for (let i = 0; i < this.list.length; i++) this.list[i]!.onInterrupt(startedAt)
  }
}

/** Several watchers as one; `undefined` when there are none. */
export const watchers = (list: ReadonlyArray<Watcher | undefined>): Watcher | undefined => {
  const present = list.filter((watcher): watcher is Watcher => watcher !== undefined)
  return present.length <= 1 ? present[0] : new Several(present)
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
