/**
 * One attempt as an undici dispatch handler (v1 callbacks): the limits from
 * the socket on, the body sink chosen at the headers, one report to `done`.
 */
import type { Timing } from "../../Fetch.js"
import type * as FetchError from "../../FetchError.js"
import type { AttemptContext, AttemptDone } from "./attemptContext.js"
import { Redirect } from "./attemptContext.js"
import * as BodySink from "./bodySink.js"
import { opened } from "./connections.js"
import { Deadlines } from "./deadlines.js"
import type { Phase } from "./deadlines.js"
import { encodingOf } from "./decoders.js"
import * as Errors from "./errors.js"
import { headerName, headerValue } from "./headerText.js"
import type { PreparedRequest } from "./preparedRequest.js"
import { isSecretHeader } from "./redact.js"
import { decodeText } from "./text.js"
import { UploadProgress } from "./upload.js"

/**
 * What this attempt does with the body once the status is known. Declared
 * beside the handler that branches on it in every response: esbuild (tsx,
 * the tests) inlines a const enum's values only within its own file.
 */
export const enum BodyMode {
  /** Keep all of it (accepted status). */
  Keep,
  /** Keep a 1 KiB prefix (rejected status, becomes BadStatus). */
  Prefix,
  /** Drop it (a redirect that will be followed). */
  Drop
}

const parseRawHeaders = (raw: ReadonlyArray<Buffer | string>): Record<string, string> => {
  const headers: Record<string, string> = {}
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = headerName(raw[i]!)
    const value = headerValue(raw[i + 1]!)
    const previous = headers[name]
    headers[name] = previous === undefined ? value : name === "set-cookie" ? `${previous}\n${value}` : `${previous}, ${value}`
  }
  return headers
}

const badStatus = (status: number, headers: Record<string, string>, prefix: Uint8Array): Errors.Failure => {
  const shown: Record<string, string> = {}
  for (const name of Object.keys(headers)) shown[name] = isSecretHeader(name) ? "***" : headers[name]!
  return { _tag: "BadStatus", status, headers: shown, body: decodeText(prefix, headers["content-type"]) }
}

/**
 * One attempt as an undici dispatch handler: it starts the limits when the
 * request is on a socket, picks the body sink at the headers and reports
 * once to `done`. The parts live apart: limits in `Deadlines`, what happens
 * to the body in `bodySink.ts`, content decoding in `decoders.ts`.
 */
export class AttemptHandler implements BodySink.BufferedHost, BodySink.PrefixHost, BodySink.StreamHost {
  private abortConnection: ((error?: Error) => void) | undefined = undefined
  /** Reported (or interrupted): nothing more goes to `done`. */
  private finished = false
  private readonly deadlines: Deadlines
  private status = 0
  private headers: Record<string, string> | undefined = undefined
  private headersAt = 0
  private sink: BodySink.BodySink | undefined = undefined
  private streamed: BodySink.Streamed | undefined = undefined
  private mode = BodyMode.Keep
  /** We cut the socket on purpose: its error is not the outcome. */
  private wasCut = false
  /** The body's announced wire bytes (see `BodySink.announcedLength`), -1: unknown. */
  private expectedBytes = -1
  /** The body's bytes as they came off the wire, before decoding. */
  private wireBytes = 0
  private upload: UploadProgress | undefined = undefined
  readonly dispatchedAt = performance.now()
  // Phase moments (performance.now(), -1: did not happen), see Fetch.Timing.
  private connectAt = -1
  private tlsAt = -1
  private sentAt = -1

  get isFinished(): boolean {
    return this.finished
  }

  constructor(
    private readonly context: AttemptContext,
    private readonly request: PreparedRequest,
    private readonly attempt: number,
    /** Real ms left before the overall deadline (Infinity: none). */
    private readonly remainingMs: number,
    private readonly done: AttemptDone
  ) {
    this.deadlines = new Deadlines(context.watchdog, this, context.deadlineLimitMs)
  }

  error(failure: Errors.Failure): FetchError.FetchError {
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
    this.sink = undefined
    this.deadlines.stop()
    if (abort) this.abort()
    this.done.fail(this.error(failure))
  }

  /** Called when the work is interrupted: destroy the socket, answer nothing. */
  interrupt(): void {
    if (this.finished) return
    this.finished = true
    this.sink = undefined
    this.deadlines.stop()
    this.abort()
  }

  abort(): void {
    this.abortConnection?.(new Errors.AbortedByClient())
  }

  /** At dispatch: the overall deadline also covers the wait for a pooled connection. */
  queued(dispatchedAt: number): void {
    this.deadlines.queued(dispatchedAt, this.remainingMs)
  }

  expire(phase: Phase, limitMs: number): void {
    const failure: Errors.Failure = { _tag: "Timeout", phase, limitMs }
    if (this.streamed !== undefined) this.streamed.fail(failure)
    else this.fail(failure, true)
  }

  // StreamHost
  activity(): void {
    this.deadlines.activity(performance.now())
  }
  paused(paused: boolean): void {
    this.deadlines.paused = paused
  }
  stop(): void {
    this.deadlines.stop()
  }

  // undici calls this when the request is written to a connected socket
  // (possibly again, for a pipelined retry), never while it waits in the pool.
  onConnect(abort: (error?: Error) => void): void {
    if (this.finished) {
      abort(new Errors.AbortedByClient())
      return
    }
    this.abortConnection = abort
    if (this.deadlines.started) return // a pipelined retry of the same attempt: limits already run
    const now = performance.now()
    this.sentAt = now
    const fresh = opened()
    if (fresh !== undefined) {
      this.connectAt = fresh.connectAt
      this.tlsAt = fresh.tlsAt
    }
    const remaining = this.remainingMs - (now - this.dispatchedAt)
    if (!this.deadlines.connect(now, this.context.limits.timeouts, remaining, this.request.body !== null)) {
      this.fail({ _tag: "Timeout", phase: "deadline", limitMs: this.context.deadlineLimitMs }, true)
    }
  }

  // undici 7 passes the chunk (its types still say a size).
  onBodySent(chunk: unknown): void {
    if (!this.deadlines.sending) return
    const now = performance.now()
    this.deadlines.activity(now)
    this.upload ??= new UploadProgress(now)
    this.upload.chunk(chunk instanceof Uint8Array ? chunk.length : typeof chunk === "number" ? chunk : 0, now)
  }

  onRequestSent(): void {
    if (!this.deadlines.sending) return
    // The headers limit starts once the bytes still in the kernel's buffers
    // can have reached the server (see upload.ts).
    const now = performance.now()
    this.sentAt = now
    this.deadlines.sent(now, this.upload?.drainMs(now) ?? 0)
  }

  onHeaders(statusCode: number, rawHeaders: Array<Buffer>, resume: () => void, _statusText: string): boolean {
    if (statusCode < 200) return true // 1xx: informational, the real status follows
    if (this.finished) return false
    const headers = parseRawHeaders(rawHeaders)
    const now = performance.now()
    this.status = statusCode
    this.headers = headers
    this.headersAt = now - this.context.startedAt
    this.deadlines.headers(now, this.context.limits.timeouts.bodyIdleMs)
    const mode = this.mode = this.context.bodyMode(statusCode, headers)
    this.expectedBytes = BodySink.announcedLength(this.request.method, statusCode, headers)
    const encoding = encodingOf(headers["content-encoding"])
    const limit = this.context.limits.maxBodyBytes
    if (mode !== BodyMode.Keep) {
      this.sink = new BodySink.Prefix(this, limit, encoding._tag === "Known" ? encoding.decoder : undefined, mode === BodyMode.Prefix)
      return true
    }
    if (encoding._tag === "Unknown") {
      this.fail({ _tag: "DecodeError", reason: "Encoding", path: [], detail: `unsupported content-encoding ${encoding.name}` }, true)
      return false
    }
    const decoder = encoding._tag === "Known" ? encoding.decoder : undefined
    const length = headers["content-length"]
    if (length !== undefined && decoder === undefined && Number(length) > limit) {
      this.fail({ _tag: "BodyTooLarge", limitBytes: limit, receivedBytes: Number(length) }, true)
      return false
    }
    if (!this.context.stream) {
      this.sink = new BodySink.Buffered(this, limit, decoder)
      return true
    }
    // Streamed: the response goes out now; the attempt and the deadline end
    // here, body idle goes on.
    this.finished = true
    this.deadlines.streaming(this.dispatchedAt + this.remainingMs)
    const streamed = new BodySink.Streamed(this, limit, decoder, resume)
    this.sink = this.streamed = streamed
    this.done.succeed(
      this.context.respond(this.request, statusCode, headers, new Uint8Array(0), 0, this.timing(performance.now()), streamed.channel)
    )
    return true
  }

  onData(chunk: Buffer): boolean {
    if (this.sink === undefined) return false
    this.wireBytes += chunk.length
    return this.sink.data(chunk)
  }

  onComplete(_trailers: Array<string> | null): void {
    this.context.returning.returning(this.request.origin)
    const sink = this.sink
    if (sink === undefined) return
    if (this.streamed === undefined) this.deadlines.stop()
    // undici checks the length over HTTP/1.1, not over HTTP/2, where a
    // RST_STREAM(NO_ERROR or CANCEL) after the headers ends the stream as if
    // it were whole: a short body must never be reported as one.
    const expected = this.expectedBytes
    if (expected >= 0 && this.wireBytes !== expected) {
      const failure = BodySink.truncated(BodySink.LENGTH_MISMATCH)
      if (this.streamed !== undefined) this.streamed.fail(failure)
      else this.fail(failure, false)
      return
    }
    sink.complete()
  }

  onError(error: Error): void {
    if (this.streamed !== undefined) {
      if (!(error instanceof Errors.AbortedByClient)) this.streamed.fail(Errors.fromUndici(error, true, this.context.limits.timeouts, true))
      return
    }
    if (this.wasCut) return
    // Before onConnect undici wrote nothing of this request: only then may
    // the error say "connect" (retried for any method).
    this.fail(Errors.fromUndici(error, this.headers !== undefined, this.context.limits.timeouts, this.deadlines.started), false)
  }

  // BufferedHost
  bodyRead(body: Buffer, bytes: number): void {
    if (this.finished) return
    this.finished = true
    this.sink = undefined
    // undici reuses this socket only one event-loop turn later: the next
    // request to this origin waits for it (see ReturningSockets).
    this.done.succeed(
      this.context.respond(this.request, this.status, this.headers!, body, bytes, this.timing(performance.now()), undefined)
    )
  }

  bodyFailed(failure: Errors.Failure, abort: boolean): void {
    this.fail(failure, abort)
  }

  // PrefixHost
  cut(): void {
    this.wasCut = true
    this.sink = undefined
    this.deadlines.stop()
    this.abort()
  }

  prefixRead(prefix: Buffer): void {
    if (this.finished) return
    this.finished = true
    this.sink = undefined
    this.deadlines.stop()
    if (this.mode === BodyMode.Prefix) return this.done.fail(this.error(badStatus(this.status, this.headers!, prefix)))
    this.record(this.timing(performance.now()), "Redirect")
    this.done.fail(new Redirect(this.status, this.headers!["location"]!))
  }
}
