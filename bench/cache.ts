/**
 * What the HTTP cache buys on a re-run: 20,000 URLs (1 KiB bodies, 64 in
 * flight; `--body` sets the size) fetched cold (an empty cache), then again warm, against a
 * node:http target in its own process (bench/cache-target.mjs). Two kinds
 * of URL: `max-age=3600` (a warm run answers every one from the cache) and
 * `max-age=0` with an ETag (a warm run revalidates every one: 304s). Stores:
 * memory and SQLite (the CLI's). A session without a cache runs the same
 * list for reference (the fast path). Prints a markdown table; the target
 * counts the requests and body bytes it sent.
 *
 * Run: npm run bench:cache -- [--urls 20000] [--concurrency 64] [--body 1024] [--rounds 3]
 */
import { Effect } from "effect"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { Fetch, Gather, Session } from "../src/index.js"

const arg = (name: string): string | undefined => {
  const argv = process.argv.slice(2)
  const i = argv.indexOf(`--${name}`)
  return i >= 0 ? argv[i + 1] : undefined
}
const urls = Number(arg("urls") ?? 20_000)
const concurrency = Number(arg("concurrency") ?? 64)
const bodyBytes = Number(arg("body") ?? 1024)
const rounds = Number(arg("rounds") ?? 3)
const here = Path.dirname(fileURLToPath(import.meta.url))

const startTarget = (): Promise<{ readonly port: number; readonly child: ChildProcess.ChildProcess }> =>
  new Promise((resolve, reject) => {
    const child = ChildProcess.spawn(process.execPath, [Path.join(here, "cache-target.mjs")], {
      stdio: ["ignore", "pipe", "inherit"],
      env: { ...process.env, BODY_BYTES: String(bodyBytes) }
    })
    const timer = setTimeout(() => reject(new Error("target did not start in 10 s")), 10_000)
    child.stdout!.setEncoding("utf8").once("data", (line: string) => {
      clearTimeout(timer)
      resolve({ port: Number(line.trim()), child })
    })
    child.once("error", reject)
  })

interface Row {
  readonly name: string
  readonly seconds: number
  readonly requests: number
  readonly bodyBytes: number
  readonly outcomes: string
}

const stats = async (port: number): Promise<{ requests: number; bodyBytes: number }> => {
  const response = await fetch(`http://127.0.0.1:${port}/stats`)
  return (await response.json()) as { requests: number; bodyBytes: number }
}

const main = async () => {
  const target = await startTarget()
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "gather-bench-cache-"))
  const rows: Array<Row> = []
  try {
    const list = (kind: string) => Array.from({ length: urls }, (_, i) => `http://127.0.0.1:${target.port}/${kind}/${i}`)
    const round = (name: string, list: ReadonlyArray<string>) =>
      Effect.gen(function*() {
        yield* Effect.promise(() => stats(target.port))
        const startedAt = performance.now()
        const responses = yield* Gather.all(list.map((url) => Fetch.get(url)), { concurrency })
        const seconds = (performance.now() - startedAt) / 1000
        const counts = new Map<string, number>()
        for (const r of responses) counts.set(r.cache, (counts.get(r.cache) ?? 0) + 1)
        const sent = yield* Effect.promise(() => stats(target.port))
        rows.push({ name, seconds, ...sent, outcomes: Array.from(counts, ([k, n]) => `${k} ${n}`).join(", ") })
      })
    const sessionOf = (cache: Session.Options["cache"]) => Session.layer({ cache, maxConnectionsPerHost: concurrency, retry: false, proxy: false })
    // warm-up (JIT, connections), not shown: every path once on a short list
    for (const cache of [false, true] as const) {
      await Effect.runPromise(
        Effect.zipRight(round("warm-up", list("warmup").slice(0, 2000)), round("warm-up", list("warmup").slice(0, 2000))).pipe(
          Effect.provide(sessionOf(cache))
        )
      )
    }
    rows.length = 0
    // Rounds interleave every variant (each on URLs of its own), so load that
    // comes and goes falls on all of them; the table shows medians.
    for (let r = 0; r < rounds; r++) {
      for (const kind of ["fresh", "stale"] as const) {
        const inputs = list(`${kind}/${r}`)
        await Effect.runPromise(round(`${kind}: no cache (fast path)`, inputs).pipe(Effect.provide(sessionOf(false))))
        await Effect.runPromise(
          Effect.zipRight(round(`${kind}: memory, cold`, inputs), round(`${kind}: memory, warm`, inputs)).pipe(
            Effect.provide(sessionOf({ maxBytes: 2 * urls * (bodyBytes + 1024) }))
          )
        )
        const file = Path.join(dir, `${kind}-${r}.sqlite`)
        await Effect.runPromise(round(`${kind}: sqlite, cold`, inputs).pipe(Effect.provide(sessionOf({ store: { sqlite: file } }))))
        // a new process would open the file the same way: a new session on it
        await Effect.runPromise(round(`${kind}: sqlite, warm`, inputs).pipe(Effect.provide(sessionOf({ store: { sqlite: file } }))))
      }
    }
  } finally {
    target.child.kill("SIGTERM")
    Fs.rmSync(dir, { recursive: true, force: true })
  }
  // the median round of each variant (by time)
  const names = Array.from(new Set(rows.map((row) => row.name)))
  const medians = names.map((name) => {
    const runs = rows.filter((row) => row.name === name).sort((a, b) => a.seconds - b.seconds)
    return runs[Math.floor(runs.length / 2)]!
  })
  const rate = (row: Row) => urls / row.seconds
  const byName = new Map(medians.map((row) => [row.name, row]))
  console.log(
    `\n${urls} URLs, ${concurrency} in flight, medians of ${rounds} round(s), ${bodyBytes} B bodies; load average ${
      Os.loadavg().map((n) => n.toFixed(2)).join(" ")
    }\n`
  )
  console.log("| run | req/s | vs cold | requests sent | body bytes sent | outcomes |")
  console.log("|---|---:|---:|---:|---:|---|")
  for (const row of medians) {
    const cold = byName.get(row.name.replace("warm", "cold"))
    const ratio = row.name.endsWith("warm") && cold !== undefined ? `${(rate(row) / rate(cold)).toFixed(2)}×` : ""
    console.log(
      `| ${row.name} | ${Math.round(rate(row))} | ${ratio} | ${row.requests} | ${row.bodyBytes} | ${row.outcomes} |`
    )
  }
}

main().catch((error) => {
  console.error(error)
  process.exitCode = 1
})
