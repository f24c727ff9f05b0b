/**
 * The time limits of every request of a session, checked by one interval.
 *
 * A timer per request costs a setTimeout/clearTimeout pair and a Timeout
 * object for limits that almost never fire; here a request joins a Set when
 * it is dispatched and leaves it when it ends, and a 10 ms tick looks at the
 * (few hundred at most) requests in flight. Limits are therefore enforced to
 * within about one tick. The interval is unref'd and stops after a second
 * with nothing to watch.
 */
export interface Watched {
  /** performance.now() at which `onDue` should look at this request. */
  readonly due: number
  onDue(now: number): void
}

const TICK_MS = 10
const IDLE_TICKS_BEFORE_STOP = 100

export class Watchdog {
  private readonly watched = new Set<Watched>()
  private interval: ReturnType<typeof setInterval> | undefined = undefined
  private idleTicks = 0
  private closed = false

  watch(entry: Watched): void {
    this.watched.add(entry)
    if (this.interval === undefined && !this.closed) {
      this.idleTicks = 0
      this.interval = setInterval(this.tick, TICK_MS)
      this.interval.unref()
    }
  }

  unwatch(entry: Watched): void {
    this.watched.delete(entry)
  }

  close(): void {
    this.closed = true
    this.stop()
    this.watched.clear()
  }

  private stop(): void {
    if (this.interval !== undefined) clearInterval(this.interval)
    this.interval = undefined
  }

  private readonly tick = (): void => {
    if (this.watched.size === 0) {
      if (++this.idleTicks >= IDLE_TICKS_BEFORE_STOP) this.stop()
      return
    }
    this.idleTicks = 0
    const now = performance.now()
    for (const entry of this.watched) {
      if (entry.due <= now) entry.onDue(now)
    }
  }
}
