/**
 * Being told when a gather's item completes, without taking it off the
 * Gather's fast path.
 *
 * `gather fetch` writes a record for every finished request, also when
 * Ctrl-C stops the run. A finished outcome can still be waiting in the
 * gather's reorder buffer (`--ordered`) or in its output queue when the
 * stream is interrupted, and an interrupted stream drops both; so each
 * outcome is also kept beside the stream, from its completion until the
 * consumer has written it. Composing that as an Effect around the fetch
 * (`Effect.tap`) would send every request down the Gather's fiber path (a
 * fiber step per request: about 3× the CPU per request, bench S4), so the
 * hook travels the way the fetch itself does: it starts the fetch through
 * its own fast-path entry and reports to the worker's sink after the hook.
 */
import * as Effect from "effect/Effect"
import * as Effectable from "effect/Effectable"
import type * as Fiber from "effect/Fiber"
import * as FastPath from "../internal/fastPath.js"

/** What to call when an item completes (never when it is interrupted). */
export interface Hook<A, E> {
  readonly onSuccess: (value: A) => void
  readonly onFailure: (error: E) => void
}

class Observed<A, E, R> extends Effectable.Class<A, E, R> implements FastPath.FastPath<A, E, R> {
  constructor(readonly effect: Effect.Effect<A, E, R>, readonly hook: Hook<A, E>) {
    super()
  }

  commit(): Effect.Effect<A, E, R> {
    const hook = this.hook
    return Effect.tapBoth(this.effect, {
      onSuccess: (value) => Effect.sync(() => hook.onSuccess(value)),
      onFailure: (error) => Effect.sync(() => hook.onFailure(error))
    })
  }

  [FastPath.TypeId](fiber: Fiber.RuntimeFiber<unknown, unknown>, sink: FastPath.Sink<A, E, R>): FastPath.Running | undefined {
    const effect = this.effect
    // Not startable on callbacks: the worker runs `commit()` on its fiber.
    if (!FastPath.isFastPath(effect)) return undefined
    const hook = this.hook
    return effect[FastPath.TypeId](fiber, {
      succeed: (value) => {
        hook.onSuccess(value)
        sink.succeed(value)
      },
      fail: (error) => {
        hook.onFailure(error)
        sink.fail(error)
      },
      // The rest (a retry wait, a redirect) runs on the fiber, still observed.
      continueWith: (rest) => sink.continueWith(observe(rest, hook))
    })
  }
}

/**
 * `effect`, with `hook` told of its success or failure before the gather
 * sees it. A plain fetch stays on the fast path; anything else runs as
 * `effect` with the hook tapped on.
 */
export const observe = <A, E, R>(effect: Effect.Effect<A, E, R>, hook: Hook<A, E>): Effect.Effect<A, E, R> => new Observed(effect, hook)
