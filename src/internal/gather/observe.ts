/**
 * Being told when an item completes without taking it off the Gather's fast
 * path (see fastPath.ts): `Effect.tap` around a fetch would send every item
 * down the fiber path (a fiber step per item, about 3× the CPU per request,
 * bench S4), so the hook travels the way the effect itself does. It starts
 * the effect through the same entry a lane uses, and reports to the lane's
 * sink after the hook; what the callbacks cannot finish runs on the fiber,
 * still observed.
 */
import * as Effect from "effect/Effect"
import * as Effectable from "effect/Effectable"
import type * as Fiber from "effect/Fiber"
import * as FastPath from "../engine/fastPath.js"

/**
 * What to call when an item completes (never when it is interrupted), with
 * the item's own context: one hook for a whole gather, no closure per item.
 */
export interface Hook<A, E, C> {
  readonly onSuccess: (context: C, value: A) => void
  readonly onFailure: (context: C, error: E) => void
}

/** The gather lane's sink, told after the hook. */
class ObservingSink<A, E, R, C> implements FastPath.Sink<A, E, R> {
  constructor(
    private readonly hook: Hook<A, E, C>,
    private readonly context: C,
    private readonly sink: FastPath.Sink<A, E, R>
  ) {}
  succeed(value: A): void {
    this.hook.onSuccess(this.context, value)
    this.sink.succeed(value)
  }
  fail(error: E): void {
    this.hook.onFailure(this.context, error)
    this.sink.fail(error)
  }
  // The rest (a retry wait, a redirect) runs on the fiber, still observed.
  continueWith(rest: Effect.Effect<A, E, R>): void {
    this.sink.continueWith(observe(rest, this.hook, this.context))
  }
}

class Observed<A, E, R, C> extends Effectable.Class<A, E, R> implements FastPath.FastPath<A, E, R> {
  constructor(readonly effect: Effect.Effect<A, E, R>, readonly hook: Hook<A, E, C>, readonly context: C) {
    super()
  }

  commit(): Effect.Effect<A, E, R> {
    const { context, hook } = this
    return Effect.tapBoth(this.effect, {
      onSuccess: (value) => Effect.sync(() => hook.onSuccess(context, value)),
      onFailure: (error) => Effect.sync(() => hook.onFailure(context, error))
    })
  }

  [FastPath.TypeId](
    fiber: Fiber.RuntimeFiber<unknown, unknown>,
    sink: FastPath.Sink<A, E, R>
  ): FastPath.Running | undefined {
    // Not startable on callbacks (undefined): the gather runs `commit()` on a fiber.
    return FastPath.start(this.effect, fiber, new ObservingSink(this.hook, this.context, sink))
  }
}

/**
 * `effect`, with `hook` told of its success or failure (and `context`)
 * before the gather sees it. An effect a lane can start on callbacks (a
 * plain fetch) stays on the fast path; anything else runs as `effect` with
 * the hook tapped on.
 */
export const observe = <A, E, R, C>(effect: Effect.Effect<A, E, R>, hook: Hook<A, E, C>, context: C): Effect.Effect<A, E, R> =>
  new Observed(effect, hook, context)
