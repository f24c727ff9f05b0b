import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { describe, expect, it, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Schema from "effect/Schema"
import * as Zlib from "node:zlib"
import * as DemoServer from "../src/DemoServer.js"
import * as Fetch from "../src/Fetch.js"
import * as Gather from "../src/Gather.js"
import * as Session from "../src/Session.js"
import { assertTag, EchoedHeaders, eventually, failure, serverAndSession, settledStats } from "./support.js"

/** The server with its counters zeroed once nothing is in flight. */
const fresh = Effect.gen(function*() {
  const server = yield* DemoServer.DemoServer
  yield* settledStats
  yield* server.resetStats
  return server
})

/** `/bytes/{n}` sends byte i = i % 251. */
const expectPattern = (body: Uint8Array, n: number) => {
  expect(body.length).toBe(n)
  for (let i = 0; i < n; i++) {
    if (body[i] !== i % 251) expect.fail(`byte ${i} is ${body[i]}, expected ${i % 251}`)
  }
}

const Echo = Schema.Struct({
  method: Schema.String,
  body: Schema.String,
  headers: Schema.Record({ key: Schema.String, value: Schema.String })
})

const Pokemon = Schema.Struct({
  id: Schema.Number,
  name: Schema.String,
  types: Schema.Array(Schema.Struct({ slot: Schema.Number, type: Schema.Struct({ name: Schema.String }) }))
})

const Gzipped = Schema.Struct({ gzipped: Schema.Boolean, method: Schema.String, message: Schema.String })

layer(serverAndSession((server) => ({ baseUrl: server.baseUrl, retry: false })), { excludeTestServices: true })(
  "Fetch",
  (it) => {
    it.effect("get reads the whole body as bytes, with status, headers and timing", () =>
      Effect.gen(function*() {
        const server = yield* fresh
        const before = Date.now()
        const response = yield* Fetch.get("/bytes/70000")
        expect(response.status).toBe(200)
        expect(response.url).toBe(`${server.baseUrl}/bytes/70000`)
        expect(response.headers["content-length"]).toBe("70000")
        expect(response.headers["content-type"]).toBe("application/octet-stream")
        expectPattern(response.body, 70000)
        expect(response.bytes).toBe(70000)
        expect(response.attempts).toBe(1)
        expect(response.redirects).toEqual([])
        expect(response.timing.startedAt).toBeGreaterThanOrEqual(before)
        expect(response.timing.startedAt).toBeLessThanOrEqual(Date.now())
        expect(response.timing.headersMs).toBeGreaterThanOrEqual(0)
        expect(response.timing.totalMs).toBeGreaterThanOrEqual(response.timing.headersMs)
        expect((yield* server.stats).requests).toBe(1)
      }))

    it.effect("a small body keeps only its own bytes, not the socket's read buffer with the response head", () =>
      Effect.gen(function*() {
        const responses = yield* Gather.all(Array.from({ length: 20 }, (_, i) => Fetch.get(`/bytes/${100 + i}`)), { concurrency: 4 })
        for (const [i, response] of responses.entries()) {
          expectPattern(response.body, 100 + i)
          const underlying = Buffer.from(response.body.buffer)
          expect(underlying.includes("content-length:")).toBe(false)
          expect(underlying.includes("HTTP/1.1 200")).toBe(false)
        }
      }))

    it.effect("chunked bodies (no content-length) and empty bodies", () =>
      Effect.gen(function*() {
        const chunked = yield* Fetch.get("/bytes/100000?chunked=1")
        expect(chunked.headers["content-length"]).toBeUndefined()
        expectPattern(chunked.body, 100000)
        expect(chunked.bytes).toBe(100000)

        const empty = yield* Fetch.text("/empty")
        expect(empty.status).toBe(200)
        expect(empty.body).toBe("")
        expect(empty.bytes).toBe(0)

        const noContent = yield* Fetch.get("/status/204")
        expect(noContent.status).toBe(204)
        expect(noContent.body.length).toBe(0)
      }))

    it.effect("a delay on the server shows in the timing", () =>
      Effect.gen(function*() {
        const response = yield* Fetch.json("/delay/120", Schema.Struct({ delayed_ms: Schema.Number }))
        expect(response.body).toEqual({ delayed_ms: 120 })
        expect(response.timing.headersMs).toBeGreaterThanOrEqual(110)
        expect(response.timing.totalMs).toBeGreaterThanOrEqual(response.timing.headersMs)
      }))

    it.effect("text decodes UTF-8 and json decodes with a schema", () =>
      Effect.gen(function*() {
        const page = yield* Fetch.text("/wiki/1999")
        expect(page.headers["content-type"]).toContain("text/html")
        expect(page.body).toContain("1999")
        expect(page.body).toContain("–") // a multi-byte character survives decoding
        expect(page.bytes).toBe(Buffer.byteLength(page.body))

        const pikachu = yield* Fetch.json("/api/v2/pokemon/25", Pokemon)
        expect(pikachu.body.id).toBe(25)
        expect(pikachu.body.name).toBe("pikachu")
        expect(pikachu.body.types.map((t) => t.type.name)).toEqual(["electric"])

        const query = yield* Fetch.json(
          "/json/hello?a=1&b=two%20words",
          Schema.Struct({ path_name_variable: Schema.String, query_param_a: Schema.String, query_param_b: Schema.String })
        )
        expect(query.body).toEqual({ path_name_variable: "hello", query_param_a: "1", query_param_b: "two words" })
      }))

    it.effect("accepts a URL object and a request with url params", () =>
      Effect.gen(function*() {
        const server = yield* DemoServer.DemoServer
        const fromUrl = yield* Fetch.text(new URL(`${server.baseUrl}/json/url-object?a=x`))
        expect(JSON.parse(fromUrl.body)).toMatchObject({ path_name_variable: "url-object", query_param_a: "x" })

        const request = HttpClientRequest.get("/json/params").pipe(HttpClientRequest.setUrlParams({ a: "1", b: "é&=" }))
        const withParams = yield* Fetch.text(request)
        expect(JSON.parse(withParams.body)).toMatchObject({ path_name_variable: "params", query_param_a: "1", query_param_b: "é&=" })
      }))

    it.effect("request sends any method with its body and content type", () =>
      Effect.gen(function*() {
        const posted = yield* Fetch.json(
          HttpClientRequest.post("/echo").pipe(HttpClientRequest.bodyText("hello body", "text/plain")),
          Echo
        )
        expect(posted.body.method).toBe("POST")
        expect(posted.body.body).toBe("hello body")
        expect(posted.body.headers["content-type"]).toBe("text/plain")

        const json = yield* Fetch.json(
          HttpClientRequest.put("/echo").pipe(HttpClientRequest.bodyUnsafeJson({ n: 1 })),
          Echo
        )
        expect(json.body.method).toBe("PUT")
        expect(JSON.parse(json.body.body)).toEqual({ n: 1 })
        expect(json.body.headers["content-type"]).toBe("application/json")

        const raw = yield* Fetch.request(HttpClientRequest.del("/echo"))
        expect(raw.status).toBe(200)
        expect(JSON.parse(Buffer.from(raw.body).toString("utf8")).method).toBe("DELETE")
      }))

    it.effect("/gzip is decoded transparently", () =>
      Effect.gen(function*() {
        const expected = { gzipped: true, method: "GET", message: "decoded from gzip" }
        const response = yield* Fetch.json("/gzip", Gzipped)
        expect(response.headers["content-encoding"]).toBe("gzip")
        expect(response.body).toEqual(expected)
        expect(response.bytes).toBe(Buffer.byteLength(JSON.stringify(expected)))
        const text = yield* Fetch.text("/gzip")
        expect(JSON.parse(text.body)).toEqual(expected)
        // a cap below the decoded size fails
        const capped = yield* failure(Fetch.get("/gzip", { maxBodyBytes: 10 }))
        assertTag(capped, "BodyTooLarge")
        expect(capped.limitBytes).toBe(10)
      }))

    // BUG: the cap is documented as applying "after content decoding", but
    // attempt.ts counts the compressed bytes against it too. The demo's gzip
    // body is 76 bytes on the wire and 61 decoded: a cap of 61 must accept it.
    it.effect("maxBodyBytes applies to the decoded size, not the compressed size", () =>
      Effect.gen(function*() {
        const expected = JSON.stringify({ gzipped: true, method: "GET", message: "decoded from gzip" })
        const decoded = Buffer.byteLength(expected)
        const compressed = Zlib.gzipSync(expected).length
        expect(compressed).toBeGreaterThan(decoded)
        const exact = yield* Fetch.text("/gzip", { maxBodyBytes: decoded })
        expect(exact.body).toBe(expected)
        expect(exact.bytes).toBe(decoded)
      }))

    it.effect("/redirect/3 is followed: three redirects, the final URL and body", () =>
      Effect.gen(function*() {
        const server = yield* fresh
        const response = yield* Fetch.json("/redirect/3", Schema.Struct({ redirected: Schema.Boolean }))
        expect(response.status).toBe(200)
        expect(response.body).toEqual({ redirected: true })
        expect(response.url).toBe(`${server.baseUrl}/redirect/0`)
        expect(response.redirects).toEqual([3, 2, 1].map((n) => `${server.baseUrl}/redirect/${n}`))
        expect((yield* settledStats).requests).toBe(4)

        // exactly maxRedirects redirects are allowed
        const limit = yield* Fetch.get("/redirect/3", { maxRedirects: 3 })
        expect(limit.redirects.length).toBe(3)
        const tooFew = yield* failure(Fetch.get("/redirect/3", { maxRedirects: 2 }))
        assertTag(tooFew, "TooManyRedirects")
        expect(tooFew.limit).toBe(2)
      }))

    it.effect("a redirect to another origin drops the credentials; the same origin keeps them", () =>
      Effect.scoped(Effect.gen(function*() {
        const other = yield* DemoServer.make()
        const auth = { authorization: "Bearer top-secret" }
        const same = yield* Fetch.json(`/redirect-to?url=${encodeURIComponent("/headers")}`, EchoedHeaders, { headers: auth })
        expect(same.body.headers["authorization"]).toBe("Bearer top-secret")

        const cross = yield* Fetch.json(
          `/redirect-to?url=${encodeURIComponent(`${other.baseUrl}/headers`)}`,
          EchoedHeaders,
          { headers: auth }
        )
        expect(cross.url).toBe(`${other.baseUrl}/headers`)
        expect(cross.body.headers["authorization"]).toBeUndefined()
        const seen = yield* other.receivedHeaders
        expect(seen.length).toBe(1)
        expect(JSON.stringify(seen)).not.toContain("top-secret")
      })))

    it.effect("acceptStatus turns a 404 into a success with its body", () =>
      Effect.gen(function*() {
        const response = yield* Fetch.json("/api/v2/pokemon/999", Schema.Struct({ error: Schema.String }), {
          acceptStatus: (status) => status === 404
        })
        expect(response.status).toBe(404)
        expect(response.body).toEqual({ error: "not found" })
      }))

    it.effect("interrupting a fetch aborts its request on the socket", () =>
      Effect.gen(function*() {
        const server = yield* fresh
        const fiber = yield* Effect.fork(Fetch.get("/hang"))
        const running = yield* eventually(server.stats, (s) => s.inFlight === 1)
        expect(running.inFlight).toBe(1)
        yield* Fiber.interrupt(fiber)
        const after = yield* eventually(server.stats, (s) => s.aborted === 1 && s.inFlight === 0)
        expect(after.aborted).toBe(1)
        expect(after.inFlight).toBe(0)
      }))

    it.effect("Effect.timeout around a fetch aborts it too", () =>
      Effect.gen(function*() {
        const server = yield* fresh
        const result = yield* Effect.either(Effect.timeout(Fetch.get("/delay/5000"), "150 millis"))
        expect(result._tag).toBe("Left")
        const after = yield* eventually(server.stats, (s) => s.aborted === 1)
        expect(after.aborted).toBe(1)
      }))
  }
)

describe("Fetch connection release", () => {
  it.live("BodyTooLarge releases the only connection of the pool: the next request works", () =>
    Effect.gen(function*() {
      const server = yield* DemoServer.DemoServer
      const next = Fetch.json("/json/next", Schema.Struct({ path_name_variable: Schema.String })).pipe(
        Effect.timeoutFail({ duration: "3 seconds", onTimeout: () => "the pool's only connection was never released" })
      )

      const announced = yield* failure(Fetch.get("/bytes/5000", { maxBodyBytes: 1000 }))
      assertTag(announced, "BodyTooLarge")
      expect((yield* next).body.path_name_variable).toBe("next")

      // 64 MiB without content-length: reading stops at the cap and the
      // request is cut (the server sees the disconnect), not drained
      yield* server.resetStats
      const started = performance.now()
      const chunked = yield* failure(Fetch.get(`/bytes/${64 * 1024 * 1024}?chunked=1`, { maxBodyBytes: 1000 }))
      assertTag(chunked, "BodyTooLarge")
      expect(chunked.limitBytes).toBe(1000)
      expect(chunked.receivedBytes).toBeGreaterThan(1000)
      expect(chunked.receivedBytes).toBeLessThan(64 * 1024 * 1024)
      expect(performance.now() - started).toBeLessThan(2000)
      expect((yield* eventually(server.stats, (s) => s.aborted === 1)).aborted).toBe(1)
      expect((yield* next).status).toBe(200)

      // an error body larger than the cap is cut too, and the connection freed
      const status = yield* failure(Fetch.get(`/bytes/${8 * 1024 * 1024}`, { maxBodyBytes: 1000, acceptStatus: () => false }))
      assertTag(status, "BadStatus")
      expect(status.status).toBe(200)
      expect((yield* next).status).toBe(200)
    }).pipe(
      Effect.provide(serverAndSession((server) => ({ baseUrl: server.baseUrl, maxConnectionsPerHost: 1, retry: false })))
    ))

  it.live("a session without baseUrl fetches absolute URLs", () =>
    Effect.gen(function*() {
      const server = yield* DemoServer.DemoServer
      const response = yield* Fetch.text(`${server.baseUrl}/json/abs`)
      expect(JSON.parse(response.body).path_name_variable).toBe("abs")
      const session = yield* Session.Session
      expect(session.config.baseUrl).toBeUndefined()
    }).pipe(Effect.provide(serverAndSession(() => ({ retry: false })))))
})
