import * as Effect from "effect/Effect"
import { Waiters } from "./waiters.js"
import type { Readiness } from "./work.js"

/** Permits for "taken but not yet emitted", without a Semaphore's per-call cost. */
export class Gate {
  private readonly waiters = new Waiters()
  constructor(private available: number) {}
  tryAcquire(): boolean {
    if (this.available === 0) return false
    this.available--
    return true
  }
  /** `"waiting"` with `wake` registered while no permit is free, else `"retry"`. */
  whenAvailable(wake: () => void): Readiness {
    if (this.available > 0) return "retry"
    this.waiters.notify(wake)
    return "waiting"
  }
  readonly waitAvailable: Effect.Effect<void> = Effect.suspend(() => this.available > 0 ? Effect.void : Effect.zipRight(this.waiters.wait, this.waitAvailable))
  release(n: number): void {
    if (n === 0) return
    this.available += n
    this.waiters.wakeAll()
  }
}
