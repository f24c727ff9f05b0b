import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Tests bind real servers on loopback; two cores gain little from many forks.
    pool: "forks",
    poolOptions: { forks: { maxForks: 2 } }
  }
})
