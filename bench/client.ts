/**
 * The effect-gather benchmark client.
 *
 *   npx tsx bench/client.ts URL_TEMPLATE N C [--warmup=K] [--gather=stream|all|forEach] [--connections=K]
 *
 * Makes N GETs (`{i}` in the template replaced by 1..N) with at most C in
 * flight through one `Session` and `Gather`, and prints one JSON line
 * `{"wall_s","req_per_s","cpu_user_s","cpu_sys_s","peak_rss_mb","ok","failed"}`
 * measured over the load phase only (the session is opened and the optional
 * warm-up done before it).
 *
 * - `--gather=stream` (default): `Gather.stream` over a lazy range, so memory
 *   stays O(C) whatever N is; failures are counted, not fatal.
 * - `--gather=all`: `Gather.all` over an array of N `Fetch.get` effects
 *   (how most programs use it); fail fast, so one failure fails the run.
 * - `--gather=forEach`: `Effect.forEach(range, (i) => Fetch.get(url), {
 *   concurrency: C, discard: true })`, the design card's own shape: no
 *   Gather, a fiber per request; failures are counted.
 * - `--connections=K`: the session's `maxConnectionsPerOrigin` (default C, so
 *   every client of the benchmark gets as many connections as requests in
 *   flight; the library's own default is 128).
 *
 * Only loopback targets are accepted (exit 2 otherwise).
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Stream from "effect/Stream"
import { readFileSync } from "node:fs"
import { Fetch, Gather, Session } from "../src/index.js"
import type { Tally } from "./common.js"
import { armDeadline, measure, parseArgs, range, refuse, report, urlOf } from "./common.js"

const args = parseArgs("bench/client.ts")
armDeadline(args.flags)
const mode = args.flags.get("gather") ?? "stream"
if (mode !== "stream" && mode !== "all" && mode !== "forEach") {
  refuse(`--gather must be "stream", "all" or "forEach", got ${mode}`)
}
const connections = Number(args.flags.get("connections") ?? args.c)
if (!Number.isInteger(connections) || connections < 1) refuse(`--connections must be a whole number >= 1`)

const { template, c } = args

const viaStream = (n: number, tally: Tally) =>
  Gather.stream(range(n), (i) => Fetch.get(urlOf(template, i)), { concurrency: c }).pipe(
    Stream.runFold(tally, (t, result) => {
      if (Either.isRight(result.outcome) && result.outcome.right.status === 200) t.ok++
      else t.failed++
      return t
    }),
    Effect.asVoid
  )

const viaAll = (n: number, tally: Tally) =>
  Gather.all(Array.from({ length: n }, (_, i) => Fetch.get(urlOf(template, i + 1))), { concurrency: c }).pipe(
    Effect.match({
      onFailure: (error) => {
        process.stderr.write(`Gather.all failed: ${error.message}\n`)
        tally.failed = n
      },
      onSuccess: (responses) => {
        for (const response of responses) {
          if (response.status === 200) tally.ok++
          else tally.failed++
        }
      }
    })
  )

// The design card's own shape: plain Effect.forEach with a concurrency
// option over Fetch.get, no Gather at all (every fetch on a fiber of its own).
const viaForEach = (n: number, tally: Tally) =>
  Effect.forEach(
    range(n),
    (i) =>
      Effect.match(Fetch.get(urlOf(template, i)), {
        onFailure: () => {
          tally.failed++
        },
        onSuccess: (response) => {
          if (response.status === 200) tally.ok++
          else tally.failed++
        }
      }),
    { concurrency: c, discard: true }
  )

const load = mode === "all" ? viaAll : mode === "forEach" ? viaForEach : viaStream

// An https target's throwaway CA (set by bench/run.ts).
const ca = process.env["BENCH_CA_FILE"]
const runtime = ManagedRuntime.make(Session.layer({
  maxConnectionsPerOrigin: connections,
  tls: ca === undefined ? undefined : { ca: readFileSync(ca) }
}))
try {
  if (args.warmup > 0) await runtime.runPromise(load(args.warmup, { ok: 0, failed: 0 }))
  const result = await measure(args.n, (tally) => runtime.runPromise(load(args.n, tally)))
  report(result)
  process.exitCode = result.failed > 0 ? 1 : 0
} finally {
  await runtime.dispose()
}
