/**
 * The embedded demo and fault server: an `@effect/platform` `HttpRouter` app
 * on a node `http.Server`, for examples, tests and benchmarks that must run
 * without the internet.
 *
 * Routes (every bad parameter answers 400 with `{"error": "..."}`, an unknown
 * route 404 with the same shape):
 *
 * - `GET /` → 302 to `/index`; `GET /index` → a static HTML file;
 *   `GET /empty` → 200, empty body; `GET /json/{name}?a=&b=` →
 *   `{"path_name_variable", "query_param_a", "query_param_b"}`.
 * - `GET /api/v2/pokemon/{1-151}` → PokéAPI-like `{id, name, height, weight,
 *   types: [{slot, type: {name, url}}]}` after the configured latency;
 *   non-numeric id → 400, out of range → 404 `{"error": "not found"}`.
 * - `GET /wiki/{1-9999}` → a few KB of HTML titled `{year} - Wikipedia`,
 *   after the configured latency.
 * - `/delay/{ms}` (0–60000), `/status/{code}` (200–599; no body for 204, 205,
 *   304), `/bytes/{n}` (0–256 MiB, byte i = i % 251, `?chunked=1` drops
 *   content-length), `/redirect/{n}` (0–100, `?status=301|302|303|307|308`,
 *   kept along the chain), `/redirect-loop`, `/redirect-to?url=&status=` (any method),
 *   `/headers`, `/hang` (never answers), `/reset` (promises 100000 bytes,
 *   sends 1000, destroys the socket), `/slow-body?chunks=10&interval=100`,
 *   `/retry-after/{s}?status=503|429&times=N&key=k&date=1`,
 *   `/flaky?p=0.5&seed=42`, `/capacity?k=20&ms=20&retryAfter=1&status=503|429`
 *   (a hidden capacity: more than `k` in flight get 503 + `Retry-After` at once),
 *   `/bad-json`, `/gzip`, and `/echo` (any method).

/**
 *   `/retry-after/{s}?status=503|429&times=N&key=k&date=1` (any method),
 *   `/flaky?p=0.5&seed=42`, `/bad-json`, `/gzip`, and `/echo` (any method;
 *   `{method, url, body, headers}`).
 * - `GET /cookies/set?name=value&raw=LINE&redirect=URL` sets `name=value;
 *   Path=/` per pair and each `raw` Set-Cookie line as it is (302 to
 *   `redirect` when given); `GET /cookies` → `{"cookies": {name: value}}`.
 *
 * All server-side waiting uses real timers, never Effect's `Clock`, so tests
 * running under `TestClock` do not freeze the server.
 *
 * @since 0.1.0
 */
import type * as HttpServerError from "@effect/platform/HttpServerError"
import type * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import { flakyFails as internalFlakyFails } from "./internal/demo/helpers.js"
import * as internal from "./internal/demo/server.js"

/**
 * How to run a demo server.
 *
 * @since 0.1.0
 * @category models
 */
export interface DemoServerOptions {
  /** TCP port to listen on. Default `0`: a free port chosen by the OS. */
  readonly port?: number | undefined
  /** Interface to bind. Default `"127.0.0.1"`. */
  readonly host?: string | undefined
  /**
   * Extra time before answering `/api/v2/pokemon/*` and `/wiki/*`, to imitate
   * a remote service. Default `0`. Waits on a real timer.
   */
  readonly latency?: Duration.DurationInput | undefined
  /**
   * Serve https: `true` makes a throwaway CA and a certificate for
   * `localhost`, `127.0.0.1`, `::1` and `host` (in memory, valid one day;
   * trust it with `Session.layer({ tls: { ca: server.ca } })`), or pass your
   * own certificate and key. Default `false` (plain http).
   */
  readonly tls?: boolean | { readonly cert: string; readonly key: string } | undefined
  /** Serve HTTP/2 (by ALPN, HTTP/1.1 still answered); implies `tls`. Default `false`. */
  readonly h2?: boolean | undefined
}

/**
 * Counters measured on the node `http.Server` itself, so they see what
 * really reached the socket.
 *
 * @since 0.1.0
 * @category models
 */
export interface DemoServerStats {
  /** Requests received since start or the last `resetStats`. */
  readonly requests: number
  /** Requests whose response has neither finished nor closed. */
  readonly inFlight: number
  /** Highest `inFlight` since start or the last `resetStats`. */
  readonly peakInFlight: number
  /**
   * Requests whose client disconnected before the response finished
   * (responses the server cuts on purpose, as `/reset` does, are not counted).
   */
  readonly aborted: number
  /** TCP sockets open right now. */
  readonly openConnections: number
  /** TCP sockets accepted since start or the last `resetStats`. */
  readonly connectionsOpened: number
  /** TLS handshakes completed since start or the last `resetStats` (0 over http). */
  readonly tlsHandshakes: number
}

/**
 * A running demo server.
 *
 * @since 0.1.0
 * @category models
 */
export interface DemoServer {
  /** Where it listens, without a trailing slash, e.g. `"http://127.0.0.1:40123"` (`https:` with `tls`). */
  readonly baseUrl: string
  /** The PEM of the throwaway CA that issued its certificate (`tls: true` only). */
  readonly ca: string | undefined
  /** The bound port. */
  readonly port: number
  /** A snapshot of the counters. */
  readonly stats: Effect.Effect<DemoServerStats>
  /**
   * Zeroes `requests`, `aborted`, `connectionsOpened` and `tlsHandshakes`, sets `peakInFlight`
   * to the current `inFlight` and forgets the received headers. The gauges
   * `inFlight` and `openConnections` keep their values.
   */
  readonly resetStats: Effect.Effect<void>
  /** Forgets the per-key attempt counters of `/retry-after` and `/flaky`. */
  readonly resetState: Effect.Effect<void>
  /**
   * The headers of every request received since start or the last
   * `resetStats` (lower-case names, repeated headers joined with `", "`),
   * oldest first; at most the last 10,000. For credential-leak tests.
   */
  readonly receivedHeaders: Effect.Effect<ReadonlyArray<Readonly<Record<string, string>>>>
}

/**
 * The service tag, key `"effect-gather/DemoServer"`.
 *
 * @since 0.1.0
 * @category models
 */
export const DemoServer: Context.Tag<DemoServer, DemoServer> = internal.tag

/**
 * Starts a server that lives as long as the scope. Several can run in one
 * scope (cross-origin tests need two). Closing the scope stops listening and
 * destroys every socket at once: it never waits for keep-alive clients or
 * requests left hanging.
 *
 * Fails with `ServeError` when the port cannot be bound.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (options?: DemoServerOptions) => Effect.Effect<DemoServer, HttpServerError.ServeError, Scope.Scope> = internal.make

/**
 * A layer running one server.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: (options?: DemoServerOptions) => Layer.Layer<DemoServer, HttpServerError.ServeError> = internal.layer

/**
 * A server on a free port of `127.0.0.1` with no latency.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerTest: Layer.Layer<DemoServer, HttpServerError.ServeError> = internal.layerTest

/**
 * Whether `/flaky?p={p}&seed={seed}` fails (503) the `k`-th request (from 1)
 * for that seed. Pure, so tests can predict the server's answers.
 *
 * @since 0.1.0
 * @category guards
 */
export const flakyFails: (p: number, seed: number, k: number) => boolean = internalFlakyFails
