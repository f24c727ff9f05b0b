/**
 * The run report at scale (`npm run bench:report`): how long a page of
 * 100,000 requests takes to open and draw in headless Chromium, how large
 * it is, and what recording costs per request. Prints a markdown table (and
 * writes it to bench/REPORT.md unless --out=-). Not a test: nothing fails
 * on a number.
 *
 * The requests are synthetic (recording 100,000 real ones would measure the
 * server): phases drawn from plausible distributions, 3 origins, 4 % failed
 * with mixed tags, 3 % retried, 2 % redirected, some on new connections.
 * Flags: --requests=N (default 100000), --rounds=N (page opens, default 3).
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import type { Segment, Timing } from "../src/Fetch.js"
import { render } from "../src/internal/report/html.js"
import { Recorder } from "../src/internal/report/recorder.js"
import { launch } from "../test/browser/chromium.js"

const flags = new Map(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, "").split("=")
    return [k!, v ?? "true"] as const
  })
)
const requests = Number(flags.get("requests") ?? 100_000)
const rounds = Number(flags.get("rounds") ?? 3)
const benchDir = path.dirname(fileURLToPath(import.meta.url))

let seed = 42
const random = () => {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff
  return seed / 0x7fffffff
}
const lognormal = (median: number, spread: number) => median * Math.exp(spread * (random() + random() + random() - 1.5))

const phases = (at: number, fresh: boolean) => {
  const dispatchMs = at
  const queued = random() < 0.3 ? lognormal(20, 1.5) : lognormal(0.3, 1)
  const connectMs = fresh ? dispatchMs + queued : -1
  const tlsMs = fresh ? connectMs + lognormal(2, 0.5) : -1
  const sentMs = fresh ? tlsMs + lognormal(6, 0.5) : dispatchMs + queued
  const headersMs = sentMs + lognormal(80, 1.2)
  const endMs = headersMs + lognormal(3, 1.5)
  return { dispatchMs, connectMs, tlsMs, sentMs, headersMs, endMs }
}

const tags = ["BadStatus", "Timeout", "ConnectionError"]
const origins = ["https://api.example.test", "https://cdn.example.test", "https://slow.example.test"]

const recorder = new Recorder()
const concurrency = 256
const runMs = requests / 2000 * 1000 // about 2,000 requests per second
const t0 = performance.now()
for (let i = 0; i < requests; i++) {
  const startedAt = recorder.originAt + (i / requests) * runMs
  const previous: Array<Segment> = []
  let at = 0
  const roll = random()
  if (roll < 0.03 || roll > 0.98) {
    const p = phases(0, false)
    previous.push({ ...p, status: roll < 0.03 ? 503 : 302, outcome: roll < 0.03 ? "BadStatus" : "Redirect" })
    at = p.endMs + (roll < 0.03 ? lognormal(100, 0.5) : 0)
  }
  const p = phases(at, i < concurrency || random() < 0.01)
  const failed = random() < 0.04
  const timing: Timing = { startedAt, ...p, totalMs: p.endMs, previous }
  const origin = origins[i % 7 === 0 ? 2 : i % 3 === 0 ? 1 : 0]!
  recorder.onStart(startedAt - performance.timeOrigin)
  recorder.onEnd(startedAt - performance.timeOrigin + p.endMs, {
    url: `${origin}/items/${i}?page=${i % 50}`,
    status: failed ? 503 : 200,
    outcome: failed ? tags[i % 3]! : "ok",
    attempts: previous.length + 1,
    bytes: failed ? 0 : Math.round(lognormal(4000, 1)),
    timing
  })
}
const recordNs = (performance.now() - t0) * 1e6 / requests
recorder.gather(concurrency)

const t1 = performance.now()
const html = render(recorder, performance.now(), { title: `${requests.toLocaleString("en-US")} synthetic requests` })
const renderMs = performance.now() - t1
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "eg-report-bench-"))
const file = path.join(dir, "report.html")
fs.writeFileSync(file, html)
// The floor: the same file with a script that only parses the data, so the
// table can say what reading the page costs this browser on this machine.
const floorFile = path.join(dir, "floor.html")
const lastScript = html.lastIndexOf("<script>")
fs.writeFileSync(
  floorFile,
  html.slice(0, lastScript) +
    `<script>JSON.parse(document.getElementById("report-data").textContent);document.body.setAttribute("data-ready","true")</script></body></html>`
)

const floors: Array<number> = []
const opens: Array<{ readyMs: number; drawMs: number; marks: Record<string, number> }> = []
const browser = await launch()
try {
  // One page, navigated again each round: the packaged Chromium runs as a
  // single process, and closing a page there can take the browser with it.
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } })
  const errors: Array<string> = []
  page.on("pageerror", (error) => errors.push(String(error)))
  for (let round = 0; round < rounds; round++) {
    const started = Date.now()
    await page.goto(`file://${file}?round=${round}`)
    await page.waitForSelector("body[data-ready=true]", { timeout: 120_000 })
    const readyMs = Date.now() - started
    const drawMs = Number(await page.getAttribute("body", "data-drawn-ms"))
    const marks = JSON.parse((await page.getAttribute("body", "data-marks")) ?? "{}") as Record<string, number>
    if (errors.length > 0) throw new Error(`page errors: ${errors.join("; ")}`)
    if (round === 0) await page.screenshot({ path: path.join(dir, "report.png") })
    opens.push({ readyMs, drawMs, marks })
    const floorStarted = Date.now()
    await page.goto(`file://${floorFile}?round=${round}`)
    await page.waitForSelector("body[data-ready=true]", { timeout: 120_000 })
    floors.push(Date.now() - floorStarted)
  }
} finally {
  await browser.close()
}
const median = (xs: Array<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const fmt = (mark: string) => `${Math.round(median(opens.map((o) => o.marks[mark] ?? Number.NaN)))} ms`
const table = `# Run report at scale

${new Date().toISOString()}, node ${process.version}, ${os.cpus().length} cores (${os.cpus()[0]?.model ?? "?"}), load average ${
  os.loadavg().map((l) => l.toFixed(1)).join(" ")
}.
Synthetic requests (see bench/report.ts); the page opened ${rounds} times in headless Chromium from file://.

| requests | page size | record per request | render HTML (node) | open → drawn (median of ${rounds}) | draw only | floor: same file, data parsed only |
|---|---|---|---|---|---|---|
| ${requests.toLocaleString("en-US")} | ${(html.length / 1048576).toFixed(1)} MiB | ${Math.round(recordNs)} ns | ${Math.round(renderMs)} ms | ${
  median(opens.map((o) => o.readyMs))
} ms | ${median(opens.map((o) => o.drawMs))} ms | ${median(floors)} ms |

Open → drawn is from \`page.goto\` to the page's own "drawn" mark: reading the file, parsing the JSON, every chart drawn.
Rounds: ${opens.map((o) => `${o.readyMs} ms`).join(", ")}. In the page (ms since navigation start, median round): HTML loaded and script started ${
  fmt("script")
}, JSON parsed ${fmt("parsed")}, indexes and tables built ${fmt("prepared")}, charts drawn ${fmt("drawn")}. Screenshot of the first: ${
  path.join(dir, "report.png")
}.
`
process.stdout.write(table)
if (flags.get("out") !== "-") fs.writeFileSync(flags.get("out") ?? path.join(benchDir, "REPORT.md"), table)
