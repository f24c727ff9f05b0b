/**
 * Seeded fuzzing of what comes from outside (#9): URLs, header names and
 * values, `Location` values, resume files, content encodings and lengths.
 * The invariant each time: every input gets exactly one typed outcome, no
 * defect, no unhandled rejection, no secret from the input in any output,
 * no socket left open. Bounded (fixed seeds, few runs, short limits) so the
 * whole file stays well under a minute on a quiet machine. Traffic goes to
 * 127.0.0.1 only: generated URLs that would name another host are
 * filtered out before they are fetched.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as FastCheck from "effect/FastCheck"
import * as Scope from "effect/Scope"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import * as Resume from "../src/cli/resume.js"
import * as DemoServer from "../src/DemoServer.js"
import * as Fetch from "../src/Fetch.js"
import * as FetchError from "../src/FetchError.js"
import * as Gather from "../src/Gather.js"
import * as Session from "../src/Session.js"

const SECRET = "Zq9SECRETx"

let unhandled = 0
const onUnhandled = () => {
  unhandled++
}

let scope: Scope.CloseableScope
let server: DemoServer.DemoServer
const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), "gather-fuzz-"))

beforeAll(async () => {
  process.on("unhandledRejection", onUnhandled)
  scope = Effect.runSync(Scope.make())
  server = await Effect.runPromise(Scope.extend(DemoServer.make({ port: 0 }), scope))
})

afterAll(async () => {
  process.off("unhandledRejection", onUnhandled)
  await Effect.runPromise(Scope.close(scope, Exit.void))
  fs.rmSync(tmpRoot, { recursive: true, force: true })
  expect(unhandled).toBe(0)
})

const session = Session.layer({
  retry: false,
  maxRedirects: 3,
  timeout: { attempt: "2 seconds", connect: "1 second", headers: "1 second", bodyIdle: "500 millis", total: "3 seconds" }
})

/** Only loopback: a URL that would reach another host is not fetched. */
const staysLocal = (input: string, base?: string): boolean => {
  try {
    const url = new URL(input, base)
    return (url.protocol !== "http:" && url.protocol !== "https:") || url.hostname === "127.0.0.1"
  } catch {
    return true
  }
}

/** Every outcome is an Either whose Left is one of our tagged errors, with no secret or raw line break in it. */
const checkOutcomes = (outcomes: ReadonlyArray<Either.Either<unknown, FetchError.FetchError>>, count: number) => {
  expect(outcomes).toHaveLength(count)
  for (const outcome of outcomes) {
    if (Either.isRight(outcome)) continue
    const error = outcome.left
    expect(FetchError.isFetchError(error)).toBe(true)
    // A BadStatus keeps the start of the body the server sent, as sent (the
    // demo server's 404 page echoes the path): that is the server's output,
    // not ours, and the only field left out here.
    const shown = error._tag === "BadStatus" ? { ...error, body: "" } : error
    for (const text of [error.message, error.url, JSON.stringify(shown)]) {
      expect(text).not.toContain(SECRET)
      expect(text).not.toMatch(/[\r\n\0]/)
    }
  }
}

const noOpenSockets = async () => {
  const deadline = Date.now() + 5000
  let stats = Effect.runSync(server.stats)
  while ((stats.inFlight > 0 || stats.openConnections > 0) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20))
    stats = Effect.runSync(server.stats)
  }
  expect(stats.inFlight).toBe(0)
  expect(stats.openConnections).toBe(0)
}

/** Strings with what breaks parsers: bad escapes, CR/LF, NUL, unicode, long runs. */
const nasty = FastCheck.oneof(
  FastCheck.string({ unit: "binary", maxLength: 40 }),
  FastCheck.constantFrom("%", "%zz", "%0", "%C0%AF", "\r\n", "\0", "é", "😀", "\u202e", "..", "@", ":", "#", "?", "//", "\\"),
  FastCheck.string({ unit: FastCheck.constantFrom("a", "%", "\n", "\r", "/", "?", "#", "=", "&", "@", ":", " "), maxLength: 30 })
)

const nastyString = FastCheck.array(nasty, { maxLength: 6 }).map((parts) => parts.join(""))

describe("fuzz (seeded)", { timeout: 120_000 }, () => {
  it("arbitrary strings as URLs: one typed outcome each, no secret, no defect, no socket left", async () => {
    const host = () => server.baseUrl.slice("http://".length)
    const input = FastCheck.oneof(
      nastyString.filter((s) => staysLocal(s)),
      nastyString.map((s) => `${server.baseUrl}/${s}`).filter((s) => staysLocal(s)),
      FastCheck.tuple(nastyString, nastyString).map(([user, rest]) => `http://${user}:${SECRET}@${host()}/x${rest}`)
        .filter((s) => staysLocal(s)),
      nastyString.map((s) => `${server.baseUrl}/json/a?token=${SECRET}&q=${s}#access_token=${SECRET}`),
      FastCheck.constant(`${server.baseUrl}/json/${"x".repeat(100_000)}`)
    )
    await FastCheck.assert(
      FastCheck.asyncProperty(FastCheck.array(input, { minLength: 1, maxLength: 12 }), async (inputs) => {
        const outcomes = await Effect.runPromise(
          Gather.settle(inputs.map((url) => Fetch.get(url)), { concurrency: 4 }).pipe(Effect.provide(session))
        )
        checkOutcomes(outcomes, inputs.length)
      }),
      { seed: 9001, numRuns: 25 }
    )
    await noOpenSockets()
  })

  it("arbitrary header names and values: a typed outcome, never the value of a secret header", async () => {
    const name = FastCheck.oneof(
      FastCheck.constantFrom("authorization", "x-api-key", "cookie", "x-auth-token", "accept"),
      FastCheck.string({ unit: "binary-ascii", minLength: 0, maxLength: 12 })
    )
    await FastCheck.assert(
      FastCheck.asyncProperty(FastCheck.array(FastCheck.tuple(name, nastyString), { minLength: 1, maxLength: 8 }), async (pairs) => {
        const outcomes = await Effect.runPromise(
          Gather.settle(
            pairs.map(([headerName, value]) => Fetch.get(`${server.baseUrl}/status/500`, { headers: { [headerName]: `${value}${SECRET}` } })),
            { concurrency: 4 }
          ).pipe(Effect.provide(session))
        )
        checkOutcomes(outcomes, pairs.length)
        // A BadStatus keeps the response headers, never the request's.
        for (const outcome of outcomes) if (Either.isLeft(outcome)) expect(outcome.left._tag).toMatch(/BadStatus|InvalidRequest/)
      }),
      { seed: 4242, numRuns: 25 }
    )
    await noOpenSockets()
  })

  it("arbitrary Location values served by the demo server: a typed outcome, no secret from the Location", async () => {
    // The demo server encodes what is not printable ASCII before it sends the Location.
    const sent = (location: string) => location.replace(/[^\x21-\x7e]/gu, (c) => encodeURIComponent(c))
    const location = FastCheck.oneof(
      nastyString,
      nastyString.map((s) => `/json/${s}?token=${SECRET}`),
      nastyString.map((s) => `http://u:${SECRET}@127.0.0.1:${server.port}/${s}`),
      FastCheck.constantFrom("//", "/\\", "http://", "http:", "javascript:alert(1)", "data:,x", "ftp://127.0.0.1/", "https://127.0.0.1:1/")
    ).filter((l) => l !== "" && staysLocal(sent(l), `${server.baseUrl}/redirect-to`))
    await FastCheck.assert(
      FastCheck.asyncProperty(FastCheck.array(location, { minLength: 1, maxLength: 8 }), async (locations) => {
        const outcomes = await Effect.runPromise(
          Gather.settle(
            locations.map((l) => Fetch.get(`${server.baseUrl}/redirect-to?url=${encodeURIComponent(l)}`)),
            { concurrency: 4 }
          ).pipe(Effect.provide(session))
        )
        checkOutcomes(outcomes, locations.length)
      }),
      { seed: 302, numRuns: 25 }
    )
    await noOpenSockets()
  })

  it("arbitrary bytes as a --resume file: it loads, and what is left is whole lines", async () => {
    let n = 0
    await FastCheck.assert(
      FastCheck.asyncProperty(
        FastCheck.oneof(
          FastCheck.uint8Array({ maxLength: 2000 }),
          FastCheck.array(
            FastCheck.oneof(
              FastCheck.constant(
                "{\"line\":1,\"url\":\"u\",\"ok\":true,\"status\":200,\"error\":null,\"bytes\":1,\"ms\":1,\"attempts\":1,\"final_url\":null,\"key\":\"k\"}"
              ),
              FastCheck.string({ unit: "binary", maxLength: 80 })
            ),
            { maxLength: 10 }
          ).map((lines) => new TextEncoder().encode(lines.join("\n")))
        ),
        async (bytes) => {
          const file = path.join(tmpRoot, `resume-${n++}.ndjson`)
          fs.writeFileSync(file, bytes)
          const state = await Effect.runPromise(Resume.load(file))
          expect(state.records + state.invalid).toBeGreaterThanOrEqual(state.lines.size)
          const after = fs.readFileSync(file)
          expect(after.length === 0 || after[after.length - 1] === 10).toBe(true)
          expect(Resume.isDone(state, 1, "not-a-key", false)).toBe(false)
        }
      ),
      { seed: 77, numRuns: 60 }
    )
  })

  it("arbitrary content-encodings and lengths: a typed outcome, no hang, no socket left", async () => {
    let open = 0
    const raw = net.createServer((socket) => {
      open++
      socket.on("close", () => open--)
      socket.on("error", () => undefined)
      socket.once("data", (request) => {
        // The test's parameters travel in the request path: /<encoding>/<length>/<size>
        const [, encoding = "", length = "", size = "0"] = request.toString("latin1").split(" ")[1]!.split("/")
        const body = Buffer.alloc(Number(size), 0x61)
        const headers = [`HTTP/1.1 200 OK`, `content-encoding: ${decodeURIComponent(encoding)}`]
        if (length !== "none") headers.push(`content-length: ${length}`)
        socket.end(Buffer.concat([Buffer.from(`${headers.join("\r\n")}\r\n\r\n`, "latin1"), body]))
      })
    })
    await new Promise<void>((resolve) => raw.listen(0, "127.0.0.1", resolve))
    const port = (raw.address() as net.AddressInfo).port
    try {
      const encoding = FastCheck.oneof(
        FastCheck.constantFrom("gzip", "x-gzip", "deflate", "br", "identity", "", "gzip, br", "zstd", "GZIP", " br "),
        FastCheck.string({ unit: FastCheck.constantFrom("a", "z", "-", ",", " "), maxLength: 10 })
      )
      const length = FastCheck.oneof(
        FastCheck.constant("none"),
        FastCheck.integer({ min: 0, max: 5000 }).map(String),
        FastCheck.constantFrom("-1", "abc", "1e3")
      )
      await FastCheck.assert(
        FastCheck.asyncProperty(
          FastCheck.array(FastCheck.tuple(encoding, length, FastCheck.integer({ min: 0, max: 4000 })), { minLength: 1, maxLength: 6 }),
          async (cases) => {
            const outcomes = await Effect.runPromise(
              Gather.settle(
                cases.map(([e, l, size]) => Fetch.get(`http://127.0.0.1:${port}/${encodeURIComponent(e)}/${l}/${size}`)),
                { concurrency: 3 }
              ).pipe(Effect.provide(session))
            )
            checkOutcomes(outcomes, cases.length)
          }
        ),
        { seed: 1951, numRuns: 25 }
      )
      const deadline = Date.now() + 5000
      while (open > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
      expect(open).toBe(0)
    } finally {
      raw.close()
    }
  })
})
