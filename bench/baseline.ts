/**
 * The baseline clients effect-gather is compared with, one per process.
 *
 *   npx tsx bench/baseline.ts URL_TEMPLATE N C --client=undici|effect-undici|fetch|platform [--warmup=K]
 *
 * - `undici`: raw undici 7 `Pool.request` on a `Pool` of C connections, C
 *   worker loops pulling request numbers from one counter, body read with
 *   `arrayBuffer()` (every client reads the whole body).
 * - `fetch`: Node's global `fetch` (its bundled undici), the same C worker
 *   loops, `response.arrayBuffer()`.
 * - `platform`: `@effect/platform`'s `HttpClient` from
 *   `NodeHttpClient.layerUndici` as it comes (default dispatcher, tracer
 *   propagation on), `Effect.forEach(..., { concurrency: C, discard: true })`
 *   over the request numbers, body read with `response.arrayBuffer`.
 * - `effect-undici`: `Effect.forEach(..., { concurrency: C, discard: true })`
 *   over `Effect.tryPromise` of raw undici `Pool.request`: the ceiling of
 *   the `Effect.forEach` shape, beside `client.ts --gather=forEach`.
 *
 * Prints the same JSON line as `bench/client.ts`, measured over the load
 * phase only. Effect is imported only by the `platform` client, so the
 * other two carry none of its memory. Only loopback targets are accepted (exit 2 otherwise).
 */
import { readFileSync } from "node:fs"
import { Pool } from "undici"
import type { Tally } from "./common.js"
import { armDeadline, measure, parseArgs, refuse, report, urlOf } from "./common.js"

const args = parseArgs("bench/baseline.ts")
armDeadline(args.flags)
const { template, c } = args

/** C loops, each taking the next request number until n are taken. */
const workerLoops = async (n: number, one: (i: number) => Promise<boolean>, tally: Tally): Promise<void> => {
  let next = 1
  const loop = async () => {
    while (next <= n) {
      const i = next++
      try {
        if (await one(i)) tally.ok++
        else tally.failed++
      } catch {
        tally.failed++
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(c, n) }, loop))
}

type Load = (n: number, tally: Tally) => Promise<void>

/** Raw undici: a `Pool` of C connections and one GET whose body is read whole. */
const rawUndici = (): { readonly pool: Pool; readonly one: (i: number) => Promise<boolean> } => {
  const origin = new URL(urlOf(template, 1)).origin
  // An https target's throwaway CA (set by bench/run.ts).
  const ca = process.env["BENCH_CA_FILE"]
  const pool = new Pool(origin, { connections: c, ...(ca === undefined ? {} : { connect: { ca: readFileSync(ca) } }) })
  const one = async (i: number) => {
    const url = new URL(urlOf(template, i))
    const { statusCode, body } = await pool.request({ method: "GET", path: url.pathname + url.search })
    await body.arrayBuffer()
    return statusCode === 200
  }
  return { pool, one }
}

const undiciClient = (): { load: Load; close: () => Promise<void> } => {
  const { one, pool } = rawUndici()
  return { load: (n, tally) => workerLoops(n, one, tally), close: () => pool.close() }
}

const fetchClient = (): { load: Load; close: () => Promise<void> } => {
  const one = async (i: number) => {
    const response = await fetch(urlOf(template, i))
    await response.arrayBuffer()
    return response.status === 200
  }
  return { load: (n, tally) => workerLoops(n, one, tally), close: async () => {} }
}

const platformClient = async (): Promise<{ load: Load; close: () => Promise<void> }> => {
  const [HttpClient, NodeHttpClient, { Effect, ManagedRuntime }] = await Promise.all([
    import("@effect/platform/HttpClient"),
    import("@effect/platform-node/NodeHttpClient"),
    import("effect")
  ])
  const runtime = ManagedRuntime.make(NodeHttpClient.layerUndici)
  const program = (n: number, tally: Tally) =>
    Effect.gen(function*() {
      const client = yield* HttpClient.HttpClient
      const numbers = Array.from({ length: n }, (_, i) => i + 1)
      yield* Effect.forEach(
        numbers,
        (i) =>
          client.get(urlOf(template, i)).pipe(
            Effect.flatMap((response) => Effect.as(response.arrayBuffer, response.status)),
            Effect.match({
              onFailure: () => {
                tally.failed++
              },
              onSuccess: (status) => {
                if (status === 200) tally.ok++
                else tally.failed++
              }
            })
          ),
        { concurrency: c, discard: true }
      )
    })
  return { load: (n, tally) => runtime.runPromise(program(n, tally)), close: () => runtime.dispose() }
}

/**
 * The ceiling of `Effect.forEach` itself: the same `Effect.forEach(...,
 * { concurrency, discard: true })` shape as `client.ts --gather=forEach`,
 * over the cheapest Effect there is around raw undici (`Effect.tryPromise`
 * of `Pool.request` and its body). What this row loses to raw undici is
 * Effect.forEach's own cost per item, which no HTTP client under it can win back.
 */
const effectUndiciClient = async (): Promise<{ load: Load; close: () => Promise<void> }> => {
  const { Effect } = await import("effect")
  const { one, pool } = rawUndici()
  const numbers = (n: number): Iterable<number> => ({
    *[Symbol.iterator]() {
      for (let i = 1; i <= n; i++) yield i
    }
  })
  const program = (n: number, tally: Tally) =>
    Effect.forEach(
      numbers(n),
      (i) =>
        Effect.tryPromise(() => one(i)).pipe(Effect.match({
          onFailure: () => {
            tally.failed++
          },
          onSuccess: (ok) => {
            if (ok) tally.ok++
            else tally.failed++
          }
        })),
      { concurrency: c, discard: true }
    )
  return { load: (n, tally) => Effect.runPromise(program(n, tally)), close: () => pool.close() }
}

const name = args.flags.get("client")
const client = name === "undici"
  ? undiciClient()
  : name === "fetch"
  ? fetchClient()
  : name === "platform"
  ? await platformClient()
  : name === "effect-undici"
  ? await effectUndiciClient()
  : refuse(`--client must be undici, effect-undici, fetch or platform, got ${name}`)

try {
  if (args.warmup > 0) await client.load(args.warmup, { ok: 0, failed: 0 })
  const result = await measure(args.n, (tally) => client.load(args.n, tally))
  report(result)
  process.exitCode = result.failed > 0 ? 1 : 0
} finally {
  await client.close()
}
