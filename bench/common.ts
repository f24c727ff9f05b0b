/**
 * What every benchmark client shares: the command-line contract
 * (`URL_TEMPLATE N C [--warmup=K]`), the loopback-only guard, the lazy
 * range of request numbers and the load-phase measurement (wall time,
 * `process.cpuUsage`, RSS sampled every 50 ms) printed as one JSON line.
 */
import { isIP } from "node:net"

/** The one JSON line every client prints on stdout. */
export interface Measurement {
  readonly wall_s: number
  readonly req_per_s: number
  readonly cpu_user_s: number
  readonly cpu_sys_s: number
  readonly peak_rss_mb: number
  readonly ok: number
  readonly failed: number
}

export interface ClientArgs {
  /** The URL with `{i}` where the request number (1..N) goes. */
  readonly template: string
  readonly n: number
  readonly c: number
  /** Requests made before the measured phase (same template, same concurrency). */
  readonly warmup: number
  /** Flags other than `--warmup`, as `name → value` (`"true"` for bare flags). */
  readonly flags: ReadonlyMap<string, string>
}

const usage = (program: string) =>
  `usage: npx tsx ${program} URL_TEMPLATE N C [--warmup=K]\n` +
  `  URL_TEMPLATE  an http://127.0.0.1... URL; "{i}" is replaced by 1..N\n` +
  `  N             how many GETs (whole number >= 1)\n` +
  `  C             at most this many in flight (whole number >= 1)\n`

/** Exits with status 2 and a message on stderr. */
export const refuse = (message: string): never => {
  process.stderr.write(`${message}\n`)
  process.exit(2)
}

const isLoopbackHost = (hostname: string): boolean => {
  const host = hostname.startsWith("[") && hostname.endsWith("]") ? hostname.slice(1, -1) : hostname
  if (host.toLowerCase() === "localhost") return true
  if (isIP(host) === 4) return host.split(".")[0] === "127"
  if (isIP(host) === 6) return host === "::1" || host === "0:0:0:0:0:0:0:1"
  return false
}

/**
 * Refuses (exit 2) any template that is not an http(s) URL on a loopback
 * host: 127.0.0.0/8, `localhost` or `::1`. The benchmark never sends traffic
 * anywhere else.
 */
export const checkLoopback = (template: string): URL => {
  let url: URL
  try {
    url = new URL(template.replaceAll("{i}", "1"))
  } catch {
    return refuse(`refused: not a valid URL: ${template}`)
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return refuse(`refused: only http(s) URLs, got ${url.protocol}`)
  if (!isLoopbackHost(url.hostname)) {
    return refuse(`refused: ${url.hostname} is not a loopback host (127.0.0.0/8, localhost, ::1); the benchmark only targets this machine`)
  }
  return url
}

const wholeNumber = (text: string | undefined, name: string, program: string): number => {
  const value = Number(text)
  if (text === undefined || !Number.isInteger(value) || value < 1) return refuse(`${name} must be a whole number >= 1, got ${text}\n${usage(program)}`)
  return value
}

/** Parses `URL_TEMPLATE N C [--warmup=K] [--name=value ...]`; exits 2 on anything wrong. */
export const parseArgs = (program: string, argv: ReadonlyArray<string> = process.argv.slice(2)): ClientArgs => {
  const positional: Array<string> = []
  const flags = new Map<string, string>()
  for (const arg of argv) {
    if (arg.startsWith("--")) {
      const at = arg.indexOf("=")
      flags.set(at < 0 ? arg.slice(2) : arg.slice(2, at), at < 0 ? "true" : arg.slice(at + 1))
    } else {
      positional.push(arg)
    }
  }
  if (positional.length !== 3) return refuse(usage(program))
  const [template, n, c] = positional as [string, string, string]
  checkLoopback(template)
  const warmupText = flags.get("warmup")
  flags.delete("warmup")
  const warmup = warmupText === undefined ? 0 : Number(warmupText)
  if (!Number.isInteger(warmup) || warmup < 0) return refuse(`--warmup must be a whole number >= 0, got ${warmupText}`)
  return { template, n: wholeNumber(n, "N", program), c: wholeNumber(c, "C", program), warmup, flags }
}

/** The URL of request number `i` (1-based). */
export const urlOf = (template: string, i: number): string => template.replaceAll("{i}", String(i))

/** 1..n, lazily: nothing is allocated per element until it is pulled. */
export const range = (n: number): Iterable<number> => ({
  [Symbol.iterator]: () => {
    let i = 0
    return {
      next: (): IteratorResult<number> => (i < n ? { done: false, value: ++i } : { done: true, value: undefined })
    }
  }
})

/**
 * Lets the runner (`BENCH_PHASE_MARKERS=1`) see when the load phase starts
 * and ends, so it can read the target server's CPU over that window.
 */
const marker = (phase: "load-start" | "load-end", rss: number): void => {
  if (process.env["BENCH_PHASE_MARKERS"] === "1") process.stderr.write(`#phase ${phase} rss=${rss}\n`)
}

/** Counters a client bumps per finished request. */
export interface Tally {
  ok: number
  failed: number
}

/**
 * Runs the measured phase: marks it, samples RSS every 50 ms, and measures
 * wall time and CPU (user + sys) from just before `load` starts to just
 * after it settles.
 */
export const measure = async (n: number, load: (tally: Tally) => Promise<void>): Promise<Measurement> => {
  const tally: Tally = { ok: 0, failed: 0 }
  const startRss = process.memoryUsage.rss()
  let peakRss = startRss
  const sampler = setInterval(() => {
    const rss = process.memoryUsage.rss()
    if (rss > peakRss) peakRss = rss
  }, 50)
  marker("load-start", startRss)
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  try {
    await load(tally)
  } finally {
    clearInterval(sampler)
  }
  const wall = (performance.now() - t0) / 1000
  const cpu = process.cpuUsage(cpu0)
  peakRss = Math.max(peakRss, process.memoryUsage.rss())
  marker("load-end", peakRss)
  const round = (x: number, digits: number) => Number(x.toFixed(digits))
  return {
    wall_s: round(wall, 4),
    req_per_s: round(n / wall, 1),
    cpu_user_s: round(cpu.user / 1e6, 4),
    cpu_sys_s: round(cpu.system / 1e6, 4),
    peak_rss_mb: round(peakRss / (1024 * 1024), 1),
    ok: tally.ok,
    failed: tally.failed
  }
}

/** Prints the measurement as the one JSON line on stdout. */
export const report = (measurement: Measurement): void => {
  process.stdout.write(`${JSON.stringify(measurement)}\n`)
}

/**
 * A hard bound on the whole process (`--deadline-s`, default 600 s): past
 * it, the client gives up with exit 3 rather than run on.
 */
export const armDeadline = (flags: ReadonlyMap<string, string>): void => {
  const seconds = Number(flags.get("deadline-s") ?? "600")
  const limit = Number.isFinite(seconds) && seconds > 0 ? seconds : 600
  setTimeout(() => {
    process.stderr.write(`deadline of ${limit} s reached, giving up\n`)
    process.exit(3)
  }, limit * 1000).unref()
}
