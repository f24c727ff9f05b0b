import { assert, describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Exit, FastCheck, Fiber, Option, Schedule, TestClock } from "effect"
import * as Http from "node:http"
import type * as Net from "node:net"
import { Agent, buildConnector } from "undici"
import * as Fetch from "../src/Fetch.js"
import * as FetchError from "../src/FetchError.js"
import * as Gather from "../src/Gather.js"
import { fromUndici } from "../src/internal/engine/errors.js"
import { schedule } from "../src/internal/policy/retry.js"
import * as Retry from "../src/Retry.js"
import * as Session from "../src/Session.js"

const timing = { startedAt: 0, dispatchMs: 0, connectMs: -1, tlsMs: -1, sentMs: 0, headersMs: 1, endMs: 1, totalMs: 1, previous: [] }
const context = { method: "GET", url: "http://127.0.0.1:1/x", attempt: 1, elapsedMs: 1, timing }
const status = (code: number, headers: Record<string, string> = {}) => new FetchError.BadStatus({ ...context, status: code, headers, body: "" })
const refused = new FetchError.ConnectionError({ ...context, reason: "Refused", phase: "connect", code: "ECONNREFUSED" })
const reset = new FetchError.ConnectionError({ ...context, reason: "Reset", phase: "body", code: "UND_ERR_SOCKET" })
const attemptTimeout = new FetchError.Timeout({ ...context, phase: "attempt", limitMs: 100 })
const deadline = new FetchError.Timeout({ ...context, phase: "deadline", limitMs: 100 })
const decode = new FetchError.DecodeError({ ...context, reason: "Json", path: [], detail: "x" })

const now = Date.UTC(2026, 10, 22, 12, 0, 0)

describe("Retry.parseRetryAfter", () => {
  it.prop("delta-seconds parse to exactly that many ms", [FastCheck.integer({ min: 0, max: 10_000_000 })], ([seconds]) => {
    expect(Retry.parseRetryAfter(String(seconds), now)).toEqual(Option.some(seconds * 1000))
    expect(Retry.parseRetryAfter(` ${seconds} `, now)).toEqual(Option.some(seconds * 1000))
  })

  it.prop(
    "an HTTP-date parses to the time until it, and 0 once it has passed",
    [FastCheck.integer({ min: -10_000, max: 10_000_000 })],
    ([offsetSeconds]) => {
      const at = now + offsetSeconds * 1000
      const header = new Date(at).toUTCString()
      expect(Retry.parseRetryAfter(header, now)).toEqual(Option.some(Math.max(0, at - now)))
    }
  )

  it("reads the obsolete asctime date form", () => {
    // Sun Nov 22 12:00:10 2026 is ten seconds after `now`.
    expect(Retry.parseRetryAfter("Sun Nov 22 12:00:10 2026", now)).toEqual(Option.some(10_000))
  })

  it.each([
    "",
    "soon",
    "-1",
    "1.5",
    "1e3",
    "0x10",
    "2026-11-22T12:00:10Z",
    "Sun, 99 Nov 2026 12:00:10 GMT",
    "99999999999999999999999"
  ])("malformed %j is None (the caller falls back to backoff)", (value) => {
    expect(Retry.parseRetryAfter(value, now)).toEqual(Option.none())
  })

  it.prop("never throws and never returns a negative or non-finite wait", [FastCheck.string()], ([value]) => {
    const parsed = Retry.parseRetryAfter(value, now)
    if (Option.isSome(parsed)) {
      expect(Number.isFinite(parsed.value)).toBe(true)
      expect(parsed.value).toBeGreaterThanOrEqual(0)
    }
  })
})

describe("Retry.isRetryable", () => {
  const policy = Retry.defaultPolicy
  it.each([
    [408, true],
    [425, true],
    [429, true],
    [500, true],
    [502, true],
    [503, true],
    [504, true],
    [400, false],
    [401, false],
    [404, false],
    [501, false]
  ])("GET status %i retried: %s", (code, expected) => {
    expect(Retry.isRetryable(policy, "GET", status(code))).toBe(expected)
  })

  it("retries only idempotent methods once the request was sent", () => {
    for (const method of Retry.idempotentMethods) expect(Retry.isRetryable(policy, method, status(503))).toBe(true)
    for (const method of ["POST", "PATCH", "CONNECT"]) {
      expect(Retry.isRetryable(policy, method, status(503))).toBe(false)
      expect(Retry.isRetryable(policy, method, reset)).toBe(false)
      expect(Retry.isRetryable(policy, method, attemptTimeout)).toBe(false)
    }
  })

  it("retries any method when nothing left the client (refused, connect timeout)", () => {
    const connectTimeout = new FetchError.Timeout({ ...context, phase: "connect", limitMs: 10 })
    expect(Retry.isRetryable(policy, "POST", refused)).toBe(true)
    expect(Retry.isRetryable(policy, "POST", connectTimeout)).toBe(true)
  })

  it("never retries the deadline, decode errors or a zero budget", () => {
    expect(Retry.isRetryable(policy, "GET", deadline)).toBe(false)
    expect(Retry.isRetryable(policy, "GET", decode)).toBe(false)
    expect(Retry.isRetryable(Retry.policy(false), "GET", status(503))).toBe(false)
  })

  it("honours custom methods and statuses", () => {
    const custom = Retry.policy({ methods: ["post"], statuses: [418] })
    expect(Retry.isRetryable(custom, "POST", status(418))).toBe(true)
    expect(Retry.isRetryable(custom, "POST", status(503))).toBe(false)
    expect(Retry.isRetryable(custom, "GET", status(418))).toBe(false)
  })
})

describe("Retry.backoffMs and nextDelay", () => {
  const policy = Retry.policy({ times: 10, baseDelay: 100, maxDelay: 5000 })

  it.prop(
    "full jitter stays under min(max, base * 2^(n-1)) and grows with the random number",
    [
      FastCheck.integer({ min: 1, max: 30 }),
      FastCheck.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
      FastCheck.double({ min: 0, max: 1, maxExcluded: true, noNaN: true })
    ],
    ([retry, a, b]) => {
      const ceiling = Math.min(5000, 100 * 2 ** (retry - 1))
      const low = Math.min(a, b)
      const high = Math.max(a, b)
      expect(Retry.backoffMs(policy, retry, low)).toBeGreaterThanOrEqual(0)
      expect(Retry.backoffMs(policy, retry, high)).toBeLessThan(ceiling + 1)
      expect(Retry.backoffMs(policy, retry, low)).toBeLessThanOrEqual(Retry.backoffMs(policy, retry, high))
    }
  )

  it.prop(
    "a Retry-After is used as given whatever the random number: never jittered",
    [FastCheck.integer({ min: 0, max: 60 }), FastCheck.double({ min: 0, max: 1, maxExcluded: true, noNaN: true })],
    ([seconds, random]) => {
      const error = status(429, { "retry-after": String(seconds) })
      expect(Retry.nextDelay(policy, "GET", error, 1, now, random, undefined)).toEqual(Option.some(seconds * 1000))
    }
  )

  it("a Retry-After above maxRetryAfter ends the retries instead of coming back early", () => {
    const error = status(503, { "retry-after": "61" })
    expect(Retry.nextDelay(Retry.defaultPolicy, "GET", error, 1, now, 0.5, undefined)).toEqual(Option.none())
    expect(Retry.nextDelay(Retry.policy({ maxRetryAfter: "2 minutes" }), "GET", error, 1, now, 0.5, undefined))
      .toEqual(Option.some(61_000))
  })

  it("a malformed Retry-After falls back to the backoff", () => {
    const error = status(503, { "retry-after": "later" })
    expect(Retry.nextDelay(policy, "GET", error, 3, now, 0.5, undefined)).toEqual(Option.some(Retry.backoffMs(policy, 3, 0.5)))
  })

  it("stops when the wait would end after the deadline", () => {
    const error = status(503, { "retry-after": "5" })
    expect(Retry.nextDelay(policy, "GET", error, 1, now, 0, now + 4_999)).toEqual(Option.none())
    expect(Retry.nextDelay(policy, "GET", error, 1, now, 0, now + 5_001)).toEqual(Option.some(5_000))
  })

  it.prop(
    "retries are bounded: the schedule continues at most `times` times, whatever fails",
    [
      FastCheck.integer({ min: 0, max: 6 }),
      FastCheck.array(FastCheck.constantFrom<FetchError.FetchError>(status(503), status(500), reset, attemptTimeout, refused), {
        minLength: 1,
        maxLength: 20
      })
    ],
    ([times, failures]) => {
      const bounded = Retry.policy({ times, baseDelay: 1 })
      let continued = 0
      for (let retry = 1; retry <= failures.length; retry++) {
        const delay = Retry.nextDelay(bounded, "GET", failures[retry - 1]!, retry, now, 0.5, undefined)
        if (Option.isNone(delay)) break
        continued++
      }
      expect(continued).toBeLessThanOrEqual(times)
      expect(continued).toBe(Math.min(times, failures.length))
    }
  )
})

describe("the retry Schedule", () => {
  it.effect("waits exactly what Retry-After said before each retry (TestClock)", () =>
    Effect.gen(function*() {
      let attempts = 0
      const failing = Effect.suspend(() => {
        attempts++
        return Effect.fail(status(429, { "retry-after": "5" }))
      })
      const fiber = yield* Effect.fork(Effect.retry(failing, schedule(Retry.policy({ times: 2 }), "GET", undefined)))
      yield* TestClock.adjust(Duration.millis(4_999))
      expect(attempts).toBe(1)
      yield* TestClock.adjust(Duration.millis(1))
      expect(attempts).toBe(2)
      yield* TestClock.adjust(Duration.seconds(5))
      expect(attempts).toBe(3)
      const exit = yield* Fiber.join(fiber).pipe(Effect.exit)
      expect(Exit.isFailure(exit)).toBe(true)
      expect(attempts).toBe(3)
    }))

  it.effect("a user schedule replaces the backoff but a Retry-After stays the floor", () =>
    Effect.gen(function*() {
      let attempts = 0
      const failing = Effect.suspend(() => {
        attempts++
        return Effect.fail(attempts === 1 ? status(503, { "retry-after": "3" }) : status(503))
      })
      const policy = Retry.policy({ times: 5, schedule: Schedule.spaced("1 second") })
      const fiber = yield* Effect.fork(Effect.retry(failing, schedule(policy, "GET", undefined)))
      yield* TestClock.adjust(Duration.millis(2_999))
      expect(attempts).toBe(1)
      yield* TestClock.adjust(Duration.millis(1))
      expect(attempts).toBe(2)
      yield* TestClock.adjust(Duration.seconds(1))
      expect(attempts).toBe(3)
      yield* TestClock.adjust(Duration.seconds(10))
      yield* Fiber.join(fiber).pipe(Effect.exit)
      expect(attempts).toBe(6)
    }))
})

/**
 * What the socket says after a request was written is never "nothing was
 * sent": a POST whose connection dies once the server has read it must reach
 * the server once, however the death is reported. A real server on
 * 127.0.0.1 counts the POSTs it read; the client's own real socket is then
 * failed the way the kernel fails one (ETIMEDOUT, a lost route), or closed.
 */
describe("a request that was written is not retried as if nothing was sent", () => {
  const holdServer = (onRead: () => void) =>
    Effect.acquireRelease(
      Effect.async<{ readonly server: Http.Server; readonly port: number; readonly posts: { count: number } }>((resume) => {
        const posts = { count: 0 }
        // Reads the whole body, then never answers: the client's socket dies first.
        const server = Http.createServer((request) => {
          request.resume()
          request.on("end", () => {
            posts.count++
            onRead()
          })
        })
        server.listen(0, "127.0.0.1", () => resume(Effect.succeed({ server, port: (server.address() as Net.AddressInfo).port, posts })))
      }),
      ({ server }) =>
        Effect.async<void>((resume) => {
          server.close(() => resume(Effect.void))
          server.closeAllConnections()
        })
    )

  const codes = ["ETIMEDOUT", "EHOSTUNREACH", "ECONNRESET"] as const

  for (const code of codes) {
    for (const path of ["fiber", "gather"] as const) {
      it.live(`a POST whose socket fails with ${code} after the server read it is received once (${path})`, () =>
        Effect.gen(function*() {
          const sockets = new Set<Net.Socket>()
          const connect = buildConnector({})
          const agent = new Agent({
            connect: (options, callback) =>
              connect(options, (...args) => {
                if (args[1] !== null) sockets.add(args[1])
                callback(...args)
              })
          })
          yield* Effect.addFinalizer(() => Effect.promise(() => agent.destroy()))
          const kill = () => {
            for (const socket of sockets) socket.destroy(Object.assign(new Error(`fake ${code}`), { code }))
          }
          const { port, posts } = yield* holdServer(() => setImmediate(kill))
          const post = Fetch.post(`http://127.0.0.1:${port}/order`, { json: { order: 1 } })
          const session = Session.layer({ dispatcher: agent, retry: { times: 3, baseDelay: 0 }, timeout: { total: "5 seconds" } })
          const error = yield* Effect.flip(
            path === "fiber" ? post : Effect.map(Gather.forEach([0], () => post, { concurrency: 1 }), ([r]) => r!)
          ).pipe(Effect.provide(session))
          // at the server first: the order was placed once
          expect(posts.count, `${error._tag} ${"phase" in error ? error.phase : ""}`).toBe(1)
          expect(error.attempt).toBe(1)
          assert(error._tag === "ConnectionError", error._tag)
          expect(error.phase).toBe("request")
          expect(error.code).toBe(code)
        }).pipe(Effect.scoped))
    }
  }

  it("before undici handed the request to a socket, the same codes still say connect", () => {
    const timeouts = { attemptMs: 0, connectMs: 1234, headersMs: 0, bodyIdleMs: 0, totalMs: 0 }
    const withCode = (code: string) => Object.assign(new Error(code), { code })
    expect(fromUndici(withCode("ETIMEDOUT"), false, timeouts)).toEqual({ _tag: "Timeout", phase: "connect", limitMs: 1234 })
    expect(fromUndici(withCode("UND_ERR_DESTROYED"), false, timeouts)).toMatchObject({ phase: "connect" })
    expect(fromUndici(withCode("UND_ERR_CLOSED"), false, timeouts, true)).toMatchObject({ phase: "request", reason: "Closed" })
    expect(fromUndici(withCode("UND_ERR_DESTROYED"), true, timeouts, true)).toMatchObject({ phase: "body" })
    expect(fromUndici(withCode("ETIMEDOUT"), false, timeouts, true)).toMatchObject({ _tag: "ConnectionError", phase: "request", code: "ETIMEDOUT" })
  })
})
