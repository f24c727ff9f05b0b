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
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Runtime from "effect/Runtime"
import type { Concurrency } from "../../Gather.js"
import { currentInterruptSlot, withInterruptSlot } from "../engine/interruptSlot.js"
import type { Stop } from "./lane.js"
import { Lane } from "./lane.js"
import type { Work } from "./work.js"

export const defaultConcurrency = 32

export const workerCount = (concurrency: Concurrency | undefined, size: number | undefined): number => {
  if (concurrency === "unbounded") return Math.max(1, size ?? 1)
  const limit = concurrency ?? defaultConcurrency
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`concurrency must be a whole number >= 1 or "unbounded", got ${limit}`)
  return size === undefined ? limit : Math.max(1, Math.min(limit, size))
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
  const loop: Effect.Effect<void, E | EI, R> = Effect.flatten(Effect.withFiberRuntime((fiber) =>
    Effect.async<Effect.Effect<void, E | EI, R>>((resume) => {
      const lane = new Lane(work, nextIndex, fiber, (stop) => resume(Effect.succeed(afterStop(work, stop, loop))))
      lane.pump()
      return Effect.sync(() => {
        lane.interrupt()
      })
    })
  ))
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
export const runWorkers = <I, A, E, EI, R>(work: Work<I, A, E, EI, R>, workers: number): Effect.Effect<void, E | EI, R> =>
  // The lanes share the calling fiber: none of them owns a slot of it (an
  // enclosing worker's slot is that worker's).
  Effect.locally(currentInterruptSlot, undefined)(Effect.flatMap(Effect.runtime<R>(), (runtime) =>
    Effect.withFiberRuntime<void, E | EI, R>((driver) => {
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
