/**
 * What the session shares across every request to an origin: the in-flight
 * caps (global and per origin), the per-origin rate limiter, the adaptive
 * window (see adaptive.ts), and the pause a `Retry-After` puts on an origin
 * (every refusal with `retryAfter: "origin"`; with `"request"`, only when
 * the server makes clear the limit is origin-wide). Waiting here happens
 * before an attempt starts, so it never counts against the attempt's own
 * time limits; only the overall deadline bounds it.
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as RateLimiter from "effect/RateLimiter"
import * as Scope from "effect/Scope"
import type { RetryAfterScope } from "../../Session.js"
import * as Adaptive from "./adaptive.js"
import * as Metrics from "./metrics.js"
import type { ParsedRate } from "./rate.js"
import { parseRetryAfter } from "./retry.js"

export interface HostLimitsConfig {
  readonly maxInFlight: number | undefined
  readonly maxInFlightPerHost: number | undefined
  readonly ratePerHost: ParsedRate | undefined
  readonly adaptive: Adaptive.AdaptiveConfig | undefined
  readonly retryAfter: RetryAfterScope
  /** Update the window gauges. */
  readonly metrics: boolean
}

interface HostState {
  pausedUntil: number
  limiter: RateLimiter.RateLimiter | undefined
  /** Refusals with Retry-After since the origin's last success (`"request"` scope). */
  episode: Adaptive.Episode | undefined
  /** The adaptive window, when the session has one. */
  window: Adaptive.Window | undefined
  /** What the origin answered lately, for the window (see `Adaptive.judge`). */
  readonly answers: Adaptive.Answers | undefined
  /** Requests holding a slot of this origin (counted whatever limits are set). */
  inFlight: number
  /** Requests waiting for a slot, first come first served. */
  readonly waiters: Array<Waiter>
  /** Queued in `blocked`: its first waiter has room here and waits only for the global cap. */
  blocked: boolean
  /**
   * A Retry-After was seen and no gated success has followed since (after
   * any pause): the origin's requests go through the gate, where pauses are
   * waited out and refusals counted.
   */
  watched: boolean
  readonly gauge: ((size: number) => void) | undefined
}

/** A request waiting for a slot: `grant` hands it the slot, exactly once. */
interface Waiter {
  readonly grant: (ticket: Ticket) => void
}

/**
 * A slot an attempt holds at its origin, from the moment it is sent: what
 * the window needs to learn from its outcome. Handed back once, by
 * `leave`; a second `leave` does nothing.
 */
export class Ticket {
  left = false
  constructor(
    /** @internal */
    readonly host: HostState,
    /** Clock ms of the send, while refusals are being counted; -Infinity otherwise. */
    readonly sentAt: number,
    /** The window's epoch at the send. */
    readonly epoch: number,
    /** Requests in flight to the origin at the send, this one included. */
    readonly inFlightAtSend: number
  ) {}
}

export interface Hosts {
  /**
   * True when nothing is configured and no origin is being watched after a
   * Retry-After (see `pause`): skip `gate` entirely.
   */
  readonly idle: () => boolean
  /**
   * Runs `effect` once the origin is not paused, a rate token is available
   * and the in-flight caps and the adaptive window have room; `onDeadline`
   * fails the wait if it would pass `deadlineAt` (Clock ms). The outcome
   * feeds the window (and the origin-wide Retry-After rule).
   */
  readonly gate: <A, E, E2>(
    origin: string,
    effect: Effect.Effect<A, E>,
    deadlineAt: number | undefined,
    onDeadline: () => E2
  ) => Effect.Effect<A, E | E2>
  /**
   * The same gate on callbacks, for the engine's fast path. `open`: no pause
   * in force and no rate limit to wait for, so `enter`/`wait` are all the
   * gate there is; otherwise take `gate`.
   */
  readonly open: (origin: string, nowMs: number) => boolean
  /** A slot at once, or `undefined` when the request must `wait` (behind others, or for room). */
  readonly enter: (origin: string, nowMs: number) => Ticket | undefined
  /** Queues for a slot; `grant` is called once with it. Returns the cancel, which is safe to call late. */
  readonly wait: (origin: string, grant: (ticket: Ticket) => void) => () => void
  /**
   * Hands a slot back with what its attempt said (`failure`: the error, for
   * the Retry-After rule) and wakes the next waiters.
   */
  readonly leave: (ticket: Ticket, signal: Adaptive.Signal, failure: unknown, nowMs: number) => void
  /**
   * A 429/503 asked to come back at `untilMs` (Clock ms). With
   * `retryAfter: "origin"` new requests to the origin wait until then; with
   * `"request"` only the refused request waits (its retry schedule does).
   */
  readonly pause: (origin: string, untilMs: number) => void
  /** The current adaptive window (requests allowed in flight) of every origin seen; empty without `adaptive`. */
  readonly windows: () => Record<string, number>
}

/** Where a failure's URL points: its path (the unit of a per-route limit). */
const pathOf = (error: unknown): string => {
  const url = typeof error === "object" && error !== null ? (error as { readonly url?: unknown }).url : undefined
  if (typeof url !== "string") return ""
  try {
    return new URL(url).pathname
  } catch {
    return url
  }
}

const exitSignal = (exit: Exit.Exit<unknown, unknown>): { readonly signal: Adaptive.Signal; readonly failure: unknown } => {
  if (Exit.isSuccess(exit)) return { signal: "success", failure: undefined }
  const found = Cause.failureOption(exit.cause)
  if (Option.isNone(found)) return { signal: "neutral", failure: undefined }
  return { signal: Adaptive.signalOfFailure(found.value), failure: found.value }
}

export const make = (config: HostLimitsConfig, scope: Scope.Scope, maxRetryAfterMs: number): Hosts => {
  const states = new Map<string, HostState>()
  const adaptive = config.adaptive
  const configured = config.maxInFlight !== undefined || config.maxInFlightPerHost !== undefined ||
    config.ratePerHost !== undefined || adaptive !== undefined
  // Every cap is a count with a queue (one per origin), checked and taken in
  // one synchronous step, so the fiber path (`gate`) and the callback path
  // (`enter`/`wait`/`leave`) share the same slots.
  const globalCap = config.maxInFlight ?? Number.POSITIVE_INFINITY
  const perHostCap = config.maxInFlightPerHost ?? Number.POSITIVE_INFINITY
  let globalInFlight = 0
  /** Origins whose first waiter has room at the origin and waits for the global cap, oldest first. */
  const blocked: Array<HostState> = []
  /** Origins whose `watched` is set. */
  let watched = 0

  const state = (origin: string): HostState => {
    let found = states.get(origin)
    if (found === undefined) {
      const gauge = adaptive !== undefined && config.metrics ? Metrics.windowGauge(origin) : undefined
      found = {
        pausedUntil: 0,
        limiter: undefined,
        episode: undefined,
        window: adaptive === undefined ? undefined : Adaptive.initial(adaptive),
        answers: adaptive === undefined ? undefined : new Adaptive.Answers(adaptive.max),
        inFlight: 0,
        waiters: [],
        blocked: false,
        watched: false,
        gauge
      }
      gauge?.(adaptive!.initial)
      states.set(origin, found)
    }
    return found
  }
  const limiterOf = (host: HostState): Effect.Effect<RateLimiter.RateLimiter | undefined> => {
    const rate = config.ratePerHost
    if (rate === undefined || host.limiter !== undefined) return Effect.succeed(host.limiter)
    return Effect.map(
      Scope.extend(RateLimiter.make({ limit: rate.limit, interval: Duration.millis(rate.intervalMs), algorithm: "token-bucket" }), scope),
      (limiter) => {
        // Two fibers may race to create it; the first one stored wins.
        host.limiter ??= limiter
        return host.limiter
      }
    )
  }

  // Waits out a pause, re-checking: another 429 may have extended it meanwhile.
  const waitPause = (host: HostState): Effect.Effect<void> =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      host.pausedUntil > now
        ? Effect.zipRight(Effect.sleep(Duration.millis(host.pausedUntil - now)), waitPause(host))
        : Effect.void)

  /** Requests the origin may have in flight: its cap, and its window's. */
  const allowed = (host: HostState): number => host.window === undefined ? perHostCap : Math.min(perHostCap, Adaptive.limit(host.window))

  const take = (host: HostState, nowMs: number): Ticket => {
    host.inFlight++
    globalInFlight++
    // The send time matters only while refusals are being counted.
    const sentAt = host.episode === undefined ? Number.NEGATIVE_INFINITY : nowMs
    return new Ticket(host, sentAt, host.window === undefined ? 0 : host.window.epoch, host.inFlight)
  }

  const roomAtOnce = (host: HostState): boolean => host.waiters.length === 0 && host.inFlight < allowed(host) && globalInFlight < globalCap

  // Hands free slots to the origin's waiters, oldest first; one that has
  // room here but not under the global cap queues the origin in `blocked`.
  const admit = (host: HostState, nowMs: number): void => {
    while (host.waiters.length > 0 && host.inFlight < allowed(host)) {
      if (globalInFlight >= globalCap) {
        if (!host.blocked) {
          host.blocked = true
          blocked.push(host)
        }
        return
      }
      host.waiters.shift()!.grant(take(host, nowMs))
    }
  }

  const admitBlocked = (nowMs: number): void => {
    while (blocked.length > 0 && globalInFlight < globalCap) {
      const host = blocked.shift()!
      host.blocked = false
      admit(host, nowMs)
    }
  }

  const wait = (host: HostState, grant: (ticket: Ticket) => void): () => void => {
    const waiter: Waiter = { grant }
    host.waiters.push(waiter)
    // Room at the origin but not globally: queue the origin for the global cap.
    if (host.waiters.length === 1 && host.inFlight < allowed(host) && !host.blocked) {
      host.blocked = true
      blocked.push(host)
    }
    return () => {
      const at = host.waiters.indexOf(waiter)
      if (at >= 0) host.waiters.splice(at, 1)
    }
  }

  // The outcome of one gated attempt: the window learns from it, a refusal
  // with Retry-After counts towards the origin-wide rule, and the slot goes
  // to the next waiter.
  const leave = (ticket: Ticket, signal: Adaptive.Signal, failure: unknown, nowMs: number): void => {
    if (ticket.left) return
    ticket.left = true
    const host = ticket.host
    host.inFlight--
    globalInFlight--
    const window = host.window
    if (window !== undefined) {
      const judged = Adaptive.judge(host.answers!, window, signal, ticket.inFlightAtSend)
      const next = Adaptive.update(adaptive!, window, judged, ticket.epoch, ticket.inFlightAtSend)
      host.window = next
      if (host.gauge !== undefined && Adaptive.limit(next) !== Adaptive.limit(window)) host.gauge(Adaptive.limit(next))
    }
    if (signal === "success") {
      host.episode = undefined
      // The origin answers again: once no pause is in force, its requests
      // may skip the gate again (the fast path).
      if (host.watched && nowMs >= host.pausedUntil) {
        host.watched = false
        watched--
      }
    } else if (config.retryAfter === "request") {
      const header = Adaptive.retryAfterHeaderOf(failure)
      const wait = header === undefined ? Option.none() : parseRetryAfter(header, nowMs)
      if (Option.isSome(wait)) {
        const refusal = Adaptive.onRefusal(host.episode, pathOf(failure), ticket.sentAt, nowMs + Math.min(wait.value, maxRetryAfterMs))
        host.episode = refusal.episode
        if (refusal.pauseUntil !== undefined && refusal.pauseUntil > host.pausedUntil) host.pausedUntil = refusal.pauseUntil
      }
    }
    admit(host, nowMs)
    admitBlocked(nowMs)
  }

  const leaveWith = (ticket: Ticket, exit: Exit.Exit<unknown, unknown>): Effect.Effect<void> =>
    Effect.clockWith((clock) =>
      Effect.sync(() => {
        const { failure, signal } = exitSignal(exit)
        leave(ticket, signal, failure, clock.unsafeCurrentTimeMillis())
      })
    )

  // A slot on the fiber: at once when there is room, else after the
  // requests already waiting. `holder.ticket` is set in the same step the
  // slot is counted, so the gate can hand it back if the wait ends any
  // other way (an interruption, the deadline winning a race it had lost).
  const acquire = (host: HostState, holder: { ticket: Ticket | undefined }): Effect.Effect<Ticket> =>
    Effect.clockWith((clock) =>
      Effect.async<Ticket>((resume) => {
        if (roomAtOnce(host)) {
          holder.ticket = take(host, clock.unsafeCurrentTimeMillis())
          return resume(Effect.succeed(holder.ticket))
        }
        const cancel = wait(host, (ticket) => {
          holder.ticket = ticket
          resume(Effect.succeed(ticket))
        })
        return Effect.sync(cancel)
      })
    )

  return {
    idle: () => !configured && watched === 0,
    open: (origin, nowMs) => config.ratePerHost === undefined && state(origin).pausedUntil <= nowMs,
    enter: (origin, nowMs) => {
      const host = state(origin)
      return roomAtOnce(host) ? take(host, nowMs) : undefined
    },
    wait: (origin, grant) => wait(state(origin), grant),
    leave,
    pause: (origin, untilMs) => {
      // Until the origin answers a gated request again, every request goes
      // through the gate: that is where the pause is waited out and the
      // origin-wide rule counts sends.
      const host = state(origin)
      if (!host.watched) {
        host.watched = true
        watched++
      }
      if (config.retryAfter === "origin") {
        if (untilMs > host.pausedUntil) host.pausedUntil = untilMs
        return
      }
      // A refusal that skipped the gate (the origin was not watched yet)
      // opens the episode here; a gated one has opened it already (leave).
      if (host.episode === undefined) host.episode = Adaptive.onRefusal(undefined, "", Number.NEGATIVE_INFINITY, untilMs).episode
    },
    windows: () => {
      const out: Record<string, number> = {}
      if (adaptive === undefined) return out
      for (const [origin, host] of states) out[origin] = Adaptive.limit(host.window!)
      return out
    },
    gate: (origin, effect, deadlineAt, onDeadline) =>
      Effect.uninterruptibleMask((restore) => {
        const host = state(origin)
        const run = (ticket: Ticket) => Effect.onExit(restore(effect), (exit) => leaveWith(ticket, exit))
        const queued = () => {
          const holder: { ticket: Ticket | undefined } = { ticket: undefined }
          const limited = config.ratePerHost === undefined
            ? waitPause(host)
            : Effect.zipRight(
              waitPause(host),
              Effect.flatMap(limiterOf(host), (limiter) => limiter === undefined ? Effect.void : limiter(Effect.void))
            )
          const waits = Effect.zipRight(limited, acquire(host, holder))
          const bounded = deadlineAt === undefined
            ? waits
            : Effect.flatMap(Clock.currentTimeMillis, (now) =>
              Effect.timeoutFail(waits, { duration: Duration.millis(Math.max(0, deadlineAt - now)), onTimeout: onDeadline }))
          const handBack = (exit: Exit.Exit<unknown, unknown>) =>
            Exit.isSuccess(exit) || holder.ticket === undefined ? Effect.void : leaveWith(holder.ticket, exit)
          return Effect.flatMap(Effect.onExit(restore(bounded), handBack), run)
        }
        // Nothing to wait for (no pause, no rate, room at once): the request
        // goes at once, without the deadline's timer and race, which cost
        // about as much as the rest of the gate.
        return Effect.clockWith((clock) => {
          const now = clock.unsafeCurrentTimeMillis()
          if (config.ratePerHost === undefined && host.pausedUntil <= now && roomAtOnce(host)) {
            return run(take(host, now))
          }
          return queued()
        })
      })
  }
}
