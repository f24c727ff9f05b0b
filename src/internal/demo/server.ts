/** The demo server as a scoped service: listen, serve the routes, close at once. */
import * as NodeHttpPlatform from "@effect/platform-node/NodeHttpPlatform"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpServer from "@effect/platform/HttpServer"
import type { ServeError } from "@effect/platform/HttpServerError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import type * as Http from "node:http"
import type * as api from "../../DemoServer.js"
import { normalize } from "./config.js"
import { nodeServerFor } from "./http2.js"
import { makeApp } from "./routes.js"
import { State } from "./state.js"

/** @internal */
export const tag = Context.GenericTag<api.DemoServer>("effect-gather/DemoServer")

const formatBaseUrl = (scheme: "http" | "https", host: string, port: number): string => {
  const reachable = host === "0.0.0.0" ? "127.0.0.1" : host === "::" ? "::1" : host
  return reachable.includes(":") ? `${scheme}://[${reachable}]:${port}` : `${scheme}://${reachable}:${port}`
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
