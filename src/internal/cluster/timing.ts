/**
 * A result's timing as stored beside its record: the `Fetch.Timing` of the
 * fetch as one flat JSON array (start, the six phase moments, the total, then
 * eight values per earlier attempt), about 60 bytes a result. The run report
 * of a cluster job is rebuilt from it, so it keeps what the report reads and
 * nothing else.
 */
import type { Segment, Timing } from "../../Fetch.js"

const round = (ms: number): number => ms < 0 ? -1 : Math.round(ms * 100) / 100

/** The timing as stored text. @internal */
export const encode = (timing: Timing): string => {
  const flat: Array<number | string> = [
    Math.round(timing.startedAt * 100) / 100,
    round(timing.dispatchMs),
    round(timing.connectMs),
    round(timing.tlsMs),
    round(timing.sentMs),
    round(timing.headersMs),
    round(timing.endMs),
    round(timing.totalMs)
  ]
  for (const s of timing.previous) {
    flat.push(round(s.dispatchMs), round(s.connectMs), round(s.tlsMs), round(s.sentMs), round(s.headersMs), round(s.endMs), s.status, s.outcome)
  }
  return JSON.stringify(flat)
}

const HEAD = 8
const SEGMENT = 8

const num = (value: unknown): number => typeof value === "number" && Number.isFinite(value) ? value : -1

/** The stored text back as a timing; `undefined` for a row stored without one (before 0.3.0) or not an array. @internal */
export const decode = (text: string | null): Timing | undefined => {
  if (text === null) return undefined
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    return undefined
  }
  if (!Array.isArray(parsed) || parsed.length < HEAD) return undefined
  const values: ReadonlyArray<unknown> = parsed
  const previous: Array<Segment> = []
  for (let i = HEAD; i + SEGMENT <= values.length; i += SEGMENT) {
    previous.push({
      dispatchMs: num(values[i]),
      connectMs: num(values[i + 1]),
      tlsMs: num(values[i + 2]),
      sentMs: num(values[i + 3]),
      headersMs: num(values[i + 4]),
      endMs: num(values[i + 5]),
      status: Math.max(0, num(values[i + 6])),
      outcome: String(values[i + 7])
    })
  }
  return {
    startedAt: num(values[0]),
    dispatchMs: num(values[1]),
    connectMs: num(values[2]),
    tlsMs: num(values[3]),
    sentMs: num(values[4]),
    headersMs: num(values[5]),
    endMs: num(values[6]),
    totalMs: Math.max(0, num(values[7])),
    previous
  }
}
