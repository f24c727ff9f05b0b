import { describe, expect, it, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as FastCheck from "effect/FastCheck"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Fetch from "../src/Fetch.js"
import * as Gather from "../src/Gather.js"
import { redactUrl } from "../src/internal/engine/redact.js"
import { escapeHtml, render, scriptJson } from "../src/internal/report/html.js"
import { Histogram, originOf, Recorder } from "../src/internal/report/recorder.js"
import * as Report from "../src/Report.js"
import { launch } from "./browser/chromium.js"
import { serverAndSession, timingOf } from "./support.js"

/** The JSON block of a page, parsed. */
const pageData = (html: string) => {
  const match = /<script type="application\/json" id="report-data">([\s\S]*?)<\/script>/.exec(html)
  expect(match).not.toBeNull()
  return JSON.parse(match![1]!)
}

const observe = (recorder: Recorder, url: string, totalMs: number, outcome = "ok") => {
  recorder.onStart(performance.now())
  recorder.onEnd(performance.now(), { url, status: outcome === "ok" ? 200 : 0, outcome, attempts: 1, bytes: 10, timing: timingOf(1, totalMs) })
}

describe("Report (pure)", () => {
  it.prop("JSON in the page cannot close its script tag, and reads back the same", [FastCheck.string({ unit: "binary" })], ([s]) => {
    const embedded = scriptJson({ s, t: `</script><script>${s}` })
    expect(embedded).not.toMatch(/[<>]/)
    expect(embedded).not.toMatch(/[\u2028\u2029]/)
    expect(JSON.parse(embedded)).toEqual({ s, t: `</script><script>${s}` })
  })

  it("text in the page is escaped", () => {
    expect(escapeHtml(`<b a="1">'&`)).toBe("&#60;b a=&#34;1&#34;&#62;&#39;&#38;")
  })

  it.prop("quantiles from the histogram are within its 2 % buckets", [
    FastCheck.array(FastCheck.double({ min: 0.05, max: 60_000, noNaN: true }), { minLength: 1, maxLength: 300 })
  ], ([xs]) => {
    const h = new Histogram()
    for (const x of xs) h.add(x)
    const sorted = [...xs].sort((a, b) => a - b)
    for (const q of [0.5, 0.95, 0.99]) {
      const exact = sorted[Math.max(1, Math.ceil(q * xs.length)) - 1]!
      expect(Math.abs(h.quantile(q) - exact) / exact).toBeLessThan(0.011)
    }
  })

  it("keeps every request up to the limit, then a sample of that size, while totals count all", () => {
    const recorder = new Recorder(50)
    for (let i = 0; i < 1000; i++) observe(recorder, `http://h${i % 3}.test/p/${i}`, 5 + i % 7, i % 10 === 0 ? "Timeout" : "ok")
    expect(recorder.start.length).toBe(50)
    expect(recorder.url.length).toBe(50)
    expect(recorder.finished).toBe(1000)
    expect(recorder.origins.map((o) => o.requests)).toEqual([334, 333, 333])
    expect(recorder.errors.get("Timeout")).toBe(100)
    // A sample, not the first 50: some kept rows come from late requests.
    expect(recorder.url.some((u) => Number(u.split("/").pop()) >= 500)).toBe(true)
    // The page is told, so it can say so.
    const data = pageData(render(recorder, performance.now()))
    expect([data.sampled, data.kept, data.total, data.limit]).toEqual([true, 50, 1000, 50])
    expect(data.rows.phases.length).toBe(50 * 6)
  })

  it("origins are cut from URLs without user info; URLs with a query are redacted", () => {
    expect(originOf("https://user:pw@example.test:8443/a?b")).toBe("https://example.test:8443")
    expect(originOf("http://h.test")).toBe("http://h.test")
    const recorder = new Recorder()
    observe(recorder, "http://h.test/a?token=abc123&page=2", 3)
    expect(recorder.url[0]).toBe("http://h.test/a?token=***&page=2")
  })

  it.prop("a URL kept in a report never shows what redactUrl hides", [
    FastCheck.constantFrom("token", "API_KEY", "%74oken", "Signature", "x-amz-credential", "pwd", "page"),
    FastCheck.stringMatching(/^[a-z0-9]{6,12}$/)
  ], ([name, value]) => {
    const recorder = new Recorder()
    const url = `http://h.test/p?${name}=${value}&q=1`
    observe(recorder, url, 1)
    expect(recorder.url[0]).toBe(redactUrl(url))
  })
})

layer(serverAndSession((server) => ({ baseUrl: server.baseUrl, retry: { times: 1, base: "1 millis" } })), { excludeTestServices: true })(
  "Report (DemoServer)",
  (it) => {
    it.effect("a gather records each request with its phases, retries and redirects; the layer's report is picked up", () =>
      Effect.gen(function*() {
        const report = yield* Report.make({ title: "t" })
        const urls = ["/bytes/100", "/status/503", "/redirect/2", "/status/404?api_key=s3cret"]
        yield* Gather.settle(urls.map((u) => Fetch.get(u)), { concurrency: 2 }).pipe(Effect.provideService(Report.Report, report))
        const data = pageData(yield* Report.html(report))
        expect(data.total).toBe(4)
        expect(data.limits).toEqual([2])
        expect(data.errors).toEqual([["BadStatus", 2]])
        const byUrl = (suffix: string) => data.rows.url.findIndex((u: string) => u.endsWith(suffix))
        expect(data.rows.url[0].startsWith("/")).toBe(true) // stored without the origin
        expect(data.rows.url[byUrl("/status/404?api_key=***")]).toContain("api_key=***")
        expect(JSON.stringify(data)).not.toContain("s3cret")
        // The 503 was retried once: one earlier segment; the redirect had two hops.
        const segmentsOf = (row: number) => data.segments.find((s: Array<number>) => s[0] === row)
        expect(segmentsOf(byUrl("/status/503")).length).toBe(1 + 8)
        expect(segmentsOf(byUrl("/redirect/0")).length).toBe(1 + 2 * 8)
        expect([data.origins[0].retries, data.origins[0].redirects]).toEqual([1, 2])
      }))

    it.effect("Report.track records a fetch outside a gather as a gather would: ok, failure tag, interruption", () =>
      Effect.gen(function*() {
        const report = yield* Report.make({ title: "t" })
        yield* Fetch.get("/bytes/100").pipe(Report.track(report))
        yield* Effect.either(Fetch.get("/status/404").pipe(Report.track(report)))
        yield* Effect.timeout(Fetch.get("/hang").pipe(Report.track(report)), "50 millis").pipe(Effect.ignore)
        const data = pageData(yield* Report.html(report))
        expect(data.total).toBe(3)
        expect(Object.fromEntries(data.errors)).toEqual({ BadStatus: 1, Interrupted: 1 })
        expect(data.rows.url.some((u: string) => u.endsWith("/bytes/100"))).toBe(true)
      }))

    it.effect("Report.layer writes the page when its scope closes", () =>
      Effect.gen(function*() {
        const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "eg-report-")), "run.html")
        yield* Gather.all(["/bytes/10", "/bytes/20"].map((u) => Fetch.get(u))).pipe(Effect.provide(Report.layer(file)))
        const data = pageData(fs.readFileSync(file, "utf8"))
        expect(data.total).toBe(2)
        fs.rmSync(path.dirname(file), { recursive: true, force: true })
      }))

    it.effect("in Chromium from file://: no console errors, the waterfall draws the requests, hover shows one", () =>
      Effect.gen(function*() {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "eg-report-"))
        const file = path.join(dir, "run.html")
        const report = yield* Report.make({ title: "browser test </title><script>window.__injected = 1</script>" })
        const urls = Array.from({ length: 300 }, (_, i) =>
          i % 25 === 0 ? "/status/503" : i % 31 === 0 ? "/redirect/1" : i % 17 === 0 ? "/delay/60" : `/bytes/${i * 10}`)
        urls.push("/status/404/</script><script>window.__injected = 2</script>")
        yield* Gather.settle(
          urls.map((u) =>
            Fetch.get(u)
          ),
          { concurrency: 16, report }
        )
        yield* Report.write(report, file)
        const result = yield* Effect.promise(() => inBrowser(file))
        expect(result.errors).toEqual([])
        expect(result.injected).toBeUndefined()
        expect(result.rowsDrawn).toBe(301)
        // Pixels of the waterfall: many coloured, in the phase colours, and failure marks.
        expect(result.painted).toBeGreaterThan(2000)
        expect(result.colors.waiting).toBeGreaterThan(100)
        expect(result.colors.failure).toBeGreaterThan(10)
        expect(result.tooltip).toMatch(/127\.0\.0\.1:\d+\//)
        expect(result.tooltip).toMatch(/attempt/)
        expect(result.tooltip).toMatch(/waiting \(TTFB\)/)
        fs.rmSync(dir, { recursive: true, force: true })
      }), 240_000)
  }
)

interface BrowserResult {
  readonly errors: ReadonlyArray<string>
  readonly injected: unknown
  readonly rowsDrawn: number
  readonly painted: number
  readonly colors: { readonly waiting: number; readonly failure: number }
  readonly tooltip: string
}

/** Opens the page in headless Chromium, reads the canvas, hovers a bar, saves a screenshot. */
const inBrowser = async (file: string): Promise<BrowserResult> => {
  const browser = await launch()
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
    const errors: Array<string> = []
    page.on("console", (message) => {
      if (message.type() === "error") errors.push(message.text())
    })
    page.on("pageerror", (error) => errors.push(String(error)))
    page.on("request", (request) => {
      if (!request.url().startsWith("file://")) errors.push(`network request: ${request.url()}`)
    })
    await page.goto(`file://${file}`)
    await page.waitForSelector("body[data-ready=true]", { timeout: 120_000 })
    // Runs in the page (a string: this project's types have no DOM).
    const pixels = await page.evaluate(`(() => {
      const canvas = document.getElementById("waterfall")
      const { data, width, height } = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height)
      let painted = 0, waiting = 0, failure = 0, target
      // Skip the time axis (22 css px) and the row labels (54 css px).
      const dpr = canvas.width / canvas.clientWidth
      for (let y = Math.ceil(24 * dpr); y < height; y++) {
        for (let x = Math.ceil(56 * dpr); x < width; x++) {
          const i = (y * width + x) * 4, r = data[i], g = data[i + 1], b = data[i + 2]
          if (r === 255 && g === 255 && b === 255) continue
          painted++
          if (r === 0x22 && g === 0xc5 && b === 0x5e) { waiting++; if (!target) target = [x / dpr, y / dpr] }
          if (r === 0xdc && g === 0x26 && b === 0x26) failure++
        }
      }
      const box = canvas.getBoundingClientRect()
      return {
        painted, waiting, failure,
        target: target && [box.left + target[0], box.top + target[1]],
        rowsDrawn: Number(canvas.getAttribute("data-rows")),
        injected: window.__injected
      }
    })()`) as {
      painted: number
      waiting: number
      failure: number
      target: [number, number] | undefined
      rowsDrawn: number
      injected: unknown
    }
    let tooltip = ""
    if (pixels.target !== undefined) {
      await page.mouse.move(pixels.target[0] + 1, pixels.target[1] + 0.5)
      await page.waitForSelector("#tooltip:not([hidden])", { timeout: 10_000 })
      tooltip = await page.locator("#tooltip").innerText()
    }
    fs.mkdirSync(path.join(import.meta.dirname, "artifacts"), { recursive: true })
    await page.screenshot({ path: path.join(import.meta.dirname, "artifacts", "report.png"), fullPage: true })
    return {
      errors,
      injected: pixels.injected,
      rowsDrawn: pixels.rowsDrawn,
      painted: pixels.painted,
      colors: { waiting: pixels.waiting, failure: pixels.failure },
      tooltip
    }
  } finally {
    await browser.close()
  }
}
