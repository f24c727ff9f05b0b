/**
 * What passes between a fetch and its attempts: what an attempt needs from
 * the fetch (`AttemptContext`), where it reports (`AttemptDone`), and what it
 * answers (a response, a FetchError, or a `Redirect` to follow).
 */
import type * as Effect from "effect/Effect"
import type { Dispatcher } from "undici"
import type { FetchResponse as PublicFetchResponse, Segment, Timing } from "../../Fetch.js"
import type * as FetchError from "../../FetchError.js"
import type { BodyMode } from "./attemptHandler.js"
import type { BodyChannel } from "./bodyStream.js"
import type { OpenConnections, ReturningSockets } from "./connections.js"
import type { AttemptLimits as Limits } from "./limits.js"
import type { PreparedRequest } from "./preparedRequest.js"
import type { Watchdog } from "./watchdog.js"

/**
 * A redirect the fetch will follow. It travels on the failure channel (it is
 * not a FetchError and never leaves the engine), so a plain success needs no
 * Effect step to be told apart from it.
 */
export class Redirect {
  readonly _tag = "Redirect"
  constructor(readonly status: number, readonly location: string) {}
}

/**
 * What an attempt needs from the fetch it belongs to (one object per fetch,
 * shared by its attempts and hops).
 */
export interface AttemptContext {
  readonly dispatcher: Dispatcher
  /** The pool's open connections per origin; `undefined`: not known (a dispatcher the user gave). */
  readonly connections: OpenConnections | undefined
  /** Sockets of the session's pool that come back at the next turn. */
  readonly returning: ReturningSockets
  /** Checks the attempt's time limits (see watchdog.ts). */
  readonly watchdog: Watchdog
  readonly limits: Limits
  /** performance.now() when the whole fetch started. */
  readonly startedAt: number
  /** The overall deadline's limit, for the error. */
  readonly deadlineLimitMs: number
  /** The fetch's attempts so far that another followed (retries, redirect hops). */
  previous: ReadonlyArray<Segment> | undefined
  /**
   * Resolve at the headers and hand the body over as it arrives (an accepted
   * status only; error and redirect bodies are still read here). The attempt
   * and deadline timers stop at the headers; `bodyIdle` guards the rest.
   */
  readonly stream: boolean
  /** Decides the body mode from the status and headers. */
  bodyMode(status: number, headers: Record<string, string>): BodyMode
  /** Builds the fetch's response from an accepted one. */
  respond(
    request: PreparedRequest,
    status: number,
    headers: Record<string, string>,
    body: Uint8Array,
    bytes: number,
    timing: Timing,
    channel: BodyChannel | undefined
  ): FetchResponse<Uint8Array>
}

/** The public response, plus the body channel in stream mode. */
export type FetchResponse<A> = PublicFetchResponse<A> & {
  /** Stream mode only: the body still arriving. */
  readonly channel?: BodyChannel | undefined
}

export type Outcome = Effect.Effect<FetchResponse<Uint8Array>, FetchError.FetchError | Redirect>

/** Where an attempt reports its end, exactly once (not at all when interrupted). */
export interface AttemptDone {
  succeed(response: FetchResponse<Uint8Array>): void
  fail(error: FetchError.FetchError | Redirect): void
}
