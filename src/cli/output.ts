/**
 * The output layer of the `gather` command line: the only module that
 * writes to stdout, stderr and output files. Every write is one whole string
 * (a record line, a chunk of them, a summary), so a reader never sees a torn
 * line, and file writes are synchronous, so what was reported as written is
 * in the file when the process exits.
 */
import type * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, RunFailed, StdoutClosed } from "./errors.js"

/** Where record lines (or table rows) go. */
export interface LineSink {
  /** Writes whole lines (each ending in `\n`) at once. */
  readonly write: (text: string) => Effect.Effect<void, RunFailed | StdoutClosed>
  readonly description: string
}

// The reader of a pipe went away: EPIPE, or a stream already destroyed by it.
const closedCodes: ReadonlySet<string> = new Set(["EPIPE", "ERR_STREAM_DESTROYED", "ERR_STREAM_WRITE_AFTER_END"])

const writeTo = (stream: NodeJS.WriteStream, name: string) => (text: string): Effect.Effect<void, RunFailed | StdoutClosed> =>
  text === ""
    ? Effect.void
    : Effect.async<void, RunFailed | StdoutClosed>((resume) => {
      if (stream.destroyed) return resume(Effect.fail(new StdoutClosed({ message: `${name} closed` })))
      // The callback is the backpressure: the next chunk waits for this one.
      stream.write(text, (error) => {
        if (error == null) return resume(Effect.void)
        const code = (error as NodeJS.ErrnoException).code
        resume(Effect.fail(
          code !== undefined && closedCodes.has(code)
            ? new StdoutClosed({ message: `${name} closed` })
            : new RunFailed({ message: `cannot write to ${name}: ${describe(error)}` })
        ))
      })
    })

/**
 * Without a listener, a write error on stdout or stderr (EPIPE once the
 * reader has gone) is thrown as an uncaught exception with a stack trace.
 * The failed write's callback reports it instead; these listeners only keep
 * the process alive.
 */
const ignore = (): void => undefined

export const guardStdio = (): void => {
  for (const stream of [process.stdout, process.stderr]) stream.on("error", ignore)
}

/** Standard output. */
export const stdout: LineSink = { write: writeTo(process.stdout, "stdout"), description: "stdout" }

/** Writes text to stderr; errors writing to stderr are ignored (there is nowhere to report them). */
export const stderr = (text: string): Effect.Effect<void> => Effect.ignore(writeTo(process.stderr, "stderr")(text))

/** Writes lines to stderr. */
export const stderrLines = (lines: ReadonlyArray<string>): Effect.Effect<void> => lines.length === 0 ? Effect.void : stderr(`${lines.join("\n")}\n`)

/** Prints `gather: message` on stderr. */
export const printError = (message: string): Effect.Effect<void> => stderr(`gather: ${message}\n`)

/** Whether stderr is a terminal (the progress line is drawn only then). */
export const stderrIsTTY = (): boolean => process.stderr.isTTY === true

/** Whether stdin is a terminal (someone would have to type the URLs). */
export const stdinIsTTY = (): boolean => process.stdin.isTTY === true

/**
 * Whether colour and other escapes may go to `stream`: it is a terminal and
 * `NO_COLOR` is unset or empty (https://no-color.org).
 */
export const colorFor = (
  stream: { readonly isTTY?: boolean | undefined },
  env: Readonly<Record<string, string | undefined>> = process.env
): boolean => stream.isTTY === true && (env["NO_COLOR"] ?? "") === ""

// eslint-disable-next-line no-control-regex
const ansiEscape = /\x1b\[[0-9;]*[A-Za-z]/g

/** Pure: `text` without ANSI escape sequences. */
export const stripAnsi = (text: string): string => text.replace(ansiEscape, "")

/**
 * The type notes `@effect/cli` adds to every option of a help page; each
 * option's own description already says what it takes and its default.
 */
const boilerplate: ReadonlyArray<RegExp> = [
  /^A user-defined piece of text\.$/,
  /^An integer\.$/,
  /^A true or false value\.$/,
  /^A floating point number\.$/,
  /^This setting is optional\.( Defaults to: .*)?$/,
  /^One of the following: .*$/
]

/**
 * Pure: text `@effect/cli` prints (help pages, usage errors) as `gather`
 * shows it: without the type notes above (and the blank line after each),
 * the usage line naming the program, and with no escapes unless `color`.
 */
export const cleanCliText = (text: string, color: boolean): string => {
  const lines = text.split("\n")
  const kept: Array<string> = []
  for (let i = 0; i < lines.length; i++) {
    const plain = stripAnsi(lines[i]!)
    if (boilerplate.some((re) => re.test(plain.trim()))) {
      if (lines[i + 1]?.trim() === "") i++
      continue
    }
    const line = color ? lines[i]! : plain
    kept.push(/^\$ (fetch|serve|bench)\b/.test(plain) ? line.replace("$ ", "$ gather ") : line)
  }
  return kept.join("\n")
}

/**
 * The `Console` `@effect/cli` prints through, with its text cleaned
 * ({@link cleanCliText}): `log` for stdout, `error` for stderr, each with
 * colour only when that stream allows it ({@link colorFor}).
 */
export const cliConsole = (base: Console.Console): Console.Console => {
  const clean = (color: boolean) => (args: ReadonlyArray<unknown>) => args.map((arg) => (typeof arg === "string" ? cleanCliText(arg, color) : arg))
  return {
    ...base,
    log: (...args) => Effect.suspend(() => base.log(...clean(colorFor(process.stdout))(args))),
    error: (...args) => Effect.suspend(() => base.error(...clean(colorFor(process.stderr))(args)))
  }
}

/** The terminal's width, 80 when unknown. */
export const stderrColumns = (): number => process.stderr.columns || 80

/** A single status line redrawn in place on stderr (a TTY). */
export interface StatusLine {
  readonly draw: (text: string) => void
  readonly clear: () => void
}

/** The status line; drawing is synchronous and cheap (one write per redraw). */
export const statusLine = (): StatusLine => {
  let shown = false
  return {
    draw: (text) => {
      process.stderr.write(`\r\x1b[2K${text}`)
      shown = true
    },
    clear: () => {
      if (shown) process.stderr.write("\r\x1b[2K")
      shown = false
    }
  }
}

/**
 * A file opened for the run (truncated, or appended to with `append`),
 * written synchronously and closed when the scope ends.
 */
export const openFile = (file: string, append: boolean): Effect.Effect<LineSink, RunFailed, Scope.Scope> =>
  Effect.map(
    Effect.acquireRelease(
      Effect.try({
        try: () => fs.openSync(file, append ? "a" : "w"),
        catch: (error) => new RunFailed({ message: `cannot open ${file}: ${describe(error)}` })
      }),
      (fd) => Effect.sync(() => fs.closeSync(fd))
    ),
    (fd): LineSink => ({
      description: file,
      write: (text) =>
        Effect.try({
          try: () => {
            const buffer = Buffer.from(text, "utf8")
            let offset = 0
            while (offset < buffer.length) offset += fs.writeSync(fd, buffer, offset)
          },
          catch: (error) => new RunFailed({ message: `cannot write to ${file}: ${describe(error)}` })
        })
    })
  )

/** Creates `dir` (and its parents) for `--body-dir`. */
export const ensureDirectory = (dir: string): Effect.Effect<string, RunFailed> =>
  Effect.try({
    try: () => {
      const full = path.resolve(dir)
      fs.mkdirSync(full, { recursive: true })
      return full
    },
    catch: (error) => new RunFailed({ message: `cannot create ${dir}: ${describe(error)}` })
  })

// O_NOFOLLOW: a symlink planted in the directory cannot redirect a body elsewhere.
const bodyFlags = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_TRUNC | (fs.constants.O_NOFOLLOW ?? 0)

/** Writes a body to a path already checked to lie inside the body directory; fails with the reason. */
export const saveBody = (file: string, body: Uint8Array): Effect.Effect<void, string> =>
  Effect.tryPromise({
    try: () => fs.promises.writeFile(file, body, { flag: bodyFlags }),
    catch: describe
  })
