/// <reference lib="dom" />
/**
 * The report page's script, bundled into the page by
 * `scripts/build-report-script.mjs`: it reads the JSON data block and draws
 * the summary, the charts and the tables (no library, no network).
 */
import type { ReportData } from "../pageData.js"
import type { Page } from "./canvas.js"
import { histogram } from "./histogram.js"
import { decodeRows, rowEnd } from "./rows.js"
import { concurrencyLimit, drawBreakdown, drawSummary } from "./summary.js"
import { drawOrigins, drawStatuses } from "./tables.js"
import { timeline } from "./timeline.js"
import { drawLegend, waterfall } from "./waterfall.js"

const marks: Record<string, number> = { script: performance.now() }
const D: ReportData = JSON.parse(document.getElementById("report-data")!.textContent!)
marks.parsed = performance.now()
const R = decodeRows(D), n = R.n
const limit = concurrencyLimit(D)
drawSummary(D, limit)
drawBreakdown(R)

let maxEnd = D.durationMs || 0
for (let mi = 0; mi < n; mi++) {
  const en = rowEnd(R, mi)
  if (en > maxEnd) maxEnd = en
}
if (!(maxEnd > 0)) maxEnd = 1
const full = { t0: 0, t1: maxEnd * 1.02, r0: 0, r1: Math.max(n, 1) }
const page: Page = {
  D,
  R,
  dpr: Math.max(1, Math.min(2, window.devicePixelRatio || 1)),
  full,
  view: { t0: full.t0, t1: full.t1, r0: full.r0, r1: full.r1 }
}
drawLegend(page)

// Zoom and pan redraw the waterfall and the timeline once per frame.
let pending = false
function redraw(): void {
  if (pending) return
  pending = true
  requestAnimationFrame(function() {
    pending = false
    waterfallChart.draw()
    timelineChart.draw()
  })
}
const waterfallChart = waterfall(page, redraw)
const timelineChart = timeline(page, limit)
const histogramChart = histogram(page)
drawStatuses(D)
drawOrigins(D)

function drawAll(): void {
  waterfallChart.draw()
  timelineChart.draw()
  histogramChart.draw()
}
window.addEventListener("resize", function() {
  redraw()
  histogramChart.draw()
})
marks.prepared = performance.now()
drawAll()
marks.drawn = performance.now()
// Milliseconds since navigation start, for the bench: the page loaded,
// the data parsed, tables and indexes built, every chart drawn.
document.body.setAttribute("data-marks", JSON.stringify(marks))
document.body.setAttribute("data-drawn-ms", String(Math.round(marks.drawn - marks.prepared)))
document.body.setAttribute("data-ready", "true")
