/**
 * A whole fetch as an Effect: `FetchEffect` (what every `Fetch` constructor
 * returns), which {@link plan} sends down the fast path or the fiber path,
 * and `execute`, the fiber path itself. The parts live apart: the request
 * description in request.ts, the fiber path's policies in fetching.ts, the
 * first attempt on callbacks in fastFetching.ts, the response body in
 * finish.ts; attempts themselves in `engine/attempt.ts`.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Effectable from "effect/Effectable"
import type * as Fiber from "effect/Fiber"
import type * as FetchError from "../FetchError.js"
import type { Session as PublicSession } from "../Session.js"
import * as Cache from "./cache/stage.js"
import type * as Attempt from "./engine/attempt.js"
import * as FastPath from "./engine/fastPath.js"
import { hold, ownedSlot } from "./engine/interruptSlot.js"
import { redactUrl } from "./engine/redact.js"
import { decodeText } from "./engine/text.js"
import { Fetching } from "./fetching.js"
import type { Finish } from "./finish.js"
import { finishWith } from "./finish.js"
import type { CallOptions, Limits } from "./options.js"
import { resolveCall } from "./options.js"
import { plan } from "./plan.js"
import * as Metrics from "./policy/metrics.js"
import type { RequestSpec } from "./request.js"
import { prepare } from "./request.js"
import type { SessionImpl } from "./session.js"
import { tag as sessionTag } from "./session.js"

export { decodeText }
export { asBytes, asJson, asText, type Finish, toJson, toText } from "./finish.js"
export { emptyBody, getSpec, nextHop, type RequestBody, type RequestSpec } from "./request.js"

export type FetchResponse<A> = Attempt.FetchResponse<A>

/** Runs the request through gates, attempts, retries and redirects. */
export const execute = (
  session: SessionImpl,
  request: RequestSpec,
  options: CallOptions | undefined,
  stream = false
): Effect.Effect<FetchResponse<Uint8Array>, FetchError.FetchError> => Effect.withFiberRuntime((fiber) => start(fiber, session, request, options, stream))

/** {@link execute} on the session in the fiber's context: one Effect step fewer per request. */
export const executeCurrent = (
  request: RequestSpec,
  options: CallOptions | undefined,
  stream = false
): Effect.Effect<FetchResponse<Uint8Array>, FetchError.FetchError, PublicSession> =>
  Effect.withFiberRuntime((fiber) => start(fiber, Context.unsafeGet(fiber.currentContext, sessionTag), request, options, stream))

const start = (
  fiber: Fiber.RuntimeFiber<unknown, unknown>,
  session: SessionImpl,
  request: RequestSpec,
  options: CallOptions | undefined,
  stream: boolean
): Effect.Effect<FetchResponse<Uint8Array>, FetchError.FetchError> => {
  const startedAt = performance.now()
  let limits: Limits
  try {
    limits = resolveCall(session.config, options)
  } catch (error) {
    return Effect.die(error)
  }
  const cache = stream ? undefined : session.cache
  const fetching = new Fetching(session, cache === undefined ? limits : Cache.limits(limits), startedAt, stream)
  fetching.placeDeadline(fiber)
  const begin = (traceparent: string | undefined) => {
    const prepared = prepare(session, request, options?.headers, traceparent, startedAt)
    const fetched = cache !== undefined
      ? Cache.run(cache, prepared, startedAt, limits.acceptStatus, fetching)
      : Effect.isEffect(prepared)
      ? Effect.flatMap(prepared, (ready) => fetching.hop(ready))
      : fetching.hop(prepared)
    if (!session.config.metrics) return fetched
    return Effect.tapBoth(fetched, {
      onFailure: Metrics.recordFailure,
      onSuccess: (response) => Metrics.recordSuccess(response.url, response.status, response.timing.totalMs)
    })
  }
  if (!session.config.tracerPropagation) return begin(undefined)
  return Effect.useSpan(
    `http.client ${request.method}`,
    { kind: "client", attributes: { "http.request.method": request.method, "url.full": redactUrl(request.url) } },
    (span) => begin(`00-${span.traceId}-${span.spanId}-${span.sampled ? "01" : "00"}`)
  )
}

/** A fetch on a fiber of its own reports by resuming that fiber once. */
class ResumeSink<A, R> implements FastPath.Sink<FetchResponse<A>, FetchError.FetchError, R> {
  constructor(private readonly resume: (effect: Effect.Effect<FetchResponse<A>, FetchError.FetchError, R>) => void) {}
  succeed(value: FetchResponse<A>): void {
    this.resume(Effect.succeed(value))
  }
  fail(error: FetchError.FetchError): void {
    this.resume(Effect.fail(error))
  }
  continueWith(effect: Effect.Effect<FetchResponse<A>, FetchError.FetchError, R>): void {
    this.resume(effect)
  }
}

const noSession = (): undefined => undefined

/**
 * A fetch as an Effect that a Gather lane can also start on callbacks (see
 * fastPath.ts). Run on a fiber of its own it is one `Effect.async` around
 * the same callbacks, with no canceler: a Gather worker's interrupt slot or
 * the fiber's own (interruptSlot.ts) aborts it; whatever the callbacks
 * cannot finish resumes the fiber with the rest, so both paths share every
 * semantic.
 */
export class FetchEffect<A, R> extends Effectable.Class<FetchResponse<A>, FetchError.FetchError, PublicSession | R>
  implements FastPath.FastPath<FetchResponse<A>, FetchError.FetchError, R>
{
  constructor(
    readonly request: RequestSpec,
    readonly options: CallOptions | undefined,
    readonly finish: Finish<A, R>
  ) {
    super()
  }

  commit(): Effect.Effect<FetchResponse<A>, FetchError.FetchError, PublicSession | R> {
    return Effect.withFiberRuntime((fiber) => {
      const session = Context.unsafeGet(fiber.currentContext, sessionTag)
      const fetching = plan(fiber, session, this)
      if (fetching === "slow") return finishWith(start(fiber, session, this.request, this.options, false), this.finish)
      return Effect.async<FetchResponse<A>, FetchError.FetchError, R>((resume) => {
        fetching.sink = new ResumeSink(resume)
        // Held by the fiber (a Gather worker's slot, or its own until it
        // moves on): a canceler would wrap every fetch in onInterrupt.
        hold(fiber, fetching.launch())
      })
    })
  }

  [FastPath.TypeId](
    fiber: Fiber.RuntimeFiber<unknown, unknown>,
    sink: FastPath.Sink<FetchResponse<A>, FetchError.FetchError, R>
  ): FastPath.Running | undefined {
    const session = Context.getOrElse(fiber.currentContext, sessionTag, noSession)
    if (session === undefined) return undefined
    const fetching = plan(fiber, session, this)
    if (fetching === "slow") return undefined
    fetching.sink = sink
    const running = fetching.launch()
    // A lane on a Gather worker's fiber: its slot holds the fetch. Lanes on
    // the driver's fiber share it, so no slot there: the lane holds it.
    const slot = ownedSlot(fiber)
    if (slot !== undefined) slot.current = running
    return running
  }
}

/**
 * `effect`'s fetch through the Effect engine alone (gates, attempts as
 * `Effect.async`, retries, redirects), never on callbacks: what the tests
 * hold both callback paths against.
 */
export const runOnEngine = <A, R>(effect: FetchEffect<A, R>): Effect.Effect<FetchResponse<A>, FetchError.FetchError, PublicSession | R> =>
  finishWith(executeCurrent(effect.request, effect.options), effect.finish)
