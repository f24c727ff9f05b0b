/// <reference lib="dom" />
/**
 * The page's tables: statuses, errors and cache answers as bars, and the
 * origins with their counts and percentiles.
 */
import type { ReportData } from "../pageData.js"
import { $, el, fmtBytes, fmtMs, fmtN, pct, tagColor } from "./format.js"

/** Draws the final statuses, the failures by tag and the cache answers as bars. */
export function drawStatuses(D: ReportData): void {
  const st = $("statuses"), grid = el("div", "rows")
  let maxS = 1
  D.statuses.forEach(function(s) {
    if (s[1] > maxS) maxS = s[1]
  })
  D.errors.forEach(function(s) {
    if (s[1] > maxS) maxS = s[1]
  })
  function addBar(label: string, count: number, color: string): void {
    grid.appendChild(el("div", null, label))
    const f = el("div", "fill")
    f.style.width = Math.max(0.5, 100 * count / maxS) + "%"
    f.style.background = color
    grid.appendChild(f)
    grid.appendChild(el("div", "n", fmtN(count) + " (" + pct(count, D.total) + ")"))
  }
  D.statuses.forEach(function(s) {
    addBar("HTTP " + s[0], s[1], s[0] < 300 ? "#22c55e" : s[0] < 400 ? "#06b6d4" : s[0] === 429 ? "#f59e0b" : "#dc2626")
  })
  D.errors.forEach(function(e) {
    addBar("✕ " + e[0], e[1], tagColor(e[0]))
  })
  ;(D.caches || []).forEach(function(c) {
    addBar("cache " + c[0], c[1], c[0] === "hit" ? "#16a34a" : c[0] === "revalidated" ? "#0891b2" : "#94a3b8")
  })
  if (D.statuses.length + D.errors.length === 0) grid.appendChild(el("div", "notes", "nothing recorded"))
  st.appendChild(grid)
  st.appendChild(
    el(
      "div",
      "notes",
      "Statuses are of final responses; errors count fetches that failed (a BadStatus is also counted under its status)." +
        ((D.caches || []).length > 0 ? " Cache: hit (no request), revalidated (a 304), miss (fetched)." : "")
    )
  )
}

/** Fills the origins table: the 500 busiest origins. */
export function drawOrigins(D: ReportData): void {
  const tbl = $("origins"), head = el("tr")
  ;["origin", "requests", "ok", "failed (by tag)", "retries", "redirects", "bytes", "p50", "p95", "p99"].forEach(function(h) {
    head.appendChild(el("th", null, h))
  })
  const thead = el("thead")
  thead.appendChild(head)
  tbl.appendChild(thead)
  const tbody = el("tbody")
  D.origins.slice().sort(function(a, b) {
    return b.requests - a.requests
  }).slice(0, 500).forEach(function(o) {
    const tr = el("tr")
    tr.appendChild(el("td", null, o.name))
    tr.appendChild(el("td", null, fmtN(o.requests)))
    tr.appendChild(el("td", null, fmtN(o.ok)))
    const tags = el("td", "tags")
    if (o.failed.length === 0) tags.textContent = "–"
    o.failed.forEach(function(f, i) {
      const s = el("span", null, (i > 0 ? ", " : "") + f[0] + " " + fmtN(f[1]))
      s.style.color = tagColor(f[0])
      tags.appendChild(s)
    })
    tr.appendChild(tags)
    tr.appendChild(el("td", null, fmtN(o.retries)))
    tr.appendChild(el("td", null, fmtN(o.redirects)))
    tr.appendChild(el("td", null, fmtBytes(o.bytes)))
    tr.appendChild(el("td", null, fmtMs(o.p50)))
    tr.appendChild(el("td", null, fmtMs(o.p95)))
    tr.appendChild(el("td", null, fmtMs(o.p99)))
    tbody.appendChild(tr)
  })
  tbl.appendChild(tbody)
  if (D.origins.length > 500) $("origins").parentNode!.appendChild(el("div", "notes", (D.origins.length - 500) + " smaller origins not shown."))
}
