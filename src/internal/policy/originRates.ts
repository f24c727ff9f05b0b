/**
 * The gate's rate limit (`ratePerOrigin`): how many requests may start per
 * interval at each origin, as a token bucket per origin (Effect's
 * `RateLimiter`, made on the origin's first request and closed with the
 * session's scope). A session without a rate has no such stage.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as RateLimiter from "effect/RateLimiter"
import * as Scope from "effect/Scope"
import type { OriginState } from "./origins.js"
import type { ParsedRate } from "./rate.js"

/** The session's rate, one limiter per origin. */
export class Rates {
  constructor(private readonly rate: ParsedRate, private readonly scope: Scope.Scope) {}

  /** Waits for the origin's next token. */
  wait(origin: OriginState): Effect.Effect<void> {
    return Effect.flatMap(this.limiterOf(origin), (limiter) => limiter(Effect.void))
  }

  private limiterOf(origin: OriginState): Effect.Effect<RateLimiter.RateLimiter> {
    if (origin.limiter !== undefined) return Effect.succeed(origin.limiter)
    const rate = this.rate
    return Effect.map(
      Scope.extend(RateLimiter.make({ limit: rate.limit, interval: Duration.millis(rate.intervalMs), algorithm: "token-bucket" }), this.scope),
      (limiter) => {
        // Two fibers may race to create it; the first one stored wins.
        origin.limiter ??= limiter
        return origin.limiter
      }
    )
  }
}
