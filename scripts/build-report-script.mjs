#!/usr/bin/env node
/**
 * Bundles the report page's script (`src/internal/report/browser/`, typed
 * TypeScript against the DOM) into `src/internal/report/pageScript.ts`, the
 * one string the page inlines. The library itself never runs the bundler:
 * the string is committed, so the page is the same however the library is
 * loaded (tsc's dist, tsx, vitest, a user's bundler).
 *
 * Usage: node scripts/build-report-script.mjs [--check]
 *   --check: exit 1, writing nothing, when the committed string is not what
 *   the sources bundle to.
 */
import * as esbuild from "esbuild"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
const entry = path.join(root, "src/internal/report/browser/main.ts")
const target = path.join(root, "src/internal/report/pageScript.ts")

const result = await esbuild.build({
  entryPoints: [entry],
  bundle: true,
  write: false,
  // One function scope, strict (tsconfig's `strict`), readable in the page.
  format: "iife",
  target: "es2022",
  platform: "browser",
  charset: "utf8",
  legalComments: "none"
})
const script = result.outputFiles[0].text

const module = `/**
 * The report page's script, bundled from \`./browser/\` by
 * \`scripts/build-report-script.mjs\` (\`npm run build:report-script\`); do not
 * edit: change the sources and run it again (\`npm run check:report-script\`
 * says whether this is current).
 */

/** The script the page inlines. */
export const clientScript =
  ${JSON.stringify(script)}
`

if (process.argv.includes("--check")) {
  const current = fs.existsSync(target) ? fs.readFileSync(target, "utf8") : ""
  if (current !== module) {
    console.error(`${path.relative(root, target)} is not what ./browser/ bundles to: run npm run build:report-script`)
    process.exit(1)
  }
  console.log(`${path.relative(root, target)} is current`)
} else {
  fs.writeFileSync(target, module)
  console.log(`wrote ${path.relative(root, target)} (${script.length} characters)`)
}
