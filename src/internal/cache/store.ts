/**
 * Where the cache keeps responses: by URL, each URL with its variants (one
 * per set of `Vary` values). Store operations never fail: a store that
 * cannot answer is a miss, one that cannot write forgets (a cache is an
 * optimisation; the fetch goes on). They are synchronous (memory, and
 * SQLite through better-sqlite3, whose calls block for microseconds), so a
 * fetch on callbacks can look up, answer and store without a fiber step.
 */
import type { Stored } from "./policy.js"

export interface CacheStore {
  /** Every stored variant for the key. */
  readonly get: (key: string) => ReadonlyArray<Stored>
  /** Stores a variant, replacing the one with the same selecting headers. */
  readonly put: (key: string, stored: Stored) => void
  /**
   * Stores `next`, the variant `previous` (as `get` gave it) with the
   * headers and times of a 304: the same body. A store on disk writes only
   * what changed; if the variant is no longer `previous` (replaced since),
   * `next` is stored whole.
   */
  readonly refresh: (key: string, previous: Stored, next: Stored) => void
  /** Forgets every variant of the key. */
  readonly delete: (key: string) => void
}

/** The variant key: the selecting headers, in a stable order. */
export const varyKey = (vary: Readonly<Record<string, string | null>>): string => JSON.stringify(Object.keys(vary).sort().map((name) => [name, vary[name]]))

/** What an entry costs in memory, roughly: its body and its header text. */
const sizeOf = (stored: Stored): number => {
  let size = stored.body.byteLength + 64
  for (const name of Object.keys(stored.headers)) size += name.length + stored.headers[name]!.length
  return size
}

const none: ReadonlyArray<Stored> = []

/** A key's variants, a link in the store's recency list (oldest first). */
interface Entry {
  readonly key: string
  readonly variants: Array<Stored>
  readonly size: number
  older: Entry | undefined
  newer: Entry | undefined
}

/**
 * An in-memory store bounded by bytes: least recently used keys go first.
 * The keys are a `Map` and a doubly linked list of its entries, oldest
 * first: a read moves its entry to the newest end with four pointer writes,
 * where moving its key in the `Map` (a delete and a set) cost two hashings
 * and a hole per read, 1 µs of a 5 µs hit. An entry larger than the bound is
 * not kept.
 */
export class MemoryStore implements CacheStore {
  private readonly entries = new Map<string, Entry>()
  private oldest: Entry | undefined = undefined
  private newest: Entry | undefined = undefined
  private total = 0

  constructor(readonly maxBytes: number) {}

  /** Bytes held now. */
  get size(): number {
    return this.total
  }

  readonly get = (key: string): ReadonlyArray<Stored> => {
    const entry = this.entries.get(key)
    if (entry === undefined) return none
    if (entry !== this.newest) {
      this.unlink(entry)
      this.append(entry)
    }
    return entry.variants
  }

  readonly put = (key: string, stored: Stored): void => {
    const size = sizeOf(stored)
    const entry = this.entries.get(key)
    const id = varyKey(stored.vary)
    const kept = entry === undefined ? [] : entry.variants.filter((v) => varyKey(v.vary) !== id)
    this.remove(key)
    // Too large to keep: it still replaces its own variant (now outdated),
    // never the key's other variants.
    const variants = size > this.maxBytes ? kept : [...kept, stored]
    if (variants.length === 0) return
    const total = variants.reduce((sum, v) => sum + sizeOf(v), 0)
    const added: Entry = { key, variants, size: total, older: undefined, newer: undefined }
    this.entries.set(key, added)
    this.append(added)
    this.total += total
    while (this.total > this.maxBytes && this.oldest !== undefined) this.remove(this.oldest.key)
  }

  // In memory the body is shared, not copied: storing the whole variant costs the same.
  readonly refresh = (key: string, _previous: Stored, next: Stored): void => this.put(key, next)

  readonly delete = (key: string): void => this.remove(key)

  private remove(key: string): void {
    const entry = this.entries.get(key)
    if (entry === undefined) return
    this.entries.delete(key)
    this.unlink(entry)
    this.total -= entry.size
  }

  private append(entry: Entry): void {
    entry.older = this.newest
    entry.newer = undefined
    if (this.newest === undefined) this.oldest = entry
    else this.newest.newer = entry
    this.newest = entry
  }

  private unlink(entry: Entry): void {
    if (entry.older === undefined) this.oldest = entry.newer
    else entry.older.newer = entry.newer
    if (entry.newer === undefined) this.newest = entry.older
    else entry.newer.older = entry.older
    entry.older = undefined
    entry.newer = undefined
  }
}
