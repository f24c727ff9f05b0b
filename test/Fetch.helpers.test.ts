import * as UrlParams from "@effect/platform/UrlParams"
import { describe, expect, it, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as FastCheck from "effect/FastCheck"
import * as Schema from "effect/Schema"
import * as DemoServer from "../src/DemoServer.js"
import * as Fetch from "../src/Fetch.js"
import { isFastPath } from "../src/internal/engine/fastPath.js"
import { paramPairs } from "../src/internal/send.js"
import { assertTag, failure, serverAndSession, settledStats } from "./support.js"

const Echo = Schema.Struct({
  method: Schema.String,
  url: Schema.String,
  body: Schema.String,
  headers: Schema.Record({ key: Schema.String, value: Schema.String })
})

const echoed = (response: Fetch.FetchResponse<Uint8Array>) => Schema.decodeUnknownSync(Echo)(JSON.parse(Fetch.toText(response).body))

layer(serverAndSession((server) => ({ baseUrl: server.baseUrl, retry: false })), { excludeTestServices: true })(
  "Fetch request helpers",
  (it) => {
    it.effect("post sends a json body with its content type, and schema decodes the JSON answer", () =>
      Effect.gen(function*() {
        const response = yield* Fetch.post("/echo", { json: { name: "pikachu", level: 5 }, schema: Echo })
        expect(response.status).toBe(200)
        expect(response.body.method).toBe("POST")
        expect(JSON.parse(response.body.body)).toEqual({ name: "pikachu", level: 5 })
        expect(response.body.headers["content-type"]).toBe("application/json")
        expect(response.body.headers["content-length"]).toBe(String(response.body.body.length))
      }))

    it.effect("put, patch and delete send their method; form bodies are url-encoded", () =>
      Effect.gen(function*() {
        const put = echoed(yield* Fetch.put("/echo", { form: { user: "ash ketchum", tags: ["a", "b"], n: 3 } }))
        expect(put.method).toBe("PUT")
        expect(put.body).toBe("user=ash+ketchum&tags=a&tags=b&n=3")
        expect(put.headers["content-type"]).toBe("application/x-www-form-urlencoded")
        const patch = echoed(yield* Fetch.patch("/echo", { text: "héllo" }))
        expect(patch.method).toBe("PATCH")
        expect(patch.body).toBe("héllo")
        expect(patch.headers["content-type"]).toBe("text/plain; charset=utf-8")
        const del = echoed(yield* Fetch.delete("/echo"))
        expect(del.method).toBe("DELETE")
        expect(del.body).toBe("")
        expect(del.headers["content-type"]).toBeUndefined()
        expect(echoed(yield* Fetch.del("/echo")).method).toBe("DELETE")
      }))

    it.effect("bytes and multipart FormData bodies arrive whole", () =>
      Effect.gen(function*() {
        const bytes = echoed(yield* Fetch.post("/echo", { bytes: new TextEncoder().encode("raw\u0001bytes") }))
        expect(bytes.body).toBe("raw\u0001bytes")
        expect(bytes.headers["content-type"]).toBe("application/octet-stream")
        const form = new FormData()
        form.append("field", "value-1")
        const multipart = echoed(yield* Fetch.post("/echo", { form }))
        expect(multipart.headers["content-type"]).toMatch(/^multipart\/form-data; boundary=/)
        expect(multipart.body).toContain("name=\"field\"")
        expect(multipart.body).toContain("value-1")
      }))

    it.effect("urlParams are appended to the query, headers are sent and may replace the content type", () =>
      Effect.gen(function*() {
        const response = echoed(
          yield* Fetch.post("/echo?keep=1", {
            json: [1, 2],
            urlParams: { q: "a b", page: 2, flag: true },
            headers: { "Content-Type": "application/vnd.api+json", "X-Trace": "t1" }
          })
        )
        expect(response.url).toBe("/echo?keep=1&q=a+b&page=2&flag=true")
        expect(response.headers["content-type"]).toBe("application/vnd.api+json")
        expect(response.headers["x-trace"]).toBe("t1")
        expect(response.body).toBe("[1,2]")
        const head = yield* Fetch.head("/bytes/10", { urlParams: { chunked: 0 } })
        expect(head.status).toBe(200)
        expect(head.body.length).toBe(0)
        expect(head.headers["content-length"]).toBe("10")
        expect(echoed(yield* Fetch.options("/echo", { urlParams: [["a", "1"]] })).url).toBe("/echo?a=1")
      }))

    it.effect("a body that JSON cannot encode fails with InvalidRequest naming the request, and nothing is sent", () =>
      Effect.gen(function*() {
        const server = yield* DemoServer.DemoServer
        yield* settledStats
        yield* server.resetStats
        const cyclic: Record<string, unknown> = {}
        cyclic["self"] = cyclic
        const cases: ReadonlyArray<readonly [unknown, RegExp]> = [
          [{ big: 1n }, /BigInt/],
          [cyclic, /circular/i],
          [Symbol("s"), /symbol has no JSON form/],
          [() => 1, /function has no JSON form/]
        ]
        for (const [value, detail] of cases) {
          const error = yield* failure(Fetch.post("/echo?token=s3cret", { json: value }))
          assertTag(error, "InvalidRequest")
          expect(error.reason).toBe("Body")
          expect(error.detail).toMatch(detail)
          expect(error.method).toBe("POST")
          expect(error.url).toBe("/echo?token=***")
          expect(error.message).toContain("POST /echo?token=***")
        }
        const two = yield* failure(Fetch.put("/echo", { json: 1, text: "1" }))
        assertTag(two, "InvalidRequest")
        expect(two.detail).toBe("give one body, not json and text")
        expect((yield* settledStats).requests).toBe(0)
      }))

    it.effect("the body is sent again after a 307 and a 308, and dropped with every content-* header after a 303 (and a POST's 301/302)", () =>
      Effect.gen(function*() {
        for (const status of [307, 308]) {
          const response = yield* Fetch.post("/redirect-to", {
            urlParams: { url: "/echo", status },
            json: { replay: status }
          })
          const echo = echoed(response)
          expect(echo.method).toBe("POST")
          expect(JSON.parse(echo.body)).toEqual({ replay: status })
          expect(response.redirects.length).toBe(1)
        }
        const contentHeaders = { "Content-Language": "fr", "Content-Location": "/form", "Content-Disposition": "inline" }
        for (const status of [303, 302, 301]) {
          const seeOther = echoed(
            yield* Fetch.post("/redirect-to", { urlParams: { url: "/echo", status }, text: "gone", headers: contentHeaders })
          )
          expect(seeOther.method).toBe("GET")
          expect(seeOther.body).toBe("")
          // what the server got: no content-* header at all (as undici drops them), no body framing
          expect(Object.keys(seeOther.headers).filter((name) => name.startsWith("content-") || name === "transfer-encoding"), `${status}`)
            .toEqual([])
        }
      }))

    it.effect("a retried PUT, and a POST whose policy allows retries, send the same body again", () =>
      Effect.gen(function*() {
        const server = yield* DemoServer.DemoServer
        const payload = { items: Array.from({ length: 200 }, (_, i) => `item-${i}`) }
        const length = String(JSON.stringify(payload).length)
        const cases = [
          Fetch.put("/retry-after/0?status=503&times=1&key=put-replay", { json: payload, retry: 2 }),
          Fetch.post("/retry-after/0?status=503&times=1&key=post-replay", {
            json: payload,
            retry: { times: 2, methods: ["POST"] }
          })
        ]
        for (const fetch of cases) {
          yield* settledStats
          yield* server.resetState
          const response = yield* fetch
          expect(response.status).toBe(200)
          expect(response.attempts).toBe(2)
          const received = yield* server.receivedHeaders
          const attempts = received.slice(-2)
          expect(attempts.length).toBe(2)
          for (const headers of attempts) {
            expect(headers["content-length"]).toBe(length)
            expect(headers["content-type"]).toBe("application/json")
          }
        }
      }))

    it.effect("a schema mismatch on a helper fails with DecodeError naming the method", () =>
      Effect.gen(function*() {
        const error = yield* failure(Fetch.patch("/echo", { text: "x", schema: Schema.Struct({ id: Schema.Number }) }))
        assertTag(error, "DecodeError")
        expect(error.reason).toBe("Schema")
        expect(error.method).toBe("PATCH")
        expect(error.path).toEqual(["id"])
      }))
  }
)

describe("request helpers without the platform's body modules", () => {
  const scalar = FastCheck.oneof(FastCheck.string(), FastCheck.integer(), FastCheck.boolean(), FastCheck.constant(undefined))
  const value = FastCheck.oneof(
    scalar,
    FastCheck.array(scalar, { maxLength: 3 }),
    FastCheck.dictionary(FastCheck.string({ maxLength: 4 }), scalar, { maxKeys: 3 })
  )
  it.prop(
    "URL parameters and form bodies read their input exactly as UrlParams.fromInput does",
    [FastCheck.dictionary(FastCheck.string({ maxLength: 6 }), value, { maxKeys: 6 })],
    ([input]) => {
      expect(paramPairs(input)).toEqual(UrlParams.fromInput(input))
    },
    { fastCheck: { numRuns: 500, seed: 20261203 } }
  )

  it.prop(
    "pairs too: an iterable of name and value reads as UrlParams.fromInput reads it",
    [FastCheck.array(FastCheck.tuple(FastCheck.string({ maxLength: 6 }), FastCheck.oneof(FastCheck.string(), FastCheck.integer())), { maxLength: 6 })],
    ([pairs]) => {
      expect(paramPairs(pairs)).toEqual(UrlParams.fromInput(pairs))
    },
    { fastCheck: { numRuns: 500, seed: 20261203 } }
  )

  it("post, put and the other helpers build the same fetch as get, which a Gather starts on callbacks", () => {
    expect(isFastPath(Fetch.post("/echo", { json: { a: 1 } }))).toBe(true)
    expect(isFastPath(Fetch.put("/echo", { text: "x" }))).toBe(true)
    expect(isFastPath(Fetch.del("/echo"))).toBe(true)
    expect(isFastPath(Fetch.post("/echo", { json: { a: 1 }, schema: Schema.Unknown }))).toBe(true)
  })
})
