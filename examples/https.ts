/**
 * HTTPS with a private CA, offline: the DemoServer over TLS (and HTTP/2).
 *
 * With aiohttp this is an `ssl.create_default_context(cafile=...)` passed as
 * `ssl=`; with httpx, `verify="ca.pem"` and `http2=True`. Here the session
 * takes `tls: { ca }` and `allowH2: true`, and a server whose certificate is
 * not trusted fails with `ConnectionError` reason `Tls`, in words, once (TLS
 * failures are never retried).
 *
 * 1. a DemoServer with `tls: true, h2: true` makes a throwaway CA in memory;
 * 2. a session that trusts that CA gathers 20 Pokémon over HTTP/2;
 * 3. a session that does not trust it fails with the reason spelled out.
 *
 * Run: npx tsx examples/https.ts
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Console, Effect, Schema } from "effect"
import { Fetch, FetchError, Gather, Session } from "effect-gather"
import * as DemoServer from "effect-gather/DemoServer"

const Pokemon = Schema.Struct({ name: Schema.String })

const program = Effect.gen(function*() {
  // 1. https and HTTP/2 on a free port, with a CA made for this run
  const server = yield* DemoServer.make({ tls: true, h2: true })
  yield* Console.log(`demo server on ${server.baseUrl} (certificate from a throwaway CA)`)

  // 2. trust that CA (a PEM string here; a file through GATHER_TLS_CA_FILE works too)
  const urls = Array.from({ length: 20 }, (_, i) => `${server.baseUrl}/api/v2/pokemon/${i + 1}`)
  // undici learns that a server speaks HTTP/2 from the first handshake: a
  // cold gather at concurrency 8 would open 8 connections before it knows,
  // so one request goes first and the 20 then share its connection.
  const names = yield* Effect.zipRight(
    Fetch.get(`${server.baseUrl}/status/204`),
    Gather.forEach(urls, (url) => Effect.map(Fetch.json(url, Pokemon), (r) => r.body.name), { concurrency: 8 })
  ).pipe(Effect.provide(Session.layer({ tls: { ca: server.ca }, allowH2: true })))
  const stats = yield* server.stats
  yield* Console.log(`${names.length} Pokémon over ${stats.tlsHandshakes} TLS connection(s): ${names.slice(0, 5).join(", ")}, ...`)

  // 3. without the CA: one typed failure, not retried
  const failure = yield* Fetch.get(urls[0]!).pipe(Effect.flip, Effect.provide(Session.layer()))
  if (failure._tag === "ConnectionError") {
    yield* Console.log(`untrusted: ${failure.reason} ${failure.code}, transient: ${FetchError.isTransient(failure)}`)
  }
  yield* Console.log(failure.message)
})

NodeRuntime.runMain(Effect.scoped(program))
