/**
 * The report page: one HTML file with its CSS, script and data inline, so it
 * opens from `file://` with no network. The data travels as JSON in a
 * `<script type="application/json">` block; `<`, `>`, `&` and the two JS
 * line separators are written as `\u` escapes, so no value (a URL, a title)
 * can close the tag or start markup.
 */
import { clientScript, pageStyle } from "./page.js"
import type { ReportData } from "./pageData.js"
import type { Recorder } from "./recorder.js"
import { histValue, outcomeNames, PHASES, SEGMENT } from "./recorder.js"

export interface PageOptions {
  readonly title?: string | undefined
}

const quantiles = (h: { quantile(q: number): number }) => ({
  p50: round(h.quantile(0.5)),
  p95: round(h.quantile(0.95)),
  p99: round(h.quantile(0.99))
})

const round = (ms: number): number | null => Number.isFinite(ms) ? Math.round(ms * 100) / 100 : null

/** Everything the page draws, as plain JSON data. */
export const snapshot = (recorder: Recorder, nowPerf: number, options: PageOptions | undefined): ReportData => {
  const kept = recorder.start.length
  let lastEnd = 0
  for (let row = 0; row < kept; row++) {
    const end = recorder.start[row]! + recorder.phases[row * PHASES + 5]!
    if (end > lastEnd) lastEnd = end
  }
  const segments: Array<Array<number>> = []
  for (const [row, flat] of recorder.segments) segments.push([row, ...flat])
  return {
    version: 1,
    title: options?.title ?? "effect-gather run report",
    generatedAt: new Date(performance.timeOrigin + nowPerf).toISOString(),
    startedAt: recorder.originAt,
    durationMs: round(Math.max(lastEnd, (recorder.endPerf || nowPerf) - recorder.originPerf)),
    total: recorder.finished,
    started: recorder.started,
    inFlight: recorder.inFlight,
    peakInFlight: recorder.peakInFlight,
    kept,
    limit: recorder.limit,
    sampled: recorder.finished > kept,
    limits: recorder.limits,
    phaseStride: PHASES,
    segmentStride: SEGMENT,
    outcomes: outcomeNames,
    histScale: 50,
    // Times in tenths of a millisecond (-1: did not happen) and URLs without
    // their origin: a quarter less for the browser to read at 100,000 rows.
    rows: {
      start: recorder.start.map((ms) => Math.round(ms * 10)),
      phases: recorder.phases.map((ms) => ms < 0 ? -1 : Math.round(ms * 10)),
      status: recorder.status,
      outcome: recorder.outcome,
      attempts: recorder.attempts,
      bytes: recorder.bytes,
      origin: recorder.origin,
      url: recorder.url.map((url, row) => {
        const origin = recorder.origins[recorder.origin[row]!]!.name
        return origin.startsWith("http") && url.startsWith(origin) && url.charCodeAt(origin.length) === 47 ? url.slice(origin.length) : url
      })
    },
    segments,
    origins: recorder.origins.map((o) => ({
      name: o.name,
      requests: o.requests,
      ok: o.ok,
      failed: Array.from(o.failed).sort((a, b) => b[1] - a[1]),
      retries: o.retries,
      redirects: o.redirects,
      bytes: o.bytes,
      ...quantiles(o.latency),
      hist: o.latency.pairs()
    })),
    overall: { ...quantiles(recorder.latency), hist: recorder.latency.pairs(), min: round(histValue(recorder.latency.pairs()[0]?.[0] ?? 0)) },
    statuses: Array.from(recorder.statuses).sort((a, b) => a[0] - b[0]),
    errors: Array.from(recorder.errors).sort((a, b) => b[1] - a[1]),
    caches: ["hit", "revalidated", "miss"].filter((name) => recorder.caches.has(name)).map((name) => [name, recorder.caches.get(name)!]),
    timeline: {
      widthMs: recorder.timeline.widthMs,
      starts: recorder.timeline.starts,
      ok: recorder.timeline.ok,
      failed: recorder.timeline.failed,
      retries: recorder.timeline.retries,
      peak: recorder.timeline.peak,
      last: recorder.timeline.last
    }
  }
}

/** JSON that can sit inside a `<script>` element whatever its strings hold. */
export const scriptJson = (value: unknown): string =>
  JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`)

/** Text for HTML element content or a quoted attribute. */
export const escapeHtml = (text: string): string => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)

export const render = (recorder: Recorder, nowPerf: number, options?: PageOptions): string => {
  const data = snapshot(recorder, nowPerf, options)
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<title>${escapeHtml(data.title)}</title>
<style>${pageStyle}</style>
</head>
<body>
<header><h1>${escapeHtml(data.title)}</h1><div id="summary" class="summary"></div><div id="notes" class="notes"></div></header>
<section><h2>Where the time went</h2><div id="breakdown"></div></section>
<section><h2>Waterfall <span class="hint">wheel: zoom time · shift+wheel: zoom rows · drag: pan · double-click: reset</span></h2>
<div id="legend" class="legend"></div>
<div class="chart" id="waterfall-box"><canvas id="waterfall"></canvas><canvas id="waterfall-overlay" class="overlay"></canvas></div>
<div id="tooltip" class="tooltip" hidden></div>
</section>
<section><h2>In flight and completions per second</h2>
<div class="legend"><span><i style="background:#1d4ed8"></i>in flight (left axis)</span><span><i style="background:rgba(34,197,94,0.45)"></i>completed/s (right axis)</span><span><i style="background:rgba(220,38,38,0.75)"></i>failed/s</span><span><i style="background:#ea580c"></i>retries</span><span><i style="background:#dc2626;height:2px"></i>concurrency limit</span></div>
<div class="chart"><canvas id="timeline"></canvas></div><div id="timeline-note" class="notes"></div></section>
<section class="two">
<div><h2>Latency <select id="hist-origin"></select></h2><div class="chart"><canvas id="histogram"></canvas></div><div id="hist-note" class="notes"></div></div>
<div><h2>Status and errors</h2><div id="statuses"></div></div>
</section>
<section><h2>Origins</h2><div class="table-wrap"><table id="origins"></table></div></section>
<footer>effect-gather · generated <span id="generated"></span></footer>
<script type="application/json" id="report-data">${scriptJson(data)}</script>
<script>${clientScript}</script>
</body>
</html>
`
}
