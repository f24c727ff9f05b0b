/**
 * The inputs of `gather fetch`: one URL per line from a file or stdin, read
 * as a stream of lines (never the whole input in memory). Blank lines and
 * `#` comments are skipped; every other line is an input, valid URL or not.
 */
import * as NodeStream from "@effect/platform-node/NodeStream"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import { describe, RunFailed, UsageError } from "./errors.js"

/** Pure: the input on a line, or `undefined` for a blank line or a comment. */
export const inputOf = (line: string): string | undefined => {
  const text = line.trim()
  return text === "" || text.startsWith("#") ? undefined : text
}

/** `-` (or no file) means stdin. */
export const isStdin = (file: string | undefined): boolean => file === undefined || file === "-"

/** Fails with a usage error unless `file` is stdin or a readable regular file. */
export const checkReadable = (file: string | undefined): Effect.Effect<void, UsageError> =>
  isStdin(file)
    ? Effect.void
    : Effect.tryPromise({
      try: async () => {
        const stat = await fs.promises.stat(file!)
        if (!stat.isFile()) throw new Error("not a file")
        await fs.promises.access(file!, fs.constants.R_OK)
      },
      catch: (error) => new UsageError({ message: `cannot read input ${file}: ${describe(error)}` })
    })

const bytes = (file: string | undefined): Stream.Stream<Uint8Array, RunFailed> =>
  isStdin(file)
    ? NodeStream.fromReadable(
      () => process.stdin,
      (error) => new RunFailed({ message: `cannot read stdin: ${describe(error)}` }),
      { closeOnDone: false }
    )
    : NodeStream.fromReadable(
      () => fs.createReadStream(file!),
      (error) => new RunFailed({ message: `cannot read ${file}: ${describe(error)}` })
    )

/** The raw lines of a file or stdin. */
export const lines = (file: string | undefined): Stream.Stream<string, RunFailed> => bytes(file).pipe(Stream.decodeText(), Stream.splitLines)

/** One input and the line it is on (1-based, blank lines and comments counted). */
export interface Input {
  readonly line: number
  readonly text: string
}

/** The inputs: trimmed lines that are neither blank nor comments, with their line numbers. */
export const inputs = (file: string | undefined): Stream.Stream<Input, RunFailed> =>
  Stream.suspend(() => {
    // A chunk of lines at a time: no index tuple and no Options per line,
    // only the inputs themselves (one object per line less for the GC).
    let line = 0
    return Stream.mapChunks(lines(file), (chunk) => {
      const out: Array<Input> = []
      for (const raw of chunk) {
        line++
        const text = inputOf(raw)
        if (text !== undefined) out.push({ line, text })
      }
      return Chunk.unsafeFromArray(out)
    })
  })

/**
 * Counts the inputs of a file that `keep` accepts by reading it once more
 * (for the progress line's total); `undefined` for stdin.
 */
export const count = (file: string | undefined, keep: (input: Input) => boolean): Effect.Effect<number | undefined, RunFailed> =>
  isStdin(file)
    ? Effect.succeed(undefined)
    : Stream.runFold(inputs(file), 0, (n, input) => keep(input) ? n + 1 : n)
