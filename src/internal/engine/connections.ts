/**
 * Which request opened a new connection, and how long opening it took.
 *
 * undici tells a dispatch handler nothing about its socket. But its client
 * writes the first request on a new connection synchronously inside the
 * connector's callback (client.js `connect` → `kResume` → `writeH1` →
 * `onConnect`), so a connector that wraps undici's own one can publish the
 * connection's moments in a slot for exactly that window: the handler whose
 * `onConnect` runs while the slot is filled is the request that waited for
 * it. Cost: a closure and three numbers per connection, nothing per request.
 */
import { globalValue } from "effect/GlobalValue"
import { Socket } from "node:net"
import type { buildConnector } from "undici"

/** The moments (performance.now()) of the connection being handed over. */
export interface Opened {
  /** The connector was asked for a socket (DNS and TCP begin). */
  connectAt: number
  /** TCP connected, TLS handshake begins; -1 for plain TCP. */
  tlsAt: number
}

const slot = globalValue(Symbol.for("effect-gather/connections/opened"), (): { current: Opened | undefined } => ({
  current: undefined
}))

/** The new connection whose first request is being written now, if any. */
export const opened = (): Opened | undefined => slot.current

/**
 * The connections a session's pool has open, per origin: a worker waits a
 * turn before reusing an origin (see attempt.ts `start`) only while the pool
 * may still open another one. A count per connection, nothing per request.
 */
export class OpenConnections {
  private readonly byOrigin = new Map<string, number>()

  constructor(
    /** The pool's cap per origin (`maxConnectionsPerHost`). */
    readonly limit: number
  ) {}

  /** True while `origin` has fewer open connections than the cap. */
  roomFor(origin: string): boolean {
    return (this.byOrigin.get(origin) ?? 0) < this.limit
  }

  opened(origin: string, socket: { once(event: "close", listener: () => void): unknown }): void {
    this.byOrigin.set(origin, (this.byOrigin.get(origin) ?? 0) + 1)
    socket.once("close", () => {
      const left = (this.byOrigin.get(origin) ?? 1) - 1
      if (left <= 0) this.byOrigin.delete(origin)
      else this.byOrigin.set(origin, left)
    })
  }
}

/**
 * A connector (undici's own, possibly wrapped), timing each connection it
 * opens and counting it in `open`.
 */
export const timedConnector = (connect: buildConnector.connector, open: OpenConnections): buildConnector.connector => {
  return (options, callback) => {
    const connectAt = performance.now()
    let tlsAt = -1
    const secure = options.protocol === "https:"
    // undici's connector returns the socket, though its type says void.
    const socket: unknown = connect(options, (...args) => {
      if (args[0] !== null) return callback(...args)
      // undici names the origin by its URL's parts: this is its `origin`.
      open.opened(`${options.protocol}//${options.host}`, args[1])
      const previous = slot.current
      slot.current = { connectAt, tlsAt }
      try {
        callback(...args)
      } finally {
        slot.current = previous
      }
    })
    if (secure && socket instanceof Socket) {
      socket.once("connect", () => {
        tlsAt = performance.now()
      })
    }
  }
}

/**
 * Sockets that undici hands back to its pool at the next turn of the event
 * loop. undici returns a socket one turn after its response ends (a
 * `setImmediate` in client-h1, for servers that close despite keep-alive),
 * so a request sent to the same origin at once finds no free socket and
 * opens another: 12 TLS handshakes for 200 GETs at `Effect.forEach`
 * concurrency 8, 42 for 32 workers. A request that finds a socket of its
 * origin about to come back waits for that same turn instead (its own
 * `setImmediate`, queued after undici's), which keeps C in flight to C + 1
 * connections on every path. Per session, whoever sends: a Gather lane,
 * a fiber per request, a retry. A count per origin, cleared once a turn.
 */
export class ReturningSockets {
  private readonly byOrigin = new Map<string, number>()
  private clearScheduled = false
  private readonly clear = (): void => {
    this.clearScheduled = false
    this.byOrigin.clear()
  }

  /** A response on `origin` has just ended on a socket undici will keep. */
  returning(origin: string): void {
    this.byOrigin.set(origin, (this.byOrigin.get(origin) ?? 0) + 1)
    if (!this.clearScheduled) {
      // Scheduled inside the response's own callback, so before undici's
      // setImmediate: the count is gone by the time the socket is back.
      this.clearScheduled = true
      setImmediate(this.clear)
    }
  }

  /** Takes one socket of `origin` that comes back this turn; `false`: none. */
  take(origin: string): boolean {
    const count = this.byOrigin.get(origin)
    if (count === undefined) return false
    if (count <= 1) this.byOrigin.delete(origin)
    else this.byOrigin.set(origin, count - 1)
    return true
  }
}
