/**
 * The cache as a stage around a fetch's first hop (fetch.ts calls
 * {@link through} instead of running the hop when the session has a cache).
 * It asks the policy (policy.ts) what to do, answers a fresh hit without a
 * request, sends a stale one's validators and turns a 304 back into the
 * stored response, and stores what may be stored. The decisions are
 * synchronous ({@link Lookup}: the stores answer at once), so a fetch on
 * callbacks (fetch.ts `FastFetching`) runs them in its own callbacks and
 * the fiber path ({@link through}) runs the same ones inside Effects. Only
 * sessions with a cache come here: a session without one pays nothing.
 *
 * Why not undici's `interceptors.cache`: it runs inside the dispatcher, so a
 * response cannot say whether it was a hit, a revalidation or a fetch; its
 * SQLite store needs `node:sqlite` (Node 22); and the engine's own limits,
 * retries and errors would run under it instead of around it.
 */
import type * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type { CacheStatus, Timing } from "../../Fetch.js"
import * as FetchError from "../../FetchError.js"
import type { FetchResponse } from "../engine/attempt.js"
import { PreparedRequest } from "../engine/attempt.js"
import * as Errors from "../engine/errors.js"
import { timingWithout } from "../engine/errors.js"
import { withHeader, withHeaders } from "../engine/headerCopy.js"
import { isSecretHeader, redactHeaders } from "../engine/redact.js"
import type { Limits } from "../options.js"
import type { Plan, Stored } from "./policy.js"
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
): FetchResponse<Uint8Array> | FetchError.FetchError =>
  response.status !== 304 || accept(304)
    ? response
    : Errors.make(
      { _tag: "BadStatus", status: 304, headers: redactHeaders(response.headers), body: "" },
      prepared.method,
      prepared.displayUrl,
      response.attempts,
      response.timing.totalMs,
      response.timing
    )

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
  headers: ageMs === undefined ? stored.headers : withHeader(stored.headers, "age", String(Math.floor(ageMs / 1000))),
  body: stored.body,
  bytes: stored.body.byteLength,
  attempts,
  redirects: noRedirects,
  timing,
  cache
})

/** What a fetch ends with once the cache has seen the origin's answer. */
export type Settled = FetchResponse<Uint8Array> | FetchError.FetchError

/**
 * One cacheable fetch's way through the cache, decided before anything is
 * sent: a fresh hit, a revalidation of a stale entry, or a fetch. Every
 * step is synchronous, so the callbacks of a fetch on the fast path and the
 * Effects of the fiber path run the same decisions.
 */
export class Lookup {
  /** The plan for the request, from what is stored for its URL at `requestAt`. */
  readonly plan: Plan

  constructor(
    private readonly cache: SessionCache,
    private readonly key: string,
    /** The request as the caller made it. */
    readonly prepared: PreparedRequest,
    /** Clock ms when it was looked up (the request's time for ageing, 4.2.3). */
    private readonly requestAt: number,
    /** The fetch's own status rule (the cache's limits accept a 304 as well). */
    private readonly accept: (status: number) => boolean
  ) {
    this.plan = Policy.plan(cache.store.get(key), prepared.headers, requestAt, cache.revalidate)
  }

  /** A fresh hit's response (only when `plan` is a Hit), timed from `startedAt` (performance.now()). */
  hit(stored: Stored, startedAt: number): FetchResponse<Uint8Array> {
    return answer(stored, this.prepared.href, "hit", 0, timingWithout(startedAt, undefined), Policy.ageMs(stored, this.requestAt))
  }

  /** What goes to the origin: the request, with the stored validators when revalidating. */
  toSend(): PreparedRequest {
    const plan = this.plan
    if (plan._tag !== "Revalidate") return this.prepared
    const prepared = this.prepared
    return new PreparedRequest(
      prepared.method,
      prepared.href,
      prepared.origin,
      prepared.path,
      withHeaders(prepared.headers, plan.headers),
      prepared.body
    )
  }

  /**
   * The origin's response as the fetch answers it (`responseAt`: Clock ms
   * when it came): a 304 to a revalidation is the stored response updated;
   * a 304 nobody asked for is the `BadStatus` it would have been; anything
   * else is stored when it may be, and is a miss.
   */
  settle(response: FetchResponse<Uint8Array>, responseAt: number): Settled {
    const plan = this.plan
    if (response.status !== 304) return this.keep(response, responseAt)
    if (plan._tag !== "Revalidate") return unasked(this.prepared, this.accept, response)
    return this.revalidated(plan.stored, response.headers, response.attempts, response.timing, responseAt, false)
  }

  /** A failed fetch: a 304 that came as `BadStatus` while revalidating is still the stored response; any other failure stands. */
  settleFailure(error: FetchError.FetchError, responseAt: number): Settled {
    const plan = this.plan
    if (plan._tag !== "Revalidate" || error._tag !== "BadStatus" || error.status !== 304) return error
    return this.revalidated(plan.stored, error.headers, error.attempt, error.timing, responseAt, true)
  }

  private revalidated(
    stored: Stored,
    headers: Readonly<Record<string, string>>,
    attempts: number,
    timing: Timing,
    responseAt: number,
    redacted: boolean
  ): FetchResponse<Uint8Array> {
    const prepared = this.prepared
    // A BadStatus shows secret headers as "***": those keep their stored values.
    const merged = Policy.merge(stored, headers, this.requestAt, responseAt, redacted ? isSecretHeader : undefined)
    if (Policy.isStorable(prepared.method, merged.status, prepared.headers, merged.headers)) this.cache.store.refresh(this.key, stored, merged)
    else this.cache.store.delete(this.key)
    return answer(merged, prepared.href, "revalidated", attempts, timing, undefined)
  }

  /** A fetched response: stored when it may be (else what was stored goes), marked a miss. */
  private keep(response: FetchResponse<Uint8Array>, responseAt: number): FetchResponse<Uint8Array> {
    const missed: FetchResponse<Uint8Array> = { ...response, cache: "miss" }
    // A redirected fetch's response belongs to another URL: not stored under this one.
    if (response.redirects.length > 0 || response.channel !== undefined) return missed
    const prepared = this.prepared
    if (!Policy.isStorable(prepared.method, response.status, prepared.headers, response.headers)) {
      this.cache.store.delete(this.key)
      return missed
    }
    const fields = Policy.varyFields(response.headers) ?? []
    this.cache.store.put(this.key, {
      status: response.status,
      headers: response.headers,
      body: response.body,
      requestAt: this.requestAt,
      responseAt,
      vary: Policy.selecting(fields, prepared.headers)
    })
    return missed
  }
}

/**
 * The lookup for a request the cache may answer, or `undefined` when it may
 * not (a method other than GET, a conditional or range request of the
 * caller's own, `no-store`): that request goes to the origin untouched.
 */
export const lookup = (
  cache: SessionCache,
  prepared: PreparedRequest,
  now: number,
  accept: (status: number) => boolean
): Lookup | undefined => Policy.mayUse(prepared.method, prepared.headers) ? new Lookup(cache, keyOf(prepared.href), prepared, now, accept) : undefined

const settled = (result: Settled): Effect.Effect<FetchResponse<Uint8Array>, FetchError.FetchError> =>
  FetchError.isFetchError(result) ? Effect.fail(result) : Effect.succeed(result)

/**
 * Runs `prepared` (a fetch's first hop) through the cache on the fiber
 * path. `hop` sends it (retries, redirects and errors as always);
 * `startedAt` is the fetch's start (performance.now()), for a hit's timing.
 */
export const through = (
  cache: SessionCache,
  prepared: PreparedRequest,
  startedAt: number,
  accept: (status: number) => boolean,
  hop: Hop
): Effect.Effect<FetchResponse<Uint8Array>, FetchError.FetchError> =>
  Effect.clockWith((clock) => {
    const found = lookup(cache, prepared, clock.unsafeCurrentTimeMillis(), accept)
    if (found === undefined) {
      const sent = Effect.flatMap(hop(prepared), (response) => settled(unasked(prepared, accept, response)))
      // A successful unsafe method invalidates what is stored for its URL (4.4).
      return Policy.isUnsafe(prepared.method) ? Effect.tap(sent, () => Effect.sync(() => cache.store.delete(keyOf(prepared.href)))) : sent
    }
    const plan = found.plan
    if (plan._tag === "Hit") return Effect.succeed(found.hit(plan.stored, startedAt))
    return settling(found, hop(found.toSend()), clock)
  })

/** `fetched` (the origin's answer to `found.toSend()`) settled by the cache, timed by `clock` (the fiber's). */
export const settling = (
  found: Lookup,
  fetched: Effect.Effect<FetchResponse<Uint8Array>, FetchError.FetchError>,
  clock: Clock.Clock
): Effect.Effect<FetchResponse<Uint8Array>, FetchError.FetchError> =>
  Effect.matchEffect(fetched, {
    onFailure: (error) => settled(found.settleFailure(error, clock.unsafeCurrentTimeMillis())),
    onSuccess: (response) => settled(found.settle(response, clock.unsafeCurrentTimeMillis()))
  })

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
