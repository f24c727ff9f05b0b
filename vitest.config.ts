import { fileURLToPath } from "node:url"
import { defineConfig } from "vitest/config"

const src = fileURLToPath(new URL("./src/", import.meta.url))

export default defineConfig({
  resolve: {
    // What tsconfig.json's `paths` says: `effect-gather` is this repo's src/
    // (the README's app and its test import the package by name).
    alias: [
      { find: /^effect-gather$/, replacement: `${src}index.ts` },
      { find: /^effect-gather\/(.*)$/, replacement: `${src}$1.ts` }
    ]
  },
  test: {
    include: ["test/**/*.test.ts", "examples/app/test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Tests bind real servers on loopback; two cores gain little from many forks.
    pool: "forks",
    poolOptions: { forks: { maxForks: 2 } }
  }
})
