/**
 * A small real forward proxy for tests, on 127.0.0.1 port 0 (node:http):
 * `CONNECT host:port` opens a TCP tunnel, an absolute-form request is
 * forwarded. With `credentials` (`"user:password"`), anything without the
 * matching `Proxy-Authorization` gets 407. Like a real proxy it resolves the
 * target's name itself; names under `.test` resolve to 127.0.0.1 (a hosts
 * file of its own), so a test can reach made-up host names only through it.
 * Stopped (every socket destroyed) when its scope ends.
 */
import * as Effect from "effect/Effect"
import * as Http from "node:http"
import * as Net from "node:net"

/** What went through the proxy. */
export interface ProxyLog {
  /** CONNECT targets (`host:port`), one per tunnel opened. */
  readonly tunnels: Array<string>
  /** Absolute-form requests forwarded. */
  readonly forwarded: Array<string>
  /** Requests and CONNECTs refused with 407. */
  readonly refused: Array<string>
  /** Every `Proxy-Authorization` value received (also wrong ones). */
  readonly authorizations: Array<string>
}

export interface ForwardProxy {
  /** `http://127.0.0.1:PORT` */
  readonly url: string
  readonly port: number
  readonly log: ProxyLog
}

const resolveName = (host: string): string => host.endsWith(".test") ? "127.0.0.1" : host

export const forwardProxy = (credentials?: string) =>
  Effect.map(
    Effect.acquireRelease(
      Effect.async<{ readonly proxy: ForwardProxy; readonly server: Http.Server; readonly sockets: Set<Net.Socket> }>(
        (resume) => {
          const log: ProxyLog = { tunnels: [], forwarded: [], refused: [], authorizations: [] }
          const sockets = new Set<Net.Socket>()
          const allowed = (header: string | undefined) => {
            if (header !== undefined) log.authorizations.push(header)
            return credentials === undefined || header === `Basic ${Buffer.from(credentials).toString("base64")}`
          }
          const track = (socket: Net.Socket) => {
            sockets.add(socket)
            socket.on("close", () => sockets.delete(socket))
          }
          const server = Http.createServer((req, res) => {
            if (!allowed(req.headers["proxy-authorization"])) {
              log.refused.push(req.url ?? "")
              res.writeHead(407, { "proxy-authenticate": "Basic", "content-length": "0" }).end()
              return
            }
            log.forwarded.push(req.url ?? "")
            const target = new URL(req.url ?? "")
            const { "proxy-authorization": _, ...headers } = req.headers
            const upstream = Http.request(
              {
                host: resolveName(target.hostname),
                port: target.port,
                path: target.pathname + target.search,
                method: req.method,
                headers
              },
              (answer) => {
                res.writeHead(answer.statusCode ?? 502, answer.headers)
                answer.pipe(res)
              }
            )
            upstream.on("error", () => res.destroy())
            req.pipe(upstream)
          })
          server.on("connection", track)
          server.on("connect", (req: Http.IncomingMessage, client: Net.Socket, head: Buffer) => {
            if (!allowed(req.headers["proxy-authorization"])) {
              log.refused.push(req.url ?? "")
              client.end("HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\nContent-Length: 0\r\n\r\n")
              return
            }
            log.tunnels.push(req.url ?? "")
            const target = req.url ?? ""
            const colon = target.lastIndexOf(":")
            let connected = false
            const upstream = Net.connect(Number(target.slice(colon + 1)), resolveName(target.slice(0, colon)), () => {
              connected = true
              client.write("HTTP/1.1 200 Connection Established\r\n\r\n")
              if (head.length > 0) upstream.write(head)
              upstream.pipe(client)
              client.pipe(upstream)
            })
            track(upstream)
            upstream.on("error", () => {
              if (connected) client.destroy()
              else client.end("HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            })
            client.on("error", () => upstream.destroy())
            client.on("close", () => upstream.destroy())
          })
          server.listen(0, "127.0.0.1", () => {
            const address = server.address() as Net.AddressInfo
            resume(Effect.succeed({
              proxy: { url: `http://127.0.0.1:${address.port}`, port: address.port, log },
              server,
              sockets
            }))
          })
        }
      ),
      ({ server, sockets }) =>
        Effect.async<void>((resume) => {
          for (const socket of sockets) socket.destroy()
          server.close(() => resume(Effect.void))
          server.closeAllConnections()
        })
    ),
    ({ proxy }) => proxy
  )
