/**
 * One lane of a gather: a callback loop that starts each input's effect (see
 * fastPath.ts) and takes the next input from its completion, until something
 * needs a fiber (see workers.ts).
 */
import type * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import * as FastPath from "../engine/fastPath.js"
import type { Work } from "./work.js"
import { End, Pending } from "./work.js"

/** Why a lane stopped running on callbacks. */
export type Stop<I, A, E, EI, R> =
  | { readonly _tag: "End" }
  | { readonly _tag: "Pending" }
  | { readonly _tag: "Slow"; readonly effect: Effect.Effect<A, E, R>; readonly index: number; readonly input: I; readonly startedAt: number }
  | { readonly _tag: "Failed"; readonly error: E | EI }
  | { readonly _tag: "Defect"; readonly defect: unknown }

const End_: Stop<never, never, never, never, never> = { _tag: "End" }
const Pending_: Stop<never, never, never, never, never> = { _tag: "Pending" }

/**
 * One lane of work: takes an input, starts its effect on callbacks (see
 * fastPath.ts), and on completion takes the next, until it must stop (see
 * {@link Stop}); then it calls `stopped` once and does nothing more.
 */
export class Lane<I, A, E, EI, R> implements FastPath.Sink<A, E, R> {
  /** The item in flight on callbacks, to abort on interruption. */
  running: FastPath.Running | undefined = undefined
  private index = 0
  // Set with index before any effect of this lane can report.
  private input!: I
  startedAt = 0
  private starting = false
  private completedWhileStarting = false
  stopped = false

  constructor(
    private readonly work: Work<I, A, E, EI, R>,
    private readonly nextIndex: () => number,
    private readonly fiber: Fiber.RuntimeFiber<unknown, unknown>,
    private readonly onStop: (stop: Stop<I, A, E, EI, R>) => void
  ) {}

  private stop(how: Stop<I, A, E, EI, R>): void {
    this.stopped = true
    this.running = undefined
    this.onStop(how)
  }

  succeed(value: A): void {
    this.running = undefined
    this.work.watcher?.onSuccess(value, this.startedAt)
    this.work.onValue(this.index, this.input, value)
    this.pump()
  }

  fail(error: E): void {
    this.running = undefined
    this.work.watcher?.onFailure(error, this.startedAt)
    if (this.work.onError(this.index, this.input, error)) this.pump()
    else this.stop({ _tag: "Failed", error })
  }

  continueWith(effect: Effect.Effect<A, E, R>): void {
    this.stop({ _tag: "Slow", effect, index: this.index, input: this.input, startedAt: this.startedAt })
  }

  /** Aborts the item in flight, if any; `true` when there was one. */
  interrupt(): boolean {
    const current = this.running
    this.running = undefined
    this.stopped = true
    if (current === undefined) return false
    current.interrupt()
    this.work.watcher?.onInterrupt(this.startedAt)
    return true
  }

  private readonly wake = (): void => this.pump()

  pump(): void {
    // A start that completes at once reports while `start` is still on the
    // stack: the loop below takes the next input instead of recursing.
    if (this.starting) {
      this.completedWhileStarting = true
      return
    }
    const { work } = this
    while (!this.stopped) {
      let effect: Effect.Effect<A, E, R>
      try {
        const next = work.poll()
        if (next === End) return this.stop(End_)
        if (next === Pending) {
          // Wait on a callback when the source can say when it is ready.
          const readiness = work.whenReady === undefined ? "fiber" : work.whenReady(this.wake)
          if (readiness === "retry") continue
          if (readiness === "waiting") return
          return this.stop(Pending_)
        }
        this.input = next
        this.index = this.nextIndex()
        if (work.watcher !== undefined) {
          this.startedAt = performance.now()
          work.watcher.onStart(this.startedAt)
        }
        effect = work.f(next, this.index)
      } catch (error) {
        // A throwing iterator or function is a defect, as in Effect.forEach.
        return this.stop({ _tag: "Defect", defect: error })
      }
      this.starting = true
      this.completedWhileStarting = false
      const started = FastPath.start(effect, this.fiber, this)
      this.starting = false
      if (started === undefined) return this.continueWith(effect)
      if (!this.completedWhileStarting) {
        if (!this.stopped) this.running = started
        return
      }
    }
  }
}
