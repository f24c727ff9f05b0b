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

/**
 * An in-memory store bounded by bytes: least recently used keys go first
 * (a `Map` keeps insertion order; a read moves the key to the end). An
 * entry larger than the bound is not kept.
 */
export class MemoryStore implements CacheStore {
  private readonly entries = new Map<string, { variants: Array<Stored>; size: number }>()
  private total = 0

  constructor(readonly maxBytes: number) {}

  /** Bytes held now. */
  get size(): number {
    return this.total
  }

  readonly get = (key: string): ReadonlyArray<Stored> => {
    const entry = this.entries.get(key)
    if (entry === undefined) return none
    this.entries.delete(key)
    this.entries.set(key, entry)
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
    this.entries.set(key, { variants, size: total })
    this.total += total
    // Only when over the bound: a Map iterator walks the slots of deleted
    // keys (every read moves its key) before the first live one, so
    // starting one per put cost more than the put.
    if (this.total <= this.maxBytes) return
    for (const [oldest, old] of this.entries) {
      if (this.total <= this.maxBytes) break
      this.entries.delete(oldest)
      this.total -= old.size
    }
  }

  readonly delete = (key: string): void => this.remove(key)

  private remove(key: string): void {
    const entry = this.entries.get(key)
    if (entry === undefined) return
    this.entries.delete(key)
    this.total -= entry.size
  }
}
