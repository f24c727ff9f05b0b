/**
 * `@effect/cli` 0.77 only accepts a command's options before its positional
 * arguments (`gather fetch urls.txt -c 64` fails with "Received unknown
 * argument"; fixed upstream by Effect-TS/effect#5983). Users write options
 * anywhere, so the arguments after the subcommand are reordered, options
 * first, before they are parsed.
 */

/** Options that take no value, by every name. Every other option takes one (unless written `--name=value`). */
export const flagNames: ReadonlySet<string> = new Set([
  "--resume",
  "--ordered",
  "--no-wait",
  "--quiet",
  "-q",
  "--help",
  "-h",
  "--version",
  "--wizard"
])

/** The subcommands whose arguments are reordered. */
export const subcommands: ReadonlySet<string> = new Set(["fetch", "serve", "bench"])

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
      positionals.push(...args.slice(i))
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
