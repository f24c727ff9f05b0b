/**
 * Response header names and values as strings, shared between responses.
 *
 * undici hands a response's headers over as raw bytes; each response would
 * otherwise keep its own copies of the same strings (`content-type`,
 * `text/plain`, `keep-alive`, the server's name, this second's `date`). A
 * kept 100-byte response held 653 bytes, about 300 of them in such copies
 * (measured with `Gather.all` over 20,000 responses from nginx). Names and
 * short values are looked up in two small tables instead: the text decoded
 * from the socket is young garbage, and what a kept response holds is the
 * table's one copy. The tables are bounded: when one fills it starts over
 * (`date` and `etag` values come and go; the common ones come back at once).
 */
import { globalValue } from "effect/GlobalValue"

/** Values longer than this are rarely repeated (cookies, tokens, links). */
const maxSharedValue = 48
const maxEntries = 1024

class Table {
  private readonly byText = new Map<string, string>()
  share(text: string, make: (text: string) => string): string {
    const known = this.byText.get(text)
    if (known !== undefined) return known
    if (this.byText.size >= maxEntries) this.byText.clear()
    const made = make(text)
    this.byText.set(text, made)
    return made
  }
}

const tables = globalValue(Symbol.for("effect-gather/headerText"), () => ({ names: new Table(), values: new Table() }))

const lowerCase = (text: string): string => text.toLowerCase()
const same = (text: string): string => text

/** The lower-case header name, one string per distinct name. */
export const headerName = (raw: Buffer | string): string => tables.names.share(typeof raw === "string" ? raw : raw.toString("latin1"), lowerCase)

/** The header value, shared with other responses when it is short. */
export const headerValue = (raw: Buffer | string): string => {
  const text = typeof raw === "string" ? raw : raw.toString("latin1")
  return text.length > maxSharedValue ? text : tables.values.share(text, same)
}
