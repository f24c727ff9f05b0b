/**
 * The run of `gather fetch`: the inputs through one gather, a record
 * written for each.
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
import * as Stream from "effect/Stream"
import { Fetch, Gather, Report } from "../index.js"
import type { FetchError, Session } from "../index.js"
import * as Records from "../internal/record.js"
import * as SessionInternal from "../internal/session.js"
import { observe } from "./completion.js"
import type { Hook } from "./completion.js"
import { describe, SomeFailed, StdoutClosed } from "./errors.js"
import type { RunFailed } from "./errors.js"
import type { FetchConfig } from "./fetchOptions.js"
import { maxBarRows } from "./fetchOptions.js"
import { histogramLines, noteOf, tableHeader, tableRow } from "./fetchOutput.js"
import * as Input from "./input.js"
import * as InputKey from "./inputKey.js"
import * as Output from "./output.js"
import { renderProgress, showProgress } from "./progress.js"
import { defaultLimits as RecordBatchLimits, RecordBatch } from "./recordBatch.js"
import * as Resume from "./resume.js"
import { fileNameFor, resolveInside } from "./safeName.js"
import { renderBars, renderSummary, Tally } from "./summary.js"
import type { Bar } from "./summary.js"

/** An input line, with its resume key when it was needed before the fetch (resuming). */
interface Keyed extends Input.Input {
  readonly key?: string | undefined
}

/** What a fetch of an input gives back. */
type Outcome = Either.Either<Fetch.FetchResponse<Uint8Array>, FetchError.FetchError>

/** A finished input, kept until its record is written. */
interface Finished {
  readonly index: number
  readonly input: Keyed
  readonly outcome: Outcome
}

/** An input being fetched: its outcome is set when it finishes. */
interface Fetching {
  readonly index: number
  readonly input: Keyed
  outcome: Outcome | undefined
}

/** The window holding back the most (the smallest of any host's), if any host has one. */
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

const smallestWindow = (windows: Readonly<Record<string, number>>): number | undefined => {
  let smallest: number | undefined
  for (const origin in windows) smallest = Math.min(smallest ?? Infinity, windows[origin]!)
  return smallest
}

/** Fetches every input of `config` in the session, writing a record each. */
export const gather = (config: FetchConfig) =>
  Effect.gen(function*() {
    const file = Option.getOrUndefined(config.file)
    const outFile = Option.getOrUndefined(config.out)
    const resuming = config.resume || config.retryFailed
    const resumed = resuming && outFile !== undefined ? yield* Resume.load(outFile) : undefined
    // The secret of the resume keys, kept beside the output file.
    const key = outFile === undefined ? { secret: InputKey.fresh(), created: true } : yield* InputKey.forOutput(outFile)
    if (resumed !== undefined && resumed.records > 0 && key.created) {
      yield* Output.printError(`${InputKey.keyFileOf(outFile!)} was missing: no record can be matched, every input is fetched again`)
    } else if (resumed !== undefined && resumed.unkeyed > 0) {
      yield* Output.printError(`${outFile}: ${resumed.unkeyed} record(s) without a line number and key (an older gather) are not skipped`)
    }
    if (resumed !== undefined && resumed.repair !== "none") {
      yield* Output.printError(
        resumed.repair === "truncate"
          ? `${outFile}: removed a torn last line left by an interrupted run`
          : `${outFile}: completed the last line left by an interrupted run`
      )
    }
    const bodyDir = Option.isSome(config.bodyDir) ? yield* Output.ensureDirectory(config.bodyDir.value) : undefined
    // NDJSON goes to --out, or to stdout when the format is ndjson; a table
    // or a bar chart always goes to stdout.
    const records = outFile !== undefined
      ? yield* Output.openFile(outFile, resuming)
      : config.format === "ndjson"
      ? Output.stdout
      : undefined
    const table = config.format === "table" ? Output.stdout : undefined
    const request = HttpClientRequest.make(config.method)

    const report = Option.isSome(config.report) ? yield* Report.make({ title: `gather fetch ${file ?? "stdin"}` }) : undefined
    const tally = new Tally()
    const bars: Array<Bar & { readonly index: number }> = []
    let started = 0
    let completed = 0
    let skipped = 0
    let retried = 0
    let total: number | undefined
    const hashKey = InputKey.keyer(key.secret, config.method)
    const keyOf = (input: Input.Input): string => hashKey(input.text)
    // The key decides what is done only when resuming; otherwise it is
    // computed once per input, when its record is built.
    const isDone = (input: Input.Input) => resumed !== undefined && Resume.isDone(resumed, input.line, keyOf(input), config.retryFailed)

    // Every input line is its own input: duplicate lines are fetched and
    // recorded once each (their records share a key, not a line).
    const inputs: Stream.Stream<Keyed, RunFailed> = resumed === undefined
      ? Input.inputs(file)
      : Stream.filterMap(Input.inputs(file), (input) => {
        const inputKey = keyOf(input)
        if (Resume.isDone(resumed, input.line, inputKey, config.retryFailed)) {
          skipped++
          return Option.none()
        }
        if (resumed.lines.get(input.line)?.key === inputKey) retried++
        return Option.some({ line: input.line, text: input.text, key: inputKey })
      })

    // Gather.stream's buffer of inputs from a Stream (`bufferSize` inputs)
    // wakes the fiber that fills it each time an input is taken while it is
    // full, which in a steady run is every input: a fiber step per request
    // (about a fifth of the CLI's CPU, measured in bench S4). So inputs are
    // handed over a batch at a time, each once the gather has taken enough
    // that the batch fits with one slot to spare: that buffer never fills,
    // and this waits once per batch instead.
    const bufferSize = 2 * config.concurrency
    const batch = Math.max(1, Math.floor(config.concurrency / 2))
    let handedOver = 0
    let waiting: { readonly until: number; readonly resume: () => void } | undefined
    const takenUpTo = (until: number): Effect.Effect<void> =>
      started >= until ? Effect.void : Effect.async<void>((resume) => {
        waiting = { until, resume: () => resume(Effect.void) }
        return Effect.sync(() => (waiting = undefined))
      })
    const source = Stream.mapChunksEffect(Stream.rechunk(inputs, batch), (chunk) => {
      const before = handedOver
      handedOver += Chunk.size(chunk)
      return Effect.as(takenUpTo(before + Chunk.size(chunk) - bufferSize + 1), chunk)
    })

    const recordOf = (input: Keyed, outcome: Outcome, bodyFile?: string): Records.ResultRecord =>
      Records.forInput(
        Either.isRight(outcome) ? Records.fromResponse(input.text, outcome.right, bodyFile) : Records.fromError(input.text, outcome.left),
        input.line,
        input.key ?? keyOf(input)
      )

    const withBody = (input: Keyed, outcome: Outcome, dir: string): Effect.Effect<Records.ResultRecord> => {
      if (Either.isLeft(outcome)) return Effect.succeed(recordOf(input, outcome))
      const response = outcome.right
      const name = fileNameFor(input.text, key.secret)
      const failed = (reason: string) => Records.forInput(Records.fromSaveFailure(input.text, response, reason), input.line, input.key ?? keyOf(input))
      return Either.match(resolveInside(dir, name), {
        onLeft: (reason) => Effect.succeed(failed(reason)),
        onRight: (full) =>
          Output.saveBody(full, response.body).pipe(
            Effect.match({ onFailure: failed, onSuccess: () => recordOf(input, outcome, name) })
          )
      })
    }

    // Every finished outcome is also kept here, from its completion until it
    // is written. Ctrl-C interrupts the gather (no new inputs; requests in
    // flight are aborted on their sockets and get no record, so `--resume`
    // fetches them again), then writes what is left here: nothing finished
    // is lost, not even an outcome the interrupted stream still held.
    const finished = new Map<number, Fetching>()
    const completion: Hook<Fetch.FetchResponse<Uint8Array>, FetchError.FetchError, Fetching> = {
      onSuccess: (fetching, response) => {
        completed++
        fetching.outcome = Either.right(response)
        finished.set(fetching.index, fetching)
      },
      onFailure: (fetching, error) => {
        completed++
        fetching.outcome = Either.left(error)
        finished.set(fetching.index, fetching)
      }
    }
    const fetchOf = (input: Keyed, index: number): Effect.Effect<Fetch.FetchResponse<Uint8Array>, FetchError.FetchError, Session.Session> => {
      started++
      if (waiting !== undefined && started >= waiting.until) {
        const { resume } = waiting
        waiting = undefined
        resume()
      }
      // A plain fetch, observed on completion: it keeps the Gather's fast path.
      return observe(Fetch.request(request(input.text)), completion, { index, input, outcome: undefined })
    }

    // The record sink: after its first error nothing more is written to it,
    // and `written` counts the records it really took.
    let written = 0
    let sinkError: RunFailed | StdoutClosed | undefined
    const toSink = (text: string, count: number) => {
      if (records === undefined || text === "" || sinkError !== undefined) return Effect.void
      return records.write(text).pipe(
        Effect.tapBoth({
          onFailure: (error) => Effect.sync(() => (sinkError = error)),
          onSuccess: () => Effect.sync(() => (written += count))
        })
      )
    }

    // Records wait in one batch and are written a batch at a time (see
    // recordBatch.ts); each is counted only once its batch was written (or
    // its write failed, which the summary then reports).
    const unwritten = new RecordBatch<{ readonly index: number; readonly record: Records.ResultRecord }>()
    const count = (taken: ReadonlyArray<{ readonly index: number; readonly record: Records.ResultRecord }>) =>
      Effect.sync(() => {
        for (const { index, record } of taken) {
          tally.add(record)
          if (config.format === "bars" && bars.length <= maxBarRows) {
            bars.push({ index, label: record.url, ms: record.ms ?? 0, note: noteOf(record) })
          }
        }
      })
    // Writes the batch, whatever its size, uninterruptibly: taken whole, then
    // written once to each sink, then counted.
    const flush = Effect.uninterruptible(Effect.suspend(() => {
      const taken = unwritten.take()
      if (taken === undefined) return Effect.void
      const toRecords = toSink(taken.lines, taken.records.length)
      const writes = table === undefined || taken.rows === "" ? toRecords : Effect.zipRight(toRecords, table.write(taken.rows))
      return Effect.ensuring(writes, count(taken.records))
    }))
    const flushIfDue = Effect.suspend(() => unwritten.isDue(performance.now()) ? flush : Effect.void)

    // The records of a run of finished items, added to the batch: plain data, no Effect per record.
    const emit = (items: ReadonlyArray<Finished>, built: ReadonlyArray<Records.ResultRecord> | undefined) => {
      const now = performance.now()
      for (let i = 0; i < items.length; i++) {
        const item = items[i]!
        const record = built === undefined ? recordOf(item.input, item.outcome) : built[i]!
        unwritten.add({ index: item.index, record }, Records.toLine(record), table === undefined ? "" : tableRow(record), now)
      }
      return flushIfDue
    }

    // Takes the items still unwritten out of `finished` at once, then writes
    // them, uninterruptibly: a record is written exactly once, by this or by
    // the final flush.
    const write = (items: ReadonlyArray<{ readonly index: number }>) =>
      Effect.uninterruptible(Effect.suspend(() => {
        const taken: Array<Finished> = []
        for (const { index } of items) {
          const item = finished.get(index)
          if (item === undefined) continue
          finished.delete(index)
          const outcome = item.outcome
          if (outcome !== undefined) taken.push({ index, input: item.input, outcome })
        }
        if (taken.length === 0) return Effect.void
        if (bodyDir === undefined) return emit(taken, undefined)
        return Effect.flatMap(
          Effect.forEach(taken, (item) => withBody(item.input, item.outcome, bodyDir), { concurrency: config.concurrency }),
          (built) => emit(taken, built)
        )
      }))

    if (table !== undefined) yield* table.write(tableHeader)

    // Outcomes come back as values, a chunk at a time; their records are
    // built and written a chunk at a time too.
    // A batch also goes out when it is old enough while no outcome comes (a
    // slow tail, a rate limit): the next chunk could be long in coming. A
    // write that fails there stops the run as one in the chunk loop does.
    const flushWhenOld = Effect.forever(Effect.zipRight(Effect.sleep(Duration.millis(RecordBatchLimits.maxAgeMs / 2)), flushIfDue))
    const work = Effect.raceFirst(
      forEachChunk(
        Gather.stream(source, fetchOf, { concurrency: config.concurrency, bufferSize, ordered: config.ordered, report }),
        (chunk) => write(Chunk.toReadonlyArray(chunk))
      ),
      flushWhenOld
    )

    const windows = (yield* SessionInternal.tag).hosts.windows
    const startedAt = performance.now()
    const progress = showProgress({ quiet: config.quiet, stderrIsTTY: Output.stderrIsTTY() }) ? Output.statusLine() : undefined
    const ticker = progress === undefined ? undefined : yield* Effect.fork(
      Effect.repeat(
        Effect.sync(() =>
          progress.draw(renderProgress({
            done: tally.done,
            total,
            ok: tally.ok,
            failed: tally.failed,
            inFlight: started - completed,
            elapsedMs: performance.now() - startedAt,
            window: smallestWindow(windows())
          }, Output.stderrColumns()))
        ),
        Schedule.spaced("100 millis")
      )
    )
    const counter = progress === undefined ? undefined : yield* Effect.fork(
      Input.count(file, (input) => !isDone(input)).pipe(
        Effect.tap((n) => Effect.sync(() => (total = n))),
        Effect.ignore
      )
    )

    const finish = (interrupted: boolean) =>
      Effect.gen(function*() {
        if (ticker !== undefined) yield* Fiber.interrupt(ticker)
        if (counter !== undefined) yield* Fiber.interrupt(counter)
        progress?.clear()
        if (config.format === "bars") {
          bars.sort((a, b) => a.index - b.index)
          const chart = tally.done <= maxBarRows ? renderBars(bars) : histogramLines(tally)
          yield* Effect.ignore(Output.stdout.write(chart.length === 0 ? "" : `${chart.join("\n")}\n`))
        }
        yield* Output.stderrLines(renderSummary(tally, {
          elapsedMs: performance.now() - startedAt,
          skipped,
          retried,
          resumedFrom: outFile,
          interrupted,
          aborted: started - completed,
          output: records === undefined ? undefined : {
            description: records.description,
            written,
            stopped: sinkError === undefined ? undefined : sinkError._tag === "StdoutClosed" ? "closed" : "failed"
          }
        }))
        if (report !== undefined && Option.isSome(config.report)) {
          yield* Report.write(report, config.report.value).pipe(
            Effect.matchEffect({
              onFailure: (error) => Output.printError(error.message),
              onSuccess: (written) => Output.stderrLines([`report: ${written}`])
            })
          )
        }
      })

    // Records finished but not yet written when the gather stopped early.
    // Then the batch, whatever its size or age.
    const flushRest = Effect.zipRight(Effect.suspend(() => write(Array.from(finished.values()).sort((a, b) => a.index - b.index))), flush)
    const reportFailure = (exit: Exit.Exit<void, unknown>) => {
      if (Exit.isSuccess(exit) || Cause.isInterruptedOnly(exit.cause)) return Effect.void
      const error = Cause.squash(exit.cause)
      return error instanceof StdoutClosed ? Effect.void : Output.printError(describe(error))
    }

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
    if (tally.failed > 0) return yield* new SomeFailed({ failed: tally.failed })
  })
