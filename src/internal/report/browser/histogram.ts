/// <reference lib="dom" />
/**
 * The latency histogram of the run or of one origin (chosen in a select):
 * total time per fetch on a log scale, with its percentiles.
 */
import type { HistogramPairs, Quantiles } from "../pageData.js"
import type { Page } from "./canvas.js"
import { sizeCanvas } from "./canvas.js"
import { $, canvasById, el, fmtMs, fmtN, sum, text } from "./format.js"

/** A histogram the select offers: the run's or an origin's. */
interface HistogramChoice {
  readonly name: string
  readonly h: Quantiles & { readonly hist: HistogramPairs }
}

/** The histogram of the page; fills its select now, draws on `draw()` and when the select changes. */
export function histogram(page: Page): { draw(): void } {
  const { D, dpr } = page
  const found = $("hist-origin")
  if (!(found instanceof HTMLSelectElement)) throw new Error("#hist-origin is not a select")
  const sel = found
  const first: Array<HistogramChoice> = [{ name: "all origins", h: D.overall }]
  const histChoices = first.concat(
    D.origins.slice().sort(function(a, b) {
      return b.requests - a.requests
    }).slice(0, 200).map(function(o) {
      return { name: o.name, h: o }
    })
  )
  histChoices.forEach(function(c, i) {
    const op = el("option", null, c.name)
    op.value = String(i)
    sel.appendChild(op)
  })
  const hc = canvasById("histogram")
  function draw(): void {
    const choice = histChoices[Number(sel.value) || 0]!, h = choice.h, pairs = h.hist
    const wh = sizeCanvas(hc, dpr), W = wh[0], H = wh[1], ctx = hc.getContext("2d")!
    ctx.clearRect(0, 0, W, H)
    const left = 44 * dpr, pw = W - left - 12 * dpr, top = 18 * dpr, ph = H - top - 26 * dpr, y0 = top + ph
    if (pairs.length === 0) {
      ctx.fillStyle = "#6b7280"
      ctx.fillText("no latencies", left, top + 20)
      return
    }
    const S = D.histScale, k0 = pairs[0]![0], k1 = pairs[pairs.length - 1]![0] + 1
    const bins = Math.max(1, Math.min(80, k1 - k0)), per = (k1 - k0) / bins, counts: Array<number> = new Array(bins).fill(0)
    let maxC = 1
    pairs.forEach(function(p) {
      const bI = Math.min(bins - 1, Math.floor((p[0] - k0) / per))
      counts[bI] += p[1]
    })
    counts.forEach(function(c) {
      if (c > maxC) maxC = c
    })
    const bw = pw / bins
    ctx.fillStyle = "#60a5fa"
    for (let i = 0; i < bins; i++) {
      const hh = counts[i]! / maxC * ph
      ctx.fillRect(left + i * bw, y0 - hh, Math.max(1, bw - 1), hh)
    }
    const xOf = function(ms: number) {
      return left + (Math.log(ms) * S - k0) / (k1 - k0) * pw
    }
    ctx.font = (11 * dpr) + "px system-ui, sans-serif"
    ctx.textBaseline = "top"
    const marks: ReadonlyArray<readonly [string, number | null, string]> = [["p50", h.p50, "#15803d"], ["p95", h.p95, "#b45309"], ["p99", h.p99, "#dc2626"]]
    marks.forEach(function(q, i) {
      const at = q[1]
      if (at == null) return
      const x = xOf(at)
      ctx.strokeStyle = q[2]
      ctx.lineWidth = 1.5 * dpr
      ctx.beginPath()
      ctx.moveTo(x, top)
      ctx.lineTo(x, y0)
      ctx.stroke()
      ctx.fillStyle = q[2]
      ctx.fillText(q[0] + " " + fmtMs(at), Math.min(x + 3 * dpr, W - 80 * dpr), top - 14 * dpr + i * 12 * dpr)
    })
    ctx.fillStyle = "#6b7280"
    ctx.textAlign = "center"
    const lo = Math.exp(k0 / S), hi = Math.exp(k1 / S)
    for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
      ;[1, 2, 5].forEach(function(m) {
        const v = m * Math.pow(10, e)
        if (v < lo || v > hi) return
        const x = xOf(v)
        ctx.fillRect(x, y0, dpr, 4 * dpr)
        ctx.fillText(fmtMs(v), x, y0 + 6 * dpr)
      })
    }
    ctx.textAlign = "right"
    ctx.textBaseline = "middle"
    ctx.fillText(fmtN(maxC), left - 4 * dpr, top)
    ctx.fillText("0", left - 4 * dpr, y0)
    ctx.textAlign = "left"
    text(
      $("hist-note"),
      choice.name + ": " + fmtN(sum(pairs.map(function(p) {
        return p[1]
      }))) + " requests, total time per fetch (retries included), log scale."
    )
  }
  sel.addEventListener("change", draw)
  return { draw }
}
