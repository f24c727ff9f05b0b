/**
 * The gate's Retry-After rule: when an origin's new requests must wait
 * because a 429/503 asked to come back later. With `retryAfter: "origin"`
 * every such refusal pauses the origin; with `"request"` only the refused
 * request waits (its retry schedule does), unless the server makes clear
 * the limit is origin-wide (`Adaptive.onRefusal`: refusals of several paths
 * after the first wait). An origin that was asked to wait is watched: its
 * requests go through the gate until it answers a gated one again, and
 * `watching` tells the gate whether any is.
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { RetryAfterScope } from "../../Session.js"
import * as Adaptive from "./adaptive.js"
import type { OriginState, Ticket } from "./origins.js"
import { parseRetryAfter } from "./retry.js"

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

/** The session's Retry-After rule and the count of origins it watches. */
export class Pauses {
  /** Origins whose `watched` is set. */
  watching = 0

  constructor(private readonly scope: RetryAfterScope, private readonly maxRetryAfterMs: number) {}

  /** A pause is in force: no request may be sent to the origin before it ends. */
  paused(origin: OriginState, nowMs: number): boolean {
    return origin.pausedUntil > nowMs
  }

  /** Waits out a pause, re-checking: another 429 may have extended it meanwhile. */
  wait(origin: OriginState): Effect.Effect<void> {
    return Effect.flatMap(Clock.currentTimeMillis, (now) =>
      origin.pausedUntil > now
        ? Effect.zipRight(Effect.sleep(Duration.millis(origin.pausedUntil - now)), this.wait(origin))
        : Effect.void)
  }

  /**
   * A 429/503 asked to come back at `untilMs` (Clock ms). With
   * `retryAfter: "origin"` new requests to the origin wait until then; with
   * `"request"` only the refused request waits (its retry schedule does).
   */
  pause(origin: OriginState, untilMs: number): void {
    // Until the origin answers a gated request again, every request goes
    // through the gate: that is where the pause is waited out and the
    // origin-wide rule counts sends.
    if (!origin.watched) {
      origin.watched = true
      this.watching++
    }
    if (this.scope === "origin") {
      if (untilMs > origin.pausedUntil) origin.pausedUntil = untilMs
      return
    }
    // A refusal that skipped the gate (the origin was not watched yet)
    // opens the episode here; a gated one has opened it already (learn).
    if (origin.episode === undefined) origin.episode = Adaptive.onRefusal(undefined, "", Number.NEGATIVE_INFINITY, untilMs).episode
  }

  /**
   * What a gated attempt's outcome says: a success ends the episode (and,
   * once no pause is in force, the watch); with `"request"`, a refusal with
   * Retry-After counts towards the origin-wide rule.
   */
  learn(ticket: Ticket, signal: Adaptive.Signal, failure: unknown, nowMs: number): void {
    const origin = ticket.origin
    if (signal === "success") {
      origin.episode = undefined
      // The origin answers again: once no pause is in force, its requests
      // may skip the gate again (the fast path).
      if (origin.watched && nowMs >= origin.pausedUntil) {
        origin.watched = false
        this.watching--
      }
    } else if (this.scope === "request") {
      const header = Adaptive.retryAfterHeaderOf(failure)
      const wait = header === undefined ? Option.none() : parseRetryAfter(header, nowMs)
      if (Option.isSome(wait)) {
        const refusal = Adaptive.onRefusal(origin.episode, pathOf(failure), ticket.sentAt, nowMs + Math.min(wait.value, this.maxRetryAfterMs))
        origin.episode = refusal.episode
        if (refusal.pauseUntil !== undefined && refusal.pauseUntil > origin.pausedUntil) origin.pausedUntil = refusal.pauseUntil
      }
    }
  }
}
