/**
 * The seed's little web server, and one request to each of its routes.
 *
 * The aiohttp original was an `aiohttp.web` application on port 8080 with
 * four routes: `/` (here it sends you to `/index`), `/empty` (an empty 200),
 * `/json/{name}` (echoes the path variable and the query parameters `a` and
 * `b` as JSON) and `/index` (a static HTML page).
 * The DemoServer serves those routes (and the fault routes the other
 * examples use); this program starts it, fetches each route once, prints
 * what came back and exits. With `--serve` it keeps serving until Ctrl-C,
 * so the other examples can use it with `--base-url http://127.0.0.1:8080`.
 *
 * Run: npx tsx examples/aiohttp-server.ts [--port 8080] [--serve] [--base-url URL]
 * (with --base-url it starts no server and only makes the requests)
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Console, Effect, Option, Schema } from "effect"
import { Fetch, Session } from "effect-gather"
import type { FetchError } from "effect-gather"
import { arg, flag, target } from "./shared/demo.js"

const Port = Schema.NumberFromString.pipe(Schema.int(), Schema.between(0, 65535))

const Echo = Schema.Struct({
  path_name_variable: Schema.String,
  query_param_a: Schema.NullOr(Schema.String),
  query_param_b: Schema.NullOr(Schema.String)
})

const titleOf = (html: string): string => /<title>([^<]*)<\/title>/i.exec(html)?.[1] ?? "(no title)"

/** Fetches `path` and prints its status and a `summary` of the response. */
const show = <A, R>(
  path: string,
  fetch: (path: string) => Effect.Effect<Fetch.FetchResponse<A>, FetchError.FetchError, R>,
  summary: (response: Fetch.FetchResponse<A>) => string
) => Effect.flatMap(fetch(path), (response) => Console.log(`  GET ${path.padEnd(22)} ${response.status}  ${summary(response)}`))

const visit = Effect.gen(function*() {
  yield* show("/", Fetch.text, (r) => `redirected to ${new URL(r.url).pathname} · ${titleOf(r.body)}`)
  yield* show("/empty", Fetch.text, (r) => `${r.bytes} bytes`)
  yield* show("/json/gather?a=1&b=2", (path) => Fetch.json(path, Echo), (r) => JSON.stringify(r.body))
  yield* show("/index", Fetch.text, (r) => `${r.bytes} bytes of ${r.headers["content-type"]} · ${titleOf(r.body)}`)
})

const main = Effect.gen(function*() {
  const port = yield* Schema.decodeUnknown(Port)(arg("port") ?? "8080")
  const { baseUrl, demo } = yield* target({ port, host: "127.0.0.1" })
  const where = Option.isSome(demo) ? "serving on" : "talking to"
  yield* Console.log(`\n  effect-gather · the seed's server routes\n  ${where} ${baseUrl}\n`)
  yield* visit.pipe(Effect.provide(Session.layer({ baseUrl })))

  if (flag("serve") && Option.isSome(demo)) {
    yield* Console.log(`\n  serving until Ctrl-C`)
    yield* Effect.never
  }
  yield* Console.log("")
})

NodeRuntime.runMain(Effect.scoped(main))
