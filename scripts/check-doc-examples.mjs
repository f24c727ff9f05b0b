#!/usr/bin/env node
/**
 * Type-checks every `@example` of the public modules (src/*.ts): each
 * ```ts block inside a JSDoc `@example` is written to its own file under
 * .doc-examples/ (where tsconfig.json's `paths` resolve `effect-gather` to
 * src/) and compiled with `tsc --noEmit`. Unused names are allowed: an
 * example shows a value, it need not use it.
 *
 * Usage: node scripts/check-doc-examples.mjs
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
const out = path.join(root, ".doc-examples")

/** Pure: the ```ts blocks of the `@example` tags of a source file, with their line numbers. */
const examplesOf = (source) => {
  const found = []
  for (const comment of source.matchAll(/\/\*\*[\s\S]*?\*\//g)) {
    const lines = comment[0].split("\n").map((line) => line.replace(/^\s*\*\s?/, "").replace(/^\/\*\*\s?/, ""))
    const firstLine = source.slice(0, comment.index).split("\n").length
    let inExample = false
    for (let i = 0; i < lines.length; i++) {
      if (/^@example\b/.test(lines[i])) inExample = true
      else if (/^@\w/.test(lines[i])) inExample = false
      if (inExample && /^```(ts|typescript)\b/.test(lines[i])) {
        const end = lines.findIndex((line, j) => j > i && line.startsWith("```"))
        if (end < 0) throw new Error(`unclosed example at line ${firstLine + i}`)
        found.push({ line: firstLine + i, code: lines.slice(i + 1, end).join("\n") })
        i = end
      }
    }
  }
  return found
}

fs.rmSync(out, { recursive: true, force: true })
fs.mkdirSync(out)
const written = []
for (const file of fs.readdirSync(path.join(root, "src")).filter((f) => f.endsWith(".ts")).sort()) {
  const examples = examplesOf(fs.readFileSync(path.join(root, "src", file), "utf8"))
  examples.forEach(({ code, line }, i) => {
    const name = `${file.replace(/\.ts$/, "")}.${i + 1}.ts`
    // The source location first, so a compile error points back to it.
    fs.writeFileSync(path.join(out, name), `// src/${file}:${line}\n${code}\nexport {}\n`)
    written.push(name)
  })
}
if (written.length === 0) {
  console.error("check-doc-examples: no @example blocks found in src/*.ts")
  process.exit(1)
}
fs.writeFileSync(
  path.join(out, "tsconfig.json"),
  JSON.stringify(
    {
      extends: "../tsconfig.json",
      compilerOptions: { noUnusedLocals: false, noUnusedParameters: false, types: ["node"] },
      include: ["./*.ts"]
    },
    null,
    2
  ) + "\n"
)
try {
  execFileSync(process.execPath, [path.join(root, "node_modules/typescript/bin/tsc"), "--noEmit", "-p", out], {
    cwd: root,
    stdio: "inherit"
  })
  console.log(`check-doc-examples: ${written.length} examples from src/*.ts compile`)
} catch {
  console.error(`check-doc-examples: an example does not compile (the files are in .doc-examples/)`)
  process.exit(1)
}
fs.rmSync(out, { recursive: true, force: true })
