/**
 * A gather over an iterable, to the end: `all` (fail-fast) and `settle`
 * (every outcome), both on {@link run}.
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type { Concurrency, Outcome, Watcher } from "../../Gather.js"
import { iterablePoll } from "./inputs.js"
import { runWorkers, workerCount } from "./workers.js"

const knownSize = (inputs: Iterable<unknown>): number | undefined =>
  Array.isArray(inputs) ? inputs.length : inputs instanceof Set || inputs instanceof Map ? inputs.size : undefined

/**
 * Runs `f` over `inputs` with at most `concurrency` at once, handing each
 * value to `onValue` and each failure to `onError` (which ends the whole
 * with it when it returns `false`).
 */
export const run = <I, A, E, R>(
  inputs: Iterable<I>,
  f: (input: I, index: number) => Effect.Effect<A, E, R>,
  concurrency: Concurrency | undefined,
  onValue: (index: number, value: A) => void,
  onError: (index: number, error: E) => boolean,
  watcher: Watcher | undefined
): Effect.Effect<void, E, R> =>
  Effect.suspend(() => {
    // "unbounded" needs the size up front; everything is in memory then anyway.
    const source = concurrency === "unbounded" && knownSize(inputs) === undefined ? Array.from(inputs) : inputs
    let workers: number
    try {
      workers = workerCount(concurrency, knownSize(source))
    } catch (error) {
      return Effect.die(error)
    }
    return runWorkers<I, A, E, never, R>({
      poll: iterablePoll(source),
      wait: Effect.void,
      f,
      onValue: (index, _input, value) => onValue(index, value),
      onError: (index, _input, error) => onError(index, error),
      watcher
    }, workers)
  })

export const all = <I, A, E, R>(
  inputs: Iterable<I>,
  f: (input: I, index: number) => Effect.Effect<A, E, R>,
  concurrency: Concurrency | undefined,
  watcher?: Watcher | undefined
): Effect.Effect<Array<A>, E, R> =>
  Effect.suspend(() => {
    const results: Array<A> = []
    return Effect.as(
      run(inputs, f, concurrency, (index, value) => {
        results[index] = value
      }, () =>
        false, watcher),
      results
    )
  })

export const settle = <I, A, E, R>(
  inputs: Iterable<I>,
  f: (input: I, index: number) => Effect.Effect<A, E, R>,
  concurrency: Concurrency | undefined,
  watcher?: Watcher | undefined
): Effect.Effect<Array<Outcome<A, E>>, never, R> =>
  Effect.suspend(() => {
    const results: Array<Outcome<A, E>> = []
    const settled = run(inputs, f, concurrency, (index, value) => {
      results[index] = Either.right(value)
    }, (index, error) => {
      results[index] = Either.left(error)
      return true
    }, watcher)
    // onError never ends the run, so no worker fails with E.
    return Effect.as(Effect.orDie(settled), results)
  })
