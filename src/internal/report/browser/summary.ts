/// <reference lib="dom" />
/**
 * The page's head: the one-line summary, the notes under it, and where the
 * time went (the phases' shares of all request time).
 */
import type { ReportData } from "../pageData.js"
import { $, el, fmtBytes, fmtMs, fmtN, pct, PH, sum, text } from "./format.js"
import type { Rows, Span } from "./rows.js"
import { spans } from "./rows.js"

/** The largest concurrency limit of the run's gathers; null: none was bounded. */
export function concurrencyLimit(D: ReportData): number | null {
  let limit: number | null = null
  for (const l of D.limits) if (l != null) limit = Math.max(limit || 0, l)
  return limit
}

/** Writes the summary line, the notes and the generation time. */
export function drawSummary(D: ReportData, limit: number | null): void {
  let ok = 0, bytes = 0
  D.origins.forEach(function(o) {
    ok += o.requests - sum(o.failed.map(function(f) {
      return f[1]
    }))
    bytes += o.bytes
  })
  const failed = D.total - ok
  const retries = sum(D.origins.map(function(o) {
    return o.retries
  }))
  const redirects = sum(D.origins.map(function(o) {
    return o.redirects
  }))
  const dur = D.durationMs || 0
  const summary = $("summary")
  const shown: ReadonlyArray<readonly [string, string]> = [
    ["requests", fmtN(D.total)],
    ["ok", fmtN(ok)],
    ["failed", fmtN(failed)],
    ["retries", fmtN(retries)],
    ["redirects", fmtN(redirects)],
    ["in", fmtMs(dur)],
    ["rate", dur > 0 ? fmtN(Math.round(D.total * 1000 / dur)) + "/s" : "–"],
    ["received", fmtBytes(bytes)],
    ["peak in flight", fmtN(D.peakInFlight) + (limit != null ? " / limit " + limit : "")],
    ["p50", fmtMs(D.overall.p50)],
    ["p95", fmtMs(D.overall.p95)],
    ["p99", fmtMs(D.overall.p99)]
  ]
  shown.forEach(function(kv, i) {
    if (i > 0) summary.appendChild(document.createTextNode(" · "))
    summary.appendChild(document.createTextNode(kv[0] + " "))
    summary.appendChild(el("b", null, kv[1]))
  })
  const notes = $("notes")
  text(notes, "Started " + new Date(D.startedAt).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC") + ". ")
  if (D.sampled) {
    notes.appendChild(
      el(
        "span",
        "warn",
        "Over the limit of " + fmtN(D.limit) + " kept requests: the waterfall, the time breakdown and hover show a uniform sample of " +
          fmtN(D.kept) + " of " + fmtN(D.total) + " requests; counts, percentiles, the timeline and the tables cover all of them."
      )
    )
  }
  if (D.inFlight > 0) notes.appendChild(el("span", "warn", " " + D.inFlight + " still in flight when the report was made."))
  $("generated").textContent = D.generatedAt
}

/** Draws where the time went: one stacked bar of the phases' shares and its legend. */
export function drawBreakdown(R: Rows): void {
  const n = R.n, PS = R.PS
  const totals = [0, 0, 0, 0, 0, 0], tmp: Array<Span> = []
  for (let r = 0; r < n; r++) {
    if (R.segs[r]) {
      spans(R, r, tmp)
      for (let k = 0; k < tmp.length; k++) totals[tmp[k]![2]] += tmp[k]![1] - tmp[k]![0]
      continue
    }
    // The same sums as spans(), without allocating (most rows have no earlier attempts).
    const q = r * PS, c0 = R.phases[q + 1]!, t0_ = R.phases[q + 2]!, s0 = R.phases[q + 3]!, h0 = R.phases[q + 4]!, e0 = R.phases[q + 5]!
    const net0 = c0 >= 0 ? c0 : s0 >= 0 ? s0 : e0
    if (net0 > 0) totals[0] += net0
    if (c0 >= 0) {
      const ce0 = t0_ >= 0 ? t0_ : s0 >= 0 ? s0 : e0
      if (ce0 > c0) totals[1] += ce0 - c0
    }
    if (t0_ >= 0) {
      const te0 = s0 >= 0 ? s0 : e0
      if (te0 > t0_) totals[2] += te0 - t0_
    }
    if (s0 >= 0) {
      const we0 = h0 >= 0 ? h0 : e0
      if (we0 > s0) totals[3] += we0 - s0
    }
    if (h0 >= 0 && e0 > h0) totals[4] += e0 - h0
  }
  const all = sum(totals), bd = $("breakdown")
  const stack = el("div", "bar-stack"), leg = el("div", "breakdown-legend")
  const order = [0, 1, 2, 3, 4, 5].sort(function(a, b) {
    return totals[b]! - totals[a]!
  })
  PH.forEach(function(ph, i) {
    const d = el("div")
    d.style.width = (all > 0 ? 100 * totals[i]! / all : 0) + "%"
    d.style.background = ph.color
    d.title = ph.label + ": " + pct(totals[i]!, all)
    stack.appendChild(d)
  })
  order.forEach(function(i) {
    const ph = PH[i]!, s = el("span")
    const sw = el("i")
    sw.style.cssText = "display:inline-block;width:12px;height:10px;border-radius:2px;margin-right:5px;background:" + ph.color
    s.appendChild(sw)
    s.appendChild(document.createTextNode(ph.label + " "))
    s.appendChild(el("b", null, pct(totals[i]!, all)))
    s.appendChild(document.createTextNode(" (" + fmtMs(n > 0 ? totals[i]! / n : 0) + " per request)"))
    s.title = ph.hint
    leg.appendChild(s)
  })
  bd.appendChild(stack)
  bd.appendChild(leg)
  if (all > 0) {
    const top = order[0]!
    bd.appendChild(el("div", "notes", "Most of the request time was " + PH[top]!.label + " (" + pct(totals[top]!, all) + "): " + PH[top]!.hint + "."))
  }
}
