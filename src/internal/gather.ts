/**
 * A fixed set of worker fibers pulling from one shared iterator.
 *
 * `Effect.forEach` with `concurrency` copies the input and forks a fiber per
 * item; here the cost per item is one iterator step and one flatMap, memory
 * is the results array plus `concurrency` fibers, and the iterator is pulled
 * only as fast as workers free up (an infinite or lazy iterable works).
 */
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FiberRef from "effect/FiberRef"
import { identity } from "effect/Function"
import * as Mailbox from "effect/Mailbox"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Stream from "effect/Stream"
import { withInterruptSlot } from "./attempt.js"
import { currentDeadline } from "./fetch.js"
import type * as Scope from "effect/Scope"

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
    const hooked = withInterruptSlot(worker)
    if (workers === 1) return hooked
    const pool = new Array<Effect.Effect<void, E, R>>(workers).fill(hooked)
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

/** One result of a streamed gather. */
export interface Item<I, A, E> {
  readonly index: number
  readonly input: I
  readonly outcome: Either.Either<A, E>
}

export type Source<I, EI, RI> = Stream.Stream<I, EI, RI> | Iterable<I> | AsyncIterable<I>

const isAsyncIterable = (u: unknown): u is AsyncIterable<unknown> =>
  typeof u === "object" && u !== null && Symbol.asyncIterator in u

const End: unique symbol = Symbol("effect-gather/End")
type End = typeof End

/**
 * Takes the next input, `End` when there are no more. Iterables are pulled
 * synchronously by the worker itself; streams and async iterables are run by
 * one feeder fiber into a bounded queue, which is the backpressure.
 */
const inputs = <I, EI, RI>(
  source: Source<I, EI, RI>,
  capacity: number
): Effect.Effect<Effect.Effect<I | End, EI>, never, Scope.Scope | RI> => {
  if (!(Stream.StreamTypeId in source) && !isAsyncIterable(source)) {
    return Effect.sync(() => {
      const iterator = (source as Iterable<I>)[Symbol.iterator]()
      let done = false
      return Effect.sync((): I | End => {
        if (done) return End
        const step = iterator.next()
        if (step.done === true) {
          done = true
          return End
        }
        return step.value
      })
    })
  }
  const stream: Stream.Stream<I, EI, RI> = Stream.StreamTypeId in source
    ? source as Stream.Stream<I, EI, RI>
    // What an async iterable throws is not a typed error: a defect.
    : Stream.orDie(Stream.fromAsyncIterable(source as AsyncIterable<I>, identity))
  return Effect.gen(function*() {
    const queue = yield* Queue.bounded<I | End | Cause.Cause<EI>>(capacity)
    yield* Stream.runForEachChunk(stream, (chunk) => queue.offerAll(chunk)).pipe(
      Effect.matchCauseEffect({
        onFailure: (cause) => queue.offer(cause),
        onSuccess: () => queue.offer(End)
      }),
      Effect.forkScoped
    )
    return Effect.flatMap(queue.take, (item): Effect.Effect<I | End, EI> => {
      // Put the end back so every other worker sees it too.
      if (item === End) return Effect.as(queue.offer(End), End)
      if (Cause.isCause(item)) return Effect.zipRight(queue.offer(item), Effect.failCause(item))
      return Effect.succeed(item)
    })
  })
}

/** Permits for "taken but not yet emitted", without a Semaphore's per-call cost. */
const makeGate = (permits: number) => {
  let available = permits
  const waiters: Array<() => void> = []
  const wait = Effect.async<void>((resume) => {
    const wake = () => resume(Effect.void)
    waiters.push(wake)
    return Effect.sync(() => {
      const at = waiters.indexOf(wake)
      if (at >= 0) waiters.splice(at, 1)
      else available++ // woken and interrupted at once: hand the permit back
    })
  })
  return {
    acquire: Effect.suspend(() => {
      if (available > 0) {
        available--
        return Effect.void
      }
      return wait
    }),
    release: (n: number): void => {
      available += n
      while (available > 0 && waiters.length > 0) {
        available--
        waiters.shift()!()
      }
    }
  }
}

export interface StreamOptions {
  /** Fail the stream with the first failure, as soon as it happens. */
  readonly failFast?: boolean | undefined
  readonly deadline?: Duration.DurationInput | undefined
  readonly concurrency?: number | undefined
  readonly ordered?: boolean | undefined
  readonly bufferSize?: number | undefined
}

/**
 * Outcomes as a stream. At most `concurrency` run; at most `bufferSize`
 * inputs are taken and not yet emitted (a permit per input, returned when its
 * outcome is emitted), which bounds memory and, in ordered mode, the reorder
 * buffer.
 */
export const stream = <I, A, E, R, EI, RI>(
  source: Source<I, EI, RI>,
  run: (input: I, index: number) => Effect.Effect<A, E, R>,
  options: StreamOptions | undefined
): Stream.Stream<Item<I, A, E>, E | EI, R | RI> =>
  Stream.unwrapScoped(Effect.gen(function*() {
    const failFast = options?.failFast === true
    const deadline = options?.deadline === undefined ? undefined : yield* deadlineAt(options.deadline)
    const f = deadline === undefined
      ? run
      : (input: I, index: number) => Effect.locally(run(input, index), currentDeadline, deadline)
    const workers = workerCount(options?.concurrency, undefined)
    const window = Math.max(workers, options?.bufferSize ?? workers * 2)
    const ordered = options?.ordered === true
    const next = yield* inputs(source, window)
    const gate = makeGate(window)
    // Holds at most `window` items: the gate bounds what workers take.
    const out = yield* Mailbox.make<Item<I, A, E>, E | EI>()
    let nextIndex = 0
    // Ordered mode: finished items wait here until their turn.
    const pending = new Map<number, Item<I, A, E>>()
    let nextToEmit = 0
    // Outcomes that complete in the same turn of the event loop (undici
    // delivers many responses per poll) reach the consumer as one chunk: a
    // chunk per item would cost a trip through the Stream machinery each.
    let batch: Array<Item<I, A, E>> = []
    let flushScheduled = false
    const flush = (): void => {
      flushScheduled = false
      if (batch.length === 0) return
      const items = batch
      batch = []
      out.unsafeOfferAll(items)
    }
    const offer = (item: Item<I, A, E>): void => {
      batch.push(item)
      if (!flushScheduled) {
        flushScheduled = true
        setImmediate(flush)
      }
    }
    const emit = (item: Item<I, A, E>): void => {
      if (!ordered) return offer(item)
      pending.set(item.index, item)
      let head = pending.get(nextToEmit)
      while (head !== undefined) {
        pending.delete(nextToEmit)
        offer(head)
        nextToEmit++
        head = pending.get(nextToEmit)
      }
    }
    const worker: Effect.Effect<void, E | EI, R> = Effect.flatMap(gate.acquire, () =>
      Effect.flatMap(next, (input) => {
        if (input === End) {
          gate.release(1)
          return Effect.void
        }
        const index = nextIndex++
        return Effect.flatMap(Effect.either(f(input, index)), (outcome): Effect.Effect<void, E | EI, R> => {
          // Fail-fast fails here, before any reordering: an earlier input
          // still running must not hold the failure back.
          if (failFast && outcome._tag === "Left") return Effect.fail(outcome.left)
          emit({ index, input, outcome })
          return worker
        })
      }))
    yield* Effect.all(new Array<typeof worker>(workers).fill(withInterruptSlot(worker)), { concurrency: "unbounded", discard: true }).pipe(
      Effect.exit,
      Effect.flatMap((exit) => {
        flush()
        return out.done(exit)
      }),
      Effect.forkScoped
    )
    // A chunk's permits come back when the consumer asks for the next one:
    // until then its items are still held downstream.
    let handedOut = 0
    const pull: Effect.Effect<Chunk.Chunk<Item<I, A, E>>, Option.Option<E | EI>> = Effect.suspend(() => {
      gate.release(handedOut)
      handedOut = 0
      return Effect.flatMap(
        Effect.mapError(out.takeAll, Option.some),
        ([items, done]) => {
          handedOut = items.length
          if (items.length > 0) return Effect.succeed(items)
          return done ? Effect.fail(Option.none()) : pull
        }
      )
    })
    return Stream.repeatEffectChunkOption(pull)
  }))

/**
 * Runs `effect` with a deadline every fetch inside it honours (the earlier
 * of this one and any enclosing one): fetches still running when it passes
 * are aborted and fail with `Timeout` phase `"deadline"`; fetches not yet
 * started fail the same way without touching the network.
 */
export const withDeadline = <A, E, R>(
  effect: Effect.Effect<A, E, R>,
  deadline: Duration.DurationInput | undefined
): Effect.Effect<A, E, R> =>
  deadline === undefined ? effect : Effect.flatMap(deadlineAt(deadline), (at) => Effect.locally(effect, currentDeadline, at))

/** The Clock time `deadline` from now, or an enclosing deadline if earlier. */
export const deadlineAt = (deadline: Duration.DurationInput): Effect.Effect<number> => {
  const ms = Duration.toMillis(Duration.decode(deadline))
  return Effect.flatMap(Clock.currentTimeMillis, (now) =>
    Effect.map(FiberRef.get(currentDeadline), (outer) => outer === undefined ? now + ms : Math.min(outer, now + ms)))
}
