/**
 * The on-disk store: one SQLite file (through `@effect/sql-sqlite-node`,
 * the optional peer the cluster's storage uses too, loaded only when a
 * session asks for it). A row per variant; the body as a BLOB. Any SQL
 * failure is a miss or a forgotten write (see store.ts), logged once as a
 * warning.
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import type { Stored } from "./policy.js"
import type { CacheStore } from "./store.js"
import { varyKey } from "./store.js"

interface Row {
  readonly status: number
  readonly headers: string
  readonly body: Uint8Array
  readonly request_at: number
  readonly response_at: number
  readonly vary: string
}

const fromRow = (row: Row): Stored => ({
  status: row.status,
  headers: JSON.parse(row.headers) as Record<string, string>,
  body: row.body instanceof Uint8Array ? row.body : new Uint8Array(0),
  requestAt: row.request_at,
  responseAt: row.response_at,
  vary: Object.fromEntries(JSON.parse(row.vary) as Array<[string, string | null]>)
})

/** Opens (and creates) the store in `filename`; dies with a message naming the file when it cannot. */
export const open = (filename: string): Effect.Effect<CacheStore, never, Scope.Scope> =>
  Effect.gen(function*() {
    const module = yield* Effect.tryPromise({
      try: () => import("@effect/sql-sqlite-node/SqliteClient"),
      catch: (cause) =>
        new Error(
          `effect-gather: a cache on disk needs @effect/sql-sqlite-node (npm install @effect/sql-sqlite-node@~0.53.0): ${String(cause)}`
        )
    }).pipe(Effect.orDie)
    const context = yield* Layer.build(module.layer({ filename })).pipe(
      Effect.catchAllDefect((defect) => Effect.die(new Error(`effect-gather: cannot open the cache file ${filename}: ${String(defect)}`))),
      Effect.orDie
    )
    const sql: SqlClient.SqlClient = Context.get(context, module.SqliteClient)
    // WAL (the client's default) without an fsync per commit: a cache may
    // lose its last writes in a power cut, never its consistency. Measured: a
    // cold run of 2,000 URLs stored at 800/s with a sync per commit.
    yield* sql`PRAGMA synchronous = NORMAL`.pipe(Effect.ignore)
    yield* sql`CREATE TABLE IF NOT EXISTS http_cache (
      key TEXT NOT NULL,
      vary TEXT NOT NULL,
      status INTEGER NOT NULL,
      headers TEXT NOT NULL,
      body BLOB NOT NULL,
      request_at REAL NOT NULL,
      response_at REAL NOT NULL,
      PRIMARY KEY (key, vary)
    )`.pipe(
      Effect.catchAll((error) => Effect.die(new Error(`effect-gather: cannot use the cache file ${filename}: ${error.message}`)))
    )
    let warned = false
    const warn = (what: string) => (error: unknown) => {
      if (warned) return Effect.void
      warned = true
      return Effect.logWarning(`effect-gather: the cache file ${filename} failed (${what}), going on without it: ${String(error)}`)
    }
    const store: CacheStore = {
      get: (key) =>
        sql<Row>`SELECT status, headers, body, request_at, response_at, vary FROM http_cache WHERE key = ${key}`.pipe(
          Effect.map((rows) => rows.map(fromRow)),
          Effect.catchAllCause((cause) => Effect.as(warn("read")(cause), []))
        ),
      put: (key, stored) =>
        sql`INSERT OR REPLACE INTO http_cache (key, vary, status, headers, body, request_at, response_at) VALUES (${key}, ${
          varyKey(stored.vary)
        }, ${stored.status}, ${JSON.stringify(stored.headers)}, ${stored.body}, ${stored.requestAt}, ${stored.responseAt})`.pipe(
          Effect.asVoid,
          Effect.catchAllCause(warn("write"))
        ),
      delete: (key) =>
        sql`DELETE FROM http_cache WHERE key = ${key}`.pipe(
          Effect.asVoid,
          Effect.catchAllCause(warn("write"))
        )
    }
    return store
  })
