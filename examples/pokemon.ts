/**
 * 151 Pokémon, three ways: the `npm start` showcase.
 *
 * The aiohttp original fetched the first 151 Pokémon from PokéAPI three
 * ways and printed the times: a new session for every request, one session
 * awaited request by request in a loop ("async, but not concurrent"), and
 * one session with `asyncio.gather`. Here:
 *
 * 1. a new session per request: `Session.layer` provided to each fetch, so
 *    every request opens (and closes) its own pool and connection;
 * 2. one session, one request at a time: `Effect.forEach` without
 *    `concurrency`, the same as awaiting in a loop;
 * 3. one session, gathered: `Gather.all` with 50 requests in flight.
 *
 * By default it talks to the embedded DemoServer, which waits 10 ms before
 * each answer to imitate a remote API (kept short so that the two one-by-one
 * runs take a few seconds, not minutes).
 *
 * Every fetch is recorded to a run report (`Report.track`); the HTML page
 * written at the end shows the three runs on one time axis: a connect phase
 * on every request of 1, one request at a time in 2, fifty at once in 3.
 *
 * Run: npx tsx examples/pokemon.ts [--base-url https://pokeapi.co]
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Console, Duration, Effect, Option, Schema } from "effect"
import { Fetch, Gather, Report, Session } from "effect-gather"
import * as os from "node:os"
import * as path from "node:path"
import { target } from "./shared/demo.js"
import { bar, seconds } from "./shared/format.js"

const Pokemon = Schema.Struct({
  id: Schema.Number,
  name: Schema.String,
  types: Schema.Array(Schema.Struct({ type: Schema.Struct({ name: Schema.String }) }))
})

interface Row {
  readonly ms: number
  readonly pokemon: ReadonlyArray<typeof Pokemon.Type>
}

const ids = Array.from({ length: 151 }, (_, i) => i + 1)
const latencyMs = 10

const main = Effect.gen(function*() {
  const { baseUrl, demo } = yield* target({ latency: latencyMs })
  const session = Session.layer({ baseUrl })
  const report = yield* Report.make({ title: "151 Pokémon, three ways", concurrency: 50 })
  const getPokemon = (id: number) => Fetch.json(`/api/v2/pokemon/${id}`, Pokemon).pipe(Report.track(report), Effect.map((response) => response.body))

  const ways = [
    {
      label: "a new session per request",
      run: Effect.forEach(ids, (id) => getPokemon(id).pipe(Effect.provide(session)))
    },
    {
      label: "one session, one at a time",
      run: Effect.forEach(ids, getPokemon).pipe(Effect.provide(session))
    },
    {
      label: "one session, Gather.all (50)",
      run: Gather.all(ids.map(getPokemon), { concurrency: 50 }).pipe(Effect.provide(session))
    }
  ]

  yield* Console.log(`\n  effect-gather · 151 Pokémon, three ways`)
  yield* Console.log(
    Option.match(demo, {
      onNone: () => `  from ${baseUrl}\n`,
      onSome: (server) => `  from the embedded DemoServer at ${server.baseUrl}, ${latencyMs} ms latency per request\n`
    })
  )
  yield* Console.log(`  ${"".padEnd(33)}${"time".padStart(8)}${"speed-up".padStart(10)}${"connections".padStart(13)}`)

  const rows: Array<Row> = []
  for (const [i, way] of ways.entries()) {
    if (Option.isSome(demo)) yield* demo.value.resetStats
    const [elapsed, pokemon] = yield* Effect.timed(way.run)
    const ms = Duration.toMillis(elapsed)
    // TCP connections the server accepted during this run
    const connections = Option.isSome(demo) ? String((yield* demo.value.stats).connectionsOpened) : "–"
    rows.push({ ms, pokemon })
    const speedUp = `${(rows[0]!.ms / ms).toFixed(1)}×`
    yield* Console.log(
      `  ${i + 1}. ${way.label.padEnd(30)}${seconds(ms).padStart(8)}${speedUp.padStart(10)}${connections.padStart(13)}`
    )
  }

  const slowest = Math.max(...rows.map((row) => row.ms))
  yield* Console.log("")
  for (const [i, row] of rows.entries()) {
    yield* Console.log(`  ${i + 1}. ${bar(row.ms, slowest, 50)} ${seconds(row.ms)}`)
  }

  const names = rows.map((row) => row.pokemon.map((p) => p.name).join())
  const same = names.every((list) => list === names[0])
  const some = [1, 4, 7, 25, 133, 150].flatMap((id) => {
    const p = rows[2]!.pokemon[id - 1]
    return p === undefined ? [] : [`#${p.id} ${p.name} (${p.types.map((t) => t.type.name).join("/")})`]
  })
  yield* Console.log(`\n  ${some.slice(0, 3).join(", ")}\n  ${some.slice(3).join(", ")}`)
  const verdict = same ? "all three runs return" : "the runs do NOT return"
  yield* Console.log(`  ${verdict} the same ${ids.length} Pokémon, in order`)
  yield* Console.log(`
  1 opens a new session, and so a new connection, for every request; 2
  reuses its pool (undici waits one event-loop turn before it reuses a
  socket, so a second one opens). Both wait for each answer before sending
  the next request. 3 keeps 50 in flight on one pool, so it waits for about
  ${Math.ceil(ids.length / 50)} round trips, not ${ids.length}. On loopback a new connection is cheap;
  over the internet, TCP and TLS setup add round trips to every request of 1.
`)
  const written = yield* Report.write(report, path.join(os.tmpdir(), "effect-gather-pokemon.html"))
  yield* Console.log(`  run report (waterfall, concurrency, latency): ${written}\n`)
})

NodeRuntime.runMain(Effect.scoped(main))
