/**
 * The `gather` process under hostile or careless use (#9): closed and full
 * outputs, malformed and secret-bearing inputs, resuming. Each test runs
 * the real program (`node --import tsx src/bin.ts`) against a DemoServer on
 * a free loopback port.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import { spawn } from "node:child_process"
import type { ChildProcess } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as DemoServer from "../src/DemoServer.js"
import * as Records from "../src/internal/record.js"

const repo = path.resolve(__dirname, "..")
const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), "gather-hardening-"))
let tmpCount = 0
const tmpDir = (): string => {
  const dir = path.join(tmpRoot, String(++tmpCount))
  fs.mkdirSync(dir)
  return dir
}

interface Run {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

const children = new Set<ChildProcess>()

// Two at a time: each process compiles the program with tsx, and the
// machine may be shared.
let running = 0
const waiting: Array<() => void> = []
const limited = async <A>(f: () => Promise<A>): Promise<A> => {
  if (running >= 2) await new Promise<void>((resolve) => waiting.push(resolve))
  running++
  try {
    return await f()
  } finally {
    running--
    waiting.shift()?.()
  }
}

/** Runs a command line (`bash -c`) in the repository; `gather` there is the program. */
const sh = (script: string, stdin = ""): Promise<Run> => limited(() => shNow(script, stdin))

const shNow = (script: string, stdin: string): Promise<Run> => {
  const gather = `${process.execPath} --import tsx src/bin.ts`
  const child = spawn("bash", ["-c", script.replaceAll("gather ", `${gather} `)], { cwd: repo, stdio: ["pipe", "pipe", "pipe"] })
  children.add(child)
  let stdout = ""
  let stderr = ""
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk))
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
  child.stdin!.end(stdin)
  return new Promise((resolve, reject) => {
    child.on("error", reject)
    child.on("close", (code) => {
      children.delete(child)
      resolve({ code, stdout, stderr })
    })
  })
}

const records = (text: string): Array<Records.ResultRecord> =>
  text.split("\n").filter((line) => line !== "").map((line) => {
    const record = Records.parseLine(line)
    expect(record, `not a record: ${line}`).toBeDefined()
    return record!
  })

let scope: Scope.CloseableScope
let server: DemoServer.DemoServer

beforeAll(async () => {
  scope = Effect.runSync(Scope.make())
  server = await Effect.runPromise(Scope.extend(DemoServer.make({ port: 0 }), scope))
})

afterAll(async () => {
  for (const child of children) child.kill("SIGKILL")
  await Effect.runPromise(Scope.close(scope, Exit.void))
  fs.rmSync(tmpRoot, { recursive: true, force: true })
})

describe.concurrent("gather under hostile input and output", { timeout: 300_000 }, () => {
  it("bug 1: a bad percent-escape in one URL's user info is that line's InvalidUrl, the rest are fetched", async () => {
    const host = server.baseUrl.slice("http://".length)
    const stdin = `${server.baseUrl}/empty\nhttp://a%zz:pw@${host}/x\n${server.baseUrl}/json/two\n`
    const result = await sh("gather fetch - -c 1 --ordered", stdin)
    expect(result.stderr).not.toContain("internal error")
    const lines = records(result.stdout)
    expect(lines.map((r) => r.error?.tag ?? "ok")).toEqual(["ok", "InvalidUrl", "ok"])
    expect(result.stdout).not.toContain("pw@")
    expect(result.code).toBe(1)
  })

  it("bug 3: --body-dir names and records carry no query secret", async () => {
    const dir = path.join(tmpDir(), "bodies")
    const result = await sh(`gather fetch - --body-dir ${dir}`, `${server.baseUrl}/json/x?token=SUPERSECRET\n`)
    expect(result.code, result.stderr).toBe(0)
    const [record] = records(result.stdout)
    expect(record!.body_file).toBeDefined()
    expect(result.stdout).not.toContain("SUPERSECRET")
    expect(fs.readdirSync(dir).join(" ")).not.toContain("SUPERSECRET")
    expect(fs.readdirSync(dir)).toEqual([record!.body_file])
  })

  it("bug 6: a closed stdout (| head -1) ends the run quietly, aborting what is in flight", async () => {
    // A server of its own, so its counters see only this run.
    const own = Effect.runSync(Scope.make())
    try {
      const demo = await Effect.runPromise(Scope.extend(DemoServer.make({ port: 0 }), own))
      const file = path.join(tmpDir(), "urls.txt")
      fs.writeFileSync(file, Array.from({ length: 300 }, (_, i) => `${demo.baseUrl}/delay/100?pipe=${i}`).join("\n"))
      const result = await sh(`gather fetch ${file} -c 4 | head -1; echo "status=\${PIPESTATUS[0]}" >&2`)
      expect(records(result.stdout)).toHaveLength(1)
      expect(result.stderr).not.toMatch(/EPIPE|Error:|at .*\.js:\d+/)
      expect(result.stderr).toMatch(/status=141/)
      expect(result.stderr).toMatch(/stdout closed after \d+ of \d+ records/)
      // It stopped taking inputs once the reader was gone: counted at the server.
      const stats = Effect.runSync(demo.stats)
      expect(stats.requests).toBeLessThan(100)
      expect(stats.inFlight).toBe(0)
    } finally {
      await Effect.runPromise(Scope.close(own, Exit.void))
    }
  })

  it("bug 6: a full output file ends with one clear line, exit 1, and a summary of what was written", async () => {
    const stdin = Array.from({ length: 5 }, (_, i) => `${server.baseUrl}/json/full${i}`).join("\n")
    const result = await sh("gather fetch - -o /dev/full", stdin)
    expect(result.code).toBe(1)
    const errors = result.stderr.split("\n").filter((line) => line.startsWith("gather: cannot write"))
    expect(errors).toHaveLength(1)
    expect(errors[0]).toContain("/dev/full")
    expect(result.stderr).not.toMatch(/at .*\.js:\d+/)
    expect(result.stderr).toMatch(/0 of \d+ records? written to \/dev\/full/)
  })

  it("bug 4: --resume keys each input line, secrets and duplicates included, without storing the secret", async () => {
    const dir = tmpDir()
    const out = path.join(dir, "out.ndjson")
    const inputs = [
      `${server.baseUrl}/json/a?token=ONE`,
      `${server.baseUrl}/json/a?token=TWO`,
      `http://u:PASSONE@${server.baseUrl.slice(7)}/json/b`,
      `http://u:PASSTWO@${server.baseUrl.slice(7)}/json/b`,
      `${server.baseUrl}/json/dup`,
      `${server.baseUrl}/json/dup`
    ]
    const file = path.join(dir, "urls.txt")
    // A first run that only got as far as the first line of each pair.
    fs.writeFileSync(file, [inputs[0], "", inputs[2], "", inputs[4]].join("\n"))
    const first = await sh(`gather fetch ${file} -o ${out}`)
    expect(first.code, first.stderr).toBe(0)
    fs.writeFileSync(file, [inputs[0], inputs[1], inputs[2], inputs[3], inputs[4], inputs[5]].join("\n"))
    const second = await sh(`gather fetch ${file} -o ${out} --resume`)
    expect(second.code, second.stderr).toBe(0)
    expect(second.stderr).toContain("3 skipped")
    const written = fs.readFileSync(out, "utf8")
    const lines = records(written)
    expect(lines.map((r) => r.line).sort()).toEqual([1, 2, 3, 4, 5, 6])
    for (const secret of ["ONE", "TWO", "PASSONE", "PASSTWO"]) expect(written).not.toContain(secret)
    expect(new Set(lines.map((r) => r.key)).size).toBe(5) // the two /json/dup lines share a key
    // Nothing is left to do.
    const third = await sh(`gather fetch ${file} -o ${out} --resume`)
    expect(third.stderr).toContain("6 skipped")
    expect(records(fs.readFileSync(out, "utf8"))).toHaveLength(6)
  })

  it("bug 4: --retry-failed fetches again the inputs whose record failed", async () => {
    const dir = tmpDir()
    const out = path.join(dir, "out.ndjson")
    const file = path.join(dir, "urls.txt")
    fs.writeFileSync(file, [`${server.baseUrl}/json/fine`, `${server.baseUrl}/status/500?retry-failed`].join("\n"))
    const first = await sh(`gather fetch ${file} -o ${out} --retries 0`)
    expect(first.code).toBe(1)
    const resumed = await sh(`gather fetch ${file} -o ${out} --resume --retries 0`)
    expect(resumed.stderr).toContain("2 skipped")
    const retried = await sh(`gather fetch ${file} -o ${out} --retry-failed --retries 0`)
    expect(retried.stderr).toContain("1 skipped")
    expect(retried.stderr).toContain("gather: 1 done")
    const lines = records(fs.readFileSync(out, "utf8"))
    expect(lines.map((r) => r.line)).toEqual([1, 2, 2])
  })

  it("usage errors never echo a whole -H value", async () => {
    const result = await sh("gather fetch - -H 'Authorization Bearer SECRETVALUE'")
    expect(result.code).toBe(2)
    expect(result.stderr).toContain("invalid header")
    expect(result.stderr).not.toContain("SECRETVALUE")
  })
})
