/**
 * Deadlines of requests still waiting in undici's queue for a connection.
 *
 * A timer per request would cost every request a setTimeout/clearTimeout
 * pair for a wait that is almost always zero; instead the session keeps one
 * unref'd interval that looks at the (usually empty) set of waiting requests.
 */
export interface Waiting {
  /** performance.now() by which the request must have a connection. */
  readonly queueDeadline: number
  expireInQueue(): void
}

const CHECK_EVERY_MS = 25

export class QueueWatch {
  private readonly waiting = new Set<Waiting>()
  private readonly interval: ReturnType<typeof setInterval>

  constructor() {
    this.interval = setInterval(this.check, CHECK_EVERY_MS)
    this.interval.unref()
  }

  add(entry: Waiting): void {
    this.waiting.add(entry)
  }

  remove(entry: Waiting): void {
    this.waiting.delete(entry)
  }

  close(): void {
    clearInterval(this.interval)
    this.waiting.clear()
  }

  private readonly check = (): void => {
    if (this.waiting.size === 0) return
    const now = performance.now()
    for (const entry of this.waiting) {
      if (entry.queueDeadline <= now) {
        this.waiting.delete(entry)
        entry.expireInQueue()
      }
    }
  }
}
