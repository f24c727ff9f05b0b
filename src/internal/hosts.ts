/**
 * What the session shares across every request to an origin: the in-flight
 * caps (global and per origin), the per-origin rate limiter, and the pause a
 * `Retry-After` puts on an origin. Waiting here happens before an attempt
 * starts, so it never counts against the attempt's own time limits; only the
 * overall deadline bounds it.
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as RateLimiter from "effect/RateLimiter"
import * as Scope from "effect/Scope"

export interface Rate {
  readonly limit: number
  readonly interval: Duration.DurationInput
}

export type RateInput = `${number} per ${string}` | `${number}/${string}` | Rate

export interface HostLimitsConfig {
  readonly maxInFlight: number | undefined
  readonly maxInFlightPerHost: number | undefined
  readonly ratePerHost: { readonly limit: number; readonly intervalMs: number } | undefined
}

const units: Record<string, number> = {
  s: 1000,
  sec: 1000,
  second: 1000,
  seconds: 1000,
  m: 60_000,
  min: 60_000,
  minute: 60_000,
  minutes: 60_000,
  h: 3_600_000,
  hour: 3_600_000,
  hours: 3_600_000
}

/** `"20 per second"`, `"20/s"`, `"100 per minute"` or `{ limit, interval }`. */
export const parseRate = (input: RateInput): { readonly limit: number; readonly intervalMs: number } => {
  if (typeof input === "object") {
    const intervalMs = Duration.toMillis(Duration.decode(input.interval))
    if (!(input.limit >= 1) || !Number.isInteger(input.limit) || !(intervalMs > 0)) {
      throw new RangeError(`rate must have a whole limit >= 1 and a positive interval`)
    }
    return { limit: input.limit, intervalMs }
  }
  const match = /^\s*(\d+)\s*(?:per|\/)\s*([a-z]+)\s*$/i.exec(input)
  const unit = match === null ? undefined : units[match[2]!.toLowerCase()]
  if (match === null || unit === undefined || Number(match[1]) < 1) {
    throw new RangeError(`rate must look like "20 per second" or "20/s", got ${JSON.stringify(input)}`)
  }
  return { limit: Number(match[1]), intervalMs: unit }
}

interface HostState {
  pausedUntil: number
  semaphore: Effect.Semaphore | undefined
  limiter: RateLimiter.RateLimiter | undefined
}

export interface Hosts {
  /** True when nothing is configured and no pause was ever set: skip `gate` entirely. */
  readonly idle: () => boolean
  /**
   * Runs `effect` once the origin is not paused, a rate token is available
   * and both in-flight caps have room; `onDeadline` fails the wait if it
   * would pass `deadlineAt` (Clock ms).
   */
  readonly gate: <A, E, E2>(
    origin: string,
    effect: Effect.Effect<A, E>,
    deadlineAt: number | undefined,
    onDeadline: () => E2
  ) => Effect.Effect<A, E | E2>
  /** Pauses new requests to the origin until `untilMs` (Clock ms). */
  readonly pause: (origin: string, untilMs: number) => void
}

export const make = (config: HostLimitsConfig, scope: Scope.Scope): Hosts => {
  const states = new Map<string, HostState>()
  const global = config.maxInFlight === undefined ? undefined : Effect.unsafeMakeSemaphore(config.maxInFlight)
  const configured = global !== undefined || config.maxInFlightPerHost !== undefined || config.ratePerHost !== undefined
  let paused = false

  const state = (origin: string): HostState => {
    let found = states.get(origin)
    if (found === undefined) {
      found = {
        pausedUntil: 0,
        semaphore: config.maxInFlightPerHost === undefined ? undefined : Effect.unsafeMakeSemaphore(config.maxInFlightPerHost),
        limiter: undefined
      }
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

  return {
    idle: () => !configured && !paused,
    pause: (origin, untilMs) => {
      const host = state(origin)
      if (untilMs > host.pausedUntil) host.pausedUntil = untilMs
      paused = true
    },
    gate: (origin, effect, deadlineAt, onDeadline) =>
      Effect.uninterruptibleMask((restore) => {
        const host = state(origin)
        const waits = Effect.zipRight(
          waitPause(host),
          Effect.flatMap(limiterOf(host), (limiter) => limiter === undefined ? Effect.void : limiter(Effect.void))
        ).pipe(Effect.zipRight(take(global)), Effect.zipRight(take(host.semaphore).pipe(Effect.onInterrupt(() => release(global)))))
        const bounded = deadlineAt === undefined
          ? waits
          : Effect.flatMap(Clock.currentTimeMillis, (now) =>
            Effect.timeoutFail(waits, { duration: Duration.millis(Math.max(0, deadlineAt - now)), onTimeout: onDeadline }))
        return Effect.flatMap(restore(bounded), () =>
          restore(effect).pipe(Effect.ensuring(Effect.zipRight(release(host.semaphore), release(global)))))
      })
  }
}
