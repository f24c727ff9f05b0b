/**
 * Whether a fetch takes the fast path (see {@link plan}).
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import * as Cache from "./cache/stage.js"
import * as Attempt from "./engine/attempt.js"
import { FastFetching } from "./fastFetching.js"
import type { Finish } from "./finish.js"
import type { CallOptions, Limits } from "./options.js"
import { resolveCall } from "./options.js"
import type { RequestSpec } from "./request.js"
import { prepare } from "./request.js"
import type { SessionImpl } from "./session.js"

/**
 * What a fetch is before it runs, and all that {@link plan} reads of it: the
 * request, the call's options, and what to make of the response. A
 * `FetchEffect` is one.
 */
export interface FetchSpec<A, R> {
  readonly request: RequestSpec
  readonly options: CallOptions | undefined
  readonly finish: Finish<A, R>
}

let theLiveClock: Clock.Clock | undefined = undefined
/** The Clock every fiber has unless a program (a TestClock) provides another. */
const liveClock = (): Clock.Clock => theLiveClock ??= Effect.runSync(Effect.clock)

/**
 * Whether a fetch takes the fast path: the one place that decides it, asked
 * by a fetch run on a fiber of its own (`commit`) and by a Gather lane that
 * starts it on callbacks (`[FastPath.TypeId]`). Returns the fetch prepared
 * and ready to launch on callbacks (its limits resolved, its request built,
 * its deadline placed, a cached session's lookup done), or `"slow"`: run it
 * on a fiber (`execute`'s path in fetch.ts), which handles everything the
 * callbacks do not. Slow are a session with tracing or metrics, a body that
 * must be encoded first (a `FormData`, a `Stream`), an invalid URL or body,
 * an origin that must wait (a pause, a rate limit) or a gate timed by a
 * clock of the test's own, a request the cache may not answer, and a spent
 * deadline. What follows a first attempt on callbacks (a redirect, a pause,
 * a retry) is `Fetching.recover`'s to decide (fetching.ts).
 */
export const plan = <A, R>(
  fiber: Fiber.RuntimeFiber<unknown, unknown>,
  session: SessionImpl,
  spec: FetchSpec<A, R>
): FastFetching<A, R> | "slow" => {
  const config = session.config
  if (config.tracerPropagation || config.metrics) return "slow"
  let limits: Limits
  try {
    limits = resolveCall(config, spec.options)
  } catch {
    return "slow"
  }
  const startedAt = performance.now()
  const prepared = prepare(session, spec.request, spec.options?.headers, undefined, startedAt)
  if (!(prepared instanceof Attempt.PreparedRequest)) return "slow"
  const hosts = session.hosts
  let gatedBy: Clock.Clock | undefined = undefined
  if (!hosts.idle()) {
    // A gated origin on callbacks: its slots and queue only. A pause or a
    // rate limit to wait for, or a clock of the test's own (the wait's
    // deadline would need it), takes the fiber gate.
    const clock = Context.get(fiber.currentDefaultServices, Clock.Clock)
    if (clock !== liveClock() || !hosts.open(prepared.origin, clock.unsafeCurrentTimeMillis())) return "slow"
    gatedBy = clock
  }
  let found: Cache.Lookup | undefined = undefined
  let cacheClock: Clock.Clock | undefined = undefined
  if (session.cache !== undefined) {
    // A cached session: the lookup now (the stores answer at once). A
    // request the cache may not answer (an unsafe method invalidates, a
    // conditional of the caller's own) takes the fiber path.
    cacheClock = Context.get(fiber.currentDefaultServices, Clock.Clock)
    found = Cache.lookup(session.cache, prepared, cacheClock.unsafeCurrentTimeMillis(), limits.acceptStatus)
    if (found === undefined) return "slow"
    limits = Cache.limits(limits)
  }
  const fetching = new FastFetching(session, limits, startedAt, spec.finish, found === undefined ? prepared : found.toSend())
  fetching.clock = gatedBy
  fetching.found = found
  fetching.cacheClock = cacheClock
  fetching.placeDeadline(fiber)
  fetching.remainingMs = fetching.deadlinePerfAt - performance.now()
  return fetching.remainingMs > 0 ? fetching : "slow"
}
