import * as NodeHttpPlatform from "@effect/platform-node/NodeHttpPlatform"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import type { ServeError } from "@effect/platform/HttpServerError"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Http from "node:http"
import * as Http2 from "node:http2"
import * as Https from "node:https"
import type * as Net from "node:net"
import { fileURLToPath } from "node:url"
import * as Zlib from "node:zlib"
import type * as api from "../../DemoServer.js"
import { pokemon, typeIds, wikiPage } from "./data.js"
import { localCertificates } from "./tls.js"

// ---------------------------------------------------------------------------
// options
// ---------------------------------------------------------------------------

/** @internal */
export const defaults = {
  port: 0,
  host: "127.0.0.1",
  latency: Duration.zero
} as const

interface Config {
  readonly port: number
  readonly host: string
  readonly latencyMillis: number
  /** The certificate to serve and the CA that issued it; undefined for plain http. */
  readonly tls: { readonly cert: string; readonly key: string; readonly ca: string | undefined } | undefined
  readonly h2: boolean
}

const normalize = (options: api.DemoServerOptions | undefined): Config => {
  const h2 = options?.h2 ?? false
  const tls = options?.tls ?? h2
  return {
    port: options?.port ?? defaults.port,
    host: options?.host ?? defaults.host,
    latencyMillis: Math.max(0, Duration.toMillis(Duration.decode(options?.latency ?? defaults.latency))),
    // `true`: a throwaway CA and a certificate for localhost, 127.0.0.1 and ::1
    tls: tls === false ? undefined : tls === true ? localCertificates([options?.host ?? defaults.host]) : { ca: undefined, ...tls },
    h2
  }
}

// ---------------------------------------------------------------------------
// limits
// ---------------------------------------------------------------------------

/** @internal */
export const limits = {
  maxDelayMillis: 60_000,
  maxBytes: 256 * 1024 * 1024,
  maxRedirects: 100,
  maxSlowChunks: 10_000,
  maxSlowIntervalMillis: 60_000,
  maxRetryAfterSeconds: 2_147_483,
  maxCapacity: 100_000,
  maxReceivedHeaders: 10_000,
  maxKeys: 100_000
} as const

const redirectCodes: ReadonlySet<number> = new Set([301, 302, 303, 307, 308])
const retryCodes: ReadonlySet<number> = new Set([429, 503])
const noBodyCodes: ReadonlySet<number> = new Set([204, 205, 304])

// ---------------------------------------------------------------------------
// pure helpers (exported for tests)
// ---------------------------------------------------------------------------

/**
 * A seeded hash of `(seed, k)` mapped to `[0, 1)`. `/flaky` fails the k-th
 * request for a seed when this is below `p`.
 *
 * @internal
 */
export const flakyHash = (seed: number, k: number): number => {
  const lo = seed >>> 0
  const hi = Math.floor(seed / 4294967296) >>> 0
  let x = (lo ^ Math.imul(hi, 0x27d4eb2d) ^ Math.imul(k >>> 0, 0x9e3779b9)) >>> 0
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b)
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35)
  x = Math.imul(x ^ (x >>> 16), 0x7feb352d)
  x ^= x >>> 15
  return (x >>> 0) / 4294967296
}

/** @internal */
export const flakyFails = (p: number, seed: number, k: number): boolean => flakyHash(seed, k) < p

/**
 * Keeps the most recent `capacity` entries, amortized O(1) per push.
 *
 * @internal
 */
export class RecentLog<A> {
  private items: Array<A> = []
  constructor(readonly capacity: number) {}
  push(item: A): void {
    this.items.push(item)
    if (this.items.length >= this.capacity * 2) {
      this.items = this.items.slice(this.items.length - this.capacity)
    }
  }
  clear(): void {
    this.items = []
  }
  toArray(): ReadonlyArray<A> {
    return this.items.length > this.capacity ? this.items.slice(this.items.length - this.capacity) : this.items.slice()
  }
}

const integerPattern = /^-?\d{1,16}$/
const decimalPattern = /^(?:\d+(?:\.\d*)?|\.\d+)$/

/** Parses a base-10 integer within `[min, max]`, or returns `undefined`. @internal */
export const parseIntegerIn = (raw: string | null | undefined, min: number, max: number): number | undefined => {
  if (raw === null || raw === undefined || !integerPattern.test(raw)) return undefined
  const n = Number(raw)
  return Number.isSafeInteger(n) && n >= min && n <= max ? n : undefined
}

const headerRecord = (headers: Http.IncomingHttpHeaders): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue
    out[name.toLowerCase()] = Array.isArray(value) ? value.join(", ") : value
  }
  return out
}

// ---------------------------------------------------------------------------
// state
// ---------------------------------------------------------------------------

class State {
  requests = 0
  inFlight = 0
  peakInFlight = 0
  aborted = 0
  openConnections = 0
  connectionsOpened = 0
  readonly headers = new RecentLog<Readonly<Record<string, string>>>(limits.maxReceivedHeaders)
  readonly sockets = new Set<Net.Socket>()
  /** responses the server cut on purpose (/reset): not client aborts */
  readonly serverCut = new WeakSet<Http.ServerResponse>()
  readonly retryAttempts = new Map<string, number>()
  readonly flakyAttempts = new Map<number, number>()
  /** Requests in flight at `/capacity`, by its `k` (each `k` is its own hidden capacity). */
  readonly capacityInFlight = new Map<number, number>()

  tlsHandshakes = 0

  onSecureConnection = (): void => {
    this.tlsHandshakes++
  }

  onConnection = (socket: Net.Socket): void => {
    this.openConnections++
    this.connectionsOpened++
    this.sockets.add(socket)
    socket.once("close", () => {
      this.openConnections--
      this.sockets.delete(socket)
    })
  }

  onRequest = (req: Http.IncomingMessage, res: Http.ServerResponse): void => {
    this.requests++
    this.inFlight++
    if (this.inFlight > this.peakInFlight) this.peakInFlight = this.inFlight
    this.headers.push(headerRecord(req.headers))
    // A request stops being in flight when its response closes or when the
    // client hangs up, whichever the server sees first: the socket's EOF or
    // reset is read in the same poll as the client's next request, while the
    // response's 'close' only comes in a later phase of the event loop.
    const socket = req.socket
    let left = false
    const leave = () => {
      if (left) return
      left = true
      this.inFlight--
      socket.off("end", leave)
      socket.off("error", leave)
    }
    socket.once("end", leave)
    socket.once("error", leave)
    res.once("close", () => {
      leave()
      if (!res.writableFinished && !this.serverCut.has(res)) this.aborted++
    })
  }

  snapshot(): api.DemoServerStats {
    return {
      requests: this.requests,
      inFlight: this.inFlight,
      peakInFlight: this.peakInFlight,
      aborted: this.aborted,
      openConnections: this.openConnections,
      connectionsOpened: this.connectionsOpened,
      tlsHandshakes: this.tlsHandshakes
    }
  }

  resetStats(): void {
    this.requests = 0
    this.peakInFlight = this.inFlight
    this.aborted = 0
    this.connectionsOpened = 0
    this.tlsHandshakes = 0
    this.headers.clear()
  }

  resetState(): void {
    this.retryAttempts.clear()
    this.flakyAttempts.clear()
  }

  nextAttempt<K>(map: Map<K, number>, key: K): number {
    if (map.size >= limits.maxKeys && !map.has(key)) map.clear()
    const attempt = (map.get(key) ?? 0) + 1
    map.set(key, attempt)
    return attempt
  }
}

// ---------------------------------------------------------------------------
// route helpers
// ---------------------------------------------------------------------------

class BadRequest extends Data.TaggedError("BadRequest")<{ readonly message: string }> {}

type Response = HttpServerResponse.HttpServerResponse

const json = (body: unknown, status = 200, headers?: Record<string, string>): Response =>
  HttpServerResponse.unsafeJson(body, headers === undefined ? { status } : { status, headers })

const redirect = (location: string, status: number): Response => HttpServerResponse.redirect(location, { status, headers: { "content-length": "0" } })

const badRequest = (message: string): Effect.Effect<never, BadRequest> => Effect.fail(new BadRequest({ message }))

const recover = <R>(effect: Effect.Effect<Response, BadRequest, R>): Effect.Effect<Response, never, R> =>
  Effect.catchTag(effect, "BadRequest", (e) => Effect.succeed(json({ error: e.message }, 400)))

const pathParam = (name: string): Effect.Effect<string, never, HttpRouter.RouteContext> => Effect.map(HttpRouter.params, (params) => params[name] ?? "")

const query: Effect.Effect<URLSearchParams, never, HttpServerRequest.HttpServerRequest> = Effect.map(
  HttpServerRequest.HttpServerRequest,
  (request) => {
    const index = request.url.indexOf("?")
    return new URLSearchParams(index === -1 ? "" : request.url.slice(index + 1))
  }
)

const integer = (
  name: string,
  raw: string | null | undefined,
  min: number,
  max: number
): Effect.Effect<number, BadRequest> => {
  const n = parseIntegerIn(raw, min, max)
  return n === undefined
    ? badRequest(`${name} must be an integer in [${min}, ${max}], got ${JSON.stringify(raw ?? null)}`)
    : Effect.succeed(n)
}

const optionalInteger = (
  name: string,
  raw: string | null,
  min: number,
  max: number,
  fallback: number
): Effect.Effect<number, BadRequest> => (raw === null ? Effect.succeed(fallback) : integer(name, raw, min, max))

const flag = (raw: string | null): boolean => raw !== null && raw !== "0" && raw !== "false"

/** Waits on a real timer (never Effect's Clock), cancelled on interruption. */
const realSleep = (millis: number): Effect.Effect<void> =>
  millis <= 0
    ? Effect.void
    : Effect.async<void>((resume) => {
      const timer = setTimeout(() => resume(Effect.void), millis)
      return Effect.sync(() => clearTimeout(timer))
    })

const nodeResponse: Effect.Effect<Http.ServerResponse, never, HttpServerRequest.HttpServerRequest> = Effect.map(
  HttpServerRequest.HttpServerRequest,
  NodeHttpServerRequest.toServerResponse
)

// the response was written by hand on the node object; the platform sees
// `writableEnded` and sends nothing more
const alreadySent: Response = HttpServerResponse.empty()

// ---------------------------------------------------------------------------
// byte patterns
// ---------------------------------------------------------------------------

const chunkSize = 64 * 1024
const patternPeriod = 251
const pattern: Uint8Array = (() => {
  const bytes = new Uint8Array(chunkSize + patternPeriod)
  for (let i = 0; i < bytes.length; i++) bytes[i] = i % patternPeriod
  return bytes
})()

/** `length` bytes of the pattern `byte i = i % 251`, starting at `offset`. */
const patternSlice = (offset: number, length: number): Uint8Array => {
  const start = offset % patternPeriod
  return pattern.subarray(start, start + length)
}

const bytesStream = (n: number): Stream.Stream<Uint8Array> =>
  Stream.unfold(0, (offset) => {
    if (offset >= n) return Option.none()
    const size = Math.min(chunkSize, n - offset)
    return Option.some([patternSlice(offset, size), offset + size] as const)
  })

// ---------------------------------------------------------------------------
// routes
// ---------------------------------------------------------------------------

const staticDir = fileURLToPath(new URL("../../static/", import.meta.url))

const makeApp = (state: State, config: Config, baseUrl: string) => {
  const latency = realSleep(config.latencyMillis)

  const pokemonRoute = Effect.gen(function*() {
    yield* latency
    const raw = yield* pathParam("id")
    if (!/^\d{1,16}$/.test(raw)) return yield* badRequest(`id must be a number, got ${JSON.stringify(raw)}`)
    const id = Number(raw)
    const record = pokemon[id - 1]
    if (record === undefined) return json({ error: "not found" }, 404)
    return json({
      id: record.id,
      name: record.name,
      height: record.height,
      weight: record.weight,
      order: record.id,
      is_default: true,
      types: record.types.map((name, i) => ({
        slot: i + 1,
        type: { name, url: `${baseUrl}/api/v2/type/${typeIds[name] ?? 0}/` }
      }))
    })
  })

  const wikiRoute = Effect.gen(function*() {
    yield* latency
    const year = yield* integer("year", yield* pathParam("year"), 1, 9999)
    return HttpServerResponse.text(wikiPage(year), { contentType: "text/html; charset=utf-8" })
  })

  const jsonRoute = Effect.gen(function*() {
    const name = yield* pathParam("name")
    const q = yield* query
    return json({ path_name_variable: name, query_param_a: q.get("a"), query_param_b: q.get("b") })
  })

  const delayRoute = Effect.gen(function*() {
    const ms = yield* integer("ms", yield* pathParam("ms"), 0, limits.maxDelayMillis)
    yield* realSleep(ms)
    return json({ delayed_ms: ms })
  })

  const statusRoute = Effect.gen(function*() {
    const code = yield* integer("code", yield* pathParam("code"), 200, 599)
    if (code === 205) return HttpServerResponse.empty({ status: code, headers: { "content-length": "0" } })
    // node itself sends neither a body nor a length for 204 and 304
    return noBodyCodes.has(code) ? HttpServerResponse.empty({ status: code }) : json({ status: code }, code)
  })

  const bytesRoute = Effect.gen(function*() {
    const n = yield* integer("n", yield* pathParam("n"), 0, limits.maxBytes)
    const chunked = flag((yield* query).get("chunked"))
    const contentType = "application/octet-stream"
    if (chunked) return HttpServerResponse.stream(bytesStream(n), { contentType })
    // the platform omits content-length when it is 0, so set it by hand
    if (n === 0) {
      return HttpServerResponse.uint8Array(new Uint8Array(0), { contentType, headers: { "content-length": "0" } })
    }
    return HttpServerResponse.stream(bytesStream(n), { contentType, contentLength: n })
  })

  const redirectStatus = (raw: string | null): Effect.Effect<number, BadRequest> =>
    raw === null
      ? Effect.succeed(302)
      : Effect.flatMap(
        integer("status", raw, 300, 399),
        (status) =>
          redirectCodes.has(status)
            ? Effect.succeed(status)
            : badRequest("status must be one of 301, 302, 303, 307, 308")
      )

  const redirectRoute = Effect.gen(function*() {
    const n = yield* integer("n", yield* pathParam("n"), 0, limits.maxRedirects)
    const rawStatus = (yield* query).get("status")
    const status = yield* redirectStatus(rawStatus)
    if (n === 0) return json({ redirected: true })
    const suffix = rawStatus === null ? "" : `?status=${status}`
    return redirect(`/redirect/${n - 1}${suffix}`, status)
  })

  const redirectToRoute = Effect.gen(function*() {
    const q = yield* query
    const url = q.get("url")
    if (url === null || url === "") return yield* badRequest("url is required")
    const status = yield* redirectStatus(q.get("status"))
    // keep the Location header valid whatever the URL holds (spaces, CR/LF, non-ASCII)
    const location = yield* Effect.try({
      try: () => url.replace(/[^\x21-\x7e]/gu, (c) => encodeURIComponent(c)),
      catch: () => new BadRequest({ message: "url is not valid text" })
    })
    return redirect(location, status)
  })

  const headersRoute = Effect.map(
    HttpServerRequest.HttpServerRequest,
    (request) => json({ headers: headerRecord(NodeHttpServerRequest.toIncomingMessage(request).headers) })
  )

  const hangRoute = Effect.never

  const resetRoute = Effect.gen(function*() {
    const res = yield* nodeResponse
    yield* Effect.async<void>((resume) => {
      res.writeHead(200, { "content-type": "application/octet-stream", "content-length": "100000" })
      res.write(patternSlice(0, 1000), () => {
        state.serverCut.add(res)
        cut(res)
        // mark the response ended so the platform does not try to answer it again
        res.end()
        resume(Effect.void)
      })
    })
    return alreadySent
  })

  const slowBodyRoute = Effect.gen(function*() {
    const q = yield* query
    const chunks = yield* optionalInteger("chunks", q.get("chunks"), 1, limits.maxSlowChunks, 10)
    const interval = yield* optionalInteger("interval", q.get("interval"), 0, limits.maxSlowIntervalMillis, 100)
    const res = yield* nodeResponse
    yield* Effect.async<void>((resume) => {
      res.writeHead(200, { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" })
      res.flushHeaders()
      let sent = 0
      let timer: ReturnType<typeof setTimeout> | undefined
      const tick = (): void => {
        sent++
        res.write(`chunk ${sent} of ${chunks}\n`)
        if (sent < chunks) {
          timer = setTimeout(tick, interval)
        } else {
          timer = undefined
          res.end()
          resume(Effect.void)
        }
      }
      timer = setTimeout(tick, interval)
      return Effect.sync(() => {
        if (timer !== undefined) clearTimeout(timer)
      })
    })
    return alreadySent
  })

  const retryAfterRoute = Effect.gen(function*() {
    const seconds = yield* integer("s", yield* pathParam("s"), 0, limits.maxRetryAfterSeconds)
    const q = yield* query
    const rawStatus = q.get("status")
    const status = rawStatus === null ? 503 : yield* integer("status", rawStatus, 100, 599)
    if (!retryCodes.has(status)) return yield* badRequest("status must be 429 or 503")
    const times = yield* optionalInteger("times", q.get("times"), 0, Number.MAX_SAFE_INTEGER, Infinity)
    const key = q.get("key") ?? "default"
    const attempt = state.nextAttempt(state.retryAttempts, key)
    if (attempt > times) return json({ ok: true, attempt })
    const retryAfter = flag(q.get("date"))
      ? new Date(Date.now() + seconds * 1000).toUTCString()
      : String(seconds)
    return json({ status, retry_after: retryAfter, attempt }, status, { "retry-after": retryAfter })
  })

  // A server with a hidden capacity: more than `k` requests in flight at
  // once get a 503 (or 429) with Retry-After at once; the others are served
  // after `ms`. What an adaptive client has to find without being told.
  const capacityRoute = Effect.gen(function*() {
    const q = yield* query
    const k = yield* optionalInteger("k", q.get("k"), 1, limits.maxCapacity, 20)
    const ms = yield* optionalInteger("ms", q.get("ms"), 0, limits.maxDelayMillis, 20)
    const seconds = yield* optionalInteger("retryAfter", q.get("retryAfter"), 0, limits.maxRetryAfterSeconds, 1)
    const rawStatus = q.get("status")
    const status = rawStatus === null ? 503 : yield* integer("status", rawStatus, 100, 599)
    if (!retryCodes.has(status)) return yield* badRequest("status must be 429 or 503")
    const inFlight = state.capacityInFlight.get(k) ?? 0
    if (inFlight >= k) return json({ error: "over capacity", k }, status, { "retry-after": String(seconds) })
    state.capacityInFlight.set(k, inFlight + 1)
    return yield* Effect.as(realSleep(ms), json({ ok: true, inFlight: inFlight + 1 })).pipe(
      Effect.ensuring(Effect.sync(() => {
        const left = (state.capacityInFlight.get(k) ?? 1) - 1
        if (left <= 0) state.capacityInFlight.delete(k)
        else state.capacityInFlight.set(k, left)
      }))
    )
  })

  const flakyRoute = Effect.gen(function*() {
    const q = yield* query
    const rawP = q.get("p")
    const p = rawP === null ? 0.5 : decimalPattern.test(rawP) ? Number(rawP) : NaN
    if (!(p >= 0 && p <= 1)) return yield* badRequest(`p must be a number in [0, 1], got ${JSON.stringify(rawP)}`)
    const seed = yield* optionalInteger("seed", q.get("seed"), Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, 0)
    const k = state.nextAttempt(state.flakyAttempts, seed)
    return flakyFails(p, seed, k) ? json({ ok: false, k }, 503) : json({ ok: true, k })
  })

  const badJsonRoute = HttpServerResponse.text("{\"ok\": tru", { contentType: "application/json" })

  const gzipRoute = Effect.map(HttpServerRequest.HttpServerRequest, (request) =>
    HttpServerResponse.uint8Array(
      Zlib.gzipSync(JSON.stringify({ gzipped: true, method: request.method, message: "decoded from gzip" })),
      { contentType: "application/json", headers: { "content-encoding": "gzip", vary: "accept-encoding" } }
    ))

  const echoRoute = Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const body = yield* Effect.mapError(
      request.text,
      () => new BadRequest({ message: "could not read the request body" })
    )
    return json({
      method: request.method,
      url: request.url,
      body,
      headers: headerRecord(NodeHttpServerRequest.toIncomingMessage(request).headers)
    })
  })

  // Each `name=value` becomes `Set-Cookie: name=value; Path=/`; each `raw`
  // is a whole Set-Cookie line, sent as it is; `redirect` answers 302 there.
  const cookiesSetRoute = Effect.gen(function*() {
    const q = yield* query
    const lines: Array<string> = []
    let location: string | undefined
    for (const [name, value] of q) {
      if (name === "raw") lines.push(value)
      else if (name === "redirect") location = value
      else lines.push(`${name}=${value}; Path=/`)
    }
    if (lines.some((line) => /[\r\n]/.test(line))) return yield* badRequest("a cookie must be one line")
    const res = yield* nodeResponse
    const cookies = lines.map((line) => ["set-cookie", line] as [string, string])
    const body = JSON.stringify({ set: lines.length })
    res.writeHead(
      location === undefined ? 200 : 302,
      location === undefined
        ? [["content-type", "application/json"], ["content-length", String(body.length)], ...cookies].flat()
        : [["location", location], ["content-length", "0"], ...cookies].flat()
    )
    res.end(location === undefined ? body : undefined)
    return alreadySent
  })

  // The request's cookies as `{"cookies": {name: value}}`.
  const cookiesRoute = Effect.map(HttpServerRequest.HttpServerRequest, (request) => {
    const header = NodeHttpServerRequest.toIncomingMessage(request).headers.cookie ?? ""
    const cookies: Record<string, string> = {}
    for (const pair of header.split(";")) {
      const at = pair.indexOf("=")
      if (at > 0) cookies[pair.slice(0, at).trim()] = pair.slice(at + 1).trim()
    }
    return json({ cookies })
  })

  const indexRoute = HttpServerResponse.file(`${staticDir}index.html`, {
    headers: { "content-type": "text/html; charset=utf-8" }
  })

  const router = HttpRouter.empty.pipe(
    HttpRouter.get("/", redirect("/index", 302)),
    HttpRouter.get("/index", indexRoute),
    HttpRouter.get("/empty", HttpServerResponse.empty({ status: 200, headers: { "content-length": "0" } })),
    HttpRouter.get("/json/:name", jsonRoute),
    HttpRouter.get("/api/v2/pokemon/:id", recover(pokemonRoute)),
    HttpRouter.get("/wiki/:year", recover(wikiRoute)),
    HttpRouter.get("/delay/:ms", recover(delayRoute)),
    HttpRouter.get("/status/:code", recover(statusRoute)),
    HttpRouter.get("/bytes/:n", recover(bytesRoute)),
    HttpRouter.get("/redirect/:n", recover(redirectRoute)),
    HttpRouter.get("/redirect-loop", redirect("/redirect-loop", 302)),
    HttpRouter.all("/redirect-to", recover(redirectToRoute)),
    HttpRouter.get("/headers", headersRoute),
    HttpRouter.get("/hang", hangRoute)
  ).pipe(
    HttpRouter.get("/reset", resetRoute),
    HttpRouter.get("/slow-body", recover(slowBodyRoute)),
    HttpRouter.all("/retry-after/:s", recover(retryAfterRoute)),
    HttpRouter.get("/flaky", recover(flakyRoute)),
    HttpRouter.get("/capacity", recover(capacityRoute)),
    HttpRouter.get("/bad-json", badJsonRoute),
    HttpRouter.get("/gzip", gzipRoute),
    HttpRouter.all("/echo", recover(echoRoute)),
    HttpRouter.get("/cookies/set", recover(cookiesSetRoute)),
    HttpRouter.get("/cookies", cookiesRoute),
    HttpRouter.catchAll((error) => Effect.succeed(json({ error: `internal error: ${error._tag}` }, 500)))
  )

  return router.pipe(
    Effect.catchTag(
      "RouteNotFound",
      (e) => Effect.succeed(json({ error: `no route for ${e.request.method} ${e.request.url}` }, 404))
    )
  )
}

// ---------------------------------------------------------------------------
// service
// ---------------------------------------------------------------------------

/** @internal */
export const tag = Context.GenericTag<api.DemoServer>("effect-gather/DemoServer")

const formatBaseUrl = (scheme: "http" | "https", host: string, port: number): string => {
  const reachable = host === "0.0.0.0" ? "127.0.0.1" : host === "::" ? "::1" : host
  return reachable.includes(":") ? `${scheme}://[${reachable}]:${port}` : `${scheme}://${reachable}:${port}`
}

/**
 * The node server for the config. HTTP/2 goes through node's compatibility
 * API (`allowHTTP1` keeps HTTP/1.1 clients working): its request and
 * response objects offer what the platform's handler uses of node:http's,
 * and `NodeHttpServer.make` uses only `listen`, `address`, `listening`,
 * `close`, `on` and `off` of the server, which an `Http2SecureServer` has.
 * `NodeHttpServer.make` is typed for node:http servers only, hence the cast.
 * What the cast hides: the request and response objects the routes get are
 * node's HTTP/2 ones (pseudo-headers among the headers, a socket shared by
 * every stream), so a route that touches the socket must tell them apart
 * (see `cut`).
 */
/**
 * Cuts a response mid-body. Over HTTP/1.1 that is destroying its socket;
 * over HTTP/2 the socket carries every stream of the connection (and the
 * compatibility API's socket proxy does not destroy it anyway): the stream
 * alone is reset, as an HTTP/2 server would.
 */
const cut = (res: Http.ServerResponse): void => {
  if (res instanceof Http2.Http2ServerResponse) {
    // Closing with an error code also fails the stream here: expected, not a crash.
    res.stream.once("error", () => {})
    res.stream.close(Http2.constants.NGHTTP2_INTERNAL_ERROR)
  } else {
    res.socket?.destroy()
  }
}

const nodeServerFor = (config: Config): Http.Server => {
  if (config.tls === undefined) return Http.createServer()
  const { cert, key } = config.tls
  if (!config.h2) return Https.createServer({ cert, key })
  return Http2.createSecureServer({ cert, key, allowHTTP1: true }) as unknown as Http.Server
}

/** Stops listening and cuts every socket, so closing never waits on clients. */
const closeNow = (server: Http.Server, state: State): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    let done = false
    const finish = (): void => {
      if (done) return
      done = true
      clearTimeout(fallback)
      resume(Effect.void)
    }
    // a safety net: every socket is destroyed below, so this should never fire
    const fallback = setTimeout(finish, 1000)
    server.close(finish)
    // an HTTP/2 server has no closeAllConnections; its sockets are cut below
    if (typeof server.closeAllConnections === "function") server.closeAllConnections()
    for (const socket of state.sockets) socket.destroy()
  })

/** @internal */
export const make = (options?: api.DemoServerOptions): Effect.Effect<api.DemoServer, ServeError, Scope.Scope> =>
  Effect.gen(function*() {
    const config = normalize(options)
    const state = new State()
    const nodeServer = nodeServerFor(config)
    nodeServer.on("connection", state.onConnection)
    nodeServer.on("secureConnection", state.onSecureConnection)
    nodeServer.on("request", state.onRequest)

    const server = yield* NodeHttpServer.make(() => nodeServer, { port: config.port, host: config.host })
    const port = server.address._tag === "TcpAddress" ? server.address.port : config.port
    const baseUrl = formatBaseUrl(config.tls === undefined ? "http" : "https", config.host, port)

    const platform = yield* Layer.build(NodeHttpPlatform.layer)
    yield* HttpServer.serveEffect(makeApp(state, config, baseUrl)).pipe(
      Effect.provideService(HttpServer.HttpServer, server),
      Effect.provide(platform)
    )
    // runs before the platform's own finalizer, which would wait for every client
    yield* Effect.addFinalizer(() => closeNow(nodeServer, state))

    return tag.of({
      baseUrl,
      port,
      ca: config.tls?.ca,
      stats: Effect.sync(() => state.snapshot()),
      resetStats: Effect.sync(() => state.resetStats()),
      resetState: Effect.sync(() => state.resetState()),
      receivedHeaders: Effect.sync(() => state.headers.toArray())
    })
  })

/** @internal */
export const layer = (options?: api.DemoServerOptions): Layer.Layer<api.DemoServer, ServeError> => Layer.scoped(tag, make(options))

/** @internal */
export const layerTest: Layer.Layer<api.DemoServer, ServeError> = layer({ port: 0, host: "127.0.0.1", latency: 0 })
