/**
 * `--resume`: which inputs an earlier run already wrote to the output file,
 * and repairing that file when the run was killed mid-line.
 *
 * Lines are always written whole, but a process killed with SIGKILL (or a
 * full disk) can still leave a torn last line. Everything after the last
 * newline is checked: a complete record gets its newline back, anything else
 * is cut off, so the file is valid NDJSON before new lines are appended.
 */
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import * as readline from "node:readline"
import { parseLine } from "../internal/record.js"
import { describe, RunFailed } from "./errors.js"

/** What to do with the bytes after the last newline. */
export type TailRepair = "none" | "terminate" | "truncate"

/** Tails larger than this are never a record we wrote; they are cut without parsing. */
export const maxTailBytes = 1024 * 1024

/** Pure: how to repair a file whose text after its last newline is `tail`. */
export const tailRepair = (tail: string): TailRepair => tail === "" ? "none" : parseLine(tail) !== undefined ? "terminate" : "truncate"

/** The latest record of one input line. */
export interface LineState {
  readonly key: string
  readonly ok: boolean
}

/** What an earlier run recorded and what was done to the file. */
export interface ResumeState {
  /** The `url` field of every valid record (for display; never a resume key). */
  readonly done: ReadonlySet<string>
  /** Per input line, its latest record's key and outcome. */
  readonly lines: ReadonlyMap<number, LineState>
  /** Valid records read. */
  readonly records: number
  /** Records without a line number and key (older files): never counted as done. */
  readonly unkeyed: number
  /** Lines that were not records (left in place, not counted as done). */
  readonly invalid: number
  readonly repair: TailRepair
}

type MutableState = {
  done: Set<string>
  lines: Map<number, LineState>
  records: number
  unkeyed: number
  invalid: number
}

const emptyState = (): MutableState => ({ done: new Set(), lines: new Map(), records: 0, unkeyed: 0, invalid: 0 })

/** A fold step over the lines of a results file: a later record of a line replaces an earlier one. */
export const addLine = (state: MutableState, line: string): void => {
  if (line.trim() === "") return
  const record = parseLine(line)
  if (record === undefined) state.invalid++
  else {
    state.records++
    state.done.add(record.url)
    if (record.line === undefined || record.key === undefined) state.unkeyed++
    else state.lines.set(record.line, { key: record.key, ok: record.ok })
  }
}

/**
 * Pure: whether the input on `line` with resume key `key` is already done:
 * its latest record has the same key (the same input: a changed file does
 * not match) and succeeded, or failed and `retryFailed` is off.
 */
export const isDone = (state: ResumeState, line: number, key: string, retryFailed: boolean): boolean => {
  const found = state.lines.get(line)
  return found !== undefined && found.key === key && (found.ok || !retryFailed)
}

const blockSize = 64 * 1024

/** Offset just after the last `\n` of the file (0 when it has none). */
const endOfLastLine = async (handle: fs.promises.FileHandle, size: number): Promise<number> => {
  const buffer = Buffer.alloc(blockSize)
  let end = size
  while (end > 0) {
    const start = Math.max(0, end - blockSize)
    const { bytesRead } = await handle.read(buffer, 0, end - start, start)
    const at = buffer.subarray(0, bytesRead).lastIndexOf(10)
    if (at >= 0) return start + at + 1
    end = start
  }
  return 0
}

/** Repairs the tail of the file in place; returns how, and where the complete lines end. */
const repairFile = async (path: string): Promise<{ readonly repair: TailRepair; readonly goodLength: number }> => {
  const handle = await fs.promises.open(path, "r+")
  try {
    const { size } = await handle.stat()
    const goodLength = await endOfLastLine(handle, size)
    const tailLength = size - goodLength
    if (tailLength === 0) return { repair: "none", goodLength }
    let repair: TailRepair = "truncate"
    if (tailLength <= maxTailBytes) {
      const tail = Buffer.alloc(tailLength)
      await handle.read(tail, 0, tailLength, goodLength)
      repair = tailRepair(tail.toString("utf8"))
    }
    if (repair === "terminate") {
      await handle.write("\n", size)
      return { repair, goodLength: size + 1 }
    }
    await handle.truncate(goodLength)
    return { repair, goodLength }
  } finally {
    await handle.close()
  }
}

const lines = (path: string, length: number): Stream.Stream<string, RunFailed> =>
  length === 0
    ? Stream.empty
    : Stream.fromAsyncIterable(
      readline.createInterface({
        input: fs.createReadStream(path, { start: 0, end: length - 1 }),
        crlfDelay: Number.POSITIVE_INFINITY
      }),
      (error) => new RunFailed({ message: `cannot read ${path}: ${describe(error)}` })
    )

/**
 * Reads an earlier run's output: repairs a torn last line, then streams the
 * lines (never the whole file in memory) and collects their URLs. A missing
 * file is an empty state.
 */
export const load = (path: string): Effect.Effect<ResumeState, RunFailed> =>
  Effect.gen(function*() {
    const exists = yield* Effect.promise(() => fs.promises.stat(path).then((s) => s.isFile(), () => false))
    if (!exists) return { ...emptyState(), repair: "none" } satisfies ResumeState
    const { goodLength, repair } = yield* Effect.tryPromise({
      try: () => repairFile(path),
      catch: (error) => new RunFailed({ message: `cannot repair ${path}: ${describe(error)}` })
    })
    const state = emptyState()
    yield* Stream.runForEach(lines(path, goodLength), (line) => Effect.sync(() => addLine(state, line)))
    return { ...state, repair } satisfies ResumeState
  })
