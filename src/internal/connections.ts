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

/** A connector (undici's own, possibly wrapped), timing each connection it opens. */
export const timedConnector = (connect: buildConnector.connector): buildConnector.connector => {
  return (options, callback) => {
    const connectAt = performance.now()
    let tlsAt = -1
    const secure = options.protocol === "https:"
    // undici's connector returns the socket, though its type says void.
    const socket: unknown = connect(options, (...args) => {
      if (args[0] !== null) return callback(...args)
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
