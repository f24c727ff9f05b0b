/**
 * What `gather fetch` writes: a record per finished input (to `--out` or
 * stdout, in batches, each counted only once written), what stdout shows by
 * `--format` (chosen once), and at the end the chart, the summary and the
 * run report.
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import { Report } from "../index.js"
import type { Fetch, FetchError } from "../index.js"
import * as Records from "../internal/record.js"
import type { RunFailed, StdoutClosed } from "./errors.js"
import type { Keyed } from "./fetchInput.js"
import type { FetchConfig, Format } from "./fetchOptions.js"
import { maxBarRows } from "./fetchOptions.js"
import type * as InputKey from "./inputKey.js"
import * as Output from "./output.js"
import { RecordBatch } from "./recordBatch.js"
import { fileNameFor, resolveInside } from "./safeName.js"
import { formatBytes, formatMs, renderBars, renderHistogram, renderSummary, sentNothing, Tally } from "./summary.js"
import type { Bar, RunInfo } from "./summary.js"

/** What a fetch of an input gives back. */
export type Outcome = Either.Either<Fetch.FetchResponse<Uint8Array>, FetchError.FetchError>

/** A finished input, kept until its record is written. */
export interface Finished {
  readonly index: number
  readonly input: Keyed
  readonly outcome: Outcome
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

/** What stdout shows, by `--format`: chosen once, asked at each step. */
interface StdoutFormat {
  /** Whether the NDJSON records go to stdout when there is no `--out`. */
  readonly records: boolean
  /** Written before the first record. */
  readonly begin: string
  /** What a record adds to stdout when its batch is written (a table row), or `""`. */
  readonly row: (record: Records.ResultRecord) => string
  /** Told of each record once it is written. */
  readonly counted: (index: number, record: Records.ResultRecord) => void
  /** The lines written at the end (a chart), if the format has any. */
  readonly end: ((tally: Tally) => Array<string>) | undefined
}

const nothing = () => ""
const ignore = () => {}

const bars = (): StdoutFormat => {
  // A bar each for up to `maxBarRows` inputs; past that only the histogram is drawn.
  const kept: Array<Bar & { readonly index: number }> = []
  return {
    records: false,
    begin: "",
    row: nothing,
    counted: (index, record) => {
      if (kept.length <= maxBarRows) kept.push({ index, label: record.url, ms: record.ms ?? 0, note: noteOf(record) })
    },
    end: (tally) => {
      kept.sort((a, b) => a.index - b.index)
      return tally.done <= maxBarRows ? renderBars(kept) : histogramLines(tally)
    }
  }
}

const stdoutFormat = (format: Format): StdoutFormat => {
  switch (format) {
    case "ndjson":
      return { records: true, begin: "", row: nothing, counted: ignore, end: undefined }
    case "table":
      return { records: false, begin: tableHeader, row: tableRow, counted: ignore, end: undefined }
    case "bars":
      return bars()
  }
}

/** How the records of a run are keyed: as the run keys its inputs. */
export interface Keys {
  /** The secret of the keys, which also derives the names of saved bodies. */
  readonly secret: InputKey.Secret
  readonly keyOf: (input: Keyed) => string
}

/** The record of a finished input, its body saved first with --body-dir (a body that cannot be saved is its record's error). */
const recordMaker = (keys: Keys) => {
  const recordOf = (input: Keyed, outcome: Outcome, bodyFile?: string): Records.ResultRecord =>
    Records.forInput(
      Either.isRight(outcome) ? Records.fromResponse(input.text, outcome.right, bodyFile) : Records.fromError(input.text, outcome.left),
      input.line,
      input.key ?? keys.keyOf(input)
    )
  const withBody = (input: Keyed, outcome: Outcome, dir: string): Effect.Effect<Records.ResultRecord> => {
    if (Either.isLeft(outcome)) return Effect.succeed(recordOf(input, outcome))
    const response = outcome.right
    const name = fileNameFor(input.text, keys.secret)
    const failed = (reason: string) => Records.forInput(Records.fromSaveFailure(input.text, response, reason), input.line, input.key ?? keys.keyOf(input))
    return Either.match(resolveInside(dir, name), {
      onLeft: (reason) => Effect.succeed(failed(reason)),
      onRight: (full) =>
        Output.saveBody(full, response.body).pipe(
          Effect.match({ onFailure: failed, onSuccess: () => recordOf(input, outcome, name) })
        )
    })
  }
  return { recordOf, withBody }
}

/** The records of a run, on their way out; see {@link open}. */
export interface RecordWriter {
  /** The records written so far, counted: what the progress line and the summary show. */
  readonly tally: Tally
  /** The run report `--report` asks for, fed by the gather. */
  readonly report: Report.Tracker | undefined
  /** Writes what stdout shows before the first record (the table's header). */
  readonly begin: Effect.Effect<void, RunFailed | StdoutClosed>
  /**
   * Adds the records of `items` (with `--body-dir`, once their bodies are
   * saved, `concurrency` at a time) to the batch, and writes it if due.
   */
  readonly add: (items: ReadonlyArray<Finished>) => Effect.Effect<void, RunFailed | StdoutClosed>
  /** Writes the batch if it is full or old enough. */
  readonly flushIfDue: Effect.Effect<void, RunFailed | StdoutClosed>
  /** Writes the batch, whatever its size or age. */
  readonly flush: Effect.Effect<void, RunFailed | StdoutClosed>
  /** After the run: the chart (`--format bars`), the summary on stderr (with what `info` says then), and the run report. */
  readonly end: (info: () => Omit<RunInfo, "output">) => Effect.Effect<void>
}

/**
 * Opens what the records are written to: the `--body-dir` directory, then
 * the NDJSON sink (`--out`, appended to when resuming, else stdout when the
 * format is ndjson; a table or a bar chart always goes to stdout), then the
 * run report.
 */
export const open = (config: FetchConfig, keys: Keys): Effect.Effect<RecordWriter, RunFailed, Scope.Scope> =>
  Effect.gen(function*() {
    const format = stdoutFormat(config.format)
    const outFile = Option.getOrUndefined(config.out)
    const bodyDir = Option.isSome(config.bodyDir) ? yield* Output.ensureDirectory(config.bodyDir.value) : undefined
    const records = outFile !== undefined
      ? yield* Output.openFile(outFile, config.resume || config.retryFailed)
      : format.records
      ? Output.stdout
      : undefined
    const file = Option.getOrUndefined(config.file)
    const report = Option.isSome(config.report) ? yield* Report.make({ title: `gather fetch ${file ?? "stdin"}` }) : undefined
    return writer(config, format, { bodyDir, records, report }, recordMaker(keys))
  })

const writer = (
  config: FetchConfig,
  format: StdoutFormat,
  { bodyDir, records, report }: {
    readonly bodyDir: string | undefined
    readonly records: Output.LineSink | undefined
    readonly report: Report.Tracker | undefined
  },
  maker: ReturnType<typeof recordMaker>
): RecordWriter => {
  const tally = new Tally()

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
        format.counted(index, record)
      }
    })
  // Writes the batch, whatever its size, uninterruptibly: taken whole, then
  // written once to each sink, then counted.
  const flush = Effect.uninterruptible(Effect.suspend(() => {
    const taken = unwritten.take()
    if (taken === undefined) return Effect.void
    const toRecords = toSink(taken.lines, taken.records.length)
    const writes = taken.rows === "" ? toRecords : Effect.zipRight(toRecords, Output.stdout.write(taken.rows))
    return Effect.ensuring(writes, count(taken.records))
  }))
  const flushIfDue = Effect.suspend(() => unwritten.isDue(performance.now()) ? flush : Effect.void)

  // The records of a run of finished items, added to the batch: plain data, no Effect per record.
  const emit = (items: ReadonlyArray<Finished>, built: ReadonlyArray<Records.ResultRecord> | undefined) => {
    const now = performance.now()
    for (let i = 0; i < items.length; i++) {
      const item = items[i]!
      const record = built === undefined ? maker.recordOf(item.input, item.outcome) : built[i]!
      unwritten.add({ index: item.index, record }, Records.toLine(record), format.row(record), now)
    }
    return flushIfDue
  }
  const add = (items: ReadonlyArray<Finished>) =>
    bodyDir === undefined ? emit(items, undefined) : Effect.flatMap(
      Effect.forEach(items, (item) => maker.withBody(item.input, item.outcome, bodyDir), { concurrency: config.concurrency }),
      (built) => emit(items, built)
    )

  // `info` is read once the chart is written: the summary's time includes it.
  const end = (info: () => Omit<RunInfo, "output">) =>
    Effect.gen(function*() {
      if (format.end !== undefined) {
        const chart = format.end(tally)
        yield* Effect.ignore(Output.stdout.write(chart.length === 0 ? "" : `${chart.join("\n")}\n`))
      }
      yield* Output.stderrLines(renderSummary(tally, {
        ...info(),
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
            onSuccess: (file) => Output.stderrLines([`report: ${file}`])
          })
        )
      }
    })

  return {
    tally,
    report,
    begin: format.begin === "" ? Effect.void : Output.stdout.write(format.begin),
    add,
    flushIfDue,
    flush,
    end
  }
}
