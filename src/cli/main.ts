/**
 * The `gather` command line: the root command, its subcommands, and how a
 * run's end becomes an exit code.
 */
import * as CliConfig from "@effect/cli/CliConfig"
import * as Command from "@effect/cli/Command"
import * as ValidationError from "@effect/cli/ValidationError"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import { version } from "../internal/version.js"
import { optionsFirst } from "./argv.js"
import * as bench from "./benchCommand.js"
import * as cluster from "./clusterCommand.js"
import { exitCodes, RunFailed, SomeFailed, StdoutClosed, UsageError } from "./errors.js"
import * as fetch from "./fetchCommand.js"
import { helpDoc } from "./help.js"
import * as Output from "./output.js"
import * as serve from "./serveCommand.js"

const root = Command.make("gather", {}, () => Effect.fail(new UsageError({ message: "missing command: fetch, serve, bench or cluster" }))).pipe(
  Command.withDescription(helpDoc({
    summary: "Fetch many URLs at once, safely and fast. Commands: fetch, serve, bench, cluster (each has --help).",
    examples: [
      "gather serve --port 8080 &",
      "seq 1 151 | sed 's#^#http://127.0.0.1:8080/api/v2/pokemon/#' | gather fetch - -c 32 > out.ndjson",
      "gather bench -n 20 -c 10"
    ]
  })),
  Command.withSubcommands([fetch.command, serve.command, bench.command, cluster.command])
)

const cli = Command.run(root, { name: "gather", version })

/** Pure: the exit code of a finished run. */
export const exitCodeOf = (exit: Exit.Exit<unknown, unknown>): number => {
  if (Exit.isSuccess(exit)) return exitCodes.ok
  if (Cause.isInterruptedOnly(exit.cause)) return exitCodes.interrupted
  const failure = Cause.failureOption(exit.cause)
  if (Option.isSome(failure)) {
    const error = failure.value
    if (ValidationError.isValidationError(error)) return exitCodes.usage
    if (error instanceof UsageError) return exitCodes.usage
    if (error instanceof StdoutClosed) return exitCodes.stdoutClosed
  }
  return exitCodes.someFailed
}

const report = (cause: Cause.Cause<unknown>): Effect.Effect<void> => {
  if (Cause.isInterruptedOnly(cause)) return Effect.void
  const failure = Cause.failureOption(cause)
  if (Option.isNone(failure)) return Output.printError(`internal error\n${Cause.pretty(cause)}`)
  const error = failure.value
  // @effect/cli has already printed what was wrong with the arguments.
  if (ValidationError.isValidationError(error)) return Effect.void
  if (error instanceof UsageError) return Output.printError(`${error.message} (see --help)`)
  if (error instanceof RunFailed) return Output.printError(error.message)
  if (error instanceof SomeFailed) return Effect.void // the summary said it
  if (error instanceof StdoutClosed) return Effect.void // the reader went away: end quietly
  return Output.printError(Cause.pretty(cause))
}

/**
 * The whole program for `process.argv` (runtime and script first); reports
 * errors on stderr and fails as the run failed.
 */
export const main = (argv: ReadonlyArray<string>) =>
  Effect.consoleWith((console) =>
    cli([...argv.slice(0, 2), ...optionsFirst(argv.slice(2))]).pipe(
      Effect.tapErrorCause(report),
      // -H and -h, -X and -x are different options.
      Effect.provide(CliConfig.layer({ isCaseSensitive: true })),
      // Help and usage errors without escapes off a terminal or with NO_COLOR.
      Effect.withConsole(Output.cliConsole(console))
    )
  )
