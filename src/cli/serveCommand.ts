/**
 * `gather serve`: the embedded demo and fault server, until interrupted.
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as Scope from "effect/Scope"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as DemoServer from "../DemoServer.js"
import { RunFailed } from "./errors.js"
import { helpDoc, validated } from "./help.js"
import * as Output from "./output.js"
import { durationFlag } from "./parse.js"

const port = (n: number) => Number.isInteger(n) && n >= 0 && n <= 65535 ? Either.right(n) : Either.left(`--port must be 0–65535, got ${n}`)

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
    validated(durationFlag("latency")),
    Options.withDefault(Duration.zero)
  ),
  tls: Options.boolean("tls").pipe(
    Options.withDescription("Serve https with a throwaway CA made at start; prints the CA file's path (for gather fetch --ca).")
  ),
  h2: Options.boolean("h2").pipe(
    Options.withDescription("Serve HTTP/2 (and HTTP/1.1) over TLS; implies --tls.")
  )
}

const routes = [
  "/api/v2/pokemon/{1-151}  /wiki/{year}  /status/{code}  /delay/{ms}  /bytes/{n}",
  "/redirect/{n}  /headers  /hang  /reset  /flaky?p=0.5&seed=42  /retry-after/{s}  /echo"
]

/**
 * Writes the throwaway CA's certificate (public, no key) to a new private
 * temp directory, removed when the server stops.
 */
const writeCa = (pem: string): Effect.Effect<string, RunFailed, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.try({
      try: () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gather-serve-"))
        const file = path.join(dir, "ca.pem")
        fs.writeFileSync(file, pem)
        return file
      },
      catch: (error) => new RunFailed({ message: `cannot write the CA certificate: ${(error as Error).message}` })
    }),
    (file) => Effect.sync(() => fs.rmSync(path.dirname(file), { recursive: true, force: true }))
  )

/** Runs `gather serve`. */
export const run = (config: {
  readonly port: number
  readonly host: string
  readonly latency: Duration.Duration
  readonly tls: boolean
  readonly h2: boolean
}) =>
  Effect.gen(function*() {
    const server = yield* DemoServer.make({ ...config, tls: config.tls || config.h2 }).pipe(
      Effect.mapError((error) => new RunFailed({ message: `cannot listen on ${config.host}:${config.port}: ${error.message}` }))
    )
    yield* Output.stdout.write(`gather demo server listening on ${server.baseUrl}${config.h2 ? " (HTTP/2 and HTTP/1.1)" : ""}\n`)
    if (server.ca !== undefined) {
      const file = yield* writeCa(server.ca)
      yield* Output.stdout.write(`CA certificate: ${file}\n`)
      yield* Output.stderrLines([`  trust it with: gather fetch --ca ${file} ...  (throwaway, valid one day, removed on exit)`])
    }
    yield* Output.stderrLines([
      ...routes.map((line) => `  ${line}`),
      `  latency ${Duration.format(config.latency)}; Ctrl-C to stop`
    ])
    return yield* Effect.never.pipe(
      Effect.onInterrupt(() =>
        Effect.flatMap(server.stats, (stats) => Output.stderrLines([`gather: served ${stats.requests} requests (peak ${stats.peakInFlight} in flight)`]))
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
      "gather serve --host 127.0.0.1 --port 9000",
      "gather serve --tls --port 8443   (then: gather fetch --ca <printed CA path> urls.txt)",
      "gather serve --h2"
    ]
  }))
)
