/**
 * A body that arrives short is never a success, over HTTP/1.1 or HTTP/2,
 * buffered, as an error prefix or streamed, decoded or not. Each fault is
 * made by a real server on 127.0.0.1 (node:http, node:http2) that lies about
 * its body in one way; the client must fail with the transient
 * `ConnectionError` (reason `Reset`, phase `body`), and the server must see
 * the retry that error allows.
 */
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { assert, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Http from "node:http"
import * as Http2 from "node:http2"
import type * as Net from "node:net"
import * as Zlib from "node:zlib"
import * as Fetch from "../src/Fetch.js"
import * as FetchError from "../src/FetchError.js"
import * as Gather from "../src/Gather.js"
import { localCertificates } from "../src/internal/demo/tls.js"
import * as Session from "../src/Session.js"
import { assertTag, failure } from "./support.js"

const certificates = localCertificates()

const ANNOUNCED = 4000
const SENT = 1500
const payload = Buffer.alloc(ANNOUNCED, "x")
const gzipped = Zlib.gzipSync(Buffer.alloc(20_000, "y"))
/** A gzip stream without its 8-byte trailer (CRC-32 and size). */
const gzipNoTrailer = gzipped.subarray(0, gzipped.length - 8)

/**
 * The ways a body lies, by route. `status` is what the response claims
 * (404: the body becomes an error prefix).
 */
type Fault =
  /** content-length 4000, 1500 bytes, then the end (HTTP/2: END_STREAM; HTTP/1.1: the server closes). */
  | "short"
  /** HTTP/2: content-length 4000, 1500 bytes, then the server closes the whole connection. */
  | "close"
  /** HTTP/1.1 chunked, two chunks, then the server closes before the last (empty) chunk. */
  | "chunked-cut"
  /** HTTP/2: the headers, 1500 bytes, then RST_STREAM (NO_ERROR or CANCEL). */
  | "rst-no-error"
  | "rst-cancel"
  /** gzip, its full length announced, the trailer never sent. */
  | "gzip-short"
  /** gzip without trailer, the framing itself whole (no content-length, a clean end). */
  | "gzip-no-trailer"

interface FaultServer {
  readonly origin: string
  /** Requests seen, by path. */
  readonly hits: Map<string, number>
}

const faultOf = (path: string): { readonly fault: string; readonly status: number } => {
  const [, fault = "", status = "200"] = /^\/([a-z-]+)(?:\/(\d+))?/.exec(path) ?? []
  return { fault, status: Number(status) }
}

const h2Handler = (stream: Http2.ServerHttp2Stream, headers: Http2.IncomingHttpHeaders): void => {
  stream.on("error", () => {})
  const method = String(headers[":method"])
  const { fault, status } = faultOf(String(headers[":path"]))
  const respondWith = (extra: Http2.OutgoingHttpHeaders, body: Buffer, then: () => void): void => {
    stream.respond({ ":status": status, "content-type": "application/octet-stream", ...extra })
    if (method === "HEAD") stream.end()
    else stream.write(body, then)
  }
  switch (fault) {
    case "whole":
      stream.respond({ ":status": status, "content-length": String(ANNOUNCED) })
      return void stream.end(method === "HEAD" ? undefined : payload)
    case "short":
      return respondWith({ "content-length": String(ANNOUNCED) }, payload.subarray(0, SENT), () => stream.end())
    case "close":
      return respondWith({ "content-length": String(ANNOUNCED) }, payload.subarray(0, SENT), () => stream.session?.destroy())
    case "rst-no-error":
    case "rst-cancel":
      return respondWith(
        { "content-length": String(ANNOUNCED) },
        payload.subarray(0, SENT),
        () => stream.close(fault === "rst-cancel" ? Http2.constants.NGHTTP2_CANCEL : Http2.constants.NGHTTP2_NO_ERROR)
      )
    case "gzip-short":
      return respondWith(
        { "content-encoding": "gzip", "content-length": String(gzipped.length) },
        gzipNoTrailer,
        () => stream.end()
      )
    case "gzip-no-trailer":
      return respondWith({ "content-encoding": "gzip" }, gzipNoTrailer, () => stream.end())
    default:
      stream.respond({ ":status": 400 })
      stream.end()
  }
}

const h1Handler = (request: Http.IncomingMessage, response: Http.ServerResponse): void => {
  const { fault, status } = faultOf(request.url ?? "/")
  const close = () => response.socket?.destroy()
  const respondWith = (headers: Http.OutgoingHttpHeaders, body: Buffer, then: () => void): void => {
    response.writeHead(status, { "content-type": "application/octet-stream", ...headers })
    if (request.method === "HEAD") response.end()
    else response.write(body, then)
  }
  switch (fault) {
    case "whole":
      response.writeHead(status, { "content-length": String(ANNOUNCED) })
      return void response.end(request.method === "HEAD" ? undefined : payload)
    case "short":
      return respondWith({ "content-length": String(ANNOUNCED) }, payload.subarray(0, SENT), close)
    case "chunked-cut":
      // Node frames each write as a chunk; the terminating 0-chunk never goes.
      return respondWith({}, payload.subarray(0, SENT), () => response.write(payload.subarray(0, SENT), close))
    case "gzip-short":
      return respondWith({ "content-encoding": "gzip", "content-length": String(gzipped.length) }, gzipNoTrailer, close)
    case "gzip-no-trailer":
      return respondWith({ "content-encoding": "gzip" }, gzipNoTrailer, () => response.end())
    default:
      response.writeHead(400)
      response.end()
  }
}

/** A server on 127.0.0.1:0 that lies on purpose; closing cuts every socket. */
const serve = (protocol: "h1" | "h2"): Effect.Effect<FaultServer, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<{ readonly server: Net.Server; readonly sockets: Set<Net.Socket>; readonly result: FaultServer }>((resume) => {
      const hits = new Map<string, number>()
      const count = (path: string) => hits.set(path, (hits.get(path) ?? 0) + 1)
      const sockets = new Set<Net.Socket>()
      let server: Net.Server
      if (protocol === "h2") {
        const h2 = Http2.createSecureServer({ cert: certificates.cert, key: certificates.key })
        h2.on("stream", (stream, headers) => {
          count(String(headers[":path"]))
          h2Handler(stream, headers)
        })
        h2.on("sessionError", () => {})
        server = h2
      } else {
        const h1 = Http.createServer((request, response) => {
          count(request.url ?? "/")
          h1Handler(request, response)
        })
        server = h1
      }
      server.on("connection", (socket: Net.Socket) => {
        sockets.add(socket)
        socket.on("close", () => sockets.delete(socket))
      })
      server.listen(0, "127.0.0.1", () => {
        const port = (server.address() as Net.AddressInfo).port
        resume(Effect.succeed({
          server,
          sockets,
          result: { origin: `${protocol === "h2" ? "https" : "http"}://127.0.0.1:${port}`, hits }
        }))
      })
    }),
    ({ server, sockets }) =>
      Effect.async<void>((resume) => {
        server.close(() => resume(Effect.void))
        for (const socket of sockets) socket.destroy()
      })
  ).pipe(Effect.map(({ result }) => result))

/** One retry with no wait: a transient failure is seen twice at the server. */
const sessionFor = (protocol: "h1" | "h2") =>
  Layer.orDie(Session.layer({
    retry: { times: 1, baseDelay: 0 },
    timeout: { attempt: "5 seconds", total: "10 seconds" },
    ...(protocol === "h2" ? { allowH2: true, tls: { ca: certificates.ca } } : {})
  }))

/**
 * The truncation error: transient, of the body; retried once (2 attempts)
 * unless the body was streamed, whose response went out at the headers.
 */
const expectTruncated = (error: FetchError.FetchError, server: FaultServer, path: string, attempts = 2) => {
  assertTag(error, "ConnectionError")
  expect(error.reason, `${error.code}: ${error.message}`).toBe("Reset")
  expect(error.phase).toBe("body")
  expect(FetchError.isTransient(error)).toBe(true)
  expect(error.attempt).toBe(attempts)
  expect(server.hits.get(path)).toBe(attempts)
}

const cases: ReadonlyArray<{ readonly protocol: "h1" | "h2"; readonly fault: Fault }> = [
  { protocol: "h2", fault: "short" },
  { protocol: "h2", fault: "close" },
  { protocol: "h2", fault: "rst-no-error" },
  { protocol: "h2", fault: "rst-cancel" },
  { protocol: "h2", fault: "gzip-short" },
  { protocol: "h2", fault: "gzip-no-trailer" },
  { protocol: "h1", fault: "short" },
  { protocol: "h1", fault: "chunked-cut" },
  { protocol: "h1", fault: "gzip-short" },
  { protocol: "h1", fault: "gzip-no-trailer" }
]

/** How the body is read: buffered, an error prefix (404), or a stream read to its end. */
const reads = {
  buffered: (url: string) => Fetch.bytes(url),
  prefix: (url: string) => Fetch.bytes(`${url}/404`),
  streamed: (url: string) => Effect.scoped(Effect.flatMap(Fetch.stream(url), (response) => Stream.runDrain(response.body)))
} as const

describe("a truncated body is never a success", () => {
  for (const { fault, protocol } of cases) {
    for (const [read, run] of Object.entries(reads)) {
      // A whole-framed error body whose gzip lacks its trailer is still the
      // server's status: its prefix is shown empty (it does not decode).
      if (read === "prefix" && fault === "gzip-no-trailer") continue
      it.live(`${protocol} ${fault}, ${read}: a transient body ConnectionError, retried once`, () =>
        Effect.gen(function*() {
          const server = yield* serve(protocol)
          const path = read === "prefix" ? `/${fault}/404` : `/${fault}`
          const error = yield* failure(run(`${server.origin}/${fault}`).pipe(Effect.provide(sessionFor(protocol))))
          expectTruncated(error, server, path, read === "streamed" ? 1 : 2)
        }).pipe(Effect.scoped))
    }
  }

  for (const protocol of ["h1", "h2"] as const) {
    it.live(`${protocol}: the fast path (Gather over plain fetches) fails the same way`, () =>
      Effect.gen(function*() {
        const server = yield* serve(protocol)
        const faults = cases.filter((c) => c.protocol === protocol).map((c) => c.fault)
        const outcomes = yield* Gather.forEach(faults, (fault) => Fetch.bytes(`${server.origin}/${fault}`), {
          mode: "settle",
          // One at a time: "close" ends the whole HTTP/2 connection, which
          // would also fail the streams beside it before their headers.
          concurrency: 1
        }).pipe(Effect.provide(sessionFor(protocol)))
        outcomes.forEach((outcome, i) => {
          assert(Either.isLeft(outcome), `${faults[i]} must fail`)
          expectTruncated(outcome.left, server, `/${faults[i]}`)
        })
      }).pipe(Effect.scoped))

    it.live(`${protocol}: a whole body succeeds; HEAD carries no body whatever content-length says, and says bytes 0`, () =>
      Effect.gen(function*() {
        const server = yield* serve(protocol)
        const session = sessionFor(protocol)
        const whole = yield* Fetch.bytes(`${server.origin}/whole`).pipe(Effect.provide(session))
        expect(whole.bytes).toBe(ANNOUNCED)
        const head = yield* Fetch.head(`${server.origin}/whole`).pipe(Effect.provide(session))
        expect(head.body.length).toBe(0)
        const streamed = yield* Effect.scoped(
          Effect.flatMap(
            Fetch.stream(HttpClientRequest.head(`${server.origin}/whole`)),
            (response) => Effect.map(Stream.runCollect(response.body), (chunks) => ({ bytes: response.bytes, chunks: chunks.length }))
          )
        ).pipe(Effect.provide(session))
        expect(streamed).toEqual({ bytes: 0, chunks: 0 })
        expect(server.hits.get("/whole")).toBe(3)
      }).pipe(Effect.scoped))
  }
})
