/**
 * One client run of the adaptive scenarios (started by bench/adaptive.ts,
 * one process per run). Prints one JSON line: wall time, outcomes, the
 * refusals it saw, and the adaptive window's trace.
 *
 *   node --import tsx bench/adaptive-client.ts --origin=http://127.0.0.1:PORT --path=/cap/ --n=10000 --c=20
 *     --mode=fixed|gated|adaptive|origin|request|oracle|undici [--initial=10] [--decrease=0.7] [--retries=100] [--cap-s=60]
 *     [--phase-c=10 --phase-from-ms=3000 --phase-to-ms=6000]
 *
 * `fixed`/`request`: effect-gather, Retry-After per request (the default);
 * `gated`: the same with `maxInFlightPerOrigin: C` (every request through the
 * session's gate, as with `adaptive`, but no window);
 * `origin`: effect-gather with `retryAfter: "origin"`; `adaptive`: the
 * adaptive window capped by C (starting at `initial`, default the
 * library's); `oracle`: effect-gather at fixed concurrency C, except
 * `phase-c` from `phase-from-ms` to `phase-to-ms` after its first request
 * (the moments the target's /phase route changes its capacity); `undici`: a
 * plain undici Pool, C workers, each honouring Retry-After per request.
 */
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { Pool } from "undici"
import * as Fetch from "../src/Fetch.js"
import * as Gather from "../src/Gather.js"
import * as SessionInternal from "../src/internal/session.js"
import * as Session from "../src/Session.js"
import { checkLoopback, refuse } from "./common.js"

const flags = new Map<string, string>()
for (const arg of process.argv.slice(2)) {
  const at = arg.indexOf("=")
  if (arg.startsWith("--")) flags.set(at < 0 ? arg.slice(2) : arg.slice(2, at), at < 0 ? "true" : arg.slice(at + 1))
}
const origin = flags.get("origin") ?? refuse("--origin is required")
checkLoopback(origin)
const pathPrefix = flags.get("path") ?? "/cap/"
const n = Number(flags.get("n") ?? 10_000)
const c = Number(flags.get("c") ?? 32)
const mode = flags.get("mode") ?? "fixed"
const decrease = flags.has("decrease") ? Number(flags.get("decrease")) : undefined
const initial = flags.has("initial") ? Number(flags.get("initial")) : undefined
const phaseC = Number(flags.get("phase-c") ?? c)
const phaseFromMs = Number(flags.get("phase-from-ms") ?? 3000)
const phaseToMs = Number(flags.get("phase-to-ms") ?? 6000)
const retries = Number(flags.get("retries") ?? 2)
const capS = Number(flags.get("cap-s") ?? 90)

/** The one JSON line this client prints (read by bench/adaptive.ts). */
export interface Result {
  readonly wall_s: number
  readonly ok: number
  readonly failed: number
  readonly done: number
  readonly capped: boolean
  /** Answers 429/503 the client saw (retried or final). */
  readonly refused: number
  /** [seconds since start, window] every 100 ms (adaptive only). */
  readonly trace: ReadonlyArray<readonly [number, number]>
}

/**
 * The oracle's gate: at most C in flight, `phase-c` during the phase,
 * counted from the first request. A request that finds no room waits for
 * one, first come first served; the phase's end lets waiters in.
 */
const oracleGate = () => {
  let startedAt: number | undefined
  let active = 0
  const waiters: Array<() => void> = []
  const allowed = () => {
    const since = performance.now() - (startedAt ?? performance.now())
    return since >= phaseFromMs && since < phaseToMs ? phaseC : c
  }
  const wake = () => {
    while (active < allowed() && waiters.length > 0) {
      active++
      waiters.shift()!()
    }
  }
  const enter = Effect.async<void>((resume) => {
    if (startedAt === undefined) {
      startedAt = performance.now()
      setTimeout(wake, phaseToMs).unref()
    }
    if (waiters.length === 0 && active < allowed()) {
      active++
      return resume(Effect.void)
    }
    waiters.push(() => resume(Effect.void))
  })
  const leave = Effect.sync(() => {
    active--
    wake()
  })
  return <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.acquireUseRelease(enter, () => effect, () => leave)
}

const print = (result: Result) => process.stdout.write(`${JSON.stringify(result)}\n`)

const runGather = async (): Promise<Result> => {
  let ok = 0
  let failed = 0
  let refused = 0
  const trace: Array<readonly [number, number]> = []
  const started = performance.now()
  const program = Effect.gen(function*() {
    const session = yield* SessionInternal.tag
    const timer = mode === "adaptive"
      ? setInterval(() => {
        const window = session.hosts.windows()[origin]
        if (window !== undefined) trace.push([Math.round(performance.now() - started) / 1000, window])
      }, 100)
      : undefined
    const gate = mode === "oracle" ? oracleGate() : <A, E, R>(effect: Effect.Effect<A, E, R>) => effect
    const gather = Gather.stream(
      Stream.range(1, n),
      (i) => gate(Fetch.get(`${origin}${pathPrefix}${i}`)),
      { concurrency: c }
    ).pipe(Stream.runForEach((item) =>
      Effect.sync(() => {
        if (item.outcome._tag === "Right") {
          ok++
          refused += item.outcome.right.attempts - 1
        } else {
          failed++
          const error = item.outcome.left
          refused += error.attempt - 1 + (error._tag === "BadStatus" && (error.status === 429 || error.status === 503) ? 1 : 0)
        }
      })
    ))
    const capped = yield* Effect.raceFirst(Effect.as(gather, false), Effect.as(Effect.sleep(`${capS} seconds`), true))
    if (timer !== undefined) clearInterval(timer)
    return capped
  })
  const capped = await Effect.runPromise(program.pipe(
    Effect.provide(Session.layer({
      maxConnectionsPerOrigin: c,
      ...(mode === "gated" ? { maxInFlightPerOrigin: c } : {}),
      adaptive: mode === "adaptive"
        ? { max: c, ...(decrease === undefined ? {} : { decrease }), ...(initial === undefined ? {} : { initial }) }
        : false,
      retryAfter: mode === "origin" ? "origin" : "request",
      retry: { times: retries },
      timeout: { total: `${capS + 30} seconds` }
    }))
  ))
  return { wall_s: (performance.now() - started) / 1000, ok, failed, done: ok + failed, capped, refused, trace }
}

const runUndici = async (): Promise<Result> => {
  const pool = new Pool(origin, { connections: c })
  let next = 1
  let ok = 0
  let failed = 0
  let refused = 0
  const started = performance.now()
  const stopAt = started + capS * 1000
  const one = async (i: number): Promise<void> => {
    for (let attempt = 0;; attempt++) {
      const response = await pool.request({ method: "GET", path: `${pathPrefix}${i}` })
      await response.body.dump()
      const status = response.statusCode
      if (status === 200) return void ok++
      if (status === 429 || status === 503) refused++
      const retryAfter = Number(response.headers["retry-after"])
      if ((status !== 429 && status !== 503) || attempt >= retries || !Number.isFinite(retryAfter)) return void failed++
      await new Promise((resolve) => setTimeout(resolve, retryAfter * 1000))
    }
  }
  const worker = async (): Promise<void> => {
    while (next <= n && performance.now() < stopAt) await one(next++).catch(() => void failed++)
  }
  await Promise.all(Array.from({ length: c }, worker))
  await pool.close()
  return { wall_s: (performance.now() - started) / 1000, ok, failed, done: ok + failed, capped: ok + failed < n, refused, trace: [] }
}

const main = async () => {
  if (!(Number.isInteger(n) && n >= 1 && Number.isInteger(c) && c >= 1)) refuse("--n and --c must be whole numbers >= 1")
  print(mode === "undici" ? await runUndici() : await runGather())
  process.exit(0)
}

main().catch((error: unknown) => {
  process.stderr.write(`adaptive client failed: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`)
  process.exit(1)
})
