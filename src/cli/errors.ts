/**
 * How the `gather` commands end when they do not simply succeed. Each maps to
 * an exit code in `main.ts`: {@link UsageError} → 2, {@link RunFailed} → 1,
 * {@link SomeFailed} → 1; an interruption → 130.
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

/** The exit codes, as documented in every command's help. */
export const exitCodes = {
  ok: 0,
  someFailed: 1,
  usage: 2,
  interrupted: 130
} as const

/** The message of an unknown error value. */
export const describe = (error: unknown): string =>
  error instanceof Error ? error.message : typeof error === "object" && error !== null && "message" in error
    ? String((error as { message: unknown }).message)
    : String(error)
