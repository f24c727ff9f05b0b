import type * as Http from "node:http"
import type * as Net from "node:net"
import type * as api from "../../DemoServer.js"
import { limits } from "./config.js"
import { headerRecord, RecentLog } from "./helpers.js"

// ---------------------------------------------------------------------------
// state
// ---------------------------------------------------------------------------

export class State {
  requests = 0
  inFlight = 0
  peakInFlight = 0
  aborted = 0
  openConnections = 0
  connectionsOpened = 0
  readonly headers = new RecentLog<Readonly<Record<string, string>>>(limits.maxReceivedHeaders)
  readonly sockets = new Set<Net.Socket>()
  /** responses the server cut on purpose (/reset): not client aborts */
  readonly serverCut = new WeakSet<Http.ServerResponse>()
  readonly retryAttempts = new Map<string, number>()
  readonly flakyAttempts = new Map<number, number>()
  /** Requests in flight at `/capacity`, by its `k` (each `k` is its own hidden capacity). */
  readonly capacityInFlight = new Map<number, number>()

  tlsHandshakes = 0

  onSecureConnection = (): void => {
    this.tlsHandshakes++
  }

  onConnection = (socket: Net.Socket): void => {
    this.openConnections++
    this.connectionsOpened++
    this.sockets.add(socket)
    socket.once("close", () => {
      this.openConnections--
      this.sockets.delete(socket)
    })
  }

  onRequest = (req: Http.IncomingMessage, res: Http.ServerResponse): void => {
    this.requests++
    this.inFlight++
    if (this.inFlight > this.peakInFlight) this.peakInFlight = this.inFlight
    this.headers.push(headerRecord(req.headers))
    // A request stops being in flight when its response closes or when the
    // client hangs up, whichever the server sees first: the socket's EOF or
    // reset is read in the same poll as the client's next request, while the
    // response's 'close' only comes in a later phase of the event loop.
    const socket = req.socket
    let left = false
    const leave = () => {
      if (left) return
      left = true
      this.inFlight--
      socket.off("end", leave)
      socket.off("error", leave)
    }
    socket.once("end", leave)
    socket.once("error", leave)
    res.once("close", () => {
      leave()
      if (!res.writableFinished && !this.serverCut.has(res)) this.aborted++
    })
  }

  snapshot(): api.DemoServerStats {
    return {
      requests: this.requests,
      inFlight: this.inFlight,
      peakInFlight: this.peakInFlight,
      aborted: this.aborted,
      openConnections: this.openConnections,
      connectionsOpened: this.connectionsOpened,
      tlsHandshakes: this.tlsHandshakes
    }
  }

  resetStats(): void {
    this.requests = 0
    this.peakInFlight = this.inFlight
    this.aborted = 0
    this.connectionsOpened = 0
    this.tlsHandshakes = 0
    this.headers.clear()
  }

  resetState(): void {
    this.retryAttempts.clear()
    this.flakyAttempts.clear()
  }

  nextAttempt<K>(map: Map<K, number>, key: K): number {
    if (map.size >= limits.maxKeys && !map.has(key)) map.clear()
    const attempt = (map.get(key) ?? 0) + 1
    map.set(key, attempt)
    return attempt
  }
}
