/// <reference lib="dom" />
/**
 * The waterfall: a bar per request by start time, coloured by phase, with
 * failure marks; zoom, pan and a tooltip on hover. It writes pixels into
 * one `ImageData` buffer, so 100,000 rows draw in one pass without a canvas
 * call per bar.
 */
import type { Page, View } from "./canvas.js"
import { AXIS, GUT, niceStep, sizeCanvas, timeAxis } from "./canvas.js"
import { $, canvasById, el, fmtBytes, fmtMs, fmtN, PH, tagColor } from "./format.js"
import type { Span } from "./rows.js"
import { rowEnd, spans, urlOf } from "./rows.js"

/** Where the last drawing put things, in device px: what hover and zoom read. */
interface Geometry {
  readonly W: number
  readonly H: number
  readonly top: number
  readonly left: number
  readonly pw: number
  readonly ph: number
  /** Device px per ms. */
  readonly sx: number
  /** Device px per row. */
  readonly rowH: number
}

/** A colour as one little-endian RGBA pixel, blended towards white below alpha 1. */
function rgba(hex: string, alpha: number): number {
  const v = parseInt(hex.slice(1), 16)
  let r = v >> 16 & 255, g = v >> 8 & 255, b = v & 255
  if (alpha < 1) {
    r = Math.round(r * alpha + 255 * (1 - alpha))
    g = Math.round(g * alpha + 255 * (1 - alpha))
    b = Math.round(b * alpha + 255 * (1 - alpha))
  }
  return (255 << 24 | b << 16 | g << 8 | r) >>> 0
}

/** Writes the legend: the phases, then each error tag of the run. */
export function drawLegend(page: Page): void {
  const legend = $("legend")
  PH.forEach(function(ph) {
    const s = el("span"), i = el("i")
    i.style.background = ph.color
    s.appendChild(i)
    s.appendChild(document.createTextNode(ph.label))
    legend.appendChild(s)
  })
  Object.keys(page.D.errors.reduce(function(m: Record<string, number>, e) {
    m[e[0]] = 1
    return m
  }, {})).forEach(function(tag) {
    const s = el("span"), i = el("i")
    i.style.background = tagColor(tag)
    s.appendChild(i)
    s.appendChild(document.createTextNode("✕ " + tag))
    legend.appendChild(s)
  })
}

/** The waterfall of the page; `redraw` is asked for at the next frame after a zoom or a pan. */
export function waterfall(page: Page, redraw: () => void): { draw(): void } {
  const { D, R, dpr, full } = page
  const n = R.n, PS = R.PS, SS = R.SS, OUT = D.outcomes, byStart = R.byStart
  const wf = canvasById("waterfall"), wov = canvasById("waterfall-overlay")
  const PX = PH.map(function(p) {
    return rgba(p.color, 1)
  })
  const PXL = PH.map(function(p) {
    return rgba(p.color, 0.45)
  })
  const OUTPX = OUT.map(function(o) {
    return rgba(tagColor(o), 1)
  })
  let geom: Geometry | null = null

  function draw(): void {
    const view = page.view
    const wh = sizeCanvas(wf, dpr), W = wh[0], H = wh[1]
    sizeCanvas(wov, dpr)
    const ctx = wf.getContext("2d")!
    const top = AXIS * dpr, left = GUT * dpr, pw = W - left, ph = H - top
    const img = ctx.createImageData(W, H), buf = new Uint32Array(img.data.buffer)
    buf.fill(0xffffffff)
    const t0 = view.t0, t1 = view.t1, sx = pw / (t1 - t0)
    const r0 = Math.max(0, Math.floor(view.r0)), r1 = Math.min(n, Math.ceil(view.r1))
    const rowH = ph / (view.r1 - view.r0), gap = rowH >= 5 ? 1 : 0, sp: Array<Span> = []
    let count = 0
    function fill(x0: number, x1: number, y0: number, y1: number, color: number): void {
      if (x1 <= 0 || x0 >= pw) return
      const a = Math.max(0, Math.floor(x0)), b = Math.min(pw, Math.max(a + 1, Math.ceil(x1)))
      for (let y = y0; y < y1; y++) {
        const base = y * W + left
        buf.fill(color, base + a, base + b)
      }
      count++
    }
    function rowY(k: number): [number, number] {
      const y0 = top + Math.floor((k - view.r0) * rowH), y1 = Math.max(y0 + 1, top + Math.floor((k + 1 - view.r0) * rowH) - gap)
      return [Math.max(top, y0), Math.min(H, y1)]
    }
    for (let k = r0; k < r1; k++) {
      const row = byStart[k]!, s = R.start[row]!, yy = rowY(k)
      if (yy[1] <= yy[0]) continue
      const segsOf = R.segs[row]
      if (segsOf) {
        for (let q = 1; q < segsOf.length; q += SS) {
          const d = segsOf[q]!, c = segsOf[q + 1]!, tl = segsOf[q + 2]!, sn = segsOf[q + 3]!, hd = segsOf[q + 4]!, e = segsOf[q + 5]!
          const net = c >= 0 ? c : sn >= 0 ? sn : e
          fill((s + d - t0) * sx, (s + net - t0) * sx, yy[0], yy[1], PXL[0]!)
          if (c >= 0) fill((s + c - t0) * sx, (s + (tl >= 0 ? tl : sn >= 0 ? sn : e) - t0) * sx, yy[0], yy[1], PXL[1]!)
          if (tl >= 0) fill((s + tl - t0) * sx, (s + (sn >= 0 ? sn : e) - t0) * sx, yy[0], yy[1], PXL[2]!)
          if (sn >= 0) fill((s + sn - t0) * sx, (s + (hd >= 0 ? hd : e) - t0) * sx, yy[0], yy[1], PXL[3]!)
          if (hd >= 0) fill((s + hd - t0) * sx, (s + e - t0) * sx, yy[0], yy[1], PXL[4]!)
          const ex = (s + e - t0) * sx
          fill(ex - 1, ex + 1, yy[0], yy[1], OUTPX[segsOf[q + 7]!]!)
        }
      }
      spans(R, row, sp)
      for (let j = 0; j < sp.length; j++) {
        if (sp[j]![2] === 5) continue
        fill((s + sp[j]![0] - t0) * sx, (s + sp[j]![1] - t0) * sx, yy[0], yy[1], PX[sp[j]![2]]!)
      }
    }
    // Failures on top, so dense rows cannot hide them.
    for (let k2 = r0; k2 < r1; k2++) {
      const row2 = byStart[k2]!, o = R.outcome[row2]!
      if (o === 0) continue
      const y2 = rowY(k2), x = (rowEnd(R, row2) - t0) * sx
      const mw = rowH < 1 ? 1 : 2
      fill(x - mw * dpr, x + mw * dpr, Math.max(top, y2[0] - (rowH < 3 ? 1 : 0)), Math.min(H, y2[1] + (rowH < 3 ? 1 : 0)), OUTPX[o]!)
    }
    ctx.putImageData(img, 0, 0)
    timeAxis(ctx, dpr, left, pw, t0, t1, 0, H)
    // Row axis: request number by start time.
    ctx.fillStyle = "#6b7280"
    ctx.textBaseline = "middle"
    ctx.textAlign = "right"
    const rstep = Math.max(1, niceStep(view.r1 - view.r0, Math.max(2, ph / (60 * dpr))))
    for (let rr = Math.ceil(view.r0 / rstep) * rstep; rr < view.r1; rr += rstep) {
      const yr = top + (rr - view.r0) * rowH
      ctx.fillText("#" + fmtN(Math.round(rr)), left - 5 * dpr, yr)
    }
    ctx.textAlign = "left"
    ctx.strokeStyle = "#e5e7eb"
    ctx.beginPath()
    ctx.moveTo(left - 0.5, top)
    ctx.lineTo(left - 0.5, H)
    ctx.stroke()
    geom = { W, H, top, left, pw, ph, sx, rowH }
    wf.setAttribute("data-drawn", String(count))
    wf.setAttribute("data-rows", String(Math.max(0, r1 - r0)))
  }

  // Which row is under the pointer (device px inside the canvas)?
  function rowAt(px: number, py: number): number {
    const view = page.view
    if (!geom || py < geom.top || px < geom.left || n === 0) return -1
    const kf = view.r0 + (py - geom.top) / geom.rowH, t = view.t0 + (px - geom.left) / geom.sx
    let k0 = Math.max(0, Math.floor(kf - 0.5 / geom.rowH * 3)), k1 = Math.min(n - 1, Math.floor(kf + 0.5 / geom.rowH * 3))
    if (geom.rowH >= 1) k0 = k1 = Math.min(n - 1, Math.max(0, Math.floor(kf)))
    let best = -1, bestD = Infinity
    for (let k = k0; k <= k1; k++) {
      const row = byStart[k]!, s = R.start[row]!, e = rowEnd(R, row)
      const d = t < s ? s - t : t > e ? t - e : 0
      if (d < bestD || (d === bestD && R.outcome[row] !== 0)) {
        best = row
        bestD = d
      }
    }
    return bestD * geom.sx <= 12 * dpr ? best : -1
  }

  const tip = $("tooltip")
  function showTip(row: number, cx: number, cy: number): void {
    tip.textContent = ""
    const p = row * PS, o = OUT[R.outcome[row]!]!
    tip.appendChild(el("div", "url", urlOf(D, R, row) || "(an effect without a URL)"))
    const line = (o === "ok" ? "✓ " + (R.status[row] || "ok") : "✕ " + o + (R.status[row] ? " " + R.status[row] : "")) +
      " · " + R.attempts[row] + (R.attempts[row] === 1 ? " attempt" : " attempts") +
      " · started +" + fmtMs(R.start[row]) + " · total " + fmtMs(R.phases[p + 5]) +
      (R.bytes[row]! > 0 ? " · " + fmtBytes(R.bytes[row]!) : "")
    const head = el("div", null, line)
    if (o !== "ok") head.style.color = "#fca5a5"
    tip.appendChild(head)
    const table = el("table"), sp = spans(R, row, [])
    sp.forEach(function(x) {
      const tr = el("tr"), td = el("td"), sw = el("i")
      sw.style.background = PH[x[2]]!.color
      td.appendChild(sw)
      td.appendChild(document.createTextNode(PH[x[2]]!.label))
      tr.appendChild(td)
      tr.appendChild(el("td", null, fmtMs(x[1] - x[0])))
      tr.appendChild(el("td", null, "at +" + fmtMs(x[0])))
      table.appendChild(tr)
    })
    tip.appendChild(table)
    const s = R.segs[row]
    if (s) {
      const list = el("div", null, "Earlier attempts:")
      list.style.marginTop = "4px"
      for (let q = 1; q < s.length; q += SS) {
        const oc = OUT[s[q + 7]!]
        list.appendChild(
          el(
            "div",
            null,
            "  " + (oc === "Redirect" ? "↪ redirect " : "↻ ") + (s[q + 6] ? s[q + 6] + " " : "") + (oc === "Redirect" ? "" : oc) +
              " · " + fmtMs(s[q + 5]! - s[q]!) + " (at +" + fmtMs(s[q]) + ")"
          )
        )
      }
      tip.appendChild(list)
    }
    tip.hidden = false
    const tw = tip.offsetWidth, th = tip.offsetHeight
    tip.style.left = Math.min(window.innerWidth - tw - 8, cx + 14) + "px"
    tip.style.top = (cy + 14 + th > window.innerHeight ? cy - th - 10 : cy + 14) + "px"
  }
  function highlight(row: number): void {
    const view = page.view
    const ctx = wov.getContext("2d")!
    ctx.clearRect(0, 0, wov.width, wov.height)
    if (row < 0 || !geom) return
    const k = R.rankOf[row]!
    const y = geom.top + (k - view.r0) * geom.rowH, h = Math.max(geom.rowH, 2 * dpr)
    ctx.strokeStyle = "#111827"
    ctx.lineWidth = dpr
    const x0 = geom.left + (R.start[row]! - view.t0) * geom.sx, x1 = geom.left + (rowEnd(R, row) - view.t0) * geom.sx
    ctx.strokeRect(x0 - 2 * dpr, y - dpr, Math.max(4 * dpr, x1 - x0 + 4 * dpr), h + 2 * dpr)
  }

  const box = $("waterfall-box")
  let drag: { readonly x: number; readonly y: number; readonly v: View } | null = null
  function clampView(): void {
    const view = page.view
    const tspan = Math.max(0.01, Math.min(full.t1 - full.t0, view.t1 - view.t0))
    if (view.t0 < full.t0) view.t0 = full.t0
    view.t1 = view.t0 + tspan
    if (view.t1 > full.t1) {
      view.t1 = full.t1
      view.t0 = view.t1 - tspan
    }
    const rspan = Math.max(Math.min(5, full.r1), Math.min(full.r1 - full.r0, view.r1 - view.r0))
    if (view.r0 < full.r0) view.r0 = full.r0
    view.r1 = view.r0 + rspan
    if (view.r1 > full.r1) {
      view.r1 = full.r1
      view.r0 = view.r1 - rspan
    }
  }
  function local(ev: MouseEvent): [number, number] {
    const b = wf.getBoundingClientRect()
    return [(ev.clientX - b.left) * dpr, (ev.clientY - b.top) * dpr]
  }
  box.addEventListener("wheel", function(ev) {
    const view = page.view
    if (!geom) return
    ev.preventDefault()
    const p = local(ev), f = Math.pow(1.0015, ev.deltaY)
    if (ev.shiftKey || ev.ctrlKey) {
      const kr = view.r0 + Math.max(0, p[1] - geom.top) / geom.rowH
      view.r0 = kr - (kr - view.r0) * f
      view.r1 = kr + (view.r1 - kr) * f
    } else {
      const tt = view.t0 + Math.max(0, p[0] - geom.left) / geom.sx
      view.t0 = tt - (tt - view.t0) * f
      view.t1 = tt + (view.t1 - tt) * f
    }
    clampView()
    redraw()
  }, { passive: false })
  box.addEventListener("mousedown", function(ev) {
    const view = page.view
    drag = { x: ev.clientX, y: ev.clientY, v: { t0: view.t0, t1: view.t1, r0: view.r0, r1: view.r1 } }
  })
  window.addEventListener("mouseup", function() {
    drag = null
  })
  box.addEventListener("dblclick", function() {
    page.view = { t0: full.t0, t1: full.t1, r0: full.r0, r1: full.r1 }
    redraw()
  })
  box.addEventListener("mouseleave", function() {
    tip.hidden = true
    highlight(-1)
  })
  box.addEventListener("mousemove", function(ev) {
    const view = page.view
    if (drag && geom) {
      const dt = (ev.clientX - drag.x) * dpr / geom.sx, dr = (ev.clientY - drag.y) * dpr / geom.rowH
      view.t0 = drag.v.t0 - dt
      view.t1 = drag.v.t1 - dt
      view.r0 = drag.v.r0 - dr
      view.r1 = drag.v.r1 - dr
      clampView()
      redraw()
      tip.hidden = true
      return
    }
    const p = local(ev), row = rowAt(p[0], p[1])
    if (row < 0) {
      tip.hidden = true
      highlight(-1)
      return
    }
    highlight(row)
    showTip(row, ev.clientX, ev.clientY)
  })
  return { draw }
}
