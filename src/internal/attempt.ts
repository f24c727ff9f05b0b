/**
 * One HTTP exchange on the session's undici pool, as an Effect.
 *
 * This is the hot path. It talks to `Dispatcher.dispatch` with undici's
 * native (v1) handler callbacks instead of `request()`: no body stream, no
 * AbortController, no promise per request. Interruption calls the abort
 * function undici hands to `onConnect`, which destroys the socket, so the
 * server sees the disconnect. Time limits are checked by the session's
 * watchdog (no timer per request); the attempt's limits start once it has a
 * connection, so waiting for a pool slot only counts against the deadline.
 */
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import type * as Fiber from "effect/Fiber"
import type { Dispatcher } from "undici"
import * as zlib from "node:zlib"
import type { FetchResponse as PublicFetchResponse, Segment, Timing } from "../Fetch.js"
import type * as FetchError from "../FetchError.js"
import type { Limits } from "./options.js"
import { BodyChannel } from "./bodyStream.js"
import { opened } from "./connections.js"
import * as Errors from "./errors.js"
import type { Watched, Watchdog } from "./watchdog.js"
import { isSecretHeader, redactUrl } from "./redact.js"
import { decodeText } from "./text.js"

/**
 * A redirect the fetch will follow. It travels on the failure channel (it is
 * not a FetchError and never leaves the engine), so a plain success needs no
 * Effect step to be told apart from it.
 */
export class Redirect {
  readonly _tag = "Redirect"
  constructor(readonly status: number, readonly location: string) {}
}

export class PreparedRequest {
  private display: string | undefined = undefined
  constructor(
    readonly method: string,
    readonly url: URL,
    readonly headers: Record<string, string>,
    readonly body: string | Uint8Array | null
  ) {}

  /** The URL for messages, credentials redacted; computed only when needed. */
  get displayUrl(): string {
    return this.display ??= redactUrl(this.url)
  }
}

/** What this attempt does with the body once the status is known. */
export const enum BodyMode {
  /** Keep all of it (accepted status). */
  Keep,
  /** Keep a 1 KiB prefix (rejected status, becomes BadStatus). */
  Prefix,
  /** Drop it (a redirect that will be followed). */
  Drop
}

const ERROR_PREFIX_BYTES = 1024

/** Unread bytes of a streamed body before the socket is paused. */
const STREAM_HIGH_WATER = 1024 * 1024

/**
 * What an attempt needs from the fetch it belongs to (one object per fetch,
 * shared by its attempts and hops).
 */
export interface AttemptContext {
  readonly dispatcher: Dispatcher
  /** Checks the attempt's time limits (see watchdog.ts). */
  readonly watchdog: Watchdog
  readonly limits: Limits
  /** performance.now() when the whole fetch started. */
  readonly startedAt: number
  /** The overall deadline's limit, for the error. */
  readonly deadlineLimitMs: number
  /** The fetch's attempts so far that another followed (retries, redirect hops). */
  previous: ReadonlyArray<Segment> | undefined
  /**
   * Resolve at the headers and hand the body over as it arrives (an accepted
   * status only; error and redirect bodies are still read here). The attempt
   * and deadline timers stop at the headers; `bodyIdle` guards the rest.
   */
  readonly stream: boolean
  /** Decides the body mode from the status and headers. */
  bodyMode(status: number, headers: Record<string, string>): BodyMode
  /** Builds the fetch's response from an accepted one. */
  respond(
    request: PreparedRequest,
    status: number,
    headers: Record<string, string>,
    body: Uint8Array,
    bytes: number,
    timing: Timing,
    channel: BodyChannel | undefined
  ): FetchResponse<Uint8Array>
}

/** The public response, plus the body channel in stream mode. */
export type FetchResponse<A> = PublicFetchResponse<A> & {
  /** Stream mode only: the body still arriving. */
  readonly channel?: BodyChannel | undefined
}

export type Outcome = Effect.Effect<FetchResponse<Uint8Array>, FetchError.FetchError | Redirect>

const parseRawHeaders = (raw: ReadonlyArray<Buffer | string>): Record<string, string> => {
  const headers: Record<string, string> = {}
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toString("latin1").toLowerCase()
    const value = raw[i + 1]!.toString("latin1")
    const previous = headers[name]
    headers[name] = previous === undefined ? value : name === "set-cookie" ? `${previous}\n${value}` : `${previous}, ${value}`
  }
  return headers
}

type Decoder = (input: Buffer, options: zlib.ZlibOptions | zlib.BrotliOptions, callback: (error: Error | null, result: Buffer) => void) => void

const decoders: Record<string, Decoder> = {
  gzip: zlib.gunzip,
  "x-gzip": zlib.gunzip,
  deflate: zlib.inflate,
  br: zlib.brotliDecompress
}

/**
 * Time limits are checked lazily by the session's watchdog: `due` is the
 * earliest moment a limit can expire (the deadline while queued; then the
 * attempt's end, or the last activity plus the headers/body-idle limit).
 * When it passes, `onDue` checks what really expired and moves `due` on if
 * nothing did. Body chunks only record the time. undici's own phase timers
 * tick at ~0.5 s and cannot enforce short limits, so they are off.
 */
type TimeoutPhase = "attempt" | "deadline" | "headers" | "body"

const badStatus = (status: number, headers: Record<string, string>, prefix: Uint8Array): Errors.Failure => {
  const shown: Record<string, string> = {}
  for (const name of Object.keys(headers)) shown[name] = isSecretHeader(name) ? "***" : headers[name]!
  return { _tag: "BadStatus", status, headers: shown, body: decodeText(prefix, headers["content-type"]) }
}

class AttemptHandler implements Watched {
  private abortConnection: ((error?: Error) => void) | undefined = undefined
  private finished = false
  private watched = false
  due = Number.POSITIVE_INFINITY
  private attemptEnd = Number.POSITIVE_INFINITY
  private attemptPhase: TimeoutPhase = "attempt"
  private attemptLimitMs = 0
  private idleLimitMs = 0
  private idlePhase: TimeoutPhase = "headers"
  private lastActivity = 0
  private paused = false
  private queueDeadline = Number.POSITIVE_INFINITY
  private status = 0
  private headers: Record<string, string> | undefined = undefined
  private headersAt = 0
  private mode = BodyMode.Keep
  private encoding: string | undefined = undefined
  private chunks: Array<Buffer> = []
  private kept = 0
  private received = 0
  private channel: BodyChannel | undefined = undefined
  private decoder: zlib.Gunzip | zlib.Inflate | zlib.BrotliDecompress | undefined = undefined
  private resumeUndici: (() => void) | undefined = undefined

  readonly dispatchedAt = performance.now()
  // Phase moments (performance.now(), -1: did not happen), see Fetch.Phases.
  private connectAt = -1
  private tlsAt = -1
  private sentAt = -1

  constructor(
    private readonly context: AttemptContext,
    private readonly request: PreparedRequest,
    private readonly attempt: number,
    /** Real ms left before the overall deadline (Infinity: none). */
    private readonly remainingMs: number,
    private readonly resume: (effect: Outcome) => void
  ) {}

  private error(failure: Errors.Failure): FetchError.FetchError {
    const { request, attempt } = this
    const now = performance.now()
    const timing = this.timing(now)
    this.record(timing, failure._tag)
    return Errors.make(failure, request.method, request.displayUrl, attempt, now - this.context.startedAt, timing)
  }

  /** This attempt's moments, relative to the start of the fetch. */
  private timing(now: number): Timing {
    const start = this.context.startedAt
    return {
      startedAt: performance.timeOrigin + start,
      dispatchMs: this.dispatchedAt - start,
      connectMs: this.connectAt < 0 ? -1 : this.connectAt - start,
      tlsMs: this.tlsAt < 0 ? -1 : this.tlsAt - start,
      sentMs: this.sentAt < 0 ? -1 : this.sentAt - start,
      headersMs: this.headers === undefined ? -1 : this.headersAt,
      endMs: now - start,
      totalMs: now - start,
      previous: this.context.previous ?? Errors.noSegments
    }
  }

  /** Appends this attempt to the fetch's segments (a new array: timings already out keep theirs). */
  private record(timing: Timing, outcome: string): void {
    const { startedAt: _s, totalMs: _t, previous, ...phases } = timing
    this.context.previous = [...previous, { ...phases, status: this.status, outcome }]
  }

  private fail(failure: Errors.Failure, abort: boolean): void {
    if (this.finished) return
    this.finished = true
    this.clearTimers()
    this.chunks = []
    if (abort && this.abortConnection !== undefined) this.abortConnection(new Errors.AbortedByClient())
    this.resume(Effect.fail(this.error(failure)))
  }

  /** Called by the fiber's canceler: destroy the socket, answer nothing. */
  interrupt(): void {
    if (this.finished) return
    this.finished = true
    this.clearTimers()
    this.chunks = []
    this.abortConnection?.(new Errors.AbortedByClient())
  }

  private clearTimers(): void {
    if (this.watched) {
      this.watched = false
      this.context.watchdog.unwatch(this)
    }
    this.due = Number.POSITIVE_INFINITY
  }

  /** At dispatch: the deadline also covers the wait for a pooled connection. */
  watchQueue(): void {
    if (this.remainingMs === Number.POSITIVE_INFINITY) return
    this.queueDeadline = this.dispatchedAt + this.remainingMs
    this.due = this.queueDeadline
    this.watched = true
    this.context.watchdog.watch(this)
  }

  private reschedule(): void {
    const idleDue = this.idleLimitMs > 0 ? this.lastActivity + this.idleLimitMs : Number.POSITIVE_INFINITY
    this.due = Math.min(this.attemptEnd, idleDue)
    if (this.due === Number.POSITIVE_INFINITY) return
    if (!this.watched) {
      this.watched = true
      this.context.watchdog.watch(this)
    }
  }

  onDue(now: number): void {
    if (this.abortConnection === undefined && now >= this.queueDeadline) {
      this.queueDeadline = Number.POSITIVE_INFINITY
      return this.fail({ _tag: "Timeout", phase: "deadline", limitMs: this.context.deadlineLimitMs }, true)
    }
    if (now >= this.attemptEnd) return this.timeout(this.attemptPhase, this.attemptLimitMs)
    if (this.idleLimitMs > 0 && now >= this.lastActivity + this.idleLimitMs) {
      // A consumer that holds the stream back is not the server being idle.
      if (this.paused) this.lastActivity = now
      else return this.timeout(this.idlePhase, this.idleLimitMs)
    }
    this.reschedule()
  }

  private timeout(phase: TimeoutPhase, limitMs: number): void {
    const failure: Errors.Failure = { _tag: "Timeout", phase, limitMs }
    if (this.channel !== undefined) this.failStream(failure)
    else this.fail(failure, true)
  }

  // undici calls this when the request is written to a connected socket
  // (possibly again, for a pipelined retry), never while it waits in the pool.
  onConnect(abort: (error?: Error) => void): void {
    if (this.finished) {
      abort(new Errors.AbortedByClient())
      return
    }
    this.abortConnection = abort
    this.queueDeadline = Number.POSITIVE_INFINITY
    if (this.lastActivity !== 0) return // a pipelined retry of the same attempt: limits already run
    const now = performance.now()
    this.sentAt = now
    const fresh = opened()
    if (fresh !== undefined) {
      this.connectAt = fresh.connectAt
      this.tlsAt = fresh.tlsAt
    }
    const { timeouts } = this.context.limits
    const remaining = this.remainingMs - (now - this.dispatchedAt)
    if (remaining <= 0) {
      this.fail({ _tag: "Timeout", phase: "deadline", limitMs: this.context.deadlineLimitMs }, true)
      return
    }
    if (timeouts.attemptMs > 0 && timeouts.attemptMs <= remaining) {
      this.attemptEnd = now + timeouts.attemptMs
      this.attemptPhase = "attempt"
      this.attemptLimitMs = timeouts.attemptMs
    } else if (remaining !== Number.POSITIVE_INFINITY) {
      this.attemptEnd = now + remaining
      this.attemptPhase = "deadline"
      this.attemptLimitMs = this.context.deadlineLimitMs
    }
    this.idlePhase = "headers"
    this.idleLimitMs = timeouts.headersMs
    this.lastActivity = now
    this.reschedule()
  }

  onHeaders(statusCode: number, rawHeaders: Array<Buffer>, resume: () => void, _statusText: string): boolean {
    if (statusCode < 200) return true // 1xx: informational, the real status follows
    if (this.finished) return false
    const headers = parseRawHeaders(rawHeaders)
    const now = performance.now()
    this.status = statusCode
    this.headers = headers
    this.headersAt = now - this.context.startedAt
    this.idlePhase = "body"
    this.idleLimitMs = this.context.limits.timeouts.bodyIdleMs
    this.lastActivity = now
    this.mode = this.context.bodyMode(statusCode, headers)
    const encoding = headers["content-encoding"]?.trim().toLowerCase()
    if (encoding !== undefined && encoding !== "" && encoding !== "identity") {
      if (decoders[encoding] === undefined && this.mode === BodyMode.Keep) {
        this.fail({ _tag: "DecodeError", reason: "Encoding", path: [], detail: `unsupported content-encoding ${encoding}` }, true)
        return false
      }
      this.encoding = encoding
    }
    const limit = this.context.limits.maxBodyBytes
    const length = headers["content-length"]
    if (length !== undefined && this.mode === BodyMode.Keep && this.encoding === undefined) {
      const announced = Number(length)
      if (announced > limit) {
        this.fail({ _tag: "BodyTooLarge", limitBytes: limit, receivedBytes: announced }, true)
        return false
      }
    }
    if (this.context.stream && this.mode === BodyMode.Keep) this.startStreaming(resume)
    this.reschedule()
    return true
  }

  private startStreaming(resume: () => void): void {
    this.resumeFromConsumer = this.resumeFromConsumer.bind(this)
    // The attempt and the deadline end at the headers; body idle goes on.
    this.attemptEnd = Number.POSITIVE_INFINITY
    this.finished = true
    this.resumeUndici = resume
    const channel = new BodyChannel(STREAM_HIGH_WATER, () => this.abortConnection?.(new Errors.AbortedByClient()))
    this.channel = channel
    if (this.encoding !== undefined) {
      const decoder = this.encoding === "br"
        ? zlib.createBrotliDecompress()
        : this.encoding === "deflate"
        ? zlib.createInflate()
        : zlib.createGunzip()
      decoder.on("data", (chunk: Buffer) => this.deliver(chunk))
      decoder.on("end", () => channel.end())
      decoder.on("error", (error) =>
        this.failStream({ _tag: "DecodeError", reason: "Encoding", path: [], detail: `${this.encoding}: ${error.message}` }))
      this.decoder = decoder
    }
    this.resume(Effect.succeed(
      this.context.respond(this.request, this.status, this.headers!, new Uint8Array(0), 0, this.timing(performance.now()), channel)
    ))
  }

  // Bound once, in stream mode only: no closure per buffered request.
  private resumeFromConsumer(): void {
    this.paused = false
    this.lastActivity = performance.now()
    this.decoder?.resume()
    this.resumeUndici?.()
  }

  // Decoded bytes: the cap applies here, after content decoding.
  private deliver(chunk: Buffer): boolean {
    const channel = this.channel!
    this.kept += chunk.length
    const limit = this.context.limits.maxBodyBytes
    if (this.kept > limit) {
      this.failStream({ _tag: "BodyTooLarge", limitBytes: limit, receivedBytes: this.kept })
      return false
    }
    const more = channel.push(chunk, this.resumeFromConsumer)
    if (!more) {
      this.paused = true
      this.decoder?.pause()
    }
    return more
  }

  private failStream(failure: Errors.Failure): void {
    const channel = this.channel!
    if (channel.done) return
    channel.fail(this.error(failure))
    this.clearTimers()
    this.abortConnection?.(new Errors.AbortedByClient())
    this.decoder?.destroy()
  }

  private streamData(chunk: Buffer): boolean {
    if (this.channel!.done) return false
    this.lastActivity = performance.now()
    if (this.decoder === undefined) return this.deliver(chunk)
    this.decoder.write(chunk)
    // The decoder buffers its own output; pause the socket while it is full.
    return this.decoder.writableLength < STREAM_HIGH_WATER
  }

  onData(chunk: Buffer): boolean {
    if (this.channel !== undefined) return this.streamData(chunk)
    if (this.finished) return false
    this.lastActivity = performance.now()
    this.received += chunk.length
    // An encoded body is capped after decoding (zlib's maxOutputLength); the
    // wire bytes only get a loose ceiling, as incompressible data grows a bit.
    const limit = this.encoding === undefined || this.mode !== BodyMode.Keep
      ? this.context.limits.maxBodyBytes
      : this.context.limits.maxBodyBytes * 1.01 + 1024
    if (this.received > limit) {
      if (this.mode === BodyMode.Keep) {
        this.fail({ _tag: "BodyTooLarge", limitBytes: this.context.limits.maxBodyBytes, receivedBytes: this.received }, true)
        return false
      }
      // A rejected status or a redirect with a huge body: keep what we have.
      this.finishResponse(true)
      return false
    }
    // An encoded prefix does not decode, so a rejected encoded body is kept
    // whole (still under the cap) and cut after decoding.
    if (
      this.mode === BodyMode.Keep ||
      (this.mode === BodyMode.Prefix && (this.encoding !== undefined || this.kept < ERROR_PREFIX_BYTES))
    ) {
      this.chunks.push(chunk)
      this.kept += chunk.length
    }
    return true
  }

  onComplete(_trailers: Array<string> | null): void {
    if (this.channel !== undefined) {
      this.clearTimers()
      if (this.decoder !== undefined) this.decoder.end()
      else this.channel.end()
      return
    }
    if (this.finished) return
    this.finishResponse(false)
  }

  onError(error: Error): void {
    if (this.channel !== undefined) {
      if (!(error instanceof Errors.AbortedByClient)) {
        this.failStream(Errors.fromUndici(error, true, this.context.limits.timeouts))
      }
      return
    }
    if (this.finished) return
    this.fail(Errors.fromUndici(error, this.headers !== undefined, this.context.limits.timeouts), false)
  }

  private finishResponse(abort: boolean): void {
    this.clearTimers()
    if (abort) {
      this.finished = true
      this.abortConnection?.(new Errors.AbortedByClient())
      this.finished = false
    }
    const raw = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.kept)
    this.chunks = []
    const decode = this.encoding === undefined ? undefined : decoders[this.encoding]
    if (decode === undefined) {
      this.succeed(raw, this.received)
      return
    }
    const limit = this.mode === BodyMode.Keep ? this.context.limits.maxBodyBytes : ERROR_PREFIX_BYTES
    // zlib stops at maxOutputLength, so a small gzip body can never expand
    // past the cap in memory; it runs on the thread pool, off the event loop.
    decode(raw, { maxOutputLength: Number.isFinite(limit) ? limit + 1 : undefined }, (error, decoded) => {
      if (this.finished) return
      if (error !== null) {
        const tooLarge = (error as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE" || error instanceof RangeError
        if (this.mode !== BodyMode.Keep) this.succeed(Buffer.alloc(0), 0)
        else if (tooLarge) this.fail({ _tag: "BodyTooLarge", limitBytes: limit, receivedBytes: limit + 1 }, false)
        else this.fail({ _tag: "DecodeError", reason: "Encoding", path: [], detail: `${this.encoding}: ${error.message}` }, false)
        return
      }
      if (this.mode === BodyMode.Keep && decoded.length > limit) {
        this.fail({ _tag: "BodyTooLarge", limitBytes: limit, receivedBytes: decoded.length }, false)
        return
      }
      this.succeed(decoded, decoded.length)
    })
  }

  private succeed(body: Buffer, bytes: number): void {
    this.finished = true
    if (this.mode === BodyMode.Prefix) {
      const failure = badStatus(this.status, this.headers!, body.subarray(0, ERROR_PREFIX_BYTES))
      this.resume(Effect.fail(this.error(failure)))
      return
    }
    if (this.mode === BodyMode.Drop) {
      this.record(this.timing(performance.now()), "Redirect")
      this.resume(Effect.fail(new Redirect(this.status, this.headers!["location"]!)))
      return
    }
    const response = Effect.succeed(
      this.context.respond(this.request, this.status, this.headers!, body, bytes, this.timing(performance.now()), undefined)
    )
    // undici reuses this socket only one event-loop turn later (it waits for
    // servers that close despite keep-alive), so a fiber's next request may
    // take another pooled connection: up to ~2x concurrency sockets, capped by
    // maxConnectionsPerHost.
    this.resume(response)
  }
}

/**
 * Where a Gather worker keeps the attempt it is running, so that one
 * interruption hook per worker can abort it. `Effect.async` with a canceler
 * wraps every request in `onInterrupt` (about 3 KB of allocations and a
 * handful of Effect steps); inside a worker that hook is paid once per
 * worker instead. `owner` is the worker's fiber: a fiber forked inside the
 * work (a timeout, a race) inherits the slot but is not its owner, and takes
 * the path with a canceler.
 */
export class InterruptSlot {
  current: AttemptHandler | undefined = undefined
  constructor(readonly owner: Fiber.RuntimeFiber<unknown, unknown>) {}
}

export const currentInterruptSlot = FiberRef.unsafeMake<InterruptSlot | undefined>(undefined)

const dispatch = (context: AttemptContext, request: PreparedRequest, handler: AttemptHandler): void => {
  handler.watchQueue()
  context.dispatcher.dispatch({
    origin: request.url.origin,
    path: request.url.pathname + request.url.search,
    method: request.method as Dispatcher.HttpMethod,
    headers: request.headers,
    body: request.body,
    // Our own watchdog enforces these (see AttemptHandler).
    headersTimeout: 0,
    bodyTimeout: 0
  }, handler)
}

/**
 * Runs one attempt; interrupting the Effect aborts the request. Succeeds with
 * the fetch's response, fails with a FetchError (BadStatus for a status the
 * request does not accept) or with a Redirect to follow.
 */
export const run = (
  context: AttemptContext,
  request: PreparedRequest,
  attempt: number,
  remainingMs: number
): Outcome =>
  Effect.withFiberRuntime((fiber) => {
    const slot = fiber.getFiberRef(currentInterruptSlot)
    if (slot !== undefined && slot.owner === fiber) {
      return Effect.async((resume) => {
        const handler = new AttemptHandler(context, request, attempt, remainingMs, resume)
        slot.current = handler
        dispatch(context, request, handler)
      })
    }
    return Effect.async((resume) => {
      const handler = new AttemptHandler(context, request, attempt, remainingMs, resume)
      dispatch(context, request, handler)
      return Effect.sync(() => handler.interrupt())
    })
  })

/**
 * Runs `worker` with an interrupt slot: its fetches skip the per-request
 * canceler, and interrupting the worker aborts the one in flight.
 */
export const withInterruptSlot = <A, E, R>(worker: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.withFiberRuntime((fiber) => {
    const slot = new InterruptSlot(fiber)
    return Effect.onInterrupt(
      Effect.locally(worker, currentInterruptSlot, slot),
      () => Effect.sync(() => slot.current?.interrupt())
    )
  })
