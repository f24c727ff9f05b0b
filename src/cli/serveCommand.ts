/**
 * `gather serve`: the embedded demo and fault server, until interrupted.
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { DemoServer } from "../index.js"
import { RunFailed } from "./errors.js"
import { helpDoc, validated } from "./help.js"
import * as Output from "./output.js"
import { parseDuration } from "./parse.js"

const port = (n: number) =>
  Number.isInteger(n) && n >= 0 && n <= 65535 ? Either.right(n) : Either.left(`--port must be 0–65535, got ${n}`)

const options = {
  port: Options.integer("port").pipe(
    Options.withPseudoName("PORT"),
    Options.withAlias("p"),
    Options.withDescription("TCP port; 0 picks a free one (default 8080)."),
    validated(port),
    Options.withDefault(8080)
  ),
  host: Options.text("host").pipe(
    Options.withPseudoName("HOST"),
    Options.withDescription("Interface to bind (default 127.0.0.1)."),
    Options.withDefault("127.0.0.1")
  ),
  latency: Options.text("latency").pipe(
    Options.withPseudoName("DURATION"),
    Options.withDescription("Added before answering /api/v2/pokemon/* and /wiki/*, e.g. 100ms (default 0)."),
    validated(parseDuration),
    Options.withDefault(Duration.zero)
  )
}

const routes = [
  "/api/v2/pokemon/{1-151}  /wiki/{year}  /status/{code}  /delay/{ms}  /bytes/{n}",
  "/redirect/{n}  /headers  /hang  /reset  /flaky?p=0.5&seed=42  /retry-after/{s}  /echo"
]

/** Runs `gather serve`. */
export const run = (config: { readonly port: number; readonly host: string; readonly latency: Duration.Duration }) =>
  Effect.gen(function*() {
    const server = yield* DemoServer.make(config).pipe(
      Effect.mapError((error) => new RunFailed({ message: `cannot listen on ${config.host}:${config.port}: ${error.message}` }))
    )
    yield* Output.stdout.write(`gather demo server listening on ${server.baseUrl}\n`)
    yield* Output.stderrLines([
      ...routes.map((line) => `  ${line}`),
      `  latency ${Duration.format(config.latency)}; Ctrl-C to stop`
    ])
    return yield* Effect.never.pipe(
      Effect.onInterrupt(() =>
        Effect.flatMap(server.stats, (stats) =>
          Output.stderrLines([`gather: served ${stats.requests} requests (peak ${stats.peakInFlight} in flight)`]))
      )
    )
  }).pipe(Effect.scoped)

export const command = Command.make("serve", options, run).pipe(
  Command.withDescription(helpDoc({
    summary: "Run the embedded demo and fault server (for trying gather without the internet) until interrupted.",
    details: [
      "Prints its URL on stdout. Routes: /api/v2/pokemon/{id}, /wiki/{year}, /status/{code}, /delay/{ms}, /bytes/{n}, /hang, /redirect/{n}, /headers, /flaky?p=&seed= and more."
    ],
    examples: [
      "gather serve",
      "gather serve --port 0 --latency 100ms",
      "gather serve --host 127.0.0.1 --port 9000"
    ]
  }))
)
