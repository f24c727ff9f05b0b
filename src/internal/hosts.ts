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
import type { RetryAfterScope } from "../Session.js"
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
  semaphore: Effect.Semaphore | undefined
  limiter: RateLimiter.RateLimiter | undefined
  /** Refusals with Retry-After since the origin's last success (`"request"` scope). */
  episode: Adaptive.Episode | undefined
  /** The adaptive window, when the session has one. */
  window: Adaptive.Window | undefined
  /** Requests holding a slot of the window. */
  inFlight: number
  /** Requests waiting for a slot, first come first served. */
  readonly waiters: Array<() => void>
  /**
   * A Retry-After was seen and no gated success has followed since (after
   * any pause): the origin's requests go through the gate, where pauses are
   * waited out and refusals counted.
   */
  watched: boolean
  readonly gauge: ((size: number) => void) | undefined
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

export const make = (config: HostLimitsConfig, scope: Scope.Scope, maxRetryAfterMs: number): Hosts => {
  const states = new Map<string, HostState>()
  const global = config.maxInFlight === undefined ? undefined : Effect.unsafeMakeSemaphore(config.maxInFlight)
  const adaptive = config.adaptive
  const configured = global !== undefined || config.maxInFlightPerHost !== undefined || config.ratePerHost !== undefined ||
    adaptive !== undefined
  /** Origins whose `watched` is set. */
  let watched = 0

  const state = (origin: string): HostState => {
    let found = states.get(origin)
    if (found === undefined) {
      const gauge = adaptive !== undefined && config.metrics ? Metrics.windowGauge(origin) : undefined
      found = {
        pausedUntil: 0,
        semaphore: config.maxInFlightPerHost === undefined ? undefined : Effect.unsafeMakeSemaphore(config.maxInFlightPerHost),
        limiter: undefined,
        episode: undefined,
        window: adaptive === undefined ? undefined : Adaptive.initial(adaptive),
        inFlight: 0,
        waiters: [],
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

  const take = (semaphore: Effect.Semaphore | undefined) => semaphore === undefined ? Effect.void : semaphore.take(1)
  const release = (semaphore: Effect.Semaphore | undefined) => semaphore === undefined ? Effect.void : semaphore.release(1)

  // Hands free slots of the window to waiters, oldest first.
  const wake = (host: HostState): void => {
    const allowed = Adaptive.limit(host.window!)
    while (host.inFlight < allowed && host.waiters.length > 0) {
      host.inFlight++
      host.waiters.shift()!()
    }
  }

  const freeSlot = (host: HostState): void => {
    host.inFlight--
    wake(host)
  }

  // A slot of the window: taken at once when there is room, else after the
  // requests already waiting (the waker counts it in before resuming us).
  // `ticket.slot` turns true in the same step the slot is counted, so the
  // gate can hand it back if the wait ends any other way (an interruption,
  // the deadline winning a race it had already lost).
  const takeSlot = (host: HostState, ticket: { slot: boolean }): Effect.Effect<void> => {
    if (host.window === undefined) return Effect.void
    return Effect.suspend(() => {
      if (host.waiters.length === 0 && host.inFlight < Adaptive.limit(host.window!)) {
        host.inFlight++
        ticket.slot = true
        return Effect.void
      }
      return Effect.async<void>((resume) => {
        const woken = () => {
          ticket.slot = true
          resume(Effect.void)
        }
        host.waiters.push(woken)
        return Effect.sync(() => {
          const at = host.waiters.indexOf(woken)
          if (at >= 0) host.waiters.splice(at, 1)
        })
      })
    })
  }

  // The outcome of one gated attempt: the window learns from it, and a
  // refusal with Retry-After counts towards the origin-wide rule.
  const finish = (
    host: HostState,
    exit: Exit.Exit<unknown, unknown>,
    sentAt: number,
    epoch: number,
    inFlightAtSend: number
  ): Effect.Effect<void> => {
    let failure: unknown = undefined
    let signal: Adaptive.Signal = "success"
    if (Exit.isFailure(exit)) {
      const found = Cause.failureOption(exit.cause)
      failure = Option.getOrUndefined(found)
      signal = Option.isSome(found) ? Adaptive.signalOfFailure(failure) : "neutral"
    }
    const window = host.window
    if (window !== undefined) {
      const next = Adaptive.update(adaptive!, window, signal, epoch, inFlightAtSend)
      host.window = next
      if (host.gauge !== undefined && Adaptive.limit(next) !== Adaptive.limit(window)) host.gauge(Adaptive.limit(next))
      freeSlot(host)
    }
    if (signal === "success") {
      host.episode = undefined
      if (!host.watched) return Effect.void
      // The origin answers again: once no pause is in force, its requests
      // may skip the gate again (the fast path).
      return Effect.map(Clock.currentTimeMillis, (now) => {
        if (host.watched && host.episode === undefined && now >= host.pausedUntil) {
          host.watched = false
          watched--
        }
      })
    }
    if (config.retryAfter !== "request") return Effect.void
    const header = Adaptive.retryAfterHeaderOf(failure)
    if (header === undefined) return Effect.void
    return Effect.map(Clock.currentTimeMillis, (now) => {
      const wait = parseRetryAfter(header, now)
      if (Option.isNone(wait)) return
      const refusal = Adaptive.onRefusal(host.episode, pathOf(failure), sentAt, now + Math.min(wait.value, maxRetryAfterMs))
      host.episode = refusal.episode
      if (refusal.pauseUntil !== undefined && refusal.pauseUntil > host.pausedUntil) host.pausedUntil = refusal.pauseUntil
    })
  }

  return {
    idle: () => !configured && watched === 0,
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
      // opens the episode here; a gated one has opened it already (finish).
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
        const run = (sentAt: number) => {
          const epoch = host.window === undefined ? 0 : host.window.epoch
          const inFlightAtSend = host.inFlight
          return restore(effect).pipe(
            Effect.onExit((exit) => finish(host, exit, sentAt, epoch, inFlightAtSend)),
            Effect.ensuring(Effect.zipRight(release(host.semaphore), release(global)))
          )
        }
        // The send time matters only while refusals are being counted.
        const runNow = () => host.episode === undefined ? run(Number.NEGATIVE_INFINITY) : Effect.flatMap(Clock.currentTimeMillis, run)
        const queued = () => {
          const ticket = { slot: false }
          const waits = Effect.zipRight(
            waitPause(host),
            Effect.flatMap(limiterOf(host), (limiter) => limiter === undefined ? Effect.void : limiter(Effect.void))
          ).pipe(
            Effect.zipRight(take(global)),
            Effect.zipRight(
              take(host.semaphore).pipe(
                Effect.zipRight(Effect.onInterrupt(takeSlot(host, ticket), () => release(host.semaphore))),
                Effect.onInterrupt(() => release(global))
              )
            )
          )
          const bounded = deadlineAt === undefined
            ? waits
            : Effect.flatMap(Clock.currentTimeMillis, (now) =>
              Effect.timeoutFail(waits, { duration: Duration.millis(Math.max(0, deadlineAt - now)), onTimeout: onDeadline }))
          const handBack = (exit: Exit.Exit<unknown, unknown>) =>
            Exit.isSuccess(exit) || !ticket.slot ? Effect.void : Effect.sync(() => {
              ticket.slot = false
              freeSlot(host)
            })
          return Effect.flatMap(host.window === undefined ? restore(bounded) : Effect.onExit(restore(bounded), handBack), runNow)
        }
        // Only a pause and the window to wait for (an adaptive session with no
        // caps or rate): when neither holds the request back, it goes at once,
        // without the deadline's timer and race, which cost about as much as
        // the rest of the gate (every adaptive request passes here).
        if (global !== undefined || host.semaphore !== undefined || config.ratePerHost !== undefined) {
          return queued()
        }
        return Effect.flatMap(Clock.currentTimeMillis, (now) => {
          if (host.pausedUntil > now) {
            return queued()
          }
          if (host.window === undefined) {
            return run(host.episode === undefined ? Number.NEGATIVE_INFINITY : now)
          }
          if (host.waiters.length > 0 || host.inFlight >= Adaptive.limit(host.window)) {
            return queued()
          }
          host.inFlight++
          return run(host.episode === undefined ? Number.NEGATIVE_INFINITY : now)
        })
      })
  }
}
