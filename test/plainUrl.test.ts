/**
 * The string split of plain URLs must agree with the WHATWG parser wherever
 * it answers at all; everything else goes to `new URL()`.
 */
import { describe, expect, it } from "@effect/vitest"
import * as FastCheck from "effect/FastCheck"
import { splitPlainUrl } from "../src/internal/engine/plainUrl.js"
import { redactUrl } from "../src/internal/engine/redact.js"

const parsed = (input: string) => {
  try {
    const url = new URL(input)
    return { href: url.href, origin: url.origin, path: url.pathname + url.search }
  } catch {
    return undefined
  }
}

// URLs that look plain, built from the pieces that trip parsers up.
const piece = FastCheck.constantFrom(
  "a",
  "B",
  "0",
  "9",
  "-",
  ".",
  "..",
  "%2e",
  "%2E",
  "%20",
  "%zz",
  "%",
  "/",
  "//",
  "?",
  "&",
  "=",
  "#",
  "@",
  ":",
  "'",
  "\\",
  " ",
  "~",
  "!",
  "$",
  "(",
  "*",
  ",",
  ";",
  "é",
  "\t",
  "xn--",
  "0x",
  "ff"
)
const host = FastCheck.constantFrom(
  "example.com",
  "a",
  "127.0.0.1",
  "127.1",
  "0x7f.0.0.1",
  "256.0.0.1",
  "1.2.3.04",
  "EXAMPLE.com",
  "xn--nxasmq6b.com",
  "a..b",
  "a.",
  "-a-.b",
  "09",
  "1.2.3.4.5",
  "user@h",
  "u:p@h",
  "[::1]",
  "h_h"
)
const port = FastCheck.constantFrom("", ":80", ":443", ":8080", ":0", ":65535", ":65536", ":080", ":", ":1a")
const plainish = FastCheck.tuple(FastCheck.constantFrom("http://", "https://", "HTTP://", "ftp://"), host, port, FastCheck.array(piece, { maxLength: 8 }))
  .map(([scheme, h, p, rest]) => scheme + h + p + rest.join(""))

describe("splitPlainUrl", () => {
  it.prop("answers only where new URL() gives the same href, origin and path", [plainish], ([input]) => {
    const split = splitPlainUrl(input)
    if (split !== undefined) expect(split).toEqual(parsed(input))
  }, { fastCheck: { numRuns: 3000, seed: 20261201 } })

  it.prop("never answers for arbitrary strings where new URL() disagrees", [FastCheck.string({ maxLength: 60 })], ([tail]) => {
    for (const input of [tail, `http://${tail}`, `http://h/${tail}`]) {
      const split = splitPlainUrl(input)
      if (split !== undefined) expect(split).toEqual(parsed(input))
    }
  }, { fastCheck: { numRuns: 2000, seed: 20261202 } })

  it("takes the common plain URLs, so the fast path is used", () => {
    expect(splitPlainUrl("http://127.0.0.1:8080/small?i=1")).toEqual({
      href: "http://127.0.0.1:8080/small?i=1",
      origin: "http://127.0.0.1:8080",
      path: "/small?i=1"
    })
    expect(splitPlainUrl("https://example.com")).toEqual({ href: "https://example.com/", origin: "https://example.com", path: "/" })
    expect(splitPlainUrl("https://api.example.com/v1/items?page=2&q=a%20b")?.path).toBe("/v1/items?page=2&q=a%20b")
  })

  it("leaves what the parser rewrites to the parser", () => {
    for (const input of ["http://127.1/", "http://h:80/", "http://h/a/../b", "http://h/%2e/x", "http://u:p@h/", "http://H/", "http://h/x#f"]) {
      expect(splitPlainUrl(input)).toBeUndefined()
    }
  })
})

// Queries whose names are secret, near-secret, encoded or empty.
const queryPart = FastCheck.constantFrom(
  "i=1",
  "token=s3cret",
  "TOKEN=x",
  "api_key=k",
  "x-goog-signature=s",
  "accesstoken=t",
  "keys=1",
  "monkey=1",
  "to%6Ben=x",
  "a+token=x",
  "tok+en=x",
  "=v",
  "",
  "token",
  "q=a%20b",
  "sig=%2A"
)
const withQuery = FastCheck.tuple(plainish, FastCheck.array(queryPart, { maxLength: 4 }), FastCheck.boolean())
  .map(([base, parts, question]) => parts.length === 0 ? base : `${base}${question ? "?" : "&"}${parts.join("&")}`)

describe("redactUrl on plain URLs", () => {
  // A URL object always takes the parser's path: it is the reference.
  const byParser = (input: string) => {
    try {
      return redactUrl(new URL(input))
    } catch {
      return undefined
    }
  }

  it.prop("answers what the parser's path answers", [withQuery], ([input]) => {
    const reference = byParser(input)
    if (reference !== undefined) expect(redactUrl(input)).toBe(reference)
  }, { fastCheck: { numRuns: 3000, seed: 20261203 } })

  it("returns a plain URL with no secret as it is, and still hides a secret one", () => {
    expect(redactUrl("http://127.0.0.1:8080/small?i=1")).toBe("http://127.0.0.1:8080/small?i=1")
    expect(redactUrl("http://h/a?x=1&token=s3cret")).toBe("http://h/a?x=1&token=***")
    expect(redactUrl("http://h/a?to%6Ben=s3cret")).toBe("http://h/a?token=***")
  })
})
