import * as Context from "effect/Context"
import type * as Fiber from "effect/Fiber"
import type { Snapshot } from "../Progress.js"
import type { Watcher } from "./gather/work.js"
import { tag as sessionTag } from "./session.js"

const noWindows: Readonly<Record<string, number>> = Object.freeze({})

/** Mutable counts bumped by gather workers; reads make a snapshot. */
export class Counters implements Watcher {
  started = 0
  succeeded = 0
  failed = 0
  interrupted = 0
  bytes = 0
  readonly failedByTag: Record<string, number> = {}
  /** The adaptive windows of the session the tracked gather runs on (found at its first start). */
  windows: (() => Record<string, number>) | undefined = undefined
  constructor(readonly startedAt: number) {}

  /** Finds the adaptive windows of the session `fiber` runs on, once (a gather worker calls it). */
  bind(fiber: Fiber.RuntimeFiber<unknown, unknown>): void {
    if (this.windows !== undefined) return
    const session = Context.getOption(fiber.currentContext, sessionTag)
    if (session._tag === "Some") this.windows = session.value.hosts.windows
  }

  onStart(): void {
    this.started++
  }

  onSuccess(value: unknown): void {
    this.succeeded++
    if (typeof value === "object" && value !== null && "bytes" in value && typeof value.bytes === "number" && value.bytes > 0) {
      this.bytes += value.bytes
    }
  }

  onFailure(error: unknown): void {
    this.failed++
    const tag = typeof error === "object" && error !== null && "_tag" in error && typeof error._tag === "string"
      ? error._tag
      : "unknown"
    this.failedByTag[tag] = (this.failedByTag[tag] ?? 0) + 1
  }

  onInterrupt(): void {
    this.interrupted++
  }

  snapshotAt(now: number): Snapshot {
    const elapsedMs = Math.max(0, now - this.startedAt)
    const done = this.succeeded + this.failed
    return {
      started: this.started,
      succeeded: this.succeeded,
      failed: this.failed,
      failedByTag: { ...this.failedByTag },
      bytes: this.bytes,
      inFlight: this.started - done - this.interrupted,
      elapsedMs,
      ratePerSecond: elapsedMs === 0 ? 0 : (done * 1000) / elapsedMs,
      windows: this.windows === undefined ? noWindows : this.windows()
    }
  }
}
