// Plain node:http origins for examples/cluster.ts --servers plain: COUNT
// servers on free loopback ports, each answering every request after
// LATENCY_MS with a small body, in a process of their own. The demo servers
// cost about 0.8 ms of CPU a request (routing, the Effect HTTP server, page
// data); at a few thousand requests a second that takes the cores the
// runners are being measured on. These only wait and answer.
//
//   node examples/shared/plainServers.mjs COUNT LATENCY_MS
//
// Prints the base URLs as one JSON array on stdout once every server
// listens. GET /__stats answers {"requests","inFlight","peakInFlight"} of
// that server (not counted). Exits when its stdin closes or on SIGTERM, so
// it never outlives the example.
import { createServer } from "node:http"

const count = Number(process.argv[2])
const latencyMs = Number(process.argv[3])
if (!Number.isInteger(count) || count < 1 || !Number.isFinite(latencyMs) || latencyMs < 0) {
  process.stderr.write("usage: node plainServers.mjs COUNT LATENCY_MS\n")
  process.exit(2)
}

const body = Buffer.alloc(512, "x")
const headers = { "content-type": "text/plain", "content-length": String(body.length) }

const start = () =>
  new Promise((resolve, reject) => {
    const stats = { requests: 0, inFlight: 0, peakInFlight: 0 }
    const server = createServer((req, res) => {
      if (req.url === "/__stats") {
        res.writeHead(200, { "content-type": "application/json" })
        res.end(JSON.stringify(stats))
        return
      }
      stats.requests++
      stats.inFlight++
      if (stats.inFlight > stats.peakInFlight) stats.peakInFlight = stats.inFlight
      let done = false
      const finish = () => {
        if (done) return
        done = true
        stats.inFlight--
      }
      // A request the client gives up on stops counting as in flight when its socket goes.
      res.once("close", finish)
      setTimeout(() => {
        if (res.destroyed) return finish()
        res.writeHead(200, headers)
        res.end(body)
        finish()
      }, latencyMs)
    })
    server.keepAliveTimeout = 60_000
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => resolve(`http://127.0.0.1:${server.address().port}`))
  })

const urls = []
for (let i = 0; i < count; i++) urls.push(await start())
process.stdout.write(`${JSON.stringify(urls)}\n`)
process.stdin.resume()
process.stdin.once("end", () => process.exit(0))
process.once("SIGTERM", () => process.exit(0))
