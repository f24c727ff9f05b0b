/** The demo server's node server, and where its HTTP/2 side differs from HTTP/1.1. */
import * as Http from "node:http"
import * as Http2 from "node:http2"
import * as Https from "node:https"
import type { Config } from "./config.js"

/**
 * Cuts a response mid-body. Over HTTP/1.1 that is destroying its socket;
 * over HTTP/2 the socket carries every stream of the connection (and the
 * compatibility API's socket proxy does not destroy it anyway): the stream
 * alone is reset, as an HTTP/2 server would.
 */
export const cut = (res: Http.ServerResponse): void => {
  if (res instanceof Http2.Http2ServerResponse) {
    // Closing with an error code also fails the stream here: expected, not a crash.
    res.stream.once("error", () => {})
    res.stream.close(Http2.constants.NGHTTP2_INTERNAL_ERROR)
  } else {
    res.socket?.destroy()
  }
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
export const nodeServerFor = (config: Config): Http.Server => {
  if (config.tls === undefined) return Http.createServer()
  const { cert, key } = config.tls
  if (!config.h2) return Https.createServer({ cert, key })
  return Http2.createSecureServer({ cert, key, allowHTTP1: true }) as unknown as Http.Server
}
