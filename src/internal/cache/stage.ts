/**
 * The cache as a stage around a fetch's first hop (fetch.ts calls
 * {@link through} instead of running the hop when the session has a cache).
 * It asks the policy (policy.ts) what to do, answers a fresh hit without a
 * request, sends a stale one's validators and turns a 304 back into the
 * stored response, and stores what may be stored. Only sessions with a cache
 * come here: they take the fiber path (the fast path's callback loop would
 * need a store lookup before every dispatch), so a session without one pays
 * nothing.
 *
 * Why not undici's `interceptors.cache`: it runs inside the dispatcher, so a
 * response cannot say whether it was a hit, a revalidation or a fetch; its
 * SQLite store needs `node:sqlite` (Node 22); and the engine's own limits,
 * retries and errors would run under it instead of around it.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type { CacheStatus, Timing } from "../../Fetch.js"
import type * as FetchError from "../../FetchError.js"
import type { FetchResponse } from "../attempt.js"
import { PreparedRequest } from "../attempt.js"
import { timingWithout } from "../errors.js"
import { isSecretHeader } from "../redact.js"
import type { Stored } from "./policy.js"
import * as Policy from "./policy.js"
import * as Sqlite from "./sqlite.js"
import type { CacheStore } from "./store.js"
import { MemoryStore } from "./store.js"

/** The cache options after defaults. */
export interface ResolvedCache {
  readonly store: "memory" | { readonly sqlite: string }
  /** Bound of the memory store, bytes. */
  readonly maxBytes: number
  /** Revalidate fresh responses too. */
  readonly revalidate: boolean
}

/** A session's cache: its store and how it is used. */
export interface SessionCache {
  readonly store: CacheStore
  readonly revalidate: boolean
}

export const open = (config: ResolvedCache): Effect.Effect<SessionCache, never, Scope.Scope> =>
  config.store === "memory"
    ? Effect.succeed({ store: new MemoryStore(config.maxBytes), revalidate: config.revalidate })
    : Effect.map(Sqlite.open(config.store.sqlite), (store) => ({ store, revalidate: config.revalidate }))

type Hop = (prepared: PreparedRequest) => Effect.Effect<FetchResponse<Uint8Array>, FetchError.FetchError>

/** The stored key of a URL: without its fragment (never sent). */
const keyOf = (href: string): string => {
  const hash = href.indexOf("#")
  return hash === -1 ? href : href.slice(0, hash)
}

const noRedirects: ReadonlyArray<string> = []

const answer = (
  stored: Stored,
  url: string,
  cache: CacheStatus,
  attempts: number,
  timing: Timing,
  ageMs: number | undefined
): FetchResponse<Uint8Array> => ({
  url,
  status: stored.status,
  headers: ageMs === undefined ? stored.headers : { ...stored.headers, age: String(Math.floor(ageMs / 1000)) },
  body: stored.body,
  bytes: stored.body.byteLength,
  attempts,
  redirects: noRedirects,
  timing,
  cache
})

/**
 * Runs `prepared` (a fetch's first hop) through the cache. `hop` sends it
 * (retries, redirects and errors as always); `startedAt` is the fetch's start
 * (performance.now()), for a hit's timing.
 */
export const through = (
  cache: SessionCache,
  prepared: PreparedRequest,
  startedAt: number,
  hop: Hop
): Effect.Effect<FetchResponse<Uint8Array>, FetchError.FetchError> => {
  const key = keyOf(prepared.href)
  if (!Policy.mayUse(prepared.method, prepared.headers)) {
    const sent = hop(prepared)
    // A successful unsafe method invalidates what is stored for its URL (4.4).
    return Policy.isUnsafe(prepared.method) ? Effect.tap(sent, () => cache.store.delete(key)) : sent
  }
  return Effect.flatMap(Effect.zip(cache.store.get(key), Clock.currentTimeMillis), ([variants, now]) => {
    const plan = Policy.plan(variants, prepared.headers, now, cache.revalidate)
    switch (plan._tag) {
      case "Hit":
        return Effect.succeed(
          answer(plan.stored, prepared.href, "hit", 0, timingWithout(startedAt, undefined), Policy.ageMs(plan.stored, now))
        )
      case "Fetch":
        return Effect.flatMap(hop(prepared), (response) => keep(cache, key, prepared, response, now))
      case "Revalidate": {
        const asking = new PreparedRequest(
          prepared.method,
          prepared.href,
          prepared.origin,
          prepared.path,
          { ...prepared.headers, ...plan.headers },
          prepared.body
        )
        const revalidated = (headers: Readonly<Record<string, string>>, attempts: number, timing: Timing, redacted: boolean) =>
          Effect.flatMap(Clock.currentTimeMillis, (responseAt) => {
            // A BadStatus shows secret headers as "***": those keep their stored values.
            const merged = Policy.merge(plan.stored, headers, now, responseAt, redacted ? isSecretHeader : undefined)
            const response = answer(merged, prepared.href, "revalidated", attempts, timing, undefined)
            return Policy.isStorable(prepared.method, merged.status, prepared.headers, merged.headers)
              ? Effect.as(cache.store.put(key, merged), response)
              : Effect.as(cache.store.delete(key), response)
          })
        return Effect.matchEffect(hop(asking), {
          onFailure: (error) =>
            error._tag === "BadStatus" && error.status === 304
              ? revalidated(error.headers, error.attempt, error.timing, true)
              : Effect.fail(error),
          onSuccess: (response) =>
            response.status === 304
              ? revalidated(response.headers, response.attempts, response.timing, false)
              : keep(cache, key, prepared, response, now)
        })
      }
    }
  })
}

/** A fetched response: stored when it may be (else what was stored goes), marked a miss. */
const keep = (
  cache: SessionCache,
  key: string,
  prepared: PreparedRequest,
  response: FetchResponse<Uint8Array>,
  requestAt: number
): Effect.Effect<FetchResponse<Uint8Array>> => {
  const missed: FetchResponse<Uint8Array> = { ...response, cache: "miss" }
  // A redirected fetch's response belongs to another URL: not stored under this one.
  if (response.redirects.length > 0 || response.channel !== undefined) return Effect.succeed(missed)
  if (!Policy.isStorable(prepared.method, response.status, prepared.headers, response.headers)) {
    return Effect.as(cache.store.delete(key), missed)
  }
  const fields = Policy.varyFields(response.headers) ?? []
  return Effect.flatMap(Clock.currentTimeMillis, (responseAt) =>
    Effect.as(
      cache.store.put(key, {
        status: response.status,
        headers: response.headers,
        body: response.body,
        requestAt,
        responseAt,
        vary: Policy.selecting(fields, prepared.headers)
      }),
      missed
    ))
}
