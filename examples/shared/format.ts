/**
 * Text formatting for the examples' tables and bar charts.
 */

/** Milliseconds as seconds with two decimals: `"1.25 s"`. */
export const seconds = (ms: number): string => `${(ms / 1000).toFixed(2)} s`

const eighths = ["", "▏", "▎", "▍", "▌", "▋", "▊", "▉"]

/**
 * A horizontal bar `value / max` of `width` cells, drawn in eighths of a
 * cell, padded to `width`. A value above zero always shows something.
 */
export const bar = (value: number, max: number, width: number): string => {
  const units = max <= 0 ? 0 : Math.max(value > 0 ? 1 : 0, Math.round((Math.min(value, max) / max) * width * 8))
  const drawn = "█".repeat(Math.floor(units / 8)) + eighths[units % 8]
  return drawn.padEnd(width)
}

/**
 * A bar that starts at `start` and lasts `length` on a line of `width`
 * cells scaled to `max`: one row of a timeline.
 */
export const span = (start: number, length: number, max: number, width: number): string => {
  const scale = (x: number) => Math.round((Math.max(0, Math.min(x, max)) / max) * width)
  const from = Math.min(scale(start), width - 1)
  const to = Math.max(from + 1, scale(start + length))
  return (" ".repeat(from) + "█".repeat(to - from)).padEnd(width)
}
