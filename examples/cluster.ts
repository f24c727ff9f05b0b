/**
 * A sharded, durable gather on one machine, with a runner killed half-way.
 *
 * Starts one demo server per origin (20 by default, each on its own port, so
 * each counts its own requests and peak in-flight), then N runner processes
 * (`gather cluster runner`, the same command a user runs), all sharing one
 * SQLite file (or the Postgres of `--storage`). It submits the URLs as a job
 * with a limit of 4 in flight per origin, and with `--kill-one` sends SIGKILL
 * to the busiest runner once half the results are stored. The runners left
 * take over its origins and run what it had not finished.
 *
 * Prints one JSON line (`results_per_runner`: what each runner stored, most
 * first); `fetches` and `max_in_flight_per_origin` are counted
 * at the demo servers, `killed_in_flight` is what the servers of the killed
 * runner's origins had in flight at the moment of the kill (so
 * `fetches - urls` must not exceed it).
 *
 * `--servers plain` puts the origins in a process of their own as plain
 * node:http servers that only wait and answer (examples/shared/plainServers.mjs):
 * the demo servers cost about 0.8 ms of CPU a request, which on a small
 * machine takes the cores the runners are measured on (bench/cluster.ts
 * uses it where runners are compared with runners).
 *
 * Run: npx tsx examples/cluster.ts --runners 3 --urls 5000 --kill-one
 *      [--origins 20] [--per-origin 4] [--concurrency 64] [--latency 20ms] [--storage postgres://...]
 *      [--servers demo|plain] [--timeout 10m]   (durations: 20ms, 20 millis, 1.5s, 2 minutes; a bare number is seconds)
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Console, Deferred, Duration, Effect, Layer, Stream } from "effect"
import type { Scope } from "effect"
import * as Cluster from "effect-gather/Cluster"
import * as DemoServer from "effect-gather/DemoServer"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { arg, durationArg, flag } from "./shared/demo.js"

const int = (name: string, fallback: number): number => {
  const raw = arg(name)
  const n = raw === undefined ? fallback : Number(raw)
  if (Number.isInteger(n) && n >= 1) return n
  process.stderr.write(`--${name} must be a positive integer, got ${JSON.stringify(raw)}\n`)
  return process.exit(2)
}

const bin = fileURLToPath(new URL("../src/bin.ts", import.meta.url))

/** A free TCP port on 127.0.0.1 (asked of the OS, then released for the runner). */
const freePort = Effect.async<number>((resume) => {
  const server = Net.createServer()
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    server.close(() => resume(Effect.succeed(port)))
  })
})

interface RunnerProcess {
  readonly address: string
  readonly child: ChildProcess.ChildProcess
  /** The largest "not yet stored" count the runner printed in the last second. */
  readonly recentPending: () => number
}

/** An origin of the job and what it counted: a demo server, or one of the plain servers. */
interface Origin {
  readonly baseUrl: string
  readonly stats: Effect.Effect<{ readonly requests: number; readonly inFlight: number; readonly peakInFlight: number }, Error>
}

/** `count` plain node:http origins in a child process (see the header), stopped with the scope. */
const startPlainServers = (count: number, latency: Duration.Duration): Effect.Effect<ReadonlyArray<Origin>, Error, Scope.Scope> =>
  Effect.gen(function*() {
    const script = fileURLToPath(new URL("./shared/plainServers.mjs", import.meta.url))
    const child = yield* Effect.acquireRelease(
      Effect.sync(() =>
        ChildProcess.spawn(process.execPath, [script, String(count), String(Duration.toMillis(latency))], {
          stdio: ["pipe", "pipe", "inherit"]
        })
      ),
      (child) => Effect.sync(() => child.kill("SIGTERM"))
    )
    // The first line only: both listeners go once it (or the exit) has answered.
    const urls = yield* Effect.async<ReadonlyArray<string>, Error>((resume) => {
      let out = ""
      const onData = (chunk: unknown) => {
        out += String(chunk)
        const end = out.indexOf("\n")
        if (end < 0) return
        stop()
        const line = out.slice(0, end)
        // Parsed here, in a listener: a line that is not the JSON of the URLs fails the Effect, not the process.
        resume(Effect.try({
          try: () => JSON.parse(line) as ReadonlyArray<string>,
          catch: () => new Error(`plain servers printed ${JSON.stringify(line.slice(0, 200))}, not their URLs`)
        }))
      }
      const onExit = (code: number | null) => {
        stop()
        resume(Effect.fail(new Error(`plain servers exited (${code}) before they listened`)))
      }
      const stop = () => {
        child.stdout!.off("data", onData)
        child.off("exit", onExit)
      }
      child.stdout!.on("data", onData)
      child.once("exit", onExit)
      return Effect.sync(stop)
    })
    return urls.map((baseUrl): Origin => ({
      baseUrl,
      stats: Effect.tryPromise({
        try: async () => (await (await fetch(`${baseUrl}/__stats`)).json()) as { requests: number; inFlight: number; peakInFlight: number },
        catch: (cause) => new Error(`${baseUrl}/__stats: ${String(cause)}`)
      })
    }))
  })

/** A runner process, ready when it says so, killed when the scope closes. */
const startRunner = (storage: string, perOrigin: number, concurrency: number): Effect.Effect<RunnerProcess, Error, Scope.Scope> =>
  Effect.gen(function*() {
    const port = yield* freePort
    const child = yield* Effect.acquireRelease(
      Effect.sync(() =>
        ChildProcess.spawn(process.execPath, [
          "--import",
          "tsx",
          bin,
          "cluster",
          "runner",
          "--storage",
          storage,
          "--port",
          String(port),
          "--per-origin",
          String(perOrigin),
          "--concurrency",
          String(concurrency),
          "--stats-every",
          "50ms"
        ], { stdio: ["ignore", "pipe", "pipe"], cwd: fileURLToPath(new URL("..", import.meta.url)) })
      ),
      (child) =>
        Effect.async<void>((resume) => {
          if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.void)
          const timer = setTimeout(() => child.kill("SIGKILL"), 5000)
          child.once("exit", () => {
            clearTimeout(timer)
            resume(Effect.void)
          })
          child.kill("SIGTERM")
        })
    )
    let stderr = ""
    const pending: Array<readonly [at: number, count: number]> = []
    child.stderr!.on("data", (chunk) => {
      stderr = (stderr + String(chunk)).slice(-4000)
      const now = Date.now()
      for (const match of String(chunk).matchAll(/(\d+) not yet stored/g)) pending.push([now, Number(match[1])])
      while (pending.length > 0 && pending[0]![0] < now - 1000) pending.shift()
    })
    const recentPending = () => Math.max(0, ...pending.filter(([at]) => at >= Date.now() - 1000).map(([, n]) => n))
    const ready = yield* Deferred.make<string, Error>()
    let stdout = ""
    child.stdout!.on("data", (chunk) => {
      stdout += String(chunk)
      const match = /runner (\S+) ready/.exec(stdout)
      if (match !== null) Deferred.unsafeDone(ready, Effect.succeed(match[1]!))
    })
    child.once("exit", (code, signal) => Deferred.unsafeDone(ready, Effect.fail(new Error(`runner exited (${code ?? signal}) before it was ready: ${stderr}`))))
    const address = yield* Deferred.await(ready).pipe(
      Effect.timeoutFail({ duration: "120 seconds", onTimeout: () => new Error(`runner on ${port} not ready: ${stderr}`) })
    )
    return { address, child, recentPending }
  })

const main = Effect.gen(function*() {
  const runners = int("runners", 3)
  const total = int("urls", 5000)
  const origins = int("origins", 20)
  const perOrigin = int("per-origin", 4)
  const concurrency = int("concurrency", 64)
  const timeout = durationArg("timeout", "600 seconds")
  const latency = durationArg("latency", "20 millis")
  const killOne = flag("kill-one")
  const serverKind = arg("servers") ?? "demo"
  if (serverKind !== "demo" && serverKind !== "plain") {
    process.stderr.write(`--servers must be demo or plain, got ${JSON.stringify(serverKind)}\n`)
    return process.exit(2)
  }
  const started = Date.now()

  const dir = yield* Effect.acquireRelease(
    Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "gather-cluster-"))),
    (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
  )
  const storage = arg("storage") ?? `sqlite:${Path.join(dir, "jobs.db")}`

  const servers: ReadonlyArray<Origin> = serverKind === "plain"
    ? yield* startPlainServers(origins, latency)
    : yield* Effect.forEach(Array.from({ length: origins }), () => DemoServer.make({ latency }))
  const serverOf = new Map(servers.map((server) => [server.baseUrl, server]))
  const urls = Array.from({ length: total }, (_, i) => `${servers[i % origins]!.baseUrl}/wiki/${(i % 9999) + 1}?n=${i}`)

  const procs = yield* Effect.forEach(Array.from({ length: runners }), () => startRunner(storage, perOrigin, concurrency), {
    concurrency: "unbounded"
  })
  // Let the runners agree on who holds which shards before any work exists:
  // a shard that moves while its origin is busy interrupts those fetches
  // (they run again on the new owner, as extra fetches).
  yield* Effect.sleep("5 seconds")

  const clientContext = yield* Layer.build(Cluster.layerClient({ storage }))
  const client = yield* Effect.provide(Cluster.Client, clientContext)
  const submitted = Date.now()
  const job = yield* client.submit(urls)
  const submitSeconds = Math.round((Date.now() - submitted) / 100) / 10
  yield* Console.error(`job ${job}: ${total} URLs over ${origins} origins submitted to ${runners} runners`)

  const seen = new Uint8Array(total)
  let results = 0
  let duplicates = 0
  let killed: { address: string; inFlight: number } | undefined
  const perRunner = new Map<string, number>()
  const originsOf = new Map<string, Set<string>>()

  const killBusiest = Effect.gen(function*() {
    const busiest = [...perRunner.entries()].sort((a, b) => b[1] - a[1])[0]
    const victim = procs.find((p) => p.address === busiest?.[0])
    if (victim === undefined) return
    // What the victim had begun and not stored: the larger of what the
    // servers of its origins have in flight now (other runners hold other
    // origins) and what the runner itself reported in the last second (it
    // also counts responses read and not yet stored).
    let atServers = 0
    for (const origin of originsOf.get(victim.address) ?? []) {
      const server = serverOf.get(origin)
      if (server !== undefined) atServers += (yield* server.stats).inFlight
    }
    const inFlight = Math.max(atServers, victim.recentPending())
    victim.child.kill("SIGKILL")
    killed = { address: victim.address, inFlight }
    yield* Console.error(
      `SIGKILL runner ${victim.address} after ${results} results (${atServers} requests in flight at its servers, ${victim.recentPending()} not yet stored by its last report)`
    )
  })

  yield* client.results(job).pipe(
    Stream.runForEach((result) =>
      Effect.gen(function*() {
        results++
        if (seen[result.index] === 1) duplicates++
        seen[result.index] = 1
        perRunner.set(result.runner, (perRunner.get(result.runner) ?? 0) + 1)
        const url = urls[result.index]!
        const origin = url.slice(0, url.indexOf("/wiki/"))
        let set = originsOf.get(result.runner)
        if (set === undefined) originsOf.set(result.runner, set = new Set())
        set.add(origin)
        if (killOne && killed === undefined && results >= total / 2) yield* killBusiest
      })
    ),
    Effect.timeoutFail({ duration: timeout, onTimeout: () => new Error(`job not finished after ${Duration.format(timeout)}`) })
  )

  const status = yield* client.status(job)
  const stats = yield* Effect.forEach(servers, (server) => server.stats)
  let lost = 0
  for (const flagged of seen) if (flagged === 0) lost++
  const line = {
    urls: total,
    results,
    lost,
    duplicate_results: duplicates + (status.done - results),
    fetches: stats.reduce((sum, s) => sum + s.requests, 0),
    max_in_flight_per_origin: Math.max(...stats.map((s) => s.peakInFlight)),
    seconds: Math.round((Date.now() - started) / 100) / 10,
    job_seconds: Math.round((Date.now() - submitted) / 100) / 10,
    submit_seconds: submitSeconds,
    runners,
    killed_in_flight: killed?.inFlight ?? 0,
    // Results each runner stored, most first: how the origins' shards fell on the runners.
    results_per_runner: [...perRunner.values()].sort((a, b) => b - a),
    storage: client.storage._tag
  }
  yield* Console.log(JSON.stringify(line))
})

main.pipe(Effect.scoped, NodeRuntime.runMain)
