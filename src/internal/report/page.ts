/**
 * The report page's style and script, inlined into every report. The script
 * is plain browser code (no library): it reads the JSON data block and draws
 * on canvases. Its sources are typed TypeScript in `./browser/`, bundled into
 * `./pageScript.ts` by `scripts/build-report-script.mjs`.
 */
export { clientScript } from "./pageScript.js"

/** The page's CSS. */
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
