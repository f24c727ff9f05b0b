/**
 * The benchmark runner (`npm run bench`, `npm run bench -- --quick`).
 *
 * Starts the target server in its own process, then runs every client in a
 * separate child process (so CPU and RSS are per client), interleaved: round
 * 1 runs every client once, round 2 again (in a rotated order), and so on.
 * Each client prints one JSON line; the runner takes the median of the
 * rounds, prints markdown tables with ratios to raw undici and writes them
 * to `bench/RESULTS.md`.
 *
 * Flags:
 *   --quick            fewer requests and 1 round (a smoke run, ~1 minute)
 *   --rounds=N         rounds of S1/S2/S3-100k (default 3; quick 1)
 *   --rounds-1m=N      rounds of the 1,000,000-input S3 run (default 1; 0 skips it)
 *   --budget-s=S       finish within about S seconds (default 470): no run starts
 *                      in the last 30 s, and the 1M run only if its estimate fits
 *   --node-flags="…"   extra node flags for EVERY JS client (e.g. "--max-semi-space-size=64")
 *   --no-nginx         use the node:http target even when nginx is installed
 *   --no-https         skip S1/S2 over https (a node:https target with a throwaway CA)
 *   --only-https       run only S1/S2 over https (raw undici and effect-gather)
 *   --tsx              run the JS clients from source through `--import tsx` (no bundle)
 *   --out=PATH         where the markdown goes (default bench/RESULTS.md; "-" for none)
 *   --only=adaptive    only the adaptive scenarios (bench/adaptive.ts, ~2–3 minutes): their
 *                      section of RESULTS.md is replaced, the rest is kept as it is
 *   --no-adaptive      the full run without the adaptive scenarios
 *   --only=s4          only S4 (the CLI beside Gather.stream, ~2 minutes): its section of
 *                      RESULTS.md is replaced, the rest is kept as it is
 *
 * Every child has a deadline and is killed past it; every loop here is
 * bounded by a count.
 */
import { spawn, spawnSync } from "node:child_process"
import type { ChildProcess } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { createInterface } from "node:readline"
import { fileURLToPath } from "node:url"
import { Agent, request } from "undici"
import { localCertificates } from "../src/internal/demo/tls.js"
import { heading as adaptiveHeading, runAdaptive } from "./adaptive.js"
import type { Measurement } from "./common.js"
import { startNginx as startNginxServer } from "./nginx.js"

const benchDir = path.dirname(fileURLToPath(import.meta.url))
const root = path.dirname(benchDir)
const started = performance.now()
const elapsedS = () => (performance.now() - started) / 1000

// ---------------------------------------------------------------- options

const flags = new Map<string, string>()
for (const arg of process.argv.slice(2)) {
  if (!arg.startsWith("--")) continue
  const at = arg.indexOf("=")
  flags.set(at < 0 ? arg.slice(2) : arg.slice(2, at), at < 0 ? "true" : arg.slice(at + 1))
}
const quick = flags.has("quick")
const intFlag = (name: string, fallback: number): number => {
  const raw = flags.get(name)
  const value = raw === undefined ? fallback : Number(raw)
  if (!Number.isInteger(value) || value < 0) throw new Error(`--${name} must be a whole number >= 0, got ${raw}`)
  return value
}
const rounds = Math.max(1, intFlag("rounds", quick ? 1 : 3))
const rounds1m = quick ? 0 : intFlag("rounds-1m", 1)
const budgetS = intFlag("budget-s", 470)
/** No ordinary run starts this close to the end of the budget (the 1M run is estimated instead). */
const lastStartS = 30
const extraNodeFlags = (flags.get("node-flags") ?? "").split(/\s+/).filter((flag) => flag !== "")
const outPath = flags.get("out") ?? path.join(benchDir, "RESULTS.md")
const useNginx = !flags.has("no-nginx")
const onlyHttps = flags.has("only-https")
const only = flags.get("only")
if (only !== undefined && only !== "adaptive" && only !== "s4") throw new Error(`--only must be "adaptive" or "s4", got ${only}`)
const onlyS4 = only === "s4"
const useHttps = (!flags.has("no-https") && !onlyS4) || onlyHttps

const forceTsx = flags.has("tsx")

/** Replaces the section under `heading` (up to the next "## " heading) in `text`, or appends it. */
const spliceSection = (text: string, heading: string, section: string): string => {
  const start = text.indexOf(`${heading}\n`)
  if (start < 0) return `${text.trimEnd()}\n\n${section.trimEnd()}\n`
  const next = text.indexOf("\n## ", start + heading.length)
  return `${text.slice(0, start)}${section.trimEnd()}\n${next < 0 ? "" : text.slice(next)}`
}

/** The section under `heading` (up to the next "## " heading), if `text` has it. */
const sectionOf = (text: string, heading: string): string | undefined => {
  const start = text.indexOf(`${heading}\n`)
  if (start < 0) return undefined
  const next = text.indexOf("\n## ", start + heading.length)
  return text.slice(start, next < 0 ? undefined : next).trimEnd()
}

/** The heading of the table `bench/consumers.ts` measures (written by hand from its output). */
const consumersHeading = "## Where the CPU goes: the engine alone against its consumers (`bench/consumers.ts`)"

/** The heading of the section `npm run bench:cluster` writes (bench/cluster.ts). */
const clusterHeading = "## Cluster (`npm run bench:cluster`)"

/** The heading of the section `npm run bench:cache` measures (bench/cache.ts, written by hand from its output). */
const cacheHeading = "## HTTP cache (`npm run bench:cache`)"

/** Replaces one section of the results file (or adds it), keeping the rest. */
const writeSection = (heading: string, section: string): void => {
  if (outPath === "-") return
  let existing = ""
  try {
    existing = readFileSync(outPath, "utf8")
  } catch {
    existing = "# effect-gather benchmark results\n"
  }
  writeFileSync(outPath, spliceSection(existing, heading, section))
  process.stderr.write(`section "${heading.slice(3)}" written to ${path.relative(process.cwd(), outPath) || outPath}\n`)
}

if (only === "adaptive") {
  const section = await runAdaptive({ quick })
  process.stdout.write(`\n${section}`)
  writeSection(adaptiveHeading, section)
  process.exit(0)
}

/**
 * The JS clients are bundled once, at the start, with esbuild (which tsx
 * brings): bench and src code in one file, packages imported from
 * node_modules as usual. They then start in about half the time and carry
 * none of the tsx loader's memory, like a compiled program; and every run
 * measures the same snapshot of src even while it is being edited. Without
 * esbuild (or with --tsx) they run from source through `--import tsx`.
 */
const buildClients = async (): Promise<{ readonly dir: string; readonly loader: ReadonlyArray<string>; readonly how: string }> => {
  const fromSource = (why: string) => ({ dir: benchDir, loader: ["--import", "tsx"], how: `from source with \`--import tsx\` (${why})` })
  if (forceTsx) return fromSource("--tsx")
  const dir = path.join(benchDir, ".build")
  try {
    const specifier: string = "esbuild"
    const esbuild = (await import(specifier)) as { build: (options: Record<string, unknown>) => Promise<unknown> }
    await esbuild.build({
      entryPoints: [path.join(benchDir, "client.ts"), path.join(benchDir, "baseline.ts"), path.join(benchDir, "cli-client.ts")],
      outdir: dir,
      outExtension: { ".js": ".mjs" },
      bundle: true,
      packages: "external",
      platform: "node",
      format: "esm",
      target: "node20",
      sourcemap: "linked",
      logLevel: "warning"
    })
    return { dir, loader: [], how: "bundled by esbuild at the start of the run (packages external), run with plain `node`" }
  } catch (error) {
    return fromSource(`esbuild failed: ${error instanceof Error ? error.message.split("\n")[0] : String(error)}`)
  }
}
const build = await buildClients()

/** The same node flags for every JS client: the loader (if any) plus whatever --node-flags adds. */
const nodeFlags = [...build.loader, ...extraNodeFlags]
const nodeFlagsText = nodeFlags.length === 0 ? "none" : nodeFlags.join(" ")
const clientFile = (name: string) => path.join(build.dir, build.loader.length === 0 ? name.replace(/\.ts$/, ".mjs") : name)

// ---------------------------------------------------------------- machine

const sh = (command: string): string => {
  const result = spawnSync("sh", ["-c", command], { encoding: "utf8", timeout: 10_000 })
  return result.status === 0 ? result.stdout.trim() : ""
}

const cpuModel = (() => {
  try {
    const line = readFileSync("/proc/cpuinfo", "utf8").split("\n").find((l) => l.startsWith("model name"))
    return line?.split(":")[1]?.trim() ?? "unknown"
  } catch {
    return "unknown"
  }
})()
const nproc = Number(sh("nproc")) || os.availableParallelism()
const clockTicks = Number(sh("getconf CLK_TCK")) || 100
const loadAvg = () => os.loadavg().map((x) => x.toFixed(2)).join(" ")
const loadAtStart = loadAvg()

/** utime + stime of a process in seconds, from /proc (undefined when unreadable). */
const processCpuS = (pid: number | undefined): number | undefined => {
  if (pid === undefined) return undefined
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    // fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    return (Number(fields[11]) + Number(fields[12])) / clockTicks
  } catch {
    return undefined
  }
}

/** CPU seconds all processes of the machine spent busy, from /proc/stat (undefined when unreadable). */
const machineBusyS = (): number | undefined => {
  try {
    const line = readFileSync("/proc/stat", "utf8").split("\n")[0]!
    // cpu user nice system idle iowait irq softirq steal ...
    const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number)
    return (user! + nice! + system! + irq! + softirq! + steal!) / clockTicks
  } catch {
    return undefined
  }
}

// ---------------------------------------------------------------- targets

interface Target {
  readonly name: string
  readonly origin: string
  readonly pid: number | undefined
  readonly stop: () => void
  /** https only: the PEM file of the CA clients must trust. */
  readonly caFile?: string | undefined
}

const children = new Set<ChildProcess>()
const killAll = () => {
  for (const child of children) child.kill("SIGKILL")
}
process.on("exit", killAll)
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    killAll()
    process.exit(130)
  })
}

const track = (child: ChildProcess): ChildProcess => {
  children.add(child)
  child.on("exit", () => children.delete(child))
  return child
}

/** Resolves with the first stdout line, rejects after `ms`. */
const firstLine = (child: ChildProcess, ms: number): Promise<string> =>
  new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no output from the target within the time limit")), ms)
    const lines = createInterface({ input: child.stdout! })
    lines.once("line", (line) => {
      clearTimeout(timer)
      lines.close()
      resolve(line.trim())
    })
    child.once("exit", (code) => {
      clearTimeout(timer)
      reject(new Error(`target exited with ${code}`))
    })
  })

const startNodeTarget = async (): Promise<Target> => {
  const child = track(spawn(process.execPath, [path.join(benchDir, "target.mjs"), "--exit-on-stdin-close"], {
    cwd: root,
    stdio: ["pipe", "pipe", "inherit"]
  }))
  const port = Number(await firstLine(child, 10_000))
  if (!Number.isInteger(port) || port <= 0) throw new Error(`the target printed no port`)
  return {
    name: "node:http (bench/target.mjs, one process)",
    origin: `http://127.0.0.1:${port}`,
    pid: child.pid,
    stop: () => child.kill("SIGTERM")
  }
}

/**
 * The same target over https (nginx is not used for TLS): a throwaway CA and
 * certificate made here, written to a private temp directory that is removed
 * when the target stops. Keep-alive is on, as for http.
 */
const startHttpsTarget = async (): Promise<Target> => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "effect-gather-bench-tls-"))
  const certificates = localCertificates()
  writeFileSync(path.join(dir, "cert.pem"), certificates.cert, { mode: 0o600 })
  writeFileSync(path.join(dir, "key.pem"), certificates.key, { mode: 0o600 })
  writeFileSync(path.join(dir, "ca.pem"), certificates.ca, { mode: 0o600 })
  const child = track(spawn(process.execPath, [path.join(benchDir, "target.mjs"), "--exit-on-stdin-close", `--tls=${dir}`], {
    cwd: root,
    stdio: ["pipe", "pipe", "inherit"]
  }))
  const port = Number(await firstLine(child, 10_000))
  if (!Number.isInteger(port) || port <= 0) throw new Error(`the https target printed no port`)
  return {
    name: "node:https (bench/target.mjs --tls, one process, ECDSA P-256 certificate)",
    origin: `https://127.0.0.1:${port}`,
    pid: child.pid,
    caFile: path.join(dir, "ca.pem"),
    stop: () => {
      child.kill("SIGTERM")
      rmSync(dir, { recursive: true, force: true })
    }
  }
}

/** The https target's handshake count (its `/handshakes` route). */
const handshakesOf = async (target: Target): Promise<number | undefined> => {
  if (target.caFile === undefined) return undefined
  const agent = new Agent({ connect: { ca: readFileSync(target.caFile) } })
  try {
    const response = await request(`${target.origin}/handshakes`, { dispatcher: agent })
    return Number(await response.body.text())
  } catch {
    return undefined
  } finally {
    await agent.destroy()
  }
}

/**
 * nginx (when installed) serves `/small` as a static 100-byte answer, one
 * process without a master, so a fast client is not limited by the node
 * target. `/delay` stays on the node target (nginx cannot wait by itself).
 */
const startNginx = async (binary: string): Promise<Target | string> => {
  const started = await startNginxServer(binary, () =>
    `location = /small { default_type text/plain; return 200 "${"x".repeat(100)}"; }
    location / { return 404; }`)
  if (typeof started === "string") return `${started}; /small served by node:http`
  track(started.child)
  return {
    name: `nginx (${sh(`${binary} -v 2>&1`) || binary}, one process) for /small`,
    origin: `http://127.0.0.1:${started.port}`,
    pid: started.child.pid,
    stop: started.stop
  }
}

// ---------------------------------------------------------------- clients

interface Client {
  readonly id: string
  readonly label: string
  /** The command and its arguments before `URL_TEMPLATE N C`. */
  readonly command: string
  readonly args: ReadonlyArray<string>
  /** Arguments after `URL_TEMPLATE N C`. */
  readonly extra: ReadonlyArray<string>
}

const js = (id: string, label: string, file: string, extra: ReadonlyArray<string>): Client => ({
  id,
  label,
  command: process.execPath,
  args: [...nodeFlags, clientFile(file)],
  extra
})

const undici = js("undici", "raw undici 7 `Pool.request`", "baseline.ts", ["--client=undici"])
const globalFetch = js("fetch", `global \`fetch\` (bundled undici ${process.versions.undici ?? "?"})`, "baseline.ts", ["--client=fetch"])
const platform = js("platform", "`@effect/platform` `layerUndici` + `Effect.forEach`", "baseline.ts", ["--client=platform"])
const gatherAll = js("gather-all", "effect-gather `Gather.all` (`Fetch.get`)", "client.ts", ["--gather=all"])
const gatherAllDefaultPool = js(
  "gather-all-64",
  "effect-gather `Gather.all`, default pool (128 connections)",
  "client.ts",
  ["--gather=all", "--connections=128"]
)
const gatherStream = js("gather-stream", "effect-gather `Gather.stream` (lazy range)", "client.ts", ["--gather=stream"])
const gatherForEach = js(
  "gather-foreach",
  "effect-gather, `Effect.forEach(range, Fetch.get, { concurrency })` (no Gather)",
  "client.ts",
  ["--gather=forEach"]
)
const effectUndici = js(
  "effect-undici",
  "`Effect.forEach` over `Effect.tryPromise` of raw undici (that shape's ceiling)",
  "baseline.ts",
  ["--client=effect-undici"]
)

const gatherCli = js("gather-cli", "`gather fetch FILE -c C -o OUT --quiet` (the CLI, in process)", "cli-client.ts", [])

const python = "/usr/bin/python3"
const hasAiohttp = spawnSync(python, ["-c", "import aiohttp"], { stdio: "ignore", timeout: 20_000 }).status === 0
const hasUvloop = hasAiohttp && spawnSync(python, ["-c", "import uvloop"], { stdio: "ignore", timeout: 20_000 }).status === 0
const aiohttp: Client = {
  id: "aiohttp",
  label: `Python aiohttp + \`asyncio.Semaphore\`${hasUvloop ? " (uvloop)" : ""}`,
  command: python,
  args: [path.join(benchDir, "aiohttp_client.py")],
  extra: []
}
const aiohttpNote = `Python aiohttp: skipped (\`${python} -c "import aiohttp"\` failed; install Debian's python3-aiohttp to add it)`

// ---------------------------------------------------------------- runs

interface Run {
  readonly measurement: Measurement | undefined
  /** Target CPU seconds over the client's load phase (from its markers). */
  readonly targetCpuS: number | undefined
  /**
   * CPU seconds that neither the client nor the target used over the load
   * phase: other work on the machine competing with the benchmark.
   */
  readonly otherCpuS: number | undefined
  /** RSS when the load phase started (after imports and warm-up), from its marker. */
  readonly startRssMb: number | undefined
  readonly error: string | undefined
  /** https only: TLS handshakes the target completed during the run (warm-up included). */
  readonly handshakes?: number | undefined
}

const runClient = (
  client: Client,
  target: Target,
  template: string,
  n: number,
  c: number,
  warmup: number,
  deadlineS: number
): Promise<Run> =>
  new Promise((resolve) => {
    const args = [...client.args, `${target.origin}${template}`, String(n), String(c), `--warmup=${warmup}`, ...client.extra]
    if (client.command === process.execPath) args.push(`--deadline-s=${deadlineS}`)
    const child = track(spawn(client.command, args, {
      cwd: root,
      env: { ...process.env, BENCH_PHASE_MARKERS: "1", ...(target.caFile === undefined ? {} : { BENCH_CA_FILE: target.caFile }) },
      stdio: ["ignore", "pipe", "pipe"]
    }))
    let stdout = ""
    const stderrTail: Array<string> = []
    let cpuAtStart: number | undefined
    let targetCpuS: number | undefined
    let clientAtStart: number | undefined
    let machineAtStart: number | undefined
    let otherCpuS: number | undefined
    let startRssMb: number | undefined
    child.stdout!.on("data", (chunk: Buffer) => {
      if (stdout.length < 100_000) stdout += chunk.toString()
    })
    createInterface({ input: child.stderr! }).on("line", (line) => {
      if (line.startsWith("#phase load-start")) {
        cpuAtStart = processCpuS(target.pid)
        clientAtStart = processCpuS(child.pid)
        machineAtStart = machineBusyS()
        const rss = Number(/rss=(\d+)/.exec(line)?.[1])
        if (Number.isFinite(rss)) startRssMb = rss / 2 ** 20
      } else if (line.startsWith("#phase load-end")) {
        const now = processCpuS(target.pid)
        const client = processCpuS(child.pid)
        const machine = machineBusyS()
        if (now !== undefined && cpuAtStart !== undefined) targetCpuS = now - cpuAtStart
        if (
          targetCpuS !== undefined && client !== undefined && clientAtStart !== undefined && machine !== undefined &&
          machineAtStart !== undefined
        ) otherCpuS = Math.max(0, machine - machineAtStart - (client - clientAtStart) - targetCpuS)
      } else {
        stderrTail.push(line)
        if (stderrTail.length > 5) stderrTail.shift()
      }
    })
    const killer = setTimeout(() => child.kill("SIGKILL"), (deadlineS + 5) * 1000)
    child.on("close", (code, signal) => {
      clearTimeout(killer)
      const line = stdout.trim().split("\n").at(-1) ?? ""
      let measurement: Measurement | undefined
      try {
        measurement = JSON.parse(line) as Measurement
      } catch {
        measurement = undefined
      }
      const error = measurement === undefined || code !== 0
        ? `exit ${code ?? signal}${stderrTail.length > 0 ? `: ${stderrTail.join(" | ").slice(0, 300)}` : ""}`
        : undefined
      resolve({ measurement, targetCpuS, otherCpuS, startRssMb, error })
    })
  })

interface Job {
  readonly scenario: string
  readonly client: Client
  readonly target: Target
  readonly template: string
  readonly n: number
  readonly c: number
  readonly warmup: number
  readonly deadlineS: number
}

const results = new Map<string, Array<Run>>()
const key = (scenario: string, client: Client) => `${scenario}/${client.id}`
const notes: Array<string> = []
const skipped = new Set<string>()

const execute = async (job: Job, round: number): Promise<void> => {
  const k = key(job.scenario, job.client)
  if (elapsedS() > budgetS - lastStartS) {
    if (!skipped.has(k)) notes.push(`${job.scenario} ${job.client.label}: round ${round} and later skipped, the ${budgetS} s budget was (nearly) spent`)
    skipped.add(k)
    return
  }
  const before = await handshakesOf(job.target)
  const measured = await runClient(job.client, job.target, job.template, job.n, job.c, job.warmup, job.deadlineS)
  const after = await handshakesOf(job.target)
  // minus 1: the `after` query's own connection is counted in `after`
  const run: Run = before === undefined || after === undefined ? measured : { ...measured, handshakes: after - before - 1 }
  const list = results.get(k) ?? []
  list.push(run)
  results.set(k, list)
  const m = run.measurement
  const summary = m === undefined
    ? `FAILED (${run.error})`
    : `${m.req_per_s.toFixed(0)} req/s, wall ${m.wall_s.toFixed(3)} s, cpu ${((m.cpu_user_s + m.cpu_sys_s) * 1e6 / job.n).toFixed(1)} µs/req, ` +
      `peak rss ${m.peak_rss_mb} MB, ok ${m.ok}, failed ${m.failed}${run.handshakes === undefined ? "" : `, ${run.handshakes} TLS handshakes`}${
        run.error === undefined ? "" : ` (${run.error})`
      }`
  process.stderr.write(`[${elapsedS().toFixed(0).padStart(4)} s] ${job.scenario} round ${round} ${job.client.id}: ${summary}\n`)
}

/** Runs every job of a round, then the next round; the order rotates by round. */
const interleaved = async (jobs: ReadonlyArray<Job>, count: number): Promise<void> => {
  for (let round = 0; round < count; round++) {
    for (let i = 0; i < jobs.length; i++) await execute(jobs[(i + round) % jobs.length]!, round + 1)
  }
}

// ---------------------------------------------------------------- tables

const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

interface Summary {
  readonly rounds: number
  readonly wallS: number
  readonly reqPerS: number
  readonly reqPerSMin: number
  readonly reqPerSMax: number
  readonly cpuUsPerReq: number
  readonly cpuMs: number
  readonly peakRssMb: number
  readonly startRssMb: number
  readonly targetCpuPct: number | undefined
  readonly otherCpuPct: number | undefined
  readonly ok: number
  readonly failed: number
  readonly errors: ReadonlyArray<string>
  /** Median TLS handshakes per run (https only). */
  readonly handshakes: number | undefined
}

const summarize = (scenario: string, client: Client, n: number): Summary | undefined => {
  const runs = results.get(key(scenario, client)) ?? []
  const measured = runs.flatMap((run) =>
    run.measurement === undefined ? [] : [{ m: run.measurement, target: run.targetCpuS, other: run.otherCpuS, startRss: run.startRssMb }]
  )
  const errors = runs.flatMap((run) => (run.error === undefined ? [] : [run.error]))
  if (measured.length === 0) return errors.length === 0 ? undefined : { ...emptySummary, errors }
  const rates = measured.map(({ m }) => m.req_per_s)
  const startRss = measured.flatMap(({ startRss }) => (startRss === undefined ? [] : [startRss]))
  const others = measured.flatMap(({ m, other }) => (other === undefined ? [] : [(100 * other) / m.wall_s]))
  const targets = measured.flatMap(({ m, target }) => (target === undefined ? [] : [(100 * target) / m.wall_s]))
  return {
    rounds: measured.length,
    wallS: median(measured.map(({ m }) => m.wall_s)),
    reqPerS: median(rates),
    reqPerSMin: Math.min(...rates),
    reqPerSMax: Math.max(...rates),
    cpuUsPerReq: median(measured.map(({ m }) => ((m.cpu_user_s + m.cpu_sys_s) * 1e6) / n)),
    cpuMs: median(measured.map(({ m }) => (m.cpu_user_s + m.cpu_sys_s) * 1e3)),
    peakRssMb: median(measured.map(({ m }) => m.peak_rss_mb)),
    startRssMb: startRss.length === 0 ? NaN : median(startRss),
    targetCpuPct: targets.length === 0 ? undefined : median(targets),
    otherCpuPct: others.length === 0 ? undefined : median(others),
    ok: measured.reduce((sum, { m }) => sum + m.ok, 0),
    failed: measured.reduce((sum, { m }) => sum + m.failed, 0),
    errors,
    handshakes: (() => {
      const counts = runs.flatMap((run) => (run.handshakes === undefined ? [] : [run.handshakes]))
      return counts.length === 0 ? undefined : median(counts)
    })()
  }
}

const emptySummary: Summary = {
  rounds: 0,
  wallS: NaN,
  reqPerS: NaN,
  reqPerSMin: NaN,
  reqPerSMax: NaN,
  cpuUsPerReq: NaN,
  cpuMs: NaN,
  peakRssMb: NaN,
  startRssMb: NaN,
  targetCpuPct: undefined,
  otherCpuPct: undefined,
  ok: 0,
  failed: 0,
  errors: [],
  handshakes: undefined
}

const fmt = (x: number | undefined, digits: number): string => (x === undefined || !Number.isFinite(x) ? "–" : x.toFixed(digits))
const int = (x: number): string => (Number.isFinite(x) ? Math.round(x).toLocaleString("en-US") : "–")
const okCell = (s: Summary): string =>
  `${s.ok.toLocaleString("en-US")} / ${s.failed.toLocaleString("en-US")}${s.errors.length > 0 ? ` (${s.errors.length} run(s) failed: ${s.errors[0]})` : ""}`

const table = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string =>
  [`| ${header.join(" | ")} |`, `|${header.map((_, i) => (i === 0 ? "---" : "--:")).join("|")}|`, ...rows.map((row) => `| ${row.join(" | ")} |`)].join("\n")

// ---------------------------------------------------------------- main

const main = async (): Promise<void> => {
  const node = await startNodeTarget()
  const targets: Array<Target> = [node]
  let small: Target = node
  const nginxBinary = sh("command -v nginx")
  if (!useNginx) notes.push("nginx: not used (--no-nginx); `/small` served by node:http")
  else if (nginxBinary === "") notes.push("nginx: not installed (`which nginx` found nothing); `/small` served by node:http")
  else {
    const started = await startNginx(nginxBinary)
    if (typeof started === "string") notes.push(started)
    else {
      targets.push(started)
      small = started
    }
  }
  const secure = useHttps ? await startHttpsTarget() : undefined
  if (secure !== undefined) targets.push(secure)
  else notes.push("https: not run (--no-https)")
  if (!hasAiohttp) notes.push(aiohttpNote)
  const withPython = (clients: ReadonlyArray<Client>) => (hasAiohttp ? [...clients, aiohttp] : clients)

  // Warm-ups long enough for the JIT to settle, the same for every client.
  const s1 = { n: 150, c: 150, warmup: quick ? 600 : 3000, template: "/delay?ms=100&i={i}" }
  const s2 = { n: quick ? 2_000 : 20_000, c: 64, warmup: quick ? 200 : 5_000, template: "/small?i={i}" }
  const s3Small = { n: quick ? 10_000 : 100_000, c: 256, warmup: quick ? 200 : 500, template: "/small?i={i}" }
  const s3Large = { n: 1_000_000, c: 256, warmup: 500, template: "/small?i={i}" }
  const s4 = { n: quick ? 10_000 : 100_000, c: 64, warmup: quick ? 500 : 2_000, template: "/small?i={i}" }
  const s1Clients = withPython([undici, globalFetch, platform, gatherAll, gatherStream, gatherForEach, gatherAllDefaultPool])
  const s2Clients = withPython([undici, globalFetch, platform, effectUndici, gatherAll, gatherStream, gatherForEach])
  // Over https: raw undici and effect-gather only (the others would need the CA wired into globals).
  const httpsClients = [undici, gatherAll, gatherStream, gatherForEach]

  process.stderr.write(
    `bench: ${
      quick ? "quick, " : ""
    }${rounds} round(s); target ${small.origin} (${small.name}); node flags for every JS client: ${nodeFlagsText}; clients ${build.how}\n`
  )

  // Warm the target's JIT and open no client state: a discarded raw run.
  for (const target of targets) {
    await runClient(undici, target, s2.template, quick ? 2_000 : 10_000, 64, 0, 60)
  }
  if (small !== node) await runClient(undici, node, s1.template.replace("100", "0"), 2_000, 64, 0, 60)

  const jobs = (scenario: string, clients: ReadonlyArray<Client>, target: Target, s: typeof s1, deadlineS: number): Array<Job> =>
    clients.map((client) => ({ scenario, client, target, ...s, deadlineS }))
  // One round of every scenario, then the next: S1, S2 and S3 runs interleave
  // too. Gather.all over 100k inputs is a contrast for memory only: round 1.
  for (let round = 0; round < rounds; round++) {
    const roundJobs = onlyHttps ?
      [...jobs("S1s", httpsClients, secure!, s1, 60), ...jobs("S2s", httpsClients, secure!, s2, 120)] :
      onlyS4 ?
      jobs("S4", [gatherStream, gatherCli], small, s4, 180) :
      [
        ...jobs("S1", s1Clients, node, s1, 60),
        ...jobs("S2", s2Clients, small, s2, 120),
        ...jobs("S3", round === 0 ? [undici, gatherStream, gatherAll] : [undici, gatherStream], small, s3Small, 180),
        ...jobs("S4", [gatherStream, gatherCli], small, s4, 180),
        ...(secure === undefined ? [] : [...jobs("S1s", httpsClients, secure, s1, 60), ...jobs("S2s", httpsClients, secure, s2, 120)])
      ]
    for (let i = 0; i < roundJobs.length; i++) {
      const job = roundJobs[(i + round) % roundJobs.length]!
      await execute(job, round + 1)
    }
  }

  // The 1,000,000-input stream: estimated from the 100k runs, skipped if it cannot fit.
  let s3LargeNote: string | undefined
  if (rounds1m > 0 && !onlyHttps && !onlyS4) {
    const small100k = summarize("S3", gatherStream, s3Small.n)
    const estimateS = small100k === undefined || !Number.isFinite(small100k.wallS)
      ? Infinity
      : (small100k.wallS * s3Large.n) / s3Small.n + 5
    const deadlineS = Math.min(400, Math.ceil(estimateS * 2 + 30))
    const runsThatFit = Math.min(rounds1m, Math.floor((budgetS - elapsedS()) / estimateS))
    process.stderr.write(`S3 ${int(s3Large.n)}: estimated ${fmt(estimateS, 0)} s per run, ${fmt(budgetS - elapsedS(), 0)} s of the budget left\n`)
    if (runsThatFit < 1) {
      s3LargeNote = `S3 ${int(s3Large.n)}: skipped (estimated ${fmt(estimateS, 0)} s per run, ${fmt(budgetS - elapsedS(), 0)} s of the budget left)`
    } else {
      if (runsThatFit < rounds1m) s3LargeNote = `S3 ${int(s3Large.n)}: ${runsThatFit} of ${rounds1m} rounds (budget)`
      await interleaved([{ scenario: "S3L", client: gatherStream, target: small, ...s3Large, deadlineS }], runsThatFit)
    }
  }
  if (quick) notes.push(`S3 ${int(s3Large.n)}: not run with --quick`)
  if (s3LargeNote !== undefined) notes.push(s3LargeNote)

  for (const target of targets) target.stop()

  // ---------------------------------------------------------- report
  const base2 = summarize("S2", undici, s2.n)
  const rowsS1 = s1Clients.flatMap((client) => {
    const s = summarize("S1", client, s1.n)
    if (s === undefined) return []
    return [[client.label, fmt(s.wallS, 3), `${fmt(s.wallS / 0.1, 2)}×`, fmt(s.cpuMs, 0), fmt(s.peakRssMb, 0), String(s.rounds), okCell(s)]]
  })
  const rowsS2 = s2Clients.flatMap((client) => {
    const s = summarize("S2", client, s2.n)
    if (s === undefined) return []
    return [[
      client.label,
      int(s.reqPerS),
      `${int(s.reqPerSMin)}–${int(s.reqPerSMax)}`,
      base2 === undefined ? "–" : fmt(s.reqPerS / base2.reqPerS, 2),
      base2 === undefined ? "–" : fmt(s.reqPerSMax / base2.reqPerSMax, 2),
      fmt(s.cpuUsPerReq, 1),
      base2 === undefined ? "–" : fmt(s.cpuUsPerReq / base2.cpuUsPerReq, 2),
      `${fmt(s.startRssMb, 0)} → ${fmt(s.peakRssMb, 0)}`,
      fmt(s.targetCpuPct, 0),
      fmt(s.otherCpuPct, 0),
      String(s.rounds),
      okCell(s)
    ]]
  })
  const base1s = summarize("S1s", undici, s1.n)
  const base2s = summarize("S2s", undici, s2.n)
  const rowsHttps = secure === undefined ? [] : httpsClients.flatMap((client) => {
    const one = summarize("S1s", client, s1.n)
    const two = summarize("S2s", client, s2.n)
    if (one === undefined && two === undefined) return []
    return [[
      client.label,
      fmt(one?.wallS, 3),
      one === undefined || base1s === undefined ? "–" : fmt(one.wallS / base1s.wallS, 2),
      fmt(one?.handshakes, 0),
      int(two?.reqPerS ?? NaN),
      two === undefined || base2s === undefined ? "–" : fmt(two.reqPerS / base2s.reqPerS, 2),
      two === undefined || base2s === undefined ? "–" : fmt(two.reqPerSMax / base2s.reqPerSMax, 2),
      fmt(two?.cpuUsPerReq, 1),
      two === undefined || base2s === undefined ? "–" : fmt(two.cpuUsPerReq / base2s.cpuUsPerReq, 2),
      fmt(two?.handshakes, 0),
      fmt(two?.otherCpuPct, 0),
      `${one === undefined ? "–" : okCell(one)}; ${two === undefined ? "–" : okCell(two)}`
    ]]
  })
  const s3Rows: Array<[string, Client, number]> = [
    ["S3", undici, s3Small.n],
    ["S3", gatherStream, s3Small.n],
    ["S3L", gatherStream, s3Large.n],
    ["S3", gatherAll, s3Small.n]
  ]
  const base3 = summarize("S3", undici, s3Small.n)
  const rowsS3 = s3Rows.flatMap(([scenario, client, n]) => {
    const s = summarize(scenario, client, n)
    if (s === undefined) return []
    return [[
      client.label,
      int(n),
      fmt(s.startRssMb, 0),
      fmt(s.peakRssMb, 0),
      fmt(s.peakRssMb - s.startRssMb, 0),
      fmt(s.wallS, 1),
      int(s.reqPerS),
      base3 === undefined ? "–" : fmt(s.reqPerS / base3.reqPerS, 2),
      fmt(s.cpuUsPerReq, 1),
      base3 === undefined ? "–" : fmt(s.cpuUsPerReq / base3.cpuUsPerReq, 2),
      fmt(s.otherCpuPct, 0),
      String(s.rounds),
      okCell(s)
    ]]
  })

  const base4 = summarize("S4", gatherStream, s4.n)
  const rowsS4 = [gatherStream, gatherCli].flatMap((client) => {
    const s = summarize("S4", client, s4.n)
    if (s === undefined) return []
    return [[
      client.label,
      int(s.reqPerS),
      base4 === undefined ? "–" : fmt(s.reqPerS / base4.reqPerS, 2),
      fmt(s.cpuUsPerReq, 1),
      base4 === undefined ? "–" : fmt(s.cpuUsPerReq / base4.cpuUsPerReq, 2),
      fmt(s.peakRssMb, 0),
      fmt(s.otherCpuPct, 0),
      String(s.rounds),
      okCell(s)
    ]]
  })

  const loadAtEnd = loadAvg()
  const s4Heading = `## S4: the command line, \`gather fetch\` over ${int(s4.n)} URLs with \`-o\` a file, concurrency ${s4.c}`
  const s4Section = `${s4Heading}

The CLI's own program (what \`bin.ts\` runs), in process, reading the URLs from a file and writing NDJSON records; beside the library's \`Gather.stream\` on the same target. Target: the CLI at ≥ 0.8× the library's req/s.

${table(["client", "req/s", "req/s ÷ Gather.stream", "CPU µs/req", "CPU ÷ Gather.stream", "peak RSS MB", "other CPU %", "rounds", "ok / failed"], rowsS4)}
`
  if (onlyS4) {
    const section = `${s4Section}
Run alone (\`--only=s4\`) on ${
      new Date().toISOString()
    }: ${rounds} round(s), interleaved, medians; target ${small.name}; clients ${build.how}; node flags ${nodeFlagsText}; load average ${loadAtStart} at start, ${loadAtEnd} at end (a shared machine: read the ratios).${
      notes.length === 0 ? "" : ` ${notes.join("; ")}.`
    }
`
    process.stdout.write(`\n${section}`)
    writeSection(s4Heading, section)
    return
  }
  const markdown = `# effect-gather benchmark results

- date: ${new Date().toISOString()}
- node ${process.version} (V8 ${process.versions.v8}, bundled undici ${process.versions.undici ?? "?"}); node flags for every JS client: ${
    nodeFlagsText === "none" ? "none" : `\`${nodeFlagsText}\``
  }; clients ${build.how}${process.env["NODE_OPTIONS"] ? `; NODE_OPTIONS \`${process.env["NODE_OPTIONS"]}\`` : ""}
- machine: ${nproc} CPU(s), ${cpuModel}, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM; load average ${loadAtStart} at start, ${loadAtEnd} at end
- target: ${small.name}${small === node ? "" : `; \`/delay\` on ${node.name}`}, on the same machine (it takes one of the ${nproc} cores)
- mode: ${
    quick ? "--quick, " : ""
  }${rounds} round(s), interleaved (every client once per round, order rotated each round); medians of the rounds; each client in its own process with a warm-up before its measured phase; total ${
    fmt(elapsedS(), 0)
  } s

## S1: ${int(s1.n)} requests to \`/delay?ms=100\` at concurrency ${s1.c} (ideal wall time 0.1 s)

Every client has ${s1.c} connections (warmed by a ${s1.warmup}-request warm-up), except the last effect-gather row, which keeps the library's default \`maxConnectionsPerHost\` of 128.

${table(["client", "wall s", "÷ ideal", "CPU ms", "peak RSS MB", "rounds", "ok / failed"], rowsS1)}

## S2: ${int(s2.n)} GETs of \`/small\` (100 bytes) at concurrency ${s2.c}

${
    table([
      "client",
      "req/s",
      "req/s range",
      "req/s ÷ undici",
      "best ÷ best undici",
      "CPU µs/req",
      "CPU ÷ undici",
      "RSS MB start → peak",
      "target CPU %",
      "other CPU %",
      "rounds",
      "ok / failed"
    ], rowsS2)
  }

## S3: memory of a large gather, concurrency ${s3Small.c}, \`/small\`

${
    table([
      "client",
      "inputs",
      "RSS at start MB",
      "peak RSS MB",
      "growth MB",
      "wall s",
      "req/s",
      "req/s ÷ undici",
      "CPU µs/req",
      "CPU ÷ undici",
      "other CPU %",
      "rounds",
      "ok / failed"
    ], rowsS3)
  }

${s4Section}
${
    secure === undefined ? "" : `## S1 and S2 over https (${secure.name})

S1: ${int(s1.n)} × \`/delay?ms=100\` at concurrency ${s1.c}; S2: ${
      int(s2.n)
    } × \`/small\` at concurrency ${s2.c}. Keep-alive on; every client gets C connections, as over http. "handshakes" is what the target counted (\`secureConnection\`) over the whole run, warm-up included.

${
      table([
        "client",
        "S1 wall s",
        "S1 ÷ undici",
        "S1 handshakes",
        "S2 req/s",
        "S2 req/s ÷ undici",
        "S2 best ÷ best undici",
        "S2 CPU µs/req",
        "S2 CPU ÷ undici",
        "S2 handshakes",
        "S2 other CPU %",
        "ok / failed (S1; S2)"
      ], rowsHttps)
    }

`
  }## Notes

${notes.length === 0 ? "- none" : notes.map((note) => `- ${note}`).join("\n")}
- Numbers are from a shared ${nproc}-core machine where the target and the client compete for the cores: read the ratios, not the absolute figures. Other work only ever slows a run down, so on a busy machine "best ÷ best undici" (fastest round against fastest round) is the less disturbed throughput ratio, and CPU µs/req (which waiting does not inflate) the steadiest figure of all. "target CPU %" near 100 means the target, not the client, was the limit; "other CPU %" is CPU that neither the client nor the target used during the load phase (other work on the machine, in % of one core): where it is high, that row's figures are unreliable.
`
  // The adaptive scenarios last: their own target, their own section.
  const adaptiveSection = flags.has("no-adaptive") ?
    "" :
    await runAdaptive({ quick }).catch((error: unknown) => `${adaptiveHeading}\n\nnot measured: ${error instanceof Error ? error.message : String(error)}\n`)
  const measured = adaptiveSection === "" ? markdown : `${markdown}\n${adaptiveSection}`
  process.stdout.write(`\n${measured}`)
  if (outPath !== "-") {
    // Sections this run did not measure (the adaptive scenarios with
    // --no-adaptive, the cluster table written by hand from bench:cluster, the cache table of
    // bench:cache, the consumers table of bench/consumers.ts, run by hand) stay as they were.
    let existing = ""
    try {
      existing = readFileSync(outPath, "utf8")
    } catch {
      existing = ""
    }
    const kept = [...(adaptiveSection === "" ? [adaptiveHeading] : []), clusterHeading, cacheHeading, consumersHeading]
      .map((heading) => sectionOf(existing, heading))
      .filter((section): section is string => section !== undefined)
    const full = [measured.trimEnd(), ...kept].join("\n\n")
    writeFileSync(outPath, `${full}\n`)
    process.stderr.write(`written to ${path.relative(process.cwd(), outPath) || outPath}\n`)
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`)
  killAll()
  process.exitCode = 1
})
