import * as Effect from "effect/Effect"

/** Wakes whoever waits, all at once: each re-checks its own condition. */
export class Waiters {
  private list: Array<() => void> = []
  readonly wait: Effect.Effect<void> = Effect.async<void>((resume) => {
    const wake = () => resume(Effect.void)
    this.list.push(wake)
    return Effect.sync(() => {
      const at = this.list.indexOf(wake)
      if (at >= 0) this.list.splice(at, 1)
    })
  })
  /** Calls `wake` (once) at the next wakeAll. */
  notify(wake: () => void): void {
    this.list.push(wake)
  }
  wakeAll(): void {
    if (this.list.length === 0) return
    const woken = this.list
    this.list = []
    for (const wake of woken) wake()
  }
}
