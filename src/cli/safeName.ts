/**
 * File names for `--body-dir`, derived from URLs so that a body can never be
 * written outside the directory: no separators, no `..`, no NUL, no leading
 * dot, ASCII only, at most {@link maxNameLength} characters, and a hash of
 * the whole URL so two URLs never share a file. The readable part comes from
 * the redacted URL, and the hash of a URL that holds a secret is keyed, so
 * neither a name nor a hash gives the secret away.
 */
import * as Either from "effect/Either"
import { createHash, createHmac, randomBytes } from "node:crypto"
import * as path from "node:path"
import { redactUrl } from "../internal/engine/redact.js"

/** Longest readable part of a name; the hash suffix comes on top. */
export const maxStemLength = 100

/** Longest name {@link resolveInside} accepts (most file systems allow 255 bytes). */
export const maxNameLength = 200

const decode = (text: string): string => {
  try {
    return decodeURIComponent(text)
  } catch {
    return text
  }
}

const readablePart = (input: string): string => {
  try {
    const url = new URL(input)
    // Decoded first so that `%2e%2e%2f` is neutralized like `../`.
    return `${url.host}${decode(url.pathname)}${decode(url.search)}`
  } catch {
    return decode(input)
  }
}

const normalized = (url: string): string => {
  try {
    return new URL(url).href
  } catch {
    return url
  }
}

const hasSecret = (url: string, shown: string): boolean => shown !== normalized(url)

let ownKey: Uint8Array | undefined

// Without a key from the caller, one per process: names of URLs with a
// secret are then only stable within a run.
const processKey = (): Uint8Array => ownKey ??= randomBytes(32)

/**
 * A safe file name for a URL: its host, path and query reduced to
 * `[A-Za-z0-9._-]` runs, then `-` and 12 hex digits of its SHA-256.
 *
 * `http://127.0.0.1:8080/api/v2/pokemon/1` → `127.0.0.1_8080_api_v2_pokemon_1-3f1d...`
 * `http://127.0.0.1:8080/x?token=S3CRET` → `127.0.0.1_8080_x_token-<HMAC of the URL under key>`
 */
export const fileNameFor = (url: string, key?: Uint8Array): string => {
  const shown = redactUrl(url)
  const hash = hasSecret(url, shown)
    ? createHmac("sha256", key ?? processKey()).update(url).digest("hex").slice(0, 12)
    : createHash("sha256").update(url).digest("hex").slice(0, 12)
  const stem = readablePart(shown)
    .replace(/[^A-Za-z0-9._-]+/g, "_")
    .replace(/\.{2,}/g, ".")
    .replace(/^[._-]+/, "")
    .slice(0, maxStemLength)
    .replace(/[._-]+$/, "")
  return `${stem === "" ? "index" : stem}-${hash}`
}

/**
 * The absolute path of `name` inside `dir`, or why it is refused: empty or
 * overlong names, path separators, `.`/`..`, NUL and absolute paths are
 * rejected, and the result is checked to lie directly inside `dir`.
 */
export const resolveInside = (dir: string, name: string): Either.Either<string, string> => {
  if (name === "" || name === "." || name === "..") return Either.left(`refused file name "${name}"`)
  if (name.length > maxNameLength) return Either.left(`file name longer than ${maxNameLength} characters`)
  if (name.includes("\0")) return Either.left("file name contains NUL")
  if (name.includes("/") || name.includes("\\")) return Either.left(`file name "${name}" contains a path separator`)
  if (path.isAbsolute(name)) return Either.left(`file name "${name}" is absolute`)
  const root = path.resolve(dir)
  const full = path.resolve(root, name)
  if (path.dirname(full) !== root || path.relative(root, full) !== name) {
    return Either.left(`file name "${name}" leaves ${root}`)
  }
  return Either.right(full)
}
