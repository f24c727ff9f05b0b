/**
 * nginx as a bench target: one process without a master, started in a
 * throwaway prefix folder of its own with the `server` block a bench gives,
 * stopped (and its folder removed) by `stop`. A node:http target saturates
 * a core on these 2-core machines and hides what a client costs; nginx
 * does not.
 */
import type { ChildProcess } from "node:child_process"
import { spawn } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { createServer, Socket } from "node:net"
import * as os from "node:os"
import * as path from "node:path"

/** A port free on 127.0.0.1 now. */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => (typeof address === "object" && address !== null ? resolve(address.port) : reject(new Error("no port"))))
    })
  })

/** Whether something accepts connections on 127.0.0.1:`port` (within 500 ms). */
export const canConnect = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = new Socket()
    socket.setTimeout(500)
    socket.once("connect", () => {
      socket.destroy()
      resolve(true)
    })
    socket.once("error", () => resolve(false))
    socket.once("timeout", () => {
      socket.destroy()
      resolve(false)
    })
    socket.connect(port, "127.0.0.1")
  })

export interface Nginx {
  readonly port: number
  /** The prefix folder (files a bench serves or logs can go here). */
  readonly dir: string
  readonly child: ChildProcess
  readonly stop: () => void
}

/**
 * Starts `binary` with `http` directives and one `server` listening on a
 * free loopback port. `server(port, dir)` gives the server block's body;
 * `http(dir)` extra http-level directives. A string when it did not start,
 * saying why.
 */
export const startNginx = async (
  binary: string,
  server: (dir: string) => string,
  http: (dir: string) => string = () => "access_log off;"
): Promise<Nginx | string> => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "effect-gather-bench-nginx-"))
  const port = await freePort()
  const conf = `daemon off;
master_process off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  ${http(dir)}
  keepalive_timeout 60s;
  keepalive_requests 10000000;
  client_body_temp_path ${dir};
  proxy_temp_path ${dir};
  fastcgi_temp_path ${dir};
  uwsgi_temp_path ${dir};
  scgi_temp_path ${dir};
  server {
    listen 127.0.0.1:${port};
    ${server(dir)}
  }
}
`
  writeFileSync(path.join(dir, "nginx.conf"), conf)
  const child = spawn(binary, ["-p", dir, "-c", path.join(dir, "nginx.conf")], { stdio: ["ignore", "ignore", "pipe"] })
  let stderr = ""
  child.stderr!.on("data", (chunk: Buffer) => {
    if (stderr.length < 4000) stderr += chunk.toString()
  })
  const stop = () => {
    child.kill("SIGTERM")
    rmSync(dir, { recursive: true, force: true })
  }
  for (let attempt = 0; attempt < 50; attempt++) {
    if (child.exitCode !== null) break
    if (await canConnect(port)) return { port, dir, child, stop }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  child.kill("SIGKILL")
  rmSync(dir, { recursive: true, force: true })
  return `nginx found at ${binary} but did not start (${stderr.trim().split("\n").at(-1) ?? "no message"})`
}
