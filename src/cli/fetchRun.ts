/**
 * The run of `gather fetch`: the inputs through one gather, each finished
 * outcome kept until its record is written, the progress line, and the
 * end, also on Ctrl-C: the gather is interrupted, every finished record is
 * written, then the summary.
 */
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { Fetch, Gather } from "../index.js"
import type { FetchError, Session } from "../index.js"
import { observe } from "../internal/gather/observe.js"
import type { Hook } from "../internal/gather/observe.js"
import * as SessionInternal from "../internal/session.js"
import { describe, SomeFailed, StdoutClosed } from "./errors.js"
import type { RunFailed } from "./errors.js"
import * as FetchInput from "./fetchInput.js"
import type { Keyed } from "./fetchInput.js"
import type { FetchConfig } from "./fetchOptions.js"
import * as FetchOutput from "./fetchOutput.js"
import type { Finished, Outcome } from "./fetchOutput.js"
import * as Output from "./output.js"
import { renderProgress, showProgress } from "./progress.js"
import type { Snapshot } from "./progress.js"
import { defaultLimits as RecordBatchLimits } from "./recordBatch.js"

/**
 * `Stream.runForEachChunk`, by pulling: the same order and errors, but the
 * chunk goes to `f` from a plain loop over `Stream.toPull`. Measured
 * (`bench/consumers.ts`): a consumer that runs an Effect per chunk through
 * the Stream's own sink made V8's scavenges several times dearer (7 µs per
 * request instead of 1.3–1.8), the pulling loop does not.
 */
const forEachChunk = <A, E, R, E2, R2>(
  stream: Stream.Stream<A, E, R>,
  f: (chunk: Chunk.Chunk<A>) => Effect.Effect<void, E2, R2>
): Effect.Effect<void, E | E2, R | R2> =>
  Effect.scoped(Effect.flatMap(Stream.toPull(stream), (pull) => {
    const loop: Effect.Effect<void, E | E2, R | R2> = Effect.matchEffect(pull, {
      onFailure: Option.match({ onNone: () => Effect.void, onSome: (error: E) => Effect.fail(error) }),
      onSuccess: (chunk) => Effect.zipRight(f(chunk), loop)
    })
    return loop
  }))

/** An input being fetched: its outcome is set when it finishes. */
interface InFlight {
  readonly index: number
  readonly input: Keyed
  outcome: Outcome | undefined
}

/**
 * The fetches that completed: counted, and each outcome kept from its
 * completion until its record is written. Ctrl-C interrupts
 * the gather (no new inputs; requests in flight are aborted on their
 * sockets and get no record, so `--resume` fetches them again), then
 * writes what is left here: nothing finished is lost, not even an outcome
 * the interrupted stream still held.
 */
class Completions {
  /** Fetches finished so far. */
  completed = 0
  private readonly finished = new Map<number, InFlight>()

  /** Told of every completion, on the Gather's fast path (see gather/observe.ts). */
  readonly hook: Hook<Fetch.FetchResponse<Uint8Array>, FetchError.FetchError, InFlight> = {
    onSuccess: (fetching, response) => this.done(fetching, Either.right(response)),
    onFailure: (fetching, error) => this.done(fetching, Either.left(error))
  }

  private done(fetching: InFlight, outcome: Outcome): void {
    this.completed++
    fetching.outcome = outcome
    this.finished.set(fetching.index, fetching)
  }

  /** Takes the finished ones of `items` out, to be written once each. */
  take(items: ReadonlyArray<{ readonly index: number }>): Array<Finished> {
    const taken: Array<Finished> = []
    for (const { index } of items) {
      const item = this.finished.get(index)
      if (item === undefined) continue
      this.finished.delete(index)
      const outcome = item.outcome
      if (outcome !== undefined) taken.push({ index, input: item.input, outcome })
    }
    return taken
  }

  /** Every one still here, in input order. */
  rest(): Array<InFlight> {
    return Array.from(this.finished.values()).sort((a, b) => a.index - b.index)
  }
}

/** The progress line on stderr while the run goes (when stderr is a terminal and not --quiet), and how to stop it. */
const showRunProgress = (
  config: FetchConfig,
  inputs: FetchInput.Inputs,
  snapshot: (total: number | undefined) => Snapshot
): Effect.Effect<Effect.Effect<void>> =>
  Effect.gen(function*() {
    if (!showProgress({ quiet: config.quiet, stderrIsTTY: Output.stderrIsTTY() })) return Effect.void
    const progress = Output.statusLine()
    let total: number | undefined
    const ticker = yield* Effect.fork(
      Effect.repeat(
        Effect.sync(() => progress.draw(renderProgress(snapshot(total), Output.stderrColumns()))),
        Schedule.spaced("100 millis")
      )
    )
    const counter = yield* Effect.fork(
      inputs.count.pipe(
        Effect.tap((n) => Effect.sync(() => (total = n))),
        Effect.ignore
      )
    )
    return Effect.gen(function*() {
      yield* Fiber.interrupt(ticker)
      yield* Fiber.interrupt(counter)
      progress.clear()
    })
  })

/** The window holding back the most (the smallest of any host's), if any host has one. */
const smallestWindow = (windows: Readonly<Record<string, number>>): number | undefined => {
  let smallest: number | undefined
  for (const origin in windows) smallest = Math.min(smallest ?? Infinity, windows[origin]!)
  return smallest
}

/** Prints why the gather failed, unless it was interrupted or stdout closed (which end quietly). */
const reportFailure = (exit: Exit.Exit<void, unknown>) => {
  if (Exit.isSuccess(exit) || Cause.isInterruptedOnly(exit.cause)) return Effect.void
  const error = Cause.squash(exit.cause)
  return error instanceof StdoutClosed ? Effect.void : Output.printError(describe(error))
}

/** Fetches every pending input of `config` in the session, writing a record each. */
export const gather = (config: FetchConfig): Effect.Effect<void, RunFailed | StdoutClosed | SomeFailed, Session.Session | Scope.Scope> =>
  Effect.gen(function*() {
    const inputs = yield* FetchInput.open(config)
    const output = yield* FetchOutput.open(config, inputs)
    const request = HttpClientRequest.make(config.method)
    const get = config.method === "GET"
    const handover = new FetchInput.Handover(config.concurrency)
    const completions = new Completions()

    const fetchOf = (input: Keyed, index: number): Effect.Effect<Fetch.FetchResponse<Uint8Array>, FetchError.FetchError, Session.Session> => {
      handover.take()
      // A plain fetch, observed on completion: it keeps the Gather's fast path.
      // A GET takes the line itself, as Fetch.get does: a platform request
      // per line (URL parsed, query split into parameters) cost 2 µs each.
      const fetch = get ? Fetch.get(input.text) : Fetch.request(request(input.text))
      return observe(fetch, completions.hook, { index, input, outcome: undefined })
    }

    // Takes the items still unwritten out at once, then writes them,
    // uninterruptibly: a record is written exactly once, by this or by the
    // final flush.
    const write = (items: ReadonlyArray<{ readonly index: number }>) =>
      Effect.uninterruptible(Effect.suspend(() => {
        const taken = completions.take(items)
        return taken.length === 0 ? Effect.void : output.add(taken)
      }))

    yield* output.begin

    // Outcomes come back as values, a chunk at a time; their records are
    // built and written a chunk at a time too.
    // A batch also goes out when it is old enough while no outcome comes (a
    // slow tail, a rate limit): the next chunk could be long in coming. A
    // write that fails there stops the run as one in the chunk loop does.
    const flushWhenOld = Effect.forever(Effect.zipRight(Effect.sleep(Duration.millis(RecordBatchLimits.maxAgeMs / 2)), output.flushIfDue))
    const work = Effect.raceFirst(
      forEachChunk(
        Gather.stream(handover.source(inputs.pending), fetchOf, {
          concurrency: config.concurrency,
          bufferSize: handover.bufferSize,
          ordered: config.ordered,
          report: output.report
        }),
        (chunk) => write(Chunk.toReadonlyArray(chunk))
      ),
      flushWhenOld
    )

    const windows = (yield* SessionInternal.tag).hosts.windows
    const startedAt = performance.now()
    const stopProgress = yield* showRunProgress(config, inputs, (total) => ({
      done: output.tally.done,
      total,
      ok: output.tally.ok,
      failed: output.tally.failed,
      inFlight: handover.started - completions.completed,
      elapsedMs: performance.now() - startedAt,
      window: smallestWindow(windows())
    }))

    const finish = (interrupted: boolean) =>
      Effect.zipRight(
        stopProgress,
        output.end(() => ({
          elapsedMs: performance.now() - startedAt,
          skipped: inputs.skipped(),
          retried: inputs.retried(),
          resumedFrom: Option.getOrUndefined(config.out),
          interrupted,
          aborted: handover.started - completions.completed
        }))
      )

    // Records finished but not yet written when the gather stopped early.
    // Then the batch, whatever its size or age.
    const flushRest = Effect.zipRight(Effect.suspend(() => write(completions.rest())), output.flush)

    const worker = yield* Effect.fork(work)
    const exit = yield* Fiber.await(worker).pipe(
      Effect.onInterrupt(() =>
        Fiber.interrupt(worker).pipe(
          Effect.flatMap(reportFailure),
          Effect.zipRight(flushRest.pipe(Effect.catchAll((error) => error._tag === "StdoutClosed" ? Effect.void : Output.printError(error.message)))),
          Effect.zipRight(finish(true))
        )
      )
    )
    // The last batch is written here: a write that fails fails the run, as
    // one in the chunk loop does (after the summary, which says what was written).
    const last = yield* Effect.uninterruptible(Effect.zipLeft(Effect.either(flushRest), finish(false)))
    if (Exit.isFailure(exit)) return yield* Effect.failCause(exit.cause)
    if (Either.isLeft(last)) return yield* Effect.fail(last.left)
    if (output.tally.failed > 0) return yield* new SomeFailed({ failed: output.tally.failed })
  })
