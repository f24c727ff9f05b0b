/**
 * `gather fetch [FILE|-]`: fetch every URL of a file or stdin through one
 * session and write one NDJSON record per input.
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
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
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { Fetch, Gather, Report, Session } from "../index.js"
import type { FetchError } from "../index.js"
import { resolveProxy } from "../internal/engine/proxy.js"
import * as Records from "../internal/record.js"
import * as SessionInternal from "../internal/session.js"
import { observe } from "./completion.js"
import type { Hook } from "./completion.js"
import { describe, SomeFailed, StdoutClosed, UsageError } from "./errors.js"
import type { RunFailed } from "./errors.js"
import { helpDoc, validated } from "./help.js"
import * as Input from "./input.js"
import * as InputKey from "./inputKey.js"
import * as Output from "./output.js"
import { parseChoice, parseHeaders, parseMethod } from "./parse.js"
import type { Method } from "./parse.js"
import { renderProgress, showProgress } from "./progress.js"
import { defaultLimits as RecordBatchLimits, RecordBatch } from "./recordBatch.js"
import * as Resume from "./resume.js"
import { fileNameFor, resolveInside } from "./safeName.js"
import type { CheckedSessionFlags, SessionFlags } from "./sessionOptions.js"
import { concurrencyOption, fetchSessionOptions as session, proxySetting, sessionOptions, toFetchSessionOptions } from "./sessionOptions.js"
import { formatBytes, formatMs, renderBars, renderHistogram, renderSummary, sentNothing, Tally } from "./summary.js"
import type { Bar } from "./summary.js"

/** Output formats of `gather fetch`. */
export const formats = ["ndjson", "table", "bars"] as const

/** Output formats of `gather fetch`. */
export type Format = typeof formats[number]

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

/** Everything `gather fetch` was asked to do, parsed. */
export interface FetchConfig extends SessionFlags {
  readonly file: Option.Option<string>
  readonly concurrency: number
  readonly perHost: Option.Option<number>
  readonly adaptive: boolean
  readonly retryAfter: Option.Option<Session.RetryAfterScope>
  readonly header: ReadonlyArray<string>
  readonly method: Method
  readonly out: Option.Option<string>
  readonly resume: boolean
  readonly retryFailed: boolean
  readonly bodyDir: Option.Option<string>
  readonly maxBody: Option.Option<number | false>
  readonly format: Format
  readonly ordered: boolean
  readonly quiet: boolean
  readonly ca: Option.Option<string>
  readonly http2: boolean
  readonly report: Option.Option<string>
  readonly cache: Option.Option<string>
  readonly revalidate: boolean
  readonly proxy: string
}

export { cacheFileName } from "./sessionOptions.js"

/** Past this many inputs, `--format bars` shows a latency histogram instead of a bar each. */
export const maxBarRows = 50

const options = {
  file: Args.text({ name: "FILE" }).pipe(
    Args.withDescription("File with one URL per line; '-' or nothing reads stdin. Blank lines and # comments are skipped."),
    Args.optional
  ),
  concurrency: concurrencyOption({ what: "Requests in flight at once", default: 32 }),
  perHost: session.perHost,
  adaptive: session.adaptive,
  retryAfter: session.retryAfter,
  ...sessionOptions,
  header: session.header,
  method: Options.text("method").pipe(
    Options.withPseudoName("METHOD"),
    Options.withAlias("X"),
    Options.withDescription("The HTTP method (default GET)."),
    validated(parseMethod),
    Options.withDefault<Method>("GET")
  ),
  out: Options.text("out").pipe(
    Options.withPseudoName("FILE"),
    Options.withAlias("o"),
    Options.withDescription("Write the NDJSON records to this file instead of stdout."),
    Options.optional
  ),
  resume: Options.boolean("resume").pipe(
    Options.withDescription(
      "With --out: skip the input lines already recorded in the file (by line number and a keyed hash of the input, kept in FILE.key), repair a torn last line, and append."
    )
  ),
  retryFailed: Options.boolean("retry-failed").pipe(
    Options.withDescription(
      "Like --resume, and fetch again the input lines whose latest record failed (the new record is appended; the last record of a line is its current one)."
    )
  ),
  bodyDir: Options.text("body-dir").pipe(
    Options.withPseudoName("DIR"),
    Options.withDescription("Save each successful body in this directory, under a safe name derived from its URL."),
    Options.optional
  ),
  maxBody: session.maxBody,
  format: Options.text("format").pipe(
    Options.withPseudoName(formats.join("|")),
    Options.withDescription(
      `What stdout shows: the NDJSON records (default), a table, or a bar chart of the times at the end (past ${maxBarRows} inputs, a latency histogram). With table or bars, use --out to keep the records.`
    ),
    validated(parseChoice("format", formats)),
    Options.withDefault<Format>("ndjson")
  ),
  ordered: Options.boolean("ordered").pipe(
    Options.withDescription("Write results in input order (default: as they complete).")
  ),
  quiet: Options.boolean("quiet").pipe(
    Options.withAlias("q"),
    Options.withDescription("No progress line.")
  ),
  ca: session.ca,
  http2: session.http2,
  report: Options.text("report").pipe(
    Options.withPseudoName("FILE"),
    Options.withDescription("Also write a run report to this HTML file: waterfall, in flight vs the limit, latency, origins, errors (opens offline)."),
    Options.optional
  ),
  cache: session.cache,
  revalidate: session.revalidate,
  proxy: session.proxy
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

const errorWidth = "TooManyRedirects".length

/** The table's first line: a header for every column. */
export const tableHeader = `${"STATUS".padStart(6)} ${"TIME".padStart(10)} ${"BYTES".padStart(10)}  ${"ERROR".padEnd(errorWidth)}  URL\n`

/** Pure: a record as a table row; `-` where a column does not apply (no time for an input never sent). */
export const tableRow = (record: Records.ResultRecord): string => {
  const status = record.status === null ? "ERR" : String(record.status)
  const time = record.ms === null || sentNothing(record) ? "-" : formatMs(record.ms)
  const bytes = record.bytes === null ? "-" : formatBytes(record.bytes)
  const error = record.error === null ? "-" : record.error.tag
  return `${status.padStart(6)} ${time.padStart(10)} ${bytes.padStart(10)}  ${error.padEnd(errorWidth)}  ${record.url}\n`
}

/** `--format bars` past a screenful: a title line and the latency histogram. */
const histogramLines = (tally: Tally): Array<string> => {
  const notSent = tally.done - tally.latency.count
  return [
    `latency of ${tally.latency.count} request(s)${notSent > 0 ? `, ${notSent} input(s) never sent left out` : ""}:`,
    ...renderHistogram(tally.latency)
  ]
}

const noteOf = (record: Records.ResultRecord): string => record.error !== null && record.error.tag !== "BadStatus" ? record.error.tag : String(record.status)

/** The --proxy value (and with env, the variables) checked by the library's own parser, as a usage error. */
const checkProxy = (value: string): Effect.Effect<void, UsageError> =>
  Effect.try({
    try: () => resolveProxy(proxySetting(value), process.env),
    catch: (error) => new UsageError({ message: `--proxy: ${error instanceof Error ? error.message : String(error)}` })
  })

/** The --cache directory, created (as --body-dir's is), and writable: the cache file is opened in it. */
const cacheDirectory = (dir: string): Effect.Effect<string, UsageError> =>
  Output.ensureDirectory(dir).pipe(
    Effect.flatMap((full) =>
      Effect.try({
        try: () => {
          fs.accessSync(full, fs.constants.W_OK)
          return full
        },
        catch: (error) => new UsageError({ message: `--cache ${dir}: cannot use it (${(error as NodeJS.ErrnoException).code ?? "unwritable"})` })
      })
    ),
    Effect.catchTag("RunFailed", (error) => Effect.fail(new UsageError({ message: `--cache ${dir}: cannot use it (${error.message})` })))
  )

/** Checks what the parser cannot: combinations of options, and that the input exists. */
const preflight = (config: FetchConfig): Effect.Effect<CheckedSessionFlags, UsageError> =>
  Effect.gen(function*() {
    if (config.revalidate && Option.isNone(config.cache)) {
      return yield* new UsageError({ message: "--revalidate needs --cache DIR (the cache to revalidate)" })
    }
    yield* checkProxy(config.proxy)
    if (config.resume && Option.isNone(config.out)) {
      return yield* new UsageError({ message: "--resume needs --out FILE (the file to resume)" })
    }
    if (config.retryFailed && Option.isNone(config.out)) {
      return yield* new UsageError({ message: "--retry-failed needs --out FILE (the file to resume)" })
    }
    const file = Option.getOrUndefined(config.file)
    if (Option.isSome(config.out) && !Input.isStdin(file) && path.resolve(config.out.value) === path.resolve(file!)) {
      return yield* new UsageError({ message: "--out must not be the input file" })
    }
    yield* Input.checkReadable(file)
    if (Input.isStdin(file) && Output.stdinIsTTY()) yield* Output.printError("reading URLs from stdin, one per line (Ctrl-D to end)")
    const headers = parseHeaders(config.header)
    if (Either.isLeft(headers)) return yield* new UsageError({ message: headers.left })
    const ca = Option.isNone(config.ca) ? undefined : yield* readCa(config.ca.value)
    // Created only once every other check has passed: a refused command leaves nothing behind.
    const cacheDir = Option.isSome(config.cache) ? yield* cacheDirectory(config.cache.value) : undefined
    return { headers: headers.right, ca, cacheDir }
  })

/** The --ca file, checked here so a wrong path is a usage error, not a TLS failure per URL. */
const readCa = (file: string): Effect.Effect<Buffer, UsageError> =>
  Effect.flatMap(
    Effect.try({
      try: () => fs.readFileSync(file),
      catch: (error) => new UsageError({ message: `--ca ${file}: cannot read it (${(error as NodeJS.ErrnoException).code ?? "unreadable"})` })
    }),
    (pem) =>
      Effect.try({
        try: () => {
          new crypto.X509Certificate(pem)
          return pem
        },
        catch: () => new UsageError({ message: `--ca ${file}: not a PEM certificate` })
      })
  )

const gather = (config: FetchConfig) =>
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

/** Runs `gather fetch`. */
export const run = (config: FetchConfig) =>
  Effect.flatMap(preflight(config), (checked) =>
    gather(config).pipe(
      Effect.scoped,
      Effect.provide(Session.layer(toFetchSessionOptions(config, checked)))
    ))

export const command = Command.make("fetch", options, run).pipe(
  Command.withDescription(helpDoc({
    summary: "Fetch every URL of FILE (or stdin) and write one NDJSON record per input line.",
    details: [
      "Each record has url, ok, status, error {tag, message}, bytes, ms, attempts and final_url (credentials redacted). A line that is not an http(s) URL gets an InvalidUrl record. Progress is drawn on stderr when it is a terminal; a summary (statuses, error tags, latency percentiles, throughput) is always printed on stderr at the end.",
      "Ctrl-C or SIGTERM stops taking inputs, aborts the requests in flight, writes every finished record, prints the summary and exits 130. Run again with --resume to finish the rest."
    ],
    examples: [
      "gather fetch urls.txt --out results.ndjson -c 64",
      "cat urls.txt | gather fetch - --format table",
      "gather fetch urls.txt -o results.ndjson --resume --rate 20/s --per-host 8",
      "gather fetch urls.txt -o results.ndjson --report run.html",
      "gather fetch urls.txt -o tonight.ndjson --cache ~/.cache/gather",
      "gather fetch urls.txt --proxy http://proxy.internal:3128",
      "gather fetch urls.txt -H \"Authorization: Bearer $TOKEN\" --retries 0 --timeout 5s --body-dir bodies/"
    ]
  }))
)
