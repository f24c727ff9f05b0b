/**
 * What a plain gather loads: `effect-gather/Fetch`, `Gather` and `Session`
 * must not pull in `effect/Schema` (and fast-check with it) or any
 * `@effect/platform` module at import; those load only when a session layer
 * is built or a schema is used (see internal/session.ts `layer`). The root
 * entry (`effect-gather`) loads no part of the demo server: that is
 * `effect-gather/DemoServer`.
 */
import { describe, expect, it } from "@effect/vitest"
import { execFile } from "node:child_process"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import * as Undici from "undici"
import * as UndiciParts from "../src/internal/engine/undici.js"

const root = path.resolve(import.meta.dirname, "..")

/** The CommonJS modules (undici's) in a fresh node process's require cache once it has imported `specifiers` (from src, through tsx). */
const requiredAfter = (specifiers: ReadonlyArray<string>): Promise<Array<string>> =>
  new Promise((resolve, reject) => {
    const imports = specifiers.map((s) => `await import(${JSON.stringify(pathToFileURL(path.join(root, s)).href)})`).join(";")
    const program =
      `${imports}; const { createRequire } = await import("node:module"); process._rawDebug("REQUIRED " + JSON.stringify(Object.keys(createRequire(import.meta.url).cache)))`
    execFile(process.execPath, ["--import", "tsx", "--input-type=module", "-e", program], { cwd: root, timeout: 60_000 }, (error, _stdout, stderr) => {
      if (error) return reject(new Error(`${error.message}\n${stderr}`))
      const line = stderr.split("\n").find((l) => l.startsWith("REQUIRED "))
      if (line === undefined) return reject(new Error(`no REQUIRED line in:\n${stderr}`))
      resolve(JSON.parse(line.slice("REQUIRED ".length)) as Array<string>)
    })
  })

/** The modules a fresh node process loads to import `specifiers` (from src, through tsx). */
const modulesLoaded = (specifiers: ReadonlyArray<string>): Promise<Array<string>> =>
  new Promise((resolve, reject) => {
    // A load hook that prints each module's URL: the real graph, as node resolves it.
    const hook = `export async function load(url, context, next) { process._rawDebug("LOADED " + url); return next(url, context) }`
    const register = `import { register } from "node:module"; register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(hook)}`)})`
    const program = specifiers.map((s) => `await import(${JSON.stringify(pathToFileURL(path.join(root, s)).href)})`).join(";")
    execFile(
      process.execPath,
      ["--import", "tsx", "--import", `data:text/javascript,${encodeURIComponent(register)}`, "--input-type=module", "-e", program],
      { cwd: root, timeout: 60_000 },
      (error, _stdout, stderr) => {
        if (error) return reject(new Error(`${error.message}\n${stderr}`))
        resolve(stderr.split("\n").filter((line) => line.startsWith("LOADED ")).map((line) => line.slice("LOADED ".length)))
      }
    )
  })

describe("import cost", () => {
  it("Fetch, Gather and Session load neither effect/Schema nor fast-check nor @effect/platform", async () => {
    const loaded = await modulesLoaded(["src/Fetch.ts", "src/Gather.ts", "src/Session.ts"])
    // The hook saw the graph: our own modules and effect's are in it.
    expect(loaded.some((url) => url.endsWith("/src/internal/gather/workers.ts"))).toBe(true)
    expect(loaded.some((url) => url.includes("/effect/dist/esm/Effect.js"))).toBe(true)
    expect(loaded.filter((url) => /\/effect\/dist\/esm\/Schema\.js$|\/fast-check\/|\/@effect\/platform\//.test(url))).toEqual([])
  }, 70_000)

  it("the root entry loads no module of the demo server; effect-gather/DemoServer is its own entry", async () => {
    // Its modules, and the HTTP server it runs on.
    const demo = (url: string) => /\/src\/DemoServer\.ts$|\/src\/internal\/demo\/|\/@effect\/platform-node\//.test(url)
    const root = await modulesLoaded(["src/index.ts"])
    // The hook saw the root's graph: its modules are in it.
    expect(root.some((url) => url.endsWith("/src/Gather.ts"))).toBe(true)
    expect(root.filter(demo)).toEqual([])
    // The same check sees the demo server where it is imported.
    const subpath = await modulesLoaded(["src/DemoServer.ts"])
    expect(subpath.some((url) => url.endsWith("/src/internal/demo/server.ts"))).toBe(true)
    expect(subpath.some((url) => url.includes("/@effect/platform-node/"))).toBe(true)
  }, 70_000)

  it("the full entry still loads the platform (the check above can see it)", async () => {
    const loaded = await modulesLoaded(["src/internal/httpClient.ts"])
    expect(loaded.some((url) => url.includes("/@effect/platform/"))).toBe(true)
    expect(loaded.some((url) => url.includes("/fast-check/"))).toBe(true)
  }, 70_000)

  it("a session loads undici's dispatcher parts, not its whole entry (fetch, WebSocket, cache, mocks)", async () => {
    const required = await requiredAfter(["src/Fetch.ts", "src/Gather.ts", "src/Session.ts"])
    expect(required.some((file) => file.endsWith("/undici/lib/dispatcher/pool.js"))).toBe(true)
    expect(required.filter((file) => /\/undici\/index\.js$|\/undici\/lib\/web\//.test(file))).toEqual([])
  }, 70_000)

  it("each part of undici the engine loads is the very class undici's entry exports", () => {
    expect(UndiciParts.Agent).toBe(Undici.Agent)
    expect(UndiciParts.Pool).toBe(Undici.Pool)
    expect(UndiciParts.Client).toBe(Undici.Client)
    expect(UndiciParts.ProxyAgent).toBe(Undici.ProxyAgent)
    expect(UndiciParts.EnvHttpProxyAgent).toBe(Undici.EnvHttpProxyAgent)
    expect(UndiciParts.buildConnector).toBe(Undici.buildConnector)
  })
})
