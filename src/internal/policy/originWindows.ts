/**
 * The adaptive window's hook into the gate: every origin starts at the
 * window's `initial`, every gated answer moves it (adaptive.ts decides how:
 * `judge`, then `update`), and the window decides how many slots the origin
 * has (`OriginState.limit`, never more than the per-origin cap). The
 * window's gauge (metrics.ts), when the session keeps metrics, follows it.
 * A session without `adaptive` has no such stage.
 */
import * as Adaptive from "./adaptive.js"
import * as Metrics from "./metrics.js"
import type { OriginState, Ticket } from "./origins.js"

/** The session's adaptive windows, one per origin. */
export class Windows {
  constructor(
    private readonly config: Adaptive.AdaptiveConfig,
    /** The per-origin cap (`maxInFlightPerOrigin`; Infinity: none), which the window never exceeds. */
    private readonly cap: number,
    private readonly metrics: boolean
  ) {}

  /** Gives a new origin its window, its answers and its gauge. */
  open(name: string, origin: OriginState): void {
    const window = Adaptive.initial(this.config)
    origin.window = window
    origin.answers = new Adaptive.Answers(this.config.max)
    origin.limit = Math.min(this.cap, Adaptive.limit(window))
    if (this.metrics) {
      origin.gauge = Metrics.windowGauge(name)
      origin.gauge(this.config.initial)
    }
  }

  /** The window learns from one gated answer, at the flight size and epoch its ticket noted at the send. */
  learn(ticket: Ticket, signal: Adaptive.Signal): void {
    const origin = ticket.origin
    const window = origin.window!
    const judged = Adaptive.judge(origin.answers!, window, signal, ticket.inFlightAtSend)
    const next = Adaptive.update(this.config, window, judged, ticket.epoch, ticket.inFlightAtSend)
    origin.window = next
    const size = Adaptive.limit(next)
    origin.limit = Math.min(this.cap, size)
    if (origin.gauge !== undefined && size !== Adaptive.limit(window)) origin.gauge(size)
  }

  /** The current window (requests allowed in flight) of each origin. */
  sizes(origins: Iterable<[string, OriginState]>): Record<string, number> {
    const out: Record<string, number> = {}
    for (const [name, origin] of origins) out[name] = Adaptive.limit(origin.window!)
    return out
  }
}
