/**
 * A real headless Chromium for tests and the bench, from `npm install`
 * alone: `@sparticuz/chromium` ships the browser inside its package and
 * unpacks it to /tmp on first use; Debian's `/usr/bin/chromium` is the
 * fallback. Driven by `playwright-core` (which downloads nothing).
 */
import * as fs from "node:fs"
import { chromium as playwright } from "playwright-core"
import type { Browser } from "playwright-core"

const quiet = [
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-default-apps",
  "--disable-sync",
  "--no-first-run",
  "--metrics-recording-only",
  "--mute-audio"
]

/** Launches Chromium; the caller closes it. */
export const launch = async (): Promise<Browser> => {
  try {
    const { default: chromium } = await import("@sparticuz/chromium")
    const executablePath = await chromium.executablePath()
    return await playwright.launch({ executablePath, args: [...chromium.args, ...quiet], headless: true })
  } catch (error) {
    if (!fs.existsSync("/usr/bin/chromium")) throw error
    return await playwright.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox", ...quiet], headless: true })
  }
}
