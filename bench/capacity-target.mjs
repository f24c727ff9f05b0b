// The adaptive scenarios' target server: plain node:http in its own process.
//
//   node bench/capacity-target.mjs [--k=20] [--ms=10] [--route-ms=2] [--share=0.04]
//     [--phase-k=10] [--phase-from-ms=3000] [--phase-to-ms=6000] [--exit-on-stdin-close]
//
// Prints its port on stdout. Routes:
//   GET /cap/{i}     a hidden capacity: with more than K requests of this route
//                    in flight, answers 503 + Retry-After: 1 at once; otherwise
//                    200 (100 bytes) after `ms` milliseconds
//   GET /phase/{i}   a capacity that changes: as /cap, but K is `phase-k` from
//                    `phase-from-ms` to `phase-to-ms` after the first /phase
//                    request since the last /reset, and K before and after
//   GET /route/{i}   per-route limits: a seeded `share` of the paths answer 429
//                    (odd i) or 503 (even i) with Retry-After: 1 the first time
//                    they are asked, then 200; the rest 200 at once; every
//                    answer after `route-ms` milliseconds
//   GET /stats       JSON counters since the last /reset
//   GET /reset       zeroes the counters and forgets which paths were refused
// It exits on SIGTERM/SIGINT, and with --exit-on-stdin-close when its stdin
// closes, so it never outlives the runner.
import { createServer } from "node:http"
import { serveTarget } from "./serve-target.mjs"

const arg = (name, fallback) => {
  const found = process.argv.find((a) => a.startsWith(`--${name}=`))
  return found === undefined ? fallback : Number(found.slice(name.length + 3))
}
const K = arg("k", 20)
const MS = arg("ms", 10)
const ROUTE_MS = arg("route-ms", 2)
const SHARE = arg("share", 0.04)
const PHASE_K = arg("phase-k", Math.max(1, Math.floor(K / 2)))
const PHASE_FROM_MS = arg("phase-from-ms", 3000)
const PHASE_TO_MS = arg("phase-to-ms", 6000)

const body = Buffer.alloc(100, "x")
const okHeaders = { "content-type": "text/plain", "content-length": String(body.length) }
const refusedBody = Buffer.from("try again later\n")
const refusedHeaders = { "content-type": "text/plain", "content-length": String(refusedBody.length), "retry-after": "1" }

// A seeded hash of i in [0, 1): which paths of /route are rate limited.
const hash = (i) => {
  let t = (i * 0x9e3779b1 + 0x2545f491) >>> 0
  t = Math.imul(t ^ (t >>> 15), t | 1) >>> 0
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

let stats = { served: 0, refused: 0, peakInFlight: 0 }
let capInFlight = 0
let phaseInFlight = 0
/** performance.now() of the first /phase request since the last /reset. */
let phaseStart = undefined
let refusedPaths = new Set()

const send = (res, status, headers, payload) => {
  if (res.destroyed) return
  res.writeHead(status, headers)
  res.end(payload)
}

// More than `k` in flight (as `inFlight` counts them): 503 at once, else 200 after MS.
const capacity = (res, k, inFlight, add) => {
  if (inFlight() >= k) {
    stats.refused++
    return send(res, 503, refusedHeaders, refusedBody)
  }
  add(1)
  if (inFlight() > stats.peakInFlight) stats.peakInFlight = inFlight()
  let done = false
  const finish = () => {
    if (done) return
    done = true
    add(-1)
  }
  const timer = setTimeout(() => {
    finish()
    stats.served++
    send(res, 200, okHeaders, body)
  }, MS)
  res.on("close", () => {
    clearTimeout(timer)
    finish()
  })
}

const server = createServer((req, res) => {
  const url = req.url ?? "/"
  if (url.startsWith("/cap/")) return capacity(res, K, () => capInFlight, (d) => (capInFlight += d))
  if (url.startsWith("/phase/")) {
    const now = performance.now()
    phaseStart ??= now
    const since = now - phaseStart
    const k = since >= PHASE_FROM_MS && since < PHASE_TO_MS ? PHASE_K : K
    return capacity(res, k, () => phaseInFlight, (d) => (phaseInFlight += d))
  }
  if (url.startsWith("/route/")) {
    const i = Number(url.slice(7).split("?")[0])
    let status = 200
    if (hash(i) < SHARE && !refusedPaths.has(i)) {
      refusedPaths.add(i)
      status = i % 2 === 1 ? 429 : 503
    }
    const timer = setTimeout(() => {
      if (status === 200) {
        stats.served++
        send(res, 200, okHeaders, body)
      } else {
        stats.refused++
        send(res, status, refusedHeaders, refusedBody)
      }
    }, ROUTE_MS)
    res.on("close", () => clearTimeout(timer))
    return
  }
  if (url === "/stats") {
    const json = Buffer.from(JSON.stringify(stats))
    return send(res, 200, { "content-type": "application/json", "content-length": String(json.length) }, json)
  }
  if (url === "/reset") {
    stats = { served: 0, refused: 0, peakInFlight: 0 }
    refusedPaths = new Set()
    phaseStart = undefined
    return send(res, 200, { "content-length": "0" }, "")
  }
  send(res, 404, { "content-length": "0" }, "")
})

serveTarget(server)
