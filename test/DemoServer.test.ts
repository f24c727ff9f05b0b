import { describe, expect, it, layer } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import { readFileSync } from "node:fs"
import { performance } from "node:perf_hooks"
import * as Zlib from "node:zlib"
import { Agent, Client, request } from "undici"
import type { Dispatcher } from "undici"
import * as DemoServer from "../src/DemoServer.js"
import * as Fetch from "../src/Fetch.js"
import { flakyHash, parseIntegerIn, RecentLog } from "../src/internal/demo/helpers.js"
import * as Session from "../src/Session.js"
import { eventually, realSleep } from "./support.js"

// ---------------------------------------------------------------------------
// a tiny client on undici's `request`: no redirects followed, no decoding
// ---------------------------------------------------------------------------

interface Reply {
  readonly status: number
  readonly headers: Readonly<Record<string, string | Array<string> | undefined>>
  readonly body: Buffer
}

interface CallOptions {
  readonly method?: Dispatcher.HttpMethod
  readonly headers?: Record<string, string>
  readonly body?: string
  readonly signal?: AbortSignal
}

const call = (dispatcher: Dispatcher, url: string, options: CallOptions = {}): Effect.Effect<Reply, unknown> =>
  Effect.tryPromise({
    try: async () => {
      const res = await request(url, { dispatcher, ...options })
      const body = Buffer.from(await res.body.arrayBuffer())
      return { status: res.statusCode, headers: res.headers, body }
    },
    catch: (error) => error
  })

const text = (reply: Reply): string => reply.body.toString("utf8")
const json = (reply: Reply): unknown => JSON.parse(text(reply))

const timed = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<readonly [A, number], E, R> =>
  Effect.gen(function*() {
    const start = performance.now()
    const a = yield* effect
    return [a, performance.now() - start] as const
  })

const scopedAgent = Effect.acquireRelease(
  Effect.sync(() => new Agent()),
  (agent) => Effect.promise(() => agent.destroy())
)

const hangUntilAborted = (agent: Dispatcher, baseUrl: string, controller: AbortController) =>
  Effect.either(call(agent, `${baseUrl}/hang`, { signal: controller.signal }))

const pattern = (n: number, offset = 0): Buffer => {
  const bytes = Buffer.alloc(n)
  for (let i = 0; i < n; i++) bytes[i] = (i + offset) % 251
  return bytes
}

// the agent lives in the same layer as the server
const TestAgent = Context.GenericTag<Agent>("test/DemoServer/Agent")
const TestAgentLive = Layer.scoped(TestAgent, scopedAgent)

const get = (path: string, options?: CallOptions) =>
  Effect.gen(function*() {
    const server = yield* DemoServer.DemoServer
    const agent = yield* TestAgent
    return yield* call(agent, `${server.baseUrl}${path}`, options)
  })

const expectBadRequest = (paths: ReadonlyArray<string>) =>
  Effect.forEach(paths, (path) =>
    Effect.gen(function*() {
      const reply = yield* get(path)
      expect({ path, status: reply.status }).toEqual({ path, status: 400 })
      expect(reply.headers["content-type"]).toBe("application/json")
      const body = json(reply) as { error: unknown }
      expect(typeof body.error).toBe("string")
    }))

// ---------------------------------------------------------------------------
// routes, against one shared server
// ---------------------------------------------------------------------------

layer(Layer.merge(DemoServer.layerTest, TestAgentLive))("DemoServer routes", (it) => {
  it.effect("baseUrl and port describe where it listens", () =>
    Effect.gen(function*() {
      const server = yield* DemoServer.DemoServer
      expect(server.port).toBeGreaterThan(0)
      expect(server.baseUrl).toBe(`http://127.0.0.1:${server.port}`)
    }))

  it.effect("GET / redirects to /index", () =>
    Effect.gen(function*() {
      const reply = yield* get("/")
      expect(reply.status).toBe(302)
      expect(reply.headers.location).toBe("/index")
    }))

  it.effect("GET /index serves src/static/index.html from disk", () =>
    Effect.gen(function*() {
      const reply = yield* get("/index")
      const onDisk = readFileSync(new URL("../src/static/index.html", import.meta.url))
      expect(reply.status).toBe(200)
      expect(reply.headers["content-type"]).toMatch(/^text\/html/)
      expect(reply.headers["content-length"]).toBe(String(onDisk.length))
      expect(reply.body.equals(onDisk)).toBe(true)
    }))

  it.effect("GET /empty answers 200 with an empty body", () =>
    Effect.gen(function*() {
      const reply = yield* get("/empty")
      expect(reply.status).toBe(200)
      expect(reply.body.length).toBe(0)
    }))

  it.effect("GET /json/{name} echoes the path variable and the query", () =>
    Effect.gen(function*() {
      expect(json(yield* get("/json/gather?a=1&b=two"))).toEqual({
        path_name_variable: "gather",
        query_param_a: "1",
        query_param_b: "two"
      })
      expect(json(yield* get("/json/hello%20world?b=x"))).toEqual({
        path_name_variable: "hello world",
        query_param_a: null,
        query_param_b: "x"
      })
    }))

  it.effect("pokemon: the 151 originals by their PokéAPI names", () =>
    Effect.gen(function*() {
      const replies = yield* Effect.forEach(
        Array.from({ length: 151 }, (_, i) => i + 1),
        (id) => get(`/api/v2/pokemon/${id}`),
        { concurrency: 16 }
      )
      const records = replies.map((reply) => {
        expect(reply.status).toBe(200)
        return json(reply) as {
          id: number
          name: string
          height: number
          weight: number
          types: Array<{ slot: number; type: { name: string; url: string } }>
        }
      })
      expect(records.map((r) => r.id)).toEqual(Array.from({ length: 151 }, (_, i) => i + 1))
      const names = records.map((r) => r.name)
      expect(new Set(names).size).toBe(151)
      expect(names.slice(0, 9)).toEqual([
        "bulbasaur",
        "ivysaur",
        "venusaur",
        "charmander",
        "charmeleon",
        "charizard",
        "squirtle",
        "wartortle",
        "blastoise"
      ])
      expect(names[24]).toBe("pikachu")
      expect(names[28]).toBe("nidoran-f")
      expect(names[121]).toBe("mr-mime")
      expect(names[142]).toBe("snorlax")
      expect(names[149]).toBe("mewtwo")
      expect(names[150]).toBe("mew")
      for (const r of records) {
        expect(r.name).toMatch(/^[a-z-]+$/)
        expect(r.height).toBeGreaterThan(0)
        expect(r.weight).toBeGreaterThan(0)
        expect(r.types.length).toBeGreaterThanOrEqual(1)
        expect(r.types.map((t) => t.slot)).toEqual(r.types.map((_, i) => i + 1))
      }
      expect(records[0]!.types.map((t) => t.type.name)).toEqual(["grass", "poison"])
      expect(records[5]!.types.map((t) => t.type.name)).toEqual(["fire", "flying"])
    }))

  it.effect("pokemon: a trailing slash works as on PokéAPI", () =>
    Effect.gen(function*() {
      const reply = yield* get("/api/v2/pokemon/150/")
      expect(reply.status).toBe(200)
      expect((json(reply) as { name: string }).name).toBe("mewtwo")
    }))

  it.effect("pokemon: out of range is 404, non-numeric is 400", () =>
    Effect.gen(function*() {
      for (const id of ["0", "152", "9999"]) {
        const reply = yield* get(`/api/v2/pokemon/${id}`)
        expect(reply.status).toBe(404)
        expect(json(reply)).toEqual({ error: "not found" })
      }
      yield* expectBadRequest(["/api/v2/pokemon/pikachu", "/api/v2/pokemon/1.5", "/api/v2/pokemon/-1"])
    }))

  it.effect("wiki: a few KB of HTML about the year", () =>
    Effect.gen(function*() {
      for (const year of [1, 1969, 9999]) {
        const reply = yield* get(`/wiki/${year}`)
        expect(reply.status).toBe(200)
        expect(reply.headers["content-type"]).toMatch(/^text\/html/)
        const html = text(reply)
        expect(html).toContain(`<title>${year} - Wikipedia</title>`)
        expect(reply.body.length).toBeGreaterThan(2000)
        expect(reply.body.length).toBeLessThan(20_000)
      }
      // deterministic
      expect(text(yield* get("/wiki/1969"))).toBe(text(yield* get("/wiki/1969")))
      yield* expectBadRequest(["/wiki/0", "/wiki/10000", "/wiki/-5", "/wiki/nineteen", "/wiki/19.5"])
    }))

  it.effect("delay: answers after the given milliseconds", () =>
    Effect.gen(function*() {
      const [reply, elapsed] = yield* timed(get("/delay/150"))
      expect(reply.status).toBe(200)
      expect(json(reply)).toEqual({ delayed_ms: 150 })
      expect(elapsed).toBeGreaterThanOrEqual(140)
      const [zero] = yield* timed(get("/delay/0"))
      expect(json(zero)).toEqual({ delayed_ms: 0 })
      yield* expectBadRequest(["/delay/-1", "/delay/60001", "/delay/abc", "/delay/1.5"])
    }))

  it.effect("delay: the server waits on real timers, so TestClock never freezes it", () =>
    Effect.gen(function*() {
      // this test runs under TestClock and never adjusts it
      const [reply, elapsed] = yield* timed(get("/delay/100"))
      expect(reply.status).toBe(200)
      expect(elapsed).toBeGreaterThanOrEqual(90)
    }))

  it.effect("status: answers the code with a JSON body", () =>
    Effect.gen(function*() {
      for (const code of [200, 201, 202, 299, 301, 400, 401, 404, 418, 429, 500, 502, 503, 599]) {
        const reply = yield* get(`/status/${code}`)
        expect(reply.status).toBe(code)
        expect(json(reply)).toEqual({ status: code })
      }
      for (const code of [204, 304]) {
        const reply = yield* get(`/status/${code}`)
        expect(reply.status).toBe(code)
        expect(reply.body.length).toBe(0)
      }
      yield* expectBadRequest(["/status/199", "/status/600", "/status/100", "/status/abc", "/status/2e2"])
    }))

  it.effect("bytes: exactly n deterministic bytes with content-length", () =>
    Effect.gen(function*() {
      for (const n of [1, 250, 251, 1000, 65_536, 65_537, 300_000]) {
        const reply = yield* get(`/bytes/${n}`)
        expect(reply.status).toBe(200)
        expect(reply.headers["content-type"]).toBe("application/octet-stream")
        expect(reply.headers["content-length"]).toBe(String(n))
        expect(reply.headers["transfer-encoding"]).toBeUndefined()
        expect(reply.body.equals(pattern(n))).toBe(true)
      }
      const zero = yield* get("/bytes/0")
      expect(zero.status).toBe(200)
      expect(zero.headers["content-length"]).toBe("0")
      expect(zero.body.length).toBe(0)
    }))

  it.effect("bytes: ?chunked=1 streams without content-length", () =>
    Effect.gen(function*() {
      for (const n of [0, 1000, 200_000]) {
        const reply = yield* get(`/bytes/${n}?chunked=1`)
        expect(reply.status).toBe(200)
        expect(reply.headers["content-length"]).toBeUndefined()
        expect(reply.headers["transfer-encoding"]).toBe("chunked")
        expect(reply.body.equals(pattern(n))).toBe(true)
      }
    }))

  it.effect("bytes: 5 MiB stream through, 256 MiB is the inclusive limit", () =>
    Effect.gen(function*() {
      const n = 5 * 1024 * 1024
      const reply = yield* get(`/bytes/${n}`)
      expect(reply.body.length).toBe(n)
      expect(reply.body.equals(pattern(n))).toBe(true)
      // HEAD gets the headers without streaming the body
      const max = yield* get(`/bytes/${256 * 1024 * 1024}`, { method: "HEAD" })
      expect(max.status).toBe(200)
      expect(max.headers["content-length"]).toBe(String(256 * 1024 * 1024))
      yield* expectBadRequest([`/bytes/${256 * 1024 * 1024 + 1}`, "/bytes/-1", "/bytes/x", "/bytes/1e3"])
    }))

  it.effect("redirect: counts down to a 200", () =>
    Effect.gen(function*() {
      const first = yield* get("/redirect/3")
      expect(first.status).toBe(302)
      expect(first.headers.location).toBe("/redirect/2")
      const last = yield* get("/redirect/0")
      expect(last.status).toBe(200)
      expect(json(last)).toEqual({ redirected: true })
      for (const status of [301, 302, 303, 307, 308]) {
        const reply = yield* get(`/redirect/2?status=${status}`)
        expect(reply.status).toBe(status)
        expect(reply.headers.location).toBe(`/redirect/1?status=${status}`)
      }
      // a client that follows ends at the 200
      const server = yield* DemoServer.DemoServer
      const followed = yield* Effect.promise(() =>
        fetch(`${server.baseUrl}/redirect/5?status=307`).then(async (res) => ({
          url: res.url,
          body: await res.json()
        }))
      )
      expect(followed).toEqual({ url: `${server.baseUrl}/redirect/0?status=307`, body: { redirected: true } })
      yield* expectBadRequest([
        "/redirect/101",
        "/redirect/-1",
        "/redirect/x",
        "/redirect/2?status=304",
        "/redirect/2?status=200"
      ])
    }))

  it.effect("redirect-loop: redirects to itself forever", () =>
    Effect.gen(function*() {
      const reply = yield* get("/redirect-loop")
      expect(reply.status).toBe(302)
      expect(reply.headers.location).toBe("/redirect-loop")
      const server = yield* DemoServer.DemoServer
      const followed = yield* Effect.either(Effect.tryPromise(() => fetch(`${server.baseUrl}/redirect-loop`)))
      expect(Either.isLeft(followed)).toBe(true)
    }))

  it.effect("redirect-to: any absolute or relative URL with the chosen status", () =>
    Effect.gen(function*() {
      const absolute = yield* get(`/redirect-to?url=${encodeURIComponent("http://example.invalid/x?y=1")}&status=307`)
      expect(absolute.status).toBe(307)
      expect(absolute.headers.location).toBe("http://example.invalid/x?y=1")
      const relative = yield* get("/redirect-to?url=%2Fjson%2Fr")
      expect(relative.status).toBe(302)
      expect(relative.headers.location).toBe("/json/r")
      // a header can never be split by what the URL holds
      const crlf = yield* get(`/redirect-to?url=${encodeURIComponent("/a\r\nx-injected: 1")}`)
      expect(crlf.status).toBe(302)
      expect(crlf.headers["x-injected"]).toBeUndefined()
      expect(crlf.headers.location).toBe("/a%0D%0Ax-injected:%201")
      yield* expectBadRequest([
        "/redirect-to",
        "/redirect-to?url=",
        "/redirect-to?url=%2Fx&status=200",
        "/redirect-to?url=%2Fx&status=abc"
      ])
    }))

  it.effect("headers: echoes the request headers with lower-case names", () =>
    Effect.gen(function*() {
      const reply = yield* get("/headers", { headers: { Authorization: "Bearer s3cret", "X-Trace": "abc" } })
      expect(reply.status).toBe(200)
      const body = json(reply) as { headers: Record<string, string> }
      expect(body.headers.authorization).toBe("Bearer s3cret")
      expect(body.headers["x-trace"]).toBe("abc")
      expect(body.headers.host).toMatch(/^127\.0\.0\.1:\d+$/)
    }))

  it.effect("echo: method, body and headers, for any method", () =>
    Effect.gen(function*() {
      for (const method of ["POST", "PUT", "PATCH", "DELETE"] as const) {
        const reply = yield* get("/echo", {
          method,
          headers: { "content-type": "text/plain", "x-echo": method },
          body: `payload for ${method} ✓`
        })
        expect(reply.status).toBe(200)
        const body = json(reply) as { method: string; body: string; headers: Record<string, string> }
        expect(body.method).toBe(method)
        expect(body.body).toBe(`payload for ${method} ✓`)
        expect(body.headers["x-echo"]).toBe(method)
      }
      const getReply = json(yield* get("/echo")) as { method: string; body: string }
      expect(getReply).toMatchObject({ method: "GET", body: "" })
    }))

  it.effect("bad-json: claims JSON, is not", () =>
    Effect.gen(function*() {
      const reply = yield* get("/bad-json")
      expect(reply.status).toBe(200)
      expect(reply.headers["content-type"]).toBe("application/json")
      expect(() => JSON.parse(text(reply))).toThrow()
    }))

  it.effect("gzip: a gzip-encoded JSON body", () =>
    Effect.gen(function*() {
      const reply = yield* get("/gzip")
      expect(reply.status).toBe(200)
      expect(reply.headers["content-encoding"]).toBe("gzip")
      expect(reply.headers["content-type"]).toBe("application/json")
      expect(reply.body[0]).toBe(0x1f)
      expect(reply.body[1]).toBe(0x8b)
      expect(JSON.parse(Zlib.gunzipSync(reply.body).toString("utf8"))).toMatchObject({ gzipped: true })
      // fetch decodes it
      const server = yield* DemoServer.DemoServer
      const decoded = yield* Effect.promise(() => fetch(`${server.baseUrl}/gzip`).then((res) => res.json()))
      expect(decoded).toMatchObject({ gzipped: true, method: "GET" })
    }))

  it.effect("an unknown route or method is a JSON 404", () =>
    Effect.gen(function*() {
      for (const [path, method] of [["/nope", "GET"], ["/api/v2/berry/1", "GET"], ["/delay/1", "POST"]] as const) {
        const reply = yield* get(path, { method })
        expect(reply.status).toBe(404)
        expect(reply.headers["content-type"]).toBe("application/json")
        expect(typeof (json(reply) as { error: unknown }).error).toBe("string")
      }
    }))

  it.effect("nothing in a hostile URL crashes it", () =>
    Effect.gen(function*() {
      for (const path of ["/json/%E0%A4%A", "/json/%", "/flaky?p=%ZZ", "/bytes/%00", "/wiki/%F0%9F%92%A9"]) {
        const reply = yield* get(path)
        expect({ path, client: reply.status >= 400 && reply.status < 500 }).toEqual({ path, client: true })
      }
      // a malformed escape in the query still makes a valid Location header
      const malformed = yield* get("/redirect-to?url=%E0%A4%A")
      expect(malformed.status).toBe(302)
      expect(malformed.headers.location).toMatch(/^[\x21-\x7e]+$/)
      expect((yield* get("/json/still-alive")).status).toBe(200)
    }))

  it.effect("retry-after: the first N answers carry Retry-After, then 200", () =>
    Effect.gen(function*() {
      const server = yield* DemoServer.DemoServer
      yield* server.resetState
      const statuses: Array<number> = []
      for (let i = 0; i < 3; i++) {
        const reply = yield* get("/retry-after/2?times=2&key=a")
        statuses.push(reply.status)
        if (reply.status === 503) {
          expect(reply.headers["retry-after"]).toBe("2")
          expect(json(reply)).toMatchObject({ status: 503, attempt: i + 1 })
        } else {
          expect(json(reply)).toEqual({ ok: true, attempt: 3 })
        }
      }
      expect(statuses).toEqual([503, 503, 200])
      // another key has its own count; 429 on request
      const other = yield* get("/retry-after/0?times=1&key=b&status=429")
      expect(other.status).toBe(429)
      expect(other.headers["retry-after"]).toBe("0")
      expect((yield* get("/retry-after/0?times=1&key=b&status=429")).status).toBe(200)
      // resetState forgets the counts
      yield* server.resetState
      expect((yield* get("/retry-after/2?times=2&key=a")).status).toBe(503)
    }))

  it.effect("retry-after: unlimited by default, and as an HTTP-date with ?date=1", () =>
    Effect.gen(function*() {
      for (let i = 0; i < 5; i++) {
        expect((yield* get("/retry-after/1?key=forever")).status).toBe(503)
      }
      const reply = yield* get("/retry-after/30?date=1&key=dated")
      expect(reply.status).toBe(503)
      const header = reply.headers["retry-after"]
      expect(typeof header).toBe("string")
      expect(header as string).toMatch(/GMT$/)
      const delta = (Date.parse(header as string) - Date.now()) / 1000
      expect(delta).toBeGreaterThan(27)
      expect(delta).toBeLessThanOrEqual(30)
      yield* expectBadRequest([
        "/retry-after/-1",
        "/retry-after/x",
        "/retry-after/1?status=500",
        "/retry-after/1?status=abc",
        "/retry-after/1?times=-1",
        "/retry-after/1?times=x"
      ])
    }))

  it.effect("flaky: the k-th request for a seed fails exactly when flakyFails says so", () =>
    Effect.gen(function*() {
      const server = yield* DemoServer.DemoServer
      yield* server.resetState
      const statuses: Array<number> = []
      for (let k = 1; k <= 40; k++) {
        const reply = yield* get("/flaky?p=0.5&seed=42")
        const expected = DemoServer.flakyFails(0.5, 42, k) ? 503 : 200
        expect({ k, status: reply.status }).toEqual({ k, status: expected })
        expect((json(reply) as { k: number }).k).toBe(k)
        statuses.push(reply.status)
      }
      expect(statuses).toContain(503)
      expect(statuses).toContain(200)
      for (let k = 0; k < 10; k++) {
        expect((yield* get("/flaky?p=0&seed=7")).status).toBe(200)
        expect((yield* get("/flaky?p=1&seed=8")).status).toBe(503)
      }
      yield* expectBadRequest(["/flaky?p=1.5", "/flaky?p=-0.1", "/flaky?p=abc", "/flaky?seed=1.5", "/flaky?seed=x"])
    }))

  it.effect("slow-body: one chunk per interval", () =>
    Effect.gen(function*() {
      const [reply, elapsed] = yield* timed(get("/slow-body?chunks=4&interval=50"))
      expect(reply.status).toBe(200)
      expect(text(reply)).toBe("chunk 1 of 4\nchunk 2 of 4\nchunk 3 of 4\nchunk 4 of 4\n")
      expect(elapsed).toBeGreaterThanOrEqual(190)
      const defaults = text(yield* get("/slow-body?interval=0"))
      expect(defaults.split("\n").filter((line) => line.length > 0)).toHaveLength(10)
      yield* expectBadRequest([
        "/slow-body?chunks=0",
        "/slow-body?chunks=10001",
        "/slow-body?interval=-1",
        "/slow-body?interval=60001",
        "/slow-body?chunks=x"
      ])
    }))

  it.effect("slow-body: a client that leaves stops it cleanly", () =>
    Effect.gen(function*() {
      const server = yield* DemoServer.DemoServer
      const agent = yield* TestAgent
      yield* eventually(server.stats, (s) => s.inFlight === 0)
      yield* server.resetStats
      const controller = new AbortController()
      const firstChunk = yield* Effect.promise(async () => {
        const res = await request(`${server.baseUrl}/slow-body?chunks=1000&interval=20`, {
          dispatcher: agent,
          signal: controller.signal
        })
        const iterator = res.body[Symbol.asyncIterator]()
        const first = await iterator.next()
        controller.abort()
        await res.body.arrayBuffer().catch(() => undefined)
        return String(first.value)
      })
      expect(firstChunk).toContain("chunk 1 of 1000")
      const stats = yield* eventually(server.stats, (s) => s.inFlight === 0 && s.aborted === 1)
      expect(stats).toMatchObject({ inFlight: 0, aborted: 1, requests: 1 })
      expect((yield* get("/json/after")).status).toBe(200)
    }))

  it.effect("bytes: a client that leaves mid-stream releases the response", () =>
    Effect.gen(function*() {
      const server = yield* DemoServer.DemoServer
      const agent = yield* TestAgent
      yield* eventually(server.stats, (s) => s.inFlight === 0)
      yield* server.resetStats
      const controller = new AbortController()
      const firstChunk = yield* Effect.promise(async () => {
        const res = await request(`${server.baseUrl}/bytes/${200 * 1024 * 1024}`, {
          dispatcher: agent,
          signal: controller.signal
        })
        const first = await res.body[Symbol.asyncIterator]().next()
        controller.abort()
        await res.body.arrayBuffer().catch(() => undefined)
        return first.value as Buffer
      })
      expect(firstChunk.length).toBeGreaterThan(0)
      expect(firstChunk.equals(pattern(firstChunk.length))).toBe(true)
      const stats = yield* eventually(server.stats, (s) => s.inFlight === 0 && s.aborted === 1)
      expect(stats).toMatchObject({ inFlight: 0, aborted: 1, requests: 1 })
      expect((yield* get("/bytes/10")).body.equals(pattern(10))).toBe(true)
    }))

  it.effect("hang: never answers; a client abort is counted and releases it", () =>
    Effect.gen(function*() {
      const server = yield* DemoServer.DemoServer
      const agent = yield* TestAgent
      yield* eventually(server.stats, (s) => s.inFlight === 0)
      yield* server.resetStats
      const controller = new AbortController()
      const fiber = yield* Effect.fork(hangUntilAborted(agent, server.baseUrl, controller))
      const during = yield* eventually(server.stats, (s) => s.inFlight === 1)
      expect(during).toMatchObject({ inFlight: 1, aborted: 0, requests: 1 })
      yield* realSleep(100)
      expect((yield* server.stats).inFlight).toBe(1)
      controller.abort()
      const outcome = yield* Fiber.join(fiber)
      expect(Either.isLeft(outcome)).toBe(true)
      const after = yield* eventually(server.stats, (s) => s.inFlight === 0 && s.aborted === 1)
      expect(after).toMatchObject({ inFlight: 0, aborted: 1, peakInFlight: 1 })
    }))

  it.effect("reset: promises 100000 bytes, sends about 1000, cuts the socket", () =>
    Effect.gen(function*() {
      const server = yield* DemoServer.DemoServer
      const agent = yield* TestAgent
      yield* eventually(server.stats, (s) => s.inFlight === 0)
      yield* server.resetStats
      const outcome = yield* Effect.promise(async () => {
        const res = await request(`${server.baseUrl}/reset`, { dispatcher: agent })
        let received = 0
        try {
          for await (const chunk of res.body) received += (chunk as Buffer).length
          return { status: res.statusCode, length: res.headers["content-length"], received, failed: false }
        } catch {
          return { status: res.statusCode, length: res.headers["content-length"], received, failed: true }
        }
      })
      expect(outcome.status).toBe(200)
      expect(outcome.length).toBe("100000")
      expect(outcome.failed).toBe(true)
      expect(outcome.received).toBe(1000)
      // a cut made by the server is not a client abort, and the server lives on
      const stats = yield* eventually(server.stats, (s) => s.inFlight === 0)
      expect(stats.aborted).toBe(0)
      expect((yield* get("/json/after-reset")).status).toBe(200)
    }))

  it.effect("stats: peakInFlight sees concurrent requests", () =>
    Effect.gen(function*() {
      const server = yield* DemoServer.DemoServer
      yield* eventually(server.stats, (s) => s.inFlight === 0)
      yield* server.resetStats
      const replies = yield* Effect.all(
        Array.from({ length: 6 }, () => get("/delay/300")),
        { concurrency: "unbounded" }
      )
      expect(replies.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200])
      const stats = yield* eventually(server.stats, (s) => s.inFlight === 0)
      expect(stats).toMatchObject({ requests: 6, inFlight: 0, peakInFlight: 6, aborted: 0 })
    }))

  it.effect("resetStats zeroes the counters and sets peak to the current inFlight", () =>
    Effect.gen(function*() {
      const server = yield* DemoServer.DemoServer
      const agent = yield* TestAgent
      yield* get("/json/one")
      yield* get("/json/two")
      expect((yield* server.stats).requests).toBeGreaterThanOrEqual(2)
      const controller = new AbortController()
      const fiber = yield* Effect.fork(hangUntilAborted(agent, server.baseUrl, controller))
      yield* eventually(server.stats, (s) => s.inFlight === 1)
      yield* server.resetStats
      expect(yield* server.stats).toMatchObject({
        requests: 0,
        inFlight: 1,
        peakInFlight: 1,
        aborted: 0,
        connectionsOpened: 0
      })
      expect(yield* server.receivedHeaders).toEqual([])
      controller.abort()
      yield* Fiber.join(fiber)
      yield* eventually(server.stats, (s) => s.inFlight === 0)
    }))

  it.effect("receivedHeaders: every request's headers, lower-case, since reset", () =>
    Effect.gen(function*() {
      const server = yield* DemoServer.DemoServer
      yield* server.resetStats
      yield* get("/json/a", { headers: { Authorization: "Bearer one" } })
      yield* get("/status/404", { headers: { "X-Api-Key": "two" } })
      const seen = yield* server.receivedHeaders
      expect(seen).toHaveLength(2)
      expect(seen[0]!.authorization).toBe("Bearer one")
      expect(seen[1]!["x-api-key"]).toBe("two")
      for (const headers of seen) {
        for (const name of Object.keys(headers)) expect(name).toBe(name.toLowerCase())
      }
    }))
})

// ---------------------------------------------------------------------------
// lifecycle: servers built with `make` in their own scopes
// ---------------------------------------------------------------------------

describe("DemoServer lifecycle", () => {
  it.live("openConnections returns to 0 once the client closes", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* DemoServer.make()
      const client = new Client(server.baseUrl)
      for (let i = 0; i < 3; i++) {
        expect((yield* call(client, `${server.baseUrl}/json/${i}`)).status).toBe(200)
      }
      const open = yield* server.stats
      expect(open).toMatchObject({ requests: 3, openConnections: 1, connectionsOpened: 1, inFlight: 0 })
      yield* Effect.promise(() => client.close())
      const closed = yield* eventually(server.stats, (s) => s.openConnections === 0)
      expect(closed).toMatchObject({ openConnections: 0, connectionsOpened: 1 })
    })))

  it.scoped("two servers run in one scope on different ports", () =>
    Effect.gen(function*() {
      const a = yield* DemoServer.make()
      const b = yield* DemoServer.make()
      expect(a.port).not.toBe(b.port)
      const agent = yield* scopedAgent
      // a cross-origin redirect from a to b, followed by hand
      const hop = yield* call(agent, `${a.baseUrl}/redirect-to?url=${encodeURIComponent(`${b.baseUrl}/headers`)}`, {
        headers: { authorization: "Bearer leak-me" }
      })
      expect(hop.status).toBe(302)
      const location = hop.headers.location as string
      expect(location).toBe(`${b.baseUrl}/headers`)
      const echoed = yield* call(agent, location)
      expect((json(echoed) as { headers: Record<string, string> }).headers.authorization).toBeUndefined()
      expect((yield* a.stats).requests).toBe(1)
      expect((yield* b.stats).requests).toBe(1)
      expect((yield* a.receivedHeaders)[0]!.authorization).toBe("Bearer leak-me")
      expect((yield* b.receivedHeaders)[0]!.authorization).toBeUndefined()
    }))

  it.live("closing the scope is fast with a /hang in flight and an idle keep-alive socket", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const server = yield* Scope.extend(DemoServer.make(), scope)
      const agent = new Agent({ keepAliveTimeout: 60_000 })
      // leaves an idle keep-alive connection behind
      expect((yield* call(agent, `${server.baseUrl}/json/idle`)).status).toBe(200)
      const hang = yield* Effect.fork(Effect.either(call(agent, `${server.baseUrl}/hang`)))
      const before = yield* eventually(server.stats, (s) => s.inFlight === 1)
      expect(before.openConnections).toBe(2)

      const start = performance.now()
      yield* Scope.close(scope, Exit.void)
      const elapsed = performance.now() - start
      // server.close() alone would wait for the keep-alive socket (5 s) and the /hang forever
      expect(elapsed).toBeLessThan(3000)

      // the hanging request was cut, and nothing listens any more
      const outcome = yield* Fiber.join(hang)
      expect(Either.isLeft(outcome)).toBe(true)
      const refused = yield* Effect.either(call(agent, `${server.baseUrl}/json/after`))
      expect(Either.isLeft(refused)).toBe(true)
      const after = yield* eventually(server.stats, (s) => s.openConnections === 0 && s.inFlight === 0)
      expect(after).toMatchObject({ openConnections: 0, inFlight: 0 })
      yield* Effect.promise(() => agent.destroy())
    }))

  it.live("layer(...) releases the server with its scope", () =>
    Effect.gen(function*() {
      const baseUrl = yield* Effect.scoped(
        Layer.build(DemoServer.layer()).pipe(
          Effect.map((context) => Context.get(context, DemoServer.DemoServer).baseUrl)
        )
      )
      const agent = new Agent()
      const refused = yield* Effect.either(call(agent, `${baseUrl}/json/x`))
      yield* Effect.promise(() => agent.destroy())
      expect(Either.isLeft(refused)).toBe(true)
    }))

  it.live("latency delays only /api/v2/pokemon and /wiki", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* DemoServer.make({ latency: "200 millis" })
      const agent = yield* scopedAgent
      // warm the connection so its setup is not measured
      yield* call(agent, `${server.baseUrl}/empty`)
      const [plain, plainElapsed] = yield* timed(call(agent, `${server.baseUrl}/json/fast`))
      const [poke, pokeElapsed] = yield* timed(call(agent, `${server.baseUrl}/api/v2/pokemon/1`))
      const [wiki, wikiElapsed] = yield* timed(call(agent, `${server.baseUrl}/wiki/2000`))
      expect([plain.status, poke.status, wiki.status]).toEqual([200, 200, 200])
      expect(pokeElapsed).toBeGreaterThanOrEqual(190)
      expect(wikiElapsed).toBeGreaterThanOrEqual(190)
      expect(plainElapsed).toBeLessThan(pokeElapsed)
    })))

  it.live("a port already in use fails with ServeError", () =>
    Effect.scoped(Effect.gen(function*() {
      const first = yield* DemoServer.make()
      const error = yield* Effect.flip(DemoServer.make({ port: first.port }))
      expect(error._tag).toBe("ServeError")
    })))
})

// ---------------------------------------------------------------------------
// pure helpers
// ---------------------------------------------------------------------------

describe("DemoServer helpers", () => {
  it("parseIntegerIn accepts only base-10 integers within bounds", () => {
    const table: ReadonlyArray<readonly [string | null, number | undefined]> = [
      ["0", 0],
      ["42", 42],
      ["-3", undefined],
      ["100", 100],
      ["101", undefined],
      ["1.0", undefined],
      ["1e2", undefined],
      [" 1", undefined],
      ["", undefined],
      ["0x10", undefined],
      [null, undefined]
    ]
    for (const [raw, expected] of table) {
      expect({ raw, n: parseIntegerIn(raw, 0, 100) }).toEqual({ raw, n: expected })
    }
    expect(parseIntegerIn("-3", -5, 5)).toBe(-3)
  })

  it("RecentLog keeps only the most recent entries", () => {
    const log = new RecentLog<number>(3)
    for (let i = 1; i <= 10; i++) log.push(i)
    expect(log.toArray()).toEqual([8, 9, 10])
    log.clear()
    expect(log.toArray()).toEqual([])
    log.push(1)
    expect(log.toArray()).toEqual([1])
  })

  it("flakyHash is deterministic, in [0, 1), and spread evenly", () => {
    for (const seed of [0, 1, 42, -7, 2 ** 40]) {
      let below = 0
      for (let k = 1; k <= 10_000; k++) {
        const h = flakyHash(seed, k)
        expect(h).toBe(flakyHash(seed, k))
        if (!(h >= 0 && h < 1)) expect.fail(`hash out of range: ${h}`)
        if (h < 0.3) below++
      }
      expect(below / 10_000).toBeGreaterThan(0.27)
      expect(below / 10_000).toBeLessThan(0.33)
    }
    // different seeds give different sequences
    const a = Array.from({ length: 20 }, (_, k) => flakyHash(1, k + 1))
    const b = Array.from({ length: 20 }, (_, k) => flakyHash(2, k + 1))
    expect(a).not.toEqual(b)
  })

  it("flakyFails never fails at p = 0 and always fails at p = 1", () => {
    for (let k = 1; k <= 1000; k++) {
      expect(DemoServer.flakyFails(0, 5, k)).toBe(false)
      expect(DemoServer.flakyFails(1, 5, k)).toBe(true)
    }
  })
})

describe("DemoServer over TLS", () => {
  it.live("HTTP/2: /reset resets its own stream; another request on the same connection still completes", () =>
    Effect.scoped(Effect.gen(function*() {
      const secure = yield* DemoServer.make({ tls: true, h2: true })
      // A session with allowH2 puts every stream on one connection.
      const outcomes = yield* Effect.gen(function*() {
        yield* Fetch.get("/status/200")
        return yield* Effect.all([
          Effect.either(Fetch.get("/delay/300")),
          Effect.either(Effect.zipRight(Effect.sleep("50 millis"), Fetch.get("/reset")))
        ], { concurrency: 2 })
      }).pipe(Effect.provide(Session.layer({ baseUrl: secure.baseUrl, tls: { ca: secure.ca! }, allowH2: true, retry: false })))
      const [slow, reset] = outcomes
      expect(Either.isRight(slow) && slow.right.status).toBe(200)
      expect(Either.isLeft(reset)).toBe(true)
      expect((yield* secure.stats).connectionsOpened).toBe(1)
    })))

  const routes = ["/api/v2/pokemon/25", "/wiki/1969", "/status/418", "/bytes/5000", "/redirect/2"]

  it.live.each([
    { name: "https", h2: false },
    { name: "HTTP/2", h2: true }
  ])("$name: a throwaway CA, https:// base URL, the demo routes answer as over http", ({ h2 }) =>
    Effect.scoped(Effect.gen(function*() {
      const plain = yield* DemoServer.make()
      const secure = yield* DemoServer.make({ tls: true, h2 })
      expect(plain.ca).toBeUndefined()
      expect(secure.baseUrl).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/)
      expect(secure.ca).toMatch(/^-----BEGIN CERTIFICATE-----/)
      const agent = new Agent({ connect: { ca: secure.ca! }, allowH2: h2 })
      const untrusting = new Agent()
      yield* Effect.addFinalizer(() => Effect.promise(() => Promise.all([agent.destroy(), untrusting.destroy()])))
      for (const route of routes) {
        const [a, b] = yield* Effect.promise(() =>
          Promise.all([
            request(`${plain.baseUrl}${route}`).then(async (r) => ({
              status: r.statusCode,
              body: (await r.body.text()).replaceAll(plain.baseUrl, "BASE")
            })),
            request(`${secure.baseUrl}${route}`, { dispatcher: agent }).then(async (r) => ({
              status: r.statusCode,
              body: (await r.body.text()).replaceAll(secure.baseUrl, "BASE")
            }))
          ])
        )
        expect(b, route).toEqual(a)
      }
      // node's HTTP/2 compatibility API shows the pseudo-headers among the headers
      const echoed = yield* Effect.promise(() =>
        request(`${secure.baseUrl}/headers`, { dispatcher: agent }).then((r) => r.body.json() as Promise<{ headers: Record<string, string> }>)
      )
      expect(":authority" in echoed.headers).toBe(h2)
      const stats = yield* secure.stats
      expect(stats.requests).toBe(routes.length + 1)
      expect(stats.tlsHandshakes).toBeGreaterThanOrEqual(1)
      expect(stats.tlsHandshakes).toBe(stats.connectionsOpened)
      const refused = yield* Effect.promise(() =>
        request(`${secure.baseUrl}/status/200`, { dispatcher: untrusting }).then(() => "ok", (e: { code?: string }) => e.code)
      )
      expect(refused).toBe("UNABLE_TO_VERIFY_LEAF_SIGNATURE")
    })))
})
