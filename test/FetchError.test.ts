import { describe, expect, it, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as FastCheck from "effect/FastCheck"
import * as Schema from "effect/Schema"
import * as DemoServer from "../src/DemoServer.js"
import * as Fetch from "../src/Fetch.js"
import * as FetchError from "../src/FetchError.js"
import * as Session from "../src/Session.js"
import { assertTag, closedPort, eventually, failure, serverAndSession, settledStats } from "./support.js"

// ---------------------------------------------------------------------------
// pure: guards, classification, messages
// ---------------------------------------------------------------------------

const timing = { startedAt: 0, dispatchMs: 0, connectMs: -1, tlsMs: -1, sentMs: 0, headersMs: 12, endMs: 12, totalMs: 12, previous: [] }
const context = { method: "GET", url: "http://example.test/x", attempt: 1, elapsedMs: 12, timing } as const

const connection = (reason: FetchError.ConnectionError["reason"], code: string | undefined = undefined) =>
  new FetchError.ConnectionError({ ...context, reason, phase: "connect", code })
const timeout = (phase: FetchError.Timeout["phase"]) => new FetchError.Timeout({ ...context, phase, limitMs: 100 })
const badStatus = (status: number) => new FetchError.BadStatus({ ...context, status, headers: {}, body: "" })

/** One instance of every class of the union. */
const oneOfEach: ReadonlyArray<FetchError.FetchError> = [
  new FetchError.InvalidUrl({ ...context, reason: "Malformed" }),
  new FetchError.InvalidRequest({ ...context, reason: "Header", detail: "bad" }),
  connection("Refused", "ECONNREFUSED"),
  timeout("attempt"),
  badStatus(503),
  new FetchError.DecodeError({ ...context, reason: "Json", path: [], detail: "bad" }),
  new FetchError.BodyTooLarge({ ...context, limitBytes: 10, receivedBytes: 11 }),
  new FetchError.TooManyRedirects({ ...context, limit: 1, chain: ["http://example.test/a", "http://example.test/b"] }),
  new FetchError.RedirectRejected({ ...context, reason: "Downgrade", location: "http://example.test/" })
]

describe("FetchError (pure)", () => {
  it.each<{ readonly name: string; readonly error: FetchError.FetchError; readonly transient: boolean }>([
    { name: "refused", error: connection("Refused", "ECONNREFUSED"), transient: true },
    { name: "reset", error: connection("Reset", "ECONNRESET"), transient: true },
    { name: "closed", error: connection("Closed", "UND_ERR_CLOSED"), transient: true },
    { name: "other connection failure", error: connection("Other", "EHOSTUNREACH"), transient: true },
    { name: "DNS: no such host", error: connection("Dns", "ENOTFOUND"), transient: false },
    { name: "DNS: temporary failure", error: connection("Dns", "EAI_AGAIN"), transient: true },
    { name: "TLS", error: connection("Tls", "CERT_HAS_EXPIRED"), transient: false },
    { name: "connect timeout", error: timeout("connect"), transient: true },
    { name: "headers timeout", error: timeout("headers"), transient: true },
    { name: "body timeout", error: timeout("body"), transient: true },
    { name: "attempt timeout", error: timeout("attempt"), transient: true },
    { name: "deadline", error: timeout("deadline"), transient: false },
    { name: "408", error: badStatus(408), transient: true },
    { name: "425", error: badStatus(425), transient: true },
    { name: "429", error: badStatus(429), transient: true },
    { name: "500", error: badStatus(500), transient: true },
    { name: "502", error: badStatus(502), transient: true },
    { name: "503", error: badStatus(503), transient: true },
    { name: "504", error: badStatus(504), transient: true },
    { name: "400", error: badStatus(400), transient: false },
    { name: "401", error: badStatus(401), transient: false },
    { name: "403", error: badStatus(403), transient: false },
    { name: "404", error: badStatus(404), transient: false },
    { name: "501", error: badStatus(501), transient: false },
    { name: "505", error: badStatus(505), transient: false },
    { name: "302 not followed", error: badStatus(302), transient: false },
    { name: "invalid URL", error: new FetchError.InvalidUrl({ ...context, reason: "UnsupportedScheme" }), transient: false },
    { name: "invalid request", error: new FetchError.InvalidRequest({ ...context, reason: "Method", detail: "x" }), transient: false },
    { name: "invalid JSON", error: new FetchError.DecodeError({ ...context, reason: "Json", path: [], detail: "x" }), transient: false },
    { name: "schema mismatch", error: new FetchError.DecodeError({ ...context, reason: "Schema", path: ["a"], detail: "x" }), transient: false },
    { name: "body too large", error: new FetchError.BodyTooLarge({ ...context, limitBytes: 1, receivedBytes: 2 }), transient: false },
    { name: "too many redirects", error: new FetchError.TooManyRedirects({ ...context, limit: 1, chain: [] }), transient: false },
    { name: "redirect rejected", error: new FetchError.RedirectRejected({ ...context, reason: "InvalidLocation", location: "x" }), transient: false }
  ])("isTransient: $name", ({ error, transient }) => {
    expect(FetchError.isTransient(error)).toBe(transient)
  })

  const documentedTransient = new Set([408, 425, 429, 500, 502, 503, 504])
  it.prop(
    "isTransient(BadStatus) holds exactly for 408, 425, 429, 500, 502, 503, 504",
    [FastCheck.integer({ min: 100, max: 599 })],
    ([status]) => {
      expect(FetchError.isTransient(badStatus(status))).toBe(documentedTransient.has(status))
      expect(FetchError.transientStatuses.has(status)).toBe(documentedTransient.has(status))
    },
    { fastCheck: { numRuns: 200 } }
  )

  it("isFetchError recognizes every class of the union and nothing else", () => {
    for (const error of oneOfEach) expect(FetchError.isFetchError(error)).toBe(true)
    for (const other of [new Error("x"), null, undefined, "Timeout", { _tag: "Timeout" }, { _tag: "BadStatus", status: 500 }]) {
      expect(FetchError.isFetchError(other)).toBe(false)
    }
  })

  it("tags lists each tag of the union once", () => {
    expect(new Set(FetchError.tags).size).toBe(FetchError.tags.length)
    expect([...FetchError.tags].sort()).toEqual(oneOfEach.map((e) => e._tag).sort())
  })

  it("every message starts with METHOD url and names the attempt", () => {
    for (const error of oneOfEach) {
      expect(error.message.startsWith("GET http://example.test/x: ")).toBe(true)
      expect(error.message).toContain("attempt 1")
    }
    const retried = new FetchError.Timeout({ method: "POST", url: "http://h/p", attempt: 3, elapsedMs: 1234.4, timing, phase: "headers", limitMs: 250 })
    expect(retried.message).toContain("POST http://h/p")
    expect(retried.message).toContain("attempt 3")
    expect(retried.message).toContain("250")
    expect(retried.message).toContain("headers")
  })

  it.effect("catchTags over the tags covers the union", () =>
    Effect.gen(function*() {
      const handled = yield* Effect.forEach(oneOfEach, (error) =>
        Effect.fail(error).pipe(
          Effect.catchTags({
            InvalidUrl: (e) => Effect.succeed(e._tag),
            InvalidRequest: (e) => Effect.succeed(e._tag),
            ConnectionError: (e) => Effect.succeed(e._tag),
            Timeout: (e) => Effect.succeed(e._tag),
            BadStatus: (e) => Effect.succeed(e._tag),
            DecodeError: (e) => Effect.succeed(e._tag),
            BodyTooLarge: (e) => Effect.succeed(e._tag),
            TooManyRedirects: (e) => Effect.succeed(e._tag),
            RedirectRejected: (e) => Effect.succeed(e._tag)
          })
        ))
      expect(handled).toEqual(oneOfEach.map((e) => e._tag))
    }))
})

// ---------------------------------------------------------------------------
// each error produced for real against the DemoServer
// ---------------------------------------------------------------------------

/** The server with its counters zeroed once nothing is in flight. */
const fresh = Effect.gen(function*() {
  const server = yield* DemoServer.DemoServer
  yield* settledStats
  yield* server.resetStats
  return server
})

/** The message of any error names the request as `METHOD url`. */
const expectNamesRequest = (error: FetchError.FetchError, method: string, url: string) => {
  expect(error.method).toBe(method)
  expect(error.url).toBe(url)
  expect(error.message).toContain(`${method} ${url}`)
  expect(error.attempt).toBe(1)
  expect(error.elapsedMs).toBeGreaterThanOrEqual(0)
}

const Pokemon = Schema.Struct({ id: Schema.Number, name: Schema.String })

describe("FetchError (without a server)", () => {
  it.live("a relative URL without baseUrl is InvalidUrl Malformed", () =>
    Effect.gen(function*() {
      const error = yield* failure(Fetch.get("not a url"))
      assertTag(error, "InvalidUrl")
      expect(error.reason).toBe("Malformed")
      expectNamesRequest(error, "GET", "not a url")
    }).pipe(Effect.provide(Session.layer({ retry: false }))))

  it.live("file: and ftp: URLs are InvalidUrl UnsupportedScheme", () =>
    Effect.gen(function*() {
      for (const url of ["file:///etc/passwd", "ftp://example.com/file.txt"]) {
        const error = yield* failure(Fetch.get(url))
        assertTag(error, "InvalidUrl")
        expect(error.reason).toBe("UnsupportedScheme")
        expectNamesRequest(error, "GET", url)
      }
    }).pipe(Effect.provide(Session.layer({ retry: false }))))

  it.live("a closed port is ConnectionError Refused with ECONNREFUSED", () =>
    Effect.gen(function*() {
      const port = yield* closedPort
      const url = `http://127.0.0.1:${port}/status/200`
      const error = yield* failure(Fetch.get(url))
      assertTag(error, "ConnectionError")
      expect(error.reason).toBe("Refused")
      expect(error.code).toBe("ECONNREFUSED")
      expect(error.phase).toBe("connect")
      expectNamesRequest(error, "GET", url)
      expect(FetchError.isTransient(error)).toBe(true)
    }).pipe(Effect.provide(Session.layer({ retry: false }))))
})

// Retries are off: each error below is the first attempt's, and the server's
// counters see exactly one request per fetch.
layer(serverAndSession((server) => ({ baseUrl: server.baseUrl, retry: false })), { excludeTestServices: true })("FetchError (DemoServer)", (it) => {
  it.effect("file: and ftp: URLs are rejected even with a baseUrl, and never reach the server", () =>
    Effect.gen(function*() {
      const server = yield* fresh
      for (const url of ["file:///etc/passwd", "ftp://example.com/"]) {
        const error = yield* failure(Fetch.get(url))
        assertTag(error, "InvalidUrl")
        expect(error.reason).toBe("UnsupportedScheme")
      }
      expect((yield* server.stats).requests).toBe(0)
    }))

  it.effect("/status/503 is BadStatus 503 with the body", () =>
    Effect.gen(function*() {
      const server = yield* fresh
      const error = yield* failure(Fetch.get("/status/503"))
      assertTag(error, "BadStatus")
      expect(error.status).toBe(503)
      expect(JSON.parse(error.body)).toEqual({ status: 503 })
      expect(error.headers["content-type"]).toContain("application/json")
      expectNamesRequest(error, "GET", `${server.baseUrl}/status/503`)
      expect(FetchError.isTransient(error)).toBe(true)
    }))

  it.effect("a 4 KiB error body is cut to its first 1 KiB", () =>
    Effect.gen(function*() {
      // an unknown route answers 404 with a JSON body that repeats the path
      const path = `/no-such-route/${"a".repeat(4096)}`
      const error = yield* failure(Fetch.get(path))
      assertTag(error, "BadStatus")
      expect(error.status).toBe(404)
      expect(Buffer.byteLength(error.body)).toBe(1024)
      expect(error.body.startsWith("{\"error\":\"no route for GET /no-such-route/aaaa")).toBe(true)
      // the same cut for a 200 the caller refuses: the prefix of the real page
      const page = yield* Fetch.text("/wiki/1999")
      expect(Buffer.byteLength(page.body)).toBeGreaterThan(2048)
      const refused = yield* failure(Fetch.get("/wiki/1999", { acceptStatus: (status) => status !== 200 }))
      assertTag(refused, "BadStatus")
      expect(refused.status).toBe(200)
      expect(refused.body).toBe(Buffer.from(page.body).subarray(0, 1024).toString("utf8"))
    }))

  it.effect("/hang with a short timeout is Timeout attempt, and the server sees the abort", () =>
    Effect.gen(function*() {
      const server = yield* fresh
      const started = performance.now()
      const error = yield* failure(Fetch.get("/hang", { timeout: 200 }))
      const took = performance.now() - started
      assertTag(error, "Timeout")
      expect(error.phase).toBe("attempt")
      expect(error.limitMs).toBe(200)
      expect(error.elapsedMs).toBeGreaterThanOrEqual(190)
      expect(took).toBeGreaterThanOrEqual(190)
      expect(took).toBeLessThan(2000)
      expectNamesRequest(error, "GET", `${server.baseUrl}/hang`)
      const stats = yield* eventually(server.stats, (s) => s.aborted >= 1)
      expect(stats.requests).toBe(1)
      expect(stats.aborted).toBe(1)
    }))

  it.effect("a headers timeout on /hang is Timeout headers", () =>
    Effect.gen(function*() {
      const server = yield* fresh
      const started = performance.now()
      const error = yield* failure(Fetch.get("/hang", { timeout: { headers: 100 } }))
      assertTag(error, "Timeout")
      expect(error.phase).toBe("headers")
      expect(error.limitMs).toBe(100)
      expect(performance.now() - started).toBeLessThan(2000)
      expectNamesRequest(error, "GET", `${server.baseUrl}/hang`)
      expect((yield* eventually(server.stats, (s) => s.aborted >= 1)).aborted).toBe(1)
    }))

  it.effect("a pause between body chunks over bodyIdle is Timeout body", () =>
    Effect.gen(function*() {
      const server = yield* fresh
      const started = performance.now()
      const error = yield* failure(Fetch.text("/slow-body?chunks=4&interval=3000", { timeout: { bodyIdle: 100 } }))
      assertTag(error, "Timeout")
      expect(error.phase).toBe("body")
      expect(error.limitMs).toBe(100)
      // the first chunk comes after 3 s: the limit, not the server, ended it
      // (the margin is for a busy machine, not for the limit)
      expect(performance.now() - started).toBeLessThan(2500)
      expectNamesRequest(error, "GET", `${server.baseUrl}/slow-body?chunks=4&interval=3000`)
    }))

  it.effect("/reset is ConnectionError Reset during the body", () =>
    Effect.gen(function*() {
      const server = yield* fresh
      const error = yield* failure(Fetch.get("/reset"))
      assertTag(error, "ConnectionError")
      expect(error.reason).toBe("Reset")
      expect(error.phase).toBe("body")
      expect(typeof error.code).toBe("string")
      expectNamesRequest(error, "GET", `${server.baseUrl}/reset`)
    }))

  it.effect("/bad-json through Fetch.json is DecodeError Json", () =>
    Effect.gen(function*() {
      const server = yield* fresh
      const error = yield* failure(Fetch.json("/bad-json", Schema.Unknown))
      assertTag(error, "DecodeError")
      expect(error.reason).toBe("Json")
      expect(error.path).toEqual([])
      expect(error.detail.length).toBeGreaterThan(0)
      expectNamesRequest(error, "GET", `${server.baseUrl}/bad-json`)
    }))

  it.effect("a schema mismatch is DecodeError Schema with the path of the mismatch", () =>
    Effect.gen(function*() {
      const server = yield* fresh
      const error = yield* failure(Fetch.json("/api/v2/pokemon/1", Schema.Struct({ id: Schema.Number, name: Schema.Number })))
      assertTag(error, "DecodeError")
      expect(error.reason).toBe("Schema")
      expect(error.path).toEqual(["name"])
      expect(error.message).toContain("name")
      expectNamesRequest(error, "GET", `${server.baseUrl}/api/v2/pokemon/1`)

      const Nested = Schema.Struct({
        types: Schema.Array(Schema.Struct({ slot: Schema.Number, type: Schema.Struct({ name: Schema.Number }) }))
      })
      const nested = yield* failure(Fetch.json("/api/v2/pokemon/1", Nested))
      assertTag(nested, "DecodeError")
      expect(nested.path).toEqual(["types", 0, "type", "name"])

      // the same schema with the right field types decodes
      const ok = yield* Fetch.json("/api/v2/pokemon/1", Pokemon)
      expect(ok.body).toEqual({ id: 1, name: "bulbasaur" })
    }))

  it.effect("/bytes/{n} over maxBodyBytes is BodyTooLarge, and the next request works", () =>
    Effect.gen(function*() {
      const server = yield* fresh
      const error = yield* failure(Fetch.get("/bytes/5000", { maxBodyBytes: 1000 }))
      assertTag(error, "BodyTooLarge")
      expect(error.limitBytes).toBe(1000)
      expect(error.receivedBytes).toBe(5000)
      expectNamesRequest(error, "GET", `${server.baseUrl}/bytes/5000`)

      const chunked = yield* failure(Fetch.get("/bytes/5000?chunked=1", { maxBodyBytes: 1000 }))
      assertTag(chunked, "BodyTooLarge")
      expect(chunked.limitBytes).toBe(1000)
      expect(chunked.receivedBytes).toBeGreaterThan(1000)
      expect(chunked.receivedBytes).toBeLessThanOrEqual(5000)

      const next = yield* Fetch.get("/bytes/1000", { maxBodyBytes: 1000 })
      expect(next.status).toBe(200)
      expect(next.body.length).toBe(1000)
      expect(next.body[250]).toBe(250)
      expect(next.body[251]).toBe(0)
    }))

  it.effect("/redirect-loop is TooManyRedirects after following `limit` redirects", () =>
    Effect.gen(function*() {
      const server = yield* fresh
      const url = `${server.baseUrl}/redirect-loop`
      const error = yield* failure(Fetch.get("/redirect-loop"))
      assertTag(error, "TooManyRedirects")
      expect(error.limit).toBe(10)
      expect(error.chain.length).toBeGreaterThanOrEqual(10)
      for (const visited of error.chain) expect(visited).toBe(url)
      expect(error.message).toContain(`GET ${url}`)
      // the first request plus 10 followed redirects
      expect((yield* settledStats).requests).toBe(11)

      yield* server.resetStats
      const three = yield* failure(Fetch.get("/redirect-loop", { maxRedirects: 3 }))
      assertTag(three, "TooManyRedirects")
      expect(three.limit).toBe(3)
      expect((yield* settledStats).requests).toBe(4)
    }))

  // The chain lists every URL that answered with a redirect, the one that
  // broke the limit included: `limit` followed redirects plus the refused one.
  it.effect("TooManyRedirects.chain lists the limit followed redirects and the one refused", () =>
    Effect.gen(function*() {
      const error = yield* failure(Fetch.get("/redirect-loop", { maxRedirects: 3 }))
      assertTag(error, "TooManyRedirects")
      expect(error.chain.length).toBe(4)
    }))

  it.effect("maxRedirects 0 returns the 302 as BadStatus unless acceptStatus allows it", () =>
    Effect.gen(function*() {
      const server = yield* fresh
      const error = yield* failure(Fetch.get("/redirect/3", { maxRedirects: 0 }))
      assertTag(error, "BadStatus")
      expect(error.status).toBe(302)
      expect(error.headers["location"]).toBe("/redirect/2")
      expectNamesRequest(error, "GET", `${server.baseUrl}/redirect/3`)

      const accepted = yield* Fetch.get("/redirect/3", { maxRedirects: 0, acceptStatus: (status) => status < 400 })
      expect(accepted.status).toBe(302)
      expect(accepted.headers["location"]).toBe("/redirect/2")
      expect(accepted.redirects).toEqual([])
      expect(accepted.url).toBe(`${server.baseUrl}/redirect/3`)
      expect((yield* settledStats).requests).toBe(2)
    }))

  it.effect("a redirect to a non-http location is RedirectRejected InvalidLocation", () =>
    Effect.gen(function*() {
      const error = yield* failure(Fetch.get(`/redirect-to?url=${encodeURIComponent("ftp://example.com/x")}`))
      assertTag(error, "RedirectRejected")
      expect(error.reason).toBe("InvalidLocation")
      expect(error.location).toBe("ftp://example.com/x")
    }))

  it.effect("a header value with CR/LF is InvalidRequest Header and never reaches the server", () =>
    Effect.gen(function*() {
      const server = yield* fresh
      const error = yield* failure(Fetch.get("/headers", { headers: { "x-bad": "a\r\nx-injected: 1" } }))
      assertTag(error, "InvalidRequest")
      expect(error.reason).toBe("Header")
      expect((yield* server.stats).requests).toBe(0)
    }))

  it.effect("URL credentials become Basic auth and never show in any error", () =>
    Effect.gen(function*() {
      const server = yield* fresh
      const withCredentials = (path: string) => server.baseUrl.replace("http://", "http://user:secret@") + path

      const echoed = yield* Fetch.json(withCredentials("/headers"), Schema.Struct({ headers: Schema.Record({ key: Schema.String, value: Schema.String }) }))
      expect(echoed.body.headers["authorization"]).toBe(`Basic ${Buffer.from("user:secret").toString("base64")}`)

      const port = yield* closedPort
      const cases: ReadonlyArray<readonly [string, Effect.Effect<unknown, FetchError.FetchError, Session.Session>]> = [
        ["BadStatus", Fetch.get(withCredentials("/status/500?token=abc"))],
        ["Timeout", Fetch.get(withCredentials("/hang?token=abc"), { timeout: 100 })],
        ["ConnectionError", Fetch.get(withCredentials("/reset?token=abc"))],
        ["ConnectionError", Fetch.get(`http://user:secret@127.0.0.1:${port}/x?token=abc`)],
        ["DecodeError", Fetch.json(withCredentials("/bad-json?token=abc"), Schema.Unknown)],
        ["BodyTooLarge", Fetch.get(withCredentials("/bytes/5000?token=abc"), { maxBodyBytes: 10 })],
        ["TooManyRedirects", Fetch.get(withCredentials("/redirect-loop?token=abc"), { maxRedirects: 2 })],
        ["InvalidUrl", Fetch.get("ftp://user:secret@example.com/x?token=abc")]
      ]
      for (const [tag, effect] of cases) {
        const error = yield* failure(effect)
        expect(error._tag).toBe(tag)
        expect(error.message).toContain(`GET ${error.url}`)
        for (const text of [error.message, error.url, JSON.stringify(error)]) {
          expect(text, `${tag}: ${text}`).not.toContain("secret")
          expect(text, `${tag}: ${text}`).not.toContain("abc")
        }
      }
      const status = yield* failure(Fetch.get(withCredentials("/status/500?token=abc")))
      expect(status.url).toContain(`127.0.0.1:${server.port}/status/500?token=`)
    }))

  // BUG: a URL that does not parse goes through redactUnparsable, which
  // hides `user:pass@` but not the secret query parameters redactUrl hides
  // in every other error.
  it.effect("a malformed URL has its credentials and secret parameters redacted too", () =>
    Effect.gen(function*() {
      const error = yield* failure(Fetch.get("http://user:secret@[::1/x?token=abc&api_key=xyz"))
      assertTag(error, "InvalidUrl")
      expect(error.reason).toBe("Malformed")
      for (const text of [error.message, error.url, JSON.stringify(error)]) {
        expect(text).not.toContain("secret")
        expect(text).not.toContain("abc")
        expect(text).not.toContain("xyz")
      }
    }))
})
