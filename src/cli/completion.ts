/**
 * Being told when a gather's item completes, without taking it off the
 * Gather's fast path.
 *
 * `gather fetch` writes a record for every finished request, also when
 * Ctrl-C stops the run. A finished outcome can still be waiting in the
 * gather's reorder buffer (`--ordered`) or in its output queue when the
 * stream is interrupted, and an interrupted stream drops both; so each
 * outcome is also kept beside the stream, from its completion until the
 * consumer has written it. Composing that as an Effect around the fetch
 * (`Effect.tap`) would send every request down the Gather's fiber path (a
 * fiber step per request: about 3× the CPU per request, bench S4); the
 * Gather's `observe` keeps the hook on the fetch's own path, so the CLI
 * needs nothing of the engine's callback protocol.
 */
export type { Hook } from "../internal/gather/observe.js"
export { observe } from "../internal/gather/observe.js"
