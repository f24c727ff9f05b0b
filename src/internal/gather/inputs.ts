/**
 * Where a gather's inputs come from: a plain poll over an iterable, or a
 * bounded buffer a feeder fiber fills from a Stream or an async iterable.
 */
import type * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { Source } from "../../Gather.js"
import { Waiters } from "./waiters.js"
import type { Readiness } from "./work.js"
import { End, Pending } from "./work.js"

const isAsyncIterable = (u: unknown): u is AsyncIterable<unknown> => typeof u === "object" && u !== null && Symbol.asyncIterator in u

export const iterablePoll = <I>(iterable: Iterable<I>): () => I | End => {
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
 * Inputs from a Stream or an async iterable: a feeder fiber fills a bounded
 * buffer that workers poll without blocking; a full buffer holds the feeder
 * back (backpressure).
 */
class InputBuffer<I, EI> {
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
export const inputs = <I, EI, RI>(
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
  const buffer = new InputBuffer<I, EI>(capacity)
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
