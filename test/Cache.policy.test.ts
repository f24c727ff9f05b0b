/**
 * The cache's policy (src/internal/cache/policy.ts) and stage, checked as
 * properties: for any sequence of responses and clock steps, a response the
 * RFC calls stale is never served without asking the origin. The origin here
 * is a function of the step (what it would answer), so fast-check can try
 * thousands of sequences; test/Cache.test.ts runs the same stage against a
 * real server.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, FastCheck, TestClock } from "effect"
import type * as FetchError from "../src/FetchError.js"
import * as Policy from "../src/internal/cache/policy.js"
import * as Stage from "../src/internal/cache/stage.js"
import { MemoryStore } from "../src/internal/cache/store.js"
import type { FetchResponse } from "../src/internal/engine/attempt.js"
import { PreparedRequest } from "../src/internal/engine/attempt.js"
import * as Errors from "../src/internal/engine/errors.js"

/** What the origin answers at one step. */
interface Answer {
  readonly maxAge: number | undefined
  readonly expiresIn: number | undefined
  readonly age: number
  readonly noCache: boolean
  readonly noStore: boolean
  readonly etag: boolean
  readonly changed: boolean
  /** A 304 as the engine gives it on a cached session (a response), or as a BadStatus (acceptStatus without 304). */
  readonly asError: boolean
}

const answerArb: FastCheck.Arbitrary<Answer> = FastCheck.record({
  maxAge: FastCheck.option(FastCheck.integer({ min: 0, max: 100 }), { nil: undefined }),
  expiresIn: FastCheck.option(FastCheck.integer({ min: -20, max: 100 }), { nil: undefined }),
  age: FastCheck.integer({ min: 0, max: 150 }),
  noCache: FastCheck.boolean(),
  noStore: FastCheck.boolean(),
  etag: FastCheck.boolean(),
  changed: FastCheck.boolean(),
  asError: FastCheck.boolean()
})

type Step = { readonly _tag: "Wait"; readonly seconds: number } | { readonly _tag: "Get"; readonly answer: Answer }

const stepArb: FastCheck.Arbitrary<Step> = FastCheck.oneof(
  FastCheck.record({ _tag: FastCheck.constant("Wait" as const), seconds: FastCheck.integer({ min: 0, max: 200 }) }),
  FastCheck.record({ _tag: FastCheck.constant("Get" as const), answer: answerArb })
)

/** What the test knows the cache holds, from the answers alone (no header parsing). */
interface Truth {
  readonly version: number
  readonly receivedAt: number
  readonly ageAtReceipt: number
  readonly lifetime: number
  readonly noCache: boolean
}

const headersOf = (answer: Answer, now: number, version: number): Record<string, string> => {
  const directives = [
    ...(answer.maxAge === undefined ? [] : [`max-age=${answer.maxAge}`]),
    ...(answer.noCache ? ["no-cache"] : []),
    ...(answer.noStore ? ["no-store"] : [])
  ]
  return {
    date: new Date(now).toUTCString(),
    // always sent, so a 304 replaces every one of them (no header of an older answer lingers)
    "cache-control": directives.join(", "),
    expires: answer.expiresIn === undefined ? "0" : new Date(now + answer.expiresIn * 1000).toUTCString(),
    age: String(answer.age),
    ...(answer.etag ? { etag: `"v${version}"` } : {})
  }
}

const lifetimeOf = (answer: Answer): number => (answer.maxAge ?? Math.max(0, answer.expiresIn ?? 0)) * 1000

const response = (status: number, headers: Record<string, string>, body: string, url: string): FetchResponse<Uint8Array> => ({
  url,
  status,
  headers,
  body: new TextEncoder().encode(body),
  bytes: body.length,
  attempts: 1,
  redirects: [],
  timing: Errors.timingWithout(performance.now(), undefined),
  cache: "bypass"
})

describe("cache policy", () => {
  it.effect.prop(
    "for any sequence of responses and clock steps, a stale response is never served without revalidating",
    [FastCheck.array(stepArb, { minLength: 1, maxLength: 40 }), FastCheck.boolean()],
    ([steps, revalidateAll]) =>
      Effect.gen(function*() {
        const url = "http://origin.test/thing"
        const cache: Stage.SessionCache = { store: new MemoryStore(1 << 20), revalidate: revalidateAll }
        const prepared = PreparedRequest.fromUrl("GET", new URL(url), {}, null)
        let version = 0
        let truth: Truth | undefined
        let sent = 0
        for (const step of steps) {
          if (step._tag === "Wait") {
            yield* TestClock.adjust(step.seconds * 1000)
            continue
          }
          const answer = step.answer
          const now = yield* TestClock.currentTimeMillis
          const hop = (request: PreparedRequest): Effect.Effect<FetchResponse<Uint8Array>, FetchError.FetchError> => {
            sent++
            if (answer.changed || request.headers["if-none-match"] !== `"v${version}"`) version++
            const headers = headersOf(answer, now, version)
            if (request.headers["if-none-match"] === `"v${version}"`) {
              return answer.asError
                ? Effect.fail(Errors.make({ _tag: "BadStatus", status: 304, headers, body: "" }, "GET", url, 1, 0))
                : Effect.succeed(response(304, headers, "", url))
            }
            return Effect.succeed(response(200, headers, `v${version}`, url))
          }
          const before = sent
          const got = yield* Stage.through(cache, prepared, performance.now(), (status) => status === 200, hop)
          const body = new TextDecoder().decode(got.body)
          if (got.cache === "hit") {
            // served without a request: the truth says it was fresh, and it is the latest body
            expect(sent).toBe(before)
            expect(revalidateAll).toBe(false)
            expect(truth).toBeDefined()
            const age = truth!.ageAtReceipt + (now - truth!.receivedAt)
            expect(truth!.noCache).toBe(false)
            expect(age).toBeLessThan(truth!.lifetime)
            expect(body).toBe(`v${truth!.version}`)
            continue
          }
          expect(sent).toBe(before + 1)
          expect(body).toBe(`v${version}`)
          truth = answer.noStore
            ? undefined
            : { version, receivedAt: now, ageAtReceipt: answer.age * 1000, lifetime: lifetimeOf(answer), noCache: answer.noCache }
        }
      }),
    { fastCheck: { numRuns: 150, seed: 20261203 } }
  )

  it("parses Cache-Control: names in any case, quoted values with commas, the first of duplicates", () => {
    const cc = Policy.parseCacheControl(`Max-Age=60, no-cache="set-cookie, x-a", max-age=5, private`)
    expect(cc.get("max-age")).toBe("60")
    expect(cc.get("no-cache")).toBe("set-cookie, x-a")
    expect(cc.get("private")).toBe(true)
  })

  it.each(
    [
      ["max-age", { "cache-control": "max-age=60" }, 60_000],
      ["s-maxage alone is for shared caches", { "cache-control": "s-maxage=60" }, 0],
      ["max-age wins over Expires", { "cache-control": "max-age=5", expires: "Thu, 01 Jan 1970 00:01:40 GMT" }, 5_000],
      ["Expires − Date", { date: "Thu, 01 Jan 1970 00:00:10 GMT", expires: "Thu, 01 Jan 1970 00:01:40 GMT" }, 90_000],
      ["an invalid Expires is already expired", { expires: "0" }, 0],
      ["a max-age that is not a number is stale", { "cache-control": "max-age=soon" }, 0],
      ["heuristic: 10% since Last-Modified", {
        date: "Thu, 01 Jan 1970 01:00:00 GMT",
        "last-modified": "Thu, 01 Jan 1970 00:00:00 GMT"
      }, 360_000],
      ["heuristic at most a day", { date: "Sat, 01 Jan 1972 00:00:00 GMT", "last-modified": "Thu, 01 Jan 1970 00:00:00 GMT" }, 86_400_000]
    ] as const
  )("lifetime: %s", (_name, headers, expected) => {
    expect(Policy.lifetimeMs(200, headers, 0)).toBe(expected)
  })

  it("reads the three HTTP-date forms and nothing else", () => {
    expect(Policy.httpDate("Sun, 06 Nov 1994 08:49:37 GMT")).toBe(784111777000)
    expect(Policy.httpDate("Sunday, 06-Nov-94 08:49:37 GMT")).toBe(784111777000)
    expect(Policy.httpDate("Sun Nov  6 08:49:37 1994")).toBe(784111777000)
    for (const bad of ["0", "-1", "2026-01-01", "tomorrow", "", "Sun, 06 Nov 1994"]) expect(Policy.httpDate(bad)).toBeUndefined()
  })

  it("no heuristic freshness for a status the RFC does not allow it for, unless public", () => {
    const headers = { date: "Thu, 01 Jan 1970 01:00:00 GMT", "last-modified": "Thu, 01 Jan 1970 00:00:00 GMT" }
    expect(Policy.lifetimeMs(201, headers, 0)).toBe(0)
    expect(Policy.lifetimeMs(201, { ...headers, "cache-control": "public" }, 0)).toBe(360_000)
  })

  it.each(
    [
      ["a plain 200", "GET", 200, {}, {}, true],
      ["no-store in the response", "GET", 200, {}, { "cache-control": "no-store" }, false],
      ["no-store in the request", "GET", 200, { "cache-control": "no-store" }, {}, false],
      ["private (a private cache)", "GET", 200, {}, { "cache-control": "private, max-age=9" }, true],
      ["Authorization without public", "GET", 200, { authorization: "Bearer x" }, { "cache-control": "max-age=9" }, false],
      ["Authorization with public", "GET", 200, { authorization: "Bearer x" }, { "cache-control": "public, max-age=9" }, true],
      ["Cookie without public", "GET", 200, { cookie: "a=b" }, { "cache-control": "max-age=9" }, false],
      ["Vary: *", "GET", 200, {}, { vary: "*" }, false],
      ["a POST", "POST", 200, {}, { "cache-control": "max-age=9" }, false],
      ["a 206", "GET", 206, {}, { "cache-control": "max-age=9" }, false]
    ] as const
  )("storable: %s", (_name, method, status, request, headers, expected) => {
    expect(Policy.isStorable(method, status, request, headers)).toBe(expected)
  })

  it("Age, and the delay of the response, count toward the age (4.2.3)", () => {
    const stored: Policy.Stored = {
      status: 200,
      headers: { date: "Thu, 01 Jan 1970 00:00:10 GMT", age: "30" },
      body: new Uint8Array(),
      requestAt: 8_000,
      responseAt: 10_000,
      vary: {}
    }
    expect(Policy.ageMs(stored, 15_000)).toBe(30_000 + 2_000 + 5_000)
  })

  it("a request's no-cache, Pragma: no-cache (without Cache-Control) and max-age make a fresh response stale", () => {
    const stored: Policy.Stored = {
      status: 200,
      headers: { "cache-control": "max-age=100" },
      body: new Uint8Array(),
      requestAt: 0,
      responseAt: 0,
      vary: {}
    }
    expect(Policy.isFresh(stored, {}, 50_000)).toBe(true)
    expect(Policy.isFresh(stored, { "cache-control": "no-cache" }, 50_000)).toBe(false)
    expect(Policy.isFresh(stored, { pragma: "no-cache" }, 50_000)).toBe(false)
    expect(Policy.isFresh(stored, { "cache-control": "max-age=10" }, 50_000)).toBe(false)
    expect(Policy.isFresh(stored, { "cache-control": "min-fresh=60" }, 50_000)).toBe(false)
  })
})

describe("MemoryStore", () => {
  it("stays within its bound, the least recently used key going first", () => {
    const store = new MemoryStore(3_000)
    const entry = (n: number): Policy.Stored => ({
      status: 200,
      headers: {},
      body: new Uint8Array(n),
      requestAt: 0,
      responseAt: 0,
      vary: {}
    })
    store.put("a", entry(1_000))
    store.put("b", entry(1_000))
    store.get("a")
    store.put("c", entry(1_000))
    expect(store.size).toBeLessThanOrEqual(3_000)
    expect((store.get("b")).length).toBe(0)
    expect((store.get("a")).length).toBe(1)
    expect((store.get("c")).length).toBe(1)
    store.put("huge", entry(10_000))
    expect((store.get("huge")).length).toBe(0)
    expect(store.size).toBeLessThanOrEqual(3_000)
  })

  it.prop(
    "holds exactly what a least-recently-used list of its keys holds, under any gets, puts and deletes",
    [FastCheck.array(
      FastCheck.record({
        op: FastCheck.constantFrom("get", "put", "delete"),
        key: FastCheck.constantFrom("a", "b", "c", "d", "e"),
        bytes: FastCheck.integer({ min: 0, max: 1_500 })
      }),
      { maxLength: 60 }
    )],
    ([steps]) => {
      const bound = 3_000
      const store = new MemoryStore(bound)
      // The model: keys oldest first, each with its size (one variant each, as sizeOf counts it: body + 64).
      let model: Array<[string, number]> = []
      for (const step of steps) {
        const at = model.findIndex(([key]) => key === step.key)
        if (step.op === "get") {
          const held = store.get(step.key).length > 0
          expect(held).toBe(at >= 0)
          if (at >= 0) model = [...model.filter((_, i) => i !== at), model[at]!]
        } else if (step.op === "delete") {
          store.delete(step.key)
          model = model.filter(([key]) => key !== step.key)
        } else {
          store.put(step.key, { status: 200, headers: {}, body: new Uint8Array(step.bytes), requestAt: 0, responseAt: 0, vary: {} })
          model = model.filter(([key]) => key !== step.key)
          const size = step.bytes + 64
          if (size <= bound) model.push([step.key, size])
          while (model.reduce((sum, [, n]) => sum + n, 0) > bound) model.shift()
        }
        expect(store.size).toBe(model.reduce((sum, [, n]) => sum + n, 0))
      }
    }
  )

  it("an entry too large to keep replaces its own variant, never the key's other variants", () => {
    const store = new MemoryStore(3_000)
    const variant = (language: string, n: number): Policy.Stored => ({
      status: 200,
      headers: {},
      body: new Uint8Array(n),
      requestAt: 0,
      responseAt: 0,
      vary: { "accept-language": language }
    })
    store.put("page", variant("en", 500))
    store.put("page", variant("de", 500))
    store.put("page", variant("de", 10_000))
    const left = store.get("page")
    expect(left.map((v) => v.vary["accept-language"])).toEqual(["en"])
  })
})
