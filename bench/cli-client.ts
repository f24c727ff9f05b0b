/**
 * The `gather fetch` command line as a benchmark client.
 *
 *   npx tsx bench/cli-client.ts URL_TEMPLATE N C [--warmup=K]
 *
 * Writes N URLs (`{i}` replaced by 1..N) to a file, then runs the CLI's own
 * program (`gather fetch FILE -c C -o OUT --quiet`, in this process, the
 * same code `bin.ts` runs) and prints the benchmark's JSON line, with `ok`
 * and `failed` counted from the records it wrote. Only the CLI's run is
 * measured: writing the input file before it and reading the records back
 * after it are the harness's work, not the CLI's. It answers "is the CLI
 * the bottleneck?" next to `client.ts` (the library's `Gather.stream`).
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { main } from "../src/cli/main.js"
import type { Tally } from "./common.js"
import { armDeadline, measure, parseArgs, report, urlOf } from "./common.js"

const args = parseArgs("bench/cli-client.ts")
armDeadline(args.flags)
const dir = mkdtempSync(path.join(os.tmpdir(), "effect-gather-bench-cli-"))

const input = path.join(dir, "urls.txt")
const output = path.join(dir, "out.ndjson")

/** The input file of N URLs, as a user would already have it: written before the measured phase. */
const writeInput = (n: number): void => {
  let lines = ""
  for (let i = 1; i <= n; i++) lines += `${urlOf(args.template, i)}\n`
  writeFileSync(input, lines)
  rmSync(output, { force: true })
}

/** The CLI's run: all that is measured. */
const gatherFetch = (): Promise<Exit.Exit<unknown, unknown>> => {
  const argv = ["node", "gather", "fetch", input, "-c", String(args.c), "-o", output, "--quiet"]
  return Effect.runPromiseExit(Effect.provide(main(argv), NodeContext.layer))
}

/** ok and failed, counted from the records it wrote (after the measured phase). */
const countRecords = (n: number, exit: Exit.Exit<unknown, unknown> | undefined): Tally => {
  const tally: Tally = { ok: 0, failed: 0 }
  for (const line of readFileSync(output, "utf8").split("\n")) {
    if (line === "") continue
    if (line.includes("\"ok\":true")) tally.ok++
    else tally.failed++
  }
  if ((exit === undefined || Exit.isFailure(exit)) && tally.failed === 0) tally.failed = n - tally.ok
  return tally
}

try {
  if (args.warmup > 0) {
    writeInput(args.warmup)
    await gatherFetch()
  }
  writeInput(args.n)
  let exit: Exit.Exit<unknown, unknown> | undefined
  const measured = await measure(args.n, async () => {
    exit = await gatherFetch()
  })
  const result = { ...measured, ...countRecords(args.n, exit) }
  report(result)
  process.exitCode = result.failed > 0 ? 1 : 0
} finally {
  rmSync(dir, { recursive: true, force: true })
}
