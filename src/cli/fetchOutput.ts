/**
 * What `gather fetch` writes: the table's rows and the chart's lines.
 */
import type * as Records from "../internal/record.js"
import { formatBytes, formatMs, renderHistogram, sentNothing } from "./summary.js"
import type { Tally } from "./summary.js"

const errorWidth = "TooManyRedirects".length

/** The table's first line: a header for every column. */
export const tableHeader = `${"STATUS".padStart(6)} ${"TIME".padStart(10)} ${"BYTES".padStart(10)}  ${"ERROR".padEnd(errorWidth)}  URL\n`

/** Pure: a record as a table row; `-` where a column does not apply (no time for an input never sent). */
export const tableRow = (record: Records.ResultRecord): string => {
  const status = record.status === null ? "ERR" : String(record.status)
  const time = record.ms === null || sentNothing(record) ? "-" : formatMs(record.ms)
  const bytes = record.bytes === null ? "-" : formatBytes(record.bytes)
  const error = record.error === null ? "-" : record.error.tag
  return `${status.padStart(6)} ${time.padStart(10)} ${bytes.padStart(10)}  ${error.padEnd(errorWidth)}  ${record.url}\n`
}

/** `--format bars` past a screenful: a title line and the latency histogram. */
export const histogramLines = (tally: Tally): Array<string> => {
  const notSent = tally.done - tally.latency.count
  return [
    `latency of ${tally.latency.count} request(s)${notSent > 0 ? `, ${notSent} input(s) never sent left out` : ""}:`,
    ...renderHistogram(tally.latency)
  ]
}

/** What a bar says after its time: the status, or the error tag. */
export const noteOf = (record: Records.ResultRecord): string =>
  record.error !== null && record.error.tag !== "BadStatus" ? record.error.tag : String(record.status)
