/**
 * A gather's outcomes as a Stream, in completion or input order, with a
 * bounded number of inputs taken and not yet emitted.
 */
import * as Channel from "effect/Channel"
import type * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Mailbox from "effect/Mailbox"
import * as Stream from "effect/Stream"
import type { Result, Source, StreamOptions, Watcher } from "../../Gather.js"
import { currentDeadline } from "../engine/deadline.js"
import { Gate } from "./gate.js"
import { inputs } from "./inputs.js"
import { deadlineAt } from "./withDeadline.js"
import type { Work } from "./work.js"
import { End, Pending } from "./work.js"
import { runWorkers, workerCount } from "./workers.js"

/**
 * What the stream reads: the public options (`Gather.StreamOptions`) it
 * honours as they are, the mode as a flag and the gather's watchers made
 * into one.
 */
export interface StreamSettings extends Pick<StreamOptions<"settle" | "fail-fast">, "concurrency" | "ordered" | "bufferSize" | "deadline"> {
  /** Fail the stream with the first failure, as soon as it happens. */
  readonly failFast?: boolean | undefined
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
  options: StreamSettings | undefined
): Stream.Stream<Result<I, A, E>, E | EI, R | RI> =>
  Stream.unwrapScoped(Effect.gen(function*() {
    const failFast = options?.failFast === true
    const deadline = options?.deadline === undefined ? undefined : yield* deadlineAt(options.deadline)
    const workers = workerCount(options?.concurrency, undefined)
    const window = Math.max(workers, options?.bufferSize ?? workers * 2)
    const ordered = options?.ordered === true
    const source_ = yield* inputs(source, window)
    const gate = new Gate(window)
    // Holds at most `window` items: the gate bounds what workers take.
    const out = yield* Mailbox.make<Result<I, A, E>, E | EI>()
    // Ordered mode: finished items wait here until their turn.
    const pending = new Map<number, Result<I, A, E>>()
    let nextToEmit = 0
    // Outcomes that complete in the same turn of the event loop (undici
    // delivers many responses per poll) reach the consumer as one chunk: a
    // chunk per item would cost a trip through the Stream machinery each.
    let batch: Array<Result<I, A, E>> = []
    let flushScheduled = false
    const flush = (): void => {
      flushScheduled = false
      if (batch.length === 0) return
      const items = batch
      batch = []
      out.unsafeOfferAll(items)
    }
    const offer = (item: Result<I, A, E>): void => {
      batch.push(item)
      if (!flushScheduled) {
        flushScheduled = true
        setImmediate(flush)
      }
    }
    const emit = (item: Result<I, A, E>): void => {
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
    const loop: Channel.Channel<Chunk.Chunk<Result<I, A, E>>, unknown, E | EI, unknown, void, unknown> = Channel.flatMap(
      Channel.fromEffect(take),
      ([items, done]) => {
        handedOut = items.length
        if (done) return items.length === 0 ? Channel.void : Channel.write(items)
        return items.length === 0 ? loop : Channel.zipRight(Channel.write(items), loop)
      }
    )
    return Stream.fromChannel(loop)
  }))
