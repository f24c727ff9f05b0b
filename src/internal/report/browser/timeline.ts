/// <reference lib="dom" />
/**
 * The timeline: requests in flight (a line, with the concurrency limit) and
 * completions, failures and retries per second (bars), over the waterfall's
 * time window.
 */
import type { Page } from "./canvas.js"
import { AXIS, GUT, sizeCanvas, timeAxis } from "./canvas.js"
import { $, canvasById, fmtN, pct, text } from "./format.js"

/** The timeline of the page; writes its note now, draws on `draw()`. */
export function timeline(page: Page, limit: number | null): { draw(): void } {
  const { D, dpr } = page
  const TL = D.timeline, tlc = canvasById("timeline")
  const level: Array<number> = []
  let carried = 0
  for (let b = 0; b < TL.peak.length; b++) {
    level.push(Math.max(carried, TL.peak[b]!))
    if (TL.last[b]! >= 0) carried = TL.last[b]!
  }
  let atLimit = 0, busy = 0
  if (limit != null) {
    for (let lb = 0; lb < TL.peak.length; lb++) {
      if (level[lb]! > 0) {
        busy++
        if (level[lb]! >= limit) atLimit++
      }
    }
  }
  const tnote = $("timeline-note")
  if (limit != null && busy > 0) {
    const share = atLimit / busy
    text(
      tnote,
      "In flight was at the concurrency limit (" + limit + ") for " + pct(atLimit, busy) + " of the busy time" +
        (share > 0.6
          ? ": the limit paced this run; more concurrency (if the servers allow) would shorten it."
          : share < 0.2
          ? ": the limit was rarely reached; the servers or the input paced this run."
          : ".")
    )
  }
  function draw(): void {
    const view = page.view
    const wh = sizeCanvas(tlc, dpr), W = wh[0], H = wh[1], ctx = tlc.getContext("2d")!
    ctx.clearRect(0, 0, W, H)
    const left = GUT * dpr, right = 56 * dpr, top = AXIS * dpr, pw = W - left - right, ph = H - top - 10 * dpr
    const t0 = view.t0, t1 = view.t1, sx = pw / (t1 - t0), w = TL.widthMs
    const maxLevel = Math.max(1, limit || 0, Math.max.apply(null, level.concat([1]))) * 1.1
    // Bars at least 6 px (and 1/150 of the width) wide: neighbouring buckets are summed.
    const g = Math.max(1, Math.ceil(Math.max(6 * dpr, pw / 150) / (w * sx))), gw = g * w
    const oks: Array<number> = [], fails: Array<number> = [], rets: Array<number> = []
    let maxRate = 1
    for (let i = 0; i < TL.ok.length; i++) {
      const gi = Math.floor(i / g)
      oks[gi] = (oks[gi] || 0) + TL.ok[i]!
      fails[gi] = (fails[gi] || 0) + TL.failed[i]!
      rets[gi] = (rets[gi] || 0) + TL.retries[i]!
    }
    for (let gi2 = 0; gi2 < oks.length; gi2++) {
      const rate = (oks[gi2]! + fails[gi2]!) * 1000 / gw
      if (rate > maxRate) maxRate = rate
    }
    maxRate *= 1.1
    timeAxis(ctx, dpr, left, pw, t0, t1, 0, H - 10 * dpr)
    const y0 = top + ph
    for (let j = 0; j < oks.length; j++) {
      let xa = left + (j * gw - t0) * sx, xb = left + ((j + 1) * gw - t0) * sx
      if (xb < left || xa > left + pw) continue
      xa = Math.max(left, xa)
      xb = Math.min(left + pw, xb)
      const okH = oks[j]! * 1000 / gw / maxRate * ph, fH = fails[j]! * 1000 / gw / maxRate * ph
      ctx.fillStyle = "rgba(34,197,94,0.45)"
      ctx.fillRect(xa, y0 - okH, Math.max(1, xb - xa - (xb - xa > 3 ? 1 : 0)), okH)
      ctx.fillStyle = "rgba(220,38,38,0.75)"
      ctx.fillRect(xa, y0 - okH - fH, Math.max(1, xb - xa - (xb - xa > 3 ? 1 : 0)), fH)
      if (rets[j]! > 0) {
        ctx.fillStyle = "#ea580c"
        ctx.fillRect(xa, y0 + 2 * dpr, Math.max(2 * dpr, xb - xa), 4 * dpr)
      }
    }
    ctx.strokeStyle = "#1d4ed8"
    ctx.lineWidth = 1.5 * dpr
    ctx.beginPath()
    for (let m = 0; m < level.length; m++) {
      let x1 = left + (m * w - t0) * sx, x2 = left + ((m + 1) * w - t0) * sx
      const y = y0 - level[m]! / maxLevel * ph
      if (x2 < left || x1 > left + pw) continue
      x1 = Math.max(left, x1)
      x2 = Math.min(left + pw, x2)
      if (m === 0 || x1 <= left) ctx.moveTo(x1, y)
      else ctx.lineTo(x1, y)
      ctx.lineTo(x2, y)
    }
    ctx.stroke()
    if (limit != null) {
      const yl = y0 - limit / maxLevel * ph
      ctx.setLineDash([6 * dpr, 4 * dpr])
      ctx.strokeStyle = "#dc2626"
      ctx.lineWidth = dpr
      ctx.beginPath()
      ctx.moveTo(left, yl)
      ctx.lineTo(left + pw, yl)
      ctx.stroke()
      ctx.setLineDash([])
      ctx.fillStyle = "#dc2626"
      ctx.textBaseline = "bottom"
      ctx.fillText("concurrency limit " + limit, left + 4 * dpr, yl - 2 * dpr)
    }
    ctx.textBaseline = "middle"
    ctx.textAlign = "right"
    ctx.fillStyle = "#1d4ed8"
    for (let a = 0; a <= 4; a++) ctx.fillText(String(Math.round(maxLevel * a / 4)), left - 5 * dpr, y0 - ph * a / 4)
    ctx.textAlign = "left"
    ctx.fillStyle = "#15803d"
    for (let a2 = 0; a2 <= 4; a2++) ctx.fillText(fmtN(Math.round(maxRate * a2 / 4)) + "/s", left + pw + 4 * dpr, y0 - ph * a2 / 4)
  }
  return { draw }
}
