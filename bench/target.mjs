// The benchmark's target server: plain node:http, meant to run in its own
// process so its CPU is never charged to a client.
//
//   node bench/target.mjs            listens on 127.0.0.1, a free port; prints the port on stdout
//   node bench/target.mjs --tls=DIR  the same over https, with DIR/cert.pem and DIR/key.pem
//
// Routes (any query string is ignored except `ms`):
//   GET /small          200, a 100-byte body with content-length, keep-alive
//   GET /delay?ms=100   the same body after `ms` milliseconds (0..10000, default 100)
//   GET /handshakes     the TLS handshakes completed so far (a number; https only)
//   anything else       404
//
// It exits on SIGTERM/SIGINT, and with `--exit-on-stdin-close` (how the
// runner starts it) when its stdin closes, so it never outlives the runner.
import { readFileSync } from "node:fs"
import { createServer as createHttpServer } from "node:http"
import { createServer as createHttpsServer } from "node:https"
import { join } from "node:path"
import { serveTarget } from "./serve-target.mjs"

const body = Buffer.alloc(100, "x")
const headers = {
  "content-type": "text/plain",
  "content-length": String(body.length),
  connection: "keep-alive"
}
const notFound = Buffer.from("not found\n")

const respond = (res) => {
  res.writeHead(200, headers)
  res.end(body)
}

const tlsDir = process.argv.find((arg) => arg.startsWith("--tls="))?.slice("--tls=".length)
let handshakes = 0

const handler = (req, res) => {
  const url = req.url ?? "/"
  if (url === "/handshakes") {
    const text = `${handshakes}\n`
    res.writeHead(200, { "content-type": "text/plain", "content-length": String(text.length) })
    return res.end(text)
  }
  if (url === "/small" || url.startsWith("/small?")) return respond(res)
  if (url === "/delay" || url.startsWith("/delay?")) {
    const raw = new URLSearchParams(url.slice(url.indexOf("?") + 1)).get("ms")
    const ms = raw === null ? 100 : Math.min(10_000, Math.max(0, Number(raw) || 0))
    const timer = setTimeout(respond, ms, res)
    res.on("close", () => clearTimeout(timer))
    return
  }
  res.writeHead(404, { "content-type": "text/plain", "content-length": String(notFound.length) })
  res.end(notFound)
}

const server = tlsDir === undefined
  ? createHttpServer(handler)
  : createHttpsServer({ cert: readFileSync(join(tlsDir, "cert.pem")), key: readFileSync(join(tlsDir, "key.pem")) }, handler)
server.on("secureConnection", () => handshakes++)

server.maxHeadersCount = 100
serveTarget(server)
