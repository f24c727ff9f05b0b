/**
 * The adaptive in-flight window of one origin, as pure functions of its
 * state: TCP's congestion control with loss as the signal (slow start, then
 * additive increase and multiplicative decrease, with a slow-start
 * threshold, the rule RFC 5681 gives TCP and Netflix's concurrency-limits
 * use for loss), plus CUBIC's plateau at the last loss (RFC 9438's W_max).
 *
 * Why loss and not a latency gradient (Vegas, gradient2): the servers this
 * is for shed load with an answer (429, 503, a reset, a timeout) rather
 * than queueing it; a server that answers 503 as soon as K requests are in
 * flight shows no rise in latency before it refuses, so a latency rule sees
 * nothing until the refusals come. The bench's capacity scenario measures it.
 *
 * - Start: a new origin's window is `initial` (10, TCP's initial window of
 *   RFC 6928), not `max`. Starting at the maximum (256 in the bench) against
 *   a server that holds 20 cost about 2 s of refusals before the window came
 *   down, 1.46× the best fixed setting on a 10,000-request run.
 * - Slow start (below the threshold, which is `max` until the first
 *   overload): each success adds 1, so a window whose requests all succeed
 *   doubles per round trip and reaches `max` in about log2(max / initial)
 *   round trips.
 * - Congestion avoidance (at or above the threshold, no ceiling known):
 *   each success adds `increase / window`, so about `increase` per round
 *   trip, up to `max`.
 * - Overload (429, 503, reset, timeout): the window becomes
 *   `decrease × min(window, in flight when the refused request was sent)`,
 *   at least `min`. Taking the in-flight count at send (TCP's "flight
 *   size") and not the window alone keeps the overshoot of slow start (a
 *   window that doubled past the server's capacity in one round) from
 *   shrinking in many small steps: the refusals say where the limit was.
 *   Refusals of one burst come back in any order, so the rest of the burst
 *   may still lower the ceiling (and the decrease measured from it).
 * - The ceiling (CUBIC's W_max, counted in round trips rather than
 *   seconds): the refused flight size. The threshold becomes just below it,
 *   so the window slow-starts back there within a round trip or two instead
 *   of creeping up additively (plain AIMD averaged about 18 of a capacity
 *   of 20 in bench A, with a refusal every few round trips), then holds for
 *   `hold` round trips of successes before probing past it additively. A
 *   ceiling confirmed again (refused at or above it) makes the hold
 *   `holdGrowth` (4) times longer, up to `maxHold` (256 round trips); one refused well below resets it (the capacity dropped);
 *   one outgrown by a whole request with no refusal is dropped (the
 *   capacity grew), and slow start finds the new limit.
 * - Only refusals that rise with load (see {@link Answers}): a refusal
 *   counts as overload when at least a quarter of the recent answers to
 *   requests sent with as many in flight or more were refusals too;
 *   otherwise (a per-route limit, a random 429) it is neutral.
 * - At most once per round trip: each decrease starts a new epoch; a request
 *   remembers the epoch it was sent in, and a refusal of a request sent
 *   before the last decrease is part of the burst already answered (TCP's
 *   recovery point). One burst, one signal.
 *
 * The window is fractional; the number of requests allowed is its floor.
 */
import type { AdaptiveOptions, ResolvedAdaptive } from "../../Session.js"

/** The controller's parameters, normalized (see `Session.AdaptiveOptions`): the shape `session.config` shows. */
export type AdaptiveConfig = ResolvedAdaptive

/**
 * The defaults of `Session.AdaptiveOptions` (`max` defaults to the session's
 * per-origin limit; `initial` and `min` are clamped to `max`).
 */
export const defaults = { initial: 10, min: 1, increase: 1, decrease: 0.7 } as const

const wholeAtLeastOne = (name: string, n: number | undefined): number | undefined => {
  if (n === undefined) return undefined
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`adaptive.${name} must be a whole number >= 1, got ${n}`)
  return n
}

/**
 * The one place `adaptive` options are read: `true` takes every default,
 * `false`/`undefined` is no window; `fallbackMax` is the session's own
 * per-origin limit. Throws a `RangeError` naming the field it refuses.
 */
export const normalize = (input: boolean | AdaptiveOptions | undefined, fallbackMax: number): AdaptiveConfig | undefined => {
  if (input === undefined || input === false) return undefined
  const record: AdaptiveOptions = input === true ? {} : input
  const max = wholeAtLeastOne("max", record.max) ?? fallbackMax
  const min = wholeAtLeastOne("min", record.min) ?? Math.min(defaults.min, max)
  if (min > max) throw new RangeError(`adaptive.min (${min}) must not exceed adaptive.max (${max})`)
  const given = wholeAtLeastOne("initial", record.initial)
  if (given !== undefined && (given < min || given > max)) {
    throw new RangeError(`adaptive.initial (${given}) must be within adaptive.min (${min}) and adaptive.max (${max})`)
  }
  const initial = given ?? Math.max(min, Math.min(defaults.initial, max))
  const increase = record.increase ?? defaults.increase
  if (!(increase > 0) || !Number.isFinite(increase)) throw new RangeError(`adaptive.increase must be a number > 0, got ${increase}`)
  const decrease = record.decrease ?? defaults.decrease
  if (!(decrease > 0 && decrease < 1)) throw new RangeError(`adaptive.decrease must be a number in (0, 1), got ${decrease}`)
  return { initial, min, max, increase, decrease }
}

/** One origin's window. */
export interface Window {
  /** Fractional size; `limit` is its floor. */
  readonly size: number
  /** Slow-start threshold: below it a success adds 1, at or above it `increase / size`. */
  readonly threshold: number
  /** Number of decreases so far; a request sent in an older epoch cannot shrink the window again. */
  readonly epoch: number
  /** Requests in flight at the last refusal (Infinity: no limit known, or the last one was outgrown). */
  readonly ceiling: number
  /** Round trips of successes to hold just below the ceiling before probing past it. */
  readonly hold: number
  /** Successes since the window came back to just below the ceiling. */
  readonly held: number
}

/** The effect of one finished attempt on the window. */
export type Signal = "success" | "overload" | "neutral"

/** A new origin starts at `initial`, in slow start (the threshold is `max` until the first overload). */
export const initial = (config: AdaptiveConfig): Window => ({
  size: config.initial,
  threshold: config.max,
  epoch: 0,
  ceiling: Number.POSITIVE_INFINITY,
  hold: 1,
  held: 0
})

/** The longest hold below a ceiling that keeps being confirmed, in round trips. */
export const maxHold = 256

/**
 * How much longer the hold gets each time the same ceiling is confirmed.
 * Four times, not twice: a server whose limit does not move is probed
 * about log4 of the run's round trips times, and since each refused probe
 * waits out its Retry-After, fewer probes late in a run end it sooner (in
 * bench A doubling to 32 round trips left a refusal in the run's last
 * second in most runs, about 1 s of 6.5).
 */
export const holdGrowth = 4

/** Requests allowed in flight. */
export const limit = (window: Window): number => Math.floor(window.size)

/** True while the window is in slow start (below its threshold). */
export const inSlowStart = (window: Window): boolean => window.size < window.threshold

/**
 * A success. In slow start (below the threshold: at the start, and when
 * coming back to just below a known ceiling after a decrease) the window
 * grows by 1, doubling per round trip. Just below the ceiling it holds for
 * `hold` round trips of successes, then probes past it by `increase` per
 * round trip; once it has outgrown the ceiling by a whole request the limit
 * is gone (the server's capacity grew) and slow start finds the new one.
 * With no ceiling known: `increase / size` per success, about `increase`
 * per round trip. Never past `max`.
 */
export const onSuccess = (config: AdaptiveConfig, window: Window): Window => {
  if (window.size >= config.max) return window
  if (inSlowStart(window)) return { ...window, size: Math.min(config.max, window.threshold, window.size + 1) }
  const ceiling = window.ceiling
  const size = window.size
  if (Number.isFinite(ceiling)) {
    if (size < ceiling && Math.floor(size) + 1 >= ceiling && window.held < window.hold * Math.max(1, limit(window))) {
      return { ...window, held: window.held + 1 }
    }
    if (Math.floor(size) >= ceiling + 1) {
      return { ...window, ceiling: Number.POSITIVE_INFINITY, threshold: config.max, hold: 1, held: 0 }
    }
  }
  return { ...window, size: Math.min(config.max, size + config.increase / size) }
}

/**
 * An overload signal from a request sent in epoch `sentEpoch` with
 * `inFlightAtSend` requests in flight (itself included). Shrinks once per
 * epoch to `decrease ×` that flight size, and remembers it as the ceiling
 * (lowered by the rest of the same burst, sent before the decrease, if any
 * of it was refused at a smaller flight size): the window comes back in
 * slow start to just below it, then holds there (four times longer each time the
 * same ceiling is hit again, up to `maxHold` round trips) before probing past it.
 */
export const onOverload = (config: AdaptiveConfig, window: Window, sentEpoch: number, inFlightAtSend: number): Window => {
  const flight = Math.max(1, inFlightAtSend)
  if (sentEpoch < window.epoch) {
    // The rest of the burst just answered: it may only say the limit was
    // lower than the first refusal of it showed (refusals sent at once come
    // back in any order). The one decrease is then measured from there.
    if (sentEpoch !== window.epoch - 1 || flight >= window.ceiling) return window
    const size = Math.min(window.size, Math.max(config.min, Math.min(config.max, flight * config.decrease)))
    const threshold = Math.min(window.threshold, Math.max(size, Math.min(config.max, flight - 1)))
    return { ...window, size, ceiling: flight, threshold }
  }
  const base = Math.min(window.size, flight)
  const size = Math.max(config.min, Math.min(config.max, base * config.decrease))
  // Refused at or above the last ceiling: the same limit, confirmed.
  const again = Number.isFinite(window.ceiling) && flight >= window.ceiling - 1
  return {
    size,
    threshold: Math.max(size, Math.min(config.max, flight - 1)),
    epoch: window.epoch + 1,
    ceiling: flight,
    hold: again ? Math.min(maxHold, window.hold * holdGrowth) : 1,
    held: 0
  }
}

/** Applies a signal. */
export const update = (
  config: AdaptiveConfig,
  window: Window,
  signal: Signal,
  sentEpoch: number,
  inFlightAtSend: number
): Window =>
  signal === "success"
    ? onSuccess(config, window)
    : signal === "overload"
    ? onOverload(config, window, sentEpoch, inFlightAtSend)
    : window

/**
 * What an origin answered lately, by the requests in flight when each was
 * sent: successes and overload refusals over the last two round trips (a
 * round trip being `limit` answers). One per origin, mutable, O(1) per
 * answer; read only when a refusal comes.
 *
 * It tells a refusal that comes with load from one that does not. A server
 * at capacity serves what is under its limit and refuses what is over it,
 * so among the requests sent with at least as many in flight as a refused
 * one, most were refused too. A per-route limit or a random 429 refuses a
 * few requests whatever the load, while most requests sent with as many in
 * flight or more are served: shrinking for those would only starve the
 * routes that are open (bench B: the window sat near 1–5 of 32).
 */
/**
 * A refusal rises with load when at least 1 in this many answers to
 * requests sent with as many in flight or more were refusals.
 */
const refusedShareDenominator = 4

export class Answers {
  private readonly served: [Int32Array, Int32Array]
  private readonly refused: [Int32Array, Int32Array]
  private current = 0
  private count = 0

  constructor(private readonly max: number) {
    this.served = [new Int32Array(max + 1), new Int32Array(max + 1)]
    this.refused = [new Int32Array(max + 1), new Int32Array(max + 1)]
  }

  /** Counts an answer ("success" or "overload") to a request sent with `flight` in flight; `roundTrip` is the window's limit. */
  record(flight: number, signal: "success" | "overload", roundTrip: number): void {
    if (this.count >= Math.max(1, roundTrip)) {
      // The older round trip goes; the current one becomes the older.
      this.current ^= 1
      this.served[this.current].fill(0)
      this.refused[this.current].fill(0)
      this.count = 0
    }
    const at = Math.max(0, Math.min(this.max, flight))
    if (signal === "success") this.served[this.current][at]++
    else this.refused[this.current][at]++
    this.count++
  }

  /**
   * True when, over the last two round trips, at least as many requests
   * sent with `flight` or more in flight were refused as were served.
   */
  refusalsRiseWithLoad(flight: number): boolean {
    let served = 0
    let refused = 0
    for (let at = Math.max(0, Math.min(this.max, flight)); at <= this.max; at++) {
      served += this.served[0][at]! + this.served[1][at]!
      refused += this.refused[0][at]! + this.refused[1][at]!
    }
    return refused * refusedShareDenominator >= served + refused
  }
}

/**
 * The signal the window should take from an answer, given what the origin
 * answered lately (which `answers` is updated with): an overload that does
 * not rise with load is neutral.
 */
export const judge = (answers: Answers, window: Window, signal: Signal, inFlightAtSend: number): Signal => {
  if (signal === "neutral") return signal
  answers.record(inFlightAtSend, signal, limit(window))
  return signal === "overload" && !answers.refusalsRiseWithLoad(inFlightAtSend) ? "neutral" : signal
}

const overloadStatuses: ReadonlySet<number> = new Set([429, 503])

const field = (u: object, name: string): unknown => (u as Record<string, unknown>)[name]

/**
 * What an attempt's failure says about the origin's load: 429, 503, a
 * connection reset and a timeout (of the attempt, headers, body or connect;
 * not the caller's own deadline) are overload; any other answer from the
 * server (404, 500, a redirect) is a success (the server answered); failures
 * that say nothing about load (DNS, refused, TLS, a body too large) are
 * neutral.
 */
export const signalOfFailure = (error: unknown): Signal => {
  if (typeof error !== "object" || error === null) return "neutral"
  switch (field(error, "_tag")) {
    case "BadStatus":
      return overloadStatuses.has(field(error, "status") as number) ? "overload" : "success"
    case "Redirect":
      return "success"
    case "ConnectionError":
      return field(error, "reason") === "Reset" ? "overload" : "neutral"
    case "Timeout":
      return field(error, "phase") === "deadline" ? "neutral" : "overload"
    default:
      return "neutral"
  }
}

/**
 * A 429 or 503 failure with a `Retry-After` header: the header's raw value,
 * else `undefined`.
 */
export const retryAfterHeaderOf = (error: unknown): string | undefined => {
  if (typeof error !== "object" || error === null || field(error, "_tag") !== "BadStatus") return undefined
  if (!overloadStatuses.has(field(error, "status") as number)) return undefined
  const headers = field(error, "headers")
  if (typeof headers !== "object" || headers === null) return undefined
  const value = field(headers, "retry-after")
  return typeof value === "string" ? value : undefined
}

// ---------------------------------------------------------------------------
// When is a Retry-After origin-wide?
// ---------------------------------------------------------------------------

/**
 * Distinct paths that must be refused with `Retry-After`, each sent after
 * the wait the origin's first refusal asked for had passed and with no
 * success from the origin in between, before the limit is taken as
 * origin-wide. Requests sent during that first wait do not count: against
 * a server at capacity, the requests already on their way are refused too,
 * and that says nothing about the other routes.
 */
export const globalRefusalPaths = 4

/** The refusals of one origin since its last success. */
export interface Episode {
  /** Clock ms from which a refused request counts: the end of the first refusal's wait. */
  readonly countFrom: number
  /** Distinct paths counted so far. */
  readonly paths: ReadonlyArray<string>
  /** The latest moment (Clock ms) any refusal of the episode asked to wait until. */
  readonly until: number
}

/** What a refusal decides. */
export interface Refusal {
  readonly episode: Episode
  /** Pause the whole origin until this moment (Clock ms): the server made clear the limit is global. */
  readonly pauseUntil: number | undefined
}

/**
 * The rule, for a refusal with `Retry-After` (asking to wait until `until`)
 * of a request for `path` sent at `sentAt` (Clock ms). A success ends the
 * episode (the caller sets it to `undefined`). When `globalRefusalPaths`
 * distinct paths sent after the first wait are refused, the origin pauses
 * until the latest time asked, and the episode starts over, so the next
 * pause needs the same evidence again.
 */
export const onRefusal = (episode: Episode | undefined, path: string, sentAt: number, until: number): Refusal => {
  if (episode === undefined) return { episode: { countFrom: until, paths: [], until }, pauseUntil: undefined }
  const latest = Math.max(episode.until, until)
  if (sentAt < episode.countFrom || episode.paths.includes(path)) {
    return { episode: { countFrom: episode.countFrom, paths: episode.paths, until: latest }, pauseUntil: undefined }
  }
  const paths = [...episode.paths, path]
  if (paths.length >= globalRefusalPaths) {
    return { episode: { countFrom: latest, paths: [], until: latest }, pauseUntil: latest }
  }
  return { episode: { countFrom: episode.countFrom, paths, until: latest }, pauseUntil: undefined }
}
