#!/usr/bin/env node
/**
 * Installs this package the way the README tells an app to, and checks the
 * README's app still compiles and its test passes against what was installed.
 *
 * 1. `npm pack` (which runs `prepare`, i.e. the build) into a temporary dir.
 * 2. A fresh app there: the README's `npm install` lines (the ```sh blocks
 *    tagged `app-install`), with `effect-gather` replaced by the tarball and
 *    `--offline` added, so the dependencies come from the local npm cache
 *    (filled by `npm ci`). Where the cache lacks a package's metadata (npm ci
 *    stores tarballs, not always the metadata a range is resolved against),
 *    it runs again with `--prefer-offline`: tarballs still from the cache.
 * 3. Every README block tagged `file=PATH` written to PATH in the app (so the
 *    snippets checked are the README's own text), then `tsc --noEmit` and
 *    `vitest run` in the app.
 * 4. Importing `effect-gather`, `/Fetch`, `/Gather`, `/Session` and
 *    `/DemoServer` from the installed package loads nothing of `@effect/cli`,
 *    and `effect-gather` nothing of the demo server; the cost of each import
 *    (ms, RSS) is printed.
 *
 * Usage: node scripts/check-install.mjs [--keep]
 */
import { execFileSync, execSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
const keep = process.argv.includes("--keep")

/** Fenced blocks of the README as `{ info, body }`. */
const fencedBlocks = (markdown) => {
  const blocks = []
  const re = /^```([^\n]*)\n([\s\S]*?)^```[ \t]*$/gm
  for (const match of markdown.matchAll(re)) blocks.push({ info: match[1].trim(), body: match[2] })
  return blocks
}

const fail = (message) => {
  console.error(`check-install: ${message}`)
  process.exit(1)
}

const run = (command, cwd) => {
  console.log(`$ ${command}`)
  execSync(command, { cwd, stdio: "inherit", env: { ...process.env, NO_COLOR: "1" } })
}

const readme = fs.readFileSync(path.join(root, "README.md"), "utf8")
const blocks = fencedBlocks(readme)
const installs = blocks
  .filter((b) => b.info.split(/\s+/).includes("app-install"))
  .flatMap((b) => b.body.split("\n").map((line) => line.replace(/#.*$/, "").trim()).filter((line) => line !== ""))
const files = blocks.flatMap((b) => {
  const match = /(?:^|\s)file=(\S+)/.exec(b.info)
  return match ? [{ file: match[1], body: b.body }] : []
})
if (installs.length === 0) fail("no ```sh app-install block in README.md")
if (files.length === 0) fail("no ```ts file=PATH block in README.md")
for (const line of installs) {
  if (!/^npm install /.test(line)) fail(`an app-install line is not an npm install: ${line}`)
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "effect-gather-install-"))
try {
  const packDir = path.join(tmp, "pack")
  fs.mkdirSync(packDir)
  run(`npm pack --silent --pack-destination ${JSON.stringify(packDir)}`, root)
  const tarballs = fs.readdirSync(packDir).filter((f) => f.endsWith(".tgz"))
  if (tarballs.length !== 1) fail(`expected one tarball, found ${tarballs.join(", ") || "none"}`)
  const tarball = path.join(packDir, tarballs[0])

  const app = path.join(tmp, "app")
  fs.mkdirSync(app)
  fs.writeFileSync(
    path.join(app, "package.json"),
    JSON.stringify({ name: "readme-app", version: "1.0.0", private: true, type: "module" }, null, 2) + "\n"
  )
  for (const line of installs) {
    const words = line.split(/\s+/).map((word) => (word === "effect-gather" ? tarball : word))
    const command = words.join(" ")
    try {
      run(`${command} --offline --no-audit --no-fund`, app)
    } catch {
      // `npm ci` caches tarballs but not always the registry's metadata that a
      // range (`effect@~3.22`) is resolved against; fetch only that.
      console.log("check-install: not all metadata is in the npm cache; again with --prefer-offline")
      run(`${command} --prefer-offline --no-audit --no-fund`, app)
    }
  }
  for (const { file, body } of files) {
    const target = path.join(app, file)
    if (!target.startsWith(app + path.sep)) fail(`file=${file} leaves the app`)
    fs.mkdirSync(path.dirname(target), { recursive: true })
    fs.writeFileSync(target, body)
  }
  console.log(`wrote ${files.map((f) => f.file).join(", ")} from README.md`)
  run("npx --no-install tsc --noEmit", app)
  run("npx --no-install vitest run", app)

  // What importing the package costs, and that the CLI is not part of it.
  fs.writeFileSync(
    path.join(app, "hooks.mjs"),
    `import { appendFileSync } from "node:fs"
export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context)
  appendFileSync(process.env.LOADED_FILE, resolved.url + "\\n")
  return resolved
}
`
  )
  fs.writeFileSync(
    path.join(app, "register.mjs"),
    `import { register } from "node:module"\nregister(new URL("./hooks.mjs", import.meta.url))\n`
  )
  const rows = []
  for (const specifier of ["effect-gather", "effect-gather/Fetch", "effect-gather/Gather", "effect-gather/Session", "effect-gather/DemoServer"]) {
    const loadedFile = path.join(tmp, "loaded.txt")
    fs.rmSync(loadedFile, { force: true })
    execFileSync(process.execPath, ["--import", "./register.mjs", "--input-type=module", "-e", `await import(${JSON.stringify(specifier)})`], {
      cwd: app,
      env: { ...process.env, LOADED_FILE: loadedFile }
    })
    const loaded = [...new Set(fs.readFileSync(loadedFile, "utf8").split("\n").filter(Boolean))]
    const cli = loaded.filter((url) => url.includes("/node_modules/@effect/cli/") || url.includes("/dist/cli/"))
    if (cli.length > 0) fail(`importing ${specifier} loads the CLI: ${cli[0]}`)
    const demo = loaded.filter((url) => url.endsWith("/dist/DemoServer.js") || url.includes("/dist/internal/demo/"))
    if (specifier === "effect-gather" && demo.length > 0) fail(`importing ${specifier} loads the demo server: ${demo[0]}`)
    const out = execFileSync(process.execPath, [
      "--input-type=module",
      "-e",
      `const t = performance.now(); await import(${
        JSON.stringify(specifier)
      }); console.log(JSON.stringify({ ms: performance.now() - t, rss: process.memoryUsage().rss }))`
    ], { cwd: app, encoding: "utf8" })
    const { ms, rss } = JSON.parse(out)
    rows.push(`  ${specifier.padEnd(24)} ${String(loaded.length).padStart(4)} modules  ${ms.toFixed(0).padStart(5)} ms  RSS ${(rss / 1048576).toFixed(0)} MB`)
  }
  console.log("import cost (one cold run each, no @effect/cli loaded, no demo server in the barrel):")
  for (const row of rows) console.log(row)
  console.log("check-install: ok")
} finally {
  if (keep) console.log(`kept ${tmp}`)
  else fs.rmSync(tmp, { recursive: true, force: true })
}
