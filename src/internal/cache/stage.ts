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
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import type * as Scope from "effect/Scope"
import type { CacheStatus, Timing } from "../../Fetch.js"
import type * as FetchError from "../../FetchError.js"
import type { FetchResponse } from "../engine/attempt.js"
import { PreparedRequest } from "../engine/attempt.js"
import * as Errors from "../engine/errors.js"
import { timingWithout } from "../engine/errors.js"
import type * as FastPath from "../engine/fastPath.js"
import { isSecretHeader, redactHeaders } from "../engine/redact.js"
import type { Limits } from "../options.js"
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

/**
 * The limits of a fetch on a cached session: a 304 is accepted, so that a
 * revalidation's answer comes back as a response rather than a `BadStatus`
 * error (an Error with its stack, about a third of a revalidation's CPU).
 * {@link through} turns a 304 it did not ask for back into `BadStatus`.
 */
export const limits = (base: Limits): Limits => ({ ...base, acceptStatus: (status) => status === 304 || base.acceptStatus(status) })

/** A 304 nobody asked for (the request had no validator of ours): the `BadStatus` the fetch would have failed with. */
const unasked = (
  prepared: PreparedRequest,
  accept: (status: number) => boolean,
  response: FetchResponse<Uint8Array>
): Effect.Effect<FetchResponse<Uint8Array>, FetchError.FetchError> =>
  response.status !== 304 || accept(304)
    ? Effect.succeed(response)
    : Effect.fail(Errors.make(
      { _tag: "BadStatus", status: 304, headers: redactHeaders(response.headers), body: "" },
      prepared.method,
      prepared.displayUrl,
      response.attempts,
      response.timing.totalMs,
      response.timing
    ))

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
  accept: (status: number) => boolean,
  hop: Hop
): Effect.Effect<FetchResponse<Uint8Array>, FetchError.FetchError> => {
  const key = keyOf(prepared.href)
  if (!Policy.mayUse(prepared.method, prepared.headers)) {
    const sent = Effect.flatMap(hop(prepared), (response) => unasked(prepared, accept, response))
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
        return Effect.flatMap(
          hop(prepared),
          (response) => response.status === 304 ? unasked(prepared, accept, response) : keep(cache, key, prepared, response, now)
        )
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

/** What a start answered at once returns: nothing is in flight to abort. */
const answered: FastPath.Running = { interrupt: () => {} }

/**
 * The fast path's cache lookup (fetch.ts `startFast`): a fresh hit in a
 * store that answers at once (memory) goes to `done` now, without a fiber
 * step; anything else (a miss, a revalidation, the SQLite store) returns
 * `undefined` and the fetch runs on the fiber through {@link run}.
 */
export const answerAtOnce = (
  cache: SessionCache,
  prepared: PreparedRequest,
  fiber: Fiber.RuntimeFiber<unknown, unknown>,
  done: { succeed(response: FetchResponse<Uint8Array>): void }
): FastPath.Running | undefined => {
  const peek = cache.store.peek
  if (peek === undefined || cache.revalidate || !Policy.mayUse(prepared.method, prepared.headers)) return undefined
  const variants = peek(keyOf(prepared.href))
  if (variants.length === 0) return undefined
  const now = Context.get(fiber.currentDefaultServices, Clock.Clock).unsafeCurrentTimeMillis()
  const plan = Policy.plan(variants, prepared.headers, now, false)
  if (plan._tag !== "Hit") return undefined
  done.succeed(answer(plan.stored, prepared.href, "hit", 0, timingWithout(performance.now(), undefined), Policy.ageMs(plan.stored, now)))
  return answered
}

/** {@link through} for fetch.ts: the request may still be being prepared (a body to encode); `fetching` sends hops. */
export const run = (
  cache: SessionCache,
  prepared: PreparedRequest | Effect.Effect<PreparedRequest, FetchError.FetchError>,
  startedAt: number,
  accept: (status: number) => boolean,
  fetching: { hop(prepared: PreparedRequest): Effect.Effect<FetchResponse<Uint8Array>, FetchError.FetchError> }
): Effect.Effect<FetchResponse<Uint8Array>, FetchError.FetchError> => {
  const hop: Hop = (sent) => fetching.hop(sent)
  return Effect.isEffect(prepared)
    ? Effect.flatMap(prepared, (ready) => through(cache, ready, startedAt, accept, hop))
    : through(cache, prepared, startedAt, accept, hop)
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
