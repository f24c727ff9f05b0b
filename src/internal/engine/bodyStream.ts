/**
 * The body of a streamed fetch: undici pushes chunks in, the consumer's
 * `Stream` pulls them out. When more than `highWater` bytes wait unread,
 * undici is paused (its parser stops reading the socket, and its body timer
 * stops with it) until the consumer catches up.
 */
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import type * as FetchError from "../../FetchError.js"

export class BodyChannel {
  private chunks: Array<Uint8Array> = []
  private queued = 0
  private ended = false
  private failure: FetchError.FetchError | undefined = undefined
  private wake: (() => void) | undefined = undefined
  private resumeSource: (() => void) | undefined = undefined

  constructor(
    private readonly highWater: number,
    /** Cuts the connection; called when the consumer stops early. */
    private readonly cancelSource: () => void
  ) {}

  /** Returns false when the producer should pause until `onResume` is called. */
  push(chunk: Uint8Array, onResume: () => void): boolean {
    if (this.ended || this.failure !== undefined) return false
    this.chunks.push(chunk)
    this.queued += chunk.length
    this.notify()
    if (this.queued >= this.highWater) {
      this.resumeSource = onResume
      return false
    }
    return true
  }

  end(): void {
    this.ended = true
    this.notify()
  }

  fail(error: FetchError.FetchError): void {
    if (this.ended || this.failure !== undefined) return
    this.failure = error
    this.chunks = []
    this.notify()
  }

  /** The consumer is gone: drop everything and cut the connection. */
  cancel(): void {
    if (this.ended || this.failure !== undefined) return
    this.ended = true
    this.chunks = []
    this.cancelSource()
  }

  get done(): boolean {
    return this.ended || this.failure !== undefined
  }

  private notify(): void {
    const wake = this.wake
    this.wake = undefined
    wake?.()
  }

  private readonly pull: Effect.Effect<Chunk.Chunk<Uint8Array>, Option.Option<FetchError.FetchError>> = Effect.suspend(() => {
    if (this.chunks.length > 0) {
      const out = Chunk.unsafeFromArray(this.chunks)
      this.chunks = []
      this.queued = 0
      const resume = this.resumeSource
      this.resumeSource = undefined
      resume?.()
      return Effect.succeed(out)
    }
    if (this.failure !== undefined) return Effect.fail(Option.some(this.failure))
    if (this.ended) return Effect.fail(Option.none())
    return Effect.zipRight(
      Effect.async<void>((resume) => {
        this.wake = () => resume(Effect.void)
        return Effect.sync(() => {
          this.wake = undefined
        })
      }),
      this.pull
    )
  })

  readonly stream: Stream.Stream<Uint8Array, FetchError.FetchError> = Stream.repeatEffectChunkOption(this.pull)
}
