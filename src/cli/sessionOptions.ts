/**
 * The session flags that `gather fetch` and `gather cluster runner` share
 * (`--rate`, `--timeout`, `--retries`), declared once and mapped once to
 * `Session.Options`, so both commands parse and refuse them alike.
 */
import * as Options from "@effect/cli/Options"
import type * as Duration from "effect/Duration"
import * as Option from "effect/Option"
import type * as Session from "../Session.js"
import { nonNegative, validated } from "./help.js"
import { limitFlag, rateFlag } from "./parse.js"
import type { Rate } from "./parse.js"

/** The shared flags, as `@effect/cli` options (spread into a command's own). */
export const sessionOptions = {
  rate: Options.text("rate").pipe(
    Options.withPseudoName("RATE"),
    Options.withDescription("Requests started per host, e.g. 20/s, 600/m, 5/100ms."),
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
export interface SessionFlags {
  readonly rate: Option.Option<Rate>
  readonly timeout: Option.Option<Duration.Duration | false>
  readonly retries: Option.Option<number>
}

/** The part of `Session.Options` the shared flags set (absent flags leave the library's defaults). */
export const toSessionOptions = (flags: SessionFlags): Pick<Session.Options, "ratePerHost" | "timeout" | "retry"> => ({
  ratePerHost: Option.getOrUndefined(flags.rate),
  timeout: Option.match(flags.timeout, { onNone: () => undefined, onSome: (total) => ({ total }) }),
  retry: Option.match(flags.retries, { onNone: () => undefined, onSome: (n) => (n === 0 ? false : n) })
})
