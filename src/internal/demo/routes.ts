/** The demo server's routes and its router (the fault routes are in faults.ts). */
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import { fileURLToPath } from "node:url"
import * as Zlib from "node:zlib"
import type { Config } from "./config.js"
import { limits, noBodyCodes, redirectCodes } from "./config.js"
import { pokemon, typeIds, wikiPage } from "./data.js"
import { faultRoutes } from "./faults.js"
import { headerRecord } from "./helpers.js"
import {
  alreadySent,
  BadRequest,
  badRequest,
  bytesStream,
  flag,
  integer,
  json,
  nodeResponse,
  pathParam,
  query,
  realSleep,
  recover,
  redirect
} from "./respond.js"
import type { State } from "./state.js"

const staticDir = fileURLToPath(new URL("../../static/", import.meta.url))

export const makeApp = (state: State, config: Config, baseUrl: string) => {
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

  const { badJsonRoute, capacityRoute, flakyRoute, hangRoute, resetRoute, retryAfterRoute, slowBodyRoute } = faultRoutes(state)

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
