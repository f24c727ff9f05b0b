/**
 * The resume key of an input line: an HMAC-SHA256 of the method and the
 * input exactly as written (user info, query and fragment included), so two
 * inputs that differ only in a secret get different keys while the record
 * holds no secret and no plain hash of one (a plain hash of a short
 * password can be reversed by guessing).
 *
 * The key of the HMAC lives beside the output file, in `<out>.key` (mode
 * 0600), created on the first run; `--resume` reads it. Deleting it makes
 * the keys in the file unlinkable to any input (and `--resume` then fetches
 * everything again). Without `--out` a run uses a fresh random key.
 */
import * as Effect from "effect/Effect"
import { createHmac, randomBytes } from "node:crypto"
import * as fs from "node:fs"
import * as HmacSha256 from "../internal/hmacSha256.js"
import { describe, RunFailed } from "./errors.js"

/** The secret of one output file. */
export type Secret = Uint8Array

/** Where the secret of `outFile` is kept. */
export const keyFileOf = (outFile: string): string => `${outFile}.key`

/** A fresh random secret (runs without `--out`). */
export const fresh = (): Secret => randomBytes(32)

const hex = /^[0-9a-f]{64}$/

/**
 * The secret of `outFile`, read from its key file or created there.
 * `created` says it was new: records already in the file cannot match.
 */
export const forOutput = (outFile: string): Effect.Effect<{ readonly secret: Secret; readonly created: boolean }, RunFailed> =>
  Effect.try({
    try: () => {
      const file = keyFileOf(outFile)
      try {
        const text = fs.readFileSync(file, "utf8").trim()
        if (hex.test(text)) return { secret: Buffer.from(text, "hex"), created: false }
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error
      }
      const secret = fresh()
      fs.writeFileSync(file, `${Buffer.from(secret).toString("hex")}\n`, { mode: 0o600 })
      return { secret, created: true }
    },
    catch: (error) => new RunFailed({ message: `cannot use the key file ${keyFileOf(outFile)}: ${describe(error)}` })
  })

/** Pure: the key of an input (32 hex digits). */
export const keyOf = (secret: Secret, method: string, input: string): string =>
  createHmac("sha256", secret).update(`${method}\n${input}`).digest("hex").slice(0, 32)

/**
 * {@link keyOf} for many inputs under one secret and method, the same keys
 * at a fraction of the cost: `gather fetch` keys every record it writes, and
 * `createHmac` per record was its largest single cost (see hmacSha256.ts).
 */
export const keyer = (secret: Secret, method: string): (input: string) => string => {
  const hmac = HmacSha256.make(secret, 32)
  const prefix = `${method}\n`
  return (input) => hmac(prefix + input)
}
