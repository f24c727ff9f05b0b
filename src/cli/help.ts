/**
 * Help text and option validation shared by the `gather` commands.
 */
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Options from "@effect/cli/Options"
import * as ValidationError from "@effect/cli/ValidationError"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"

/** The exit codes, as every command's help states them. */
export const exitCodesText = [
  "0    every input succeeded",
  "1    some inputs failed (or the run itself failed)",
  "2    usage error (bad option, unreadable input)",
  "130  interrupted (Ctrl-C / SIGTERM)",
  "141  stdout closed by its reader (e.g. | head)"
]

/** A command's description: what it does, more detail, examples and the exit codes. */
export const helpDoc = (doc: {
  readonly summary: string
  readonly details?: ReadonlyArray<string> | undefined
  readonly examples: ReadonlyArray<string>
}): HelpDoc.HelpDoc =>
  HelpDoc.blocks([
    HelpDoc.p(doc.summary),
    ...(doc.details ?? []).map((text) => HelpDoc.p(text)),
    HelpDoc.p(["Examples:", ...doc.examples.map((example) => `  $ ${example}`)].join("\n")),
    HelpDoc.p(["Exit codes:", ...exitCodesText.map((line) => `  ${line}`)].join("\n"))
  ])

/** A whole number of at least 1 for option `--name`. */
export const positive = (name: string) => (n: number): Either.Either<number, string> =>
  n >= 1 ? Either.right(n) : Either.left(`--${name} must be at least 1, got ${n}`)

/** A whole number of 0 or more for option `--name`. */
export const nonNegative = (name: string) => (n: number): Either.Either<number, string> =>
  n >= 0 ? Either.right(n) : Either.left(`--${name} must be 0 or more, got ${n}`)

/** Parses an option's value with a pure parser; its message becomes a usage error (exit code 2). */
export const validated = <A, B>(parse: (a: A) => Either.Either<B, string>) => (self: Options.Options<A>): Options.Options<B> =>
  Options.mapEffect(self, (a) =>
    Either.match(parse(a), {
      onLeft: (message) => Effect.fail(ValidationError.invalidValue(HelpDoc.p(message))),
      onRight: Effect.succeed
    }))
