/**
 * Pure parsers for option values of the `gather` command line: durations,
 * rates, byte sizes, headers and methods. Each returns an `Either` whose
 * left side is a message fit for the user.
 */
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import { parseRateText } from "../internal/policy/rate.js"

const compactUnits: Readonly<Record<string, number>> = {
  ms: 1,
  millis: 1,
  s: 1_000,
  sec: 1_000,
  secs: 1_000,
  second: 1_000,
  seconds: 1_000,
  m: 60_000,
  min: 60_000,
  mins: 60_000,
  minute: 60_000,
  minutes: 60_000,
  h: 3_600_000,
  hour: 3_600_000,
  hours: 3_600_000
}

const durationPattern = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i

/** What a refused duration message suggests. */
const durationHint = "try 20ms, 20 millis, 1.5s, 2 minutes"

const durationOf = (input: string, hint: string): Either.Either<Duration.Duration, string> => {
  const text = input.trim()
  const match = durationPattern.exec(text)
  if (match !== null) {
    const value = Number(match[1])
    const unit = match[2]!.toLowerCase()
    const factor = unit === "" ? 1_000 : compactUnits[unit]
    if (factor !== undefined && Number.isFinite(value * factor)) return Either.right(Duration.millis(value * factor))
  }
  const decoded = Duration.decodeUnknown(text)
  if (decoded._tag === "Some" && Duration.isFinite(decoded.value)) return Either.right(decoded.value)
  return Either.left(`invalid duration ${JSON.stringify(input)} (${hint})`)
}

/**
 * A duration: `20ms`, `20 millis`, `1.5s`, `2m`, `2 minutes`, `1h`, or a bare
 * number of seconds (`5`). The one parser of every duration flag of the
 * command line and of the examples (through {@link durationFlag}).
 */
export const parseDuration = (input: string): Either.Either<Duration.Duration, string> => durationOf(input, durationHint)

/** A time limit: a duration, or `off` / `0` for none. */
export const parseLimit = (input: string): Either.Either<Duration.Duration | false, string> => {
  const text = input.trim().toLowerCase()
  if (text === "off" || text === "none" || text === "0") return Either.right(false)
  return durationOf(input, `${durationHint}, or off`)
}

/** `parse`, with a message that names the flag `--name`. */
const naming = <A>(parse: (input: string) => Either.Either<A, string>) => (name: string) => (input: string): Either.Either<A, string> =>
  Either.mapLeft(parse(input), (message) => `--${name}: ${message}`)

/** The parser of the duration flag `--name`: {@link parseDuration}, with a message that names the flag. */
export const durationFlag: (name: string) => (input: string) => Either.Either<Duration.Duration, string> = naming(parseDuration)

/** The parser of the time-limit flag `--name`: {@link parseLimit}, with a message that names the flag. */
export const limitFlag: (name: string) => (input: string) => Either.Either<Duration.Duration | false, string> = naming(parseLimit)

/** A rate limit as the session takes it. */
export interface Rate {
  readonly limit: number
  readonly interval: Duration.Duration
}

/**
 * A rate: `20/s`, `100/m`, `5/100ms`, `3/h` or `20 per second`, read by the
 * library's own parser (the one `Session`'s `ratePerOrigin` uses).
 */
export const parseRate = (input: string): Either.Either<Rate, string> =>
  Either.map(parseRateText(input), ({ intervalMs, limit }) => ({ limit, interval: Duration.millis(intervalMs) }))

/** The parser of the rate flag `--name`: {@link parseRate}, with a message that names the flag. */
export const rateFlag: (name: string) => (input: string) => Either.Either<Rate, string> = naming(parseRate)

const byteUnits: Readonly<Record<string, number>> = {
  "": 1,
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  gib: 1024 ** 3
}

/** A size in bytes with binary units (`512k`, `10MB` = 10 MiB), or `off` for no limit. */
export const parseBytes = (input: string): Either.Either<number | false, string> => {
  const text = input.trim().toLowerCase()
  if (text === "off" || text === "none") return Either.right(false)
  const match = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/.exec(text)
  const factor = match === null ? undefined : byteUnits[match[2]!]
  if (match === null || factor === undefined) return Either.left(`invalid size "${input}" (try 1048576, 512k, 10MB, off)`)
  const bytes = Math.floor(Number(match[1]) * factor)
  if (!Number.isSafeInteger(bytes)) return Either.left(`size "${input}" is too large`)
  return Either.right(bytes)
}

const tokenPattern = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/

/**
 * A header as `Name: value`; the name must be an HTTP token, the value one
 * line. A message never repeats the value, nor a name that is not a token
 * (either may be a credential typed in the wrong place).
 */
export const parseHeader = (input: string): Either.Either<readonly [string, string], string> => {
  const colon = input.indexOf(":")
  if (colon <= 0) return Either.left(`invalid header (expected "Name: value", got ${input.length} characters without a name and colon)`)
  const name = input.slice(0, colon).trim()
  const value = input.slice(colon + 1).trim()
  if (!tokenPattern.test(name)) return Either.left(`invalid header name (expected "Name: value" with a name of letters, digits and -)`)
  if (/[\r\n\0]/.test(value)) return Either.left(`header ${name} has a line break or NUL in its value`)
  return Either.right([name, value] as const)
}

/** Headers from repeated `-H` options; a later header with the same name (any case) wins. */
export const parseHeaders = (inputs: ReadonlyArray<string>): Either.Either<Record<string, string>, string> => {
  const out: Record<string, string> = {}
  for (const input of inputs) {
    const parsed = parseHeader(input)
    if (Either.isLeft(parsed)) return Either.left(parsed.left)
    const [name, value] = parsed.right
    for (const existing of Object.keys(out)) {
      if (existing.toLowerCase() === name.toLowerCase()) delete out[existing]
    }
    out[name] = value
  }
  return Either.right(out)
}

/** The methods `HttpClientRequest` can build. */
export const methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] as const

/** One of {@link methods}. */
export type Method = (typeof methods)[number]

/** An HTTP method, any case. */
export const parseMethod = (input: string): Either.Either<Method, string> => {
  const upper = input.trim().toUpperCase()
  const found = methods.find((method) => method === upper)
  return found === undefined ? Either.left(`unsupported method "${input}" (one of ${methods.join(", ")})`) : Either.right(found)
}

/**
 * Pure: the value of `--name`, which must be one of `choices` (any case); the
 * message names the option and every choice.
 */
export const parseChoice = <const A extends string>(name: string, choices: ReadonlyArray<A>) => (input: string): Either.Either<A, string> => {
  const lower = input.trim().toLowerCase()
  const found = choices.find((choice) => choice === lower)
  return found === undefined
    ? Either.left(`--${name} must be one of ${choices.join(", ")}, got ${JSON.stringify(input)}`)
    : Either.right(found)
}
