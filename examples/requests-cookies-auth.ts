/**
 * What a got/ky/httpx user looks for first: request bodies, a logged-in
 * session (a cookie jar and a bearer token) and a tuple of different
 * requests gathered at once, every result typed.
 *
 * 1. `Fetch.post` sends a JSON body (and `form`, `text`, `bytes` the same
 *    way) with `urlParams`; `schema` decodes the answer.
 * 2. A session with `cookies: true` logs in once (the server sets a cookie
 *    on a redirect) and every later request, in any gather, carries it.
 * 3. `auth` adds `Authorization` for the session's origin only; the token is
 *    `Redacted` and shows in no output.
 * 4. `Gather.all` over a tuple gives a tuple: each position keeps its type.
 *
 * Run: npx tsx examples/requests-cookies-auth.ts [--base-url URL]
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Console, Effect, Redacted, Schema } from "effect"
import { Fetch, Gather, Session } from "effect-gather"
import { target } from "./shared/demo.js"

const Echo = Schema.Struct({
  method: Schema.String,
  url: Schema.String,
  body: Schema.String,
  headers: Schema.Record({ key: Schema.String, value: Schema.String })
})

const Cookies = Schema.Struct({ cookies: Schema.Record({ key: Schema.String, value: Schema.String }) })

const Pokemon = Schema.Struct({ id: Schema.Number, name: Schema.String })

const main = Effect.gen(function*() {
  const { baseUrl } = yield* target()
  yield* Console.log(`\n  effect-gather · bodies, cookies, auth, tuples\n  against ${baseUrl}\n`)

  const session = Session.layer({
    baseUrl,
    cookies: true,
    auth: { bearer: Redacted.make("demo-token-123") }
  })

  yield* Effect.gen(function*() {
    // 1. a JSON body and URL parameters
    const created = yield* Fetch.post("/echo", { json: { name: "pikachu", level: 5 }, urlParams: { dry: true }, schema: Echo })
    yield* Console.log(`  1. POST ${created.body.url} sent ${created.body.body} as ${created.body.headers["content-type"]}`)

    // 2. log in: the server sets a cookie and redirects; the jar keeps it
    const login = yield* Fetch.json("/cookies/set?session=s3ss10n&redirect=/cookies", Cookies)
    yield* Console.log(`  2. after ${login.redirects.length} redirect the server saw cookies ${JSON.stringify(login.body.cookies)}`)

    // 3 + 4. a tuple of different requests; each carries the cookie and the token
    const [pokemon, echo, page] = yield* Gather.all([
      Fetch.json("/api/v2/pokemon/25", Pokemon),
      Fetch.json("/echo", Echo),
      Fetch.text("/index")
    ])
    yield* Console.log(`  3. ${pokemon.body.name} (#${pokemon.body.id}), an index page of ${page.body.length} characters`)
    const bearer = echo.body.headers["authorization"]?.startsWith("Bearer ") === true
    yield* Console.log(`     the echo saw cookie "${echo.body.headers["cookie"]}" and ${bearer ? "a" : "no"} bearer token`)
    const config = yield* Effect.map(Session.Session, (s) => s.config)
    yield* Console.log(`  4. the session's own config prints its token as ${String(config.auth?.authorization)}`)
  }).pipe(Effect.provide(session))
  yield* Console.log("")
})

NodeRuntime.runMain(Effect.scoped(main))
