/// <reference lib="dom" />
/**
 * What the waterfall and the timeline share: the part of the run they show
 * (the view, zoomed and panned together), canvas sizing and the time axis.
 */
import type { ReportData } from "../pageData.js"
import { fmtMs } from "./format.js"
import type { Rows } from "./rows.js"

/** Height of the time axis, css px. */
export const AXIS = 22
/** Width of the left gutter (the row axis), css px. */
export const GUT = 54

/** A window of the run: times in ms, rows by start rank. */
export interface View {
  t0: number
  t1: number
  r0: number
  r1: number
}

/** The page's state the charts share. */
export interface Page {
  readonly D: ReportData
  readonly R: Rows
  /** Device pixels per css pixel, 1 to 2. */
  readonly dpr: number
  /** The whole run. */
  readonly full: View
  /** What the waterfall and the timeline show now. */
  view: View
}

/** Sizes a canvas's buffer to its box in device pixels (at least 200 × 100); its [width, height]. */
export function sizeCanvas(c: HTMLCanvasElement, dpr: number): [number, number] {
  const w = Math.max(200, Math.round(c.clientWidth * dpr)), h = Math.max(100, Math.round(c.clientHeight * dpr))
  if (c.width !== w || c.height !== h) {
    c.width = w
    c.height = h
  }
  return [w, h]
}

/** A round step (1, 2 or 5 times a power of ten) that cuts `span` into about `target` parts. */
export function niceStep(span: number, target: number): number {
  const raw = span / target, p = Math.pow(10, Math.floor(Math.log10(raw))), m = raw / p
  return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p
}

/** Draws the time axis from `t0` to `t1` across `w` px from `x0`, its grid lines down to `y + h`. */
export function timeAxis(ctx: CanvasRenderingContext2D, dpr: number, x0: number, w: number, t0: number, t1: number, y: number, h: number): void {
  const step = niceStep(t1 - t0, Math.max(2, w / (110 * dpr)))
  ctx.fillStyle = "#6b7280"
  ctx.strokeStyle = "rgba(0,0,0,0.07)"
  ctx.lineWidth = 1
  ctx.font = (11 * dpr) + "px system-ui, sans-serif"
  ctx.textBaseline = "middle"
  for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) {
    const x = Math.round(x0 + (t - t0) / (t1 - t0) * w) + 0.5
    ctx.beginPath()
    ctx.moveTo(x, y + AXIS * dpr * 0.75)
    ctx.lineTo(x, y + h)
    ctx.stroke()
    ctx.fillText(fmtMs(t), x + 3 * dpr, y + AXIS * dpr * 0.4)
  }
}
