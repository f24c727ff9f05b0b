/**
 * The one table of content decoders (`Content-Encoding` → zlib), for whole
 * bodies and for streamed ones. undici's `request()` does not decode; users
 * expect decoded bodies, as `fetch` and aiohttp give them.
 */
import * as zlib from "node:zlib"

export interface ContentDecoder {
  /** The name as the response gave it (trimmed, lower-case), for messages. */
  readonly name: string
  /** Decodes a whole body off the event loop; `maxOutputLength` caps the output. */
  readonly whole: (
    input: Buffer,
    options: { readonly maxOutputLength?: number | undefined },
    callback: (error: Error | null, result: Buffer) => void
  ) => void
  /** A streaming decoder for a body handed over as it arrives. */
  readonly stream: () => zlib.Gunzip | zlib.Inflate | zlib.BrotliDecompress
}

const gzip = { whole: zlib.gunzip, stream: () => zlib.createGunzip() }

// A Map, not an object: a `Content-Encoding: constructor` must not find
// Object.prototype's members.
const table = new Map<string, Omit<ContentDecoder, "name">>([
  ["gzip", gzip],
  ["x-gzip", gzip],
  ["deflate", { whole: zlib.inflate, stream: () => zlib.createInflate() }],
  ["br", { whole: zlib.brotliDecompress, stream: () => zlib.createBrotliDecompress() }]
])

/** What a `Content-Encoding` value asks for. */
export type Encoding =
  | { readonly _tag: "Identity" }
  | { readonly _tag: "Known"; readonly decoder: ContentDecoder }
  | { readonly _tag: "Unknown"; readonly name: string }

const identity: Encoding = { _tag: "Identity" }
const known = new Map<string, Encoding>(
  Array.from(table, ([name, decoder]) => [name, { _tag: "Known", decoder: { name, ...decoder } }])
)

export const encodingOf = (header: string | undefined): Encoding => {
  if (header === undefined) return identity
  const name = header.trim().toLowerCase()
  if (name === "" || name === "identity") return identity
  return known.get(name) ?? { _tag: "Unknown", name }
}

/** zlib's way of saying the output passed `maxOutputLength`. */
export const isTooLarge = (error: Error): boolean => ("code" in error && error.code === "ERR_BUFFER_TOO_LARGE") || error instanceof RangeError
