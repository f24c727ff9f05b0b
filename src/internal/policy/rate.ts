/**
 * The one parser of rates (`Session.Rate`): the session's `ratePerOrigin` and
 * the command line's `--rate` both read through it, so a rate one accepts
 * the other accepts too. Pure; a refusal names the input.
 */
import * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import type { Rate, ResolvedRate } from "../../Session.js"

/** A rate as the limiter takes it: `limit` starts per `intervalMs` (the shape `session.config` shows). */
export type ParsedRate = ResolvedRate

const unitMs: ReadonlyMap<string, number> = new Map([
  ["ms", 1],
  ["milli", 1],
  ["millis", 1],
  ["millisecond", 1],
  ["s", 1_000],
  ["sec", 1_000],
  ["second", 1_000],
  ["m", 60_000],
  ["min", 60_000],
  ["minute", 60_000],
  ["h", 3_600_000],
  ["hr", 3_600_000],
  ["hour", 3_600_000]
])

const ratePattern = /^(\d+)\s*(?:\/|\s+per\s+)\s*(.+)$/
/** The interval: a unit (`s`, `second`) or a count of one (`100ms`, `2 s`, `1.5 seconds`). */
const intervalPattern = /^(\d+(?:\.\d+)?)?\s*([a-z]+)$/

const unitOf = (name: string): number | undefined => unitMs.get(name) ?? (name.endsWith("s") ? unitMs.get(name.slice(0, -1)) : undefined)

const refused = (input: string): string => `invalid rate ${JSON.stringify(input)} (try "20/s", "20 per second", "600/m", "5/100ms")`

/**
 * A rate written as text: `20/s`, `20 per second`, `600/m`, `5/100ms`,
 * `7/2s`, `3 per hour`. The limit is a whole number >= 1; the interval a
 * unit (ms, s, m, h, any common spelling) with an optional count > 0.
 */
export const parseRateText = (input: string): Either.Either<ParsedRate, string> => {
  const match = ratePattern.exec(input.trim().toLowerCase())
  const interval = match === null ? null : intervalPattern.exec(match[2]!.trim())
  const factor = interval === null ? undefined : unitOf(interval[2]!)
  if (match === null || interval === null || factor === undefined) return Either.left(refused(input))
  const limit = Number(match[1])
  const intervalMs = (interval[1] === undefined ? 1 : Number(interval[1])) * factor
  if (!Number.isSafeInteger(limit) || limit < 1 || !Number.isFinite(intervalMs) || intervalMs <= 0) return Either.left(refused(input))
  return Either.right({ limit, intervalMs })
}

const decodeMs = (input: Duration.DurationInput): number => {
  try {
    return Duration.toMillis(Duration.decode(input))
  } catch {
    return Number.NaN
  }
}

/**
 * A `Session.Rate` (text or `{ limit, interval }`), or a `ConfigError`
 * (`InvalidData` at `path`) that names what was given.
 */
export const parseRate = (input: Rate, path = "ratePerHost"): Either.Either<ParsedRate, ConfigError.ConfigError> => {
  if (typeof input === "string") return Either.mapLeft(parseRateText(input), (message) => ConfigError.InvalidData([path], message))
  if (typeof input !== "object" || input === null) return Either.left(ConfigError.InvalidData([path], `invalid rate ${String(input)}`))
  const intervalMs = decodeMs(input.interval)
  if (!Number.isSafeInteger(input.limit) || input.limit < 1 || !Number.isFinite(intervalMs) || intervalMs <= 0) {
    return Either.left(
      ConfigError.InvalidData(
        [path],
        `invalid rate { limit: ${String(input.limit)}, interval: ${String(input.interval)} } (a whole limit >= 1 per a finite interval > 0)`
      )
    )
  }
  return Either.right({ limit: input.limit, intervalMs })
}
