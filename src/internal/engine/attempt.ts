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
import { Readable } from "node:stream"
import type { Dispatcher } from "undici"
import type * as FetchError from "../../FetchError.js"
import type { AttemptContext, AttemptDone, FetchResponse, Outcome, Redirect } from "./attemptContext.js"
import { AttemptHandler } from "./attemptHandler.js"
import { hold } from "./interruptSlot.js"
import type { PreparedRequest } from "./preparedRequest.js"

// What the fetch and the cache read of an attempt, from the modules that hold it.
export type { AttemptContext, AttemptDone, FetchResponse, Outcome } from "./attemptContext.js"
export { Redirect } from "./attemptContext.js"
export { BodyMode } from "./attemptHandler.js"
export { PreparedRequest } from "./preparedRequest.js"

/** Reports to an `Effect.async` resume: the attempt as an Effect. */
class ResumeDone implements AttemptDone {
  constructor(private readonly resume: (effect: Outcome) => void) {}
  succeed(response: FetchResponse<Uint8Array>): void {
    this.resume(Effect.succeed(response))
  }
  fail(error: FetchError.FetchError | Redirect): void {
    this.resume(Effect.fail(error))
  }
}

/** Request bodies larger than this are written in chunks of this size. */
const UPLOAD_CHUNK = 64 * 1024

// A large body goes as a stream of chunks, each handed to the socket once it
// has drained the one before, and each reported to onBodySent: a server that
// reads slowly but steadily is seen making progress. One whole buffer would
// count as sent at once (into Node's socket buffer), whatever the server reads.
function* uploadChunks(bytes: Uint8Array): Generator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += UPLOAD_CHUNK) yield bytes.subarray(at, at + UPLOAD_CHUNK)
}

const dispatch = (context: AttemptContext, request: PreparedRequest, handler: AttemptHandler): void => {
  handler.queued(handler.dispatchedAt)
  let body: string | Uint8Array | Readable | null = request.body
  let headers = request.headers
  if (body !== null && body.length > UPLOAD_CHUNK / 4) {
    const bytes = typeof body === "string" ? Buffer.from(body) : body
    if (bytes.length > UPLOAD_CHUNK) {
      headers = { ...headers, "content-length": String(bytes.length) }
      body = Readable.from(uploadChunks(bytes), { objectMode: false })
    }
  }
  context.dispatcher.dispatch({
    origin: request.origin,
    path: request.path,
    method: request.method as Dispatcher.HttpMethod,
    headers,
    body,
    // Our own watchdog enforces these (see AttemptHandler).
    headersTimeout: 0,
    bodyTimeout: 0
  }, handler)
}

const dispatchLater = (context: AttemptContext, request: PreparedRequest, handler: AttemptHandler): void => {
  if (!handler.isFinished) dispatch(context, request, handler)
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
  Effect.withFiberRuntime((fiber) =>
    Effect.async((resume) => {
      const handler = start(context, request, attempt, remainingMs, new ResumeDone(resume))
      // A Gather worker's one interrupt hook aborts what its slot holds, and
      // any other fiber's slot is watched until it moves on: no canceler,
      // so no onInterrupt around each attempt.
      hold(fiber, handler)
    })
  )

/**
 * Starts one attempt that reports to `done`; `interrupt()` on the result
 * aborts it (no report follows). The callback form of {@link run}.
 */
export const start = (
  context: AttemptContext,
  request: PreparedRequest,
  attempt: number,
  remainingMs: number,
  done: AttemptDone
): { interrupt(): void } => {
  const handler = new AttemptHandler(context, request, attempt, remainingMs, done)
  // A socket of this origin comes back to the pool at the next turn: wait
  // for it rather than open another (see ReturningSockets). A pool already
  // at its cap for the origin cannot open another: the request waits in its
  // queue for the same socket, and the turn would only cost time.
  const connections = context.connections
  if ((connections === undefined || connections.roomFor(request.origin)) && context.returning.take(request.origin)) {
    setImmediate(dispatchLater, context, request, handler)
  } else {
    dispatch(context, request, handler)
  }
  return handler
}
