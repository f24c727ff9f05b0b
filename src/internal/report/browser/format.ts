/// <reference lib="dom" />
/**
 * What every part of the page shares: number formats, the phase and error
 * colours, and small DOM helpers.
 */

/** A duration for people: "0.42 ms", "3.1 ms", "250 ms", "1.25 s", "2 min 5 s"; "–" for none. */
export function fmtMs(ms: number | null | undefined): string {
  if (ms == null || !isFinite(ms)) return "–"
  if (ms < 1) return ms.toFixed(2) + " ms"
  if (ms < 10) return ms.toFixed(1) + " ms"
  if (ms < 1000) return Math.round(ms) + " ms"
  if (ms < 60000) return (ms / 1000).toFixed(ms < 10000 ? 2 : 1) + " s"
  const m = Math.floor(ms / 60000)
  return m + " min " + Math.round((ms - m * 60000) / 1000) + " s"
}

/** A byte count in B, KiB, MiB or GiB. */
export function fmtBytes(b: number): string {
  if (b < 1024) return b + " B"
  if (b < 1048576) return (b / 1024).toFixed(1) + " KiB"
  if (b < 1073741824) return (b / 1048576).toFixed(1) + " MiB"
  return (b / 1073741824).toFixed(2) + " GiB"
}

/** A count with thousands separators. */
export function fmtN(x: number): string {
  return x.toLocaleString("en-US")
}

/** `a` as a share of `b`, one decimal under 10 %. */
export function pct(a: number, b: number): string {
  return b === 0 ? "0%" : (100 * a / b).toFixed(a / b < 0.1 ? 1 : 0) + "%"
}

/** The sum of the numbers. */
export function sum(xs: ReadonlyArray<number>): number {
  let s = 0
  for (let i = 0; i < xs.length; i++) s += xs[i]!
  return s
}

/** Sets an element's text; returns the element. */
export function text<E extends HTMLElement>(el: E, s: string): E {
  el.textContent = s
  return el
}

/** A new element with an optional class and text. */
export function el<K extends keyof HTMLElementTagNameMap>(tag: K, cls?: string | null, content?: string | null): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag)
  if (cls) e.className = cls
  if (content != null) e.textContent = content
  return e
}

/** The element of the page with this id (the page's HTML has every one the script reads). */
export function $(id: string): HTMLElement {
  return document.getElementById(id)!
}

/** The canvas of the page with this id. */
export function canvasById(id: string): HTMLCanvasElement {
  const found = $(id)
  if (!(found instanceof HTMLCanvasElement)) throw new Error(`#${id} is not a canvas`)
  return found
}

/** A phase of a request, as the waterfall, the breakdown and the tooltip show it. */
export interface Phase {
  readonly key: string
  readonly label: string
  readonly color: string
  readonly hint: string
}

/** The phases in the order of `spans()`' phase index; "earlier" is the attempts before the final one. */
export const PH: ReadonlyArray<Phase> = [
  { key: "queued", label: "queued", color: "#cbd5e1", hint: "gates, rate limits, a free connection" },
  { key: "connect", label: "connect", color: "#f59e0b", hint: "DNS + TCP, new connections only" },
  { key: "tls", label: "TLS", color: "#a855f7", hint: "TLS handshake" },
  { key: "wait", label: "waiting (TTFB)", color: "#22c55e", hint: "request sent, waiting for the first byte" },
  { key: "body", label: "body", color: "#3b82f6", hint: "reading the response body" },
  { key: "earlier", label: "earlier attempts", color: "#f9a8d4", hint: "retries and redirect hops before the final attempt" }
]

const TAG: Record<string, string | undefined> = {
  BadStatus: "#dc2626",
  Timeout: "#ea580c",
  ConnectionError: "#db2777",
  DecodeError: "#92400e",
  BodyTooLarge: "#7c3aed",
  TooManyRedirects: "#0891b2",
  RedirectRejected: "#0e7490",
  InvalidUrl: "#525252",
  InvalidRequest: "#525252",
  Redirect: "#06b6d4",
  Other: "#111827",
  Interrupted: "#6b7280"
}

/** The colour of an outcome's tag. */
export const tagColor = (name: string): string => TAG[name] || "#111827"
