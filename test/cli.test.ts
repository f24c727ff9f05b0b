/**
 * The `gather` command line: unit tests of its pure helpers, then the real
 * process (`node --import tsx src/bin.ts ...`) against a DemoServer started
 * here on a free loopback port.
 */
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Options from "@effect/cli/Options"
import * as ValidationError from "@effect/cli/ValidationError"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as Arbitrary from "effect/Arbitrary"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as FastCheck from "effect/FastCheck"
import * as FiberId from "effect/FiberId"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import { spawn } from "node:child_process"
import type { ChildProcess } from "node:child_process"
import { createHmac } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { builtInFlags, flagNames, flagNamesOf, optionsFirst, subcommands } from "../src/cli/argv.js"
import { expand } from "../src/cli/benchCommand.js"
import { formatEta, renderJobs as renderClusterJobs, renderProgress as renderClusterProgress } from "../src/cli/clusterStatus.js"
import { RunFailed, SomeFailed, UsageError } from "../src/cli/errors.js"
import { maxBarRows, tableHeader, tableRow } from "../src/cli/fetchCommand.js"
import { inputOf } from "../src/cli/input.js"
import * as InputKey from "../src/cli/inputKey.js"
import { exitCodeOf } from "../src/cli/main.js"
import { cleanCliText, colorFor, stripAnsi } from "../src/cli/output.js"
import * as Parse from "../src/cli/parse.js"
import { renderProgress, showProgress } from "../src/cli/progress.js"
import { RecordBatch } from "../src/cli/recordBatch.js"
import * as Resume from "../src/cli/resume.js"
import { fileNameFor, maxNameLength, resolveInside } from "../src/cli/safeName.js"
import { LatencyHistogram, renderBars, renderHistogram, renderSummary, renderTimeline, Tally } from "../src/cli/summary.js"
import * as Cluster from "../src/Cluster.js"
import * as DemoServer from "../src/DemoServer.js"
import type * as Fetch from "../src/Fetch.js"
import * as FetchError from "../src/FetchError.js"
import * as HmacSha256 from "../src/internal/hmacSha256.js"
import * as Records from "../src/internal/record.js"
import { freePort } from "./postgres.js"
import { timingOf } from "./support.js"

const repo = path.resolve(__dirname, "..")
const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), "gather-cli-test-"))
let tmpCount = 0
const tmpDir = (): string => {
  const dir = path.join(tmpRoot, String(++tmpCount))
  fs.mkdirSync(dir)
  return dir
}

// ---------------------------------------------------------------------------
// pure helpers
// ---------------------------------------------------------------------------

describe("parse", () => {
  it.each([
    ["500ms", 500],
    ["5s", 5000],
    ["1.5s", 1500],
    ["2m", 120_000],
    ["1h", 3_600_000],
    ["5", 5000],
    ["5 seconds", 5000],
    ["250 millis", 250]
  ])("duration %s = %d ms", (input, ms) => {
    const parsed = Parse.parseDuration(input)
    expect(Either.isRight(parsed) && Duration.toMillis(parsed.right)).toBe(ms)
  })

  it.each(["", "fast", "-1s", "5 parsecs", "1e3"])("rejects duration %j", (input) => {
    expect(Either.isLeft(Parse.parseDuration(input))).toBe(true)
  })

  it.each([
    ["20ms", 20],
    ["20 millis", 20],
    ["1.5s", 1500],
    ["2 minutes", 120_000],
    ["20 MS", 20]
  ])("a duration flag takes %j (%d ms)", (input, ms) => {
    const parsed = Parse.durationFlag("latency")(input)
    expect(Either.isRight(parsed) && Duration.toMillis(parsed.right)).toBe(ms)
  })

  it.each(["20x", "soon", "20 ms ago", "1,5s", "Infinity", "9".repeat(400) + "s", "--1s"])(
    "a duration flag refuses %j with one line naming the flag",
    (input) => {
      const parsed = Parse.durationFlag("latency")(input)
      expect(Either.isLeft(parsed)).toBe(true)
      const message = Either.isLeft(parsed) ? parsed.left : ""
      expect(message).toMatch(/^--latency: invalid duration .* \(try 20ms, 20 millis, 1\.5s, 2 minutes\)$/)
      expect(message).not.toContain("\n")
      expect(Parse.limitFlag("timeout")(input)).toEqual(Either.left(expect.stringMatching(/^--timeout: .*or off\)$/)))
    }
  )

  it.prop(
    "a duration flag reads every number with every unit, with or without a space",
    [
      FastCheck.integer({ min: 0, max: 100_000 }),
      FastCheck.constantFrom<readonly [string, number]>(
        ["ms", 1],
        ["millis", 1],
        ["s", 1000],
        ["seconds", 1000],
        ["m", 60_000],
        ["minutes", 60_000],
        ["h", 3_600_000]
      ),
      FastCheck.boolean()
    ],
    ([n, [unit, factor], space]) => {
      const parsed = Parse.durationFlag("x")(`${n}${space ? " " : ""}${unit}`)
      expect(Either.isRight(parsed) && Duration.toMillis(parsed.right)).toBe(n * factor)
    }
  )

  it("limit: off and 0 mean no limit", () => {
    expect(Parse.parseLimit("off")).toEqual(Either.right(false))
    expect(Parse.parseLimit("0")).toEqual(Either.right(false))
  })

  it.each([
    ["20/s", 20, 1000],
    ["600/m", 600, 60_000],
    ["5/100ms", 5, 100],
    ["3/h", 3, 3_600_000],
    ["20 per second", 20, 1000],
    ["7/2s", 7, 2000]
  ])("rate %s", (input, limit, ms) => {
    const parsed = Parse.parseRate(input)
    expect(Either.isRight(parsed)).toBe(true)
    if (Either.isRight(parsed)) {
      expect(parsed.right.limit).toBe(limit)
      expect(Duration.toMillis(parsed.right.interval)).toBe(ms)
    }
  })

  it.each(["20", "0/s", "x/s", "20/parsec", "20/0s", "-3/s"])("rejects rate %j", (input) => {
    expect(Either.isLeft(Parse.parseRate(input))).toBe(true)
  })

  it.each(
    [
      ["1048576", 1048576],
      ["512k", 512 * 1024],
      ["10MB", 10 * 1024 * 1024],
      ["1GiB", 1024 ** 3],
      ["off", false]
    ] as const
  )("size %s", (input, bytes) => {
    expect(Parse.parseBytes(input)).toEqual(Either.right(bytes))
  })

  it.each(["ten", "5 TB", "-1", ""])("rejects size %j", (input) => {
    expect(Either.isLeft(Parse.parseBytes(input))).toBe(true)
  })

  it("headers: Name: value, later wins whatever the case, bad ones rejected", () => {
    expect(Parse.parseHeaders(["Accept: text/html", "X-A:  b:c ", "accept: application/json"])).toEqual(
      Either.right({ "X-A": "b:c", accept: "application/json" })
    )
    expect(Either.isLeft(Parse.parseHeader("no colon"))).toBe(true)
    expect(Either.isLeft(Parse.parseHeader(": empty name"))).toBe(true)
    expect(Either.isLeft(Parse.parseHeader("Bad Name: x"))).toBe(true)
    expect(Either.isLeft(Parse.parseHeader("X: a\r\nInjected: 1"))).toBe(true)
  })

  it("methods, any case", () => {
    expect(Parse.parseMethod("post")).toEqual(Either.right("POST"))
    expect(Either.isLeft(Parse.parseMethod("BREW"))).toBe(true)
  })
})

describe("input lines", () => {
  it.each([
    ["  http://a/b  ", "http://a/b"],
    ["", undefined],
    ["   ", undefined],
    ["# comment", undefined],
    ["  # indented comment", undefined],
    ["not a url", "not a url"]
  ])("%j → %j", (line, input) => {
    expect(inputOf(line)).toBe(input)
  })
})

const response = (overrides: Partial<Fetch.FetchResponse<Uint8Array>> = {}): Fetch.FetchResponse<Uint8Array> => ({
  url: "http://h/final",
  status: 200,
  headers: {},
  body: new Uint8Array(3),
  bytes: 3,
  attempts: 1,
  redirects: [],
  timing: timingOf(1, 12.345),
  cache: "bypass",
  ...overrides
})

describe("records", () => {
  it("a success", () => {
    expect(Records.fromResponse("http://h/a", response({ attempts: 2 }))).toEqual({
      url: "http://h/a",
      ok: true,
      status: 200,
      error: null,
      bytes: 3,
      ms: 12.3,
      attempts: 2,
      final_url: "http://h/final"
    })
  })

  it("a failure keeps the status of BadStatus and the tag and message", () => {
    const error = new FetchError.BadStatus({
      method: "GET",
      url: "http://h/x",
      attempt: 3,
      elapsedMs: 40.06,
      timing: timingOf(-1, 40.06),
      status: 503,
      headers: {},
      body: ""
    })
    const record = Records.fromError("http://h/x", error)
    expect(record).toMatchObject({ ok: false, status: 503, attempts: 3, ms: 40.1, bytes: null, final_url: null })
    expect(record.error).toEqual({ tag: "BadStatus", message: error.message })
  })

  it("credentials in the URL are redacted; other URLs are kept as written", () => {
    const record = Records.fromResponse("http://user:hunter2@h/a?token=s3cret&x=1", response({ url: "http://h/a?token=s3cret" }))
    const line = Records.toLine(record)
    expect(line).not.toContain("hunter2")
    expect(line).not.toContain("s3cret")
    expect(Records.displayUrl("HTTP://Example.com/a b")).toBe("HTTP://Example.com/a b")
    expect(Records.displayUrl("not a url")).toBe("not a url")
  })

  it.prop("toLine is one line that parses back", [FastCheck.string({ unit: "binary" })], ([input]) => {
    const line = Records.toLine(Records.fromResponse(input, response()))
    expect(line.indexOf("\n")).toBe(line.length - 1)
    expect(Records.parseLine(line.slice(0, -1))?.url).toBe(Records.displayUrl(input))
  })

  it.prop("toLine writes the text JSON.stringify writes, for any record", [Arbitrary.make(Records.ResultRecord)], ([record]) => {
    expect(Records.toLine(record)).toBe(`${JSON.stringify(record)}\n`)
  }, { fastCheck: { numRuns: 2000, seed: 20261203 } })

  it("toLine writes a record of the CLI's as JSON.stringify does, escapes and all", () => {
    const keyed = Records.forInput(
      Records.fromSaveFailure("http://h/a\"b\u2028\ud800", response({ url: "http://h/final" }), "disk \"full\"\n"),
      7,
      "k"
    )
    expect(Records.toLine(keyed)).toBe(`${JSON.stringify(keyed)}\n`)
    const plain = Records.forInput(Records.fromResponse("http://h/a?i=1", response({ url: "http://h/a?i=1" })), 1, "0123")
    expect(Records.toLine(plain)).toBe(`${JSON.stringify(plain)}\n`)
  })
})

describe("safe file names", () => {
  const dir = path.join(tmpRoot, "bodies")

  it.each([
    "http://h/../../etc/passwd",
    "http://h/..%2F..%2Fetc%2Fpasswd",
    "http://h/%2e%2e/%2e%2e/x",
    "http://h/a%00b",
    "/etc/passwd",
    "..",
    "",
    `http://h/${"a".repeat(5000)}`,
    "http://h/ünïcødé/😀?q=\\..\\..\\win"
  ])("%j stays inside the directory", (url) => {
    const name = fileNameFor(url)
    expect(name).toMatch(/^[A-Za-z0-9][A-Za-z0-9._-]*-[0-9a-f]{12}$/)
    expect(name).not.toContain("..")
    const full = resolveInside(dir, name)
    expect(Either.isRight(full) && path.dirname(full.right)).toBe(dir)
  })

  it("different URLs get different names", () => {
    expect(fileNameFor("http://h/a?x=1")).not.toBe(fileNameFor("http://h/a?x=2"))
    expect(fileNameFor("http://h/a/b")).not.toBe(fileNameFor("http://h/a_b"))
  })

  it.each(["..", ".", "", "a/b", "a\\b", "/abs", "a\0b", "x".repeat(maxNameLength + 1)])("rejects the name %j", (name) => {
    expect(Either.isLeft(resolveInside(dir, name))).toBe(true)
  })

  it.prop("names from URLs never escape", [FastCheck.oneof(
    FastCheck.string({ unit: "binary", maxLength: 400 }),
    FastCheck.webUrl({ withQueryParameters: true, withFragments: true }),
    FastCheck.array(FastCheck.constantFrom("..", ".", "/", "\\", "%2e", "%2f", "%00", "\0", "a", "é"), { maxLength: 60 })
      .map((parts) => `http://h/${parts.join("")}`)
  )], ([url]) => {
    const full = resolveInside(dir, fileNameFor(url))
    expect(Either.isRight(full)).toBe(true)
    if (Either.isRight(full)) expect(path.dirname(full.right)).toBe(dir)
  })

  it.prop("any accepted name lies directly inside", [FastCheck.oneof(
    FastCheck.string({ unit: "binary", maxLength: 300 }),
    FastCheck.array(FastCheck.constantFrom("..", ".", "/", "\\", "\0", "a"), { maxLength: 8 }).map((parts) => parts.join(""))
  )], ([name]) => {
    const full = resolveInside(dir, name)
    if (Either.isRight(full)) {
      expect(path.dirname(full.right)).toBe(dir)
      expect(path.basename(full.right)).toBe(name)
    }
  })
})

describe("summary", () => {
  const exact = (values: ReadonlyArray<number>, p: number) => {
    const sorted = [...values].sort((a, b) => a - b)
    return sorted[Math.max(1, Math.ceil((p / 100) * sorted.length)) - 1]!
  }

  it.prop("histogram percentiles are within 1% of the exact ones", [
    FastCheck.array(FastCheck.double({ min: 0.01, max: 600_000, noNaN: true }), { minLength: 1, maxLength: 300 }),
    FastCheck.integer({ min: 0, max: 100 })
  ], ([values, p]) => {
    const histogram = new LatencyHistogram()
    for (const value of values) histogram.add(value)
    const estimate = histogram.percentile(p)!
    const truth = exact(values, p)
    expect(Math.abs(estimate - truth)).toBeLessThanOrEqual(truth * 0.0101)
    expect(histogram.max).toBe(Math.max(...values))
  })

  it("tally and summary: counts by status and tag, latency without local failures", () => {
    const tally = new Tally()
    tally.add(Records.fromResponse("http://h/1", response({ timing: timingOf(1, 10) })))
    tally.add(Records.fromResponse("http://h/2", response({ timing: timingOf(1, 30) })))
    tally.add(Records.fromError(
      "http://h/3",
      new FetchError.BadStatus({ method: "GET", url: "http://h/3", attempt: 1, elapsedMs: 20, timing: timingOf(-1, 20), status: 404, headers: {}, body: "" })
    ))
    tally.add(Records.fromError(
      "nope",
      new FetchError.InvalidUrl({ method: "GET", url: "nope", attempt: 1, elapsedMs: 9999, timing: timingOf(-1, 9999), reason: "Malformed" })
    ))
    expect([tally.done, tally.ok, tally.failed]).toEqual([4, 2, 2])
    expect(tally.latency.count).toBe(3)
    expect(tally.latency.max).toBe(30)
    const text = renderSummary(tally, { elapsedMs: 2000, skipped: 5, resumedFrom: "out.ndjson", interrupted: true, aborted: 3 }).join("\n")
    expect(text).toContain("4 done")
    expect(text).toContain("2 ok, 2 failed")
    expect(text).toContain("200 ×2, 404 ×1")
    expect(text).toContain("BadStatus ×1, InvalidUrl ×1")
    expect(text).toContain("max 30.0 ms")
    expect(text).toContain("2.0/s")
    expect(text).toContain("5 skipped")
    expect(text).toContain("3 in-flight")
  })

  it("bars are proportional to time", () => {
    const lines = renderBars([
      { label: "http://h/slow", ms: 100, note: "200" },
      { label: "http://h/half", ms: 50, note: "200" },
      { label: "http://h/tiny", ms: 0.1, note: "InvalidUrl" }
    ], 40)
    const marks = lines.map((line) => (line.match(/#+$/)?.[0] ?? "").length)
    expect(marks).toEqual([40, 20, 1])
    expect(lines[0]).toContain("100.0 ms")
  })

  it("a timeline places each bar where its request started", () => {
    const [first, second] = renderTimeline(
      [
        { label: "a", startMs: 0, ms: 50, note: "200" },
        { label: "b", startMs: 50, ms: 50, note: "200" }
      ],
      100,
      20
    )
    expect(first).toContain(`|${"#".repeat(10)}${" ".repeat(10)}|`)
    expect(second).toContain(`|${" ".repeat(10)}${"#".repeat(10)}|`)
  })
})

describe("progress line", () => {
  it("done/total, ok/failed, in flight, rate and ETA", () => {
    const line = renderProgress({ done: 250, total: 1000, ok: 240, failed: 10, inFlight: 64, elapsedMs: 5000 }, 200)
    expect(line).toBe("250/1000 (25%)  ok 240  failed 10  in flight 64  50.0/s  ETA 15s")
  })

  it("drawn only on a terminal, never with --quiet", () => {
    expect(showProgress({ quiet: false, stderrIsTTY: true })).toBe(true)
    expect(showProgress({ quiet: true, stderrIsTTY: true })).toBe(false)
    expect(showProgress({ quiet: false, stderrIsTTY: false })).toBe(false)
  })

  it("without a total: no percentage and no ETA; never wider than the terminal", () => {
    const line = renderProgress({ done: 7, total: undefined, ok: 7, failed: 0, inFlight: 1, elapsedMs: 1000 }, 200)
    expect(line).toBe("7  ok 7  failed 0  in flight 1  7.0/s")
    expect(renderProgress({ done: 7, total: 9, ok: 7, failed: 0, inFlight: 1, elapsedMs: 1000 }, 20).length).toBeLessThan(20)
  })
})

describe("cluster status (text)", () => {
  const origin = (name: string, pending: number) => ({ origin: name, total: pending + 1, done: 1, ok: 1, failed: 0, inFlight: 0, pending, perSecond: 0.5 })
  const progress: Cluster.JobProgress = {
    job: "job-t",
    total: 100,
    done: 40,
    ok: 38,
    failed: 2,
    submitting: false,
    finished: false,
    createdAt: new Date(0),
    pending: 60,
    inFlight: 3,
    runners: [{ runner: "10.0.0.5:34431", done: 40, ok: 38, failed: 2, inFlight: 3, perSecond: 4 }],
    origins: Array.from({ length: 12 }, (_, i) => origin(`http://h${i}.example`, 12 - i)),
    perSecond: 4,
    etaSeconds: 15
  }

  it("shows the job, every runner and the top origins by pending, and says how many it left out", () => {
    const lines = renderClusterProgress(progress, 3)
    expect(lines[0]).toBe("job job-t  running  40/100 done (38 ok, 2 failed), 60 pending, 3 in flight")
    expect(lines[1]).toBe("rate 4.0 URLs/s over the last 10 s, ETA 15s")
    expect(lines.find((l) => l.startsWith("10.0.0.5:34431"))?.split(/ +/)).toEqual(["10.0.0.5:34431", "40", "2", "3", "4.0"])
    expect(lines.filter((l) => l.startsWith("http://")).map((l) => l.split(/ +/))).toEqual([
      ["http://h0.example", "1", "0", "0", "12", "0.5"],
      ["http://h1.example", "1", "0", "0", "11", "0.5"],
      ["http://h2.example", "1", "0", "0", "10", "0.5"]
    ])
    expect(lines.some((l) => l.startsWith("origin (top 3 of 12 by pending)"))).toBe(true)
    // the columns line up under their headings
    const header = lines.find((l) => l.startsWith("origin"))!
    expect(lines.filter((l) => l.startsWith("http://")).every((l) => l.length === header.length)).toBe(true)
    expect(renderClusterProgress(progress).length).toBeLessThan(24)
  })

  it.each([[null, "unknown"], [0, "0s"], [59.4, "59s"], [61, "1m 01s"], [3600 * 2 + 7 * 60, "2h 07m"]] as const)("ETA %s reads %s", (s, text) => {
    expect(formatEta(s)).toBe(text)
  })

  it("lists every job, one row each, or says there is none", () => {
    expect(renderClusterJobs([])).toEqual(["no jobs in this storage"])
    const lines = renderClusterJobs([progress, { ...progress, job: "job-u", submitting: true, total: 7, done: 0, ok: 0, failed: 0 }])
    expect(lines.map((l) => l.split(/ +/))).toEqual([
      ["job", "state", "total", "done", "ok", "failed", "created"],
      ["job-t", "running", "100", "40", "38", "2", "1970-01-01T00:00:00.000Z"],
      ["job-u", "submitting", "7", "0", "0", "0", "1970-01-01T00:00:00.000Z"]
    ])
  })

  it("says why there is no ETA", () => {
    expect(renderClusterProgress({ ...progress, etaSeconds: null, perSecond: 0 })[1]).toContain("ETA unknown (nothing stored in the last 10 s)")
    expect(renderClusterProgress({ ...progress, etaSeconds: null, submitting: true })[1]).toContain("ETA unknown (still submitting)")
  })
})

describe("record batches", () => {
  const limits = { maxChars: 20, maxRecords: 3, maxAgeMs: 100 }

  it("is due when full by records, by characters, or by the age of its first record, and never when empty", () => {
    const batch = new RecordBatch<number>(limits)
    expect(batch.isDue(1e9)).toBe(false)
    batch.add(1, "a\n", "", 1000)
    expect(batch.isDue(1099)).toBe(false)
    expect(batch.isDue(1100)).toBe(true)
    batch.add(2, "b\n", "", 1050)
    batch.add(3, "c\n", "", 1060)
    expect(batch.isDue(1000)).toBe(true) // three records
    const bytes = new RecordBatch<number>(limits)
    bytes.add(1, `${"x".repeat(19)}\n`, "", 0)
    expect(bytes.isDue(0)).toBe(true)
    const rows = new RecordBatch<number>(limits)
    rows.add(1, "a\n", `${"x".repeat(19)}\n`, 0)
    expect(rows.isDue(0)).toBe(true)
  })

  it("take hands over everything in order once, and the age starts again with the next record", () => {
    const batch = new RecordBatch<number>(limits)
    batch.add(1, "a\n", "A\n", 0)
    batch.add(2, "b\n", "B\n", 50)
    expect(batch.take()).toEqual({ lines: "a\nb\n", rows: "A\nB\n", records: [1, 2] })
    expect(batch.take()).toBeUndefined()
    expect(batch.size).toBe(0)
    batch.add(3, "c\n", "", 500)
    expect(batch.isDue(550)).toBe(false)
    expect(batch.isDue(600)).toBe(true)
  })
})

describe("resume keys", () => {
  const secret = FastCheck.uint8Array({ minLength: 0, maxLength: 64 })
  const message = FastCheck.oneof(
    FastCheck.string({ unit: "binary", maxLength: 300 }),
    FastCheck.string({ unit: "grapheme-ascii", minLength: 40, maxLength: 140 })
  )

  it.prop("the JavaScript HMAC-SHA256 gives node:crypto's digest, for any key up to a block and any message", [secret, message], ([key, text]) => {
    expect(HmacSha256.make(key, 64)(text)).toBe(createHmac("sha256", key).update(text).digest("hex"))
  }, { fastCheck: { numRuns: 2000, seed: 20261203 } })

  it.prop("keyer gives keyOf's key for every input, with one keyer reused", [
    FastCheck.array(FastCheck.string({ unit: "binary", maxLength: 200 }), { maxLength: 20 })
  ], ([inputs]) => {
    const key = InputKey.fresh()
    const keyOf = InputKey.keyer(key, "POST")
    for (const input of inputs) expect(keyOf(input)).toBe(InputKey.keyOf(key, "POST", input))
  })

  it("message lengths around the block boundaries", () => {
    const key = InputKey.fresh()
    const hmac = HmacSha256.make(key, 32)
    for (let n = 0; n < 200; n++) {
      const text = "x".repeat(n)
      expect(hmac(text)).toBe(createHmac("sha256", key).update(text).digest("hex").slice(0, 32))
    }
  })
})

describe("resume file", () => {
  const line = (url: string) => Records.toLine(Records.fromResponse(url, response()))

  it("tail repair: nothing, a complete record without its newline, or a torn one", () => {
    expect(Resume.tailRepair("")).toBe("none")
    expect(Resume.tailRepair(line("http://h/a").trimEnd())).toBe("terminate")
    expect(Resume.tailRepair(line("http://h/a").slice(0, 20))).toBe("truncate")
  })

  it.effect("a torn last line is cut off; the URLs before it are done", () =>
    Effect.gen(function*() {
      const file = path.join(tmpDir(), "out.ndjson")
      const intact = line("http://h/1") + line("http://h/2")
      fs.writeFileSync(file, intact + line("http://h/3").slice(0, 25))
      const state = yield* Resume.load(file)
      expect(state.repair).toBe("truncate")
      expect([...state.done]).toEqual(["http://h/1", "http://h/2"])
      expect(fs.readFileSync(file, "utf8")).toBe(intact)
    }))

  it.effect("a complete last record without newline gets its newline and counts", () =>
    Effect.gen(function*() {
      const file = path.join(tmpDir(), "out.ndjson")
      fs.writeFileSync(file, line("http://h/1") + line("http://h/2").trimEnd())
      const state = yield* Resume.load(file)
      expect(state.repair).toBe("terminate")
      expect(state.done.size).toBe(2)
      expect(fs.readFileSync(file, "utf8")).toBe(line("http://h/1") + line("http://h/2"))
    }))

  it.effect("a file with no newline at all, and a missing file", () =>
    Effect.gen(function*() {
      const file = path.join(tmpDir(), "out.ndjson")
      fs.writeFileSync(file, "{\"url\":\"http://h/")
      const state = yield* Resume.load(file)
      expect(state.done.size).toBe(0)
      expect(fs.readFileSync(file, "utf8")).toBe("")
      const missing = yield* Resume.load(path.join(tmpDir(), "nothing.ndjson"))
      expect(missing.done.size).toBe(0)
    }))
})

describe("exit codes", () => {
  it.each(
    [
      ["success", Exit.void, 0],
      ["some inputs failed", Exit.fail(new SomeFailed({ failed: 3 })), 1],
      ["run failed", Exit.fail(new RunFailed({ message: "disk full" })), 1],
      ["usage", Exit.fail(new UsageError({ message: "bad" })), 2],
      ["bad option", Exit.fail(ValidationError.invalidValue(HelpDoc.p("bad"))), 2],
      ["interrupted", Exit.interrupt(FiberId.none), 130],
      ["defect", Exit.die(new Error("boom")), 1]
    ] as const
  )("%s", (_, exit, code) => {
    expect(exitCodeOf(exit as Exit.Exit<unknown, unknown>)).toBe(code)
  })

  it("options may follow the positional arguments", () => {
    expect(optionsFirst(["fetch", "urls.txt", "--out", "o.ndjson", "-c", "64", "--resume", "-H", "A: b"])).toEqual(
      ["fetch", "--out", "o.ndjson", "-c", "64", "--resume", "-H", "A: b", "urls.txt"]
    )
    expect(optionsFirst(["fetch", "-", "--out=o", "-q"])).toEqual(["fetch", "--out=o", "-q", "-"])
    expect(optionsFirst(["--help"])).toEqual(["--help"])
    expect(optionsFirst(["bench", "http://h/{i}", "-n", "5", "--", "-x"])).toEqual(["bench", "-n", "5", "http://h/{i}", "--", "-x"])
  })

  it("bench templates", () => {
    expect(expand("http://h/{i}?again={i}", 3)).toEqual(["http://h/1?again=1", "http://h/2?again=2", "http://h/3?again=3"])
  })
})

describe("the command line as a Unix tool", () => {
  it("the flags moved before positionals are read from the commands' definitions", () => {
    expect([...flagNames].sort()).toEqual(
      [...builtInFlags, "--adaptive", "--h2", "--http2", "--ordered", "--quiet", "--resume", "--retry-failed", "--revalidate", "--tls", "-q"].sort()
    )
    expect([...subcommands]).toEqual(["fetch", "serve", "bench"])
    // A boolean option added to a command is found; an option with a value is not.
    const usage = Options.getUsage(Options.all([
      Options.boolean("newflag").pipe(Options.withAlias("n")),
      Options.text("named").pipe(Options.optional)
    ]))
    expect(flagNamesOf(usage).sort()).toEqual(["--newflag", "-n"])
    expect(optionsFirst(["fetch", "urls.txt", "--ordered", "--quiet", "-c", "2"])).toEqual(
      ["fetch", "--ordered", "--quiet", "-c", "2", "urls.txt"]
    )
  })

  it("colour only on a terminal without NO_COLOR", () => {
    expect(colorFor({ isTTY: true }, {})).toBe(true)
    expect(colorFor({ isTTY: true }, { NO_COLOR: "" })).toBe(true)
    expect(colorFor({ isTTY: true }, { NO_COLOR: "1" })).toBe(false)
    expect(colorFor({ isTTY: false }, {})).toBe(false)
    expect(colorFor({}, {})).toBe(false)
  })

  it("help text loses @effect/cli's type notes, names the program, and its escapes unless colour", () => {
    const text = [
      "\x1b[0;1mUSAGE\x1b[0m",
      "",
      "$ fetch [--resume] [<FILE>]",
      "",
      "\x1b[0;1m--rate RATE\x1b[0m",
      "",
      "  A user-defined piece of text.",
      "",
      "  Requests started per host.",
      "",
      "  This setting is optional.",
      "",
      "  This setting is optional. Defaults to: 32",
      ""
    ].join("\n")
    const plain = cleanCliText(text, false)
    expect(plain).toBe(["USAGE", "", "$ gather fetch [--resume] [<FILE>]", "", "--rate RATE", "", "  Requests started per host.", ""].join("\n"))
    const colored = cleanCliText(text, true)
    expect(colored).toContain("\x1b[0;1mUSAGE\x1b[0m")
    expect(stripAnsi(colored)).toBe(plain)
  })

  it("table: a header for every column, no time for an input never sent", () => {
    expect(tableHeader.trim().split(/\s+/)).toEqual(["STATUS", "TIME", "BYTES", "ERROR", "URL"])
    const invalid = tableRow(Records.fromError(
      "nope",
      new FetchError.InvalidUrl({ method: "GET", url: "nope", attempt: 1, elapsedMs: 0.004, timing: timingOf(-1, 0.004), reason: "Malformed" })
    ))
    expect(invalid.trim().split(/\s+/)).toEqual(["ERR", "-", "-", "InvalidUrl", "nope"])
    const ok = tableRow(Records.fromResponse("http://h/1", response({ timing: timingOf(1, 12.5) })))
    expect(ok).toContain("12.5 ms")
    expect(ok.trim().split(/\s+/).slice(-2)).toEqual(["-", "http://h/1"])
  })

  it.prop("the latency histogram counts every request once, in at most 10 rows", [
    FastCheck.array(FastCheck.double({ min: 0, max: 600_000, noNaN: true }), { minLength: 1, maxLength: 500 })
  ], ([values]) => {
    const histogram = new LatencyHistogram()
    for (const value of values) histogram.add(value)
    const rows = renderHistogram(histogram)
    expect(rows.length).toBeGreaterThanOrEqual(1)
    expect(rows.length).toBeLessThanOrEqual(10)
    const counts = rows.map((row) => Number(/\s(\d+)(?: #+)?$/.exec(row)![1]))
    expect(counts.reduce((a, b) => a + b, 0)).toBe(values.length)
    const marks = rows.map((row) => (row.match(/#+$/)?.[0] ?? "").length)
    expect(Math.max(...marks)).toBe(40)
  })

  it("--format past a screenful is a histogram (the chart stays short)", () => {
    expect(maxBarRows).toBeLessThanOrEqual(60)
    expect(Parse.parseChoice("format", ["ndjson", "table", "bars"])("csv")).toEqual(
      Either.left("--format must be one of ndjson, table, bars, got \"csv\"")
    )
    expect(Parse.parseChoice("format", ["ndjson", "table", "bars"])("Table")).toEqual(Either.right("table"))
  })
})

// ---------------------------------------------------------------------------
// the real process
// ---------------------------------------------------------------------------

interface Run {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

interface Spawned {
  readonly child: ChildProcess
  readonly done: Promise<Run>
  readonly stdout: () => string
}

// Each process spends about 2 s of CPU loading its modules; on two cores a
// few at a time finish sooner than all at once.
const maxProcesses = 4
let running = 0
const waiting: Array<() => void> = []
const slot = async (): Promise<() => void> => {
  if (running >= maxProcesses) await new Promise<void>((resolve) => waiting.push(resolve))
  running++
  return () => {
    running--
    waiting.shift()?.()
  }
}

const limited = <A>(f: () => Promise<A>): Promise<A> => slot().then((release) => f().finally(release))

// Every child still running when the tests end (a failed test) is killed.
const children = new Set<ChildProcess>()

interface RunOptions {
  readonly stdin?: string
  readonly env?: Readonly<Record<string, string | undefined>>
}

const gather = (args: ReadonlyArray<string>, options: RunOptions = {}): Spawned => {
  const child = spawn(process.execPath, ["--import", "tsx", "src/bin.ts", ...args], {
    cwd: repo,
    env: { ...process.env, ...options.env },
    stdio: ["pipe", "pipe", "pipe"]
  })
  children.add(child)
  child.on("exit", () => children.delete(child))
  let stdout = ""
  let stderr = ""
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk))
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
  child.stdin!.end(options.stdin ?? "")
  const done = new Promise<Run>((resolve, reject) => {
    child.on("error", reject)
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }))
  })
  return { child, done, stdout: () => stdout }
}

const run = (args: ReadonlyArray<string>, options: RunOptions = {}): Promise<Run> => limited(() => gather(args, options).done)

/** Starts a process once a slot is free; the slot is held until it exits. */
const start = async (args: ReadonlyArray<string>): Promise<Spawned> => {
  const release = await slot()
  const spawned = gather(args)
  spawned.done.finally(release)
  return spawned
}

const until = async (predicate: () => boolean, timeoutMs = 20_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error("timed out waiting")
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

const parseNdjson = (text: string): Array<Records.ResultRecord> => {
  expect(text === "" || text.endsWith("\n")).toBe(true)
  return text.split("\n").filter((l) => l !== "").map((l) => {
    const record = Records.parseLine(l)
    expect(record, `not a record: ${l}`).toBeDefined()
    return record!
  })
}

const lineCount = (file: string): number => {
  try {
    return fs.readFileSync(file, "utf8").split("\n").length - 1
  } catch {
    return 0
  }
}

let scope: Scope.CloseableScope
let server: DemoServer.DemoServer

beforeAll(async () => {
  scope = Effect.runSync(Scope.make())
  server = await Effect.runPromise(Scope.extend(DemoServer.make({ port: 0 }), scope))
})

afterAll(async () => {
  for (const child of children) child.kill("SIGKILL")
  await Effect.runPromise(Scope.close(scope, Exit.void))
  fs.rmSync(tmpRoot, { recursive: true, force: true })
})

describe.concurrent("gather (the process)", { timeout: 60_000 }, () => {
  it("fetch from stdin: one record per input, invalid lines too, credentials redacted, bars, no progress off a TTY", async () => {
    const base = server.baseUrl
    const inputs = [
      `${base}/delay/600`,
      `${base}/api/v2/pokemon/25`,
      `${base}/status/404`,
      "not a url",
      "ftp://example.invalid/file",
      `http://user:hunter2@${base.slice("http://".length)}/headers?token=s3cret`
    ]
    const out = path.join(tmpDir(), "out.ndjson")
    const stdin = ["# a comment", inputs[0], "", ...inputs.slice(1), "   "].join("\n")
    // Options after the positional argument, as people type them.
    const result = await run(["fetch", "-", "-c", "4", "--retries", "0", "--out", out, "--format", "bars", "--ordered"], { stdin })
    expect(result.code).toBe(1)
    const records = parseNdjson(fs.readFileSync(out, "utf8"))
    expect(records.map((r) => r.url)).toEqual(inputs.map(Records.displayUrl)) // --ordered
    const byUrl = new Map(records.map((r) => [r.url, r]))
    expect(byUrl.get(`${base}/api/v2/pokemon/25`)).toMatchObject({ ok: true, status: 200, attempts: 1, final_url: `${base}/api/v2/pokemon/25` })
    expect(byUrl.get(`${base}/api/v2/pokemon/25`)!.bytes).toBeGreaterThan(0)
    expect(byUrl.get(`${base}/status/404`)).toMatchObject({ ok: false, status: 404, error: { tag: "BadStatus" } })
    expect(byUrl.get("not a url")?.error?.tag).toBe("InvalidUrl")
    expect(byUrl.get("ftp://example.invalid/file")?.error?.tag).toBe("InvalidUrl")
    expect(records.filter((r) => r.ok)).toHaveLength(3)
    const written = fs.readFileSync(out, "utf8")
    expect(written).not.toContain("hunter2")
    expect(written).not.toContain("s3cret")
    // stdout: the bar chart, one bar per input in input order, the slowest full.
    const bars = result.stdout.trimEnd().split("\n")
    expect(bars).toHaveLength(inputs.length)
    const marks = bars.map((line) => (line.match(/#+$/)?.[0] ?? "").length)
    expect(marks[0]).toBe(40)
    expect(Math.max(...marks.slice(1))).toBeLessThan(40)
    expect(bars[3]).toContain("InvalidUrl")
    // stderr: the summary, and nothing of the progress line.
    expect(result.stderr).toContain("gather: 6 done")
    expect(result.stderr).toContain("InvalidUrl ×2")
    expect(result.stderr).toMatch(/latency +p50 [\d.]+ m?s, p95/)
    expect(result.stderr).not.toContain("\r")
    expect(result.stderr).not.toContain("in flight")
  })
  it("--resume after a run killed half-way: exactly one record per URL, torn line repaired", async () => {
    const dir = tmpDir()
    const urls = Array.from({ length: 80 }, (_, i) => `${server.baseUrl}/delay/40?i=${i}`)
    const file = path.join(dir, "urls.txt")
    const out = path.join(dir, "out.ndjson")
    fs.writeFileSync(file, urls.join("\n") + "\n")
    const first = await start(["fetch", file, "--out", out, "-c", "2"])
    await until(() => lineCount(out) >= 15)
    first.child.kill("SIGKILL")
    const killed = await first.done
    expect(killed.signal).toBe("SIGKILL")
    const before = lineCount(out)
    expect(before).toBeLessThan(urls.length)
    // What a kill in the middle of a write would leave.
    fs.appendFileSync(out, "{\"url\":\"http://127.0.0.1:1/torn\",\"ok\":tr")
    const second = await run(["fetch", file, "--out", out, "--resume", "-c", "16"])
    expect(second.code).toBe(0)
    expect(second.stderr).toContain("removed a torn last line")
    expect(second.stderr).toContain(`${before} skipped`)
    expect(second.stderr).toContain(`gather: ${urls.length - before} done`)
    const records = parseNdjson(fs.readFileSync(out, "utf8"))
    expect(records.map((r) => r.url).sort()).toEqual([...urls].sort())
    expect(records.every((r) => r.ok)).toBe(true)
  })
  it("SIGINT mid-run: no new inputs, in-flight requests aborted, finished records flushed, summary, exit 130", async () => {
    // A server of its own, so its counters see only this run.
    const own = Effect.runSync(Scope.make())
    try {
      const demo = await Effect.runPromise(Scope.extend(DemoServer.make({ port: 0 }), own))
      const dir = tmpDir()
      const first = `${demo.baseUrl}/hang?h=0`
      const fast = Array.from({ length: 10 }, (_, i) => `${demo.baseUrl}/delay/0?fast=${i}`)
      const hanging = Array.from({ length: 4 }, (_, i) => `${demo.baseUrl}/hang?h=${i + 1}`)
      const slow = Array.from({ length: 200 }, (_, i) => `${demo.baseUrl}/delay/8000?slow=${i}`)
      const file = path.join(dir, "urls.txt")
      const out = path.join(dir, "out.ndjson")
      fs.writeFileSync(file, [first, ...fast, ...hanging, ...slow].join("\n"))
      // --ordered and a first input that never answers: the fast records are
      // finished but held back, so only the flush on Ctrl-C can write them.
      const child = await start(["fetch", file, "--out", out, "-c", "20", "--ordered"])
      const stats = () => Effect.runSync(demo.stats)
      await until(() => stats().requests - stats().inFlight >= fast.length && stats().inFlight === 20)
      await new Promise((resolve) => setTimeout(resolve, 300))
      expect(lineCount(out)).toBe(0)
      const requested = stats().requests
      const signalledAt = Date.now()
      child.child.kill("SIGINT")
      const result = await child.done
      expect(result.code).toBe(130)
      expect(Date.now() - signalledAt).toBeLessThan(5000) // not waiting for /hang or /delay/8000
      const records = parseNdjson(fs.readFileSync(out, "utf8"))
      expect(records.length).toBeGreaterThan(0)
      expect(records.map((r) => r.url)).toEqual(fast.slice(0, records.length)) // in input order
      expect(records.every((r) => r.ok)).toBe(true)
      expect(result.stderr).toContain(`gather: ${records.length} done`)
      expect(result.stderr).toMatch(/interrupted: no new inputs taken, \d+ in-flight request\(s\) aborted/)
      // No request after the signal, and every one in flight was cut.
      await until(() => stats().inFlight === 0, 5000)
      expect(stats().requests).toBe(requested)
      expect(stats().aborted).toBe(requested - fast.length)
    } finally {
      await Effect.runPromise(Scope.close(own, Exit.void))
    }
  })
  it("SIGKILL while the rest hang: every record finished before is already in the file (a batch waits at most its age)", async () => {
    const dir = tmpDir()
    const fast = Array.from({ length: 5 }, (_, i) => `${server.baseUrl}/delay/0?batch=${i}`)
    const hanging = Array.from({ length: 4 }, (_, i) => `${server.baseUrl}/hang?batch=${i}`)
    const file = path.join(dir, "urls.txt")
    const out = path.join(dir, "out.ndjson")
    fs.writeFileSync(file, [...hanging, ...fast].join("\n"))
    // No outcome comes after the fast ones: only the batch's age sends them.
    const child = await start(["fetch", file, "--out", out, "-c", "16"])
    await until(() => lineCount(out) >= fast.length)
    child.child.kill("SIGKILL")
    expect((await child.done).signal).toBe("SIGKILL")
    const records = parseNdjson(fs.readFileSync(out, "utf8"))
    expect(records.map((r) => r.url).sort()).toEqual([...fast].sort())
    expect(records.every((r) => r.ok && r.key !== undefined && r.line !== undefined)).toBe(true)
  })
  it("serve: prints its URL, serves the demo routes, exits 130 on SIGTERM", async () => {
    const child = await start(["serve", "--port", "0", "--latency", "10ms"])
    await until(() => /listening on http:\/\/127\.0\.0\.1:\d+/.test(child.stdout()))
    const url = /http:\/\/127\.0\.0\.1:\d+/.exec(child.stdout())![0]
    const pikachu = await (await fetch(`${url}/api/v2/pokemon/25`)).json() as { readonly name: string }
    expect(pikachu.name).toBe("pikachu")
    child.child.kill("SIGTERM")
    const result = await child.done
    expect(result.code).toBe(130)
    expect(result.stderr).toContain("served 1 requests")
  })
  it("serve --tls / --h2: an https URL and a CA file; fetch --ca trusts it, fetch without it fails with Tls; the CA file goes on exit", async () => {
    for (const flag of ["--tls", "--h2"]) {
      const child = await start(["serve", "--port", "0", flag])
      await until(() => /CA certificate: \S+\n/.test(child.stdout()), 50_000)
      const url = /https:\/\/127\.0\.0\.1:\d+/.exec(child.stdout())![0]
      const ca = /CA certificate: (\S+)\n/.exec(child.stdout())![1]!
      expect(fs.readFileSync(ca, "utf8")).toMatch(/^-----BEGIN CERTIFICATE-----/)
      expect(fs.readFileSync(ca, "utf8")).not.toContain("PRIVATE KEY")
      const urls = `${url}/api/v2/pokemon/25\n${url}/redirect/2\n`
      const trusted = await run(["fetch", "--ca", ca, "-q", ...(flag === "--h2" ? ["--http2"] : [])], { stdin: urls })
      expect(trusted.code, trusted.stderr).toBe(0)
      const records = parseNdjson(trusted.stdout)
      expect(records.map((r) => r.status)).toEqual([200, 200])
      const untrusted = await run(["fetch", "-q", "--retries", "3"], { stdin: `${url}/api/v2/pokemon/25\n` })
      expect(untrusted.code).toBe(1)
      const [failed] = parseNdjson(untrusted.stdout)
      expect(failed!.error!.tag).toBe("ConnectionError")
      expect(failed!.error!.message).toMatch(/TLS with 127\.0\.0\.1:\d+ failed: its certificate is not signed by a trusted authority/)
      expect(failed!.attempts).toBe(1)
      child.child.kill("SIGTERM")
      expect((await child.done).code).toBe(130)
      expect(fs.existsSync(ca)).toBe(false)
    }
  }, 240_000)
  it("fetch and cluster runner refuse the same session flags with the same one-line usage error", async () => {
    const runner = ["cluster", "runner", "--storage", "sqlite:/nonexistent/never-opened.db"]
    // The same declaration in both commands: the same message from each.
    for (const args of [["fetch", "-q"], runner]) {
      const retries = await run([...args, "--retries", "-1"], { stdin: "" })
      expect(retries.code).toBe(2)
      expect(retries.stderr).toContain("--retries must be 0 or more, got -1")
    }
    const rate = await run([...runner, "--rate", "fast"], { stdin: "" })
    expect(rate.code).toBe(2)
    expect(rate.stderr).toContain("--rate: invalid rate")
    const timeout = await run([...runner, "--timeout", "soon"], { stdin: "" })
    expect(timeout.code).toBe(2)
    expect(timeout.stderr).toContain("--timeout")
  }, 120_000)
  it("fetch --ca with a missing file or a file that is not a certificate is a usage error", async () => {
    const dir = tmpDir()
    const notPem = path.join(dir, "not.pem")
    fs.writeFileSync(notPem, "hello")
    const missing = await run(["fetch", "--ca", path.join(dir, "nope.pem"), "-q"], { stdin: "https://127.0.0.1:1/\n" })
    expect(missing.code).toBe(2)
    expect(missing.stderr).toMatch(/--ca .*nope\.pem: cannot read it \(ENOENT\)/)
    const bad = await run(["fetch", "--ca", notPem, "-q"], { stdin: "https://127.0.0.1:1/\n" })
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(/not a PEM certificate/)
  })
  it("on a terminal a live progress line is drawn on stderr", async () => {
    const dir = tmpDir()
    const file = path.join(dir, "urls.txt")
    fs.writeFileSync(file, Array.from({ length: 4 }, (_, i) => `${server.baseUrl}/delay/300?i=${i}`).join("\n"))
    // `script` runs the command on a pseudo-terminal and copies what it shows.
    const command = `${process.execPath} --import tsx src/bin.ts fetch ${file} -c 1 --out ${path.join(dir, "out.ndjson")}`
    const shown = await limited(() => {
      const child = spawn("script", ["-qec", command, "/dev/null"], { cwd: repo, stdio: ["ignore", "pipe", "pipe"] })
      children.add(child)
      child.on("exit", () => children.delete(child))
      let text = ""
      child.stdout.setEncoding("utf8").on("data", (chunk: string) => (text += chunk))
      return new Promise<{ readonly code: number | null; readonly text: string }>((resolve) => child.on("close", (code) => resolve({ code, text })))
    })
    expect(shown.code).toBe(0)
    expect(shown.text).toContain("\r\x1b[2K")
    expect(shown.text).toMatch(/\d\/4 \(\d+%\) {2}ok \d {2}failed 0 {2}in flight 1/)
    expect(shown.text).toContain("gather: 4 done")
  })
  it("--body-dir: bodies saved under safe names, nothing written outside the directory", async () => {
    const root = tmpDir()
    const bodies = path.join(root, "deep", "bodies")
    const base = server.baseUrl
    const urls = [
      `${base}/json/..%2F..%2F..%2Fescaped`,
      `${base}/json/%2e%2e%2f%2e%2e%2fetc%2fpasswd`,
      `${base}/api/v2/pokemon/1?name=../../../../tmp/evil`,
      `${base}/json/a%00b`,
      `${base}/api/v2/pokemon/2?q=${"x".repeat(1500)}`,
      `${base}/api/v2/pokemon/25`
    ]
    const result = await run(["fetch", "-", "--body-dir", bodies, "--retries", "0"], { stdin: urls.join("\n") })
    expect(result.code).toBe(0)
    const records = parseNdjson(result.stdout)
    expect(records).toHaveLength(urls.length)
    const files = fs.readdirSync(bodies)
    expect(files.sort()).toEqual(records.map((r) => r.body_file!).sort())
    for (const record of records) {
      const name = record.body_file!
      expect(name).not.toContain("..")
      expect(name.length).toBeLessThanOrEqual(maxNameLength)
      const stat = fs.lstatSync(path.join(bodies, name))
      expect(stat.isFile()).toBe(true)
      expect(stat.size).toBe(record.bytes)
    }
    // Nothing appeared beside or above the body directory.
    expect(fs.readdirSync(root)).toEqual(["deep"])
    expect(fs.readdirSync(path.join(root, "deep"))).toEqual(["bodies"])
  })
  it("--report: writes a self-contained page with a row per URL, credentials redacted, and prints its path", async () => {
    const root = tmpDir()
    const file = path.join(root, "run.html")
    const base = server.baseUrl
    const urls = [`${base}/bytes/10`, `${base}/status/404`, `${base}/redirect/1?token=hunter2`, "not a url"]
    const result = await run(["fetch", "-", "--report", file, "--retries", "0", "-c", "3"], { stdin: urls.join("\n") })
    expect(result.code).toBe(1)
    expect(result.stderr).toContain(`report: ${file}`)
    const html = fs.readFileSync(file, "utf8")
    expect(html).not.toContain("hunter2")
    expect(html).not.toMatch(/<script[^>]+src=|<link /)
    const data = JSON.parse(/<script type="application\/json" id="report-data">([\s\S]*?)<\/script>/.exec(html)![1]!)
    expect(data.total).toBe(4)
    expect(data.limits).toEqual([3])
    expect(data.errors.map((e: [string, number]) => e[0]).sort()).toEqual(["BadStatus", "InvalidUrl"])
  })

  it("bench: sequential vs concurrent with bars and the speed-up", async () => {
    // Its own server, so the in-flight peak is this command's alone.
    const scope = await Effect.runPromise(Scope.make())
    try {
      const target = await Effect.runPromise(Scope.extend(DemoServer.make({ port: 0 }), scope))
      const given = await run(["bench", `${target.baseUrl}/delay/250?i={i}`, "-n", "4", "-c", "4"])
      expect(given.code).toBe(0)
      expect(given.stdout).toContain("sequential, 1 at a time")
      expect(given.stdout).toContain("concurrent, 4 at a time")
      expect(given.stdout).toMatch(/#+/)
      const speedUp = Number(/speed-up: ([\d.]+)×/.exec(given.stdout)?.[1])
      // The concurrent half really overlapped its requests (counted by the
      // server, not timed: a busy machine must not fail this test).
      const stats = await Effect.runPromise(target.stats)
      expect(stats.peakInFlight, given.stdout).toBe(4)
      expect(stats.requests).toBeGreaterThanOrEqual(8)
      expect(speedUp, given.stdout).toBeGreaterThan(1)
    } finally {
      await Effect.runPromise(Scope.close(scope, Exit.void))
    }
  })
  it("cluster submit streams a file into storage (no runner needed) and status reads it back", async () => {
    const dir = tmpDir()
    const file = path.join(dir, "urls.txt")
    fs.writeFileSync(file, Array.from({ length: 50 }, (_, i) => `${server.baseUrl}/wiki/${i + 1}`).join("\n") + "\n# a comment\n")
    const storage = `sqlite:${path.join(dir, "jobs.db")}`
    const submitted = await run(["cluster", "submit", file, "--storage", storage, "--job", "job-cli"])
    expect(submitted.code, submitted.stderr).toBe(0)
    expect(submitted.stdout).toBe("job-cli\n")
    const status = await run(["cluster", "status", "job-cli", "--storage", storage, "--json"])
    expect(status.code, status.stderr).toBe(0)
    expect(JSON.parse(status.stdout)).toMatchObject({ job: "job-cli", total: 50, done: 0, pending: 50, submitting: false, finished: false, etaSeconds: null })
    // The storage from the environment (where a URL with a password belongs), not the command line.
    const human = await run(["cluster", "status", "job-cli"], { env: { GATHER_STORAGE: storage } })
    expect(human.code, human.stderr).toBe(0)
    expect(human.stdout).toContain("job job-cli  running  0/50 done (0 ok, 0 failed), 50 pending, 0 in flight")
    expect(human.stdout).toContain("ETA unknown (nothing stored in the last 10 s)")
    expect(human.stdout).toMatch(new RegExp(`\\n${server.baseUrl.replace(/[.]/g, "\\.")} +0 +0 +0 +50 +0\\.0\\n`))
    const pruned = await run(["cluster", "prune", "job-cli", "--storage", storage])
    expect(pruned.code, pruned.stderr).toBe(0)
    expect(pruned.stdout).toBe("job job-cli: deleted with its 0 results\n")
    const gone = await run(["cluster", "status", "job-cli", "--storage", storage])
    expect(gone.code).toBe(2)
    expect(gone.stderr).toContain("no job job-cli")
    // Six CLI processes, each starting node with tsx: about 10 s apiece when the whole suite loads both cores.
  }, 120_000)
  it("cluster status shows the runner and the origin of a job run by a runner, and results --report writes the fetch report", async () => {
    const dir = tmpDir()
    const file = path.join(dir, "urls.txt")
    fs.writeFileSync(file, [...Array.from({ length: 10 }, (_, i) => `${server.baseUrl}/wiki/${i + 1}`), `${server.baseUrl}/status/404`].join("\n") + "\n")
    const storage = `sqlite:${path.join(dir, "jobs.db")}`
    const scope = await Effect.runPromise(Scope.make())
    try {
      const port = await freePort()
      await Effect.runPromise(Layer.buildWithScope(Cluster.layerRunner({ storage, port }), scope))
      expect((await run(["cluster", "submit", file, "--storage", storage, "--job", "job-obs"])).code).toBe(0)
      const reportFile = path.join(dir, "run.html")
      const results = await run(["cluster", "results", "job-obs", "--storage", storage, "--report", reportFile])
      expect(results.code, results.stderr).toBe(0)
      expect(results.stdout.trim().split("\n")).toHaveLength(11)
      expect(results.stderr).toContain(`report: ${reportFile}`)
      const page = fs.readFileSync(reportFile, "utf8")
      expect(page).toContain("<h2>Where the time went</h2>")
      expect(page).toContain("gather cluster results job-obs")
      const status = await run(["cluster", "status", "job-obs", "--storage", storage])
      expect(status.code, status.stderr).toBe(0)
      expect(status.stdout).toContain("job job-obs  finished  11/11 done (10 ok, 1 failed), 0 pending")
      expect(status.stdout).toContain("ETA 0s")
      expect(status.stdout).toMatch(new RegExp(`\\n127\\.0\\.0\\.1:${port} +11 +1 +\\d+ +[\\d.]+\\n`))
      expect(status.stdout).toMatch(new RegExp(`\\n${server.baseUrl.replace(/[.]/g, "\\.")} +11 +1 +\\d+ +0 +[\\d.]+\\n`))
      const json = JSON.parse((await run(["cluster", "status", "job-obs", "--storage", storage, "--json"])).stdout)
      expect(json.origins).toMatchObject([{ origin: server.baseUrl, total: 11, done: 11, failed: 1, pending: 0 }])
      expect(json.runners).toMatchObject([{ runner: `127.0.0.1:${port}`, done: 11, failed: 1 }])
    } finally {
      await Effect.runPromise(Scope.close(scope, Exit.void))
    }
  }, 120_000)
  it("usage errors exit 2", async () => {
    // One refused by the parser, one by the command's own checks.
    const results = await Promise.all([
      run(["fetch", "-", "--rate", "fast"]),
      run(["fetch", "-", "--resume"]),
      run(["serve", "--latency", "20x"]),
      run(["fetch", "-", "--timeout", "soon"]),
      run(["cluster", "runner", "--stats-every", "often"])
    ])
    for (const result of results) expect(result.code, result.stderr).toBe(2)
    expect(results[0]!.stderr).toContain("invalid rate")
    expect(results[1]!.stderr).toContain("--resume needs --out")
    // A duration flag's refusal is one line that names the flag.
    for (const [result, name] of [[results[2]!, "latency"], [results[3]!, "timeout"], [results[4]!, "stats-every"]] as const) {
      expect(result.stderr.trim().split("\n"), result.stderr).toHaveLength(1)
      expect(result.stderr).toContain(`--${name}: invalid duration`)
    }
  })
  it("--help off a terminal: real descriptions, no escapes, no @effect/cli type notes", async () => {
    const result = await run(["fetch", "--help"], { env: { NO_COLOR: undefined } })
    expect(result.code).toBe(0)
    expect(result.stdout).not.toContain("\x1b[")
    expect(result.stdout).toContain("$ gather fetch [(-c, --concurrency N)]")
    expect(result.stdout).toContain("Requests in flight at once (default 32).")
    for (const note of ["A user-defined piece of text.", "An integer.", "A true or false value.", "This setting is optional."]) {
      expect(result.stdout).not.toContain(note)
    }
    expect(result.stdout).toContain("-H \"Authorization: Bearer $TOKEN\"")
  })
  it("--help on a terminal: bold headings, none with NO_COLOR", async () => {
    const onTerminal = (env: string) =>
      limited(() => {
        const command = `${env} ${process.execPath} --import tsx src/bin.ts fetch --help`
        const child = spawn("script", ["-qec", command, "/dev/null"], { cwd: repo, stdio: ["ignore", "pipe", "pipe"] })
        children.add(child)
        child.on("exit", () => children.delete(child))
        let text = ""
        child.stdout.setEncoding("utf8").on("data", (chunk: string) => (text += chunk))
        return new Promise<string>((resolve) => child.on("close", () => resolve(text)))
      })
    const [colored, plain] = await Promise.all([onTerminal("env -u NO_COLOR"), onTerminal("NO_COLOR=1")])
    expect(colored).toContain("\x1b[")
    expect(colored).toContain("DESCRIPTION")
    expect(plain).not.toContain("\x1b[")
    expect(plain).toContain("DESCRIPTION")
  })
  it("--format csv names the option and the choices, exit 2", async () => {
    const result = await run(["fetch", "-", "--format", "csv"])
    expect(result.code).toBe(2)
    expect(result.stderr).toContain("--format must be one of ndjson, table, bars")
  })
  it("--format table and bars: headers, no time for rejected inputs, a histogram past a screenful", async () => {
    const base = server.baseUrl
    const few = ["not a url", `${base}/api/v2/pokemon/1`, `${base}/status/404`]
    const many = ["not a url", ...Array.from({ length: maxBarRows + 10 }, (_, i) => `${base}/api/v2/pokemon/${(i % 151) + 1}`)]
    const [table, bars] = await Promise.all([
      run(["fetch", "-", "--format", "table", "--retries", "0"], { stdin: few.join("\n") }),
      run(["fetch", "-", "--format", "bars", "--retries", "0"], { stdin: many.join("\n") })
    ])
    expect(table.code).toBe(1)
    const rows = table.stdout.trimEnd().split("\n")
    expect(rows[0]!.trim().split(/\s+/)).toEqual(["STATUS", "TIME", "BYTES", "ERROR", "URL"])
    expect(rows).toHaveLength(4)
    const invalid = rows.find((row) => row.endsWith("not a url"))!
    expect(invalid.trim().split(/\s+/).slice(0, 4)).toEqual(["ERR", "-", "-", "InvalidUrl"])
    expect(rows.find((row) => row.includes("/status/404"))).toMatch(/^\s+404\s+[\d.]+ m?s\s+-\s+BadStatus\s/)
    expect(bars.code).toBe(1)
    const chart = bars.stdout.trimEnd().split("\n")
    expect(chart[0]).toBe(`latency of ${many.length - 1} request(s), 1 input(s) never sent left out:`)
    expect(chart.length).toBeLessThanOrEqual(11)
    const counted = chart.slice(1).map((row) => Number(/\s(\d+)(?: #+)?$/.exec(row)![1]))
    expect(counted.reduce((a, b) => a + b, 0)).toBe(many.length - 1)
  })
  it("--help has examples and the exit codes", async () => {
    const result = await run(["fetch", "--help"])
    expect(result.code).toBe(0)
    expect(result.stdout).toContain("Examples:")
    expect(result.stdout).toContain("$ gather fetch urls.txt --out results.ndjson -c 64")
    expect(result.stdout).toContain("130  interrupted")
    expect(result.stdout).toContain("2    usage error")
    expect(result.stdout).toContain("--resume")
    expect(result.stdout).toContain("--body-dir")
  })
})
