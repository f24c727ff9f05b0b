/**
 * The report page's style and script, inlined into every report. Plain
 * browser JavaScript (no build step, no library): it reads the JSON data
 * block and draws on canvases. The waterfall writes pixels into one
 * `ImageData` buffer, so 100,000 rows draw in one pass without a canvas call
 * per bar.
 */

export const pageStyle = String.raw`
:root { --fg: #1f2937; --muted: #6b7280; --line: #e5e7eb; --bg: #ffffff; --panel: #f9fafb; }
* { box-sizing: border-box; }
body { margin: 0; padding: 16px 24px 32px; font: 13px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
h1 { font-size: 20px; margin: 0 0 4px; }
h2 { font-size: 14px; margin: 18px 0 6px; display: flex; gap: 12px; align-items: baseline; }
.hint { font-weight: normal; color: var(--muted); font-size: 12px; }
.summary { font-size: 14px; }
.summary b { font-variant-numeric: tabular-nums; }
.notes { color: var(--muted); margin-top: 4px; }
.notes .warn { color: #b45309; }
.chart { position: relative; border: 1px solid var(--line); border-radius: 4px; background: var(--bg); }
#waterfall-box { height: 520px; cursor: crosshair; }
#waterfall-box canvas, .chart canvas { display: block; width: 100%; height: 100%; }
.chart:not(#waterfall-box) { height: 220px; }
.overlay { position: absolute; left: 0; top: 0; pointer-events: none; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 14px; margin-bottom: 6px; }
.legend span { display: inline-flex; align-items: center; gap: 5px; }
.legend i { display: inline-block; width: 12px; height: 10px; border-radius: 2px; }
.tooltip { position: fixed; z-index: 10; max-width: 560px; background: #111827; color: #f9fafb; padding: 8px 10px; border-radius: 6px; font-size: 12px; pointer-events: none; box-shadow: 0 4px 14px rgba(0,0,0,.25); }
.tooltip .url { font-family: ui-monospace, Menlo, monospace; word-break: break-all; margin-bottom: 4px; }
.tooltip table { border-collapse: collapse; margin-top: 4px; }
.tooltip td { padding: 0 10px 0 0; font-variant-numeric: tabular-nums; }
.tooltip i { display: inline-block; width: 9px; height: 9px; border-radius: 2px; margin-right: 4px; }
.bar-stack { display: flex; height: 26px; border-radius: 4px; overflow: hidden; border: 1px solid var(--line); }
.bar-stack div { height: 100%; min-width: 0; }
.breakdown-legend { display: flex; flex-wrap: wrap; gap: 4px 16px; margin-top: 6px; }
.breakdown-legend b { font-variant-numeric: tabular-nums; }
.two { display: grid; grid-template-columns: 3fr 2fr; gap: 24px; }
.rows { display: grid; grid-template-columns: max-content 1fr max-content; gap: 3px 8px; align-items: center; }
.rows .fill { height: 12px; border-radius: 2px; }
.rows .n { font-variant-numeric: tabular-nums; text-align: right; }
.table-wrap { max-height: 420px; overflow: auto; border: 1px solid var(--line); border-radius: 4px; }
table { border-collapse: collapse; width: 100%; }
th, td { padding: 4px 8px; text-align: right; border-bottom: 1px solid var(--line); font-variant-numeric: tabular-nums; white-space: nowrap; }
th { position: sticky; top: 0; background: var(--panel); }
th:first-child, td:first-child { text-align: left; }
td.tags { text-align: left; white-space: normal; }
footer { margin-top: 24px; color: var(--muted); font-size: 12px; }
select { font: inherit; }
`

export const clientScript = String.raw`
(function () {
  "use strict";
  var marks = { script: performance.now() };
  var D = JSON.parse(document.getElementById("report-data").textContent);
  marks.parsed = performance.now();
  var $ = function (id) { return document.getElementById(id); };
  var R = D.rows, n = R.start.length, PS = D.phaseStride, SS = D.segmentStride;
  // Times come in tenths of a millisecond, URLs without their origin.
  (function () {
    var s = new Float64Array(n), p = new Float64Array(R.phases.length), i;
    for (i = 0; i < n; i++) s[i] = R.start[i] / 10;
    for (i = 0; i < p.length; i++) { var x = R.phases[i]; p[i] = x < 0 ? -1 : x / 10; }
    R.start = s; R.phases = p;
  })();
  function urlOf(row) {
    var v = R.url[row], o = D.origins[R.origin[row]].name;
    return v.charAt(0) === "/" && o.indexOf("http") === 0 ? o + v : v;
  }
  var OUT = D.outcomes;
  var PH = [
    { key: "queued", label: "queued", color: "#cbd5e1", hint: "gates, rate limits, a free connection" },
    { key: "connect", label: "connect", color: "#f59e0b", hint: "DNS + TCP, new connections only" },
    { key: "tls", label: "TLS", color: "#a855f7", hint: "TLS handshake" },
    { key: "wait", label: "waiting (TTFB)", color: "#22c55e", hint: "request sent, waiting for the first byte" },
    { key: "body", label: "body", color: "#3b82f6", hint: "reading the response body" },
    { key: "earlier", label: "earlier attempts", color: "#f9a8d4", hint: "retries and redirect hops before the final attempt" }
  ];
  var TAG = {
    BadStatus: "#dc2626", Timeout: "#ea580c", ConnectionError: "#db2777", DecodeError: "#92400e",
    BodyTooLarge: "#7c3aed", TooManyRedirects: "#0891b2", RedirectRejected: "#0e7490", InvalidUrl: "#525252",
    InvalidRequest: "#525252", Redirect: "#06b6d4", Other: "#111827", Interrupted: "#6b7280"
  };
  var tagColor = function (name) { return TAG[name] || "#111827"; };

  function fmtMs(ms) {
    if (ms == null || !isFinite(ms)) return "–";
    if (ms < 1) return ms.toFixed(2) + " ms";
    if (ms < 10) return ms.toFixed(1) + " ms";
    if (ms < 1000) return Math.round(ms) + " ms";
    if (ms < 60000) return (ms / 1000).toFixed(ms < 10000 ? 2 : 1) + " s";
    var m = Math.floor(ms / 60000); return m + " min " + Math.round((ms - m * 60000) / 1000) + " s";
  }
  function fmtBytes(b) {
    if (b < 1024) return b + " B";
    if (b < 1048576) return (b / 1024).toFixed(1) + " KiB";
    if (b < 1073741824) return (b / 1048576).toFixed(1) + " MiB";
    return (b / 1073741824).toFixed(2) + " GiB";
  }
  function fmtN(x) { return x.toLocaleString("en-US"); }
  function pct(a, b) { return b === 0 ? "0%" : (100 * a / b).toFixed(a / b < 0.1 ? 1 : 0) + "%"; }
  function text(el, s) { el.textContent = s; return el; }
  function el(tag, cls, content) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (content != null) e.textContent = content;
    return e;
  }

  // Earlier attempts by row.
  var segs = {};
  for (var si = 0; si < D.segments.length; si++) segs[D.segments[si][0]] = D.segments[si];

  // The phases of a row as [from, to, phaseIndex] relative to its start.
  function spans(row, out) {
    out.length = 0;
    var s = segs[row], from = 0;
    if (s) {
      var last = s[s.length - SS + 5];
      if (last > 0) out.push([0, last, 5]);
      from = last;
    }
    var p = row * PS, c = R.phases[p + 1], t = R.phases[p + 2], sent = R.phases[p + 3], h = R.phases[p + 4], e = R.phases[p + 5];
    var firstNet = c >= 0 ? c : sent >= 0 ? sent : e;
    if (firstNet > from) out.push([from, firstNet, 0]);
    if (c >= 0) { var ce = t >= 0 ? t : sent >= 0 ? sent : e; if (ce > c) out.push([c, ce, 1]); }
    if (t >= 0) { var te = sent >= 0 ? sent : e; if (te > t) out.push([t, te, 2]); }
    if (sent >= 0) { var we = h >= 0 ? h : e; if (we > sent) out.push([sent, we, 3]); }
    if (h >= 0 && e > h) out.push([h, e, 4]);
    return out;
  }
  function rowEnd(row) { return R.start[row] + R.phases[row * PS + 5]; }

  // ---- summary -----------------------------------------------------------
  var ok = 0, failed = 0, bytes = 0;
  D.origins.forEach(function (o) { ok += o.requests - sum(o.failed.map(function (f) { return f[1]; })); bytes += o.bytes; });
  failed = D.total - ok;
  function sum(xs) { var s = 0; for (var i = 0; i < xs.length; i++) s += xs[i]; return s; }
  var retries = sum(D.origins.map(function (o) { return o.retries; }));
  var redirects = sum(D.origins.map(function (o) { return o.redirects; }));
  var limit = null;
  D.limits.forEach(function (l) { if (l != null) limit = Math.max(limit || 0, l); });
  var dur = D.durationMs || 0;
  var summary = $("summary");
  [
    ["requests", fmtN(D.total)], ["ok", fmtN(ok)], ["failed", fmtN(failed)], ["retries", fmtN(retries)],
    ["redirects", fmtN(redirects)], ["in", fmtMs(dur)], ["rate", dur > 0 ? fmtN(Math.round(D.total * 1000 / dur)) + "/s" : "–"],
    ["received", fmtBytes(bytes)], ["peak in flight", fmtN(D.peakInFlight) + (limit != null ? " / limit " + limit : "")],
    ["p50", fmtMs(D.overall.p50)], ["p95", fmtMs(D.overall.p95)], ["p99", fmtMs(D.overall.p99)]
  ].forEach(function (kv, i) {
    if (i > 0) summary.appendChild(document.createTextNode(" · "));
    summary.appendChild(document.createTextNode(kv[0] + " "));
    summary.appendChild(el("b", null, kv[1]));
  });
  var notes = $("notes");
  text(notes, "Started " + new Date(D.startedAt).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC") + ". ");
  if (D.sampled) {
    notes.appendChild(el("span", "warn", "Over the limit of " + fmtN(D.limit) + " kept requests: the waterfall, the time breakdown and hover show a uniform sample of " +
      fmtN(D.kept) + " of " + fmtN(D.total) + " requests; counts, percentiles, the timeline and the tables cover all of them."));
  }
  if (D.inFlight > 0) notes.appendChild(el("span", "warn", " " + D.inFlight + " still in flight when the report was made."));
  $("generated").textContent = D.generatedAt;

  // ---- where the time went ------------------------------------------------
  var totals = [0, 0, 0, 0, 0, 0], tmp = [];
  for (var r = 0; r < n; r++) {
    if (segs[r]) {
      spans(r, tmp);
      for (var k = 0; k < tmp.length; k++) totals[tmp[k][2]] += tmp[k][1] - tmp[k][0];
      continue;
    }
    // The same sums as spans(), without allocating (most rows have no earlier attempts).
    var q = r * PS, c0 = R.phases[q + 1], t0_ = R.phases[q + 2], s0 = R.phases[q + 3], h0 = R.phases[q + 4], e0 = R.phases[q + 5];
    var net0 = c0 >= 0 ? c0 : s0 >= 0 ? s0 : e0;
    if (net0 > 0) totals[0] += net0;
    if (c0 >= 0) { var ce0 = t0_ >= 0 ? t0_ : s0 >= 0 ? s0 : e0; if (ce0 > c0) totals[1] += ce0 - c0; }
    if (t0_ >= 0) { var te0 = s0 >= 0 ? s0 : e0; if (te0 > t0_) totals[2] += te0 - t0_; }
    if (s0 >= 0) { var we0 = h0 >= 0 ? h0 : e0; if (we0 > s0) totals[3] += we0 - s0; }
    if (h0 >= 0 && e0 > h0) totals[4] += e0 - h0;
  }
  var all = sum(totals), bd = $("breakdown");
  var stack = el("div", "bar-stack"), leg = el("div", "breakdown-legend");
  var order = [0, 1, 2, 3, 4, 5].sort(function (a, b) { return totals[b] - totals[a]; });
  PH.forEach(function (ph, i) {
    var d = el("div"); d.style.width = (all > 0 ? 100 * totals[i] / all : 0) + "%"; d.style.background = ph.color;
    d.title = ph.label + ": " + pct(totals[i], all); stack.appendChild(d);
  });
  order.forEach(function (i) {
    var ph = PH[i], s = el("span");
    var sw = el("i"); sw.style.cssText = "display:inline-block;width:12px;height:10px;border-radius:2px;margin-right:5px;background:" + ph.color;
    s.appendChild(sw); s.appendChild(document.createTextNode(ph.label + " ")); s.appendChild(el("b", null, pct(totals[i], all)));
    s.appendChild(document.createTextNode(" (" + fmtMs(n > 0 ? totals[i] / n : 0) + " per request)"));
    s.title = ph.hint; leg.appendChild(s);
  });
  bd.appendChild(stack); bd.appendChild(leg);
  if (all > 0) {
    var top = order[0];
    bd.appendChild(el("div", "notes", "Most of the request time was " + PH[top].label + " (" + pct(totals[top], all) + "): " + PH[top].hint + "."));
  }

  // ---- waterfall ---------------------------------------------------------
  var legend = $("legend");
  PH.forEach(function (ph) {
    var s = el("span"), i = el("i"); i.style.background = ph.color; s.appendChild(i); s.appendChild(document.createTextNode(ph.label)); legend.appendChild(s);
  });
  Object.keys(D.errors.reduce(function (m, e) { m[e[0]] = 1; return m; }, {})).forEach(function (tag) {
    var s = el("span"), i = el("i"); i.style.background = tagColor(tag); s.appendChild(i); s.appendChild(document.createTextNode("✕ " + tag)); legend.appendChild(s);
  });

  // Rows by start time: one numeric sort of (start in tenths, row) packed
  // in a double, no comparator call per pair.
  var byStart = new Uint32Array(n), K = 1;
  while (K <= n) K *= 2;
  var keys = new Float64Array(n);
  for (var bi = 0; bi < n; bi++) keys[bi] = Math.round(R.start[bi] * 10) * K + bi;
  keys.sort();
  for (var bj = 0; bj < n; bj++) byStart[bj] = ((keys[bj] % K) + K) % K;
  var rankOf = new Uint32Array(n);
  for (var bk = 0; bk < n; bk++) rankOf[byStart[bk]] = bk;
  var maxEnd = dur;
  for (var mi = 0; mi < n; mi++) { var en = rowEnd(mi); if (en > maxEnd) maxEnd = en; }
  if (!(maxEnd > 0)) maxEnd = 1;
  var full = { t0: 0, t1: maxEnd * 1.02, r0: 0, r1: Math.max(n, 1) };
  var view = { t0: full.t0, t1: full.t1, r0: full.r0, r1: full.r1 };
  var wf = $("waterfall"), wov = $("waterfall-overlay"), dpr = Math.max(1, Math.min(2, window.devicePixelRatio || 1));
  var AXIS = 22, GUT = 54;
  var rgba = function (hex, alpha) {
    var v = parseInt(hex.slice(1), 16), r = v >> 16 & 255, g = v >> 8 & 255, b = v & 255;
    if (alpha < 1) { r = Math.round(r * alpha + 255 * (1 - alpha)); g = Math.round(g * alpha + 255 * (1 - alpha)); b = Math.round(b * alpha + 255 * (1 - alpha)); }
    return (255 << 24 | b << 16 | g << 8 | r) >>> 0;
  };
  var PX = PH.map(function (p) { return rgba(p.color, 1); });
  var PXL = PH.map(function (p) { return rgba(p.color, 0.45); });
  var OUTPX = OUT.map(function (o) { return rgba(tagColor(o), 1); });
  var geom = null;

  function sizeCanvas(c) {
    var w = Math.max(200, Math.round(c.clientWidth * dpr)), h = Math.max(100, Math.round(c.clientHeight * dpr));
    if (c.width !== w || c.height !== h) { c.width = w; c.height = h; }
    return [w, h];
  }
  function niceStep(span, target) {
    var raw = span / target, p = Math.pow(10, Math.floor(Math.log10(raw))), m = raw / p;
    return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
  }
  function timeAxis(ctx, x0, w, t0, t1, y, h) {
    var step = niceStep(t1 - t0, Math.max(2, w / (110 * dpr)));
    ctx.fillStyle = "#6b7280"; ctx.strokeStyle = "rgba(0,0,0,0.07)"; ctx.lineWidth = 1;
    ctx.font = (11 * dpr) + "px system-ui, sans-serif"; ctx.textBaseline = "middle";
    for (var t = Math.ceil(t0 / step) * step; t <= t1; t += step) {
      var x = Math.round(x0 + (t - t0) / (t1 - t0) * w) + 0.5;
      ctx.beginPath(); ctx.moveTo(x, y + AXIS * dpr * 0.75); ctx.lineTo(x, y + h); ctx.stroke();
      ctx.fillText(fmtMs(t), x + 3 * dpr, y + AXIS * dpr * 0.4);
    }
  }

  var drawn = 0;
  function drawWaterfall() {
    var wh = sizeCanvas(wf), W = wh[0], H = wh[1];
    sizeCanvas(wov);
    var ctx = wf.getContext("2d");
    var top = AXIS * dpr, left = GUT * dpr, pw = W - left, ph = H - top;
    var img = ctx.createImageData(W, H), buf = new Uint32Array(img.data.buffer);
    buf.fill(0xffffffff);
    var t0 = view.t0, t1 = view.t1, sx = pw / (t1 - t0);
    var r0 = Math.max(0, Math.floor(view.r0)), r1 = Math.min(n, Math.ceil(view.r1));
    var rowH = ph / (view.r1 - view.r0), gap = rowH >= 5 ? 1 : 0, sp = [];
    var count = 0;
    function fill(x0, x1, y0, y1, color) {
      if (x1 <= 0 || x0 >= pw) return;
      var a = Math.max(0, Math.floor(x0)), b = Math.min(pw, Math.max(a + 1, Math.ceil(x1)));
      for (var y = y0; y < y1; y++) { var base = y * W + left; buf.fill(color, base + a, base + b); }
      count++;
    }
    function rowY(k) {
      var y0 = top + Math.floor((k - view.r0) * rowH), y1 = Math.max(y0 + 1, top + Math.floor((k + 1 - view.r0) * rowH) - gap);
      return [Math.max(top, y0), Math.min(H, y1)];
    }
    for (var k = r0; k < r1; k++) {
      var row = byStart[k], s = R.start[row], yy = rowY(k);
      if (yy[1] <= yy[0]) continue;
      var segsOf = segs[row];
      if (segsOf) {
        for (var q = 1; q < segsOf.length; q += SS) {
          var d = segsOf[q], c = segsOf[q + 1], tl = segsOf[q + 2], sn = segsOf[q + 3], hd = segsOf[q + 4], e = segsOf[q + 5];
          var net = c >= 0 ? c : sn >= 0 ? sn : e;
          fill((s + d - t0) * sx, (s + net - t0) * sx, yy[0], yy[1], PXL[0]);
          if (c >= 0) fill((s + c - t0) * sx, (s + (tl >= 0 ? tl : sn >= 0 ? sn : e) - t0) * sx, yy[0], yy[1], PXL[1]);
          if (tl >= 0) fill((s + tl - t0) * sx, (s + (sn >= 0 ? sn : e) - t0) * sx, yy[0], yy[1], PXL[2]);
          if (sn >= 0) fill((s + sn - t0) * sx, (s + (hd >= 0 ? hd : e) - t0) * sx, yy[0], yy[1], PXL[3]);
          if (hd >= 0) fill((s + hd - t0) * sx, (s + e - t0) * sx, yy[0], yy[1], PXL[4]);
          var ex = (s + e - t0) * sx;
          fill(ex - 1, ex + 1, yy[0], yy[1], OUTPX[segsOf[q + 7]]);
        }
      }
      spans(row, sp);
      for (var j = 0; j < sp.length; j++) {
        if (sp[j][2] === 5) continue;
        fill((s + sp[j][0] - t0) * sx, (s + sp[j][1] - t0) * sx, yy[0], yy[1], PX[sp[j][2]]);
      }
    }
    // Failures on top, so dense rows cannot hide them.
    for (var k2 = r0; k2 < r1; k2++) {
      var row2 = byStart[k2], o = R.outcome[row2];
      if (o === 0) continue;
      var y2 = rowY(k2), x = (rowEnd(row2) - t0) * sx;
      var mw = rowH < 1 ? 1 : 2;
      fill(x - mw * dpr, x + mw * dpr, Math.max(top, y2[0] - (rowH < 3 ? 1 : 0)), Math.min(H, y2[1] + (rowH < 3 ? 1 : 0)), OUTPX[o]);
    }
    ctx.putImageData(img, 0, 0);
    timeAxis(ctx, left, pw, t0, t1, 0, H);
    // Row axis: request number by start time.
    ctx.fillStyle = "#6b7280"; ctx.textBaseline = "middle"; ctx.textAlign = "right";
    var rstep = Math.max(1, niceStep(view.r1 - view.r0, Math.max(2, ph / (60 * dpr))));
    for (var rr = Math.ceil(view.r0 / rstep) * rstep; rr < view.r1; rr += rstep) {
      var yr = top + (rr - view.r0) * rowH;
      ctx.fillText("#" + fmtN(Math.round(rr)), left - 5 * dpr, yr);
    }
    ctx.textAlign = "left";
    ctx.strokeStyle = "#e5e7eb"; ctx.beginPath(); ctx.moveTo(left - 0.5, top); ctx.lineTo(left - 0.5, H); ctx.stroke();
    geom = { W: W, H: H, top: top, left: left, pw: pw, ph: ph, sx: sx, rowH: rowH };
    drawn = count;
    wf.setAttribute("data-drawn", String(count));
    wf.setAttribute("data-rows", String(Math.max(0, r1 - r0)));
  }

  // Which row is under the pointer (device px inside the canvas)?
  function rowAt(px, py) {
    if (!geom || py < geom.top || px < geom.left || n === 0) return -1;
    var kf = view.r0 + (py - geom.top) / geom.rowH, t = view.t0 + (px - geom.left) / geom.sx;
    var k0 = Math.max(0, Math.floor(kf - 0.5 / geom.rowH * 3)), k1 = Math.min(n - 1, Math.floor(kf + 0.5 / geom.rowH * 3));
    if (geom.rowH >= 1) { k0 = k1 = Math.min(n - 1, Math.max(0, Math.floor(kf))); }
    var best = -1, bestD = Infinity;
    for (var k = k0; k <= k1; k++) {
      var row = byStart[k], s = R.start[row], e = rowEnd(row);
      var d = t < s ? s - t : t > e ? t - e : 0;
      if (d < bestD || (d === bestD && R.outcome[row] !== 0)) { best = row; bestD = d; }
    }
    return bestD * geom.sx <= 12 * dpr ? best : -1;
  }

  var tip = $("tooltip");
  function showTip(row, cx, cy) {
    tip.textContent = "";
    var p = row * PS, o = OUT[R.outcome[row]];
    tip.appendChild(el("div", "url", urlOf(row) || "(an effect without a URL)"));
    var line = (o === "ok" ? "✓ " + (R.status[row] || "ok") : "✕ " + o + (R.status[row] ? " " + R.status[row] : "")) +
      " · " + R.attempts[row] + (R.attempts[row] === 1 ? " attempt" : " attempts") +
      " · started +" + fmtMs(R.start[row]) + " · total " + fmtMs(R.phases[p + 5]) +
      (R.bytes[row] > 0 ? " · " + fmtBytes(R.bytes[row]) : "");
    var head = el("div", null, line);
    if (o !== "ok") head.style.color = "#fca5a5";
    tip.appendChild(head);
    var table = el("table"), sp = spans(row, []);
    sp.forEach(function (x) {
      var tr = el("tr"), td = el("td"), sw = el("i");
      sw.style.background = PH[x[2]].color; td.appendChild(sw); td.appendChild(document.createTextNode(PH[x[2]].label));
      tr.appendChild(td); tr.appendChild(el("td", null, fmtMs(x[1] - x[0]))); tr.appendChild(el("td", null, "at +" + fmtMs(x[0])));
      table.appendChild(tr);
    });
    tip.appendChild(table);
    var s = segs[row];
    if (s) {
      var list = el("div", null, "Earlier attempts:");
      list.style.marginTop = "4px";
      for (var q = 1; q < s.length; q += SS) {
        var oc = OUT[s[q + 7]];
        list.appendChild(el("div", null, "  " + (oc === "Redirect" ? "↪ redirect " : "↻ ") + (s[q + 6] ? s[q + 6] + " " : "") + (oc === "Redirect" ? "" : oc) +
          " · " + fmtMs(s[q + 5] - s[q]) + " (at +" + fmtMs(s[q]) + ")"));
      }
      tip.appendChild(list);
    }
    tip.hidden = false;
    var tw = tip.offsetWidth, th = tip.offsetHeight;
    tip.style.left = Math.min(window.innerWidth - tw - 8, cx + 14) + "px";
    tip.style.top = (cy + 14 + th > window.innerHeight ? cy - th - 10 : cy + 14) + "px";
  }
  function highlight(row) {
    var ctx = wov.getContext("2d");
    ctx.clearRect(0, 0, wov.width, wov.height);
    if (row < 0 || !geom) return;
    var k = rankOf[row];
    var y = geom.top + (k - view.r0) * geom.rowH, h = Math.max(geom.rowH, 2 * dpr);
    ctx.strokeStyle = "#111827"; ctx.lineWidth = dpr;
    var x0 = geom.left + (R.start[row] - view.t0) * geom.sx, x1 = geom.left + (rowEnd(row) - view.t0) * geom.sx;
    ctx.strokeRect(x0 - 2 * dpr, y - dpr, Math.max(4 * dpr, x1 - x0 + 4 * dpr), h + 2 * dpr);
  }

  var box = $("waterfall-box"), drag = null, pending = false;
  function redraw() {
    if (pending) return;
    pending = true;
    requestAnimationFrame(function () { pending = false; drawWaterfall(); drawTimeline(); });
  }
  function clampView() {
    var tspan = Math.max(0.01, Math.min(full.t1 - full.t0, view.t1 - view.t0));
    if (view.t0 < full.t0) view.t0 = full.t0;
    view.t1 = view.t0 + tspan;
    if (view.t1 > full.t1) { view.t1 = full.t1; view.t0 = view.t1 - tspan; }
    var rspan = Math.max(Math.min(5, full.r1), Math.min(full.r1 - full.r0, view.r1 - view.r0));
    if (view.r0 < full.r0) view.r0 = full.r0;
    view.r1 = view.r0 + rspan;
    if (view.r1 > full.r1) { view.r1 = full.r1; view.r0 = view.r1 - rspan; }
  }
  function local(ev) { var b = wf.getBoundingClientRect(); return [(ev.clientX - b.left) * dpr, (ev.clientY - b.top) * dpr]; }
  box.addEventListener("wheel", function (ev) {
    if (!geom) return;
    ev.preventDefault();
    var p = local(ev), f = Math.pow(1.0015, ev.deltaY);
    if (ev.shiftKey || ev.ctrlKey) {
      var kr = view.r0 + Math.max(0, p[1] - geom.top) / geom.rowH;
      view.r0 = kr - (kr - view.r0) * f; view.r1 = kr + (view.r1 - kr) * f;
    } else {
      var tt = view.t0 + Math.max(0, p[0] - geom.left) / geom.sx;
      view.t0 = tt - (tt - view.t0) * f; view.t1 = tt + (view.t1 - tt) * f;
    }
    clampView(); redraw();
  }, { passive: false });
  box.addEventListener("mousedown", function (ev) { drag = { x: ev.clientX, y: ev.clientY, v: { t0: view.t0, t1: view.t1, r0: view.r0, r1: view.r1 } }; });
  window.addEventListener("mouseup", function () { drag = null; });
  box.addEventListener("dblclick", function () { view = { t0: full.t0, t1: full.t1, r0: full.r0, r1: full.r1 }; redraw(); });
  box.addEventListener("mouseleave", function () { tip.hidden = true; highlight(-1); });
  box.addEventListener("mousemove", function (ev) {
    if (drag && geom) {
      var dt = (ev.clientX - drag.x) * dpr / geom.sx, dr = (ev.clientY - drag.y) * dpr / geom.rowH;
      view.t0 = drag.v.t0 - dt; view.t1 = drag.v.t1 - dt; view.r0 = drag.v.r0 - dr; view.r1 = drag.v.r1 - dr;
      clampView(); redraw(); tip.hidden = true; return;
    }
    var p = local(ev), row = rowAt(p[0], p[1]);
    if (row < 0) { tip.hidden = true; highlight(-1); return; }
    highlight(row); showTip(row, ev.clientX, ev.clientY);
  });

  // ---- timeline ------------------------------------------------------------
  var TL = D.timeline, tlc = $("timeline");
  var level = [], carried = 0;
  for (var b = 0; b < TL.peak.length; b++) { level.push(Math.max(carried, TL.peak[b])); if (TL.last[b] >= 0) carried = TL.last[b]; }
  var atLimit = 0, busy = 0;
  if (limit != null) {
    for (var lb = 0; lb < TL.peak.length; lb++) { if (level[lb] > 0) { busy++; if (level[lb] >= limit) atLimit++; } }
  }
  var tnote = $("timeline-note");
  if (limit != null && busy > 0) {
    var share = atLimit / busy;
    text(tnote, "In flight was at the concurrency limit (" + limit + ") for " + pct(atLimit, busy) + " of the busy time" +
      (share > 0.6 ? ": the limit paced this run; more concurrency (if the servers allow) would shorten it." : share < 0.2 ? ": the limit was rarely reached; the servers or the input paced this run." : "."));
  }
  function drawTimeline() {
    var wh = sizeCanvas(tlc), W = wh[0], H = wh[1], ctx = tlc.getContext("2d");
    ctx.clearRect(0, 0, W, H);
    var left = GUT * dpr, right = 56 * dpr, top = AXIS * dpr, pw = W - left - right, ph = H - top - 10 * dpr;
    var t0 = view.t0, t1 = view.t1, sx = pw / (t1 - t0), w = TL.widthMs;
    var maxLevel = Math.max(1, limit || 0, Math.max.apply(null, level.concat([1]))) * 1.1;
    // Bars at least 6 px (and 1/150 of the width) wide: neighbouring buckets are summed.
    var g = Math.max(1, Math.ceil(Math.max(6 * dpr, pw / 150) / (w * sx))), gw = g * w, oks = [], fails = [], rets = [], maxRate = 1;
    for (var i = 0; i < TL.ok.length; i++) {
      var gi = Math.floor(i / g);
      oks[gi] = (oks[gi] || 0) + TL.ok[i]; fails[gi] = (fails[gi] || 0) + TL.failed[i]; rets[gi] = (rets[gi] || 0) + TL.retries[i];
    }
    for (var gi2 = 0; gi2 < oks.length; gi2++) { var rate = (oks[gi2] + fails[gi2]) * 1000 / gw; if (rate > maxRate) maxRate = rate; }
    maxRate *= 1.1;
    timeAxis(ctx, left, pw, t0, t1, 0, H - 10 * dpr);
    var y0 = top + ph;
    for (var j = 0; j < oks.length; j++) {
      var xa = left + (j * gw - t0) * sx, xb = left + ((j + 1) * gw - t0) * sx;
      if (xb < left || xa > left + pw) continue;
      xa = Math.max(left, xa); xb = Math.min(left + pw, xb);
      var okH = oks[j] * 1000 / gw / maxRate * ph, fH = fails[j] * 1000 / gw / maxRate * ph;
      ctx.fillStyle = "rgba(34,197,94,0.45)"; ctx.fillRect(xa, y0 - okH, Math.max(1, xb - xa - (xb - xa > 3 ? 1 : 0)), okH);
      ctx.fillStyle = "rgba(220,38,38,0.75)"; ctx.fillRect(xa, y0 - okH - fH, Math.max(1, xb - xa - (xb - xa > 3 ? 1 : 0)), fH);
      if (rets[j] > 0) { ctx.fillStyle = "#ea580c"; ctx.fillRect(xa, y0 + 2 * dpr, Math.max(2 * dpr, xb - xa), 4 * dpr); }
    }
    ctx.strokeStyle = "#1d4ed8"; ctx.lineWidth = 1.5 * dpr; ctx.beginPath();
    for (var m = 0; m < level.length; m++) {
      var x1 = left + (m * w - t0) * sx, x2 = left + ((m + 1) * w - t0) * sx, y = y0 - level[m] / maxLevel * ph;
      if (x2 < left || x1 > left + pw) continue;
      x1 = Math.max(left, x1); x2 = Math.min(left + pw, x2);
      if (m === 0 || x1 <= left) ctx.moveTo(x1, y); else ctx.lineTo(x1, y);
      ctx.lineTo(x2, y);
    }
    ctx.stroke();
    if (limit != null) {
      var yl = y0 - limit / maxLevel * ph;
      ctx.setLineDash([6 * dpr, 4 * dpr]); ctx.strokeStyle = "#dc2626"; ctx.lineWidth = dpr;
      ctx.beginPath(); ctx.moveTo(left, yl); ctx.lineTo(left + pw, yl); ctx.stroke(); ctx.setLineDash([]);
      ctx.fillStyle = "#dc2626"; ctx.textBaseline = "bottom"; ctx.fillText("concurrency limit " + limit, left + 4 * dpr, yl - 2 * dpr);
    }
    ctx.textBaseline = "middle"; ctx.textAlign = "right"; ctx.fillStyle = "#1d4ed8";
    for (var a = 0; a <= 4; a++) ctx.fillText(String(Math.round(maxLevel * a / 4)), left - 5 * dpr, y0 - ph * a / 4);
    ctx.textAlign = "left"; ctx.fillStyle = "#15803d";
    for (var a2 = 0; a2 <= 4; a2++) ctx.fillText(fmtN(Math.round(maxRate * a2 / 4)) + "/s", left + pw + 4 * dpr, y0 - ph * a2 / 4);
  }

  // ---- latency histogram -----------------------------------------------------
  var sel = $("hist-origin");
  var histChoices = [{ name: "all origins", h: D.overall }].concat(D.origins.slice().sort(function (a, b) { return b.requests - a.requests; }).slice(0, 200).map(function (o) { return { name: o.name, h: o }; }));
  histChoices.forEach(function (c, i) { var op = el("option", null, c.name); op.value = String(i); sel.appendChild(op); });
  var hc = $("histogram");
  function drawHistogram() {
    var choice = histChoices[Number(sel.value) || 0], h = choice.h, pairs = h.hist;
    var wh = sizeCanvas(hc), W = wh[0], H = wh[1], ctx = hc.getContext("2d");
    ctx.clearRect(0, 0, W, H);
    var left = 44 * dpr, pw = W - left - 12 * dpr, top = 18 * dpr, ph = H - top - 26 * dpr, y0 = top + ph;
    if (pairs.length === 0) { ctx.fillStyle = "#6b7280"; ctx.fillText("no latencies", left, top + 20); return; }
    var S = D.histScale, k0 = pairs[0][0], k1 = pairs[pairs.length - 1][0] + 1;
    var bins = Math.max(1, Math.min(80, k1 - k0)), per = (k1 - k0) / bins, counts = new Array(bins).fill(0), maxC = 1;
    pairs.forEach(function (p) { var bI = Math.min(bins - 1, Math.floor((p[0] - k0) / per)); counts[bI] += p[1]; });
    counts.forEach(function (c) { if (c > maxC) maxC = c; });
    var bw = pw / bins;
    ctx.fillStyle = "#60a5fa";
    for (var i = 0; i < bins; i++) { var hh = counts[i] / maxC * ph; ctx.fillRect(left + i * bw, y0 - hh, Math.max(1, bw - 1), hh); }
    var xOf = function (ms) { return left + (Math.log(ms) * S - k0) / (k1 - k0) * pw; };
    ctx.font = (11 * dpr) + "px system-ui, sans-serif"; ctx.textBaseline = "top";
    [["p50", h.p50, "#15803d"], ["p95", h.p95, "#b45309"], ["p99", h.p99, "#dc2626"]].forEach(function (q, i) {
      if (q[1] == null) return;
      var x = xOf(q[1]);
      ctx.strokeStyle = q[2]; ctx.lineWidth = 1.5 * dpr; ctx.beginPath(); ctx.moveTo(x, top); ctx.lineTo(x, y0); ctx.stroke();
      ctx.fillStyle = q[2]; ctx.fillText(q[0] + " " + fmtMs(q[1]), Math.min(x + 3 * dpr, W - 80 * dpr), top - 14 * dpr + i * 12 * dpr);
    });
    ctx.fillStyle = "#6b7280"; ctx.textAlign = "center";
    var lo = Math.exp(k0 / S), hi = Math.exp(k1 / S);
    for (var e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
      [1, 2, 5].forEach(function (m) {
        var v = m * Math.pow(10, e);
        if (v < lo || v > hi) return;
        var x = xOf(v); ctx.fillRect(x, y0, dpr, 4 * dpr); ctx.fillText(fmtMs(v), x, y0 + 6 * dpr);
      });
    }
    ctx.textAlign = "right"; ctx.textBaseline = "middle";
    ctx.fillText(fmtN(maxC), left - 4 * dpr, top); ctx.fillText("0", left - 4 * dpr, y0);
    ctx.textAlign = "left";
    text($("hist-note"), choice.name + ": " + fmtN(sum(pairs.map(function (p) { return p[1]; }))) + " requests, total time per fetch (retries included), log scale.");
  }
  sel.addEventListener("change", drawHistogram);

  // ---- statuses and errors ---------------------------------------------------
  var st = $("statuses"), grid = el("div", "rows");
  var maxS = 1;
  D.statuses.forEach(function (s) { if (s[1] > maxS) maxS = s[1]; });
  D.errors.forEach(function (s) { if (s[1] > maxS) maxS = s[1]; });
  function addBar(label, count, color) {
    grid.appendChild(el("div", null, label));
    var f = el("div", "fill"); f.style.width = Math.max(0.5, 100 * count / maxS) + "%"; f.style.background = color; grid.appendChild(f);
    grid.appendChild(el("div", "n", fmtN(count) + " (" + pct(count, D.total) + ")"));
  }
  D.statuses.forEach(function (s) {
    addBar("HTTP " + s[0], s[1], s[0] < 300 ? "#22c55e" : s[0] < 400 ? "#06b6d4" : s[0] === 429 ? "#f59e0b" : "#dc2626");
  });
  D.errors.forEach(function (e) { addBar("✕ " + e[0], e[1], tagColor(e[0])); });
  (D.caches || []).forEach(function (c) { addBar("cache " + c[0], c[1], c[0] === "hit" ? "#16a34a" : c[0] === "revalidated" ? "#0891b2" : "#94a3b8"); });
  if (D.statuses.length + D.errors.length === 0) grid.appendChild(el("div", "notes", "nothing recorded"));
  st.appendChild(grid);
  st.appendChild(el("div", "notes", "Statuses are of final responses; errors count fetches that failed (a BadStatus is also counted under its status)." + ((D.caches || []).length > 0 ? " Cache: hit (no request), revalidated (a 304), miss (fetched)." : "")));

  // ---- origins table ---------------------------------------------------------
  var tbl = $("origins"), head = el("tr");
  ["origin", "requests", "ok", "failed (by tag)", "retries", "redirects", "bytes", "p50", "p95", "p99"].forEach(function (h) { head.appendChild(el("th", null, h)); });
  var thead = el("thead"); thead.appendChild(head); tbl.appendChild(thead);
  var tbody = el("tbody");
  D.origins.slice().sort(function (a, b) { return b.requests - a.requests; }).slice(0, 500).forEach(function (o) {
    var tr = el("tr");
    tr.appendChild(el("td", null, o.name));
    tr.appendChild(el("td", null, fmtN(o.requests)));
    tr.appendChild(el("td", null, fmtN(o.ok)));
    var tags = el("td", "tags");
    if (o.failed.length === 0) tags.textContent = "–";
    o.failed.forEach(function (f, i) {
      var s = el("span", null, (i > 0 ? ", " : "") + f[0] + " " + fmtN(f[1])); s.style.color = tagColor(f[0]); tags.appendChild(s);
    });
    tr.appendChild(tags);
    tr.appendChild(el("td", null, fmtN(o.retries)));
    tr.appendChild(el("td", null, fmtN(o.redirects)));
    tr.appendChild(el("td", null, fmtBytes(o.bytes)));
    tr.appendChild(el("td", null, fmtMs(o.p50)));
    tr.appendChild(el("td", null, fmtMs(o.p95)));
    tr.appendChild(el("td", null, fmtMs(o.p99)));
    tbody.appendChild(tr);
  });
  tbl.appendChild(tbody);
  if (D.origins.length > 500) $("origins").parentNode.appendChild(el("div", "notes", (D.origins.length - 500) + " smaller origins not shown."));

  function drawAll() { drawWaterfall(); drawTimeline(); drawHistogram(); }
  window.addEventListener("resize", function () { redraw(); drawHistogram(); });
  marks.prepared = performance.now();
  drawAll();
  marks.drawn = performance.now();
  // Milliseconds since navigation start, for the bench: the page loaded,
  // the data parsed, tables and indexes built, every chart drawn.
  document.body.setAttribute("data-marks", JSON.stringify(marks));
  document.body.setAttribute("data-drawn-ms", String(Math.round(marks.drawn - marks.prepared)));
  document.body.setAttribute("data-ready", "true");
})();
`
