/**
 * The parts of undici the engine uses, loaded one by one.
 *
 * `undici`'s entry loads all of undici (fetch, WebSocket, its cache, mock
 * agents, EventSource: 110 modules), where a session uses six classes from
 * 28 of them: the whole entry costs 21 MB of RSS at start, these parts 12
 * (node 20, measured with `process.memoryUsage().rss` after the require).
 * undici's package has no `exports` map, so its files are its published
 * layout; test/imports.test.ts checks that each part here is the very class
 * the entry exports, so a release that moves one fails there, loudly.
 */
import { createRequire } from "node:module"
import type * as Undici from "undici"

const load = createRequire(import.meta.url)

/** undici's `Agent` (`lib/dispatcher/agent.js`). */
export const Agent: typeof Undici.Agent = load("undici/lib/dispatcher/agent.js")
/** undici's `Pool` (`lib/dispatcher/pool.js`). */
export const Pool: typeof Undici.Pool = load("undici/lib/dispatcher/pool.js")
/** undici's `Client` (`lib/dispatcher/client.js`). */
export const Client: typeof Undici.Client = load("undici/lib/dispatcher/client.js")
/** undici's `ProxyAgent` (`lib/dispatcher/proxy-agent.js`). */
export const ProxyAgent: typeof Undici.ProxyAgent = load("undici/lib/dispatcher/proxy-agent.js")
/** undici's `EnvHttpProxyAgent` (`lib/dispatcher/env-http-proxy-agent.js`). */
export const EnvHttpProxyAgent: typeof Undici.EnvHttpProxyAgent = load("undici/lib/dispatcher/env-http-proxy-agent.js")
/** undici's `buildConnector` (`lib/core/connect.js`). */
export const buildConnector: typeof Undici.buildConnector = load("undici/lib/core/connect.js")
