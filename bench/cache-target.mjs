// The target of bench/cache.ts, in its own process: `/fresh/N` answers with
// `max-age=3600`, `/stale/N` with `max-age=0` (a 304 to a matching
// If-None-Match); bodies of BODY_BYTES (default 1 KiB), every response has an ETag. GET
// /stats gives the requests and body bytes sent so far (and zeroes them).
// Prints its port on stdout.
import { createServer } from "node:http"

const body = Buffer.alloc(Number(process.env.BODY_BYTES ?? 1024), "x")
let requests = 0
let bodyBytes = 0
const server = createServer((req, res) => {
  const url = req.url ?? "/"
  if (url === "/stats") {
    res.end(JSON.stringify({ requests, bodyBytes }))
    requests = 0
    bodyBytes = 0
    return
  }
  requests++
  const etag = `"${url}"`
  const cacheControl = url.startsWith("/fresh/") ? "max-age=3600" : "max-age=0"
  if (req.headers["if-none-match"] === etag) {
    res.writeHead(304, { etag, "cache-control": cacheControl }).end()
    return
  }
  bodyBytes += body.length
  res.writeHead(200, { etag, "cache-control": cacheControl, "content-length": body.length }).end(body)
})
server.keepAliveTimeout = 60_000
server.listen(0, "127.0.0.1", () => console.log(server.address().port))
process.on("SIGTERM", () => process.exit(0))
