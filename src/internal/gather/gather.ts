/**
 * A fixed set of workers pulling from one shared source.
 *
 * `Effect.forEach` with `concurrency` copies the input and forks a fiber per
 * item; here the cost per item is one source step, memory is the results
 * plus `concurrency` workers, and the source is pulled only as fast as
 * workers free up (an infinite or lazy iterable works).
 *
 * A worker is a fiber that runs a callback loop: an effect that can start
 * with callbacks (see fastPath.ts) is started, and its completion takes the
 * next input and starts that, without the fiber suspending and resuming per
 * item. Any other effect, or the part of a fast one that needs the fiber (a
 * retry wait, say), runs on the worker's fiber, which then re-enters the
 * loop.
 */
import type * as Cause from "effect/Cause"
import * as Channel from "effect/Channel"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberRef from "effect/FiberRef"
import * as Mailbox from "effect/Mailbox"
import * as Runtime from "effect/Runtime"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { Concurrency, Result } from "../../Gather.js"
import { currentDeadline } from "../engine/deadline.js"
import * as FastPath from "../engine/fastPath.js"
import { currentInterruptSlot, withInterruptSlot } from "../engine/interruptSlot.js"

/**
 * Who watches a gather's items (progress counters, a run report): told when
 * each starts and how it ends, with the moment it started (performance.now()).
 */
export interface Watcher {
  /** The worker's fiber, once per worker run (to find services in its context). */
  bind(fiber: Fiber.RuntimeFiber<unknown, unknown>): void
  onStart(startedAt: number): void
  onSuccess(value: unknown, startedAt: number): void
  onFailure(error: unknown, startedAt: number): void
  onInterrupt(startedAt: number): void
}

/** Several watchers as one; `undefined` when there are none. */
export const watchers = (list: ReadonlyArray<Watcher | undefined>): Watcher | undefined => {
  const present = list.filter((watcher): watcher is Watcher => watcher !== undefined)
  if (present.length <= 1) return present[0]
  return {
    bind: (fiber) => present.forEach((watcher) => watcher.bind(fiber)),
    onStart: (at) => present.forEach((watcher) => watcher.onStart(at)),
    onSuccess: (value, at) => present.forEach((watcher) => watcher.onSuccess(value, at)),
    onFailure: (error, at) => present.forEach((watcher) => watcher.onFailure(error, at)),
    onInterrupt: (at) => present.forEach((watcher) => watcher.onInterrupt(at))
  }
}

export const defaultConcurrency = 32

export const workerCount = (concurrency: Concurrency | undefined, size: number | undefined): number => {
  if (concurrency === "unbounded") return Math.max(1, size ?? 1)
  const limit = concurrency ?? defaultConcurrency
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`concurrency must be a whole number >= 1 or "unbounded", got ${limit}`)
  return size === undefined ? limit : Math.max(1, Math.min(limit, size))
}

const knownSize = (inputs: Iterable<unknown>): number | undefined =>
  Array.isArray(inputs) ? inputs.length : inputs instanceof Set || inputs instanceof Map ? inputs.size : undefined

const End: unique symbol = Symbol("effect-gather/End")
type End = typeof End
const Pending: unique symbol = Symbol("effect-gather/Pending")
type Pending = typeof Pending

export type Readiness = "retry" | "waiting" | "fiber"

/** What the workers of one gather share: where inputs come from and outcomes go. */
interface Work<I, A, E, EI, R> {
  /** The next input, `End`, or `Pending` (run `wait`, then poll again). Never blocks. */
  readonly poll: () => I | End | Pending
  /** Completes when `poll` may have something again; fails if the source failed. */
  readonly wait: Effect.Effect<void, EI>
  /**
   * After `poll` said `Pending`, without a fiber: `"retry"` (poll again now),
   * `"waiting"` (`wake` is called once `poll` may have something), or
   * `"fiber"` (run `wait` on a fiber: it fails, say). Absent: always `"fiber"`.
   */
  readonly whenReady?: ((wake: () => void) => Readiness) | undefined
  readonly f: (input: I, index: number) => Effect.Effect<A, E, R>
  readonly onValue: (index: number, input: I, value: A) => void
  /** Records a failure; `false` ends the gather with it (fail-fast). */
  readonly onError: (index: number, input: I, error: E) => boolean
  readonly watcher: Watcher | undefined
}

/** Why a lane stopped running on callbacks. */
type Stop<I, A, E, EI, R> =
  | { readonly _tag: "End" }
  | { readonly _tag: "Pending" }
  | { readonly _tag: "Slow"; readonly effect: Effect.Effect<A, E, R>; readonly index: number; readonly input: I; readonly startedAt: number }
  | { readonly _tag: "Failed"; readonly error: E | EI }
  | { readonly _tag: "Defect"; readonly defect: unknown }

const End_: Stop<never, never, never, never, never> = { _tag: "End" }
const Pending_: Stop<never, never, never, never, never> = { _tag: "Pending" }

/**
 * One lane of work: takes an input, starts its effect on callbacks (see
 * fastPath.ts), and on completion takes the next, until it must stop (see
 * {@link Stop}); then it calls `stopped` once and does nothing more.
 */
class Lane<I, A, E, EI, R> implements FastPath.Sink<A, E, R> {
  /** The item in flight on callbacks, to abort on interruption. */
  running: FastPath.Running | undefined = undefined
  private index = 0
  // Set with index before any effect of this lane can report.
  private input!: I
  startedAt = 0
  private starting = false
  private completedWhileStarting = false
  stopped = false

  constructor(
    private readonly work: Work<I, A, E, EI, R>,
    private readonly nextIndex: () => number,
    private readonly fiber: Fiber.RuntimeFiber<unknown, unknown>,
    private readonly onStop: (stop: Stop<I, A, E, EI, R>) => void
  ) {}

  private stop(how: Stop<I, A, E, EI, R>): void {
    this.stopped = true
    this.running = undefined
    this.onStop(how)
  }

  succeed(value: A): void {
    this.running = undefined
    this.work.watcher?.onSuccess(value, this.startedAt)
    this.work.onValue(this.index, this.input, value)
    this.pump()
  }

  fail(error: E): void {
    this.running = undefined
    this.work.watcher?.onFailure(error, this.startedAt)
    if (this.work.onError(this.index, this.input, error)) this.pump()
    else this.stop({ _tag: "Failed", error })
  }

  continueWith(effect: Effect.Effect<A, E, R>): void {
    this.stop({ _tag: "Slow", effect, index: this.index, input: this.input, startedAt: this.startedAt })
  }

  /** Aborts the item in flight, if any; `true` when there was one. */
  interrupt(): boolean {
    const current = this.running
    this.running = undefined
    this.stopped = true
    if (current === undefined) return false
    current.interrupt()
    this.work.watcher?.onInterrupt(this.startedAt)
    return true
  }

  private readonly wake = (): void => this.pump()

  pump(): void {
    // A start that completes at once reports while `start` is still on the
    // stack: the loop below takes the next input instead of recursing.
    if (this.starting) {
      this.completedWhileStarting = true
      return
    }
    const { work } = this
    while (!this.stopped) {
      let effect: Effect.Effect<A, E, R>
      try {
        const next = work.poll()
        if (next === End) return this.stop(End_)
        if (next === Pending) {
          // Wait on a callback when the source can say when it is ready.
          const readiness = work.whenReady === undefined ? "fiber" : work.whenReady(this.wake)
          if (readiness === "retry") continue
          if (readiness === "waiting") return
          return this.stop(Pending_)
        }
        this.input = next
        this.index = this.nextIndex()
        if (work.watcher !== undefined) {
          this.startedAt = performance.now()
          work.watcher.onStart(this.startedAt)
        }
        effect = work.f(next, this.index)
      } catch (error) {
        // A throwing iterator or function is a defect, as in Effect.forEach.
        return this.stop({ _tag: "Defect", defect: error })
      }
      if (!FastPath.isFastPath(effect)) return this.continueWith(effect)
      this.starting = true
      this.completedWhileStarting = false
      const started = effect[FastPath.TypeId](this.fiber, this)
      this.starting = false
      if (started === undefined) return this.continueWith(effect)
      if (!this.completedWhileStarting) {
        if (!this.stopped) this.running = started
        return
      }
    }
  }
}

/** The rest of a slow item on the fiber: its outcome is recorded like a fast one's. */
const slowItem = <I, A, E, EI, R>(
  work: Work<I, A, E, EI, R>,
  stop: Extract<Stop<I, A, E, EI, R>, { readonly _tag: "Slow" }>
): Effect.Effect<void, E, R> => {
  const { watcher } = work
  const input = stop.input
  const matched = Effect.matchEffect(stop.effect, {
    onFailure: (error) => {
      watcher?.onFailure(error, stop.startedAt)
      return work.onError(stop.index, input, error) ? Effect.void : Effect.fail(error)
    },
    onSuccess: (value) => {
      watcher?.onSuccess(value, stop.startedAt)
      work.onValue(stop.index, input, value)
      return Effect.void
    }
  })
  return watcher === undefined ? matched : Effect.onInterrupt(matched, () => Effect.sync(() => watcher.onInterrupt(stop.startedAt)))
}

/** What a worker fiber does once its lane stopped; `undefined`: the worker is done. */
const afterStop = <I, A, E, EI, R>(
  work: Work<I, A, E, EI, R>,
  stop: Stop<I, A, E, EI, R>,
  loop: Effect.Effect<void, E | EI, R>
): Effect.Effect<void, E | EI, R> => {
  switch (stop._tag) {
    case "End":
      return Effect.void
    case "Pending":
      return Effect.zipRight(work.wait, loop)
    case "Slow":
      return Effect.zipRight(slowItem(work, stop), loop)
    case "Failed":
      return Effect.fail(stop.error)
    case "Defect":
      return Effect.die(stop.defect)
  }
}

/**
 * One worker on a fiber of its own: its lane runs on callbacks; whatever
 * needs the fiber (a slow item, a wait for input) runs on it, then the lane
 * goes on.
 */
const worker = <I, A, E, EI, R>(work: Work<I, A, E, EI, R>, nextIndex: () => number): Effect.Effect<void, E | EI, R> => {
  // Run inside withInterruptSlot (see interruptSlot.ts). The async hands
  // back what comes next instead of resuming with it: an effect resumed
  // into an async runs inside its interrupt hook, so each slow item or wait
  // would have nested one more frame (a worker over composed effects grew
  // without bound: 559 MB of heap after 80,000 items).
  const loop: Effect.Effect<void, E | EI, R> = Effect.flatten(Effect.withFiberRuntime((fiber) => {
    work.watcher?.bind(fiber)
    return Effect.async<Effect.Effect<void, E | EI, R>>((resume) => {
      const lane = new Lane(work, nextIndex, fiber, (stop) => resume(Effect.succeed(afterStop(work, stop, loop))))
      lane.pump()
      return Effect.sync(() => {
        lane.interrupt()
      })
    })
  }))
  return loop
}

/**
 * Runs `workers` lanes over `work`; the first failure interrupts the rest.
 *
 * The lanes start on the calling fiber, all on callbacks: a gather of plain
 * fetches forks no fiber at all. A lane that meets something needing a fiber
 * (a slow item, a wait for input) gets one, a worker (see {@link worker})
 * that carries it on from there.
 */
const runWorkers = <I, A, E, EI, R>(work: Work<I, A, E, EI, R>, workers: number): Effect.Effect<void, E | EI, R> =>
  // The lanes share the calling fiber: none of them owns a slot of it (an
  // enclosing worker's slot is that worker's).
  Effect.locally(currentInterruptSlot, undefined)(Effect.flatMap(Effect.runtime<R>(), (runtime) =>
    Effect.withFiberRuntime<void, E | EI, R>((driver) => {
      work.watcher?.bind(driver)
      let next = 0
      const nextIndex = () => next++
      const fork = Runtime.runFork(runtime)
      return Effect.async<void, E | EI, R>((resume) => {
        let ended = false
        /** Lanes still on callbacks, and forked workers, not yet done. */
        let open = workers
        const lanes: Array<Lane<I, A, E, EI, R>> = []
        const forked = new Set<Fiber.RuntimeFiber<void, E | EI>>()
        // Everything else stops at once: the lanes abort what they run, the
        // forked workers are interrupted (and waited for) by the effect the
        // gather resumes with.
        const stopAll = (): Effect.Effect<void> => {
          for (const lane of lanes) lane.interrupt()
          return forked.size === 0 ? Effect.void : Fiber.interruptAll([...forked])
        }
        const end = (outcome: Effect.Effect<void, E | EI, R>): void => {
          if (ended) return
          ended = true
          const others = stopAll()
          resume(Effect.zipRight(others, outcome))
        }
        const done = (): void => {
          if (--open === 0) end(Effect.void)
        }
        const onStop = (stop: Stop<I, A, E, EI, R>): void => {
          if (ended) return
          switch (stop._tag) {
            case "End":
              return done()
            case "Failed":
              return end(Effect.fail(stop.error))
            case "Defect":
              return end(Effect.die(stop.defect))
            default: {
              // The lane needs a fiber from here on.
              const fiber = fork(withInterruptSlot(Effect.suspend(() => afterStop(work, stop, worker(work, nextIndex)))))

              forked.add(fiber)
              fiber.addObserver((exit) => {
                forked.delete(fiber)
                if (Exit.isSuccess(exit)) done()
                else if (!ended) end(Effect.failCause(exit.cause))
              })
            }
          }
        }
        for (let i = 0; i < workers && !ended; i++) {
          const lane = new Lane(work, nextIndex, driver, onStop)
          lanes.push(lane)
          lane.pump()
        }
        return Effect.suspend(() => {
          ended = true
          return stopAll()
        })
      })
    })))

const iterablePoll = <I>(iterable: Iterable<I>): () => I | End => {
  const iterator = iterable[Symbol.iterator]()
  let done = false
  return () => {
    if (done) return End
    const step = iterator.next()
    if (step.done === true) {
      done = true
      return End
    }
    return step.value
  }
}

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
): Effect.Effect<Array<Either.Either<A, E>>, never, R> =>
  Effect.suspend(() => {
    const results: Array<Either.Either<A, E>> = []
    const settled = run(inputs, f, concurrency, (index, value) => {
      results[index] = Either.right(value)
    }, (index, error) => {
      results[index] = Either.left(error)
      return true
    }, watcher)
    // onError never ends the run, so no worker fails with E.
    return Effect.as(Effect.orDie(settled), results)
  })

/** One result of a streamed gather (the public `Gather.Result`). */
export type Item<I, A, E> = Result<I, A, E>

export type Source<I, EI, RI> = Stream.Stream<I, EI, RI> | Iterable<I> | AsyncIterable<I>

const isAsyncIterable = (u: unknown): u is AsyncIterable<unknown> => typeof u === "object" && u !== null && Symbol.asyncIterator in u

/** Wakes whoever waits, all at once: each re-checks its own condition. */
class Waiters {
  private list: Array<() => void> = []
  readonly wait: Effect.Effect<void> = Effect.async<void>((resume) => {
    const wake = () => resume(Effect.void)
    this.list.push(wake)
    return Effect.sync(() => {
      const at = this.list.indexOf(wake)
      if (at >= 0) this.list.splice(at, 1)
    })
  })
  /** Calls `wake` (once) at the next wakeAll. */
  notify(wake: () => void): void {
    this.list.push(wake)
  }
  wakeAll(): void {
    if (this.list.length === 0) return
    const woken = this.list
    this.list = []
    for (const wake of woken) wake()
  }
}

/**
 * Inputs from a Stream or an async iterable: a feeder fiber fills a bounded
 * buffer that workers poll without blocking; a full buffer holds the feeder
 * back (backpressure).
 */
class Buffered<I, EI> {
  private items: Array<I> = []
  private head = 0
  private ended = false
  private failure: Cause.Cause<EI> | undefined = undefined
  private readonly takers = new Waiters()
  private readonly feeders = new Waiters()
  constructor(private readonly capacity: number) {}

  readonly offerAll = (chunk: Chunk.Chunk<I>): Effect.Effect<void> => {
    for (const item of chunk) this.items.push(item)
    this.takers.wakeAll()
    return this.waitForRoom
  }

  private readonly waitForRoom: Effect.Effect<void> = Effect.suspend(() =>
    this.items.length - this.head < this.capacity ? Effect.void : Effect.zipRight(this.feeders.wait, this.waitForRoom)
  )

  readonly poll = (): I | End | Pending => {
    if (this.head < this.items.length) {
      const item = this.items[this.head++]!
      // Taken slots are dropped a buffer's worth at a time (amortised O(1)).
      if (this.head === this.items.length) {
        this.items = []
        this.head = 0
      } else if (this.head >= this.capacity) {
        this.items = this.items.slice(this.head)
        this.head = 0
      }
      // The feeder waits only while the buffer is full: wake it when there is room.
      if (this.items.length - this.head < this.capacity) this.feeders.wakeAll()
      return item
    }
    if (this.failure !== undefined) return Pending
    return this.ended ? End : Pending
  }

  readonly whenReady = (wake: () => void): Readiness => {
    if (this.head < this.items.length || this.ended) return "retry"
    if (this.failure !== undefined) return "fiber"
    this.takers.notify(wake)
    return "waiting"
  }

  readonly wait: Effect.Effect<void, EI> = Effect.suspend(() => {
    if (this.head < this.items.length || this.ended) return Effect.void
    if (this.failure !== undefined) return Effect.failCause(this.failure)
    return this.takers.wait
  })

  end(exit: Exit.Exit<void, EI>): void {
    if (Exit.isSuccess(exit)) this.ended = true
    else this.failure = exit.cause
    this.takers.wakeAll()
  }
}

// An iterable is never Pending: poll it again.
const alwaysRetry = (): Readiness => "retry"

/** The stream's buffer of inputs, or a plain poll over an iterable. */
const inputs = <I, EI, RI>(
  source: Source<I, EI, RI>,
  capacity: number
): Effect.Effect<
  {
    readonly poll: () => I | End | Pending
    readonly wait: Effect.Effect<void, EI>
    readonly whenReady: (wake: () => void) => Readiness
  },
  never,
  Scope.Scope | RI
> => {
  if (!(Stream.StreamTypeId in source) && !isAsyncIterable(source)) {
    return Effect.sync(() => ({ poll: iterablePoll(source), wait: Effect.void, whenReady: alwaysRetry }))
  }
  const buffer = new Buffered<I, EI>(capacity)
  // An async iterable that throws or rejects is a defect: it has no typed
  // error channel to fail on.
  const feed: Effect.Effect<void, EI, RI> = Stream.StreamTypeId in source
    ? Stream.runForEachChunk(source, buffer.offerAll)
    : Effect.suspend(() => {
      const iterator = source[Symbol.asyncIterator]()
      const step: Effect.Effect<void> = Effect.flatMap(Effect.promise(() => iterator.next()), (result) => {
        if (result.done === true) return Effect.void
        return Effect.zipRight(buffer.offerAll(Chunk.of(result.value)), step)
      })
      return Effect.onInterrupt(step, () => Effect.promise(async () => void (await iterator.return?.())))
    })
  return Effect.as(
    Effect.forkScoped(Effect.onExit(feed, (exit) => Effect.sync(() => buffer.end(exit)))),
    { poll: buffer.poll, wait: buffer.wait, whenReady: buffer.whenReady }
  )
}

/** Permits for "taken but not yet emitted", without a Semaphore's per-call cost. */
class Gate {
  private readonly waiters = new Waiters()
  constructor(private available: number) {}
  tryAcquire(): boolean {
    if (this.available === 0) return false
    this.available--
    return true
  }
  /** `"waiting"` with `wake` registered while no permit is free, else `"retry"`. */
  whenAvailable(wake: () => void): Readiness {
    if (this.available > 0) return "retry"
    this.waiters.notify(wake)
    return "waiting"
  }
  readonly waitAvailable: Effect.Effect<void> = Effect.suspend(() => this.available > 0 ? Effect.void : Effect.zipRight(this.waiters.wait, this.waitAvailable))
  release(n: number): void {
    if (n === 0) return
    this.available += n
    this.waiters.wakeAll()
  }
}

export interface StreamOptions {
  /** Fail the stream with the first failure, as soon as it happens. */
  readonly failFast?: boolean | undefined
  readonly deadline?: Duration.DurationInput | undefined
  readonly concurrency?: number | undefined
  readonly ordered?: boolean | undefined
  readonly bufferSize?: number | undefined
  readonly watcher?: Watcher | undefined
}

/**
 * Outcomes as a stream. At most `concurrency` run; at most `bufferSize`
 * inputs are taken and not yet emitted (a permit per input, returned when its
 * outcome is emitted), which bounds memory and, in ordered mode, the reorder
 * buffer.
 */
export const stream = <I, A, E, R, EI, RI>(
  source: Source<I, EI, RI>,
  f: (input: I, index: number) => Effect.Effect<A, E, R>,
  options: StreamOptions | undefined
): Stream.Stream<Item<I, A, E>, E | EI, R | RI> =>
  Stream.unwrapScoped(Effect.gen(function*() {
    const failFast = options?.failFast === true
    const deadline = options?.deadline === undefined ? undefined : yield* deadlineAt(options.deadline)
    const workers = workerCount(options?.concurrency, undefined)
    const window = Math.max(workers, options?.bufferSize ?? workers * 2)
    const ordered = options?.ordered === true
    const source_ = yield* inputs(source, window)
    const gate = new Gate(window)
    // Holds at most `window` items: the gate bounds what workers take.
    const out = yield* Mailbox.make<Item<I, A, E>, E | EI>()
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
    const work: Work<I, A, E, EI, R> = {
      // A permit first, then an input: the permit comes back when the
      // consumer has taken the item (or at once, when there is no input).
      poll: () => {
        if (!gate.tryAcquire()) return Pending
        const next = source_.poll()
        if (next === End || next === Pending) gate.release(1)
        return next
      },
      wait: Effect.zipRight(gate.waitAvailable, source_.wait),
      // poll said Pending: a permit was missing, or the source had nothing.
      whenReady: (wake) => {
        const permit = gate.whenAvailable(wake)
        return permit === "waiting" ? permit : source_.whenReady(wake)
      },
      f,
      onValue: (index, input, value) => emit({ index, input, outcome: Either.right(value) }),
      // Fail-fast fails here, before any reordering: an earlier input
      // still running must not hold the failure back.
      onError: (index, input, error) => {
        if (failFast) return false
        emit({ index, input, outcome: Either.left(error) })
        return true
      },
      watcher: options?.watcher
    }
    const running = runWorkers(work, workers)
    yield* (deadline === undefined ? running : Effect.locally(running, currentDeadline, deadline)).pipe(
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
    const take = Effect.suspend(() => {
      gate.release(handedOut)
      handedOut = 0
      return out.takeAll
    })
    // A channel loop over the mailbox (as Mailbox.toStream builds one), not
    // Stream.repeatEffectChunkOption: that wraps every chunk in an Option
    // and a catch, which cost about 3 µs of CPU per request in
    // bench/consumers.ts ("gather" against "fold" over the same batches).
    const loop: Channel.Channel<Chunk.Chunk<Item<I, A, E>>, unknown, E | EI, unknown, void, unknown> = Channel.flatMap(
      Channel.fromEffect(take),
      ([items, done]) => {
        handedOut = items.length
        if (done) return items.length === 0 ? Channel.void : Channel.write(items)
        return items.length === 0 ? loop : Channel.zipRight(Channel.write(items), loop)
      }
    )
    return Stream.fromChannel(loop)
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
): Effect.Effect<A, E, R> => deadline === undefined ? effect : Effect.flatMap(deadlineAt(deadline), (at) => Effect.locally(effect, currentDeadline, at))

/** The Clock time `deadline` from now, or an enclosing deadline if earlier. */
export const deadlineAt = (deadline: Duration.DurationInput): Effect.Effect<number> => {
  const ms = Duration.toMillis(Duration.decode(deadline))
  return Effect.flatMap(
    Clock.currentTimeMillis,
    (now) => Effect.map(FiberRef.get(currentDeadline), (outer) => outer === undefined ? now + ms : Math.min(outer, now + ms))
  )
}
