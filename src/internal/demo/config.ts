/** The demo server's options, resolved, and the bounds its routes accept. */
import * as Duration from "effect/Duration"
import type * as api from "../../DemoServer.js"
import { localCertificates } from "./tls.js"

// ---------------------------------------------------------------------------
// options
// ---------------------------------------------------------------------------

/** @internal */
export const defaults = {
  port: 0,
  host: "127.0.0.1",
  latency: Duration.zero
} as const

export interface Config {
  readonly port: number
  readonly host: string
  readonly latencyMillis: number
  /** The certificate to serve and the CA that issued it; undefined for plain http. */
  readonly tls: { readonly cert: string; readonly key: string; readonly ca: string | undefined } | undefined
  readonly h2: boolean
}

export const normalize = (options: api.DemoServerOptions | undefined): Config => {
  const h2 = options?.h2 ?? false
  const tls = options?.tls ?? h2
  return {
    port: options?.port ?? defaults.port,
    host: options?.host ?? defaults.host,
    latencyMillis: Math.max(0, Duration.toMillis(Duration.decode(options?.latency ?? defaults.latency))),
    // `true`: a throwaway CA and a certificate for localhost, 127.0.0.1 and ::1
    tls: tls === false ? undefined : tls === true ? localCertificates([options?.host ?? defaults.host]) : { ca: undefined, ...tls },
    h2
  }
}

// ---------------------------------------------------------------------------
// limits
// ---------------------------------------------------------------------------

/** @internal */
export const limits = {
  maxDelayMillis: 60_000,
  maxBytes: 256 * 1024 * 1024,
  maxRedirects: 100,
  maxSlowChunks: 10_000,
  maxSlowIntervalMillis: 60_000,
  maxRetryAfterSeconds: 2_147_483,
  maxCapacity: 100_000,
  maxReceivedHeaders: 10_000,
  maxKeys: 100_000
} as const

export const redirectCodes: ReadonlySet<number> = new Set([301, 302, 303, 307, 308])
export const retryCodes: ReadonlySet<number> = new Set([429, 503])
export const noBodyCodes: ReadonlySet<number> = new Set([204, 205, 304])
