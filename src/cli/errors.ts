/**
 * How the `gather` commands end when they do not simply succeed. Each maps to
 * an exit code in `main.ts`: {@link UsageError} → 2, {@link RunFailed} → 1,
 * {@link SomeFailed} → 1, {@link StdoutClosed} → 141; an interruption → 130.
 */
import * as Data from "effect/Data"

/** The command line asks for something that cannot work (exit code 2). */
export class UsageError extends Data.TaggedError("UsageError")<{
  readonly message: string
}> {}

/** The run itself failed: output not writable, input not readable (exit code 1). */
export class RunFailed extends Data.TaggedError("RunFailed")<{
  readonly message: string
}> {}

/** The run finished but some inputs failed (exit code 1); everything was already reported. */
export class SomeFailed extends Data.TaggedError("SomeFailed")<{
  readonly failed: number
}> {}

/**
 * Whoever read stdout has gone (`gather fetch urls.txt | head -1`): the run
 * stops quietly, as Unix tools do on SIGPIPE (exit code 141 = 128 + 13).
 */
export class StdoutClosed extends Data.TaggedError("StdoutClosed")<{
  readonly message: string
}> {}

/** The exit codes, as documented in every command's help. */
export const exitCodes = {
  ok: 0,
  someFailed: 1,
  usage: 2,
  interrupted: 130,
  stdoutClosed: 141
} as const

/** The message of an unknown error value. */
export const describe = (error: unknown): string =>
  error instanceof Error ? error.message : typeof error === "object" && error !== null && "message" in error
    ? String((error as { message: unknown }).message)
    : String(error)
