/**
 * The session's policies one by one, against real demo servers: Retry-After
 * per request or per origin, limits shared by every gather, the rate limit,
 * deadlines, pool waits that do not count against an attempt, the redirect
 * policy (also at the policy level, for https), and streamed bodies.
 */
import { assert, describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Either, Fiber, Option, Stream, TestClock } from "effect"
import * as DemoServer from "../src/DemoServer.js"
import * as Fetch from "../src/Fetch.js"
import * as Gather from "../src/Gather.js"
import { PreparedRequest } from "../src/internal/engine/attempt.js"
import { nextHop } from "../src/internal/fetch.js"
import * as SessionInternal from "../src/internal/session.js"
import * as Session from "../src/Session.js"
import { assertTag, EchoedHeaders, eventually, failure, realSleep } from "./support.js"

/** A demo server and a session on it, both in the test's scope. */
const withSession = <A, E>(
  options: (server: DemoServer.DemoServer) => Session.Options,
  body: (server: DemoServer.DemoServer) => Effect.Effect<A, E, Session.Session>
) => Effect.scoped(Effect.flatMap(DemoServer.make(), (server) => body(server).pipe(Effect.provide(Session.layer(options(server))))))

describe("Retry-After", () => {
  it.live("by default only the refused request waits: another request to the same origin goes on", () =>
    withSession((server) => ({ baseUrl: server.baseUrl, retry: { times: 1 } }), (server) =>
      Effect.gen(function*() {
        const first = yield* Effect.fork(Fetch.get("/retry-after/1?status=429&times=1&key=own"))
        // Let the 429 arrive, then ask for something else on the same origin.
        yield* eventually(server.stats, (s) => s.requests >= 1 && s.inFlight === 0)
        yield* Effect.sleep("20 millis")
        const other = yield* Fetch.get("/json/other")
        expect(other.status).toBe(200)
        // The other request finished while the refused one still waits out its second.
        expect(Option.isNone(yield* Fiber.poll(first))).toBe(true)
        const retried = yield* Fiber.join(first)
        expect(retried.attempts).toBe(2)
        expect(retried.timing.totalMs).toBeGreaterThanOrEqual(1000)
      })))

  it.live("after a Retry-After, requests go through the gate only until the origin answers again", () =>
    withSession((server) => ({ baseUrl: server.baseUrl, retry: { times: 1 } }), () =>
      Effect.gen(function*() {
        const hosts = (yield* SessionInternal.tag).hosts
        expect(hosts.idle()).toBe(true)
        const refused = yield* Effect.fork(Fetch.get("/retry-after/1?status=503&times=1&key=watch"))
        expect(yield* eventually(Effect.sync(() => hosts.idle()), (idle) => !idle)).toBe(false)
        // Watched: this one is gated (a gated success ends the watch).
        expect((yield* Fetch.get("/json/during")).status).toBe(200)
        expect(hosts.idle()).toBe(true)
        expect((yield* Fiber.join(refused)).attempts).toBe(2)
        expect(hosts.idle()).toBe(true)
      })))

  it.live("retryAfter: \"origin\": a 429 with Retry-After: 1 holds back a different request to the same origin", () =>
    withSession((server) => ({ baseUrl: server.baseUrl, retry: { times: 1 }, retryAfter: "origin" }), (server) =>
      Effect.gen(function*() {
        const first = yield* Effect.fork(Fetch.get("/retry-after/1?status=429&times=1&key=pause"))
        // Let the 429 arrive and pause the origin, then ask for something else.
        yield* eventually(server.stats, (s) => s.requests >= 1 && s.inFlight === 0)
        yield* Effect.sleep("20 millis")
        const started = performance.now()
        const other = yield* Fetch.get("/json/other")
        const waited = performance.now() - started
        expect(other.status).toBe(200)
        // The pause began when the 429 arrived (moments ago): most of a second remains.
        expect(waited).toBeGreaterThanOrEqual(700)
        const retried = yield* Fiber.join(first)
        expect(retried.attempts).toBe(2)
        expect(retried.timing.totalMs).toBeGreaterThanOrEqual(1000)
      })))

  it.live("retryAfter: \"origin\": another origin is not paused", () =>
    Effect.scoped(Effect.gen(function*() {
      const paused = yield* DemoServer.make()
      const other = yield* DemoServer.make()
      yield* Effect.gen(function*() {
        const first = yield* Effect.fork(Fetch.get(`${paused.baseUrl}/retry-after/2?status=503&times=1&key=x`))
        yield* Effect.sleep("150 millis")
        const started = performance.now()
        yield* Fetch.get(`${other.baseUrl}/json/free`)
        expect(performance.now() - started).toBeLessThan(1500)
        yield* Fiber.interrupt(first)
      }).pipe(Effect.provide(Session.layer({ retry: { times: 1 }, retryAfter: "origin" })))
    })))

  // Under TestClock: the pause is waited out on the Clock, the server runs on real time.
  // Without host limits, requests skip the gate until a Retry-After and again
  // after the next success: the rule must count the same either way.
  it.effect.each(
    [
      ["with a host limit (every request gated)", { maxInFlightPerHost: 4 }],
      ["without host limits (gated only while the origin is watched)", {}]
    ] as const
  )(
    "the whole origin pauses anyway once 4 distinct paths are refused after the first wait, with no success between, %s",
    ([, limits]) =>
      withSession((server) => ({ baseUrl: server.baseUrl, retry: false, ...limits }), () =>
        Effect.gen(function*() {
          // The first refusal opens the episode and asks for 5 s; refusals of
          // requests sent during those 5 s do not count.
          assertTag(yield* failure(Fetch.get("/retry-after/5?status=429&times=1&key=g0")), "BadStatus")
          for (const seconds of [1, 2, 3, 4]) {
            assertTag(yield* failure(Fetch.get(`/retry-after/${seconds}?status=429&times=1&key=g${seconds}`)), "BadStatus")
          }
          yield* TestClock.adjust("5 seconds")
          // Three distinct paths after the wait: not yet origin-wide.
          for (const seconds of [6, 7, 8]) {
            assertTag(yield* failure(Fetch.get(`/retry-after/${seconds}?status=503&times=1&key=h${seconds}`)), "BadStatus")
          }
          const free = yield* Fetch.get("/json/before")
          expect(free.status).toBe(200)
          // That success ended the episode: it starts over.
          assertTag(yield* failure(Fetch.get("/retry-after/1?status=503&times=9&key=i0")), "BadStatus")
          yield* TestClock.adjust("1 second")
          for (const seconds of [1, 2, 3, 4]) {
            assertTag(yield* failure(Fetch.get(`/retry-after/${seconds}?status=503&times=9&key=j${seconds}`)), "BadStatus")
          }
          const held = yield* Effect.fork(Fetch.get("/json/held"))
          yield* realSleep(300)
          expect(Option.isNone(yield* Fiber.poll(held))).toBe(true)
          // The pause lasts until the latest time asked: 4 s after the last refusal.
          yield* TestClock.adjust("3900 millis")
          yield* realSleep(100)
          expect(Option.isNone(yield* Fiber.poll(held))).toBe(true)
          yield* TestClock.adjust("100 millis")
          const released = yield* Fiber.join(held)
          expect(released.status).toBe(200)
        }))
  )
})

describe("limits shared by the session", () => {
  it.live("maxInFlightPerHost holds across two gathers running at once", () =>
    withSession((server) => ({ baseUrl: server.baseUrl, maxInFlightPerHost: 3 }), (server) =>
      Effect.gen(function*() {
        const gather = Gather.all(Array.from({ length: 12 }, () => Fetch.get("/delay/40")), { concurrency: 12 })
        yield* Effect.all([gather, gather], { concurrency: 2 })
        const stats = yield* server.stats
        expect(stats.requests).toBe(24)
        expect(stats.peakInFlight).toBe(3)
      })))

  it.live("maxInFlight caps all origins together", () =>
    Effect.scoped(Effect.gen(function*() {
      const a = yield* DemoServer.make()
      const b = yield* DemoServer.make()
      let inFlight = 0
      let peak = 0
      const counted = (url: string) =>
        Effect.acquireUseRelease(
          Effect.sync(() => {
            inFlight++
            peak = Math.max(peak, inFlight)
          }),
          () => Fetch.get(url),
          () => Effect.sync(() => inFlight--)
        )
      yield* Gather.all(
        Array.from({ length: 16 }, (_, i) => counted(`${i % 2 === 0 ? a.baseUrl : b.baseUrl}/delay/40`)),
        { concurrency: 16 }
      ).pipe(Effect.provide(Session.layer({ maxInFlight: 4 })))
      const peaks = (yield* a.stats).peakInFlight + (yield* b.stats).peakInFlight
      expect(peak).toBe(16) // the gather itself had them all going
      expect(peaks).toBeLessThanOrEqual(4 + 4) // each server saw at most the global cap
      expect((yield* a.stats).peakInFlight).toBeLessThanOrEqual(4)
      expect((yield* b.stats).peakInFlight).toBeLessThanOrEqual(4)
    })))

  it.live("ratePerHost spaces out request starts (token bucket)", () =>
    withSession((server) => ({ baseUrl: server.baseUrl, ratePerHost: "10 per second" }), () =>
      Effect.gen(function*() {
        const started = performance.now()
        const responses = yield* Gather.all(Array.from({ length: 15 }, () => Fetch.get("/empty")), { concurrency: 15 })
        // 10 at once, then 5 more at 10 per second: at least ~0.5 s.
        expect(responses.length).toBe(15)
        expect(performance.now() - started).toBeGreaterThanOrEqual(400)
      })))

  it.live("ratePerHost \"5/100ms\" (the CLI's form) builds, and the server sees 15 requests over at least 2 refills", () =>
    withSession((server) => ({ baseUrl: server.baseUrl, ratePerHost: "5/100ms" }), (server) =>
      Effect.gen(function*() {
        const started = performance.now()
        const responses = yield* Gather.all(Array.from({ length: 15 }, () => Fetch.get("/empty")), { concurrency: 15 })
        // 5 at once, then 5 per 100 ms: the last 5 start after ~200 ms.
        expect(responses.length).toBe(15)
        expect((yield* server.stats).requests).toBe(15)
        expect(performance.now() - started).toBeGreaterThanOrEqual(180)
      })))
})

describe("deadlines and pool waits", () => {
  it.live("a gather deadline fails what is left with Timeout and aborts the requests in flight", () =>
    withSession((server) => ({ baseUrl: server.baseUrl, retry: false }), (server) =>
      Effect.gen(function*() {
        const outcomes = yield* Gather.settle(
          [Fetch.get("/delay/10"), Fetch.get("/hang"), Fetch.get("/delay/5000"), Fetch.get("/json/late")],
          { concurrency: 3, deadline: "400 millis" }
        )
        expect(Either.isRight(outcomes[0]!)).toBe(true)
        for (const outcome of outcomes.slice(1, 3)) {
          assert(Either.isLeft(outcome))
          assertTag(outcome.left, "Timeout")
          expect(outcome.left.phase).toBe("deadline")
        }
        // The last one started after the first finished, still before the deadline.
        expect(Either.isRight(outcomes[3]!)).toBe(true)
        const stats = yield* eventually(server.stats, (s) => s.inFlight === 0)
        expect(stats.aborted).toBe(2)
      })))

  it.live("Gather.all with a deadline fails as a whole with the first Timeout", () =>
    withSession((server) => ({ baseUrl: server.baseUrl, retry: false }), () =>
      Effect.gen(function*() {
        const error = yield* failure(Gather.all([Fetch.get("/hang"), Fetch.get("/hang")], { deadline: "200 millis" }))
        assertTag(error, "Timeout")
        expect(error.phase).toBe("deadline")
      })))

  it.live("waiting for a pooled connection does not count against the attempt limit", () =>
    withSession(
      (server) => ({ baseUrl: server.baseUrl, maxConnectionsPerHost: 1, retry: false, timeout: { attempt: 300 } }),
      () =>
        Effect.gen(function*() {
          // The second request waits ~450 ms for the only connection, then takes ~10 ms.
          const [slow, queued] = yield* Effect.all([Fetch.get("/delay/450", { timeout: { attempt: 2000 } }), Fetch.get("/delay/10")], {
            concurrency: 2
          })
          expect(slow.status).toBe(200)
          expect(queued.status).toBe(200)
          expect(queued.timing.totalMs).toBeGreaterThanOrEqual(400)
        })
    ))

  it.live("the overall total limit does count the pool wait", () =>
    withSession(
      (server) => ({ baseUrl: server.baseUrl, maxConnectionsPerHost: 1, retry: false, timeout: { total: 200 } }),
      (server) =>
        Effect.gen(function*() {
          const [first, second] = yield* Effect.all(
            [Effect.either(Fetch.get("/delay/1000")), Effect.either(Fetch.get("/delay/10"))],
            { concurrency: 2 }
          )
          for (const outcome of [first, second]) {
            assert(Either.isLeft(outcome))
            assertTag(outcome.left, "Timeout")
            expect(outcome.left.phase).toBe("deadline")
          }
          // Only the first ever reached the server.
          expect((yield* eventually(server.stats, (s) => s.inFlight === 0)).requests).toBe(1)
        })
    ))
})

describe("redirect policy", () => {
  const request = (url: string, method = "GET", headers: Record<string, string> = {}, body: string | null = null) =>
    PreparedRequest.fromUrl(method, new URL(url), headers, body)
  const credentials = { authorization: "Bearer s3cret", cookie: "a=1", "proxy-authorization": "Basic x", accept: "*/*" }

  it("same origin keeps every header; another origin loses the credentials", () => {
    const same = nextHop(request("https://a.test/x", "GET", credentials), 302, "/y", false)
    assert(!("_tag" in same))
    expect(same.url.href).toBe("https://a.test/y")
    expect(same.headers).toEqual(credentials)

    const other = nextHop(request("https://a.test/x", "GET", credentials), 307, "https://b.test/y", false)
    assert(!("_tag" in other))
    expect(other.headers).toEqual({ accept: "*/*" })
    // a port change is another origin too
    const port = nextHop(request("https://a.test/x", "GET", credentials), 302, "https://a.test:8443/y", false)
    assert(!("_tag" in port))
    expect(port.headers["authorization"]).toBeUndefined()
  })

  it("https to http is refused unless allowed", () => {
    const refused = nextHop(request("https://a.test/x"), 301, "http://a.test/x", false)
    assert("_tag" in refused)
    expect(refused).toMatchObject({ _tag: "RedirectRejected", reason: "Downgrade" })
    const allowed = nextHop(request("https://a.test/x"), 301, "http://a.test/x", true)
    assert(!("_tag" in allowed))
    expect(allowed.url.protocol).toBe("http:")
    // http to https is always fine
    expect("_tag" in nextHop(request("http://a.test/x"), 301, "https://a.test/x", false)).toBe(false)
  })

  it.each(
    [
      [303, "POST", "GET", null],
      [303, "PUT", "GET", null],
      [301, "POST", "GET", null],
      [302, "POST", "GET", null],
      [307, "POST", "POST", "data"],
      [308, "POST", "POST", "data"],
      [302, "PUT", "PUT", "data"]
    ] as const
  )("%i after %s becomes %s", (status, method, expected, body) => {
    const hop = nextHop(
      request("http://a.test/form", method, { "content-type": "text/plain" }, "data"),
      status,
      "/done",
      false
    )
    assert(!("_tag" in hop))
    expect(hop.method).toBe(expected)
    expect(hop.body).toBe(body)
    expect(hop.headers["content-type"]).toBe(body === null ? undefined : "text/plain")
  })

  it("a Location that is not http(s) is rejected", () => {
    const hop = nextHop(request("http://a.test/x"), 302, "javascript:alert(1)", false)
    assert("_tag" in hop)
    expect(hop).toMatchObject({ _tag: "RedirectRejected", reason: "InvalidLocation" })
  })

  it.live("a real cross-origin redirect drops Authorization and records the chain", () =>
    Effect.scoped(Effect.gen(function*() {
      const a = yield* DemoServer.make()
      const b = yield* DemoServer.make()
      const response = yield* Fetch.json(
        `${a.baseUrl}/redirect-to?url=${encodeURIComponent(`${b.baseUrl}/headers`)}&status=302`,
        EchoedHeaders,
        { headers: { authorization: "Bearer s3cret" } }
      ).pipe(Effect.provide(Session.layer({})))
      expect(response.body.headers["authorization"]).toBeUndefined()
      expect(response.redirects).toEqual([`${a.baseUrl}/redirect-to?url=${encodeURIComponent(`${b.baseUrl}/headers`)}&status=302`])
      expect(response.url).toBe(`${b.baseUrl}/headers`)
      // the first origin did get it
      expect((yield* a.receivedHeaders)[0]!["authorization"]).toBe("Bearer s3cret")
    })))
})

describe("Fetch.stream", () => {
  const count = (url: string, options?: Fetch.StreamOptions) =>
    Effect.scoped(
      Effect.flatMap(Fetch.stream(url, options), (response) =>
        Effect.map(
          Stream.runFold(response.body, 0, (n, chunk) => n + chunk.length),
          (n) => [response, n] as const
        ))
    )

  it.live("streams a large body without buffering it, with its announced length", () =>
    withSession((server) => ({ baseUrl: server.baseUrl }), () =>
      Effect.gen(function*() {
        const [response, n] = yield* count("/bytes/40000000")
        expect(n).toBe(40_000_000)
        expect(response.bytes).toBe(40_000_000)
        expect(response.status).toBe(200)
      })))

  it.live("no cap unless asked; with maxBodyBytes the stream fails with BodyTooLarge", () =>
    withSession((server) => ({ baseUrl: server.baseUrl, maxBodyBytes: 1000 }), () =>
      Effect.gen(function*() {
        const [, n] = yield* count("/bytes/5000?chunked=1")
        expect(n).toBe(5000)
        const error = yield* failure(count("/bytes/5000?chunked=1", { maxBodyBytes: 3000 }))
        assertTag(error, "BodyTooLarge")
        expect(error.limitBytes).toBe(3000)
      })))

  it.live("decodes gzip on the fly", () =>
    withSession((server) => ({ baseUrl: server.baseUrl }), () =>
      Effect.gen(function*() {
        const response = yield* Effect.scoped(Effect.flatMap(Fetch.stream("/gzip"), (r) => Stream.runCollect(r.body)))
        const text = Buffer.concat(Chunk.toArray(response)).toString("utf8")
        expect(JSON.parse(text)).toBeTypeOf("object")
      })))

  it.live("closing the scope before the end aborts the request at the server", () =>
    withSession((server) => ({ baseUrl: server.baseUrl }), (server) =>
      Effect.gen(function*() {
        const first = yield* Effect.scoped(Effect.flatMap(Fetch.stream("/bytes/100000000"), (r) => Stream.runHead(r.body)))
        expect(Option.isSome(first)).toBe(true)
        const stats = yield* eventually(server.stats, (s) => s.inFlight === 0 && s.aborted === 1)
        expect(stats.aborted).toBe(1)
      })))

  it.live("a rejected status fails before any body is streamed", () =>
    withSession((server) => ({ baseUrl: server.baseUrl, retry: false }), () =>
      Effect.gen(function*() {
        const error = yield* failure(count("/status/404"))
        assertTag(error, "BadStatus")
        expect(error.status).toBe(404)
      })))
})
