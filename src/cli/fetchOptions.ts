/**
 * What `gather fetch` is asked: its flags (the session's from
 * sessionOptions.ts, each in its place in the help), what they parse to,
 * and the checks the parser cannot make, done before anything is opened.
 */
import * as Args from "@effect/cli/Args"
import type * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { resolveProxy } from "../internal/engine/proxy.js"
import { UsageError } from "./errors.js"
import { validated } from "./help.js"
import * as Input from "./input.js"
import * as Output from "./output.js"
import { parseChoice, parseHeaders, parseMethod } from "./parse.js"
import type { Method } from "./parse.js"
import { concurrencyOption, fetchSessionOptions as session, proxySetting, sessionOptions } from "./sessionOptions.js"
import type { CheckedSessionFlags } from "./sessionOptions.js"

/** Output formats of `gather fetch`. */
export const formats = ["ndjson", "table", "bars"] as const

/** Output formats of `gather fetch`. */
export type Format = typeof formats[number]

/** Past this many inputs, `--format bars` shows a latency histogram instead of a bar each. */
export const maxBarRows = 50

/** The flags and the argument of `gather fetch`, in the order of its help. */
export const options = {
  file: Args.text({ name: "FILE" }).pipe(
    Args.withDescription("File with one URL per line; '-' or nothing reads stdin. Blank lines and # comments are skipped."),
    Args.optional
  ),
  concurrency: concurrencyOption({ what: "Requests in flight at once", default: 32 }),
  perOrigin: session.perOrigin,
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

/** Everything `gather fetch` was asked to do, parsed. */
export type FetchConfig = Command.Command.ParseConfig<typeof options>

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
export const preflight = (config: FetchConfig): Effect.Effect<CheckedSessionFlags, UsageError> =>
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
