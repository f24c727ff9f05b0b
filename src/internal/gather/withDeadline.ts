import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import { currentDeadline } from "../engine/deadline.js"

/**
 * Runs `effect` with a deadline every fetch inside it honours (the earlier
 * of this one and any enclosing one): fetches still running when it passes
 * are aborted and fail with `Timeout` phase `"deadline"`; fetches not yet
 * started fail the same way without touching the network.
 */
export const withDeadline = <A, E, R>(
  effect: Effect.Effect<A, E, R>,
  deadline: Duration.DurationInput | undefined
): Effect.Effect<A, E, R> => deadline === undefined ? effect : Effect.flatMap(deadlineAt(deadline), (at) => Effect.locally(effect, currentDeadline, at))

/** The Clock time `deadline` from now, or an enclosing deadline if earlier. */
export const deadlineAt = (deadline: Duration.DurationInput): Effect.Effect<number> => {
  const ms = Duration.toMillis(Duration.decode(deadline))
  return Effect.flatMap(
    Clock.currentTimeMillis,
    (now) => Effect.map(FiberRef.get(currentDeadline), (outer) => outer === undefined ? now + ms : Math.min(outer, now + ms))
  )
}
