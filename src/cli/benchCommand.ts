/**
 * `gather bench [URL_TEMPLATE] -n N -c C`: the classic comparison of fetching
 * N URLs one after the other and C at a time, with a timeline of bars for
 * each and the speed-up. Without a template it runs against the embedded
 * demo server on a free loopback port.
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as DemoServer from "../DemoServer.js"
import { Fetch, Gather, Session } from "../index.js"
import { RunFailed, SomeFailed, UsageError } from "./errors.js"
import { helpDoc, positive, validated } from "./help.js"
import * as Output from "./output.js"
import { durationFlag } from "./parse.js"
import { concurrencyOption, connectionLimits } from "./sessionOptions.js"
import { formatMs, formatRate, renderTimeline } from "./summary.js"
import type { Span } from "./summary.js"

const options = {
  template: Args.text({ name: "URL_TEMPLATE" }).pipe(
    Args.withDescription("URL with {i} replaced by 1..N; default: the embedded demo server's /api/v2/pokemon/{i}."),
    Args.optional
  ),
  requests: Options.integer("requests").pipe(
    Options.withPseudoName("N"),
    Options.withAlias("n"),
    Options.withDescription("How many URLs (default 20)."),
    validated(positive("requests")),
    Options.withDefault(20)
  ),
  concurrency: concurrencyOption({ what: "Requests at once in the concurrent run", default: 10, pseudoName: "C" }),
  latency: Options.text("latency").pipe(
    Options.withPseudoName("DURATION"),
    Options.withDescription("Latency of the embedded demo server (default 100ms); ignored with a URL_TEMPLATE."),
    validated(durationFlag("latency")),
    Options.withDefault(Duration.millis(100))
  ),
  rows: Options.integer("rows").pipe(
    Options.withPseudoName("N"),
    Options.withDescription("Bars shown per run (default 25)."),
    validated(positive("rows")),
    Options.withDefault(25)
  )
}

/** Pure: the N URLs of a template (`{i}` replaced by 1..N). */
export const expand = (template: string, n: number): Array<string> => Array.from({ length: n }, (_, i) => template.replaceAll("{i}", String(i + 1)))

interface Timed extends Span {
  readonly ok: boolean
}

const runMode = (urls: ReadonlyArray<string>, concurrency: number) =>
  Effect.gen(function*() {
    const t0 = performance.now()
    const spans = yield* Gather.forEach(urls, (url) =>
      Effect.suspend(() => {
        const startMs = performance.now() - t0
        return Effect.map(Effect.either(Fetch.get(url)), (outcome): Timed => ({
          label: url,
          startMs,
          ms: performance.now() - t0 - startMs,
          note: outcome._tag === "Right" ? String(outcome.right.status) : outcome.left._tag === "BadStatus" ? String(outcome.left.status) : outcome.left._tag,
          ok: outcome._tag === "Right"
        }))
      }), { concurrency })
    return { spans, totalMs: performance.now() - t0 }
  }).pipe(
    // A fresh pool for each run, so both pay for their connections.
    Effect.provide(Session.layer({ ...connectionLimits(concurrency), retry: false }))
  )

/** Both runs are drawn on the same time scale (the slower run's), so the bars show the speed-up. */
const report = (
  title: string,
  result: { readonly spans: ReadonlyArray<Timed>; readonly totalMs: number },
  rows: number,
  scaleMs: number
) => {
  const ok = result.spans.filter((span) => span.ok).length
  const lines = [
    "",
    `${title}: ${formatMs(result.totalMs)} (${formatRate(result.spans.length, result.totalMs)}), ${ok} ok, ${result.spans.length - ok} failed`,
    ...renderTimeline(result.spans.slice(0, rows), scaleMs)
  ]
  if (result.spans.length > rows) lines.push(`… ${result.spans.length - rows} more`)
  return lines
}

/** Runs `gather bench`. */
export const run = (config: {
  readonly template: Option.Option<string>
  readonly requests: number
  readonly concurrency: number
  readonly latency: Duration.Duration
  readonly rows: number
}) =>
  Effect.gen(function*() {
    let template: string
    let origin: string
    if (Option.isSome(config.template)) {
      template = config.template.value
      if (!template.includes("{i}")) return yield* new UsageError({ message: "URL_TEMPLATE must contain {i}" })
      origin = "given server"
    } else {
      const server = yield* DemoServer.make({ port: 0, latency: config.latency }).pipe(
        Effect.mapError((error) => new RunFailed({ message: `cannot start the demo server: ${error.message}` }))
      )
      // 151 Pokémon; beyond that the wiki pages, which have the same latency.
      template = config.requests <= 151 ? `${server.baseUrl}/api/v2/pokemon/{i}` : `${server.baseUrl}/wiki/{i}`
      origin = `embedded demo server, ${Duration.format(config.latency)} latency`
    }
    const urls = expand(template, config.requests)
    yield* Output.stdout.write(`gather bench: ${urls.length} × GET ${template} (${origin})\n`)
    const sequential = yield* runMode(urls, 1)
    const concurrent = yield* runMode(urls, config.concurrency)
    const scaleMs = Math.max(sequential.totalMs, concurrent.totalMs)
    yield* Output.stdout.write(`${report("sequential, 1 at a time", sequential, config.rows, scaleMs).join("\n")}\n`)
    yield* Output.stdout.write(
      `${report(`concurrent, ${config.concurrency} at a time`, concurrent, config.rows, scaleMs).join("\n")}\n`
    )
    const speedUp = concurrent.totalMs > 0 ? sequential.totalMs / concurrent.totalMs : 0
    yield* Output.stdout.write(
      `\nspeed-up: ${speedUp.toFixed(1)}× (${formatMs(sequential.totalMs)} → ${formatMs(concurrent.totalMs)})\n`
    )
    const failed = [...sequential.spans, ...concurrent.spans].filter((span) => !span.ok).length
    if (failed > 0) return yield* new SomeFailed({ failed })
  }).pipe(Effect.scoped)

export const command = Command.make("bench", options, run).pipe(
  Command.withDescription(helpDoc({
    summary: "Fetch N URLs sequentially, then C at a time, and show both timelines and the speed-up.",
    details: [
      "Without URL_TEMPLATE an embedded demo server is started on a free loopback port (with --latency per request)."
    ],
    examples: [
      "gather bench",
      "gather bench -n 50 -c 25 --latency 50ms",
      "gather bench 'http://127.0.0.1:8080/api/v2/pokemon/{i}' -n 151 -c 32"
    ]
  }))
)
