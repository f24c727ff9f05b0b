/**
 * A whole fetch: prepare the request, run attempts, follow redirects by the
 * session's policy, and turn the result into a `FetchResponse` or a typed
 * error. Attempts themselves live in `attempt.ts`.
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Effectable from "effect/Effectable"
import type * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import type * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import type { Segment, Timing } from "../Fetch.js"
import * as FetchError from "../FetchError.js"
import type { Session as PublicSession } from "../Session.js"
import * as Cache from "./cache/stage.js"
import * as Credentials from "./credentials.js"
import * as Attempt from "./engine/attempt.js"
import type { BodyChannel } from "./engine/bodyStream.js"
import { currentDeadline } from "./engine/deadline.js"
import * as Errors from "./engine/errors.js"
import * as FastPath from "./engine/fastPath.js"
import { hold, ownedSlot } from "./engine/interruptSlot.js"
import { splitPlainUrl } from "./engine/plainUrl.js"
import { isSecretHeader, redactUrl } from "./engine/redact.js"
import { decodeText } from "./engine/text.js"
import type { CallOptions, Limits } from "./options.js"
import { lowerCaseHeaders, resolveCall } from "./options.js"
import * as Adaptive from "./policy/adaptive.js"
import type * as Hosts from "./policy/hosts.js"
import * as Metrics from "./policy/metrics.js"
import * as Retry from "./policy/retry.js"
import type { SessionImpl } from "./session.js"
import { tag as sessionTag } from "./session.js"

export { decodeText }

export type FetchResponse<A> = Attempt.FetchResponse<A>

const schemePattern = /^[a-z][a-z0-9+.-]*:/i

const joinUrl = (baseUrl: string | undefined, input: string): string => {
  if (baseUrl === undefined || schemePattern.test(input)) return input
  if (input === "") return baseUrl
  return input.charCodeAt(0) === 47 /* "/" */ ? baseUrl + input : `${baseUrl}/${input}`
}

type Prepared = Attempt.PreparedRequest

const invalidUrl = (method: string, input: string, reason: "Malformed" | "UnsupportedScheme", startedAt: number) =>
  Effect.fail(Errors.make({ _tag: "InvalidUrl", reason }, method, redactUrl(input), 1, performance.now() - startedAt))

const invalidBody = (method: string, displayUrl: string, detail: string, startedAt: number) =>
  Effect.fail(Errors.make({ _tag: "InvalidRequest", reason: "Body", detail }, method, displayUrl, 1, performance.now() - startedAt))

/**
 * What the engine needs of a request. Every `HttpClientRequest` is one; a
 * plain URL string becomes one without building a whole request object.
 */
export interface RequestSpec {
  readonly method: string
  readonly url: string
  readonly urlParams: Iterable<readonly [string, string]>
  readonly headers: Readonly<Record<string, string>>
  readonly body: RequestBody
}

/**
 * The bodies the engine sends: every `@effect/platform` `HttpBody` is one
 * (its `Empty`, `Raw`, `Uint8Array`, `FormData` and `Stream` cases), and the
 * request helpers build them without loading the platform's body module,
 * which imports `effect/Schema` (see session.ts `layer` on import cost).
 */
export type RequestBody =
  | { readonly _tag: "Empty" }
  | { readonly _tag: "Raw"; readonly body: unknown; readonly contentType?: string | undefined }
  | { readonly _tag: "Uint8Array"; readonly body: Uint8Array; readonly contentType: string }
  | { readonly _tag: "FormData"; readonly formData: FormData }
  | { readonly _tag: "Stream"; readonly stream: Stream.Stream<Uint8Array, unknown>; readonly contentType: string }

/** No body at all. */
export const emptyBody: RequestBody = Object.freeze({ _tag: "Empty" })

const noParams: ReadonlyArray<readonly [string, string]> = []
const noHeaders: Readonly<Record<string, string>> = Object.freeze({})

/** A GET of a URL, as light as a request can be. */
export const getSpec = (url: string): RequestSpec => ({
  method: "GET",
  url,
  urlParams: noParams,
  headers: noHeaders,
  body: emptyBody
})

const isEmpty = (params: Iterable<readonly [string, string]>): boolean => {
  if (Array.isArray(params)) return params.length === 0
  for (const _ of params) return false
  return true
}

const hasKeys = (record: Readonly<Record<string, string>>): boolean => {
  for (const _ in record) return true
  return false
}

const toBytes = (body: unknown): string | Uint8Array | undefined => {
  if (typeof body === "string" || body instanceof Uint8Array) return body
  if (body instanceof ArrayBuffer) return new Uint8Array(body)
  return undefined
}

const prepare = (
  session: SessionImpl,
  request: RequestSpec,
  extraHeaders: Readonly<Record<string, string>> | undefined,
  traceparent: string | undefined,
  startedAt: number
): Prepared | Effect.Effect<Prepared, FetchError.FetchError> => {
  const method = request.method
  const href = joinUrl(session.config.baseUrl, request.url)
  const plain = isEmpty(request.urlParams) ? splitPlainUrl(href) : undefined
  let url: URL | undefined
  let userInfo: string | undefined
  if (plain === undefined) {
    try {
      url = new URL(href)
    } catch {
      return invalidUrl(method, href, "Malformed", startedAt)
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") return invalidUrl(method, href, "UnsupportedScheme", startedAt)
    if (url.hostname === "") return invalidUrl(method, href, "Malformed", startedAt)
    for (const [name, value] of request.urlParams) url.searchParams.append(name, value)

    // Credentials in the URL become a Basic header, as browsers and aiohttp
    // do, and never travel in the request line.
    if (url.username !== "" || url.password !== "") {
      // A bad percent-escape (`a%zz`) makes decodeURIComponent throw: that
      // input is an InvalidUrl, never a defect that stops a whole gather.
      let credentials: string
      try {
        credentials = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`
      } catch {
        return invalidUrl(method, href, "Malformed", startedAt)
      }
      userInfo = `Basic ${Buffer.from(credentials).toString("base64")}`
      url.username = ""
      url.password = ""
    }
  }

  // The session's headers object is shared by every request that adds none
  // of its own (undici only reads it); anything added makes a copy.
  let headers: Record<string, string> = session.config.headers as Record<string, string>
  const body = request.body
  if (
    extraHeaders !== undefined || hasKeys(request.headers) || userInfo !== undefined || traceparent !== undefined ||
    (body._tag !== "Empty" && body._tag !== "Raw")
  ) {
    headers = { ...headers }
    if (extraHeaders !== undefined) Object.assign(headers, lowerCaseHeaders(extraHeaders))
    Object.assign(headers, request.headers)
    if (userInfo !== undefined && headers["authorization"] === undefined) headers["authorization"] = userInfo
    if (traceparent !== undefined) headers["traceparent"] = traceparent
  }

  headers = Credentials.onRequest(session, plain?.href ?? href, url, headers)

  const done = (bytes: string | Uint8Array | null, contentType: string | undefined): Prepared => {
    if (contentType !== undefined && headers["content-type"] === undefined) {
      if (headers === session.config.headers) headers = { ...headers }
      headers["content-type"] = contentType
    }
    return url === undefined
      ? new Attempt.PreparedRequest(method, plain!.href, plain!.origin, plain!.path, headers, bytes)
      : Attempt.PreparedRequest.fromUrl(method, url, headers, bytes)
  }

  switch (body._tag) {
    case "Empty":
      return done(null, undefined)
    case "Uint8Array":
      return done(body.body, body.contentType)
    case "Raw": {
      const bytes = toBytes(body.body)
      if (bytes === undefined) return invalidBody(method, redactUrl(url ?? href), "a raw body must be a string or bytes", startedAt)
      return done(bytes, body.contentType)
    }
    case "FormData": {
      // Encoded once up front so that a retry or a 307/308 can send it again.
      const encoded = new Response(body.formData)
      return Effect.promise(() => encoded.arrayBuffer()).pipe(
        Effect.map((buffer) => done(new Uint8Array(buffer), encoded.headers.get("content-type") ?? undefined))
      )
    }
    case "Stream":
      // Buffered so it can be replayed on redirect or retry. Streaming uploads
      // are not what this library is for.
      return Stream.runFold(body.stream, [] as Array<Uint8Array>, (chunks, chunk) => {
        chunks.push(chunk)
        return chunks
      }).pipe(
        Effect.map((chunks) => Buffer.concat(chunks)),
        Effect.matchEffect({
          onFailure: (cause) => invalidBody(method, redactUrl(url ?? href), `body stream failed: ${String(cause)}`, startedAt),
          onSuccess: (bytes) => Effect.succeed(done(bytes, body.contentType))
        })
      )
  }
}

const redirectStatuses = new Set([301, 302, 303, 307, 308])

const isRedirect = (status: number, headers: Record<string, string>): boolean => redirectStatuses.has(status) && headers["location"] !== undefined

/** The next hop of a redirect, or the error that stops it. */
export const nextHop = (
  previous: Prepared,
  status: number,
  location: string,
  allowInsecure: boolean,
  strip: (name: string) => boolean = isSecretHeader
): Prepared | Errors.Failure => {
  let url: URL
  try {
    url = new URL(location, previous.url)
  } catch {
    return { _tag: "RedirectRejected", reason: "InvalidLocation", location: redactUrl(location) }
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    return { _tag: "RedirectRejected", reason: "InvalidLocation", location: redactUrl(url) }
  }
  if (previous.url.protocol === "https:" && url.protocol === "http:" && !allowInsecure) {
    return { _tag: "RedirectRejected", reason: "Downgrade", location: redactUrl(url) }
  }
  const headers = { ...previous.headers }
  if (url.origin !== previous.origin) {
    for (const name of Object.keys(headers)) {
      if (strip(name)) delete headers[name]
    }
  }
  // 303 always, and 301/302 after a POST, become a GET without body (RFC 9110 15.4).
  const toGet = status === 303 ? previous.method !== "HEAD" : (status === 301 || status === 302) && previous.method === "POST"
  let method = previous.method
  let body = previous.body
  if (toGet) {
    method = "GET"
    body = null
    // Every header that describes the body goes with it, as undici does.
    for (const name of Object.keys(headers)) {
      if (name.startsWith("content-")) delete headers[name]
    }
  }
  url.hash = ""
  return Attempt.PreparedRequest.fromUrl(method, url, headers, body)
}

/** 429 and 503 with `Retry-After` are reported to the origin's gate (hosts.ts decides: this request, or the whole origin). */
const pausingStatuses = new Set([429, 503])

/** Runs the request through gates, attempts, retries and redirects. */
export const execute = (
  session: SessionImpl,
  request: RequestSpec,
  options: CallOptions | undefined,
  stream = false
): Effect.Effect<FetchResponse<Uint8Array>, FetchError.FetchError> => Effect.withFiberRuntime((fiber) => start(fiber, session, request, options, stream))

/** {@link execute} on the session in the fiber's context: one Effect step fewer per request. */
export const executeCurrent = (
  request: RequestSpec,
  options: CallOptions | undefined,
  stream = false
): Effect.Effect<FetchResponse<Uint8Array>, FetchError.FetchError, PublicSession> =>
  Effect.withFiberRuntime((fiber) => start(fiber, Context.unsafeGet(fiber.currentContext, sessionTag), request, options, stream))

const start = (
  fiber: Fiber.RuntimeFiber<unknown, unknown>,
  session: SessionImpl,
  request: RequestSpec,
  options: CallOptions | undefined,
  stream: boolean
): Effect.Effect<FetchResponse<Uint8Array>, FetchError.FetchError> => {
  const startedAt = performance.now()
  let limits: Limits
  try {
    limits = resolveCall(session.config, options)
  } catch (error) {
    return Effect.die(error)
  }
  const cache = stream ? undefined : session.cache
  const fetching = new Fetching(session, cache === undefined ? limits : Cache.limits(limits), startedAt, stream)
  fetching.placeDeadline(fiber)
  const begin = (traceparent: string | undefined) => {
    const prepared = prepare(session, request, options?.headers, traceparent, startedAt)
    const fetched = cache !== undefined
      ? Cache.run(cache, prepared, startedAt, limits.acceptStatus, fetching)
      : Effect.isEffect(prepared)
      ? Effect.flatMap(prepared, (ready) => fetching.hop(ready))
      : fetching.hop(prepared)
    if (!session.config.metrics) return fetched
    return Effect.tapBoth(fetched, {
      onFailure: Metrics.recordFailure,
      onSuccess: (response) => Metrics.recordSuccess(response.url, response.status, response.timing.totalMs)
    })
  }
  if (!session.config.tracerPropagation) return begin(undefined)
  return Effect.useSpan(
    `http.client ${request.method}`,
    { kind: "client", attributes: { "http.request.method": request.method, "url.full": redactUrl(request.url) } },
    (span) => begin(`00-${span.traceId}-${span.spanId}-${span.sampled ? "01" : "00"}`)
  )
}

const noRedirects: ReadonlyArray<string> = []

/**
 * One fetch in progress: its limits, deadline, current hop, attempt number
 * and redirect chain, shared by its attempts. One object per fetch instead
 * of a closure per step.
 */
class Fetching implements Attempt.AttemptContext {
  readonly dispatcher: SessionImpl["dispatcher"]
  readonly connections: SessionImpl["connections"]
  readonly returning: SessionImpl["returning"]
  readonly watchdog: SessionImpl["watchdog"]
  readonly follow: boolean
  /** Clock ms, for waits (retry backoff, pauses, limiters); Infinity: none. */
  deadlineAt = Number.POSITIVE_INFINITY
  /** The same moment in performance.now() terms, for the request's timers. */
  deadlinePerfAt = Number.POSITIVE_INFINITY
  deadlineLimitMs = 0
  attempt = 1
  previous: ReadonlyArray<Segment> | undefined = undefined
  protected current: Prepared | undefined = undefined
  private chain: Array<string> | undefined = undefined

  constructor(
    readonly session: SessionImpl,
    readonly limits: Limits,
    readonly startedAt: number,
    readonly stream: boolean
  ) {
    this.dispatcher = session.dispatcher
    this.connections = session.connections
    this.returning = session.returning
    this.watchdog = session.watchdog
    this.follow = limits.maxRedirects > 0
  }

  /**
   * The earlier of the session's `total` and an enclosing Gather deadline.
   * The Clock (a TestClock in tests) places it for waits; the request's own
   * timers run on real time from the same remaining span.
   */
  placeDeadline(fiber: Fiber.RuntimeFiber<unknown, unknown>): void {
    const gatherDeadline = fiber.getFiberRef(currentDeadline)
    const totalMs = this.limits.timeouts.totalMs
    if (totalMs <= 0 && gatherDeadline === undefined) return
    const now = Context.get(fiber.currentDefaultServices, Clock.Clock).unsafeCurrentTimeMillis()
    const ownAt = totalMs > 0 ? now + totalMs : Number.POSITIVE_INFINITY
    const sharedAt = gatherDeadline ?? Number.POSITIVE_INFINITY
    const at = Math.min(ownAt, sharedAt)
    this.deadlineAt = at
    this.deadlinePerfAt = this.startedAt + (at - now)
    this.deadlineLimitMs = ownAt <= sharedAt ? totalMs : Math.max(0, sharedAt - now)
  }

  bodyMode(status: number, headers: Record<string, string>): Attempt.BodyMode {
    Credentials.onResponse(this.session, this.current!, headers)
    return this.follow && isRedirect(status, headers)
      ? Attempt.BodyMode.Drop
      : this.limits.acceptStatus(status)
      ? Attempt.BodyMode.Keep
      : Attempt.BodyMode.Prefix
  }

  respond(
    request: Prepared,
    status: number,
    headers: Record<string, string>,
    body: Uint8Array,
    bytes: number,
    timing: Timing,
    channel: BodyChannel | undefined
  ): FetchResponse<Uint8Array> {
    return {
      channel,
      url: request.href,
      status,
      headers,
      body,
      bytes,
      attempts: this.attempt,
      redirects: this.chain ?? noRedirects,
      timing,
      cache: "bypass"
    }
  }

  /** Attempts of one hop; the retry schedule is built only after a failure. */
  // Methods, not arrow fields: a closure per fetch for each would be paid by
  // every fetch, and only a failure or a redirect needs them as callbacks.
  hop(prepared: Prepared): Effect.Effect<FetchResponse<Uint8Array>, FetchError.FetchError> {
    this.current = prepared
    this.attempt = 1
    return Effect.catchAll(this.exchange(prepared, 1), (failure) => this.onFailure(failure))
  }

  // One attempt: wait at the gates, then exchange.
  private exchange(prepared: Prepared, attempt: number): Attempt.Outcome {
    const hosts = this.session.hosts
    if (hosts.idle()) return this.send(prepared, attempt)
    // Gated, the remaining time is measured after the wait.
    return hosts.gate(
      prepared.origin,
      Effect.suspend(() => this.send(prepared, attempt)),
      Number.isFinite(this.deadlineAt) ? this.deadlineAt : undefined,
      () => this.timedOut(prepared, attempt)
    )
  }

  private send(prepared: Prepared, attempt: number): Attempt.Outcome {
    const remainingMs = this.deadlinePerfAt - performance.now()
    if (remainingMs <= 0) return Effect.fail(this.timedOut(prepared, attempt))
    return Attempt.run(this, prepared, attempt, remainingMs)
  }

  protected timedOut(prepared: Prepared, attempt: number): FetchError.FetchError {
    return Errors.make(
      { _tag: "Timeout", phase: "deadline", limitMs: this.deadlineLimitMs },
      prepared.method,
      prepared.displayUrl,
      attempt,
      performance.now() - this.startedAt,
      Errors.timingWithout(this.startedAt, this.previous)
    )
  }

  private onFailure(
    first: FetchError.FetchError | Attempt.Redirect
  ): Effect.Effect<FetchResponse<Uint8Array>, FetchError.FetchError> {
    if (first._tag === "Redirect") return this.redirect(this.current!, first)
    return this.recover(first) ?? Effect.fail(first)
  }

  /**
   * What follows a failed attempt of the current hop: the origin's pause (a
   * 429/503 with Retry-After) and the retries, or `undefined` when nothing
   * does and `first` is the fetch's outcome. The one rule for both paths:
   * the callbacks report such a failure themselves, and send the rest to
   * the fiber.
   */
  protected recover(first: FetchError.FetchError): Effect.Effect<FetchResponse<Uint8Array>, FetchError.FetchError> | undefined {
    const prepared = this.current!
    const pauses = first._tag === "BadStatus" && pausingStatuses.has(first.status)
    if (!pauses && !Retry.isRetryable(this.limits.retry, prepared.method, first)) return undefined
    return Effect.zipRight(
      this.pauseOrigin(prepared, first),
      Effect.suspend(() => this.retry(prepared, first))
    )
  }

  private retry(
    prepared: Prepared,
    first: FetchError.FetchError
  ): Effect.Effect<FetchResponse<Uint8Array>, FetchError.FetchError> {
    const policy = this.limits.retry
    if (!Retry.isRetryable(policy, prepared.method, first)) return Effect.fail(first)
    let replayed = false
    // A Redirect answering a retry ends the retries as a success value, so
    // the schedule (the user's too) only ever sees FetchErrors; it is then
    // followed.
    const again: Effect.Effect<FetchResponse<Uint8Array> | Attempt.Redirect, FetchError.FetchError> = Effect.suspend(() => {
      if (!replayed) {
        replayed = true
        return Effect.fail(first)
      }
      this.attempt++
      return Effect.catchAll(this.exchange(prepared, this.attempt), (error) =>
        error._tag === "Redirect"
          ? Effect.succeed(error)
          : Effect.zipRight(this.pauseOrigin(prepared, error), Effect.fail(error)))
    })
    const schedule = Retry.schedule(policy, prepared.method, Number.isFinite(this.deadlineAt) ? this.deadlineAt : undefined)
    return Effect.flatMap(
      Effect.retry(again, schedule),
      (result) => result instanceof Attempt.Redirect ? this.redirect(prepared, result) : Effect.succeed(result)
    )
  }

  protected redirect(
    prepared: Prepared,
    signal: Attempt.Redirect
  ): Effect.Effect<FetchResponse<Uint8Array>, FetchError.FetchError> {
    const fail = (failure: Errors.Failure) =>
      Effect.fail(
        Errors.make(
          failure,
          prepared.method,
          prepared.displayUrl,
          this.attempt,
          performance.now() - this.startedAt,
          Errors.timingWithout(this.startedAt, this.previous)
        )
      )
    const chain = this.chain ??= []
    chain.push(prepared.href)
    if (chain.length > this.limits.maxRedirects) {
      return fail({ _tag: "TooManyRedirects", limit: this.limits.maxRedirects, chain: chain.map(redactUrl) })
    }
    const next = nextHop(
      prepared,
      signal.status,
      signal.location,
      this.limits.allowInsecureRedirects,
      this.session.config.stripOnCrossOrigin
    )
    return "_tag" in next ? fail(next) : this.hop(Credentials.onRedirect(this.session, next))
  }

  // A 429/503 with Retry-After: hosts.pause pauses the whole origin with
  // `retryAfter: "origin"`; with "request" only this request's retry waits.
  private pauseOrigin(prepared: Prepared, error: FetchError.FetchError): Effect.Effect<void> {
    if (error._tag !== "BadStatus" || !pausingStatuses.has(error.status)) return Effect.void
    const hosts = this.session.hosts
    const maxMs = this.limits.retry.maxRetryAfterMs
    return Effect.flatMap(Clock.currentTimeMillis, (now) => {
      const wait = Retry.retryAfterOf(error, now)
      if (Option.isSome(wait)) hosts.pause(prepared.origin, now + Math.min(wait.value, maxMs))
      return Effect.void
    })
  }
}

/**
 * What a fetch makes of the response: at once (bytes, text), or with an
 * effect (a schema may need services or async work).
 */
export type Finish<A, R> =
  | { readonly _tag: "Sync"; readonly f: (response: FetchResponse<Uint8Array>) => FetchResponse<A> }
  | {
    readonly _tag: "Effect"
    readonly f: (response: FetchResponse<Uint8Array>) => Effect.Effect<FetchResponse<A>, FetchError.FetchError, R>
  }

/**
 * A fetch whose first attempt runs on callbacks: its outcome goes to `sink`,
 * or, when a retry, a redirect, an origin pause or an effectful finish
 * follows, the rest runs on the fiber through the same {@link Fetching}
 * methods as always. A Gather lane is one such sink; a fiber of its own
 * (`Effect.forEach`, `yield*`) is another, through {@link ResumeSink}.
 */
class FastFetching<A, R> extends Fetching implements Attempt.AttemptDone, FastPath.Running {
  sink!: FastPath.Sink<FetchResponse<A>, FetchError.FetchError, R>
  /** Real ms left before the deadline when planned (Infinity: none). */
  remainingMs = Number.POSITIVE_INFINITY
  // A gated origin (host limits, an adaptive window, a watched Retry-After):
  // the slot the first attempt holds, the clock its outcome is stamped
  // with, and while no slot is free, the wait for one.
  private ticket: Hosts.Ticket | undefined = undefined
  /** Set by plan when the origin is gated (the fiber's clock, checked live there). */
  clock: Clock.Clock | undefined = undefined
  /** A cached session's lookup for this fetch (plan), and the fiber's clock that times it. */
  found: Cache.Lookup | undefined = undefined
  cacheClock: Clock.Clock | undefined = undefined
  private attemptRunning: FastPath.Running | undefined = undefined
  private cancelWait: (() => void) | undefined = undefined
  private waitTimer: ReturnType<typeof setTimeout> | undefined = undefined

  constructor(
    session: SessionImpl,
    limits: Limits,
    startedAt: number,
    private readonly finish: Finish<A, R>,
    readonly prepared: Prepared
  ) {
    super(session, limits, startedAt, false)
    this.current = prepared
  }

  /** Sends the first attempt (through the origin's gate when it has one); the caller holds what it returns. */
  launch(): FastPath.Running {
    const cached = this.found?.plan
    if (cached?._tag === "Hit") {
      // Answered from the cache: nothing is sent, nothing is left to abort.
      this.deliver(this.found!.hit(cached.stored, this.startedAt))
      return answered
    }
    const hosts = this.session.hosts
    return this.clock === undefined || hosts.idle()
      ? Attempt.start(this, this.prepared, 1, this.remainingMs, this)
      : this.enterGate(this.clock, hosts)
  }

  // The origin's gate on callbacks: a slot at once, or a place in its queue
  // (with a real timer for the deadline: plan sends only fibers on the
  // live clock here). Pauses and rate limits never reach this (plan).
  private enterGate(clock: Clock.Clock, hosts: Hosts.Hosts): FastPath.Running {
    const origin = this.prepared.origin
    const ticket = hosts.enter(origin, clock.unsafeCurrentTimeMillis())
    if (ticket !== undefined) {
      this.ticket = ticket
      this.attemptRunning = Attempt.start(this, this.prepared, 1, this.remainingMs, this)
      return this
    }
    this.cancelWait = hosts.wait(origin, (granted) => this.granted(granted))
    if (Number.isFinite(this.deadlinePerfAt)) {
      this.waitTimer = setTimeout(() => this.waitExpired(), Math.max(0, this.deadlinePerfAt - performance.now()))
    }
    return this
  }

  private granted(ticket: Hosts.Ticket): void {
    this.cancelWait = undefined
    if (this.waitTimer !== undefined) clearTimeout(this.waitTimer)
    this.ticket = ticket
    // The wait counts against the deadline, not against the attempt's own limits.
    const remainingMs = this.deadlinePerfAt - performance.now()
    if (remainingMs <= 0) return this.fail(this.timedOut(this.prepared, 1))
    this.attemptRunning = Attempt.start(this, this.prepared, 1, remainingMs, this)
  }

  private waitExpired(): void {
    this.waitTimer = undefined
    if (this.cancelWait === undefined) return
    this.cancelWait()
    this.cancelWait = undefined
    this.fail(this.timedOut(this.prepared, 1))
  }

  private leaveGate(signal: Adaptive.Signal, failure: unknown): void {
    const ticket = this.ticket
    if (ticket === undefined) return
    this.ticket = undefined
    this.session.hosts.leave(ticket, signal, failure, this.clock!.unsafeCurrentTimeMillis())
  }

  /** Gated only (else the attempt itself is the Running): stops the wait or the attempt, and frees the slot. */
  interrupt(): void {
    if (this.cancelWait !== undefined) {
      this.cancelWait()
      this.cancelWait = undefined
      if (this.waitTimer !== undefined) clearTimeout(this.waitTimer)
      return
    }
    const running = this.attemptRunning
    this.attemptRunning = undefined
    running?.interrupt()
    this.leaveGate("neutral", undefined)
  }

  succeed(response: FetchResponse<Uint8Array>): void {
    this.attemptRunning = undefined
    this.leaveGate("success", undefined)
    const found = this.found
    if (found === undefined) return this.deliver(response)
    this.settled(found.settle(response, this.cacheClock!.unsafeCurrentTimeMillis()))
  }

  fail(error: FetchError.FetchError | Attempt.Redirect): void {
    this.attemptRunning = undefined
    this.leaveGate(Adaptive.signalOfFailure(error), error)
    // A redirect, an origin pause or a retry continues on the fiber; a
    // failure nothing follows is the outcome, reported from here.
    if (error._tag === "Redirect") return this.continueOnFiber(this.redirect(this.current!, error))
    const rest = this.recover(error)
    if (rest !== undefined) return this.continueOnFiber(rest)
    const found = this.found
    if (found === undefined) this.sink.fail(error)
    else this.settled(found.settleFailure(error, this.cacheClock!.unsafeCurrentTimeMillis()))
  }

  private continueOnFiber(rest: Effect.Effect<FetchResponse<Uint8Array>, FetchError.FetchError>): void {
    const found = this.found
    this.sink.continueWith(finishWith(found === undefined ? rest : Cache.settling(found, rest, this.cacheClock!), this.finish))
  }

  private settled(result: Cache.Settled): void {
    if (FetchError.isFetchError(result)) this.sink.fail(result)
    else this.deliver(result)
  }

  private deliver(response: FetchResponse<Uint8Array>): void {
    const finish = this.finish
    if (finish._tag === "Sync") this.sink.succeed(finish.f(response))
    else this.sink.continueWith(finish.f(response))
  }
}

/** What a start answered at once returns: nothing is in flight to abort. */
const answered: FastPath.Running = { interrupt: () => {} }

/** A fetch on a fiber of its own reports by resuming that fiber once. */
class ResumeSink<A, R> implements FastPath.Sink<FetchResponse<A>, FetchError.FetchError, R> {
  constructor(private readonly resume: (effect: Effect.Effect<FetchResponse<A>, FetchError.FetchError, R>) => void) {}
  succeed(value: FetchResponse<A>): void {
    this.resume(Effect.succeed(value))
  }
  fail(error: FetchError.FetchError): void {
    this.resume(Effect.fail(error))
  }
  continueWith(effect: Effect.Effect<FetchResponse<A>, FetchError.FetchError, R>): void {
    this.resume(effect)
  }
}

const finishWith = <A, E, R, R2>(
  fetched: Effect.Effect<FetchResponse<Uint8Array>, E, R>,
  finish: Finish<A, R2>
): Effect.Effect<FetchResponse<A>, E | FetchError.FetchError, R | R2> =>
  finish._tag === "Sync" ? Effect.map(fetched, finish.f) : Effect.flatMap(fetched, finish.f)

const noSession = (): undefined => undefined

let theLiveClock: Clock.Clock | undefined = undefined
/** The Clock every fiber has unless a program (a TestClock) provides another. */
const liveClock = (): Clock.Clock => theLiveClock ??= Effect.runSync(Effect.clock)

/**
 * Whether a fetch takes the fast path: the one place that decides it, asked
 * by a fetch run on a fiber of its own (`commit`) and by a Gather lane that
 * starts it on callbacks (`[FastPath.TypeId]`). Returns the fetch prepared
 * and ready to launch on callbacks (its limits resolved, its request built,
 * its deadline placed, a cached session's lookup done), or `"slow"`: run it
 * on a fiber ({@link start}), which handles everything the callbacks do
 * not. Slow are a session with tracing or metrics, a body that must be
 * encoded first (a `FormData`, a `Stream`), an invalid URL or body, an
 * origin that must wait (a pause, a rate limit) or a gate timed by a clock
 * of the test's own, a request the cache may not answer, and a spent
 * deadline. What follows a first attempt on callbacks (a redirect, a pause,
 * a retry) is {@link Fetching.recover}'s to decide.
 */
export const plan = <A, R>(
  fiber: Fiber.RuntimeFiber<unknown, unknown>,
  session: SessionImpl,
  effect: FetchEffect<A, R>
): FastFetching<A, R> | "slow" => {
  const config = session.config
  if (config.tracerPropagation || config.metrics) return "slow"
  let limits: Limits
  try {
    limits = resolveCall(config, effect.options)
  } catch {
    return "slow"
  }
  const startedAt = performance.now()
  const prepared = prepare(session, effect.request, effect.options?.headers, undefined, startedAt)
  if (!(prepared instanceof Attempt.PreparedRequest)) return "slow"
  const hosts = session.hosts
  let gatedBy: Clock.Clock | undefined = undefined
  if (!hosts.idle()) {
    // A gated origin on callbacks: its slots and queue only. A pause or a
    // rate limit to wait for, or a clock of the test's own (the wait's
    // deadline would need it), takes the fiber gate.
    const clock = Context.get(fiber.currentDefaultServices, Clock.Clock)
    if (clock !== liveClock() || !hosts.open(prepared.origin, clock.unsafeCurrentTimeMillis())) return "slow"
    gatedBy = clock
  }
  let found: Cache.Lookup | undefined = undefined
  let cacheClock: Clock.Clock | undefined = undefined
  if (session.cache !== undefined) {
    // A cached session: the lookup now (the stores answer at once). A
    // request the cache may not answer (an unsafe method invalidates, a
    // conditional of the caller's own) takes the fiber path.
    cacheClock = Context.get(fiber.currentDefaultServices, Clock.Clock)
    found = Cache.lookup(session.cache, prepared, cacheClock.unsafeCurrentTimeMillis(), limits.acceptStatus)
    if (found === undefined) return "slow"
    limits = Cache.limits(limits)
  }
  const fetching = new FastFetching(session, limits, startedAt, effect.finish, found === undefined ? prepared : found.toSend())
  fetching.clock = gatedBy
  fetching.found = found
  fetching.cacheClock = cacheClock
  fetching.placeDeadline(fiber)
  fetching.remainingMs = fetching.deadlinePerfAt - performance.now()
  return fetching.remainingMs > 0 ? fetching : "slow"
}

/**
 * A fetch as an Effect that a Gather lane can also start on callbacks (see
 * fastPath.ts). Run on a fiber of its own it is one `Effect.async` around
 * the same callbacks, with no canceler: a Gather worker's interrupt slot or
 * the fiber's own (interruptSlot.ts) aborts it; whatever the callbacks
 * cannot finish resumes the fiber with the rest, so both paths share every
 * semantic.
 */
export class FetchEffect<A, R> extends Effectable.Class<FetchResponse<A>, FetchError.FetchError, PublicSession | R>
  implements FastPath.FastPath<FetchResponse<A>, FetchError.FetchError, R>
{
  constructor(
    readonly request: RequestSpec,
    readonly options: CallOptions | undefined,
    readonly finish: Finish<A, R>
  ) {
    super()
  }

  commit(): Effect.Effect<FetchResponse<A>, FetchError.FetchError, PublicSession | R> {
    return Effect.withFiberRuntime((fiber) => {
      const session = Context.unsafeGet(fiber.currentContext, sessionTag)
      const fetching = plan(fiber, session, this)
      if (fetching === "slow") return finishWith(start(fiber, session, this.request, this.options, false), this.finish)
      return Effect.async<FetchResponse<A>, FetchError.FetchError, R>((resume) => {
        fetching.sink = new ResumeSink(resume)
        // Held by the fiber (a Gather worker's slot, or its own until it
        // moves on): a canceler would wrap every fetch in onInterrupt.
        hold(fiber, fetching.launch())
      })
    })
  }

  [FastPath.TypeId](
    fiber: Fiber.RuntimeFiber<unknown, unknown>,
    sink: FastPath.Sink<FetchResponse<A>, FetchError.FetchError, R>
  ): FastPath.Running | undefined {
    const session = Context.getOrElse(fiber.currentContext, sessionTag, noSession)
    if (session === undefined) return undefined
    const fetching = plan(fiber, session, this)
    if (fetching === "slow") return undefined
    fetching.sink = sink
    const running = fetching.launch()
    // A lane on a Gather worker's fiber: its slot holds the fetch. Lanes on
    // the driver's fiber share it, so no slot there: the lane holds it.
    const slot = ownedSlot(fiber)
    if (slot !== undefined) slot.current = running
    return running
  }
}

/**
 * `effect`'s fetch through the Effect engine alone (gates, attempts as
 * `Effect.async`, retries, redirects), never on callbacks: what the tests
 * hold both callback paths against.
 */
export const runOnEngine = <A, R>(effect: FetchEffect<A, R>): Effect.Effect<FetchResponse<A>, FetchError.FetchError, PublicSession | R> =>
  finishWith(executeCurrent(effect.request, effect.options), effect.finish)

/** The body as it came. */
export const asBytes: Finish<Uint8Array, never> = { _tag: "Sync", f: (response) => response }

/** The body decoded as text. */
export const asText: Finish<string, never> = { _tag: "Sync", f: (response) => toText(response) }

/** The body parsed as JSON and decoded with `schema`. */
export const asJson = <A, I, R>(schema: Schema.Schema<A, I, R>, method: string): Finish<A, R> => ({
  _tag: "Effect",
  f: toJson(schema, method)
})

/** Decodes a response body as text. */
export const toText = (response: FetchResponse<Uint8Array>): FetchResponse<string> => ({
  ...response,
  body: decodeText(response.body, response.headers["content-type"])
})

const decodeFailure = (
  response: FetchResponse<Uint8Array>,
  method: string,
  failure: Errors.Failure
): FetchError.FetchError => Errors.make(failure, method, redactUrl(response.url), response.attempts, response.timing.totalMs, response.timing)

/** Parses the body as JSON and decodes it with the schema. */
export const toJson = <A, I, R>(
  schema: Schema.Schema<A, I, R>,
  method: string
) =>
(response: FetchResponse<Uint8Array>): Effect.Effect<FetchResponse<A>, FetchError.FetchError, R> => {
  let json: unknown
  try {
    json = JSON.parse(decodeText(response.body, response.headers["content-type"]))
  } catch (error) {
    return Effect.fail(decodeFailure(response, method, { _tag: "DecodeError", reason: "Json", path: [], detail: (error as Error).message }))
  }
  return Effect.mapBoth(ParseResult.decodeUnknown(schema)(json), {
    // ParseResult, not Schema: the same decoding without loading Schema's
    // module graph (fast-check among it) for a program that never decodes.
    onFailure: (parseIssue) => {
      const issue = ParseResult.ArrayFormatter.formatIssueSync(parseIssue)[0]
      return decodeFailure(response, method, {
        _tag: "DecodeError",
        reason: "Schema",
        path: issue?.path ?? [],
        detail: issue?.message ?? ParseResult.TreeFormatter.formatIssueSync(parseIssue)
      })
    },
    onSuccess: (body) => ({ ...response, body })
  })
}
