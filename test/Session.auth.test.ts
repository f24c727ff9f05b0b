import { describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Util from "node:util"
import * as DemoServer from "../src/DemoServer.js"
import * as Fetch from "../src/Fetch.js"
import * as Session from "../src/Session.js"
import { assertTag, failure } from "./support.js"

const Echoed = Schema.Struct({ headers: Schema.Record({ key: Schema.String, value: Schema.String }) })

const server = DemoServer.make({ port: 0, host: "127.0.0.1", latency: 0 })

const authorizationAt = (url: string) => Effect.map(Fetch.json(url, Echoed), (r) => r.body.headers["authorization"])

const TOKEN = "tok-3f9a1c77e2"

describe("Session auth", () => {
  it.scoped("bearer goes to the baseUrl's origin only", () =>
    Effect.gen(function*() {
      const a = yield* server
      const b = yield* server
      const session = yield* Session.make({ baseUrl: a.baseUrl, auth: { bearer: Redacted.make(TOKEN) }, retry: false })
      yield* Effect.gen(function*() {
        expect(yield* authorizationAt("/headers")).toBe(`Bearer ${TOKEN}`)
        expect(yield* authorizationAt(`${a.baseUrl}/echo`)).toBe(`Bearer ${TOKEN}`)
        expect(yield* authorizationAt(`${b.baseUrl}/headers`)).toBeUndefined()
        // A request's own Authorization wins.
        const own = yield* Fetch.json("/headers", Echoed, { headers: { Authorization: "Token mine" } })
        expect(own.body.headers["authorization"]).toBe("Token mine")
      }).pipe(Effect.provideService(Session.Session, session))
      // the session's shared headers object was never written
      expect(session.config.headers["authorization"]).toBeUndefined()
      const atB = yield* b.receivedHeaders
      expect(atB.some((h) => h["authorization"] !== undefined)).toBe(false)
    }))

  it.scoped("basic auth encodes user and password; listed origins all get it", () =>
    Effect.gen(function*() {
      const a = yield* server
      const b = yield* server
      const session = yield* Session.make({
        auth: { username: "ash", password: Redacted.make("pik@chu:é"), origins: [a.baseUrl, `${b.baseUrl}/ignored/path`] },
        retry: false
      })
      const expected = `Basic ${Buffer.from("ash:pik@chu:é", "utf8").toString("base64")}`
      yield* Effect.gen(function*() {
        expect(yield* authorizationAt(`${a.baseUrl}/headers`)).toBe(expected)
        expect(yield* authorizationAt(`${b.baseUrl}/headers`)).toBe(expected)
        expect(yield* authorizationAt(`${b.baseUrl.replace("127.0.0.1", "localhost")}/headers`)).toBeUndefined()
      }).pipe(Effect.provideService(Session.Session, session))
    }))

  it.scoped("without baseUrl or origins it goes everywhere, and a redirect to another origin drops it", () =>
    Effect.gen(function*() {
      const a = yield* server
      const b = yield* server
      const session = yield* Session.make({ auth: { bearer: TOKEN }, retry: false })
      yield* Effect.gen(function*() {
        expect(yield* authorizationAt(`${b.baseUrl}/headers`)).toBe(`Bearer ${TOKEN}`)
        const same = yield* Fetch.json(`${a.baseUrl}/redirect-to?url=/headers`, Echoed)
        expect(same.redirects.length).toBe(1)
        expect(same.body.headers["authorization"]).toBe(`Bearer ${TOKEN}`)
        const across = yield* Fetch.json(`${a.baseUrl}/redirect-to?url=${encodeURIComponent(`${b.baseUrl}/headers`)}&status=307`, Echoed)
        expect(across.redirects.length).toBe(1)
        expect(across.url).toBe(`${b.baseUrl}/headers`)
        expect(across.body.headers["authorization"]).toBeUndefined()
      }).pipe(Effect.provideService(Session.Session, session))
    }))

  it.scoped("stripOnCrossOrigin only adds: a list or a test never lets the session's auth, Cookie or Proxy-Authorization follow a redirect to another origin", () =>
    Effect.gen(function*() {
      const a = yield* server
      const b = yield* server
      const headers = { Cookie: "sid=c00k1e", "Proxy-Authorization": "Basic cHJveHk=", "X-Foo": "foo", "X-Kept": "kept" }
      const across = `${a.baseUrl}/redirect-to?url=${encodeURIComponent(`${b.baseUrl}/headers`)}&status=307`
      const strips: ReadonlyArray<Session.Options["stripOnCrossOrigin"]> = [["x-foo"], ["X-Foo"], (name) => name === "x-foo"]
      for (const stripOnCrossOrigin of strips) {
        const session = yield* Session.make({ auth: { bearer: TOKEN }, stripOnCrossOrigin, retry: false })
        yield* Effect.gen(function*() {
          // the same origin keeps everything
          const same = yield* Fetch.json(`${a.baseUrl}/redirect-to?url=/headers`, Echoed, { headers })
          expect(same.body.headers["authorization"]).toBe(`Bearer ${TOKEN}`)
          expect(same.body.headers["cookie"]).toBe("sid=c00k1e")
          const response = yield* Fetch.json(across, Echoed, { headers })
          expect(response.url).toBe(`${b.baseUrl}/headers`)
        }).pipe(Effect.provideService(Session.Session, session))
      }
      // at the server of the other origin: nothing of the credentials, nor the listed header
      const atB = yield* b.receivedHeaders
      expect(atB.length).toBe(strips.length)
      for (const seen of atB) {
        for (const name of ["authorization", "cookie", "proxy-authorization", "x-foo"]) expect(seen[name], name).toBeUndefined()
        expect(seen["x-kept"]).toBe("kept")
      }
    }))

  it.scoped("the secret is in no output: config, errors, logs of them", () =>
    Effect.gen(function*() {
      const a = yield* server
      const session = yield* Session.make({ baseUrl: a.baseUrl, auth: { username: "u", password: TOKEN }, retry: false })
      const basic = Buffer.from(`u:${TOKEN}`).toString("base64")
      const error = yield* failure(Fetch.get("/status/401")).pipe(Effect.provideService(Session.Session, session))
      assertTag(error, "BadStatus")
      const outputs = [
        JSON.stringify(session.config),
        String(session.config.auth?.authorization),
        Util.inspect(session.config, { depth: 10 }),
        JSON.stringify(error),
        error.message,
        Util.inspect(error, { depth: 10 }),
        Cause.pretty(Cause.fail(error))
      ]
      for (const output of outputs) {
        expect(output).not.toContain(TOKEN)
        expect(output).not.toContain(basic)
      }
      // the request did carry it
      const sent = yield* a.receivedHeaders
      expect(sent[sent.length - 1]!["authorization"]).toBe(`Basic ${basic}`)
    }))

  it.effect("an unusable credential is a defect at construction", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(Effect.scoped(Session.make({ auth: { bearer: "two\nlines" } })))
      expect(Exit.isFailure(exit) && Cause.isDie(exit.cause)).toBe(true)
      const colon = yield* Effect.exit(Effect.scoped(Session.make({ auth: { username: "a:b", password: "p" } })))
      expect(Exit.isFailure(colon) && Cause.isDie(colon.cause)).toBe(true)
    }))

  it.scoped("layerConfig reads GATHER_BEARER_TOKEN as a Redacted bearer and GATHER_COOKIES", () =>
    Effect.gen(function*() {
      const a = yield* server
      const provider = ConfigProvider.fromMap(
        new Map([["GATHER_BASE_URL", a.baseUrl], ["GATHER_BEARER_TOKEN", TOKEN], ["GATHER_COOKIES", "true"]]),
        { pathDelim: "_" }
      )
      const sessionLayer = Session.layerConfig().pipe(Layer.provide(Layer.setConfigProvider(provider)))
      yield* Effect.gen(function*() {
        const session = yield* Session.Session
        expect(session.config.cookies).toBe(true)
        expect(JSON.stringify(session.config)).not.toContain(TOKEN)
        expect(yield* authorizationAt("/headers")).toBe(`Bearer ${TOKEN}`)
        yield* Fetch.get("/cookies/set?from=config")
        const echoed = yield* Fetch.json("/headers", Echoed)
        expect(echoed.body.headers["cookie"]).toBe("from=config")
      }).pipe(Effect.provide(sessionLayer))
    }))
})
