/**
 * The Wikipedia pages of the years 1990–2019, ten at a time.
 *
 * The aiohttp original fetched `https://en.wikipedia.org/wiki/{year}` for
 * every year from 1990 to 2019 at once, printed each page's `<title>` and
 * the total time. Here `Gather.forEach` does the same with at most ten
 * requests in flight, and the titles come back in input order whatever
 * order the pages arrive in.
 *
 * By default it talks to the embedded DemoServer (100 ms latency per page).
 *
 * Run: npx tsx examples/wikipedia-years.ts [--base-url https://en.wikipedia.org]
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Console, Duration, Effect } from "effect"
import { Fetch, Gather, Session } from "effect-gather"
import { target } from "./shared/demo.js"
import { seconds } from "./shared/format.js"

const years = Array.from({ length: 30 }, (_, i) => 1990 + i)

/** The text of the page's `<title>`. */
const titleOf = (html: string): string => /<title[^>]*>([^<]*)<\/title>/i.exec(html)?.[1]?.trim() ?? "(no title)"

const getTitle = (year: number) => Fetch.text(`/wiki/${year}`).pipe(Effect.map((response) => titleOf(response.body)))

const main = Effect.gen(function*() {
  const { baseUrl } = yield* target({ latency: "100 millis" })
  yield* Console.log(`\n  effect-gather · ${years.length} Wikipedia year pages, 10 at a time\n  from ${baseUrl}\n`)

  const [elapsed, titles] = yield* Gather.forEach(years, getTitle, { concurrency: 10 }).pipe(
    Effect.timed,
    // Wikipedia asks clients to say who they are
    Effect.provide(Session.layer({ baseUrl, userAgent: "effect-gather-example/0.1 (wikipedia-years)" }))
  )

  // one column per decade
  for (let row = 0; row < 10; row++) {
    const line = [row, row + 10, row + 20].map((i) => (titles[i] ?? "").padEnd(24)).join("")
    yield* Console.log(`  ${line.trimEnd()}`)
  }
  yield* Console.log(`\n  ${titles.length} pages in ${seconds(Duration.toMillis(elapsed))}\n`)
})

NodeRuntime.runMain(Effect.scoped(main))
