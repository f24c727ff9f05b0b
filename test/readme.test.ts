/**
 * The README's app (its `file=PATH` blocks) is the code in `examples/app/`,
 * which the suite type-checks and tests; this keeps the two the same text.
 * `scripts/check-install.mjs` compiles and runs the README's copy against
 * the packed package.
 */
import { describe, expect, it } from "@effect/vitest"
import * as fs from "node:fs"

const readme = fs.readFileSync(new URL("../README.md", import.meta.url), "utf8")
const blocks = [...readme.matchAll(/^```([^\n]*)\n([\s\S]*?)^```[ \t]*$/gm)].map((m) => ({
  info: m[1]!.trim(),
  body: m[2]!
}))
const files = blocks.flatMap((b) => {
  const match = /(?:^|\s)file=(\S+)/.exec(b.info)
  return match ? [{ file: match[1]!, body: b.body }] : []
})

describe("README", () => {
  it("has the app's source and test files", () => {
    expect(files.map((f) => f.file)).toEqual(
      expect.arrayContaining(["src/PokemonApi.ts", "src/main.ts", "test/PokemonApi.test.ts"])
    )
  })

  for (const { body, file } of files.filter((f) => f.file.endsWith(".ts"))) {
    it(`shows examples/app/${file} as it is`, () => {
      expect(body).toBe(fs.readFileSync(new URL(`../examples/app/${file}`, import.meta.url), "utf8"))
    })
  }

  it("pins the 3.x line in its install command", () => {
    const install = blocks.find((b) => b.info.split(/\s+/).includes("app-install"))?.body ?? ""
    expect(install).toContain("npm install effect-gather effect@~3.22 @effect/platform@~0.97 @effect/platform-node@~0.108")
    const pkg = JSON.parse(fs.readFileSync(new URL("../package.json", import.meta.url), "utf8"))
    // The peers an app must install are exactly the ones the command names;
    // the rest (the Cluster module's) are marked optional.
    const optional = new Set(Object.keys(pkg.peerDependenciesMeta ?? {}).filter((name) => pkg.peerDependenciesMeta[name].optional === true))
    expect(Object.keys(pkg.peerDependencies).filter((name) => !optional.has(name)).sort()).toEqual([
      "@effect/platform",
      "@effect/platform-node",
      "effect"
    ])
  })
})
