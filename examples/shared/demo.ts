/**
 * What the examples share and the library does not need: two tiny
 * command-line readers and the choice between the embedded DemoServer and a
 * server given with `--base-url`.
 */
import type { ServeError } from "@effect/platform/HttpServerError"
import { Duration, Effect, Either, Option } from "effect"
import type { Scope } from "effect"
import * as DemoServer from "effect-gather/DemoServer"
// The command line's own duration parser, so an example takes what `gather` takes.
import { durationFlag } from "../../src/cli/parse.js"

/** The value of `--name value` or `--name=value`, if given. */
export const arg = (name: string): string | undefined => {
  const argv = process.argv.slice(2)
  for (const [i, word] of argv.entries()) {
    if (word === `--${name}`) return argv[i + 1]
    if (word.startsWith(`--${name}=`)) return word.slice(name.length + 3)
  }
  return undefined
}

/**
 * The duration given with `--name` (`20ms`, `20 millis`, `1.5s`, `2 minutes`,
 * a bare number of seconds), or `fallback`. Anything else ends the program
 * with one line naming the flag (exit code 2), before it starts anything.
 */
export const durationArg = (name: string, fallback: Duration.DurationInput): Duration.Duration => {
  const raw = arg(name)
  if (raw === undefined) return Duration.decode(fallback)
  return Either.getOrElse(durationFlag(name)(raw), (message) => {
    process.stderr.write(`${message}\n`)
    return process.exit(2)
  })
}

/** Whether the switch `--name` is on the command line. */
export const flag = (name: string): boolean => process.argv.slice(2).includes(`--${name}`)

/** Where an example sends its requests. */
export interface Target {
  readonly baseUrl: string
  /** The embedded server and its counters; `None` with `--base-url`. */
  readonly demo: Option.Option<DemoServer.DemoServer>
}

/**
 * The URL given with `--base-url`, or else a DemoServer started in the
 * current scope (and stopped when the scope closes).
 */
export const target = (options?: DemoServer.DemoServerOptions): Effect.Effect<Target, ServeError, Scope.Scope> => {
  const baseUrl = arg("base-url")
  return baseUrl === undefined
    ? Effect.map(DemoServer.make(options), (demo) => ({ baseUrl: demo.baseUrl, demo: Option.some(demo) }))
    : Effect.succeed({ baseUrl: baseUrl.replace(/\/+$/, ""), demo: Option.none() })
}
