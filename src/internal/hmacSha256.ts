/**
 * HMAC-SHA256 of many short messages under one key, in plain JavaScript.
 *
 * `gather fetch` keys every record it writes (see cli/inputKey.ts). Node's
 * `createHmac` costs a native object, a key import and two calls across
 * the binding per message: 3-6 µs each, the largest single cost of a
 * record (bench S4 profile). The key's inner and outer pads are hashed
 * once here, so a message under 56 bytes costs two SHA-256 compressions
 * and no allocation but its hex string. The output is the same bytes as
 * `createHmac("sha256", key)`; a property test holds it to that.
 */

// The first 32 bits of the fractional parts of the cube roots of the first 64 primes (FIPS 180-4).
const roundConstants = Int32Array.from([
  0x428a2f98,
  0x71374491,
  0xb5c0fbcf,
  0xe9b5dba5,
  0x3956c25b,
  0x59f111f1,
  0x923f82a4,
  0xab1c5ed5,
  0xd807aa98,
  0x12835b01,
  0x243185be,
  0x550c7dc3,
  0x72be5d74,
  0x80deb1fe,
  0x9bdc06a7,
  0xc19bf174,
  0xe49b69c1,
  0xefbe4786,
  0x0fc19dc6,
  0x240ca1cc,
  0x2de92c6f,
  0x4a7484aa,
  0x5cb0a9dc,
  0x76f988da,
  0x983e5152,
  0xa831c66d,
  0xb00327c8,
  0xbf597fc7,
  0xc6e00bf3,
  0xd5a79147,
  0x06ca6351,
  0x14292967,
  0x27b70a85,
  0x2e1b2138,
  0x4d2c6dfc,
  0x53380d13,
  0x650a7354,
  0x766a0abb,
  0x81c2c92e,
  0x92722c85,
  0xa2bfe8a1,
  0xa81a664b,
  0xc24b8b70,
  0xc76c51a3,
  0xd192e819,
  0xd6990624,
  0xf40e3585,
  0x106aa070,
  0x19a4c116,
  0x1e376c08,
  0x2748774c,
  0x34b0bcb5,
  0x391c0cb3,
  0x4ed8aa4a,
  0x5b9cca4f,
  0x682e6ff3,
  0x748f82ee,
  0x78a5636f,
  0x84c87814,
  0x8cc70208,
  0x90befffa,
  0xa4506ceb,
  0xbef9a3f7,
  0xc67178f2
])

// The first 32 bits of the fractional parts of the square roots of the first 8 primes.
const initialState = Int32Array.from([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19])

const blockBytes = 64

/** One SHA-256 compression of the 16 words at the start of `w` (its 64 slots are scratch) into `state`. */
const compress = (state: Int32Array, w: Int32Array): void => {
  for (let i = 16; i < 64; i++) {
    const x = w[i - 15]!
    const y = w[i - 2]!
    const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3)
    const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10)
    w[i] = (w[i - 16]! + s0 + w[i - 7]! + s1) | 0
  }
  let a = state[0]!
  let b = state[1]!
  let c = state[2]!
  let d = state[3]!
  let e = state[4]!
  let f = state[5]!
  let g = state[6]!
  let h = state[7]!
  for (let i = 0; i < 64; i++) {
    const s1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7))
    const t1 = (h + s1 + ((e & f) ^ (~e & g)) + roundConstants[i]! + w[i]!) | 0
    const s0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10))
    const t2 = (s0 + ((a & b) ^ (a & c) ^ (b & c))) | 0
    h = g
    g = f
    f = e
    e = (d + t1) | 0
    d = c
    c = b
    b = a
    a = (t1 + t2) | 0
  }
  state[0] = (state[0]! + a) | 0
  state[1] = (state[1]! + b) | 0
  state[2] = (state[2]! + c) | 0
  state[3] = (state[3]! + d) | 0
  state[4] = (state[4]! + e) | 0
  state[5] = (state[5]! + f) | 0
  state[6] = (state[6]! + g) | 0
  state[7] = (state[7]! + h) | 0
}

/** The words of `bytes[at..at+64)`, big-endian, into the first 16 slots of `w`. */
const loadBlock = (bytes: Uint8Array, at: number, w: Int32Array): void => {
  for (let i = 0; i < 16; i++) {
    const j = at + i * 4
    w[i] = (bytes[j]! << 24) | (bytes[j + 1]! << 16) | (bytes[j + 2]! << 8) | bytes[j + 3]!
  }
}

/** The state after hashing one 64-byte block of the key XOR `pad`. */
const padState = (key: Uint8Array, pad: number, w: Int32Array): Int32Array => {
  const block = new Uint8Array(blockBytes)
  for (let i = 0; i < blockBytes; i++) block[i] = (key[i] ?? 0) ^ pad
  const state = initialState.slice()
  loadBlock(block, 0, w)
  compress(state, w)
  return state
}

/** `word` big-endian at `bytes[at..at+4)`. */
const putWord = (bytes: Uint8Array, at: number, word: number): void => {
  bytes[at] = word >>> 24
  bytes[at + 1] = word >>> 16
  bytes[at + 2] = word >>> 8
  bytes[at + 3] = word
}

// Two hex digits per byte value: `Number#toString(16)` per word was as dear as a compression.
const hexByte = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, "0"))

const hex = (word: number): string => hexByte[word >>> 24]! + hexByte[(word >>> 16) & 0xff]! + hexByte[(word >>> 8) & 0xff]! + hexByte[word & 0xff]!

const encoder = new TextEncoder()

/**
 * An HMAC-SHA256 under `key` (at most 64 bytes, as every secret here is:
 * a longer key would first be hashed, which this does not do). The function
 * returns the first `hexDigits` (a multiple of 8, at most 64) of the hex
 * digest of the UTF-8 of a message.
 */
export const make = (key: Uint8Array, hexDigits: number): (message: string) => string => {
  if (key.length > blockBytes) throw new RangeError("an HMAC key of more than 64 bytes must be hashed first")
  if (hexDigits % 8 !== 0 || hexDigits < 8 || hexDigits > 64) throw new RangeError("hexDigits must be 8, 16, ... 64")
  const w = new Int32Array(64)
  const inner = padState(key, 0x36, w)
  const outer = padState(key, 0x5c, w)
  const state = new Int32Array(8)
  const words = hexDigits / 8
  let bytes = new Uint8Array(256)
  return (message) => {
    // UTF-8 takes at most 3 bytes per UTF-16 unit; 9 more for 0x80 and the length.
    const room = message.length * 3 + 9 + blockBytes
    if (bytes.length < room) bytes = new Uint8Array(room * 2)
    const length = encoder.encodeInto(message, bytes).written
    const padded = Math.ceil((length + 9) / blockBytes) * blockBytes
    bytes[length] = 0x80
    bytes.fill(0, length + 1, padded)
    // The bit length of the inner message: the pad block, then the message.
    const bits = (blockBytes + length) * 8
    putWord(bytes, padded - 8, Math.floor(bits / 0x100000000))
    putWord(bytes, padded - 4, bits)
    state.set(inner)
    for (let at = 0; at < padded; at += blockBytes) {
      loadBlock(bytes, at, w)
      compress(state, w)
    }
    // The outer hash: its pad block (already in `outer`), then the 32-byte inner digest.
    for (let i = 0; i < 8; i++) w[i] = state[i]!
    w[8] = 0x80000000 | 0
    for (let i = 9; i < 15; i++) w[i] = 0
    w[15] = (blockBytes + 32) * 8
    state.set(outer)
    compress(state, w)
    let out = ""
    for (let i = 0; i < words; i++) out += hex(state[i]!)
    return out
  }
}
