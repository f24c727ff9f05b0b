/**
 * `@effect/cli` 0.77 only accepts a command's options before its positional
 * arguments (`gather fetch urls.txt -c 64` fails with "Received unknown
 * argument"; fixed upstream by Effect-TS/effect#5983). Users write options
 * anywhere, so the arguments after the subcommand are reordered, options
 * first, before they are parsed.
 */
import * as Command from "@effect/cli/Command"
import type * as Usage from "@effect/cli/Usage"
import * as Option from "effect/Option"
import * as bench from "./benchCommand.js"
import * as cluster from "./clusterCommand.js"
import * as fetch from "./fetchCommand.js"
import * as serve from "./serveCommand.js"

/** `@effect/cli`'s built-in options that take no value (they are in no command's usage). */
export const builtInFlags: ReadonlyArray<string> = ["--help", "-h", "--version", "--wizard"]

/**
 * Pure: every name of every option in `usage` that takes no value (a named
 * usage with no accepted values; command names and positional arguments do
 * not start with `-`).
 */
export const flagNamesOf = (usage: Usage.Usage): Array<string> => {
  switch (usage._tag) {
    case "Empty":
    case "Mixed":
      return []
    case "Named":
      return Option.isNone(usage.acceptedValues) ? usage.names.filter((name) => name.startsWith("-")) : []
    case "Optional":
    case "Repeated":
      return flagNamesOf(usage.usage)
    case "Alternation":
    case "Concat":
      return [...flagNamesOf(usage.left), ...flagNamesOf(usage.right)]
  }
}

const usages = [
  Command.getUsage(fetch.command),
  Command.getUsage(serve.command),
  Command.getUsage(bench.command),
  Command.getUsage(cluster.command)
]

/**
 * Options that take no value, by every name, read from the commands'
 * definitions (so a new flag cannot be missed here). Every other option takes
 * one (unless written `--name=value`).
 */
export const flagNames: ReadonlySet<string> = new Set([
  ...builtInFlags,
  ...usages.flatMap(flagNamesOf)
])

/** The subcommands whose arguments are reordered. */
export const subcommands: ReadonlySet<string> = new Set([
  ...Command.getNames(fetch.command),
  ...Command.getNames(serve.command),
  ...Command.getNames(bench.command)
])

const isOption = (arg: string): boolean => arg.startsWith("-") && arg !== "-"

/**
 * Pure: the same arguments with, after the subcommand, every option (and its
 * value) before the positional arguments; relative order is kept within
 * each group. After `--` nothing is moved.
 */
export const optionsFirst = (args: ReadonlyArray<string>): Array<string> => {
  const at = args.findIndex((arg) => subcommands.has(arg))
  if (at < 0) return [...args]
  const options: Array<string> = []
  const positionals: Array<string> = []
  let i = at + 1
  while (i < args.length) {
    const arg = args[i]!
    if (arg === "--") {
      for (const rest of args.slice(i)) positionals.push(rest)
      break
    }
    if (!isOption(arg)) {
      positionals.push(arg)
      i++
      continue
    }
    options.push(arg)
    const takesValue = !flagNames.has(arg) && !arg.includes("=")
    if (takesValue && i + 1 < args.length) {
      options.push(args[i + 1]!)
      i += 2
    } else {
      i++
    }
  }
  return [...args.slice(0, at + 1), ...options, ...positionals]
}
