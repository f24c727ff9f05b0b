/**
 * What can go wrong, as values: settle mode, `catchTags` and fail-fast.
 *
 * With aiohttp this takes a `try`/`except` around each call for
 * `ClientResponseError`, `ClientConnectorError`, `asyncio.TimeoutError` and
 * friends, and `asyncio.gather(..., return_exceptions=True)` to keep a
 * batch's failures next to its results. Here every failure is one of the
 * tagged errors of `FetchError`, so:
 *
 * 1. `Gather.settle` runs a mixed batch and returns one `Either` per request;
 * 2. `Effect.catchTags` handles each tag of one fetch, and the compiler
 *    checks that none is left over;
 * 3. `Gather.all` fails on the first error and cancels the requests still
 *    running: the DemoServer sees them aborted.
 *
 * Run: npx tsx examples/errors.ts [--base-url URL]
 * (--base-url must serve the DemoServer's routes, e.g. a server started with
 * `npx tsx examples/aiohttp-server.ts --serve`)
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Console, Duration, Effect, Either, Option, Schema } from "effect"
import { Fetch, FetchError, Gather, Session } from "effect-gather"
import type * as DemoServer from "effect-gather/DemoServer"
import { target } from "./shared/demo.js"

const Echo = Schema.Struct({ path_name_variable: Schema.String })

/** Every request asks for JSON and gives up after 300 ms. */
const getJson = (url: string) => Fetch.json(url, Echo, { timeout: "300 millis" })

const cases = [
  ["ok", "/json/world?a=1"],
  ["not found", "/status/404"],
  ["unavailable", "/status/503"],
  ["too slow", "/hang"],
  ["not JSON", "/bad-json"],
  ["wrong shape", "/delay/0"],
  ["typo in URL", "htp://127.0.0.1/"],
  ["closed port", "http://127.0.0.1:1/"]
] as const

/** A few words on an error, beyond its tag. */
const detail = (error: FetchError.FetchError): string => {
  switch (error._tag) {
    case "BadStatus":
      return `status ${error.status}`
    case "Timeout":
      return `${error.phase} limit of ${error.limitMs} ms`
    case "ConnectionError":
      return `${error.reason} during ${error.phase} (${error.code})`
    case "DecodeError":
      return `${error.reason}${error.path.length > 0 ? ` at ${error.path.join(".")}` : ""}: ${error.detail}`
    case "InvalidUrl":
      return error.reason
    default:
      return error.message
  }
}

// 1. settle: one outcome per request, nothing thrown
const settle = Effect.gen(function*() {
  yield* Console.log(`  1. Gather.settle over ${cases.length} requests\n`)
  const outcomes = yield* Gather.settle(cases.map(([, url]) => getJson(url)))
  yield* Console.log(`  ${"case".padEnd(13)}${"request".padEnd(22)}${"outcome".padEnd(17)}${"retry?".padEnd(8)}detail`)
  for (const [i, outcome] of outcomes.entries()) {
    const [label, url] = cases[i]!
    const [tag, retry, text] = Either.match(outcome, {
      onLeft: (error) => [error._tag, FetchError.isTransient(error) ? "yes" : "no", detail(error)],
      onRight: (response) => [`${response.status} OK`, "", JSON.stringify(response.body)]
    })
    yield* Console.log(`  ${label.padEnd(13)}${url.padEnd(22)}${tag.padEnd(17)}${retry.padEnd(8)}${text}`)
  }
})

// 2. catchTags: one handler per tag; leave one out and `describe` no longer
//    type-checks, since its type says it cannot fail
const describe = (url: string): Effect.Effect<string, never, Session.Session> =>
  getJson(url).pipe(
    Effect.map((response) => `hello, ${response.body.path_name_variable}`),
    Effect.catchTags({
      BadStatus: (e) => Effect.succeed(e.status === 404 ? "nothing there: use a default" : `server said ${e.status}`),
      Timeout: (e) => Effect.succeed(`no answer within ${e.limitMs} ms: try later`),
      ConnectionError: (e) => Effect.succeed(`cannot connect (${e.reason}): is the server up?`),
      DecodeError: (e) => Effect.succeed(`unexpected body (${e.reason}): report it`),
      InvalidUrl: () => Effect.succeed("not an http(s) URL: fix the input"),
      InvalidRequest: (e) => Effect.succeed(`cannot send this request: ${e.detail}`),
      BodyTooLarge: (e) => Effect.succeed(`body over ${e.limitBytes} bytes: skipped`),
      TooManyRedirects: (e) => Effect.succeed(`more than ${e.limit} redirects`),
      RedirectRejected: (e) => Effect.succeed(`redirect to ${e.location} refused`)
    })
  )

const handled = Effect.gen(function*() {
  yield* Console.log(`\n  2. Effect.catchTags on a single fetch\n`)
  for (const [label, url] of cases) {
    yield* Console.log(`  ${label.padEnd(13)}${yield* describe(url)}`)
  }
})

// 3. fail fast: the first error interrupts the requests still running
const failFast = (demo: Option.Option<DemoServer.DemoServer>) =>
  Effect.gen(function*() {
    // the fourth fails at once, the others would take 2 s each
    const urls = Array.from({ length: 7 }, (_, i) => (i === 3 ? "/status/500" : "/delay/2000"))
    yield* Console.log(`\n  3. Gather.all over ${urls.length} requests (4 at a time), one of them /status/500\n`)
    if (Option.isSome(demo)) yield* demo.value.resetStats
    const [elapsed, result] = yield* Gather.all(urls.map((url) => Fetch.get(url)), { concurrency: 4 }).pipe(
      Effect.either,
      Effect.timed
    )
    yield* Console.log(
      Either.match(result, {
        onLeft: (error) => `  failed after ${Math.round(Duration.toMillis(elapsed))} ms: ${error.message}`,
        onRight: () => "  succeeded (it should not have)"
      })
    )
    if (Option.isSome(demo)) {
      // the server notices the closed sockets a moment later
      const stats = yield* demo.value.stats.pipe(
        Effect.delay("10 millis"),
        Effect.repeat({ until: (stats) => stats.inFlight === 0, times: 100 })
      )
      yield* Console.log(
        `  the server got ${stats.requests} requests and saw ${stats.aborted} of them aborted; ${urls.length - stats.requests} were never sent`
      )
    }
  })

const main = Effect.gen(function*() {
  const { baseUrl, demo } = yield* target()
  yield* Console.log(`\n  effect-gather · errors as values (retries off)\n  against ${baseUrl}\n`)
  // Retries are off so that every failure shows as it first happened. By
  // default a session retries the transient ones (the "retry?" column) twice.
  yield* Effect.all([settle, handled, failFast(demo)]).pipe(
    Effect.provide(Session.layer({ baseUrl, retry: false }))
  )
  yield* Console.log("")
})

NodeRuntime.runMain(Effect.scoped(main))
