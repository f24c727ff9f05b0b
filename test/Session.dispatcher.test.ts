import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Net from "node:net"
import { Agent, ProxyAgent } from "undici"
import * as DemoServer from "../src/DemoServer.js"
import * as Fetch from "../src/Fetch.js"
import * as Gather from "../src/Gather.js"
import * as Session from "../src/Session.js"
import type { ProxyLog } from "./forwardProxy.js"
import { forwardProxy } from "./forwardProxy.js"
import { assertTag, failure } from "./support.js"

const Echoed = Schema.Struct({ headers: Schema.Record({ key: Schema.String, value: Schema.String }) })

const server = DemoServer.make({ port: 0, host: "127.0.0.1", latency: 0 })

const ownedAgent = <D extends Agent | ProxyAgent>(make: () => D) => Effect.acquireRelease(Effect.sync(make), (agent) => Effect.promise(() => agent.destroy()))

const through = (log: ProxyLog) => log.tunnels.length + log.forwarded.length

describe("Session dispatcher", () => {
  it.scoped("every request of a session on an undici ProxyAgent goes through the proxy", () =>
    Effect.gen(function*() {
      const demo = yield* server
      const proxy = yield* forwardProxy()
      const agent = yield* ownedAgent(() => new ProxyAgent(proxy.url))
      const session = yield* Session.make({ baseUrl: demo.baseUrl, dispatcher: agent, retry: false })
      const responses = yield* Gather.all(
        Array.from({ length: 8 }, (_, i) => Fetch.get(`/bytes/${100 + i}`)),
        { concurrency: 4 }
      ).pipe(Effect.provideService(Session.Session, session))
      expect(responses.map((r) => r.body.length)).toEqual([100, 101, 102, 103, 104, 105, 106, 107])
      expect(through(proxy.log)).toBeGreaterThanOrEqual(1)
      // every hop went to the demo server, and nothing bypassed the proxy: the
      // server saw exactly the 8 requests
      for (const target of [...proxy.log.tunnels, ...proxy.log.forwarded]) expect(target).toContain(`127.0.0.1:${demo.port}`)
      expect((yield* demo.stats).requests).toBe(8)
      expect(proxy.log.tunnels.length + proxy.log.forwarded.length).toBeLessThanOrEqual(8)
    }))

  it.scoped("a proxy that wants credentials gets them from ProxyAgent's token; without them the fetch fails with 407", () =>
    Effect.gen(function*() {
      const demo = yield* server
      const proxy = yield* forwardProxy("user:secret")
      const good = yield* ownedAgent(() => new ProxyAgent({ uri: proxy.url, token: `Basic ${Buffer.from("user:secret").toString("base64")}` }))
      const bad = yield* ownedAgent(() => new ProxyAgent(proxy.url))
      const withGood = yield* Session.make({ dispatcher: good, retry: false })
      const withBad = yield* Session.make({ dispatcher: bad, retry: false })
      const ok = yield* Fetch.json(`${demo.baseUrl}/headers`, Echoed).pipe(Effect.provideService(Session.Session, withGood))
      // the origin never sees the proxy's credentials
      expect(ok.body.headers["proxy-authorization"]).toBeUndefined()
      expect(through(proxy.log)).toBe(1)
      const error = yield* failure(Fetch.get(`${demo.baseUrl}/headers`)).pipe(Effect.provideService(Session.Session, withBad))
      expect(proxy.log.refused.length).toBe(1)
      // undici reports a refused tunnel as a connection failure; a forwarded request as the proxy's 407
      expect(["ConnectionError", "BadStatus"]).toContain(error._tag)
      expect(JSON.stringify(error)).not.toContain("secret")
    }))

  it.scoped("the session does not close a dispatcher it was given", () =>
    Effect.gen(function*() {
      const demo = yield* server
      const agent = yield* ownedAgent(() => new Agent({ connections: 2 }))
      const once = (path: string) =>
        Effect.scoped(Effect.flatMap(Session.make({ baseUrl: demo.baseUrl, dispatcher: agent }), (session) =>
          Fetch.get(path).pipe(Effect.provideService(Session.Session, session))))
      expect((yield* once("/bytes/5")).body.length).toBe(5)
      expect(agent.destroyed).toBe(false)
      expect(agent.closed).toBe(false)
      expect((yield* once("/bytes/6")).body.length).toBe(6)
      expect(agent.destroyed).toBe(false)
    }))

  it.scoped("a refused proxy is a ConnectionError naming the target, not the proxy", () =>
    Effect.gen(function*() {
      const demo = yield* server
      const closed = yield* Effect.async<number>((resume) => {
        const probe = Net.createServer()
        probe.listen(0, "127.0.0.1", () => {
          const port = (probe.address() as Net.AddressInfo).port
          probe.close(() => resume(Effect.succeed(port)))
        })
      })
      const agent = yield* ownedAgent(() => new ProxyAgent(`http://127.0.0.1:${closed}`))
      const session = yield* Session.make({ dispatcher: agent, retry: false })
      const error = yield* failure(Fetch.get(`${demo.baseUrl}/headers`)).pipe(Effect.provideService(Session.Session, session))
      assertTag(error, "ConnectionError")
      expect(error.url).toBe(`${demo.baseUrl}/headers`)
    }))
})
