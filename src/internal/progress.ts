import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type { Concurrency } from "../Gather.js"
import type { Snapshot, Tracker } from "../Progress.js"
import { tag as sessionTag } from "./session.js"

const noWindows: Readonly<Record<string, number>> = Object.freeze({})

/**
 * A progress tracker: mutable counts bumped by the gather workers it
 * watches; reads make a snapshot. The counts are `#` fields, not part of
 * `Progress.Tracker`: what a user sees is the watcher and `snapshot`.
 */
export class Counters implements Tracker {
  #started = 0
  #succeeded = 0
  #failed = 0
  #interrupted = 0
  #bytes = 0
  readonly #failedByTag: Record<string, number> = {}
  /** The adaptive windows of the session the tracked gather runs on (found at its first start). */
  #windows: (() => Record<string, number>) | undefined = undefined
  readonly #startedAt: number

  readonly snapshot: Effect.Effect<Snapshot> = Effect.map(Clock.currentTimeMillis, (at) => this.snapshotAt(at))

  constructor(startedAt: number) {
    this.#startedAt = startedAt
  }

  /** Finds the adaptive windows of the session the gather runs on, once. */
  onGather(_concurrency: Concurrency, context: Context.Context<never>): void {
    if (this.#windows !== undefined) return
    const session = Context.getOption(context, sessionTag)
    if (session._tag === "Some") this.#windows = session.value.hosts.windows
  }

  onStart(): void {
    this.#started++
  }

  onSuccess(value: unknown): void {
    this.#succeeded++
    if (typeof value === "object" && value !== null && "bytes" in value && typeof value.bytes === "number" && value.bytes > 0) {
      this.#bytes += value.bytes
    }
  }

  onFailure(error: unknown): void {
    this.#failed++
    const tag = typeof error === "object" && error !== null && "_tag" in error && typeof error._tag === "string"
      ? error._tag
      : "unknown"
    this.#failedByTag[tag] = (this.#failedByTag[tag] ?? 0) + 1
  }

  onInterrupt(): void {
    this.#interrupted++
  }

  snapshotAt(now: number): Snapshot {
    const elapsedMs = Math.max(0, now - this.#startedAt)
    const done = this.#succeeded + this.#failed
    return {
      started: this.#started,
      succeeded: this.#succeeded,
      failed: this.#failed,
      failedByTag: { ...this.#failedByTag },
      bytes: this.#bytes,
      inFlight: this.#started - done - this.#interrupted,
      elapsedMs,
      ratePerSecond: elapsedMs === 0 ? 0 : (done * 1000) / elapsedMs,
      windows: this.#windows === undefined ? noWindows : this.#windows()
    }
  }
}
