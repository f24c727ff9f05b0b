/**
 * The demo server's fault routes: a server that hangs, resets mid-body,
 * trickles, asks to retry later, has a hidden capacity, fails at random
 * (seeded) or answers broken JSON. The ordinary routes are in routes.ts.
 */
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import { limits, retryCodes } from "./config.js"
import { decimalPattern, flakyFails } from "./helpers.js"
import { cut } from "./http2.js"
import { alreadySent, badRequest, flag, integer, json, nodeResponse, optionalInteger, pathParam, patternSlice, query, realSleep } from "./respond.js"
import type { State } from "./state.js"

export const faultRoutes = (state: State) => {
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

  return { hangRoute, resetRoute, slowBodyRoute, retryAfterRoute, capacityRoute, flakyRoute, badJsonRoute }
}
