/**
 * A run report: an HTML page to look at after a gather. Where the time went
 * (queued, connecting, TLS, waiting for the first byte, reading), whether
 * the concurrency limit paced the run, which origin was slow, when the
 * retries and the failures happened.
 *
 * A tracker is handed to a gather as `report` (like `Progress`), or
 * provided once with {@link layer}, which every gather inside picks up and
 * which writes the page when its scope closes. Memory is bounded: every
 * request is kept up to `limit`, then a uniform sample of `limit` rows, while
 * counts, percentiles and the timeline go on covering every request; the
 * page says when it shows a sample. {@link html} renders one self-contained
 * file (inline CSS, script and data; no network, opens from `file://`);
 * URLs are redacted.
 *
 * The page learns most from gathered effects that return the
 * `FetchResponse` (or fail with a `FetchError`): they carry the phase
 * timings. Other effects are timed from the outside.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as fs from "node:fs"
 * import { Fetch, Gather, Report } from "effect-gather"
 *
 * const program = Effect.gen(function*() {
 *   const report = yield* Report.make()
 *   yield* Gather.settle([1, 2, 3].map((id) => Fetch.get(`/api/v2/pokemon/${id}`)), { report })
 *   fs.writeFileSync("run.html", yield* Report.html(report))
 * })
 * ```
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import * as Layer from "effect/Layer"
import * as fs from "node:fs/promises"
import * as path from "node:path"
import type * as Gather from "./Gather.js"
import { reportKey } from "./internal/gather/work.js"
import { render } from "./internal/report/html.js"
import { defaultLimit, Recorder } from "./internal/report/recorder.js"
import * as internal from "./internal/report/track.js"

/**
 * @since 0.1.0
 * @category models
 */
export const TypeId: typeof internal.TypeId = internal.TypeId

/**
 * @since 0.1.0
 * @category models
 */
export type TypeId = typeof TypeId

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Requests kept row by row; beyond it, a uniform sample of this many. Default `100000`. */
  readonly limit?: number | undefined
  /** The page's title. Default `"effect-gather run report"`. */
  readonly title?: string | undefined
  /**
   * The concurrency limit to draw, for effects recorded with {@link track}
   * (a gather given this tracker tells its own). Default none.
   */
  readonly concurrency?: number | undefined
}

/**
 * A report tracker; pass it to a gather as `report`, or provide it with
 * {@link layer}. One tracker can watch several gathers. It is a
 * `Gather.Watcher` (told of each item, and of each gather's concurrency
 * limit); what it recorded is read by {@link html} and {@link write}, which
 * take only trackers {@link make} made.
 *
 * @since 0.1.0
 * @category models
 */
export interface Tracker extends Gather.Watcher {
  readonly [TypeId]: TypeId
  /** The page's title (`Options.title`). */
  readonly title: string | undefined
}

/**
 * The tracker gathers report to when none is passed to them. Gather finds
 * it by its key (it reads it as the `Gather.Watcher` it is), so Gather
 * needs nothing of this module.
 *
 * @since 0.1.0
 * @category models
 */
export class Report extends Context.Tag(reportKey)<Report, Tracker>() {}

/**
 * Writing the page failed.
 *
 * @since 0.1.0
 * @category errors
 */
export class ReportError extends Data.TaggedError("ReportError")<{
  readonly path: string
  readonly cause: unknown
}> {
  /** @since 0.1.0 */
  override get message(): string {
    return `cannot write the report to ${this.path}: ${this.cause instanceof Error ? this.cause.message : String(this.cause)}`
  }
}

/**
 * A new tracker, its time axis starting now. Dies with a `RangeError` if
 * `limit` is not a whole number ≥ 1.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options?: Options): Effect.Effect<Tracker> =>
  Effect.sync(() => {
    const recorder = new Recorder(options?.limit ?? defaultLimit)
    if (options?.concurrency !== undefined) recorder.gather(options.concurrency)
    return new internal.ReportTracker(recorder, options?.title)
  })

/**
 * Records one effect (a fetch, usually) to the tracker: for requests made
 * outside a gather, or inside one that maps the response away before the
 * gather could see it. Do not also pass the tracker to that gather, or each
 * request counts twice.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Fetch, Report } from "effect-gather"
 *
 * const program = Effect.gen(function*() {
 *   const report = yield* Report.make()
 *   const size = yield* Fetch.get("/bytes/100").pipe(Report.track(report), Effect.map((r) => r.bytes))
 * })
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const track: {
  (tracker: Tracker): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, tracker: Tracker): Effect.Effect<A, E, R>
} = dual(
  2,
  <A, E, R>(self: Effect.Effect<A, E, R>, tracker: Tracker): Effect.Effect<A, E, R> => internal.tracked(self, tracker)
)

/**
 * The page as one HTML string, from what the tracker has seen so far.
 *
 * @since 0.1.0
 * @category constructors
 */
export const html = (tracker: Tracker): Effect.Effect<string> =>
  Effect.sync(() => render(internal.recorderOf(tracker), performance.now(), { title: tracker.title }))

/**
 * Writes the page to `file` and succeeds with its absolute path.
 *
 * @since 0.1.0
 * @category constructors
 */
export const write = (tracker: Tracker, file: string): Effect.Effect<string, ReportError> =>
  Effect.flatMap(html(tracker), (page) => {
    const absolute = path.resolve(file)
    return Effect.as(
      Effect.tryPromise({
        try: () => fs.writeFile(absolute, page),
        catch: (cause) => new ReportError({ path: absolute, cause })
      }),
      absolute
    )
  })

/**
 * Provides a tracker that every gather inside reports to, and writes the
 * page to `file` when the layer's scope closes (a failure to write is
 * logged, not raised).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (file: string, options?: Options): Layer.Layer<Report> =>
  Layer.scoped(
    Report,
    Effect.tap(make(options), (tracker) =>
      Effect.addFinalizer(() =>
        write(tracker, file).pipe(
          Effect.flatMap((absolute) => Effect.logInfo(`run report written to ${absolute}`)),
          Effect.catchAll((error) => Effect.logWarning(error.message))
        )
      ))
  )
