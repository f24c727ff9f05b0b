/**
 * What an attempt does with the body, chosen once at the response headers:
 *
 * - {@link Buffered}: an accepted status, the whole body in memory, decoded
 *   and capped (`maxBodyBytes` counts decoded bytes);
 * - {@link Prefix}: a rejected status (its first 1 KiB becomes `BadStatus`'s
 *   body) or a redirect about to be followed (nothing kept);
 * - {@link Streamed}: `Fetch.stream`, handed to the consumer as it arrives,
 *   with backpressure on the socket.
 *
 * undici calls `data` per chunk (returning false pauses the socket) and
 * `complete` at the end; a sink reports to its host exactly once.
 */
import type * as FetchError from "../../FetchError.js"
import { BodyChannel } from "./bodyStream.js"
import type { ContentDecoder } from "./decoders.js"
import { isTooLarge } from "./decoders.js"
import type * as Errors from "./errors.js"

export interface BodySink {
  /** A chunk as it came off the wire; `false` asks undici to pause the socket. */
  data(chunk: Buffer): boolean
  /** The body ended. */
  complete(): void
}

export const ERROR_PREFIX_BYTES = 1024

/** Unread bytes of a streamed body before the socket is paused. */
export const STREAM_HIGH_WATER = 1024 * 1024

/**
 * A body that came in one chunk is a view into the socket's read buffer,
 * which also holds the response head: keeping the view (every response of a
 * `Gather.all` is kept) keeps that whole buffer and its ArrayBuffer. A small
 * one is copied into Node's shared pool instead (`Buffer.from` below 4 KiB),
 * so kept responses hold only their bytes.
 */
const POOLED_COPY_BELOW = 4096

const concat = (chunks: Array<Buffer>, length: number): Buffer => {
  if (chunks.length !== 1) return Buffer.concat(chunks, length)
  const only = chunks[0]!
  return length < POOLED_COPY_BELOW && only.byteLength < only.buffer.byteLength ? Buffer.from(only) : only
}

const bodyTooLarge = (limitBytes: number, receivedBytes: number): Errors.Failure => ({
  _tag: "BodyTooLarge",
  limitBytes,
  receivedBytes
})

/**
 * The body ended before it was whole: fewer (or more) bytes than its
 * `content-length`, or an encoded stream cut before its end (zlib's
 * `Z_BUF_ERROR`, "unexpected end of file": a gzip without its trailer). The
 * connection's fault, not the data's: a transient `Reset` of the body, as
 * undici reports a short HTTP/1.1 body, so a retry may get it whole.
 */
export const truncated = (code: string): Errors.Failure => ({ _tag: "ConnectionError", reason: "Reset", phase: "body", code })

/** undici's own code for a body that does not match its `content-length`. */
export const LENGTH_MISMATCH = "UND_ERR_RES_CONTENT_LENGTH_MISMATCH"

const isCutShort = (error: Error): boolean => "code" in error && error.code === "Z_BUF_ERROR"

const undecodable = (decoder: ContentDecoder, error: Error): Errors.Failure =>
  isCutShort(error) ? truncated("Z_BUF_ERROR") : {
    _tag: "DecodeError",
    reason: "Encoding",
    path: [],
    detail: `${decoder.name}: ${error.message}`
  }

const lengthPattern = /^\s*(\d{1,15})\s*$/

/**
 * The bytes a response announces for its body, on the wire (before content
 * decoding): its `content-length`, `0` when it can have none whatever the
 * header says (a HEAD, 204, 304), `-1` when unknown (no usable header, or
 * a `transfer-encoding`, which overrides it: RFC 9112 6.3).
 */
export const announcedLength = (method: string, status: number, headers: Record<string, string>): number => {
  if (method === "HEAD" || status === 204 || status === 304) return 0
  const header = headers["content-length"]
  if (header === undefined || headers["transfer-encoding"] !== undefined) return -1
  const match = lengthPattern.exec(header)
  return match === null ? -1 : Number(match[1])
}

/** Where a buffered body ends up. */
export interface BufferedHost {
  /** The decoded body and its size. */
  bodyRead(body: Buffer, bytes: number): void
  /** Too large or undecodable; `abort` when the socket still carries the rest. */
  bodyFailed(failure: Errors.Failure, abort: boolean): void
}

/** An accepted status: all of the body, decoded, under the cap. */
export class Buffered implements BodySink {
  private chunks: Array<Buffer> = []
  private received = 0
  private readonly wireLimit: number

  constructor(
    private readonly host: BufferedHost,
    private readonly maxBodyBytes: number,
    private readonly decoder: ContentDecoder | undefined
  ) {
    // An encoded body is capped after decoding (zlib's maxOutputLength); the
    // wire bytes only get a loose ceiling, as incompressible data grows a bit.
    this.wireLimit = decoder === undefined ? maxBodyBytes : maxBodyBytes * 1.01 + 1024
  }

  data(chunk: Buffer): boolean {
    this.received += chunk.length
    if (this.received > this.wireLimit) {
      this.chunks = []
      this.host.bodyFailed(bodyTooLarge(this.maxBodyBytes, this.received), true)
      return false
    }
    this.chunks.push(chunk)
    return true
  }

  complete(): void {
    const raw = concat(this.chunks, this.received)
    this.chunks = []
    const { decoder, host, maxBodyBytes } = this
    if (decoder === undefined) return host.bodyRead(raw, this.received)
    // zlib stops at maxOutputLength, so a small gzip body can never expand
    // past the cap in memory; it runs on the thread pool, off the event loop.
    decoder.whole(raw, { maxOutputLength: Number.isFinite(maxBodyBytes) ? maxBodyBytes + 1 : undefined }, (error, decoded) => {
      if (error !== null) {
        return host.bodyFailed(isTooLarge(error) ? bodyTooLarge(maxBodyBytes, maxBodyBytes + 1) : undecodable(decoder, error), false)
      }
      if (decoded.length > maxBodyBytes) return host.bodyFailed(bodyTooLarge(maxBodyBytes, decoded.length), false)
      host.bodyRead(decoded, decoded.length)
    })
  }
}

/** Where a prefix ends up. */
export interface PrefixHost {
  /** The first bytes, decoded when possible. */
  prefixRead(prefix: Buffer): void
  /** The rest will not be read: cut the socket now, and ignore the error that follows. */
  cut(): void
}

/**
 * A rejected status or a followed redirect: read to the end so the
 * connection can be reused, keeping at most a prefix. A body past
 * `maxBodyBytes` is cut short: the socket is cut, the prefix still reported.
 */
export class Prefix implements BodySink {
  private chunks: Array<Buffer> = []
  private kept = 0
  private received = 0

  constructor(
    private readonly host: PrefixHost,
    private readonly maxBodyBytes: number,
    /** Undefined: identity, or an encoding we cannot decode (shown raw). */
    private readonly decoder: ContentDecoder | undefined,
    /** False for a redirect: nothing of its body is wanted. */
    private readonly keep: boolean
  ) {}

  data(chunk: Buffer): boolean {
    this.received += chunk.length
    if (this.received > this.maxBodyBytes) {
      this.host.cut()
      this.finish()
      return false
    }
    // An encoded prefix does not decode, so an encoded body is kept whole
    // (still under the cap) and cut after decoding.
    if (this.keep && (this.decoder !== undefined || this.kept < ERROR_PREFIX_BYTES)) {
      this.chunks.push(chunk)
      this.kept += chunk.length
    }
    return true
  }

  complete(): void {
    this.finish()
  }

  private finish(): void {
    const raw = concat(this.chunks, this.kept)
    this.chunks = []
    const { decoder, host } = this
    if (decoder === undefined || raw.length === 0) return host.prefixRead(raw.subarray(0, ERROR_PREFIX_BYTES))
    decoder.whole(raw, { maxOutputLength: ERROR_PREFIX_BYTES + 1 }, (error, decoded) => {
      host.prefixRead(error === null ? decoded.subarray(0, ERROR_PREFIX_BYTES) : Buffer.alloc(0))
    })
  }
}

/** What a streamed body needs from its attempt. */
export interface StreamHost {
  /** Cuts the socket (the consumer cancelled, or the body failed). */
  abort(): void
  /** The body is moving (resets body idle). */
  activity(): void
  /** The consumer holds the body back, or takes it again. */
  paused(paused: boolean): void
  /** The attempt's limits are done with. */
  stop(): void
  /** Builds the error, with the request's context. */
  error(failure: Errors.Failure): FetchError.FetchError
}

/**
 * `Fetch.stream`: the body goes to a channel the consumer pulls from; a full
 * channel (or a full decoder) pauses the socket until the consumer resumes.
 * The cap applies to decoded bytes, and only when asked.
 */
export class Streamed implements BodySink {
  readonly channel: BodyChannel
  private kept = 0
  private readonly decoding: ReturnType<ContentDecoder["stream"]> | undefined

  constructor(
    private readonly host: StreamHost,
    private readonly maxBodyBytes: number,
    decoder: ContentDecoder | undefined,
    private readonly resumeSocket: () => void
  ) {
    this.channel = new BodyChannel(STREAM_HIGH_WATER, () => host.abort())
    if (decoder !== undefined) {
      const decoding = decoder.stream()
      decoding.on("data", (chunk: Buffer) => this.deliver(chunk))
      decoding.on("end", () => this.channel.end())
      decoding.on("error", (error) => this.fail(undecodable(decoder, error)))
      this.decoding = decoding
    }
  }

  data(chunk: Buffer): boolean {
    if (this.channel.done) return false
    this.host.activity()
    if (this.decoding === undefined) return this.deliver(chunk)
    this.decoding.write(chunk)
    // The decoder buffers its own output; pause the socket while it is full.
    return this.decoding.writableLength < STREAM_HIGH_WATER
  }

  complete(): void {
    this.host.stop()
    if (this.decoding !== undefined) this.decoding.end()
    else this.channel.end()
  }

  /** Fails the stream once: the error reaches the consumer, the socket is cut. */
  fail(failure: Errors.Failure): void {
    if (this.channel.done) return
    this.channel.fail(this.host.error(failure))
    this.host.stop()
    this.host.abort()
    this.decoding?.destroy()
  }

  // Bound once: no closure per chunk.
  private readonly resumeFromConsumer = (): void => {
    this.host.paused(false)
    this.host.activity()
    this.decoding?.resume()
    this.resumeSocket()
  }

  // Decoded bytes: the cap applies here, after content decoding.
  private deliver(chunk: Buffer): boolean {
    this.kept += chunk.length
    if (this.kept > this.maxBodyBytes) {
      this.fail(bodyTooLarge(this.maxBodyBytes, this.kept))
      return false
    }
    const more = this.channel.push(chunk, this.resumeFromConsumer)
    if (!more) {
      this.host.paused(true)
      this.decoding?.pause()
    }
    return more
  }
}
