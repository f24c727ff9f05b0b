/**
 * The session's flags, declared once as `@effect/cli` options and mapped
 * once to `Session.Options`: `-c` for every command that sends (`fetch`,
 * `cluster runner`, `bench`), `--rate`, `--timeout` and `--retries` for
 * `fetch` and `cluster runner` alike (so both parse and refuse them the
 * same way), and the rest of the session `gather fetch` opens.
 */
import type * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import type * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as path from "node:path"
import type * as Session from "../Session.js"
import { nonNegative, positive, validated } from "./help.js"
import { limitFlag, parseBytes, rateFlag } from "./parse.js"

/**
 * `-c, --concurrency N`: requests in flight at once. Each command says what
 * its count bounds (`what`, to which the help adds the default) and may
 * name the value otherwise (`pseudoName`) or refuse it with its own
 * message (`check`; the runner's says "a positive integer").
 */
export const concurrencyOption = (spec: {
  readonly what: string
  readonly default: number
  readonly pseudoName?: string | undefined
  readonly check?: ((name: string) => (n: number) => Either.Either<number, string>) | undefined
}): Options.Options<number> =>
  Options.integer("concurrency").pipe(
    Options.withPseudoName(spec.pseudoName ?? "N"),
    Options.withAlias("c"),
    Options.withDescription(`${spec.what} (default ${spec.default}).`),
    validated((spec.check ?? positive)("concurrency")),
    Options.withDefault(spec.default)
  )

/** The flags `gather fetch` and `gather cluster runner` share, as `@effect/cli` options (spread into a command's own). */
export const sessionOptions = {
  rate: Options.text("rate").pipe(
    Options.withPseudoName("RATE"),
    Options.withDescription("Requests started per origin (scheme, host and port), e.g. 20/s, 600/m, 5/100ms."),
    validated(rateFlag("rate")),
    Options.optional
  ),
  timeout: Options.text("timeout").pipe(
    Options.withPseudoName("DURATION"),
    Options.withDescription("Give up on a URL after this long, retries included: 500ms, 5s, 2m, or off (default 3m)."),
    validated(limitFlag("timeout")),
    Options.optional
  ),
  retries: Options.integer("retries").pipe(
    Options.withPseudoName("N"),
    Options.withDescription("Retries of transient failures (connection errors, timeouts, 429/5xx) per URL; 0 for none (default 2)."),
    validated(nonNegative("retries")),
    Options.optional
  )
}

/** What the shared flags parse to. */
export type SessionFlags = Command.Command.ParseConfig<typeof sessionOptions>

/** The part of `Session.Options` the shared flags set (absent flags leave the library's defaults). */
export const toSessionOptions = (flags: SessionFlags): Pick<Session.Options, "ratePerOrigin" | "timeout" | "retry"> => ({
  ratePerOrigin: Option.getOrUndefined(flags.rate),
  timeout: Option.match(flags.timeout, { onNone: () => undefined, onSome: (total) => ({ total }) }),
  retry: Option.match(flags.retries, { onNone: () => undefined, onSome: (n) => (n === 0 ? false : n) })
})

/**
 * The connection limits for `concurrency` requests in flight: one
 * connection per request in flight, so `-c` is what reaches one origin, or
 * `--per-origin` when given (which caps the origin's requests in flight too).
 * The pool's size keeps the key the commands always built,
 * `maxConnectionsPerHost` (the session reads it as `maxConnectionsPerOrigin`),
 * so their `Session.Options` stay as they were; no flag is named after it.
 */
export const connectionLimits = (
  concurrency: number,
  perOrigin: Option.Option<number> = Option.none()
): { readonly maxConnectionsPerHost: number; readonly maxInFlightPerOrigin: number | undefined } => ({
  maxConnectionsPerHost: Option.getOrElse(perOrigin, () => concurrency),
  maxInFlightPerOrigin: Option.getOrUndefined(perOrigin)
})

/** The file of the HTTP cache inside `--cache DIR`. */
export const cacheFileName = "http-cache.sqlite"

/**
 * The session flags only `gather fetch` has, as `@effect/cli` options; the
 * command places each among its own flags (the order of its help).
 */
export const fetchSessionOptions = {
  // `--per-host` is the flag's old name (the limit was always per origin);
  // an alias, since @effect/cli 0.77 cannot hide an option from the help.
  perOrigin: Options.integer("per-origin").pipe(
    Options.withAlias("per-host"),
    Options.withPseudoName("N"),
    Options.withDescription(
      "At most this many requests in flight per origin (scheme, host and port), and as many connections; --per-host is its old name."
    ),
    validated(positive("per-origin")),
    Options.optional
  ),
  adaptive: Options.boolean("adaptive").pipe(
    Options.withDescription(
      "Find each origin's capacity: an in-flight window per origin that grows while requests succeed and shrinks on 429, 503, resets and timeouts (at most -c; shown in the progress line)."
    )
  ),
  retryAfter: Options.choice("retry-after", ["request", "origin"]).pipe(
    Options.withDescription(
      "What a 429/503 Retry-After holds back: the refused request only (default; the whole origin when, after the first wait, 4 different paths are refused with no success between), or every request to the origin."
    ),
    Options.optional
  ),
  header: Options.text("header").pipe(
    Options.withPseudoName("'NAME: VALUE'"),
    Options.withAlias("H"),
    Options.withDescription("A request header 'Name: value'; repeat for more."),
    Options.repeated
  ),
  maxBody: Options.text("max-body").pipe(
    Options.withPseudoName("SIZE"),
    Options.withDescription("Largest body accepted, e.g. 512k, 10MB (binary units), or off (default 32MB)."),
    validated(parseBytes),
    Options.optional
  ),
  ca: Options.text("ca").pipe(
    Options.withPseudoName("FILE"),
    Options.withDescription(
      "Trust the certificate authorities in this PEM file for https (instead of the bundled roots), e.g. the CA `gather serve --tls` prints."
    ),
    Options.optional
  ),
  http2: Options.boolean("http2").pipe(
    Options.withDescription("Offer HTTP/2 to https servers (HTTP/1.1 when they decline).")
  ),
  cache: Options.text("cache").pipe(
    Options.withPseudoName("DIR"),
    Options.withDescription(
      `Keep an HTTP cache (RFC 9111) in DIR/${cacheFileName}: a response still fresh by its Cache-Control max-age or Expires is answered from it without a request, a stale one is asked about with If-None-Match / If-Modified-Since (a 304 costs no body). Records say cache: hit, revalidated or miss; the summary counts them.`
    ),
    Options.optional
  ),
  revalidate: Options.boolean("revalidate").pipe(
    Options.withDescription("With --cache: ask the server about every stored response, fresh ones too (a conditional request each).")
  ),
  proxy: Options.text("proxy").pipe(
    Options.withPseudoName("URL|env|none"),
    Options.withDescription(
      "Send every request through this proxy (http://user:password@host:port, by CONNECT), or env (default): HTTP_PROXY, HTTPS_PROXY and NO_PROXY (lower case too), or none."
    ),
    Options.withDefault("env")
  )
}

/**
 * What `gather fetch`'s session flags parse to, `-c` and the shared ones
 * included; `-H`, `--ca` and `--cache` are read as checked (see {@link CheckedSessionFlags}).
 */
export type FetchSessionFlags = Omit<Command.Command.ParseConfig<typeof fetchSessionOptions>, "header" | "ca" | "cache"> & SessionFlags & {
  readonly concurrency: number
}

/** What the flags name, read and checked before the session opens (see the fetch command's preflight). */
export interface CheckedSessionFlags {
  /** The `-H` headers, parsed. */
  readonly headers: Readonly<Record<string, string>>
  /** The `--ca` file's certificates. */
  readonly ca: Buffer | undefined
  /** The `--cache` directory, created. */
  readonly cacheDir: string | undefined
}

/** `--proxy`'s value as the session takes it. */
export const proxySetting = (value: string): Session.Proxy => value === "none" ? false : value

/** The session of `gather fetch`, from its flags. */
export const toFetchSessionOptions = (flags: FetchSessionFlags, checked: CheckedSessionFlags): Session.Options => {
  const connections = connectionLimits(flags.concurrency, flags.perOrigin)
  return {
    headers: checked.headers,
    proxy: proxySetting(flags.proxy),
    cache: checked.cacheDir === undefined ? undefined : { store: { sqlite: path.join(checked.cacheDir, cacheFileName) }, revalidate: flags.revalidate },
    tls: checked.ca === undefined ? undefined : { ca: checked.ca },
    allowH2: flags.http2,
    ...connections,
    ...toSessionOptions(flags),
    adaptive: flags.adaptive ? { max: connections.maxConnectionsPerHost } : undefined,
    retryAfter: Option.getOrUndefined(flags.retryAfter),
    maxBodyBytes: Option.getOrUndefined(flags.maxBody)
  }
}
