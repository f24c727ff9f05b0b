/**
 * The adaptive-concurrency scenarios of `npm run bench` (alone:
 * `npm run bench -- --only=adaptive`):
 *
 * - A, capacity-limited server: `/cap/{i}` answers 503 + Retry-After: 1 at
 *   once whenever more than K = 20 are in flight, else 200 after 10 ms.
 *   10,000 requests at fixed concurrency 8, 20, 64, 256, fixed 20 through
 *   the session's gate (the path every adaptive request takes), and
 *   adaptive with max 256 from the default start (10) and from the old one
 *   (256): completion time, wasted (503) requests counted by the server,
 *   and the window's trace.
 * - B, per-route Retry-After: `/route/{i}`, 4% of the paths answer 429/503
 *   with Retry-After: 1 once, then succeed. 10,000 requests, 32 in flight,
 *   2 retries: `retryAfter: "origin"`, per request, adaptive, and a plain
 *   undici client honouring Retry-After per request as the reference.
 * - C, a capacity that halves and comes back: `/phase/{i}` is `/cap` with
 *   K = 20, except 10 from 3 s to 6 s after the run's first request.
 *   12,000 requests: adaptive (max 256) against an oracle (effect-gather at
 *   20 in flight, 10 during those 3 s: it knows the capacity at each
 *   moment) and fixed 10 and 20.
 *
 * The target (bench/capacity-target.mjs) and every client run in their own
 * processes, one after another (one round); each client has a deadline.
 */
import { spawn } from "node:child_process"
import type { ChildProcess } from "node:child_process"
import { loadavg } from "node:os"
import * as path from "node:path"
import { createInterface } from "node:readline"
import { fileURLToPath } from "node:url"
import type { Result as ClientResult } from "./adaptive-client.js"

const benchDir = path.dirname(fileURLToPath(import.meta.url))

export const heading = "## Adaptive concurrency and Retry-After"

interface ServerStats {
  readonly served: number
  readonly refused: number
  readonly peakInFlight: number
}

interface Row {
  readonly label: string
  readonly result: ClientResult | undefined
  readonly server: ServerStats | undefined
  readonly error: string | undefined
}

const K = 20
const SERVICE_MS = 10
/** C: the capacity and when it holds (ms after the run's first request). */
const PHASE_K = 10
const phaseOf = (quick: boolean) => quick ? { fromMs: 1000, toMs: 2000 } : { fromMs: 3000, toMs: 6000 }

const startTarget = (phase: { readonly fromMs: number; readonly toMs: number }): Promise<{ readonly origin: string; readonly stop: () => void }> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [
      path.join(benchDir, "capacity-target.mjs"),
      `--k=${K}`,
      `--ms=${SERVICE_MS}`,
      "--route-ms=2",
      "--share=0.04",
      `--phase-k=${PHASE_K}`,
      `--phase-from-ms=${phase.fromMs}`,
      `--phase-to-ms=${phase.toMs}`,
      "--exit-on-stdin-close"
    ], { stdio: ["pipe", "pipe", "inherit"] })
    const timer = setTimeout(() => {
      child.kill("SIGKILL")
      reject(new Error("capacity target did not start within 20 s"))
    }, 20_000)
    createInterface({ input: child.stdout! }).once("line", (line) => {
      clearTimeout(timer)
      resolve({
        origin: `http://127.0.0.1:${Number(line)}`,
        stop: () => {
          child.stdin?.end()
          child.kill("SIGTERM")
        }
      })
    })
    child.once("error", reject)
  })

const get = async (url: string): Promise<string> => {
  const response = await fetch(url, { signal: AbortSignal.timeout(10_000) })
  return response.text()
}

const runClient = (args: ReadonlyArray<string>, deadlineS: number): Promise<ClientResult | string> =>
  new Promise((resolve) => {
    let child: ChildProcess
    try {
      child = spawn(process.execPath, ["--import", "tsx", path.join(benchDir, "adaptive-client.ts"), ...args], {
        stdio: ["ignore", "pipe", "pipe"]
      })
    } catch (error) {
      return resolve(String(error))
    }
    let out = ""
    let err = ""
    child.stdout!.on("data", (chunk) => (out += String(chunk)))
    child.stderr!.on("data", (chunk) => (err += String(chunk)))
    const timer = setTimeout(() => child.kill("SIGKILL"), deadlineS * 1000)
    child.once("close", (code) => {
      clearTimeout(timer)
      const line = out.trim().split("\n").pop() ?? ""
      try {
        resolve(JSON.parse(line) as ClientResult)
      } catch {
        resolve(`exit ${code}: ${err.trim().split("\n").slice(-2).join(" ") || "no output"}`)
      }
    })
  })

const measure = async (origin: string, label: string, args: ReadonlyArray<string>, deadlineS: number): Promise<Row> => {
  await get(`${origin}/reset`)
  process.stderr.write(`adaptive bench: ${label} ...`)
  const result = await runClient([`--origin=${origin}`, ...args], deadlineS)
  const server = JSON.parse(await get(`${origin}/stats`)) as ServerStats
  process.stderr.write(typeof result === "string" ? ` failed: ${result}\n` : ` ${result.wall_s.toFixed(2)} s\n`)
  return typeof result === "string"
    ? { label, result: undefined, server, error: result }
    : { label, result, server, error: undefined }
}

const fmt = (x: number, digits: number) => x.toFixed(digits)
const int = (x: number) => Math.round(x).toLocaleString("en-US")
const table = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string =>
  [
    `| ${header.join(" | ")} |`,
    `|${header.map((_, i) => (i === 0 ? "---" : "--:")).join("|")}|`,
    ...rows.map((row) => `| ${row.join(" | ")} |`)
  ].join("\n")

/** The window at a few moments, and its spread after the first second. */
const traceText = (trace: ReadonlyArray<readonly [number, number]>): string => {
  if (trace.length === 0) return "—"
  const at = (s: number) => trace.find(([t]) => t >= s)?.[1]
  const marks = [0.1, 0.2, 0.5, 1, 2, 4].map((s) => [s, at(s)] as const).filter(([, w]) => w !== undefined)
  const later = trace.filter(([t]) => t >= 1).map(([, w]) => w).sort((a, b) => a - b)
  const spread = later.length === 0
    ? ""
    : `; after 1 s: median ${later[Math.floor(later.length / 2)]}, range ${later[0]}–${later[later.length - 1]}`
  return `${marks.map(([s, w]) => `${s} s: ${w}`).join(", ")}${spread}`
}

/** The window's median in [fromS, toS) seconds of the run (`—` when not sampled). */
const medianIn = (trace: ReadonlyArray<readonly [number, number]>, fromS: number, toS: number): string => {
  const values = trace.filter(([t]) => t >= fromS && t < toS).map(([, w]) => w).sort((a, b) => a - b)
  return values.length === 0 ? "—" : String(values[Math.floor(values.length / 2)])
}

/** Runs the three scenarios and returns their markdown section. */
export const runAdaptive = async (options: { readonly quick: boolean }): Promise<string> => {
  const n = options.quick ? 2_000 : 10_000
  const nC = options.quick ? 3_000 : 12_000
  const phase = phaseOf(options.quick)
  const target = await startTarget(phase)
  const started = performance.now()
  const loadAtStart = loadavg()
  try {
    const o = target.origin
    // A: capacity-limited. Enough retries that every request gets through.
    const capArgs = (extra: ReadonlyArray<string>) => ["--path=/cap/", `--n=${n}`, "--retries=100", "--cap-s=120", ...extra]
    const rowsA: Array<Row> = []
    for (const c of [8, 20, 64, 256]) {
      rowsA.push(await measure(o, `fixed concurrency ${c}`, capArgs([`--c=${c}`, "--mode=fixed"]), 180))
    }
    rowsA.push(await measure(o, "fixed concurrency 20 through the session's gate (`maxInFlightPerHost: 20`)", capArgs(["--c=20", "--mode=gated"]), 180))
    rowsA.push(await measure(o, "adaptive, max 256, default start (10, slow start)", capArgs(["--c=256", "--mode=adaptive"]), 180))
    rowsA.push(await measure(o, "adaptive, max 256, starting at 256 (the old start)", capArgs(["--c=256", "--mode=adaptive", "--initial=256"]), 180))

    // B: per-route Retry-After, the issue's contract: 32 in flight, 2 retries.
    const routeArgs = (extra: ReadonlyArray<string>) => ["--path=/route/", `--n=${n}`, "--c=32", "--retries=2", ...extra]
    const rowsB: Array<Row> = []
    rowsB.push(await measure(o, "plain undici `Pool`, Retry-After per request (reference)", routeArgs(["--mode=undici", "--cap-s=60"]), 120))
    rowsB.push(await measure(o, "effect-gather, `retryAfter: \"request\"` (default)", routeArgs(["--mode=request", "--cap-s=60"]), 120))
    rowsB.push(await measure(o, "effect-gather, `adaptive: { max: 32 }` (Retry-After per request)", routeArgs(["--mode=adaptive", "--cap-s=60"]), 120))
    rowsB.push(await measure(o, "effect-gather, `retryAfter: \"origin\"` (every 429/503 pauses the origin)", routeArgs(["--mode=origin", "--cap-s=60"]), 120))

    // C: a capacity that halves and comes back.
    const phaseArgs = (extra: ReadonlyArray<string>) => ["--path=/phase/", `--n=${nC}`, "--retries=100", "--cap-s=120", ...extra]
    const phaseFlags = [`--phase-c=${PHASE_K}`, `--phase-from-ms=${phase.fromMs}`, `--phase-to-ms=${phase.toMs}`]
    const rowsC: Array<Row> = []
    rowsC.push(
      await measure(o, `oracle: fixed ${K}, ${PHASE_K} while the capacity is ${PHASE_K}`, phaseArgs([`--c=${K}`, "--mode=oracle", ...phaseFlags]), 180)
    )
    rowsC.push(await measure(o, `fixed concurrency ${PHASE_K}`, phaseArgs([`--c=${PHASE_K}`, "--mode=fixed"]), 180))
    rowsC.push(await measure(o, `fixed concurrency ${K}`, phaseArgs([`--c=${K}`, "--mode=fixed"]), 180))
    rowsC.push(await measure(o, "adaptive, max 256, default start", phaseArgs(["--c=256", "--mode=adaptive"]), 180))

    const done = (row: Row) => row.result !== undefined && !row.result.capped
    const bestFixed = Math.min(...rowsA.slice(0, 4).filter(done).map((row) => row.result!.wall_s))
    const tableA = table(
      ["client", "completion s", "÷ best fixed", "wasted (503s at the server)", "peak in flight at the server", "ok / failed", "window (adaptive)"],
      rowsA.map((row) =>
        row.result === undefined
          ? [row.label, "—", "—", "—", "—", "—", row.error ?? ""]
          : [
            row.label,
            `${fmt(row.result.wall_s, 2)}${row.result.capped ? " (capped)" : ""}`,
            `${fmt(row.result.wall_s / bestFixed, 2)}×`,
            int(row.server?.refused ?? NaN),
            String(row.server?.peakInFlight ?? "—"),
            `${int(row.result.ok)} / ${int(row.result.failed)}`,
            traceText(row.result.trace)
          ]
      )
    )
    const reference = rowsB[0]?.result?.wall_s ?? NaN
    const tableB = table(
      ["client", "completion s", "÷ undici reference", "429/503 at the server", "ok / failed", "window (adaptive)"],
      rowsB.map((row) =>
        row.result === undefined
          ? [row.label, "—", "—", "—", "—", row.error ?? ""]
          : [
            row.label,
            row.result.capped
              ? `> ${fmt(row.result.wall_s, 0)} (stopped: ${int(row.result.done)} of ${int(n)} done, about ${
                int((row.result.wall_s * n) / Math.max(1, row.result.done))
              } s projected)`
              : fmt(row.result.wall_s, 2),
            row.result.capped ? `> ${fmt(row.result.wall_s / reference, 1)}×` : `${fmt(row.result.wall_s / reference, 2)}×`,
            int(row.server?.refused ?? NaN),
            `${int(row.result.ok)} / ${int(row.result.failed)}`,
            traceText(row.result.trace)
          ]
      )
    )
    const oracle = rowsC[0]?.result?.wall_s ?? NaN
    const fromS = phase.fromMs / 1000
    const toS = phase.toMs / 1000
    const tableC = table(
      [
        "client",
        "completion s",
        "÷ oracle",
        "wasted (503s at the server)",
        "ok / failed",
        `window: median before ${fromS} s`,
        `${fromS + 0.5}–${toS} s`,
        `after ${toS + 1} s`
      ],
      rowsC.map((row) =>
        row.result === undefined
          ? [row.label, "—", "—", "—", "—", row.error ?? "", "", ""]
          : [
            row.label,
            `${fmt(row.result.wall_s, 2)}${row.result.capped ? " (capped)" : ""}`,
            `${fmt(row.result.wall_s / oracle, 2)}×`,
            int(row.server?.refused ?? NaN),
            `${int(row.result.ok)} / ${int(row.result.failed)}`,
            row.result.trace.length === 0 ? "—" : medianIn(row.result.trace, 0.5, fromS),
            row.result.trace.length === 0 ? "—" : medianIn(row.result.trace, fromS + 0.5, toS),
            row.result.trace.length === 0 ? "—" : medianIn(row.result.trace, toS + 1, Infinity)
          ]
      )
    )
    // The issue's targets, checked on this run.
    const adaptiveA = rowsA[5]?.result
    const gatedA = rowsA[4]?.result
    const adaptiveC = rowsC[3]?.result
    const fixedAboveK = rowsA.slice(2, 4).map((row) => row.server?.refused ?? NaN)
    const adaptiveB = rowsB[2]?.result
    const perRequestB = rowsB[1]?.result
    const verdict = (ok: boolean) => (ok ? "holds" : "missed")
    const load = (l: ReadonlyArray<number>) => l.map((x) => x.toFixed(2)).join(", ")
    const loadAtEnd = loadavg()
    const targets = [
      adaptiveA === undefined ?
        "A: adaptive did not finish" :
        `A: adaptive ${fmt(adaptiveA.wall_s / bestFixed, 2)}× the best fixed completion (target ≤ 1.2×: ${verdict(adaptiveA.wall_s / bestFixed <= 1.2)}); ${
          gatedA === undefined ? "" : `${fmt(adaptiveA.wall_s / gatedA.wall_s, 2)}× fixed 20 through the same gate; `
        }` +
        `${int(rowsA[5]?.server?.refused ?? NaN)} wasted against ${
          fixedAboveK.map(int).join(" and ")
        } for fixed 64 and 256 (target: fewer than any fixed setting above K: ${verdict((rowsA[5]?.server?.refused ?? Infinity) < Math.min(...fixedAboveK))})`,
      adaptiveB === undefined || perRequestB === undefined ?
        "B: a row did not finish" :
        `B: adaptive ${fmt(adaptiveB.wall_s / reference, 2)}×, per request ${fmt(perRequestB.wall_s / reference, 2)}× the undici reference (target ≤ 1.05×: ${
          verdict(adaptiveB.wall_s / reference <= 1.05)
        } / ${verdict(perRequestB.wall_s / reference <= 1.05)})`,
      adaptiveC === undefined ?
        "C: adaptive did not finish" :
        `C: adaptive ${fmt(adaptiveC.wall_s / oracle, 2)}× the oracle (target ≤ 1.3×: ${verdict(adaptiveC.wall_s / oracle <= 1.3)}); window median ${
          medianIn(adaptiveC.trace, 0.5, fromS)
        } before the drop, ${medianIn(adaptiveC.trace, fromS + 0.5, toS)} while the capacity is ${PHASE_K}, ${
          medianIn(adaptiveC.trace, toS + 1, Infinity)
        } after it comes back`
    ]
    return `${heading}

One run (one round, clients one after another), ${
      new Date().toISOString()
    }, on a shared 2-core machine (other work running: read the ratios, not the absolute times). Target: \`bench/capacity-target.mjs\` in its own process; clients: \`bench/adaptive-client.ts\` (each in its own process, \`--import tsx\`); ${
      fmt((performance.now() - started) / 1000, 0)
    } s in all; load average (1, 5, 15 min) ${load(loadAtStart)} at the start, ${load(loadAtEnd)} at the end.

### A: capacity-limited server, ${int(n)} requests

More than K = ${K} in flight get 503 + \`Retry-After: 1\` at once; the rest are served in ${SERVICE_MS} ms (so about ${
      int(K * 1000 / SERVICE_MS)
    } req/s at best). effect-gather with Retry-After per request (the default), 100 retries so every request gets through; \`maxConnectionsPerHost\` = concurrency. "wasted" is what the server refused.

${tableA}

### B: per-route Retry-After, ${int(n)} requests, 32 in flight, 2 retries

4% of the paths answer 429 or 503 with \`Retry-After: 1\` the first time, then 200; every answer after 2 ms. The origin-pause row is stopped after 60 s.

${tableB}

### C: a capacity that halves and comes back, ${int(nC)} requests

\`/phase/{i}\` is A's route with K = ${K}, except K = ${PHASE_K} from ${fromS} s to ${toS} s after the run's first request. The oracle is effect-gather at fixed concurrency ${K} that switches to ${PHASE_K} at the same moments (it knows the capacity at each moment); the window columns are the adaptive window's median in each phase (half a second after the drop, a second after the return).

${tableC}

Targets on this run:

${targets.map((line) => `- ${line}`).join("\n")}
- About \`adaptive\` in A: the window starts at 10 and doubles per round trip of successes (slow start) until the first refusal, which sets it to 0.7 × the requests in flight when the refused one was sent (the smallest of its burst) and makes that flight size the ceiling; the window slow-starts back to just below it and holds there, four times as many round trips each time the same ceiling is confirmed (up to 256), before probing one request past it. A refused probe waits out its 1 s Retry-After, so a probe in the run's last second ends the run up to a second later: with the hold growing fourfold the probes come at about 1, 5, 21, 85 and 341 round trips (at about 13 ms each here), none in the last second of a 6.5 s run, where a hold doubling to 32 round trips probed every 0.4 s and almost always left one there. Every adaptive request goes through the session's gate, which the engine's fast path takes on callbacks (src/internal/policy/hosts.ts, fetch.ts): the row "fixed concurrency 20 through the session's gate" measures that path alone at the best fixed setting.
- About \`adaptive\` in B: plain AIMD reads every refusal as congestion, so refusals that come at random (4% of the paths, whatever the load) held the window near 1–5 of the 32. The window now counts a refusal as overload only when at least a quarter of the last two round trips' answers to requests sent with as many in flight or more were refusals too (a server at capacity refuses most of what is over its limit; a per-route limit refuses a few requests whatever the load), so here it stays near 32 (trace column), while in A and C the refusals above the capacity still count.
`
  } finally {
    target.stop()
  }
}
