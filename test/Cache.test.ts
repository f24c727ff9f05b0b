/**
 * The session's HTTP cache against a real server on 127.0.0.1 that sends
 * each caching header combination and counts what it receives: hits send
 * nothing, stale entries revalidate, Vary keeps variants apart, no-store is
 * never stored, a 304 with new headers updates the entry, and credentials
 * never share an entry. Time moves with `TestClock` (the cache ages entries
 * on the `Clock`).
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FastCheck from "effect/FastCheck"
import * as TestClock from "effect/TestClock"
import * as fs from "node:fs"
import * as Http from "node:http"
import { createRequire } from "node:module"
import type * as Net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import * as Fetch from "../src/Fetch.js"
import type * as FetchError from "../src/FetchError.js"
import * as Gather from "../src/Gather.js"
import * as SqliteStore from "../src/internal/cache/sqlite.js"
import { FetchEffect, runOnEngine } from "../src/internal/fetch.js"
import * as Report from "../src/Report.js"
import * as Session from "../src/Session.js"

interface Seen {
  readonly path: string
  readonly method: string
  readonly headers: Http.IncomingHttpHeaders
}

interface Reply {
  readonly status?: number
  readonly headers?: Record<string, string>
  readonly body?: string
}

type Route = (request: Seen, n: number) => Reply

/** A server whose routes a test sets; it logs every request it receives. */
const origin = Effect.acquireRelease(
  Effect.async<{ readonly url: string; readonly seen: Array<Seen>; readonly routes: Map<string, Route>; readonly server: Http.Server }>(
    (resume) => {
      const seen: Array<Seen> = []
      const routes = new Map<string, Route>()
      const server = Http.createServer((req, res) => {
        const request: Seen = { path: req.url ?? "", method: req.method ?? "", headers: req.headers }
        seen.push(request)
        const route = routes.get(request.path)
        const n = seen.filter((s) => s.path === request.path).length
        const reply = route === undefined ? { status: 404 } : route(request, n)
        req.resume()
        res.writeHead(reply.status ?? 200, { date: new Date().toUTCString(), ...reply.headers })
        res.end(reply.status === 304 ? undefined : reply.body ?? `body ${n}`)
      })
      server.listen(0, "127.0.0.1", () => {
        const port = (server.address() as Net.AddressInfo).port
        resume(Effect.succeed({ url: `http://127.0.0.1:${port}`, seen, routes, server }))
      })
    }
  ),
  ({ server }) =>
    Effect.async<void>((resume) => {
      server.close(() => resume(Effect.void))
      server.closeAllConnections()
    })
)

const count = (seen: ReadonlyArray<Seen>, p: string) => seen.filter((s) => s.path === p).length

const text = (response: Fetch.FetchResponse<Uint8Array>) => new TextDecoder().decode(response.body)

/** An ETag'd resource that answers a matching If-None-Match with 304. */
const etagged = (headers: Record<string, string>, notModified: Record<string, string> = headers): Route => (request) =>
  request.headers["if-none-match"] === "\"v1\""
    ? { status: 304, headers: { etag: "\"v1\"", ...notModified } }
    : { headers: { etag: "\"v1\"", ...headers }, body: "version 1" }

const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "gather-cache-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

describe("Session cache", () => {
  it.scoped("max-age: a fresh hit sends nothing; once stale it revalidates with If-None-Match and a 304 gives the body back", () =>
    Effect.gen(function*() {
      const server = yield* origin
      server.routes.set("/a", etagged({ "cache-control": "max-age=60" }))
      const session = yield* Session.make({ baseUrl: server.url, cache: true, retry: false })
      const get = Fetch.get("/a").pipe(Effect.provideService(Session.Session, session))
      const first = yield* get
      const second = yield* get
      expect([first.cache, second.cache]).toEqual(["miss", "hit"])
      expect(text(second)).toBe("version 1")
      expect(second.attempts).toBe(0)
      expect(count(server.seen, "/a")).toBe(1)
      yield* TestClock.adjust("61 seconds")
      const third = yield* get
      expect(third.cache).toBe("revalidated")
      expect(third.status).toBe(200)
      expect(text(third)).toBe("version 1")
      expect(server.seen[1]!.headers["if-none-match"]).toBe("\"v1\"")
      // revalidated: fresh again for 60 s
      expect((yield* get).cache).toBe("hit")
      expect(count(server.seen, "/a")).toBe(2)
    }))

  it.scoped("Gather on a cached session: the second round sends nothing, until the entries are stale", () =>
    Effect.gen(function*() {
      const server = yield* origin
      for (let i = 0; i < 20; i++) server.routes.set(`/g/${i}`, () => ({ headers: { "cache-control": "max-age=300" }, body: `g${i}` }))
      const session = yield* Session.make({ baseUrl: server.url, cache: true, retry: false })
      const round = Gather.all(Array.from({ length: 20 }, (_, i) => Fetch.text(`/g/${i}`)), { concurrency: 4 }).pipe(
        Effect.provideService(Session.Session, session)
      )
      const cold = yield* round
      const warm = yield* round
      expect(cold.every((r) => r.cache === "miss")).toBe(true)
      expect(warm.every((r) => r.cache === "hit")).toBe(true)
      expect(warm.map((r) => r.body)).toEqual(Array.from({ length: 20 }, (_, i) => `g${i}`))
      expect(server.seen.length).toBe(20)
      // hits on Gather's fast path age on the Clock too: once stale, fetched again
      yield* TestClock.adjust("301 seconds")
      const stale = yield* round
      expect(stale.every((r) => r.cache === "miss")).toBe(true)
      expect(server.seen.length).toBe(40)
    }))

  it.scoped("Age counts toward the age: max-age=60 with Age: 50 is stale after 11 s", () =>
    Effect.gen(function*() {
      const server = yield* origin
      server.routes.set("/aged", etagged({ "cache-control": "max-age=60", age: "50" }))
      const session = yield* Session.make({ baseUrl: server.url, cache: true, retry: false })
      const get = Fetch.get("/aged").pipe(Effect.provideService(Session.Session, session))
      yield* get
      yield* TestClock.adjust("9 seconds")
      const hit = yield* get
      expect(hit.cache).toBe("hit")
      expect(hit.headers["age"]).toBe("59")
      yield* TestClock.adjust("2 seconds")
      expect((yield* get).cache).toBe("revalidated")
    }))

  it.scoped("no-store is never stored; no-cache is stored but revalidated every time", () =>
    Effect.gen(function*() {
      const server = yield* origin
      server.routes.set("/no-store", () => ({ headers: { "cache-control": "no-store, max-age=60", etag: "\"v1\"" } }))
      server.routes.set("/no-cache", etagged({ "cache-control": "no-cache, max-age=60" }))
      const session = yield* Session.make({ baseUrl: server.url, cache: true, retry: false })
      const on = <A, E>(effect: Effect.Effect<A, E, Session.Session>) => Effect.provideService(effect, Session.Session, session)
      const noStore = yield* on(Effect.all([Fetch.get("/no-store"), Fetch.get("/no-store")]))
      expect(noStore.map((r) => r.cache)).toEqual(["miss", "miss"])
      expect(server.seen.filter((s) => s.path === "/no-store").every((s) => s.headers["if-none-match"] === undefined)).toBe(true)
      const noCache = yield* on(Effect.all([Fetch.get("/no-cache"), Fetch.get("/no-cache"), Fetch.get("/no-cache")]))
      expect(noCache.map((r) => r.cache)).toEqual(["miss", "revalidated", "revalidated"])
      expect(count(server.seen, "/no-cache")).toBe(3)
    }))

  it.scoped("s-maxage is ignored by this private cache; Expires − Date gives freshness; must-revalidate goes to the origin once stale", () =>
    Effect.gen(function*() {
      const server = yield* origin
      server.routes.set("/shared", () => ({ headers: { "cache-control": "s-maxage=600" } }))
      server.routes.set("/expires", () => ({ headers: { expires: new Date(Date.now() + 30_000).toUTCString() } }))
      server.routes.set("/must", etagged({ "cache-control": "max-age=10, must-revalidate" }))
      const session = yield* Session.make({ baseUrl: server.url, cache: true, retry: false })
      const get = (p: string) => Fetch.get(p).pipe(Effect.provideService(Session.Session, session))
      yield* get("/shared")
      expect((yield* get("/shared")).cache).toBe("miss")
      yield* get("/expires")
      yield* get("/must")
      yield* TestClock.adjust("5 seconds")
      expect((yield* get("/expires")).cache).toBe("hit")
      expect((yield* get("/must")).cache).toBe("hit")
      yield* TestClock.adjust("26 seconds")
      expect((yield* get("/expires")).cache).toBe("miss")
      expect((yield* get("/must")).cache).toBe("revalidated")
      expect([count(server.seen, "/shared"), count(server.seen, "/expires"), count(server.seen, "/must")]).toEqual([2, 2, 2])
    }))

  it.scoped("heuristic freshness from Last-Modified when nothing explicit is said, revalidated with If-Modified-Since", () =>
    Effect.gen(function*() {
      const server = yield* origin
      const lastModified = new Date(Date.now() - 10 * 60 * 60 * 1000).toUTCString()
      server.routes.set("/old", (request) =>
        request.headers["if-modified-since"] === lastModified
          ? { status: 304 }
          : { headers: { "last-modified": lastModified }, body: "old" })
      const session = yield* Session.make({ baseUrl: server.url, cache: true, retry: false })
      const get = Fetch.get("/old").pipe(Effect.provideService(Session.Session, session))
      yield* get
      // 10% of 10 hours: fresh for an hour
      yield* TestClock.adjust("50 minutes")
      expect((yield* get).cache).toBe("hit")
      yield* TestClock.adjust("15 minutes")
      const again = yield* get
      expect(again.cache).toBe("revalidated")
      expect(text(again)).toBe("old")
      expect(server.seen[1]!.headers["if-modified-since"]).toBe(lastModified)
    }))

  it.scoped("Vary keeps variants apart", () =>
    Effect.gen(function*() {
      const server = yield* origin
      server.routes.set("/lang", (request) => ({
        headers: { "cache-control": "max-age=60", vary: "Accept-Language" },
        body: `in ${request.headers["accept-language"]}`
      }))
      const session = yield* Session.make({ baseUrl: server.url, cache: true, retry: false })
      const get = (lang: string) => Fetch.get("/lang", { headers: { "accept-language": lang } }).pipe(Effect.provideService(Session.Session, session))
      const answers = [yield* get("en"), yield* get("fr"), yield* get("en"), yield* get("fr")]
      expect(answers.map(text)).toEqual(["in en", "in fr", "in en", "in fr"])
      expect(answers.map((r) => r.cache)).toEqual(["miss", "miss", "hit", "hit"])
      expect(count(server.seen, "/lang")).toBe(2)
    }))

  // Read back from the file, a variant's selecting headers come from its
  // stored `vary` column (a response that varies on nothing reads as none).
  it.scoped("Vary keeps variants apart in a SQLite store read by a new session", () =>
    Effect.gen(function*() {
      const server = yield* origin
      server.routes.set("/lang", (request) => ({
        headers: { "cache-control": "max-age=60", vary: "Accept-Language" },
        body: `in ${request.headers["accept-language"]}`
      }))
      server.routes.set("/plain", () => ({ headers: { "cache-control": "max-age=60" }, body: "plain" }))
      const dir = yield* tempDir
      const options: Session.Options = { baseUrl: server.url, cache: { store: { sqlite: path.join(dir, "cache.db") } }, retry: false }
      const round = Effect.gen(function*() {
        const session = yield* Session.make(options)
        const get = (url: string, lang: string) =>
          Fetch.get(url, { headers: { "accept-language": lang } }).pipe(Effect.provideService(Session.Session, session))
        return [yield* get("/lang", "en"), yield* get("/lang", "fr"), yield* get("/plain", "en"), yield* get("/plain", "fr")]
      })
      const first = yield* Effect.scoped(round)
      const second = yield* Effect.scoped(round)
      expect(first.map((r) => r.cache)).toEqual(["miss", "miss", "miss", "hit"])
      expect(second.map(text)).toEqual(["in en", "in fr", "plain", "plain"])
      expect(second.map((r) => r.cache)).toEqual(["hit", "hit", "hit", "hit"])
      expect(count(server.seen, "/lang")).toBe(2)
      expect(count(server.seen, "/plain")).toBe(1)
    }))

  it.scoped("a 304 with new headers updates the stored entry (its new max-age and headers are used)", () =>
    Effect.gen(function*() {
      const server = yield* origin
      server.routes.set("/update", etagged({ "cache-control": "max-age=10", "x-version": "1" }, { "cache-control": "max-age=100", "x-version": "2" }))
      const session = yield* Session.make({ baseUrl: server.url, cache: true, retry: false })
      const get = Fetch.get("/update").pipe(Effect.provideService(Session.Session, session))
      yield* get
      yield* TestClock.adjust("11 seconds")
      const revalidated = yield* get
      expect(revalidated.cache).toBe("revalidated")
      expect(revalidated.headers["x-version"]).toBe("2")
      yield* TestClock.adjust("50 seconds")
      const hit = yield* get
      expect(hit.cache).toBe("hit")
      expect(hit.headers["x-version"]).toBe("2")
      expect(count(server.seen, "/update")).toBe(2)
    }))

  it.scoped("a changed resource (200 to a conditional request) is a miss and replaces the entry", () =>
    Effect.gen(function*() {
      const server = yield* origin
      server.routes.set("/changes", (_request, n) => ({ headers: { "cache-control": "max-age=10", etag: `"v${n}"` }, body: `version ${n}` }))
      const session = yield* Session.make({ baseUrl: server.url, cache: true, retry: false })
      const get = Fetch.get("/changes").pipe(Effect.provideService(Session.Session, session))
      yield* get
      yield* TestClock.adjust("11 seconds")
      const changed = yield* get
      expect(changed.cache).toBe("miss")
      expect(text(changed)).toBe("version 2")
      expect(server.seen[1]!.headers["if-none-match"]).toBe("\"v1\"")
      expect(text(yield* get)).toBe("version 2")
    }))

  it.scoped("responses to requests with Authorization are not stored unless public", () =>
    Effect.gen(function*() {
      const server = yield* origin
      server.routes.set("/private", () => ({ headers: { "cache-control": "max-age=60" } }))
      server.routes.set("/public", () => ({ headers: { "cache-control": "public, max-age=60" } }))
      const session = yield* Session.make({ baseUrl: server.url, cache: true, retry: false, auth: { bearer: "token-a" } })
      const get = (p: string) => Fetch.get(p).pipe(Effect.provideService(Session.Session, session))
      const privates = [yield* get("/private"), yield* get("/private")]
      const publics = [yield* get("/public"), yield* get("/public")]
      expect(privates.map((r) => r.cache)).toEqual(["miss", "miss"])
      expect(publics.map((r) => r.cache)).toEqual(["miss", "hit"])
      expect(count(server.seen, "/private")).toBe(2)
    }))

  it.scoped("two sessions with other credentials on one SQLite file never see each other's entries", () =>
    Effect.gen(function*() {
      const server = yield* origin
      server.routes.set("/me", (request) => ({ headers: { "cache-control": "private, max-age=60" }, body: `for ${request.headers.authorization}` }))
      const dir = yield* tempDir
      const store = { sqlite: path.join(dir, "cache.db") }
      const alice = yield* Session.make({ baseUrl: server.url, cache: { store }, retry: false, auth: { bearer: "alice" } })
      const bob = yield* Session.make({ baseUrl: server.url, cache: { store }, retry: false, auth: { bearer: "bob" } })
      const a = yield* Fetch.get("/me").pipe(Effect.provideService(Session.Session, alice))
      const b = yield* Fetch.get("/me").pipe(Effect.provideService(Session.Session, bob))
      expect(text(a)).toBe("for Bearer alice")
      expect(text(b)).toBe("for Bearer bob")
      expect(b.cache).toBe("miss")
      expect(count(server.seen, "/me")).toBe(2)
    }))

  it.scoped("the SQLite store outlives its session: a new session on the same file answers from it", () =>
    Effect.gen(function*() {
      const server = yield* origin
      server.routes.set("/kept", etagged({ "cache-control": "max-age=60" }))
      const dir = yield* tempDir
      const options: Session.Options = { baseUrl: server.url, cache: { store: { sqlite: path.join(dir, "cache.db") } }, retry: false }
      const once = (revalidate: boolean) =>
        Effect.scoped(
          Effect.flatMap(
            Session.make({ ...options, cache: { store: { sqlite: path.join(dir, "cache.db") }, revalidate } }),
            (session) => Fetch.get("/kept").pipe(Effect.provideService(Session.Session, session))
          )
        )
      expect((yield* once(false)).cache).toBe("miss")
      const second = yield* once(false)
      expect(second.cache).toBe("hit")
      expect(text(second)).toBe("version 1")
      // revalidate: fresh entries are asked about too
      expect((yield* once(true)).cache).toBe("revalidated")
      expect(count(server.seen, "/kept")).toBe(2)
      expect(options.cache).toBeDefined()
    }))

  it.scoped("a revalidation on SQLite updates the variant's headers and times, never writing its body again", () =>
    Effect.gen(function*() {
      const server = yield* origin
      let version = 0
      server.routes.set("/page", (request) => {
        version++
        return request.headers["if-none-match"] === "\"v1\""
          ? { status: 304, headers: { etag: "\"v1\"", "cache-control": "max-age=0", "x-seen": String(version) } }
          : { headers: { etag: "\"v1\"", "cache-control": "max-age=0", "x-seen": String(version) }, body: "version 1" }
      })
      const dir = yield* tempDir
      const file = path.join(dir, "cache.db")
      const once = Effect.scoped(
        Effect.flatMap(
          Session.make({ baseUrl: server.url, cache: { store: { sqlite: file } }, retry: false }),
          (session) => Fetch.get("/page").pipe(Effect.provideService(Session.Session, session))
        )
      )
      const Database = createRequire(import.meta.url)("better-sqlite3")
      type Rows = Array<Record<string, unknown>>
      const onFile = <A>(f: (db: { exec(sql: string): void; prepare(sql: string): { all(): Rows } }) => A): A => {
        const db = new Database(file)
        try {
          return f(db)
        } finally {
          db.close()
        }
      }
      const rows = () =>
        onFile((db) => ({
          bodyWrites: db.prepare("SELECT n FROM body_writes").all()[0]!["n"],
          bodies: db.prepare("SELECT count(*) AS n FROM http_cache_body").all()[0]!["n"],
          seen: db.prepare("SELECT headers FROM http_cache_variant").all().map((row) => JSON.parse(String(row["headers"]))["x-seen"])
        }))
      expect((yield* once).cache).toBe("miss")
      // from here on, the file counts every body written (or rewritten)
      onFile((db) =>
        db.exec(`CREATE TABLE body_writes (n INTEGER NOT NULL); INSERT INTO body_writes VALUES (0);
          CREATE TRIGGER body_inserted AFTER INSERT ON http_cache_body BEGIN UPDATE body_writes SET n = n + 1; END;
          CREATE TRIGGER body_updated AFTER UPDATE ON http_cache_body BEGIN UPDATE body_writes SET n = n + 1; END;`)
      )
      expect(rows()).toEqual({ bodyWrites: 0, bodies: 1, seen: ["1"] })
      for (const n of [2, 3]) {
        const again = yield* once
        expect([again.cache, text(again), again.headers["x-seen"]]).toEqual(["revalidated", "version 1", String(n)])
        // no body written; the variant's headers are the 304's
        expect(rows()).toEqual({ bodyWrites: 0, bodies: 1, seen: [String(n)] })
      }
    }))

  it.scoped("SQLite: a refresh of a variant replaced since it was read stores the refreshed one whole, its own body with its own headers", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const store = yield* SqliteStore.open(path.join(dir, "cache.db"))
      const variant = (body: string, etag: string, at: number) => ({
        status: 200,
        headers: { etag },
        body: new TextEncoder().encode(body),
        requestAt: at,
        responseAt: at + 1,
        vary: {}
      })
      store.put("k", variant("old body", "\"a\"", 1_000))
      const read = store.get("k")[0]!
      // a fetch of the same URL finished first and stored a new variant
      store.put("k", variant("new body", "\"b\"", 2_000))
      store.refresh("k", read, { ...read, headers: { etag: "\"a\"", "x-refreshed": "yes" }, requestAt: 3_000, responseAt: 3_001 })
      const [kept, ...rest] = store.get("k")
      expect(rest).toEqual([])
      expect(new TextDecoder().decode(kept!.body)).toBe("old body")
      expect(kept!.headers).toEqual({ etag: "\"a\"", "x-refreshed": "yes" })
      // and a refresh of the variant as read changes its headers only
      store.refresh("k", kept!, { ...kept!, headers: { etag: "\"a\"", "x-refreshed": "twice" }, responseAt: 4_000 })
      const twice = store.get("k")
      expect(twice.map((v) => [new TextDecoder().decode(v.body), v.headers["x-refreshed"], v.responseAt])).toEqual([["old body", "twice", 4_000]])
    }))

  it.scoped("SQLite: two stores on one file see each other's writes from the next turn of the event loop on", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const file = path.join(dir, "cache.db")
      const a = yield* SqliteStore.open(file)
      const b = yield* SqliteStore.open(file)
      const variant = (body: string) => ({ status: 200, headers: {}, body: new TextEncoder().encode(body), requestAt: 1, responseAt: 2, vary: {} })
      const bodies = (store: typeof a) => store.get("k").map((v) => new TextDecoder().decode(v.body))
      expect(bodies(a)).toEqual([])
      b.put("k", variant("from b"))
      expect(bodies(b)).toEqual(["from b"])
      // the next turn: a's reads of the last one have ended
      yield* Effect.promise(() => new Promise((resolve) => setImmediate(resolve)))
      expect(bodies(a)).toEqual(["from b"])
      a.put("k", variant("from a"))
      yield* Effect.promise(() => new Promise((resolve) => setImmediate(resolve)))
      expect(bodies(b)).toEqual(["from a"])
    }))

  it.scoped("a successful POST forgets the URL; a request with its own Cache-Control: no-store or If-None-Match bypasses the cache", () =>
    Effect.gen(function*() {
      const server = yield* origin
      server.routes.set("/item", () => ({ headers: { "cache-control": "max-age=60" } }))
      const session = yield* Session.make({ baseUrl: server.url, cache: true, retry: false })
      const on = <A, E>(effect: Effect.Effect<A, E, Session.Session>) => Effect.provideService(effect, Session.Session, session)
      yield* on(Fetch.get("/item"))
      expect((yield* on(Fetch.get("/item"))).cache).toBe("hit")
      expect((yield* on(Fetch.get("/item", { headers: { "cache-control": "no-store" } }))).cache).toBe("bypass")
      expect((yield* on(Fetch.get("/item", { headers: { "if-none-match": "\"x\"" } }))).cache).toBe("bypass")
      expect((yield* on(Fetch.post("/item", { text: "new" }))).cache).toBe("bypass")
      expect((yield* on(Fetch.get("/item"))).cache).toBe("miss")
      expect(count(server.seen, "/item")).toBe(5)
    }))

  it.scoped("a 304 the cache did not ask for fails as BadStatus, as on a session without a cache", () =>
    Effect.gen(function*() {
      const server = yield* origin
      server.routes.set("/always-304", () => ({ status: 304, headers: { etag: "\"x\"" } }))
      for (const cache of [true, false]) {
        const session = yield* Session.make({ baseUrl: server.url, cache, retry: false })
        const on = <A, E>(effect: Effect.Effect<A, E, Session.Session>) => Effect.provideService(effect, Session.Session, session)
        const plain = yield* Effect.flip(on(Fetch.get("/always-304")))
        const own = yield* Effect.flip(on(Fetch.get("/always-304", { headers: { "if-none-match": "\"x\"" } })))
        expect([plain._tag, own._tag]).toEqual(["BadStatus", "BadStatus"])
        if (plain._tag === "BadStatus") expect(plain.status).toBe(304)
      }
    }))

  it.scoped("the run report counts hits, revalidations and misses", () =>
    Effect.gen(function*() {
      const server = yield* origin
      server.routes.set("/r/1", etagged({ "cache-control": "max-age=60" }))
      server.routes.set("/r/2", etagged({ "cache-control": "no-cache" }))
      const session = yield* Session.make({ baseUrl: server.url, cache: true, retry: false })
      const report = yield* Report.make({ title: "cache" })
      const round = Gather.all([Fetch.get("/r/1"), Fetch.get("/r/2")]).pipe(
        Effect.provideService(Session.Session, session),
        Effect.provideService(Report.Report, report)
      )
      yield* round
      yield* round
      const html = yield* Report.html(report)
      const data = JSON.parse(/<script type="application\/json" id="report-data">([\s\S]*?)<\/script>/.exec(html)![1]!)
      expect(data.caches).toEqual([["hit", 1], ["revalidated", 1], ["miss", 2]])
    }))

  it.scoped("a session without a cache says bypass", () =>
    Effect.gen(function*() {
      const server = yield* origin
      server.routes.set("/x", () => ({ headers: { "cache-control": "max-age=60" } }))
      const session = yield* Session.make({ baseUrl: server.url, retry: false })
      const responses = yield* Gather.all([Fetch.get("/x"), Fetch.get("/x")]).pipe(Effect.provideService(Session.Session, session))
      expect(responses.map((r) => r.cache)).toEqual(["bypass", "bypass"])
      expect(count(server.seen, "/x")).toBe(2)
    }))

  // The cache runs inside a fetch's callbacks on the fast path (a Gather
  // lane, a fiber of its own) and inside Effects on the engine alone: the
  // same rounds must give the same outcomes, cache statuses and requests.
  type Kind = "fresh" | "stale" | "no-cache" | "no-store" | "redirect" | "404" | "always-304" | "vary"
  const kinds: ReadonlyArray<Kind> = ["fresh", "stale", "no-cache", "no-store", "redirect", "404", "always-304", "vary"]
  const routesFor = (server: { readonly routes: Map<string, Route> }) => {
    for (let i = 0; i < 16; i++) {
      server.routes.set(`/fresh/${i}`, etagged({ "cache-control": "max-age=60" }))
      server.routes.set(`/stale/${i}`, etagged({ "cache-control": "max-age=0" }, { "cache-control": "max-age=0", "x-revalidated": "yes" }))
      server.routes.set(`/no-cache/${i}`, etagged({ "cache-control": "no-cache" }))
      server.routes.set(`/no-store/${i}`, () => ({ headers: { "cache-control": "no-store" } }))
      server.routes.set(`/redirect/${i}`, () => ({ status: 302, headers: { location: `/fresh/${i}`, "cache-control": "max-age=60" } }))
      server.routes.set(`/404/${i}`, () => ({ status: 404, headers: { "cache-control": "max-age=60" } }))
      server.routes.set(`/always-304/${i}`, () => ({ status: 304, headers: { etag: "\"v1\"" } }))
      server.routes.set(`/vary/${i}`, (request) => ({
        headers: { "cache-control": "max-age=60", vary: "accept-language" },
        body: `in ${request.headers["accept-language"] ?? "none"}`
      }))
    }
  }
  // A URL of its own per input: within a round no two fetches race for one
  // entry (which would make a hit depend on completion order).
  const fetchOf = (kind: Kind, i: number) =>
    kind === "vary"
      ? Fetch.text(`/vary/${i}`, { headers: { "accept-language": i % 2 === 0 ? "en" : "de" } })
      : Fetch.text(`/${kind}/${i}`)
  const project = (outcome: Either.Either<Fetch.FetchResponse<string>, FetchError.FetchError>) =>
    Either.match(outcome, {
      onRight: (response) => ({
        status: response.status,
        body: response.body,
        cache: response.cache,
        attempts: response.attempts,
        revalidated: response.headers["x-revalidated"] ?? null
      }),
      onLeft: (error) => ({ tag: error._tag, status: "status" in error ? error.status : null })
    })

  it.effect.prop(
    "a cached session gives the same outcomes, cache statuses and requests on the engine, a Gather lane and Effect.forEach",
    [FastCheck.array(FastCheck.constantFrom(...kinds), { minLength: 1, maxLength: 16 }), FastCheck.integer({ min: 1, max: 4 })],
    ([inputs, concurrency]) =>
      Effect.scoped(Effect.gen(function*() {
        const results: Array<unknown> = []
        for (const mode of ["engine", "lane", "forEach"] as const) {
          const server = yield* origin
          routesFor(server)
          const session = yield* Session.make({ baseUrl: server.url, cache: true, retry: false })
          const effects = inputs.map((kind, i) => {
            const fetch = fetchOf(kind, i)
            if (mode !== "engine") return fetch
            if (!(fetch instanceof FetchEffect)) throw new Error(`${kind} is not a FetchEffect`)
            return runOnEngine(fetch)
          })
          const round = (mode === "forEach"
            ? Effect.forEach(effects, Effect.either, { concurrency })
            : Gather.settle(effects, { concurrency })).pipe(Effect.provideService(Session.Session, session))
          // Cold, warm, and warm again: misses, then hits and revalidations.
          const rounds = [yield* round, yield* round, yield* round]
          const requests = server.seen.map((seen) => `${seen.path} ${seen.headers["if-none-match"] ?? "-"}`).sort()
          results.push({ outcomes: rounds.map((outcomes) => outcomes.map(project)), requests })
        }
        expect(results[1]).toEqual(results[0])
        expect(results[2]).toEqual(results[0])
      })),
    { fastCheck: { numRuns: 25, seed: 20261204 } }
  )
})
