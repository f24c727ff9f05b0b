/**
 * What the HTTP cache buys on a re-run: 20,000 URLs (1 KiB bodies, 64 in
 * flight; `--body` sets the size) fetched cold (an empty cache), then again
 * warm. Two kinds of URL: `max-age=3600` (a warm run answers every one from
 * the cache) and `max-age=0` with an ETag (a warm run revalidates every one:
 * 304s). Stores: memory and SQLite (the CLI's). A session without a cache
 * runs the same list for reference (the fast path). Prints a markdown table;
 * the target counts the requests and body bytes it sent.
 *
 * The target is nginx when installed (one static file, its own ETag and
 * 304s; counted from its access log), else a node:http target in its own
 * process (bench/cache-target.mjs; `--no-nginx` forces it). A node target
 * takes a core of these two, and a 304 costs it as much as a small 200.
 *
 * Run: npm run bench:cache -- [--urls 20000] [--concurrency 64] [--body 1024] [--rounds 3] [--no-nginx]
 */
import { Effect } from "effect"
import * as ChildProcess from "node:child_process"
import { execSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { Fetch, Gather, Session } from "../src/index.js"
import { startNginx } from "./nginx.js"

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

/** A target: its origin, what it sent since the last call (then zeroed), its name, and how to stop it. */
interface Target {
  readonly origin: string
  readonly name: string
  readonly stats: () => Promise<{ requests: number; bodyBytes: number }>
  readonly stop: () => void
}

const startNodeTarget = (): Promise<Target> =>
  new Promise((resolve, reject) => {
    const child = ChildProcess.spawn(process.execPath, [Path.join(here, "cache-target.mjs")], {
      stdio: ["ignore", "pipe", "inherit"],
      env: { ...process.env, BODY_BYTES: String(bodyBytes) }
    })
    const timer = setTimeout(() => reject(new Error("target did not start in 10 s")), 10_000)
    child.stdout!.setEncoding("utf8").once("data", (line: string) => {
      clearTimeout(timer)
      const origin = `http://127.0.0.1:${Number(line.trim())}`
      resolve({
        origin,
        name: "node:http (bench/cache-target.mjs)",
        stats: async () => {
          const response = await fetch(`${origin}/stats`)
          return (await response.json()) as { requests: number; bodyBytes: number }
        },
        stop: () => child.kill("SIGTERM")
      })
    })
    child.once("error", reject)
  })

/**
 * nginx serving one file for every path, with its own ETag and
 * Last-Modified and its own 304s; `/fresh/...` with max-age=3600, the rest
 * max-age=0. Counts come from the access log (status and body bytes a line).
 */
const startNginxTarget = async (binary: string): Promise<Target | string> => {
  const started = await startNginx(
    binary,
    (dir) =>
      `root ${dir}/www;
    location / { try_files /body =404; default_type application/octet-stream; add_header Cache-Control $cache_control; }`,
    (dir) =>
      `log_format counted '$status $body_bytes_sent';
  access_log ${dir}/access.log counted;
  map $request_uri $cache_control { ~^/fresh/ "max-age=3600"; default "max-age=0"; }`
  )
  if (typeof started === "string") return started
  Fs.mkdirSync(Path.join(started.dir, "www"))
  Fs.writeFileSync(Path.join(started.dir, "www", "body"), Buffer.alloc(bodyBytes, "x"))
  const log = Path.join(started.dir, "access.log")
  let read = 0
  return {
    origin: `http://127.0.0.1:${started.port}`,
    name: `nginx (${execSync(`${binary} -v 2>&1`).toString().trim()}, one process, static file)`,
    stats: async () => {
      // nginx writes each line as the request ends: wait for the log to stop growing
      let size = -1
      while (size !== Fs.statSync(log).size) {
        size = Fs.statSync(log).size
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
      const text = Fs.readFileSync(log, "utf8").slice(read)
      read += Buffer.byteLength(text)
      let requests = 0
      let sent = 0
      for (const line of text.split("\n")) {
        if (line === "") continue
        requests++
        sent += Number(line.split(" ")[1])
      }
      return { requests, bodyBytes: sent }
    },
    stop: started.stop
  }
}

const startTarget = async (): Promise<Target> => {
  const binary = process.argv.includes("--no-nginx") ? "" : execSync("command -v nginx || true").toString().trim()
  if (binary === "") return startNodeTarget()
  const nginx = await startNginxTarget(binary)
  if (typeof nginx !== "string") return nginx
  console.error(`${nginx}; using the node:http target`)
  return startNodeTarget()
}

interface Row {
  readonly name: string
  readonly seconds: number
  readonly requests: number
  readonly bodyBytes: number
  readonly outcomes: string
}

const main = async () => {
  const target = await startTarget()
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "gather-bench-cache-"))
  const rows: Array<Row> = []
  try {
    const list = (kind: string) => Array.from({ length: urls }, (_, i) => `${target.origin}/${kind}/${i}`)
    const round = (name: string, list: ReadonlyArray<string>) =>
      Effect.gen(function*() {
        yield* Effect.promise(() => target.stats())
        const startedAt = performance.now()
        const responses = yield* Gather.all(list.map((url) => Fetch.get(url)), { concurrency })
        const seconds = (performance.now() - startedAt) / 1000
        const counts = new Map<string, number>()
        for (const r of responses) counts.set(r.cache, (counts.get(r.cache) ?? 0) + 1)
        const sent = yield* Effect.promise(() => target.stats())
        rows.push({ name, seconds, ...sent, outcomes: Array.from(counts, ([k, n]) => `${k} ${n}`).join(", ") })
      })
    const sessionOf = (cache: Session.Options["cache"]) => Session.layer({ cache, maxConnectionsPerOrigin: concurrency, retry: false, proxy: false })
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
    target.stop()
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
    }; target ${target.name}\n`
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
