/**
 * `gather fetch [FILE|-]`: fetch every URL of a file or stdin through one
 * session and write one NDJSON record per input. Its flags and checks are
 * in fetchOptions.ts, the inputs in fetchInput.ts, the run in fetchRun.ts
 * and what it writes in fetchOutput.ts.
 */
import * as Command from "@effect/cli/Command"
import * as Effect from "effect/Effect"
import { Session } from "../index.js"
import type { FetchConfig } from "./fetchOptions.js"
import { options, preflight } from "./fetchOptions.js"
import { gather } from "./fetchRun.js"
import { helpDoc } from "./help.js"
import { toFetchSessionOptions } from "./sessionOptions.js"

export type { FetchConfig, Format } from "./fetchOptions.js"
export { formats, maxBarRows } from "./fetchOptions.js"
export { tableHeader, tableRow } from "./fetchOutput.js"
export { cacheFileName } from "./sessionOptions.js"

/** Runs `gather fetch`. */
export const run = (config: FetchConfig) =>
  Effect.flatMap(preflight(config), (checked) =>
    gather(config).pipe(
      Effect.scoped,
      Effect.provide(Session.layer(toFetchSessionOptions(config, checked)))
    ))

/** `gather fetch`, its flags and its help. */
export const command = Command.make("fetch", options, run).pipe(
  Command.withDescription(helpDoc({
    summary: "Fetch every URL of FILE (or stdin) and write one NDJSON record per input line.",
    details: [
      "Each record has url, ok, status, error {tag, message}, bytes, ms, attempts and final_url (credentials redacted). A line that is not an http(s) URL gets an InvalidUrl record. Progress is drawn on stderr when it is a terminal; a summary (statuses, error tags, latency percentiles, throughput) is always printed on stderr at the end.",
      "Ctrl-C or SIGTERM stops taking inputs, aborts the requests in flight, writes every finished record, prints the summary and exits 130. Run again with --resume to finish the rest."
    ],
    examples: [
      "gather fetch urls.txt --out results.ndjson -c 64",
      "cat urls.txt | gather fetch - --format table",
      "gather fetch urls.txt -o results.ndjson --resume --rate 20/s --per-origin 8",
      "gather fetch urls.txt -o results.ndjson --report run.html",
      "gather fetch urls.txt -o tonight.ndjson --cache ~/.cache/gather",
      "gather fetch urls.txt --proxy http://proxy.internal:3128",
      "gather fetch urls.txt -H \"Authorization: Bearer $TOKEN\" --retries 0 --timeout 5s --body-dir bodies/"
    ]
  }))
)
