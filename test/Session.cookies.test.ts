import * as HttpClient from "@effect/platform/HttpClient"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as FastCheck from "effect/FastCheck"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/TestClock"
import type * as Dns from "node:dns"
import type { LookupFunction } from "node:net"
import { Agent } from "undici"
import * as DemoServer from "../src/DemoServer.js"
import * as Fetch from "../src/Fetch.js"
import * as Gather from "../src/Gather.js"
import { CookieJar } from "../src/internal/policy/cookies.js"
import * as Session from "../src/Session.js"

const Jar = Schema.Struct({ cookies: Schema.Record({ key: Schema.String, value: Schema.String }) })

const server = DemoServer.make({ port: 0, host: "127.0.0.1", latency: 0 })

/** The cookies a server received, as it parsed them. */
const received = (url: string) => Effect.map(Fetch.json(url, Jar), (response) => response.body.cookies)

const set = (base: string, query: string) => Fetch.get(`${base}/cookies/set?${query}`)

const raw = (line: string) => `raw=${encodeURIComponent(line)}`

describe("Session cookie jar", () => {
  it.scoped("keeps what Set-Cookie sets and sends it back to the server that set it", () =>
    Effect.gen(function*() {
      const a = yield* server
      const session = yield* Session.make({ cookies: true, retry: false })
      yield* Effect.gen(function*() {
        expect(yield* received(`${a.baseUrl}/cookies`)).toEqual({})
        yield* set(a.baseUrl, "sid=abc123&theme=dark")
        expect(yield* received(`${a.baseUrl}/cookies`)).toEqual({ sid: "abc123", theme: "dark" })
        // a later Set-Cookie for the same name, domain and path replaces it
        yield* set(a.baseUrl, "sid=rotated")
        expect(yield* received(`${a.baseUrl}/cookies`)).toEqual({ sid: "rotated", theme: "dark" })
      }).pipe(Effect.provideService(Session.Session, session))
    }))

  it.scoped("without the option nothing is kept", () =>
    Effect.gen(function*() {
      const a = yield* server
      const session = yield* Session.make({ retry: false })
      const cookies = yield* Effect.gen(function*() {
        yield* set(a.baseUrl, "sid=abc")
        return yield* received(`${a.baseUrl}/cookies`)
      }).pipe(Effect.provideService(Session.Session, session))
      expect(cookies).toEqual({})
    }))

  it.scoped("two servers: each gets only its own cookies, whole gathers share the jar", () =>
    Effect.gen(function*() {
      const a = yield* server
      const b = yield* server
      const session = yield* Session.make({ cookies: true, retry: false })
      yield* Effect.gen(function*() {
        yield* Gather.all([set(a.baseUrl, "who=a&only_a=1"), set(b.baseUrl, "who=b")], { concurrency: 2 })
        const seen = yield* Gather.all(
          Array.from({ length: 10 }, (_, i) => received(`${i % 2 === 0 ? a.baseUrl : b.baseUrl}/cookies`)),
          { concurrency: 4 }
        )
        seen.forEach((cookies, i) => expect(cookies).toEqual(i % 2 === 0 ? { who: "a", only_a: "1" } : { who: "b" }))
        // A redirect from a to b carries none of a's cookies; b's own are rebuilt from the jar.
        const echoed = yield* Fetch.json(
          `${a.baseUrl}/redirect-to?url=${encodeURIComponent(`${b.baseUrl}/cookies`)}`,
          Jar
        )
        expect(echoed.body.cookies).toEqual({ who: "b" })
        expect(echoed.redirects).toEqual([`${a.baseUrl}/redirect-to?url=${encodeURIComponent(`${b.baseUrl}/cookies`)}`])
      }).pipe(Effect.provideService(Session.Session, session))
      // Asserted at the servers: a never received b's cookie and the other way round.
      const headersOf = (s: DemoServer.DemoServer) => Effect.map(s.receivedHeaders, (all) => all.map((h) => h["cookie"] ?? "").join("|"))
      expect(yield* headersOf(a)).not.toContain("who=b")
      expect(yield* headersOf(b)).not.toContain("who=a")
      expect(yield* headersOf(b)).not.toContain("only_a")
    }))

  it.scoped("a cookie set by a redirect response is sent on the next hop", () =>
    Effect.gen(function*() {
      const a = yield* server
      const session = yield* Session.make({ cookies: true, retry: false })
      const response = yield* Fetch.json(`${a.baseUrl}/cookies/set?login=ok&redirect=/cookies`, Jar).pipe(
        Effect.provideService(Session.Session, session)
      )
      expect(response.redirects.length).toBe(1)
      expect(response.body.cookies).toEqual({ login: "ok" })
    }))

  it.scoped("Path scopes a cookie; Secure from http, a foreign Domain and a __Host- without Secure are refused", () =>
    Effect.gen(function*() {
      const a = yield* server
      const session = yield* Session.make({ cookies: true, retry: false })
      yield* Effect.gen(function*() {
        yield* set(
          a.baseUrl,
          [
            raw("scoped=1; Path=/cookies/set"),
            raw("secure=1; Secure; Path=/"),
            raw("foreign=1; Domain=example.com; Path=/"),
            raw("__Host-x=1; Path=/"),
            raw("root=1; Path=/")
          ].join("&")
        )
        expect(yield* received(`${a.baseUrl}/cookies`)).toEqual({ root: "1" })
        const echoed = yield* Fetch.get(`${a.baseUrl}/cookies/set`)
        expect(echoed.status).toBe(200)
        const last = yield* Effect.map(a.receivedHeaders, (all) => all[all.length - 1]!)
        expect(last["cookie"]).toBe("scoped=1; root=1")
      }).pipe(Effect.provideService(Session.Session, session))
    }))

  it.scopedLive("Expires in the past deletes a cookie, one in the future keeps it (real clock)", () =>
    Effect.gen(function*() {
      const a = yield* server
      const session = yield* Session.make({ cookies: true, retry: false })
      yield* Effect.gen(function*() {
        yield* set(a.baseUrl, "gone=1&kept=1")
        yield* set(
          a.baseUrl,
          [raw("gone=; Path=/; Expires=Wed, 21 Oct 2015 07:28:00 GMT"), raw("kept=2; Path=/; Expires=Fri, 01 Jan 2100 00:00:00 GMT")]
            .join("&")
        )
        expect(yield* received(`${a.baseUrl}/cookies`)).toEqual({ kept: "2" })
      }).pipe(Effect.provideService(Session.Session, session))
    }))
})

describe("Session cookie jar and HttpClient", () => {
  it.scoped("the session's HttpClient shares the jar and the auth with Fetch", () =>
    Effect.gen(function*() {
      const a = yield* server
      yield* Effect.gen(function*() {
        const client = yield* HttpClient.HttpClient
        const setting = yield* client.get("/cookies/set?via=client")
        expect(setting.status).toBe(200)
        expect(yield* received("/cookies")).toEqual({ via: "client" })
        yield* set(a.baseUrl, "via=fetch")
        const echoed = yield* Effect.flatMap(client.get("/echo"), (response) => response.json)
        const { headers } = Schema.decodeUnknownSync(Schema.Struct({ headers: Jar.fields.cookies }))(echoed)
        expect(headers["cookie"]).toBe("via=fetch")
        expect(headers["authorization"]).toBe("Bearer t0k")
      }).pipe(Effect.provide(Session.layer({ baseUrl: a.baseUrl, cookies: true, auth: { bearer: "t0k" }, retry: false })))
    }))
})

describe("Session cookie jar on the Clock", () => {
  it.scoped("Max-Age expires on the session's Clock (TestClock here)", () =>
    Effect.gen(function*() {
      const a = yield* server
      const session = yield* Session.make({ cookies: true, retry: false, timeout: { total: false } })
      yield* Effect.gen(function*() {
        yield* set(a.baseUrl, [raw("short=1; Path=/; Max-Age=60"), raw("long=1; Path=/; Max-Age=3600")].join("&"))
        expect(yield* received(`${a.baseUrl}/cookies`)).toEqual({ short: "1", long: "1" })
        yield* TestClock.adjust("59 seconds")
        expect(yield* received(`${a.baseUrl}/cookies`)).toEqual({ short: "1", long: "1" })
        yield* TestClock.adjust("2 seconds")
        expect(yield* received(`${a.baseUrl}/cookies`)).toEqual({ long: "1" })
        yield* set(a.baseUrl, raw("long=; Path=/; Max-Age=0"))
        expect(yield* received(`${a.baseUrl}/cookies`)).toEqual({})
      }).pipe(Effect.provideService(Session.Session, session))
    }))
})

// Several host names on one real server: a custom undici dispatcher resolves
// every *.test name to 127.0.0.1 (the session's `dispatcher` option).
const loopbackLookup: LookupFunction = (_hostname, options, callback) => {
  if (typeof options === "object" && options !== null && (options as Dns.LookupAllOptions).all === true) {
    ;(callback as unknown as (e: null, a: Array<Dns.LookupAddress>) => void)(null, [{ address: "127.0.0.1", family: 4 }])
  } else callback(null, "127.0.0.1", 4)
}

describe("Session cookie jar across host names", () => {
  it.scoped("Domain covers sibling hosts on the same port; host-only cookies stay on their host", () =>
    Effect.gen(function*() {
      const a = yield* server
      const agent = yield* Effect.acquireRelease(
        Effect.sync(() => new Agent({ connect: { lookup: loopbackLookup } })),
        (agent) => Effect.promise(() => agent.destroy())
      )
      const session = yield* Session.make({ cookies: true, retry: false, dispatcher: agent })
      const at = (host: string) => `http://${host}:${a.port}`
      yield* Effect.gen(function*() {
        yield* set(
          at("a.example.test"),
          [
            raw("shared=1; Domain=example.test; Path=/"),
            raw("dotted=1; Domain=.Example.TEST; Path=/"),
            raw("own=1; Path=/"),
            raw("tld=1; Domain=test; Path=/"),
            raw("other=1; Domain=other.test; Path=/"),
            raw("child=1; Domain=b.example.test; Path=/")
          ].join("&")
        )
        expect(yield* received(`${at("a.example.test")}/cookies`)).toEqual({ shared: "1", dotted: "1", own: "1" })
        expect(yield* received(`${at("b.example.test")}/cookies`)).toEqual({ shared: "1", dotted: "1" })
        expect(yield* received(`${at("deep.b.example.test")}/cookies`)).toEqual({ shared: "1", dotted: "1" })
        expect(yield* received(`${at("example.test")}/cookies`)).toEqual({ shared: "1", dotted: "1" })
        expect(yield* received(`${at("other.test")}/cookies`)).toEqual({})
        expect(yield* received(`${at("notexample.test")}/cookies`)).toEqual({})
        expect(yield* received(`${a.baseUrl}/cookies`)).toEqual({})
      }).pipe(Effect.provideService(Session.Session, session))
    }))
})

describe("CookieJar", () => {
  it("Secure cookies go over https only; another port never gets a cookie", () => {
    const jar = new CookieJar(() => 0)
    jar.capture(new URL("https://api.test/login"), "s=1; Secure; Path=/\nplain=2; Path=/")
    expect(jar.header(new URL("https://api.test/x"))).toBe("s=1; plain=2")
    expect(jar.header(new URL("http://api.test:443/x"))).toBe("plain=2")
    expect(jar.header(new URL("http://api.test/x"))).toBeUndefined()
    expect(jar.header(new URL("https://api.test:8443/x"))).toBeUndefined()
  })

  it("the default path is the directory of the request path; longer paths come first", () => {
    const jar = new CookieJar(() => 0)
    jar.capture(new URL("http://h.test/a/b/page"), "dir=1")
    jar.capture(new URL("http://h.test/"), "root=1; Path=/")
    expect(jar.header(new URL("http://h.test/a/b/other"))).toBe("dir=1; root=1")
    expect(jar.header(new URL("http://h.test/a/b"))).toBe("dir=1; root=1")
    expect(jar.header(new URL("http://h.test/a/bc"))).toBe("root=1")
    expect(jar.header(new URL("http://h.test/a"))).toBe("root=1")
  })

  it("stays bounded", () => {
    const jar = new CookieJar(() => 0)
    for (let i = 0; i < 3500; i++) jar.capture(new URL("http://h.test/"), `c${i}=1; Path=/`)
    expect(jar.size).toBe(3000)
    expect(jar.header(new URL("http://h.test/"))).not.toContain("c0=1")
  })

  const hosts = ["x.test", "a.x.test", "b.x.test", "deep.a.x.test", "other.test", "ax.test", "127.0.0.1"] as const
  const domains = [undefined, "x.test", ".x.test", "a.x.test", "other.test", "test", "127.0.0.1", "0.1"] as const
  const ports = ["", ":8080", ":8443"] as const
  const paths = ["/", "/a", "/a/", "/a/b", "/ab", "/b/c"] as const
  const pick = <T>(values: ReadonlyArray<T>) => FastCheck.constantFrom(...values)

  it.prop(
    "a cookie never reaches another port, nor a host outside the Domain that covers its setter",
    [pick(hosts), pick(ports), pick(domains), pick(paths), pick(hosts), pick(ports), pick(paths), FastCheck.boolean()],
    ([setHost, setPort, domain, setPath, getHost, getPort, getPath, https]) => {
      const jar = new CookieJar(() => 0)
      const scheme = https ? "https" : "http"
      jar.capture(
        new URL(`${scheme}://${setHost}${setPort}${setPath}`),
        domain === undefined ? "c=1; Path=/" : `c=1; Path=/; Domain=${domain}`
      )
      const sent = jar.header(new URL(`${scheme}://${getHost}${getPort}${getPath}`)) === "c=1"
      const d = domain?.replace(/^\./, "")
      const covers = (host: string) => host === d || host.endsWith(`.${d}`)
      // kept only when Domain is absent, names the setter, or is a dotted domain covering a named setter
      const hostOnly = d === undefined || d === setHost
      const stored = hostOnly || (d.includes(".") && setHost !== "127.0.0.1" && covers(setHost))
      const allowed = stored && setPort === getPort && (hostOnly ? getHost === setHost : covers(getHost))
      expect(sent).toBe(allowed)
    }
  )
})
