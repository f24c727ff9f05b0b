/**
 * `gather fetch --cache DIR` / `--revalidate` / `--proxy`, running the real
 * `gather` process against a counting server and a real forward proxy on
 * 127.0.0.1 (both in this process, stopped after the tests).
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as Http from "node:http"
import type * as Net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import * as Records from "../src/internal/record.js"
import type { ForwardProxy } from "./forwardProxy.js"
import { forwardProxy } from "./forwardProxy.js"

const repo = path.resolve(import.meta.dirname, "..")

interface Run {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

const gather = (args: ReadonlyArray<string>, env: Readonly<Record<string, string | undefined>> = {}): Promise<Run> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", "src/bin.ts", ...args], {
      cwd: repo,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk))
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000)
    child.on("error", reject)
    child.on("close", (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })

const records = (text: string): Array<Records.ResultRecord> => text.split("\n").filter((line) => line !== "").map((line) => Records.parseLine(line)!)

/** Paths the server saw, and the If-None-Match of each. */
const seen: Array<{ readonly path: string; readonly ifNoneMatch: string | undefined }> = []
let server: Http.Server
let base: string
let proxy: ForwardProxy
let scope: Scope.CloseableScope
let dir: string

beforeAll(async () => {
  server = Http.createServer((req, res) => {
    const p = req.url ?? ""
    const ifNoneMatch = req.headers["if-none-match"]
    seen.push({ path: p, ifNoneMatch })
    const etag = `"${p}"`
    const cacheControl = p.startsWith("/fresh/") ? "max-age=3600" : "max-age=0"
    if (ifNoneMatch === etag) {
      res.writeHead(304, { etag, "cache-control": cacheControl }).end()
      return
    }
    res.writeHead(200, { etag, "cache-control": cacheControl, "content-type": "text/plain" }).end(`body of ${p} `.repeat(50))
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  base = `http://127.0.0.1:${(server.address() as Net.AddressInfo).port}`
  scope = Effect.runSync(Scope.make())
  proxy = await Effect.runPromise(Scope.extend(forwardProxy(), scope))
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "gather-cli-cache-"))
})

afterAll(async () => {
  await Effect.runPromise(Scope.close(scope, Exit.void))
  server.closeAllConnections()
  await new Promise((resolve) => server.close(resolve))
  fs.rmSync(dir, { recursive: true, force: true })
})

describe("gather fetch --cache", () => {
  it("a second run sends nothing for fresh URLs, revalidates stale ones with 304s, and the summary counts them", async () => {
    const urls = path.join(dir, "urls.txt")
    const list = [...Array.from({ length: 6 }, (_, i) => `${base}/fresh/${i}`), ...Array.from({ length: 4 }, (_, i) => `${base}/stale/${i}`)]
    fs.writeFileSync(urls, list.join("\n") + "\n")
    const cache = path.join(dir, "cache")
    const first = await gather(["fetch", urls, "--cache", cache, "-q", "--proxy", "none"])
    expect(first.code, first.stderr).toBe(0)
    expect(records(first.stdout).map((r) => r.cache)).toEqual(Array(10).fill("miss"))
    expect(first.stderr).toContain("cache    0 hit, 0 revalidated (304), 10 miss")
    expect(fs.existsSync(path.join(cache, "http-cache.sqlite"))).toBe(true)
    seen.length = 0

    const second = await gather(["fetch", urls, "--cache", cache, "-q", "--proxy", "none"])
    expect(second.code, second.stderr).toBe(0)
    const byUrl = new Map(records(second.stdout).map((r) => [r.url, r]))
    for (const url of list.slice(0, 6)) expect(byUrl.get(url)?.cache).toBe("hit")
    for (const url of list.slice(6)) expect(byUrl.get(url)).toMatchObject({ cache: "revalidated", status: 200, ok: true })
    expect(byUrl.get(list[0]!)?.bytes).toBe(`body of /fresh/0 `.length * 50)
    // nothing at all for the fresh ones; a conditional request for each stale one
    expect(seen.map((s) => s.path).sort()).toEqual(list.slice(6).map((u) => new URL(u).pathname).sort())
    expect(seen.every((s) => s.ifNoneMatch === `"${s.path}"`)).toBe(true)
    expect(second.stderr).toContain("cache    6 hit, 4 revalidated (304), 0 miss")
    seen.length = 0

    const third = await gather(["fetch", urls, "--cache", cache, "--revalidate", "-q", "--proxy", "none"])
    expect(third.code, third.stderr).toBe(0)
    expect(records(third.stdout).every((r) => r.cache === "revalidated")).toBe(true)
    expect(seen.length).toBe(10)
  }, 120_000)

  it("--revalidate without --cache, and a --cache that is not a directory, are usage errors", async () => {
    const urls = path.join(dir, "one.txt")
    fs.writeFileSync(urls, `${base}/fresh/x\n`)
    const alone = await gather(["fetch", urls, "--revalidate", "-q"])
    expect(alone.code).toBe(2)
    expect(alone.stderr).toContain("--revalidate needs --cache DIR")
    const notDir = await gather(["fetch", urls, "--cache", urls, "-q"])
    expect(notDir.code).toBe(2)
    expect(notDir.stderr).toContain(`--cache ${urls}: cannot use it`)
  }, 120_000)
})

describe("gather fetch --proxy", () => {
  it("--proxy URL and HTTP_PROXY (the default env) route through the proxy; --proxy none and NO_PROXY go direct", async () => {
    const urls = path.join(dir, "proxied.txt")
    fs.writeFileSync(urls, `${base}/fresh/p1\n${base}/fresh/p2\n`)
    const target = `127.0.0.1:${new URL(base).port}`
    const given = await gather(["fetch", urls, "-q", "--proxy", proxy.url])
    expect(given.code, given.stderr).toBe(0)
    expect(proxy.log.tunnels.length).toBeGreaterThanOrEqual(1)
    expect(proxy.log.tunnels.every((t) => t === target)).toBe(true)
    const tunnels = proxy.log.tunnels.length
    const fromEnv = await gather(["fetch", urls, "-q"], { HTTP_PROXY: proxy.url })
    expect(fromEnv.code, fromEnv.stderr).toBe(0)
    expect(proxy.log.tunnels.length).toBeGreaterThan(tunnels)
    const after = proxy.log.tunnels.length
    const none = await gather(["fetch", urls, "-q", "--proxy", "none"], { HTTP_PROXY: proxy.url })
    const bypassed = await gather(["fetch", urls, "-q"], { HTTP_PROXY: proxy.url, NO_PROXY: "127.0.0.1" })
    expect([none.code, bypassed.code]).toEqual([0, 0])
    expect(proxy.log.tunnels.length).toBe(after)
  }, 120_000)

  it("a bad proxy value is a usage error naming it, its password redacted; a proxy that is down fails each record naming the proxy", async () => {
    const urls = path.join(dir, "down.txt")
    fs.writeFileSync(urls, `${base}/fresh/d1\n`)
    const bad = await gather(["fetch", urls, "-q"], { HTTPS_PROXY: "ftp://me:hunter2@proxy:21" })
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain("HTTPS_PROXY must be an http(s) proxy URL")
    expect(bad.stderr).not.toContain("hunter2")
    const down = await gather(["fetch", urls, "-q", "--retries", "0", "--proxy", "http://me:hunter2@127.0.0.1:1"])
    expect(down.code).toBe(1)
    const [record] = records(down.stdout)
    expect(record?.error?.tag).toBe("ConnectionError")
    expect(record?.error?.message).toContain("proxy http://***:***@127.0.0.1:1 cannot be reached (ECONNREFUSED)")
    expect(down.stdout + down.stderr).not.toContain("hunter2")
  }, 120_000)
})
