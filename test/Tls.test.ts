/**
 * HTTPS end to end against real TLS servers on 127.0.0.1 (node:https,
 * node:http2, node:net), with certificates made here at test time by
 * src/internal/demo/tls.ts. Every failure is checked for its tag, reason, code,
 * words, and that the server saw exactly one connection (never retried).
 */
import { describe, expect, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as Http from "node:http"
import * as Http2 from "node:http2"
import * as Https from "node:https"
import * as Net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import type * as Tls from "node:tls"
import * as Fetch from "../src/Fetch.js"
import * as FetchError from "../src/FetchError.js"
import * as Gather from "../src/Gather.js"
import { makeAuthority } from "../src/internal/demo/tls.js"
import * as Session from "../src/Session.js"
import { assertTag, failure } from "./support.js"

/** Asserts the tag and returns the narrowed error. */
const asTag = <T extends FetchError.FetchError["_tag"]>(error: FetchError.FetchError, tag: T) => {
  assertTag(error, tag)
  return error as Extract<FetchError.FetchError, { readonly _tag: T }>
}

const authority = makeAuthority("effect-gather test CA")
const serverCert = authority.issue({ commonName: "localhost", hosts: ["localhost", "127.0.0.1"] })
const clientCert = authority.issue({ commonName: "gather-test-client" })
const day = 24 * 60 * 60 * 1000

/** What a test server saw. */
interface Seen {
  /** TCP connections accepted. */
  connections: number
  /** TLS handshakes completed. */
  handshakes: number
  /** Request headers, in order. */
  readonly headers: Array<Http.IncomingHttpHeaders>
  /** HTTP versions of the requests. */
  readonly versions: Array<string>
  /** Common names of the client certificates presented. */
  readonly clients: Array<string>
}

interface TestServer {
  readonly port: number
  readonly origin: string
  readonly seen: Seen
}

type Handler = (request: Http.IncomingMessage | Http2.Http2ServerRequest, response: Http.ServerResponse | Http2.Http2ServerResponse, seen: Seen) => void

const ok: Handler = (_request, response) => {
  response.writeHead(200, { "content-type": "text/plain" })
  response.end("ok")
}

/** Listens on 127.0.0.1:0; closing cuts every socket, so it never waits on keep-alive. */
const serve = (
  make: () => Net.Server,
  scheme: "http" | "https",
  handler: Handler = ok
): Effect.Effect<TestServer, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<{ server: Net.Server; sockets: Set<Net.Socket>; result: TestServer }>((resume) => {
      const server = make()
      const sockets = new Set<Net.Socket>()
      const seen: Seen = { connections: 0, handshakes: 0, headers: [], versions: [], clients: [] }
      server.on("connection", (socket: Net.Socket) => {
        seen.connections++
        sockets.add(socket)
        socket.on("close", () => sockets.delete(socket))
      })
      server.on("secureConnection", (socket: Tls.TLSSocket) => {
        seen.handshakes++
        const peer = socket.getPeerCertificate()
        if (peer !== null && typeof peer === "object" && peer.subject !== undefined) seen.clients.push(String(peer.subject.CN))
      })
      server.on("request", (request: Http.IncomingMessage, response: Http.ServerResponse) => {
        seen.headers.push(request.headers)
        seen.versions.push(request.httpVersion)
        handler(request, response, seen)
      })
      server.listen(0, "127.0.0.1", () => {
        const port = (server.address() as Net.AddressInfo).port
        resume(Effect.succeed({ server, sockets, result: { port, origin: `${scheme}://127.0.0.1:${port}`, seen } }))
      })
    }),
    ({ server, sockets }) =>
      Effect.async<void>((resume) => {
        server.close(() => resume(Effect.void))
        for (const socket of sockets) socket.destroy()
      })
  ).pipe(Effect.map(({ result }) => result))

const https = (options: Https.ServerOptions, handler?: Handler) => serve(() => Https.createServer(options), "https", handler)

/** A session that trusts the test CA, with up to 3 retries (so "not retried" can fail). */
const trusting = (options: Session.Options = {}): Session.Options => ({
  retry: { times: 3, baseDelay: 1 },
  ...options,
  tls: { ca: authority.cert, ...options.tls }
})

const fetchText = (url: string, options: Session.Options) => Fetch.text(url).pipe(Effect.provide(Layer.orDie(Session.layer(options))))

/** Fails with a Tls ConnectionError whose code and words are these, in one attempt. */
const expectTls = (server: TestServer, options: Session.Options, code: string, words: RegExp) =>
  Effect.gen(function*() {
    const error = asTag(yield* failure(fetchText(`${server.origin}/x`, options)), "ConnectionError")
    expect(error.reason).toBe("Tls")
    expect(error.code).toBe(code)
    expect(error.attempt).toBe(1)
    expect(FetchError.isTransient(error)).toBe(false)
    expect(error.message).toContain(`127.0.0.1:${server.port}`)
    expect(error.message).toMatch(words)
    expect(server.seen.connections).toBe(1)
    return error
  })

describe("TLS: trust", () => {
  it.live("a private CA passed as tls.ca is trusted; one handshake, body read", () =>
    Effect.gen(function*() {
      const server = yield* https(serverCert)
      const response = yield* fetchText(`${server.origin}/x`, trusting())
      expect(response.status).toBe(200)
      expect(response.body).toBe("ok")
      expect(server.seen.handshakes).toBe(1)
    }).pipe(Effect.scoped))

  it.live("the same CA as bytes, in a list, also works", () =>
    Effect.gen(function*() {
      const server = yield* https(serverCert)
      const response = yield* fetchText(`${server.origin}/x`, { tls: { ca: [Buffer.from(authority.cert)] } })
      expect(response.body).toBe("ok")
    }).pipe(Effect.scoped))

  it.live("unknown CA: ConnectionError Tls UNABLE_TO_VERIFY_LEAF_SIGNATURE, not retried, says to pass tls.ca", () =>
    Effect.gen(function*() {
      const server = yield* https(serverCert)
      yield* expectTls(
        server,
        { retry: { times: 3, baseDelay: 1 } },
        "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
        /not signed by a trusted authority.*tls\.ca/
      )
      expect(server.seen.handshakes).toBe(0)
    }).pipe(Effect.scoped))

  it.live("expired certificate: CERT_HAS_EXPIRED, not retried", () =>
    Effect.gen(function*() {
      const now = Date.now()
      const expired = authority.issue({
        commonName: "localhost",
        hosts: ["127.0.0.1"],
        notBefore: new Date(now - 3 * day),
        notAfter: new Date(now - day)
      })
      const server = yield* https(expired)
      yield* expectTls(server, trusting(), "CERT_HAS_EXPIRED", /certificate has expired/)
    }).pipe(Effect.scoped))

  it.live("hostname mismatch: ERR_TLS_CERT_ALTNAME_INVALID; tls.servername naming the certificate's host fixes it", () =>
    Effect.gen(function*() {
      const other = authority.issue({ commonName: "api.internal.test", hosts: ["api.internal.test"] })
      const server = yield* https(other)
      yield* expectTls(server, trusting(), "ERR_TLS_CERT_ALTNAME_INVALID", /not issued for this host name/)
      const response = yield* fetchText(`${server.origin}/x`, trusting({ tls: { servername: "api.internal.test" } }))
      expect(response.body).toBe("ok")
    }).pipe(Effect.scoped))

  it.live("a server that answers plain bytes to TLS: ERR_SSL_WRONG_VERSION_NUMBER, 'did not answer in TLS'", () =>
    Effect.gen(function*() {
      const server = yield* serve(() =>
        Net.createServer((socket) => {
          socket.once("data", () => socket.end("HTTP/1.1 400 Bad Request\r\n\r\n"))
        }), "https")
      yield* expectTls(server, trusting(), "ERR_SSL_WRONG_VERSION_NUMBER", /did not answer in TLS/)
    }).pipe(Effect.scoped))
})

describe("TLS: client certificates (mTLS)", () => {
  const mtls: Https.ServerOptions = { ...serverCert, requestCert: true, rejectUnauthorized: true, ca: authority.cert }

  it.live("required and missing (TLS 1.3): ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED, says to pass tls.cert/tls.key", () =>
    Effect.gen(function*() {
      const server = yield* https(mtls)
      yield* expectTls(server, trusting(), "ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED", /requires a client certificate.*tls\.cert/)
      expect(server.seen.headers).toHaveLength(0)
    }).pipe(Effect.scoped))

  it.live("required and missing (TLS 1.2): the handshake failure alert, in one attempt", () =>
    Effect.gen(function*() {
      const server = yield* https({ ...mtls, maxVersion: "TLSv1.2" })
      yield* expectTls(server, trusting(), "ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE", /alert "handshake failure"/)
    }).pipe(Effect.scoped))

  it.live("tls.cert + tls.key: the server sees the client's certificate and answers", () =>
    Effect.gen(function*() {
      const server = yield* https(mtls)
      const response = yield* fetchText(
        `${server.origin}/x`,
        trusting({ tls: { cert: clientCert.cert, key: Redacted.make(clientCert.key) } })
      )
      expect(response.body).toBe("ok")
      expect(server.seen.clients).toEqual(["gather-test-client"])
    }).pipe(Effect.scoped))

  it.live("an encrypted key with its passphrase works; a wrong passphrase is a defect at construction", () =>
    Effect.gen(function*() {
      const server = yield* https(mtls)
      const encrypted = crypto.createPrivateKey(clientCert.key).export({
        type: "pkcs8",
        format: "pem",
        cipher: "aes-256-cbc",
        passphrase: "correct-horse-battery"
      }).toString()
      const response = yield* fetchText(
        `${server.origin}/x`,
        trusting({ tls: { cert: clientCert.cert, key: encrypted, passphrase: Redacted.make("correct-horse-battery") } })
      )
      expect(response.body).toBe("ok")
      const exit = yield* Effect.exit(
        fetchText(`${server.origin}/x`, trusting({ tls: { cert: clientCert.cert, key: encrypted, passphrase: "hunter2-guess" } }))
      )
      expect(Exit.isFailure(exit) && !Exit.isInterrupted(exit)).toBe(true)
      const text = String(Exit.isFailure(exit) ? exit.cause : "")
      expect(text).toMatch(/tls\.key cannot be read/)
      expect(text).not.toContain("hunter2-guess")
    }).pipe(Effect.scoped))
})

describe("TLS: handshakes that never finish or are cut", () => {
  it.live("a server that accepts TCP and never answers the handshake: Timeout phase connect at timeout.connect, not headers", () =>
    Effect.gen(function*() {
      const server = yield* serve(() => Net.createServer(() => {}), "https")
      const error = asTag(
        yield* failure(fetchText(`${server.origin}/x`, trusting({ retry: false, timeout: { connect: 300, headers: 50 } }))),
        "Timeout"
      )
      expect(error.phase).toBe("connect")
      expect(error.limitMs).toBe(300)
      expect(error.elapsedMs).toBeGreaterThanOrEqual(250)
      expect(server.seen.connections).toBe(1)
    }).pipe(Effect.scoped))

  it.live("a per-call timeout.connect is ignored (the pool's is session-wide): the error's limitMs is the one that fired", () =>
    Effect.gen(function*() {
      const server = yield* serve(() => Net.createServer(() => {}), "https")
      const error = asTag(
        yield* failure(
          Fetch.text(`${server.origin}/x`, { timeout: { connect: "5 seconds", attempt: "10 seconds" } }).pipe(
            Effect.provide(Layer.orDie(Session.layer(trusting({ retry: false, timeout: { connect: 300 } }))))
          )
        ),
        "Timeout"
      )
      expect(error.phase).toBe("connect")
      expect(error.limitMs).toBe(300)
      expect(error.elapsedMs).toBeLessThan(4000)
      expect(server.seen.connections).toBe(1)
    }).pipe(Effect.scoped))

  it.live("a TLS alert in the middle of the handshake: Tls with the alert's code and name, not retried", () =>
    Effect.gen(function*() {
      // answers the ClientHello with a fatal handshake_failure alert record
      const alert = Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28])
      const server = yield* serve(() =>
        Net.createServer((socket) => {
          socket.once("data", () => socket.end(alert))
        }), "https")
      yield* expectTls(server, trusting(), "ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE", /ended the handshake with the alert "handshake failure"/)
    }).pipe(Effect.scoped))
})

describe("TLS: options", () => {
  it.live("rejectUnauthorized: false connects to an untrusted server and warns once, without secrets", () =>
    Effect.gen(function*() {
      const server = yield* https(serverCert)
      const logs: Array<string> = []
      const logger = Logger.make(({ logLevel, message }) => {
        logs.push(`${logLevel.label} ${Array.isArray(message) ? message.join(" ") : String(message)}`)
      })
      const body = yield* Effect.gen(function*() {
        const a = yield* Fetch.text(`${server.origin}/a`)
        const b = yield* Fetch.text(`${server.origin}/b`)
        return a.body + b.body
      }).pipe(
        Effect.provide(Session.layer({
          tls: { rejectUnauthorized: false, cert: clientCert.cert, key: clientCert.key }
        })),
        Effect.provide(Logger.replace(Logger.defaultLogger, logger))
      )
      expect(body).toBe("okok")
      const warnings = logs.filter((line) => line.startsWith("WARN"))
      expect(warnings).toHaveLength(1)
      expect(warnings[0]).toMatch(/certificate checks are off/)
      expect(logs.join("\n")).not.toContain("PRIVATE KEY")
    }).pipe(Effect.scoped))

  it.live("minVersion TLSv1.3 refuses a TLS 1.2 server", () =>
    Effect.gen(function*() {
      const server = yield* https({ ...serverCert, maxVersion: "TLSv1.2" })
      const error = asTag(yield* failure(fetchText(`${server.origin}/x`, trusting({ tls: { minVersion: "TLSv1.3" } }))), "ConnectionError")
      expect(error.reason).toBe("Tls")
      expect(FetchError.isTransient(error)).toBe(false)
    }).pipe(Effect.scoped))

  it.each([
    ["a CA that is not a certificate", { ca: "not a certificate" }, /tls\.ca must be PEM/],
    ["a cert without its key", { cert: clientCert.cert }, /tls\.cert and tls\.key go together/],
    ["a key that is not a key", { cert: clientCert.cert, key: "nope" }, /tls\.key cannot be read/],
    ["an unknown minVersion", { minVersion: "TLSv1" as "TLSv1.2" }, /minVersion/]
  ])("invalid TLS options are a defect at construction: %s", (_name, tls, pattern) =>
    Effect.runPromise(Effect.gen(function*() {
      const exit = yield* Effect.exit(Effect.scoped(Session.make({ tls })))
      expect(Exit.isFailure(exit)).toBe(true)
      expect(String(Exit.isFailure(exit) ? exit.cause : "")).toMatch(pattern)
    })))

  it.live("layerConfig reads GATHER_TLS_CA_FILE, GATHER_TLS_CERT_FILE and GATHER_TLS_KEY_FILE", () =>
    Effect.gen(function*() {
      const server = yield* https({ ...serverCert, requestCert: true, rejectUnauthorized: true, ca: authority.cert })
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gather-tls-config-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })))
      const file = (name: string, text: string) => {
        const at = path.join(dir, name)
        fs.writeFileSync(at, text, { mode: 0o600 })
        return at
      }
      const provider = ConfigProvider.fromMap(
        new Map([
          ["GATHER_TLS_CA_FILE", file("ca.pem", authority.cert)],
          ["GATHER_TLS_CERT_FILE", file("client.pem", clientCert.cert)],
          ["GATHER_TLS_KEY_FILE", file("client-key.pem", clientCert.key)]
        ]),
        { pathDelim: "_" }
      )
      const response = yield* Fetch.text(`${server.origin}/x`).pipe(
        Effect.provide(Session.layerConfig()),
        Effect.withConfigProvider(provider)
      )
      expect(response.body).toBe("ok")
      expect(server.seen.clients).toEqual(["gather-test-client"])
      const missing = yield* Effect.flip(
        Effect.scoped(Effect.flatMap(Session.config, (options) => Effect.succeed(options))).pipe(
          Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["GATHER_TLS_CA_FILE", path.join(dir, "nope.pem")]]), { pathDelim: "_" }))
        )
      )
      expect(String(missing)).toMatch(/cannot read .*nope\.pem \(ENOENT\)/)
    }).pipe(Effect.scoped))

  // undici learns the protocol from the first handshake's ALPN answer: a
  // cold gather at concurrency C may open C connections before it knows, so
  // one request goes first here.
  it.live("allowH2: HTTP/2 by ALPN, every stream on one connection once it is up; without it, HTTP/1.1", () =>
    Effect.gen(function*() {
      const server = yield* serve(() => Http2.createSecureServer({ ...serverCert, allowHTTP1: true }), "https")
      const urls = Array.from({ length: 20 }, (_, i) => `${server.origin}/h2/${i}`)
      const bodies = yield* Effect.zipRight(
        Fetch.text(`${server.origin}/first`),
        Gather.forEach(urls, (url) => Effect.map(Fetch.text(url), (r) => r.body), { concurrency: 8 })
      ).pipe(Effect.provide(Session.layer(trusting({ allowH2: true }))))
      expect(bodies).toEqual(urls.map(() => "ok"))
      expect(new Set(server.seen.versions)).toEqual(new Set(["2.0"]))
      expect(server.seen.handshakes).toBe(1)
      yield* fetchText(`${server.origin}/h1`, trusting())
      expect(server.seen.versions.at(-1)).toBe("1.1")
    }).pipe(Effect.scoped))
})

describe("redirects at the TLS boundary", () => {
  const redirectTo = (target: (seen: Seen) => string): Handler => (request, response, seen) => {
    if (request.url?.startsWith("/go") === true) {
      response.writeHead(302, { location: target(seen) })
      response.end()
      return
    }
    ok(request, response, seen)
  }

  it.live("https → http is refused (RedirectRejected Downgrade), the http server never asked", () =>
    Effect.gen(function*() {
      const plain = yield* serve(() => Http.createServer(), "http")
      const secure = yield* https(serverCert, redirectTo(() => `${plain.origin}/landing`))
      const error = asTag(yield* failure(fetchText(`${secure.origin}/go`, trusting())), "RedirectRejected")
      expect(error.reason).toBe("Downgrade")
      expect(error.location).toBe(`${plain.origin}/landing`)
      expect(plain.seen.headers).toHaveLength(0)
    }).pipe(Effect.scoped))

  it.live("http → https is followed to the TLS server", () =>
    Effect.gen(function*() {
      const secure = yield* https(serverCert)
      const plain = yield* serve(() => Http.createServer(), "http", redirectTo(() => `${secure.origin}/landing`))
      const response = yield* fetchText(`${plain.origin}/go`, trusting())
      expect(response.body).toBe("ok")
      expect(response.url).toBe(`${secure.origin}/landing`)
      expect(secure.seen.handshakes).toBe(1)
    }).pipe(Effect.scoped))

  it.live("credentials stay on a same-origin https hop and are dropped when the port or the host changes", () =>
    Effect.gen(function*() {
      const other = yield* https(serverCert)
      let selfOrigin = ""
      const secure = yield* https(serverCert, (request, response, seen) => {
        const go = (location: string) => {
          response.writeHead(302, { location })
          response.end()
        }
        if (request.url === "/same") return go(`${selfOrigin}/landing`)
        if (request.url === "/port") return go(`${other.origin}/landing`)
        if (request.url === "/host") return go(selfOrigin.replace("127.0.0.1", "localhost") + "/landing")
        ok(request, response, seen)
      })
      selfOrigin = secure.origin
      const headers = { authorization: "Bearer s3cret", cookie: "session=s3cret" }
      const session = Session.layer(trusting({ headers: {} }))
      const run = (path: string) => Fetch.text(`${secure.origin}${path}`, { headers }).pipe(Effect.provide(session))

      yield* run("/same")
      const landed = secure.seen.headers.at(-1)!
      expect(landed.authorization).toBe("Bearer s3cret")
      expect(landed.cookie).toBe("session=s3cret")

      yield* run("/port")
      const onOtherPort = other.seen.headers.at(-1)!
      expect(onOtherPort.authorization).toBeUndefined()
      expect(onOtherPort.cookie).toBeUndefined()

      const before = secure.seen.headers.length
      yield* run("/host")
      const onOtherHost = secure.seen.headers.slice(before)
      expect(onOtherHost.map((h) => h.host)).toEqual([`127.0.0.1:${secure.port}`, `localhost:${secure.port}`])
      expect(onOtherHost[1]!.authorization).toBeUndefined()
      expect(onOtherHost[1]!.cookie).toBeUndefined()
    }).pipe(Effect.scoped))
})

describe("connections reused, handshakes counted", () => {
  // undici hands a socket back to its pool one event-loop turn after the
  // response ends; a worker that dispatched its next request at once would
  // open another connection (18 for 8 workers, measured before the fix).
  const shapes = {
    // A composed item: its lane runs on a worker fiber.
    "Gather.forEach of composed fetches": (urls: ReadonlyArray<string>, concurrency: number) =>
      Gather.forEach(urls, (url) => Effect.map(Fetch.text(url), (r) => r.status), { concurrency }),
    // Plain fetches: every lane on callbacks.
    "Gather.all of plain fetches": (urls: ReadonlyArray<string>, concurrency: number) =>
      Effect.map(Gather.all(urls.map((url) => Fetch.text(url)), { concurrency }), (rs) => rs.map((r) => r.status)),
    // The design card's own shape: a fiber per request, no Gather.
    "Effect.forEach": (urls: ReadonlyArray<string>, concurrency: number) =>
      Effect.forEach(urls, (url) => Effect.map(Fetch.text(url), (r) => r.status), { concurrency })
  }
  for (const [shape, gather] of Object.entries(shapes)) {
    it.live.each([1, 8, 32])(`${shape} at concurrency %i opens at most C + 1 TLS connections to the origin`, (concurrency) =>
      Effect.gen(function*() {
        const server = yield* https(serverCert)
        const urls = Array.from({ length: 200 }, (_, i) => `${server.origin}/n/${i}`)
        const statuses = yield* gather(urls, concurrency).pipe(Effect.provide(Session.layer(trusting())))
        expect(statuses).toEqual(urls.map(() => 200))
        expect(server.seen.headers).toHaveLength(200)
        expect(server.seen.handshakes).toBeGreaterThanOrEqual(1)
        expect(server.seen.handshakes).toBeLessThanOrEqual(concurrency + 1)
      }).pipe(Effect.scoped))
  }
})
