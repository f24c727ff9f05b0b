/**
 * The inputs of `gather fetch`: the input lines still to fetch (with
 * `--resume`, those the output file has no record of yet), their keys, and
 * the handing over of the lines to the gather a batch at a time.
 */
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import type { RunFailed } from "./errors.js"
import type { FetchConfig } from "./fetchOptions.js"
import * as Input from "./input.js"
import * as InputKey from "./inputKey.js"
import * as Output from "./output.js"
import * as Resume from "./resume.js"

/** An input line, with its resume key when it was needed before the fetch (resuming). */
export interface Keyed extends Input.Input {
  readonly key?: string | undefined
}

/** The inputs of a run and their keys; see {@link open}. */
export interface Inputs {
  /** The secret of the keys (beside the output file, or new), which also derives the names of saved bodies. */
  readonly secret: InputKey.Secret
  /** The key of an input: its resume key, in its record. */
  readonly keyOf: (input: Input.Input) => string
  /**
   * Every input line not done yet, each its own input: duplicate lines are
   * fetched and recorded once each (their records share a key, not a line).
   */
  readonly pending: Stream.Stream<Keyed, RunFailed>
  /** Counts the inputs of `pending` by reading the file once more (for the progress line); `undefined` for stdin. */
  readonly count: Effect.Effect<number | undefined, RunFailed>
  /** Inputs `pending` skipped so far: recorded already (`--resume`). */
  readonly skipped: () => number
  /** Inputs `pending` gave again so far: their latest record failed (`--retry-failed`). */
  readonly retried: () => number
}

/** What resuming the output file found, said on stderr. */
const warn = (outFile: string, resumed: Resume.ResumeState, keyCreated: boolean): Effect.Effect<void> =>
  Effect.gen(function*() {
    if (resumed.records > 0 && keyCreated) {
      yield* Output.printError(`${InputKey.keyFileOf(outFile)} was missing: no record can be matched, every input is fetched again`)
    } else if (resumed.unkeyed > 0) {
      yield* Output.printError(`${outFile}: ${resumed.unkeyed} record(s) without a line number and key (an older gather) are not skipped`)
    }
    if (resumed.repair !== "none") {
      yield* Output.printError(
        resumed.repair === "truncate"
          ? `${outFile}: removed a torn last line left by an interrupted run`
          : `${outFile}: completed the last line left by an interrupted run`
      )
    }
  })

/**
 * Reads what the output file already holds when resuming (repairing a torn
 * last line) and the secret of its keys, and gives the inputs still to fetch.
 */
export const open = (config: FetchConfig): Effect.Effect<Inputs, RunFailed> =>
  Effect.gen(function*() {
    const file = Option.getOrUndefined(config.file)
    const outFile = Option.getOrUndefined(config.out)
    const resumed = (config.resume || config.retryFailed) && outFile !== undefined ? yield* Resume.load(outFile) : undefined
    // The secret of the resume keys, kept beside the output file.
    const key = outFile === undefined ? { secret: InputKey.fresh(), created: true } : yield* InputKey.forOutput(outFile)
    if (resumed !== undefined) yield* warn(outFile!, resumed, key.created)
    const hashKey = InputKey.keyer(key.secret, config.method)
    const keyOf = (input: Input.Input): string => hashKey(input.text)
    let skipped = 0
    let retried = 0
    // The key decides what is done only when resuming; otherwise it is
    // computed once per input, when its record is built.
    const pending: Stream.Stream<Keyed, RunFailed> = resumed === undefined
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
    const isDone = (input: Input.Input) => resumed !== undefined && Resume.isDone(resumed, input.line, keyOf(input), config.retryFailed)
    return {
      secret: key.secret,
      keyOf,
      pending,
      count: Input.count(file, (input) => !isDone(input)),
      skipped: () => skipped,
      retried: () => retried
    }
  })

/**
 * Gather.stream's buffer of inputs from a Stream (`bufferSize` inputs)
 * wakes the fiber that fills it each time an input is taken while it is
 * full, which in a steady run is every input: a fiber step per request
 * (about a fifth of the CLI's CPU, measured in bench S4). So inputs are
 * handed over a batch at a time, each once the gather has taken enough
 * that the batch fits with one slot to spare: that buffer never fills,
 * and this waits once per batch instead.
 */
export class Handover {
  /** Inputs the gather has taken: each one's fetch has started. */
  started = 0
  /** The size of the gather's buffer of inputs. */
  readonly bufferSize: number
  private readonly batch: number
  private handedOver = 0
  private waiting: { readonly until: number; readonly resume: () => void } | undefined

  constructor(concurrency: number) {
    this.bufferSize = 2 * concurrency
    this.batch = Math.max(1, Math.floor(concurrency / 2))
  }

  /** `inputs`, handed over a batch at a time. */
  source<A, E, R>(inputs: Stream.Stream<A, E, R>): Stream.Stream<A, E, R> {
    return Stream.mapChunksEffect(Stream.rechunk(inputs, this.batch), (chunk) => {
      const before = this.handedOver
      this.handedOver += Chunk.size(chunk)
      return Effect.as(this.takenUpTo(before + Chunk.size(chunk) - this.bufferSize + 1), chunk)
    })
  }

  /** Called as the gather takes an input (starts its fetch): lets the next batch go once it fits. */
  take(): void {
    this.started++
    const waiting = this.waiting
    if (waiting !== undefined && this.started >= waiting.until) {
      this.waiting = undefined
      waiting.resume()
    }
  }

  private takenUpTo(until: number): Effect.Effect<void> {
    return this.started >= until ? Effect.void : Effect.async<void>((resume) => {
      this.waiting = { until, resume: () => resume(Effect.void) }
      return Effect.sync(() => (this.waiting = undefined))
    })
  }
}
