/**
 * Where the session's credentials meet the request path: the three hooks
 * `fetch.ts` calls (building a request, a response's headers, a redirect).
 * The cookie jar lives in `cookies.ts`, the auth header in `auth.ts`.
 */
import type { PreparedRequest } from "./engine/attempt.js"
import { copyHeaders } from "./engine/headerCopy.js"
import { authorizationFor } from "./policy/auth.js"
import type { SessionImpl } from "./session.js"

/**
 * Adds the session's `Authorization` (unless the request has its own or it
 * does not belong to this origin) and the jar's cookies (after the request's
 * own `Cookie`, if any). Returns `headers` itself when nothing is added, a
 * copy otherwise (the session's shared headers object is never written).
 */
export const onRequest = (
  session: SessionImpl,
  href: string,
  url: URL | undefined,
  headers: Record<string, string>
): Record<string, string> => {
  const auth = session.config.auth
  // Most sessions have neither: no URL object is made for them.
  if (auth === undefined && session.cookies === undefined) return headers
  url ??= new URL(href)
  const authorization = auth !== undefined && headers["authorization"] === undefined
    ? authorizationFor(auth, url)
    : undefined
  const cookie = session.cookies?.header(url)
  if (authorization === undefined && cookie === undefined) return headers
  const out = copyHeaders(headers)
  if (authorization !== undefined) out["authorization"] = authorization
  if (cookie !== undefined) {
    const own = out["cookie"]
    out["cookie"] = own === undefined || own === "" ? cookie : `${own}; ${cookie}`
  }
  return out
}

/** Stores the cookies a response sets (every response: redirects and errors too). */
export const onResponse = (session: SessionImpl, request: PreparedRequest, headers: Record<string, string>): void => {
  const setCookie = headers["set-cookie"]
  // request.url is made on demand: only a jar with something to capture pays for it.
  if (setCookie !== undefined && session.cookies !== undefined) session.cookies.capture(request.url, setCookie)
}

/**
 * The next hop of a redirect, its `Cookie` rebuilt from the jar for the new
 * URL (with what the redirect itself set). `nextHop` has already dropped
 * `Authorization` and `Cookie` if the origin changed; the session's auth is
 * never added back on a redirect.
 */
export const onRedirect = (session: SessionImpl, next: PreparedRequest): PreparedRequest => {
  const jar = session.cookies
  if (jar === undefined) return next
  const cookie = jar.header(next.url)
  if (cookie === undefined) delete next.headers["cookie"]
  else next.headers["cookie"] = cookie
  return next
}
