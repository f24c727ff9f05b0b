import type * as Http from "node:http"

// ---------------------------------------------------------------------------
// pure helpers (exported for tests)
// ---------------------------------------------------------------------------

/**
 * A seeded hash of `(seed, k)` mapped to `[0, 1)`. `/flaky` fails the k-th
 * request for a seed when this is below `p`.
 *
 * @internal
 */
export const flakyHash = (seed: number, k: number): number => {
  const lo = seed >>> 0
  const hi = Math.floor(seed / 4294967296) >>> 0
  let x = (lo ^ Math.imul(hi, 0x27d4eb2d) ^ Math.imul(k >>> 0, 0x9e3779b9)) >>> 0
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b)
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35)
  x = Math.imul(x ^ (x >>> 16), 0x7feb352d)
  x ^= x >>> 15
  return (x >>> 0) / 4294967296
}

/** @internal */
export const flakyFails = (p: number, seed: number, k: number): boolean => flakyHash(seed, k) < p

/**
 * Keeps the most recent `capacity` entries, amortized O(1) per push.
 *
 * @internal
 */
export class RecentLog<A> {
  private items: Array<A> = []
  constructor(readonly capacity: number) {}
  push(item: A): void {
    this.items.push(item)
    if (this.items.length >= this.capacity * 2) {
      this.items = this.items.slice(this.items.length - this.capacity)
    }
  }
  clear(): void {
    this.items = []
  }
  toArray(): ReadonlyArray<A> {
    return this.items.length > this.capacity ? this.items.slice(this.items.length - this.capacity) : this.items.slice()
  }
}

const integerPattern = /^-?\d{1,16}$/
export const decimalPattern = /^(?:\d+(?:\.\d*)?|\.\d+)$/

/** Parses a base-10 integer within `[min, max]`, or returns `undefined`. @internal */
export const parseIntegerIn = (raw: string | null | undefined, min: number, max: number): number | undefined => {
  if (raw === null || raw === undefined || !integerPattern.test(raw)) return undefined
  const n = Number(raw)
  return Number.isSafeInteger(n) && n >= min && n <= max ? n : undefined
}

export const headerRecord = (headers: Http.IncomingHttpHeaders): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue
    out[name.toLowerCase()] = Array.isArray(value) ? value.join(", ") : value
  }
  return out
}
