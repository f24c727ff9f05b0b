import { describe, expect, it, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as https from "node:https"
import { buildConnector } from "undici"
import type * as Fetch from "../src/Fetch.js"
import * as FetchApi from "../src/Fetch.js"
import { localCertificates } from "../src/internal/demo/tls.js"
import { OpenConnections, opened, timedConnector } from "../src/internal/engine/connections.js"
import { failure, serverAndSession } from "./support.js"

/** The moments of one attempt that happened, in the order they must come. */
const expectOrdered = (phases: Fetch.Phases) => {
  const moments = [phases.dispatchMs, phases.connectMs, phases.tlsMs, phases.sentMs, phases.headersMs, phases.endMs]
    .filter((t) => t !== -1)
  expect(moments.length).toBeGreaterThanOrEqual(4)
  for (let i = 1; i < moments.length; i++) expect(moments[i]!).toBeGreaterThanOrEqual(moments[i - 1]!)
  expect(phases.dispatchMs).toBeGreaterThanOrEqual(0)
}

layer(
  serverAndSession((server) => ({ baseUrl: server.baseUrl, maxConnectionsPerHost: 1, retry: { times: 2, base: "1 millis" } })),
  { excludeTestServices: true }
)("Timing", (it) => {
  it.effect("a request on a new connection has a connect phase; the next one on the same connection has none", () =>
    Effect.gen(function*() {
      const first = yield* FetchApi.get("/delay/30")
      expectOrdered(first.timing)
      expect(first.timing.connectMs).toBeGreaterThanOrEqual(0)
      expect(first.timing.tlsMs).toBe(-1)
      expect(first.timing.sentMs).toBeGreaterThanOrEqual(first.timing.connectMs)
      // The server waits 30 ms before the headers: that is time to first byte.
      expect(first.timing.headersMs - first.timing.sentMs).toBeGreaterThanOrEqual(25)
      expect(first.timing.endMs).toBe(first.timing.totalMs)
      expect(first.timing.previous).toEqual([])
      const second = yield* FetchApi.get("/bytes/10")
      expectOrdered(second.timing)
      expect(second.timing.connectMs).toBe(-1)
    }))

  it.effect("redirect hops are segments before the final attempt", () =>
    Effect.gen(function*() {
      const response = yield* FetchApi.get("/redirect/2")
      const hops = response.timing.previous
      expect(hops.map((s) => [s.status, s.outcome])).toEqual([[302, "Redirect"], [302, "Redirect"]])
      hops.forEach(expectOrdered)
      expect(hops[1]!.dispatchMs).toBeGreaterThanOrEqual(hops[0]!.endMs)
      expect(response.timing.dispatchMs).toBeGreaterThanOrEqual(hops[1]!.endMs)
    }))

  it.effect("a retried failure keeps each attempt as a segment, on the error too", () =>
    Effect.gen(function*() {
      const error = yield* failure(FetchApi.get("/status/503"))
      expect(error._tag).toBe("BadStatus")
      expect(error.attempt).toBe(3)
      expect(error.timing.previous.map((s) => [s.status, s.outcome])).toEqual([[503, "BadStatus"], [503, "BadStatus"]])
      expectOrdered(error.timing)
      expect(error.timing.headersMs).toBeGreaterThanOrEqual(0)
      expect(error.timing.dispatchMs).toBeGreaterThanOrEqual(error.timing.previous[1]!.endMs)
    }))

  it.effect("a failure before any attempt has only its end", () =>
    Effect.gen(function*() {
      const error = yield* failure(FetchApi.get("ftp://127.0.0.1/x"))
      expect(error.timing.sentMs).toBe(-1)
      expect(error.timing.headersMs).toBe(-1)
      expect(error.timing.endMs).toBeGreaterThanOrEqual(0)
    }))
})

describe("timedConnector", () => {
  it("times TCP and TLS apart, publishes them only while the connection is handed over, and counts it while open", async () => {
    // A throwaway CA and certificate made now, in memory: no key is committed.
    const pair = localCertificates()
    const server = https.createServer({ key: pair.key, cert: pair.cert })
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    try {
      const port = (server.address() as { port: number }).port
      const open = new OpenConnections(1)
      const origin = `https://127.0.0.1:${port}`
      const connect = timedConnector(buildConnector({ timeout: 2000, rejectUnauthorized: false }), open)
      const before = performance.now()
      expect(open.roomFor(origin)).toBe(true)
      const seen = await new Promise<ReturnType<typeof opened>>((resolve, reject) =>
        connect({ hostname: "127.0.0.1", host: `127.0.0.1:${port}`, protocol: "https:", port: String(port) }, (error, socket) => {
          if (error !== null) return reject(error)
          const during = opened()
          // Counted while open (the cap is 1), and free again once closed.
          expect(open.roomFor(origin)).toBe(false)
          socket.once("close", () => resolve(during))
          socket.destroy()
        })
      )
      expect(open.roomFor(origin)).toBe(true)
      expect(seen).toBeDefined()
      expect(seen!.connectAt).toBeGreaterThanOrEqual(before)
      expect(seen!.tlsAt).toBeGreaterThan(seen!.connectAt)
      expect(opened()).toBeUndefined()
    } finally {
      await new Promise((resolve) => server.close(resolve))
    }
  })
})
