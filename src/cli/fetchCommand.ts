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
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import * as path from "node:path"
import { Fetch, Gather, Session } from "../index.js"
import { describe, SomeFailed, UsageError } from "./errors.js"
import { helpDoc, nonNegative, positive, validated } from "./help.js"
import * as Input from "./input.js"
import * as Output from "./output.js"
import { parseBytes, parseChoice, parseHeaders, parseLimit, parseMethod, parseRate } from "./parse.js"
import type { Method, Rate } from "./parse.js"
import { renderProgress, showProgress } from "./progress.js"
import * as Records from "./record.js"
import * as Resume from "./resume.js"
import { fileNameFor, resolveInside } from "./safeName.js"
import { formatBytes, formatMs, renderBars, renderHistogram, renderSummary, sentNothing, Tally } from "./summary.js"
import type { Bar } from "./summary.js"

/** Output formats of `gather fetch`. */
export const formats = ["ndjson", "table", "bars"] as const

/** Output formats of `gather fetch`. */
export type Format = typeof formats[number]

/** Everything `gather fetch` was asked to do, parsed. */
export interface FetchConfig {
  readonly file: Option.Option<string>
  readonly concurrency: number
  readonly perHost: Option.Option<number>
  readonly rate: Option.Option<Rate>
  readonly timeout: Option.Option<Duration.Duration | false>
  readonly retries: Option.Option<number>
  readonly header: ReadonlyArray<string>
  readonly method: Method
  readonly out: Option.Option<string>
  readonly resume: boolean
  readonly bodyDir: Option.Option<string>
  readonly maxBody: Option.Option<number | false>
  readonly format: Format
  readonly ordered: boolean
  readonly quiet: boolean
}

/** Past this many inputs, `--format bars` shows a latency histogram instead of a bar each. */
export const maxBarRows = 50

const options = {
  file: Args.text({ name: "FILE" }).pipe(
    Args.withDescription("File with one URL per line; '-' or nothing reads stdin. Blank lines and # comments are skipped."),
    Args.optional
  ),
  concurrency: Options.integer("concurrency").pipe(
    Options.withPseudoName("N"),
    Options.withAlias("c"),
    Options.withDescription("Requests in flight at once (default 32)."),
    validated(positive("concurrency")),
    Options.withDefault(32)
  ),
  perHost: Options.integer("per-host").pipe(
    Options.withPseudoName("N"),
    Options.withDescription("At most this many requests in flight per host (and connections per host)."),
    validated(positive("per-host")),
    Options.optional
  ),
  rate: Options.text("rate").pipe(
    Options.withPseudoName("RATE"),
    Options.withDescription("Requests started per host, e.g. 20/s, 600/m, 5/100ms."),
    validated(parseRate),
    Options.optional
  ),
  timeout: Options.text("timeout").pipe(
    Options.withPseudoName("DURATION"),
    Options.withDescription("Give up on a URL after this long, retries included: 500ms, 5s, 2m, or off (default 3m)."),
    validated(parseLimit),
    Options.optional
  ),
  retries: Options.integer("retries").pipe(
    Options.withPseudoName("N"),
    Options.withDescription("Retries of transient failures (connection errors, timeouts, 429/5xx) per URL; 0 for none (default 2)."),
    validated(nonNegative("retries")),
    Options.optional
  ),
  header: Options.text("header").pipe(
    Options.withPseudoName("'NAME: VALUE'"),
    Options.withAlias("H"),
    Options.withDescription("A request header 'Name: value'; repeat for more."),
    Options.repeated
  ),
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
    Options.withDescription("With --out: skip URLs already in the file (repairing a torn last line) and append.")
  ),
  bodyDir: Options.text("body-dir").pipe(
    Options.withPseudoName("DIR"),
    Options.withDescription("Save each successful body in this directory, under a safe name derived from its URL."),
    Options.optional
  ),
  maxBody: Options.text("max-body").pipe(
    Options.withPseudoName("SIZE"),
    Options.withDescription("Largest body accepted, e.g. 512k, 10MB (binary units), or off (default 32MB)."),
    validated(parseBytes),
    Options.optional
  ),
  format: Options.text("format").pipe(
    Options.withPseudoName(formats.join("|")),
    Options.withDescription(`What stdout shows: the NDJSON records (default), a table, or a bar chart of the times at the end (past ${maxBarRows} inputs, a latency histogram). With table or bars, use --out to keep the records.`),
    validated(parseChoice("format", formats)),
    Options.withDefault<Format>("ndjson")
  ),
  ordered: Options.boolean("ordered").pipe(
    Options.withDescription("Write results in input order (default: as they complete).")
  ),
  quiet: Options.boolean("quiet").pipe(
    Options.withAlias("q"),
    Options.withDescription("No progress line.")
  )
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

const noteOf = (record: Records.ResultRecord): string =>
  record.error !== null && record.error.tag !== "BadStatus" ? record.error.tag : String(record.status)

const sessionOptions = (config: FetchConfig, headers: Readonly<Record<string, string>>): Session.Options => ({
  headers,
  // One connection per request in flight, so `-c` is what reaches one host.
  maxConnectionsPerHost: Option.getOrElse(config.perHost, () => config.concurrency),
  maxInFlightPerHost: Option.getOrUndefined(config.perHost),
  ratePerHost: Option.getOrUndefined(config.rate),
  timeout: Option.match(config.timeout, { onNone: () => undefined, onSome: (total) => ({ total }) }),
  retry: Option.match(config.retries, { onNone: () => undefined, onSome: (n) => (n === 0 ? false : n) }),
  maxBodyBytes: Option.getOrUndefined(config.maxBody)
})

/** Checks what the parser cannot: combinations of options, and that the input exists. */
const preflight = (config: FetchConfig) =>
  Effect.gen(function*() {
    if (config.resume && Option.isNone(config.out)) {
      return yield* new UsageError({ message: "--resume needs --out FILE (the file to resume)" })
    }
    const file = Option.getOrUndefined(config.file)
    if (Option.isSome(config.out) && !Input.isStdin(file) && path.resolve(config.out.value) === path.resolve(file!)) {
      return yield* new UsageError({ message: "--out must not be the input file" })
    }
    yield* Input.checkReadable(file)
    if (Input.isStdin(file) && Output.stdinIsTTY()) yield* Output.printError("reading URLs from stdin, one per line (Ctrl-D to end)")
    const headers = parseHeaders(config.header)
    if (Either.isLeft(headers)) return yield* new UsageError({ message: headers.left })
    return headers.right
  })

const gather = (config: FetchConfig) =>
  Effect.gen(function*() {
    const file = Option.getOrUndefined(config.file)
    const outFile = Option.getOrUndefined(config.out)
    const resumed = config.resume && outFile !== undefined ? yield* Resume.load(outFile) : undefined
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
      ? yield* Output.openFile(outFile, config.resume)
      : config.format === "ndjson"
      ? Output.stdout
      : undefined
    const table = config.format === "table" ? Output.stdout : undefined
    const request = HttpClientRequest.make(config.method)

    const tally = new Tally()
    const bars: Array<Bar & { readonly index: number }> = []
    let started = 0
    let completed = 0
    let skipped = 0
    let total: number | undefined
    const isDone = (input: string) => resumed !== undefined && resumed.done.has(Records.displayUrl(input))

    const save = (input: string, response: Fetch.FetchResponse<Uint8Array>, dir: string) => {
      const name = fileNameFor(input)
      return Either.match(resolveInside(dir, name), {
        onLeft: (reason) => Effect.succeed(Records.fromSaveFailure(input, response, reason)),
        onRight: (full) =>
          Output.saveBody(full, response.body).pipe(
            Effect.match({
              onFailure: (reason) => Records.fromSaveFailure(input, response, reason),
              onSuccess: () => Records.fromResponse(input, response, name)
            })
          )
      })
    }

    const fetchOne = (input: string): Effect.Effect<Records.ResultRecord, never, Session.Session> =>
      Fetch.request(request(input)).pipe(
        Effect.matchEffect({
          onFailure: (error) => Effect.succeed(Records.fromError(input, error)),
          onSuccess: (response) =>
            bodyDir === undefined ? Effect.succeed(Records.fromResponse(input, response)) : save(input, response, bodyDir)
        })
      )

    // Every finished record is kept here until it is written. Ctrl-C
    // interrupts the gather (no new inputs; requests in flight are aborted on
    // their sockets and get no record, so `--resume` fetches them again), then
    // writes what is left here: nothing finished is lost.
    const finished = new Map<number, Records.ResultRecord>()
    const item = (input: string, index: number): Effect.Effect<Records.ResultRecord, never, Session.Session> =>
      Effect.suspend(() => {
        started++
        return Effect.tap(fetchOne(input), (record) => {
          completed++
          finished.set(index, record)
        })
      })

    const source = Stream.filter(Input.inputs(file), (input) => {
      if (!isDone(input)) return true
      skipped++
      return false
    })

    // Synchronous from taking the records to handing the text to the sink,
    // and uninterruptible while the sink writes: a record is written exactly
    // once, by this or by the final flush.
    const write = (indices: ReadonlyArray<number>) =>
      Effect.uninterruptible(Effect.suspend(() => {
        let lines = ""
        let rows = ""
        for (const index of indices) {
          const record = finished.get(index)
          if (record === undefined) continue
          finished.delete(index)
          tally.add(record)
          lines += Records.toLine(record)
          if (table !== undefined) rows += tableRow(record)
          if (config.format === "bars" && bars.length <= maxBarRows) {
            bars.push({ index, label: record.url, ms: record.ms ?? 0, note: noteOf(record) })
          }
        }
        const written = records === undefined || lines === "" ? Effect.void : records.write(lines)
        return table === undefined || rows === "" ? written : Effect.zipRight(written, table.write(rows))
      }))

    if (table !== undefined) yield* table.write(tableHeader)

    const work = Gather.stream(source, item, { concurrency: config.concurrency, ordered: config.ordered }).pipe(
      Stream.runForEachChunk((chunk) => write(Chunk.toReadonlyArray(Chunk.map(chunk, (result) => result.index))))
    )

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
            elapsedMs: performance.now() - startedAt
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
          resumedFrom: outFile,
          interrupted,
          aborted: started - completed
        }))
      })

    // Records finished but not yet written when the gather stopped early.
    const flushRest = Effect.suspend(() => write(Array.from(finished.keys()).sort((a, b) => a - b))).pipe(
      Effect.catchAll((error) => Output.printError(error.message))
    )
    const reportFailure = (exit: Exit.Exit<void, unknown>) =>
      Exit.isFailure(exit) && !Cause.isInterruptedOnly(exit.cause)
        ? Output.printError(describe(Cause.squash(exit.cause)))
        : Effect.void

    const worker = yield* Effect.fork(work)
    const exit = yield* Fiber.await(worker).pipe(
      Effect.onInterrupt(() =>
        Fiber.interrupt(worker).pipe(
          Effect.flatMap(reportFailure),
          Effect.zipRight(flushRest),
          Effect.zipRight(finish(true))
        )
      )
    )
    yield* Effect.uninterruptible(Effect.zipRight(flushRest, finish(false)))
    if (Exit.isFailure(exit)) return yield* Effect.failCause(exit.cause)
    if (tally.failed > 0) return yield* new SomeFailed({ failed: tally.failed })
  })

/** Runs `gather fetch`. */
export const run = (config: FetchConfig) =>
  Effect.flatMap(preflight(config), (headers) =>
    gather(config).pipe(
      Effect.scoped,
      Effect.provide(Session.layer(sessionOptions(config, headers)))
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
      "gather fetch urls.txt -H \"Authorization: Bearer $TOKEN\" --retries 0 --timeout 5s --body-dir bodies/"
    ]
  }))
)
