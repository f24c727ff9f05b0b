/**
 * The on-disk store: one SQLite file through `better-sqlite3` (what
 * `@effect/sql-sqlite-node` runs on; the optional peer the cluster's storage
 * uses brings it), loaded only when a session asks for it. A row per
 * variant, and its body as a BLOB in a table of its own: a revalidation
 * (a 304) updates the variant's headers and times without writing its body
 * again (SQLite writes a whole row on an UPDATE, blob and all: a 32 KiB
 * body made a revalidating run slower than fetching).
 *
 * Why better-sqlite3 itself and not `@effect/sql`: a lookup comes before
 * every cached fetch, and a fetch on callbacks (the fast path) can only use
 * one that answers at once. better-sqlite3 is synchronous (a prepared
 * SELECT by primary key takes microseconds); the SqlClient wraps each
 * statement in a semaphore, a span and an Effect (measured: 6.6k warm hits/s
 * through it, on the fiber path).
 *
 * Writes wait for the end of the event-loop turn and go in one transaction
 * (a cold run stores many responses per turn; a transaction per row was the
 * cold run's ceiling). A read of a key with a write waiting flushes first,
 * so a read always sees every write before it. Any SQL failure is a miss or
 * a forgotten write (see store.ts), logged once as a warning.
 */
import * as Effect from "effect/Effect"
import * as Runtime from "effect/Runtime"
import type * as Scope from "effect/Scope"
import { createRequire } from "node:module"
import type { Stored } from "./policy.js"
import type { CacheStore } from "./store.js"
import { varyKey } from "./store.js"

/** The part of better-sqlite3 the store uses (the package ships no types). */
interface Statement {
  run(...params: ReadonlyArray<unknown>): { readonly changes: number; readonly lastInsertRowid: number | bigint }
  all(...params: ReadonlyArray<unknown>): Array<unknown>
  /** Rows as arrays of the columns, in the SELECT's order, not as objects. */
  raw(toggle: boolean): Statement
}
interface Database {
  prepare(source: string): Statement
  exec(source: string): unknown
  pragma(source: string): unknown
  transaction<Args extends ReadonlyArray<unknown>>(f: (...args: Args) => void): (...args: Args) => void
  close(): void
}
type DatabaseConstructor = new(filename: string) => Database

/** A row of the SELECT below, as an array (`raw` mode): its columns in order. */
type Row = readonly [
  status: number,
  headers: string,
  body: Uint8Array,
  requestAt: number,
  responseAt: number,
  vary: string
]

/** The `vary` column of a response that varies on nothing (most do), and what it reads as. */
const noVaryText = "[]"
const noVary: Readonly<Record<string, string | null>> = Object.freeze({})

const fromRow = (row: Row): Stored => ({
  status: row[0],
  headers: JSON.parse(row[1]) as Record<string, string>,
  body: row[2] instanceof Uint8Array ? row[2] : new Uint8Array(0),
  requestAt: row[3],
  responseAt: row[4],
  vary: row[5] === noVaryText ? noVary : Object.fromEntries(JSON.parse(row[5]) as Array<[string, string | null]>)
})

const loadDriver = (): DatabaseConstructor => {
  const require = createRequire(import.meta.url)
  try {
    // The package's export is the Database class; its shape is the interface above.
    return require("better-sqlite3") as DatabaseConstructor
  } catch (cause) {
    throw new Error(
      `effect-gather: a cache on disk needs better-sqlite3 (npm install @effect/sql-sqlite-node@~0.53.0, which brings it): ${String(cause)}`
    )
  }
}

/** Writes flushed at once past this many, so a turn with thousands of stores does not hold them all. */
const maxQueuedWrites = 512

/** Opens (and creates) the store in `filename`; dies with a message naming the file when it cannot. */
export const open = (filename: string): Effect.Effect<CacheStore, never, Scope.Scope> =>
  Effect.gen(function*() {
    const Driver = yield* Effect.try({ try: loadDriver, catch: (error) => error }).pipe(Effect.orDie)
    const runtime = yield* Effect.runtime<never>()
    const store = yield* Effect.try({
      try: () => new SqliteStore(new Driver(filename), filename, runtime),
      catch: (error) => new Error(`effect-gather: cannot use the cache file ${filename}: ${String(error)}`)
    }).pipe(Effect.orDie)
    yield* Effect.addFinalizer(() => Effect.sync(() => store.close()))
    return store
  })

/** A waiting write: a variant stored, one refreshed after a 304 (with what was read), or a key forgotten. */
type Write =
  | readonly [kind: "put", key: string, stored: Stored]
  | readonly [kind: "refresh", key: string, stored: Stored, previous: Stored]
  | readonly [kind: "delete", key: string]

class SqliteStore implements CacheStore {
  private readonly select: Statement
  private readonly writeAll: (writes: ReadonlyArray<Write>) => void
  private readonly queue: Array<Write> = []
  private readonly queued = new Set<string>()
  private flushing: ReturnType<typeof setImmediate> | undefined = undefined
  private reading: ReturnType<typeof setImmediate> | undefined = undefined
  private warned = false
  private closed = false

  constructor(
    private readonly db: Database,
    private readonly filename: string,
    private readonly runtime: Runtime.Runtime<never>
  ) {
    // WAL without an fsync per commit: a cache may lose its last writes in a
    // power cut, never its consistency.
    db.pragma("journal_mode = WAL")
    db.pragma("synchronous = NORMAL")
    db.exec(`CREATE TABLE IF NOT EXISTS http_cache_variant (
      key TEXT NOT NULL,
      vary TEXT NOT NULL,
      status INTEGER NOT NULL,
      headers TEXT NOT NULL,
      request_at REAL NOT NULL,
      response_at REAL NOT NULL,
      body INTEGER NOT NULL,
      PRIMARY KEY (key, vary)
    );
    CREATE TABLE IF NOT EXISTS http_cache_body (id INTEGER PRIMARY KEY, bytes BLOB NOT NULL)`)
    // Rows as arrays: no object with six named fields made per row read.
    this.select = db.prepare(
      `SELECT v.status, v.headers, b.bytes, v.request_at, v.response_at, v.vary
       FROM http_cache_variant v JOIN http_cache_body b ON b.id = v.body WHERE v.key = ?`
    ).raw(true)
    const dropBody = db.prepare("DELETE FROM http_cache_body WHERE id IN (SELECT body FROM http_cache_variant WHERE key = ? AND vary = ?)")
    const insertBody = db.prepare("INSERT INTO http_cache_body (bytes) VALUES (?)")
    const insertVariant = db.prepare(
      "INSERT OR REPLACE INTO http_cache_variant (key, vary, status, headers, request_at, response_at, body) VALUES (?, ?, ?, ?, ?, ?, ?)"
    )
    // Only the variant that was read: one replaced since (a fetch of the same
    // URL that finished first) keeps its own body, and is then stored whole.
    const updateVariant = db.prepare(
      `UPDATE http_cache_variant SET status = ?, headers = ?, request_at = ?, response_at = ?
       WHERE key = ? AND vary = ? AND request_at = ? AND response_at = ?`
    )
    const dropBodies = db.prepare("DELETE FROM http_cache_body WHERE id IN (SELECT body FROM http_cache_variant WHERE key = ?)")
    const dropVariants = db.prepare("DELETE FROM http_cache_variant WHERE key = ?")
    const put = (key: string, stored: Stored): void => {
      const vary = varyKey(stored.vary)
      dropBody.run(key, vary)
      const body = insertBody.run(stored.body).lastInsertRowid
      insertVariant.run(key, vary, stored.status, JSON.stringify(stored.headers), stored.requestAt, stored.responseAt, body)
    }
    this.writeAll = db.transaction((writes: ReadonlyArray<Write>) => {
      for (const write of writes) {
        switch (write[0]) {
          case "put":
            put(write[1], write[2])
            break
          case "refresh": {
            const [, key, next, previous] = write
            const updated = updateVariant.run(
              next.status,
              JSON.stringify(next.headers),
              next.requestAt,
              next.responseAt,
              key,
              varyKey(next.vary),
              previous.requestAt,
              previous.responseAt
            )
            if (updated.changes === 0) put(key, next)
            break
          }
          case "delete":
            dropBodies.run(write[1])
            dropVariants.run(write[1])
        }
      }
    })
  }

  readonly get = (key: string): ReadonlyArray<Stored> => {
    if (this.closed) return []
    if (this.queued.has(key)) this.flush()
    this.beginReading()
    try {
      // Rows of the SELECT above in raw mode: its columns, in Row's order.
      return (this.select.all(key) as Array<Row>).map(fromRow)
    } catch (error) {
      this.warn("read", error)
      return []
    }
  }

  readonly put = (key: string, stored: Stored): void => this.enqueue(["put", key, stored])

  readonly refresh = (key: string, previous: Stored, next: Stored): void => this.enqueue(["refresh", key, next, previous])

  readonly delete = (key: string): void => this.enqueue(["delete", key])

  private enqueue(write: Write): void {
    if (this.closed) return
    this.queue.push(write)
    this.queued.add(write[1])
    if (this.queue.length >= maxQueuedWrites) this.flush()
    else this.flushing ??= setImmediate(() => this.flush())
  }

  /**
   * The reads of one event-loop turn share one read transaction: a SELECT on
   * its own opens and ends one (the WAL's shared locks), 2.4 of its 8 µs
   * (1,000 reads per transaction, measured alone). A turn's snapshot may
   * miss what another process commits during the turn: for a cache, a miss.
   * Writes end it first (see {@link flush}).
   */
  private beginReading(): void {
    if (this.reading !== undefined) return
    try {
      this.db.exec("BEGIN")
    } catch {
      return // the read runs in a transaction of its own
    }
    this.reading = setImmediate(() => this.endReading())
  }

  private endReading(): void {
    if (this.reading === undefined) return
    clearImmediate(this.reading)
    this.reading = undefined
    try {
      this.db.exec("COMMIT")
    } catch (error) {
      this.warn("read", error)
    }
  }

  /** Every waiting write, in order, in one transaction. */
  flush(): void {
    this.endReading()
    if (this.flushing !== undefined) clearImmediate(this.flushing)
    this.flushing = undefined
    if (this.queue.length === 0) return
    const writes = this.queue.splice(0)
    this.queued.clear()
    try {
      this.writeAll(writes)
    } catch (error) {
      this.warn("write", error)
    }
  }

  close(): void {
    if (this.closed) return
    this.flush()
    this.closed = true
    try {
      this.db.close()
    } catch (error) {
      this.warn("close", error)
    }
  }

  private warn(what: string, error: unknown): void {
    if (this.warned) return
    this.warned = true
    Runtime.runFork(this.runtime)(
      Effect.logWarning(`effect-gather: the cache file ${this.filename} failed (${what}), going on without it: ${String(error)}`)
    )
  }
}
