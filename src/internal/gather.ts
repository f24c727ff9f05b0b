/**
 * A fixed set of worker fibers pulling from one shared iterator.
 *
 * `Effect.forEach` with `concurrency` copies the input and forks a fiber per
 * item; here the cost per item is one iterator step and one flatMap, memory
 * is the results array plus `concurrency` fibers, and the iterator is pulled
 * only as fast as workers free up (an infinite or lazy iterable works).
 */
import { Effect, Either } from "effect"

export type Concurrency = number | "unbounded"

export const defaultConcurrency = 32

export const workerCount = (concurrency: Concurrency | undefined, size: number | undefined): number => {
  if (concurrency === "unbounded") return Math.max(1, size ?? 1)
  const limit = concurrency ?? defaultConcurrency
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`concurrency must be a whole number >= 1 or "unbounded", got ${limit}`)
  return size === undefined ? limit : Math.max(1, Math.min(limit, size))
}

const knownSize = (inputs: Iterable<unknown>): number | undefined =>
  Array.isArray(inputs) ? inputs.length : inputs instanceof Set || inputs instanceof Map ? inputs.size : undefined

/**
 * Runs `f` over `inputs` with at most `concurrency` in flight, handing each
 * result to `onResult` with its input index. Fails with the first failure and
 * interrupts the workers still running (their requests are aborted).
 */
export const run = <I, A, E, R>(
  inputs: Iterable<I>,
  f: (input: I, index: number) => Effect.Effect<A, E, R>,
  concurrency: Concurrency | undefined,
  onResult: (index: number, value: A) => void
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
    const iterator = source[Symbol.iterator]()
    let exhausted = false
    let nextIndex = 0
    const worker: Effect.Effect<void, E, R> = Effect.suspend(() => {
      if (exhausted) return Effect.void
      const step = iterator.next()
      if (step.done === true) {
        exhausted = true
        return Effect.void
      }
      const index = nextIndex++
      return Effect.flatMap(f(step.value, index), (value) => {
        onResult(index, value)
        return worker
      })
    })
    if (workers === 1) return worker
    const pool = new Array<Effect.Effect<void, E, R>>(workers).fill(worker)
    return Effect.all(pool, { concurrency: "unbounded", discard: true })
  })

export const all = <I, A, E, R>(
  inputs: Iterable<I>,
  f: (input: I, index: number) => Effect.Effect<A, E, R>,
  concurrency: Concurrency | undefined
): Effect.Effect<Array<A>, E, R> =>
  Effect.suspend(() => {
    const results: Array<A> = []
    return Effect.as(
      run(inputs, f, concurrency, (index, value) => {
        results[index] = value
      }),
      results
    )
  })

export const settle = <I, A, E, R>(
  inputs: Iterable<I>,
  f: (input: I, index: number) => Effect.Effect<A, E, R>,
  concurrency: Concurrency | undefined
): Effect.Effect<Array<Either.Either<A, E>>, never, R> =>
  all(inputs, (input, index) => Effect.either(f(input, index)), concurrency)
