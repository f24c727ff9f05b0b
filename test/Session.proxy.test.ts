/**
 * The `proxy` option against a real forward proxy on 127.0.0.1
 * (test/forwardProxy.ts), started and stopped by each test: plain http and
 * https through CONNECT, on Gather's fast path and on a plain fetch's fiber
 * path, proxy credentials, `NO_PROXY`, and a proxy that is down.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Redacted from "effect/Redacted"
import { Agent } from "undici"
import * as DemoServer from "../src/DemoServer.js"
import * as Fetch from "../src/Fetch.js"
import * as FetchError from "../src/FetchError.js"
import * as Gather from "../src/Gather.js"
import { resolveProxy } from "../src/internal/engine/proxy.js"
import * as Session from "../src/Session.js"
import { forwardProxy } from "./forwardProxy.js"
import { assertTag, closedPort, EchoedHeaders, failure } from "./support.js"

const demo = (options?: DemoServer.DemoServerOptions) => DemoServer.make({ port: 0, host: "127.0.0.1", latency: 0, ...options })

const withEnv = (env: Record<string, string>) => Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))

describe("Session proxy", () => {
  it.scoped("every request of a proxied session goes through the proxy, on Gather's fast path and a plain fetch alike", () =>
    Effect.gen(function*() {
      const server = yield* demo()
      const proxy = yield* forwardProxy()
      const session = yield* Session.make({ baseUrl: server.baseUrl, proxy: proxy.url, retry: false, maxConnectionsPerHost: 3 })
      const responses = yield* Gather.all(
        Array.from({ length: 40 }, (_, i) => Fetch.get(`/bytes/${10 + i}`)),
        { concurrency: 8 }
      ).pipe(Effect.provideService(Session.Session, session))
      expect(responses.map((r) => r.body.length)).toEqual(Array.from({ length: 40 }, (_, i) => 10 + i))
      const plain = yield* Fetch.json("/headers", EchoedHeaders).pipe(Effect.provideService(Session.Session, session))
      expect(plain.body.headers["host"]).toBe(`127.0.0.1:${server.port}`)
      const stats = yield* server.stats
      expect(stats.requests).toBe(41)
      // every connection the server saw is a tunnel the proxy opened: nothing went direct
      expect(proxy.log.tunnels.length).toBe(stats.connectionsOpened)
      for (const target of proxy.log.tunnels) expect(target).toBe(`127.0.0.1:${server.port}`)
      // the pool's cap per origin holds through the proxy
      expect(proxy.log.tunnels.length).toBeLessThanOrEqual(3)
    }))

  it.scoped("https goes through a CONNECT tunnel, TLS end to end with the session's CA", () =>
    Effect.gen(function*() {
      const server = yield* demo({ tls: true })
      const proxy = yield* forwardProxy()
      const session = yield* Session.make({ proxy: proxy.url, retry: false, tls: { ca: server.ca! } })
      const responses = yield* Gather.all(
        Array.from({ length: 10 }, () => Fetch.get(`${server.baseUrl}/bytes/64`)),
        { concurrency: 4 }
      ).pipe(Effect.provideService(Session.Session, session))
      expect(responses.every((r) => r.body.length === 64)).toBe(true)
      expect(server.baseUrl.startsWith("https:")).toBe(true)
      expect(proxy.log.tunnels.length).toBeGreaterThanOrEqual(1)
      expect(proxy.log.tunnels.every((t) => t === `127.0.0.1:${server.port}`)).toBe(true)
      expect(proxy.log.forwarded).toEqual([])
      expect((yield* server.stats).tlsHandshakes).toBe(proxy.log.tunnels.length)
    }))

  it.scoped("credentials in the proxy URL go to the proxy only, and are redacted in the config and in errors", () =>
    Effect.gen(function*() {
      const server = yield* demo()
      const proxy = yield* forwardProxy("user:s3cret")
      const url = `http://user:s3cret@127.0.0.1:${proxy.port}`
      const session = yield* Session.make({ proxy: url, retry: false })
      const ok = yield* Fetch.json(`${server.baseUrl}/headers`, EchoedHeaders).pipe(Effect.provideService(Session.Session, session))
      expect(ok.body.headers["proxy-authorization"]).toBeUndefined()
      expect(proxy.log.authorizations).toEqual([`Basic ${Buffer.from("user:s3cret").toString("base64")}`])
      expect(JSON.stringify(session.config)).not.toContain("s3cret")
      expect(session.config.proxy?.http?.shown).toBe(`http://***:***@127.0.0.1:${proxy.port}`)
      // a wrong password: refused, and its error shows no password
      const wrong = yield* Session.make({ proxy: Redacted.make(`http://user:guess@127.0.0.1:${proxy.port}`), retry: false })
      const error = yield* failure(Fetch.get(`${server.baseUrl}/bytes/1`)).pipe(Effect.provideService(Session.Session, wrong))
      assertTag(error, "ConnectionError")
      expect(error.reason).toBe("Proxy")
      expect(JSON.stringify(error) + error.message).not.toContain("guess")
    }))

  it.scoped("a proxy that wants credentials refuses with 407: a typed error naming the proxy, not retried", () =>
    Effect.gen(function*() {
      const server = yield* demo()
      const proxy = yield* forwardProxy("user:s3cret")
      const session = yield* Session.make({ proxy: proxy.url, retry: { times: 3, baseDelay: 1 } })
      const error = yield* failure(Fetch.get(`${server.baseUrl}/bytes/1`)).pipe(Effect.provideService(Session.Session, session))
      assertTag(error, "ConnectionError")
      expect(error.reason).toBe("Proxy")
      expect(error.proxy).toEqual({ url: proxy.url, status: 407 })
      expect(error.message).toContain(`proxy ${proxy.url} refused the tunnel to 127.0.0.1:${server.port} with 407`)
      expect(FetchError.isTransient(error)).toBe(false)
      expect(error.attempt).toBe(1)
      expect(proxy.log.refused.length).toBe(1)
      expect((yield* server.stats).requests).toBe(0)
    }))

  it.scoped("a proxy that is down is a ConnectionError naming the proxy (the target is never tried)", () =>
    Effect.gen(function*() {
      const server = yield* demo()
      const port = yield* closedPort
      const session = yield* Session.make({ proxy: `127.0.0.1:${port}`, retry: false })
      const error = yield* failure(Fetch.get(`${server.baseUrl}/bytes/1`)).pipe(Effect.provideService(Session.Session, session))
      assertTag(error, "ConnectionError")
      expect(error.reason).toBe("Proxy")
      expect(error.code).toBe("ECONNREFUSED")
      expect(error.proxy).toEqual({ url: `http://127.0.0.1:${port}`, status: undefined })
      expect(error.message).toContain(`proxy http://127.0.0.1:${port} cannot be reached (ECONNREFUSED)`)
      expect(FetchError.isTransient(error)).toBe(true)
      expect((yield* server.stats).connectionsOpened).toBe(0)
    }))

  it.scoped("proxy: \"env\" reads the lower-case variables first, and NO_PROXY with a port sends that origin direct", () =>
    Effect.gen(function*() {
      const direct = yield* demo()
      const proxied = yield* demo()
      const proxy = yield* forwardProxy()
      const session = yield* Session.make({ proxy: "env", retry: false }).pipe(withEnv({
        http_proxy: proxy.url,
        HTTP_PROXY: "http://127.0.0.1:1",
        no_proxy: `example.org, 127.0.0.1:${direct.port}`
      }))
      yield* Fetch.get(`${direct.baseUrl}/bytes/3`).pipe(Effect.provideService(Session.Session, session))
      yield* Fetch.get(`${proxied.baseUrl}/bytes/3`).pipe(Effect.provideService(Session.Session, session))
      expect(proxy.log.tunnels).toEqual([`127.0.0.1:${proxied.port}`])
      expect((yield* direct.stats).requests).toBe(1)
      expect((yield* proxied.stats).requests).toBe(1)
    }))

  it.scoped("NO_PROXY domain suffixes bypass the proxy for subdomains; other names go through it", () =>
    Effect.gen(function*() {
      const server = yield* demo()
      const proxy = yield* forwardProxy()
      // names under .test resolve only at the proxy: a bypassed one fails DNS here
      const session = yield* Session.make({ proxy: "env", retry: false }).pipe(withEnv({
        HTTP_PROXY: proxy.url,
        NO_PROXY: "internal.test"
      }))
      const through = yield* Fetch.get(`http://api.public.test:${server.port}/bytes/2`).pipe(Effect.provideService(Session.Session, session))
      expect(through.body.length).toBe(2)
      const bypassed = yield* failure(Fetch.get(`http://api.internal.test:${server.port}/bytes/2`)).pipe(
        Effect.provideService(Session.Session, session)
      )
      assertTag(bypassed, "ConnectionError")
      expect(bypassed.reason).toBe("Dns")
      expect(proxy.log.tunnels).toEqual([`api.public.test:${server.port}`])
    }))

  it.scoped("NO_PROXY=* sends everything direct; no proxy variable at all means direct", () =>
    Effect.gen(function*() {
      const server = yield* demo()
      const proxy = yield* forwardProxy()
      const star = yield* Session.make({ proxy: "env", retry: false }).pipe(withEnv({ HTTP_PROXY: proxy.url, NO_PROXY: "*" }))
      yield* Fetch.get(`${server.baseUrl}/bytes/1`).pipe(Effect.provideService(Session.Session, star))
      const none = yield* Session.make({ proxy: "env", retry: false }).pipe(withEnv({}))
      expect(none.config.proxy).toBeUndefined()
      yield* Fetch.get(`${server.baseUrl}/bytes/1`).pipe(Effect.provideService(Session.Session, none))
      expect(proxy.log.tunnels).toEqual([])
      expect((yield* server.stats).requests).toBe(2)
    }))

  it.scoped("an https URL uses HTTPS_PROXY, an http URL HTTP_PROXY", () =>
    Effect.gen(function*() {
      const plain = yield* demo()
      const secure = yield* demo({ tls: true })
      const httpProxy = yield* forwardProxy()
      const httpsProxy = yield* forwardProxy()
      const session = yield* Session.make({ proxy: "env", retry: false, tls: { ca: secure.ca! } }).pipe(
        withEnv({ HTTP_PROXY: httpProxy.url, HTTPS_PROXY: httpsProxy.url })
      )
      yield* Fetch.get(`${plain.baseUrl}/bytes/1`).pipe(Effect.provideService(Session.Session, session))
      yield* Fetch.get(`${secure.baseUrl}/bytes/1`).pipe(Effect.provideService(Session.Session, session))
      expect(httpProxy.log.tunnels).toEqual([`127.0.0.1:${plain.port}`])
      expect(httpsProxy.log.tunnels).toEqual([`127.0.0.1:${secure.port}`])
    }))
})

describe("resolveProxy", () => {
  it("takes a URL without a scheme as http://, and names the variable of a value that is not a proxy URL, redacted", () => {
    expect(resolveProxy("proxy.local:3128", {})?.http?.shown).toBe("http://proxy.local:3128")
    expect(() => resolveProxy("env", { HTTPS_PROXY: "ftp://u:hunter2@proxy:21" })).toThrow(/HTTPS_PROXY must be an http\(s\) proxy URL/)
    expect(() => resolveProxy("env", { HTTPS_PROXY: "ftp://u:hunter2@proxy:21" })).not.toThrow(/hunter2/)
    expect(() => resolveProxy("http://[bad", {})).toThrow(/^proxy must be/)
    expect(resolveProxy(false, { HTTP_PROXY: "http://p:1" })).toBeUndefined()
    expect(resolveProxy("env", { HTTP_PROXY: "  " })).toBeUndefined()
  })

  it.scoped("a session cannot have both a proxy and a dispatcher", () =>
    Effect.gen(function*() {
      const agent = yield* Effect.acquireRelease(Effect.sync(() => new Agent()), (agent) => Effect.promise(() => agent.destroy()))
      const exit = yield* Effect.exit(Session.make({ proxy: "http://p:1", dispatcher: agent }))
      expect(Exit.isFailure(exit) ? Cause.pretty(exit.cause) : "succeeded").toMatch(/proxy and dispatcher cannot both be given/)
    }))
})
