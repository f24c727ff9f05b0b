/**
 * `examples/cluster.ts` end to end, smaller than its default run so it fits
 * in the suite: three runner processes, one SIGKILLed half-way, and the
 * counts the example takes at its demo servers. The example runs in its own
 * process group, which the test kills at the end whatever happened, so no
 * runner outlives it.
 */
import { describe, expect, it } from "@effect/vitest"
import * as ChildProcess from "node:child_process"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("..", import.meta.url))

interface Line {
  readonly urls: number
  readonly results: number
  readonly lost: number
  readonly duplicate_results: number
  readonly fetches: number
  readonly max_in_flight_per_origin: number
  readonly seconds: number
  readonly killed_in_flight: number
}

const runExample = (args: ReadonlyArray<string>, timeoutMillis: number): Promise<{ line: Line; stderr: string }> =>
  new Promise((resolve, reject) => {
    const child = ChildProcess.spawn(process.execPath, ["--import", "tsx", "examples/cluster.ts", ...args], {
      cwd: root,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (chunk) => (stdout += String(chunk)))
    child.stderr.on("data", (chunk) => (stderr = (stderr + String(chunk)).slice(-8000)))
    const killGroup = () => {
      try {
        process.kill(-child.pid!, "SIGKILL")
      } catch {
        // already gone
      }
    }
    const timer = setTimeout(() => {
      killGroup()
      reject(new Error(`example did not finish in ${timeoutMillis} ms: ${stderr}`))
    }, timeoutMillis)
    child.once("exit", (code) => {
      clearTimeout(timer)
      killGroup()
      const json = stdout.trim().split("\n").filter((l) => l.startsWith("{")).pop()
      if (code !== 0 || json === undefined) return reject(new Error(`example exited ${code}: ${stderr}`))
      resolve({ line: JSON.parse(json) as Line, stderr })
    })
  })

/** The example run with arguments it must refuse before it starts anything: its exit code and stderr. */
const refusal = (args: ReadonlyArray<string>): Promise<{ code: number | null; stderr: string }> =>
  new Promise((resolve) => {
    const child = ChildProcess.spawn(process.execPath, ["--import", "tsx", "examples/cluster.ts", ...args], {
      cwd: root,
      stdio: ["ignore", "ignore", "pipe"]
    })
    let stderr = ""
    child.stderr.on("data", (chunk) => (stderr += String(chunk)))
    child.once("close", (code) => resolve({ code, stderr }))
  })

describe("examples/cluster.ts", () => {
  it.each([
    ["--latency", "20x"],
    ["--timeout", "soon"]
  ])("refuses %s %s with one line naming the flag, before it starts anything", async (flag, value) => {
    const result = await refusal([flag, value])
    expect(result.code).toBe(2)
    expect(result.stderr.trim().split("\n")).toEqual([`${flag}: invalid duration "${value}" (try 20ms, 20 millis, 1.5s, 2 minutes)`])
  }, 60_000)

  it("refuses --servers other than demo or plain with one line, before it starts anything", async () => {
    const result = await refusal(["--servers", "nginx"])
    expect(result.code).toBe(2)
    expect(result.stderr.trim().split("\n")).toEqual([`--servers must be demo or plain, got "nginx"`])
  }, 60_000)

  // The plain servers count at the origin as the demo servers do: every
  // fetch once, and the per-origin limit seen from the server's side.
  it("with --servers plain, the plain servers count every fetch and the per-origin limit holds at each", async () => {
    const { line } = await runExample(
      ["--runners", "1", "--urls", "120", "--origins", "4", "--per-origin", "3", "--latency", "30ms", "--servers", "plain", "--timeout", "2 minutes"],
      180_000
    )
    expect(line.results).toBe(120)
    expect(line.lost).toBe(0)
    expect(line.duplicate_results).toBe(0)
    expect(line.fetches).toBe(120)
    expect(line.max_in_flight_per_origin).toBe(3)
  }, 200_000)

  it("loses no URL, stores none twice and holds 4 per origin when a runner is SIGKILLed half-way", async () => {
    const { line, stderr } = await runExample(
      // `--latency 20ms`: the form users type (it died with an Invalid DurationInput stack trace)
      ["--runners", "3", "--urls", "400", "--origins", "8", "--latency", "20ms", "--kill-one", "--timeout", "4 minutes"],
      300_000
    )
    expect(stderr).toMatch(/SIGKILL runner/)
    expect(line.urls).toBe(400)
    expect(line.results).toBe(400)
    expect(line.lost).toBe(0)
    expect(line.duplicate_results).toBe(0)
    expect(line.max_in_flight_per_origin).toBeLessThanOrEqual(4)
    expect(line.fetches).toBeGreaterThanOrEqual(400)
    expect(line.fetches - line.urls).toBeLessThanOrEqual(line.killed_in_flight)
  }, 320_000)
})
