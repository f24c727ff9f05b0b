/**
 * The redirect rule (src/internal/policy/redirects.ts) as a state machine,
 * checked as properties over any chain of hops: it never follows more than
 * `maxRedirects`, never goes from https to http unless allowed, and drops
 * the credentials on a hop to another origin. test/Resilience.test.ts
 * checks the same rule through `nextHop` and against a real server.
 */
import { assert, describe, expect, it } from "@effect/vitest"
import { FastCheck } from "effect"
import { isSecretHeader } from "../src/internal/engine/redact.js"
import * as Redirects from "../src/internal/policy/redirects.js"

type Body = string | null

/** A request as the rule reads it, its headers and chain frozen: the rule must not write them. */
const requestAt = (href: string, method: string, headers: Record<string, string>, body: Body): Redirects.Redirected<Body> => {
  const url = new URL(href)
  return { method, href: url.href, url, origin: url.origin, headers: Object.freeze({ ...headers }), body }
}

const fromHop = (hop: Redirects.Hop<Body>): Redirects.Redirected<Body> => requestAt(hop.url.href, hop.method, hop.headers, hop.body)

const origins = ["http://a.test", "https://a.test", "https://a.test:8443", "https://b.test", "http://b.test:8080"] as const
const secureOrigins = origins.filter((origin) => origin.startsWith("https:"))

const status = FastCheck.constantFrom(301, 302, 303, 307, 308)
const method = FastCheck.constantFrom("GET", "HEAD", "POST", "PUT", "DELETE")
const path = FastCheck.stringMatching(/^\/[a-z0-9]{0,6}(\?q=[a-z0-9]{1,4})?(#[a-z]{1,3})?$/)
const headerNames = ["authorization", "proxy-authorization", "cookie", "x-api-key", "accept", "content-type", "content-length", "x-trace"]
const headers = FastCheck.subarray(headerNames).map((names) => Object.fromEntries(names.map((name) => [name, `value of ${name}`])))
/** A Location that resolves to an http(s) URL: absolute at any origin, or relative to the request. */
const location = (within: ReadonlyArray<string>) =>
  FastCheck.oneof(
    FastCheck.tuple(FastCheck.constantFrom(...within), path).map(([origin, p]) => origin + p),
    path
  )

const limits = (maxRedirects: number, allowInsecureRedirects: boolean): Redirects.RedirectLimits => ({ maxRedirects, allowInsecureRedirects })

describe("the redirect rule", () => {
  it.prop(
    "a chain never passes maxRedirects: the hop past it is refused, with every URL that redirected",
    [
      FastCheck.integer({ min: 0, max: 6 }),
      FastCheck.array(FastCheck.tuple(status, location(secureOrigins)), { maxLength: 10 })
    ],
    ([maxRedirects, answers]) => {
      let from = requestAt("https://a.test/start", "GET", {}, null)
      let chain: ReadonlyArray<string> | undefined = undefined
      let followed = 0
      for (const [code, target] of answers) {
        const step: Redirects.Followed<Body> | Redirects.Refusal = Redirects.follow(
          chain,
          from,
          { status: code, location: target },
          limits(maxRedirects, false),
          isSecretHeader
        )
        const expected = [...(chain ?? []), from.href]
        if (step._tag !== "Follow") {
          expect(step).toEqual({ _tag: "TooManyRedirects", limit: maxRedirects, chain: expected })
          expect(followed).toBe(maxRedirects)
          return
        }
        expect(step.chain).toEqual(expected)
        expect(step.chain.length).toBeLessThanOrEqual(maxRedirects)
        followed++
        chain = Object.freeze(step.chain)
        from = fromHop(step.hop)
      }
      expect(followed).toBe(answers.length)
      expect(followed).toBeLessThanOrEqual(maxRedirects)
    }
  )

  it.prop(
    "an https to http hop is refused unless allowed; any other is followed",
    [FastCheck.constantFrom(...origins), FastCheck.constantFrom(...origins), path, status, method, FastCheck.boolean()],
    ([fromOrigin, toOrigin, target, code, verb, allowInsecure]) => {
      const from = requestAt(`${fromOrigin}/here`, verb, {}, "data")
      const step = Redirects.follow(undefined, from, { status: code, location: toOrigin + target }, limits(10, allowInsecure), isSecretHeader)
      const downgrade = fromOrigin.startsWith("https:") && toOrigin.startsWith("http:")
      if (downgrade && !allowInsecure) {
        assert(step._tag === "RedirectRejected")
        expect(step.reason).toBe("Downgrade")
        expect(String(step.location)).toBe(new URL(toOrigin + target).href)
      } else {
        assert(step._tag === "Follow")
        expect(step.hop.url.origin).toBe(new URL(toOrigin).origin)
        expect(step.hop.url.hash).toBe("")
      }
    }
  )

  it.prop(
    "another origin gets none of the headers strip names, the same origin all; a hop to GET drops the body and its headers",
    [FastCheck.constantFrom(...origins), location(origins), headers, status, method],
    ([fromOrigin, target, sent, code, verb]) => {
      const from = requestAt(`${fromOrigin}/form`, verb, sent, "data")
      const hop = Redirects.nextHop(from, code, target, true, isSecretHeader)
      assert(hop._tag === "Hop")
      const crossOrigin = hop.url.origin !== from.origin
      const toGet = hop.body === null
      expect(toGet).toBe(code === 303 ? verb !== "HEAD" : (code === 301 || code === 302) && verb === "POST")
      expect(hop.method).toBe(toGet ? "GET" : verb)
      const kept = Object.keys(sent).filter((name) => !(crossOrigin && isSecretHeader(name)) && !(toGet && name.startsWith("content-")))
      expect(hop.headers).toEqual(Object.fromEntries(kept.map((name) => [name, sent[name]])))
    }
  )

  it("a Location that is no http(s) URL is refused, the resolved URL or the text as given", () => {
    const from = requestAt("https://a.test/x", "GET", {}, null)
    const scheme = Redirects.follow(undefined, from, { status: 302, location: "javascript:alert(1)" }, limits(5, false), isSecretHeader)
    assert(scheme._tag === "RedirectRejected")
    expect(scheme.reason).toBe("InvalidLocation")
    expect(String(scheme.location)).toBe("javascript:alert(1)")
    const unparsable = Redirects.follow(undefined, from, { status: 302, location: "http://[::1" }, limits(5, false), isSecretHeader)
    expect(unparsable).toEqual({ _tag: "RedirectRejected", reason: "InvalidLocation", location: "http://[::1" })
  })

  it("the answers that redirect: a redirect status with a Location", () => {
    for (const code of [301, 302, 303, 307, 308]) {
      expect(Redirects.isRedirect(code, { location: "/next" })).toBe(true)
      expect(Redirects.isRedirect(code, {})).toBe(false)
    }
    for (const code of [200, 300, 304, 305, 306, 404]) expect(Redirects.isRedirect(code, { location: "/next" })).toBe(false)
  })
})
