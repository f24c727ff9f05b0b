/**
 * Where a Gather worker keeps the work it is running, so that one
 * interruption hook per worker can abort it. `Effect.async` with a canceler
 * wraps every request in `onInterrupt` (about 3 KB of allocations and a
 * handful of Effect steps); inside a worker that hook is paid once per worker
 * instead. `owner` is the worker's fiber: a fiber forked inside the work (a
 * timeout, a race) inherits the slot but is not its owner, and gets a slot
 * of its own that lasts until it exits ({@link holdUntilExit}). Generic:
 * Gather sets it, the HTTP engine fills it.
 */
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import * as FiberRef from "effect/FiberRef"
import { globalValue } from "effect/GlobalValue"
import type { Running } from "./fastPath.js"

export class InterruptSlot {
  current: Running | undefined = undefined
  constructor(readonly owner: Fiber.RuntimeFiber<unknown, unknown>) {}
}

export const currentInterruptSlot: FiberRef.FiberRef<InterruptSlot | undefined> = globalValue(
  Symbol.for("effect-gather/currentInterruptSlot"),
  () => FiberRef.unsafeMake<InterruptSlot | undefined>(undefined)
)

/**
 * The slot `fiber` owns, if it is a Gather worker: work it runs needs no
 * canceler of its own, only to be put in the slot.
 */
export const ownedSlot = (fiber: Fiber.RuntimeFiber<unknown, unknown>): InterruptSlot | undefined => {
  const slot = fiber.getFiberRef(currentInterruptSlot)
  return slot !== undefined && slot.owner === fiber ? slot : undefined
}

const exitSlots = new WeakMap<Fiber.RuntimeFiber<unknown, unknown>, InterruptSlot>()

/**
 * Holds `running` as the work of `fiber`, a fiber that is not a Gather
 * worker (an `Effect.forEach` child, a race, a timeout, a program's main
 * fiber), in place of a canceler: one observer per fiber, added the first
 * time, aborts what the slot still holds when the fiber ends. A fiber runs
 * one fetch at a time, so work still held when the next one starts was
 * given up (interrupted, its result no longer awaited) and is aborted then.
 * Finished work ignores `interrupt()`. The abort therefore comes when the
 * interrupted fiber moves on or exits, not before its own finalizers run.
 */
/**
 * Holds `running` as the work of `fiber`, which waits for it: in the slot
 * of the Gather worker `fiber` is, else in a slot of its own until it
 * exits ({@link holdUntilExit}). The one call a fetch or an attempt on a
 * fiber makes instead of returning a canceler.
 */
export const hold = (fiber: Fiber.RuntimeFiber<unknown, unknown>, running: Running): void => {
  const owned = ownedSlot(fiber)
  if (owned !== undefined) owned.current = running
  else holdUntilExit(fiber, running)
}

const holdUntilExit = (fiber: Fiber.RuntimeFiber<unknown, unknown>, running: Running): void => {
  let slot = exitSlots.get(fiber)
  if (slot === undefined) {
    const created = new InterruptSlot(fiber)
    exitSlots.set(fiber, created)
    fiber.addObserver(() => {
      const held = created.current
      created.current = undefined
      held?.interrupt()
    })
    slot = created
  }
  const previous = slot.current
  slot.current = running
  previous?.interrupt()
}

/**
 * Runs `worker` with an interrupt slot: work inside it can skip the
 * per-request canceler, and interrupting the worker aborts the one running.
 */
export const withInterruptSlot = <A, E, R>(worker: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.withFiberRuntime((fiber) => {
    const slot = new InterruptSlot(fiber)
    return Effect.onInterrupt(
      Effect.locally(worker, currentInterruptSlot, slot),
      () => Effect.sync(() => slot.current?.interrupt())
    )
  })
