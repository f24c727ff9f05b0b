/**
 * `gather cluster runner|submit|results|status|prune`: the sharded, durable gather
 * of `effect-gather/Cluster` from the command line. The cluster code is
 * loaded with `import()` when one of these commands runs, so `gather fetch`
 * never loads `@effect/cluster` or a SQL driver.
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Config from "effect/Config"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import type * as Cluster from "../Cluster.js"
import * as Report from "../Report.js"
import type * as Session from "../Session.js"
import { defaultTopOrigins, renderJobs, renderProgress as renderStatusProgress } from "./clusterStatus.js"
import { describe, RunFailed, UsageError } from "./errors.js"
import { helpDoc, validated } from "./help.js"
import * as Input from "./input.js"
import * as Output from "./output.js"
import { durationFlag } from "./parse.js"
import { renderProgress } from "./progress.js"
import { concurrencyOption, sessionOptions, toSessionOptions } from "./sessionOptions.js"

const loadCluster = Effect.promise(() => import("../Cluster.js"))

const storageOption = Options.text("storage").pipe(
  Options.withPseudoName("sqlite:FILE|postgres://..."),
  Options.withDescription(
    "Where the cluster keeps messages, locks and results (default: the GATHER_STORAGE environment variable, else sqlite:gather-jobs.db). Give a URL with a password in GATHER_STORAGE: other users of the machine can read a process's arguments."
  ),
  // The environment, not the command line, for a URL with a password (`ps` shows arguments).
  Options.withFallbackConfig(Config.string("GATHER_STORAGE")),
  Options.withDefault("sqlite:gather-jobs.db")
)

const positive = (name: string) => (n: number) => Number.isInteger(n) && n > 0 ? Either.right(n) : Either.left(`--${name} must be a positive integer, got ${n}`)

const quiet = Options.boolean("quiet").pipe(Options.withAlias("q"), Options.withDescription("No progress on stderr."))

/** Cluster logs (warnings and worse) go to stderr: stdout carries data. */
const quietLogs = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  effect.pipe(
    Effect.provide(Logger.replace(Logger.defaultLogger, Logger.prettyLogger({ stderr: true, colors: false }))),
    Logger.withMinimumLogLevel(LogLevel.Warning)
  )

const withStorage = <A>(spec: string, f: (cluster: typeof Cluster, storage: Cluster.Storage) => Effect.Effect<A, RunFailed | UsageError>) =>
  Effect.flatMap(loadCluster, (cluster) =>
    Either.match(cluster.parseStorage(spec), {
      onLeft: (error) => Effect.fail(new UsageError({ message: `--storage: ${error.message}` })),
      onRight: (storage) => f(cluster, storage)
    }))

/** A job that is not there is the user's mistake (exit 2); anything else, a failed run. */
const cliError = (what: string) => (error: unknown): RunFailed | UsageError =>
  error instanceof RunFailed || error instanceof UsageError
    ? error
    : typeof error === "object" && error !== null && "_tag" in error && error._tag === "JobError"
    ? new UsageError({ message: describe(error) })
    : failed(what)(error)

/**
 * A client command: `body` gets the job client of the storage; its failures
 * are named after `name`, and the cluster's logs go to stderr.
 */
const withClient = <A, E>(
  spec: string,
  name: string,
  body: (client: Cluster.Client) => Effect.Effect<A, E>
): Effect.Effect<A, RunFailed | UsageError> =>
  withStorage(spec, (cluster, storage) =>
    Effect.flatMap(cluster.Client, body).pipe(
      Effect.provide(cluster.layerClient({ storage })),
      Effect.mapError(cliError(name)),
      quietLogs
    ))

/** A progress line on stderr (when `show`), redrawn at most every 200 ms unless `force`d. */
const throttledLine = (show: boolean) => {
  const line = Output.statusLine()
  let last = 0
  return {
    draw: (text: () => string, force = false): void => {
      const now = Date.now()
      if (!show || (!force && now - last <= 200)) return
      last = now
      line.draw(text())
    },
    clear: (): void => line.clear()
  }
}

const failed = (what: string) => (error: unknown) => new RunFailed({ message: `${what}: ${describe(error)}` })

// --- runner ------------------------------------------------------------------

const runnerOptions = {
  storage: storageOption,
  host: Options.text("host").pipe(
    Options.withPseudoName("HOST"),
    Options.withDescription("The address other runners and clients reach this runner at (default 127.0.0.1)."),
    Options.withDefault("127.0.0.1")
  ),
  port: Options.integer("port").pipe(
    Options.withPseudoName("PORT"),
    Options.withDescription("The runner's TCP port (default 34431)."),
    validated(positive("port")),
    Options.withDefault(34431)
  ),
  listen: Options.text("listen").pipe(
    Options.withPseudoName("HOST"),
    Options.withDescription("Interface to listen on, e.g. 0.0.0.0 (default: --host)."),
    Options.optional
  ),
  perOrigin: Options.integer("per-origin").pipe(
    Options.withPseudoName("N"),
    Options.withDescription("Requests in flight per origin for the whole cluster; the same on every runner (default 4)."),
    validated(positive("per-origin")),
    Options.withDefault(4)
  ),
  concurrency: concurrencyOption({
    what: "Requests this runner has in flight at once, over all its origins; each runner adds its own",
    default: 64,
    check: positive
  }),
  ...sessionOptions,
  statsEvery: Options.text("stats-every").pipe(
    Options.withPseudoName("DURATION"),
    Options.withDescription("How often to print the runner's counts on stderr (default 5s; --quiet: never)."),
    validated(durationFlag("stats-every")),
    Options.withDefault(Duration.seconds(5))
  ),
  quiet
}

type RunnerConfig = Command.Command.ParseConfig<typeof runnerOptions>

const runRunner = (config: RunnerConfig) =>
  withStorage(config.storage, (cluster, storage) => {
    const session: Session.Options = toSessionOptions(config)
    const layer = cluster.layerRunner({
      storage,
      host: config.host,
      port: config.port,
      listenHost: Option.getOrUndefined(config.listen),
      perOrigin: config.perOrigin,
      concurrency: config.concurrency,
      session
    })
    return Effect.gen(function*() {
      const runner = yield* cluster.Runner
      yield* Output.stdout.write(
        `gather cluster runner ${runner.address} ready (storage ${
          cluster.describeStorage(storage)
        }, ${config.perOrigin} per origin, ${config.concurrency} in flight)\n`
      )
      const report = Effect.flatMap(runner.stats, (stats) =>
        Output.stderr(
          `runner ${runner.address}: ${stats.fetched} fetched, ${stats.inFlight} in flight, ${stats.pending} not yet stored\n`
        ))
      if (!config.quiet) yield* Effect.forkScoped(Effect.repeat(report, Schedule.spaced(config.statsEvery)))
      return yield* Effect.never.pipe(Effect.onInterrupt(() => config.quiet ? Effect.void : report))
    }).pipe(
      Effect.provide(layer),
      Effect.mapError(failed(`runner on ${config.host}:${config.port}`)),
      Effect.scoped,
      quietLogs
    )
  })

const runner = Command.make("runner", runnerOptions, runRunner).pipe(
  Command.withDescription(helpDoc({
    summary: "Join a cluster as a runner: take a share of the origins and fetch their URLs, until interrupted.",
    details: [
      "Every runner of a cluster names the same --storage. A SQLite file serves the runners of one machine; use Postgres for several machines."
    ],
    examples: [
      "gather cluster runner --storage sqlite:jobs.db --port 34431",
      "gather cluster runner --storage postgres://gather@db:5432/gather --host 10.0.0.5 --listen 0.0.0.0"
    ]
  }))
)

// --- submit ------------------------------------------------------------------

const submitOptions = {
  storage: storageOption,
  job: Options.text("job").pipe(
    Options.withPseudoName("ID"),
    Options.withDescription("The job id (default: a new one). Submitting the same file under the same id again stores nothing twice."),
    Options.optional
  ),
  quiet,
  file: Args.file({ name: "urls.txt" }).pipe(Args.withDescription("URLs, one per line ('-' for stdin)"))
}

const runSubmit = (config: Command.Command.ParseConfig<typeof submitOptions>) =>
  withClient(config.storage, "submit", (client) =>
    Effect.gen(function*() {
      yield* Input.checkReadable(config.file)
      const line = throttledLine(!config.quiet && Output.stderrIsTTY())
      const started = Date.now()
      // The file is streamed into storage in parts, never read whole.
      const job = yield* client.submit(Stream.map(Input.inputs(config.file), (input) => input.text), {
        job: Option.getOrUndefined(config.job),
        onProgress: (sent) => line.draw(() => `submitted ${sent}  ${Math.round((sent * 1000) / Math.max(1, Date.now() - started))}/s`)
      }).pipe(Effect.ensuring(Effect.sync(line.clear)))
      yield* Output.stdout.write(`${job}\n`)
    }))

const submit = Command.make("submit", submitOptions, runSubmit).pipe(
  Command.withDescription(helpDoc({
    summary: "Submit a file of URLs as a job; prints the job id.",
    examples: ["gather cluster submit urls.txt --storage sqlite:jobs.db"]
  }))
)

// --- results -----------------------------------------------------------------

const resultsOptions = {
  storage: storageOption,
  noWait: Options.boolean("no-wait").pipe(Options.withDescription("Write what is stored now and stop (default: follow until every URL has a result).")),
  report: Options.text("report").pipe(
    Options.withPseudoName("FILE"),
    Options.withDescription(
      "Also write the run report of gather fetch --report to this HTML file, from the timings stored with the results (once the results are written)."
    ),
    Options.optional
  ),
  quiet,
  job: Args.text({ name: "JOB" }).pipe(Args.withDescription("The job id printed by submit"))
}

const runResults = (config: Command.Command.ParseConfig<typeof resultsOptions>) =>
  withClient(config.storage, "results", (client) =>
    Effect.gen(function*() {
      const status = yield* client.status(config.job)
      const line = throttledLine(!config.quiet && Output.stderrIsTTY())
      const started = Date.now()
      let done = 0
      let ok = 0
      yield* client.results(config.job, { follow: !config.noWait }).pipe(
        Stream.runForEach((result) =>
          Effect.suspend(() => {
            done++
            if (result.ok) ok++
            line.draw(() =>
              renderProgress({
                done,
                total: status.total,
                ok,
                failed: done - ok,
                inFlight: 0,
                elapsedMs: Date.now() - started
              }, Output.stderrColumns())
            )
            return Output.stdout.write(`${result.record}\n`)
          })
        ),
        Effect.ensuring(Effect.sync(line.clear))
      )
      if (!config.quiet) {
        yield* Output.stderr(`job ${config.job}: ${done}/${status.total} results written\n`)
      }
      if (Option.isSome(config.report)) {
        const tracker = yield* client.report(config.job, { title: `gather cluster results ${config.job}` })
        const written = yield* Report.write(tracker, config.report.value).pipe(
          Effect.mapError((error) => new RunFailed({ message: error.message }))
        )
        if (!config.quiet) yield* Output.stderr(`report: ${written}\n`)
      }
    }))

const results = Command.make("results", resultsOptions, runResults).pipe(
  Command.withDescription(helpDoc({
    summary: "Write a job's stored results as NDJSON (the records of gather fetch), following it until every URL has one.",
    examples: [
      "gather cluster results job-1a2b3c4d --storage sqlite:jobs.db > out.ndjson",
      "gather cluster results job-1a2b3c4d --storage sqlite:jobs.db --report run.html > out.ndjson"
    ]
  }))
)

// --- status ------------------------------------------------------------------

const statusOptions = {
  storage: storageOption,
  json: Options.boolean("json").pipe(
    Options.withDescription("One JSON line per job (every field of the status, per runner and per origin) instead of the table.")
  ),
  top: Options.integer("top").pipe(
    Options.withPseudoName("N"),
    Options.withDescription(`Origins shown, most pending first (default ${defaultTopOrigins}; --json has them all).`),
    validated(positive("top")),
    Options.withDefault(defaultTopOrigins)
  ),
  job: Args.text({ name: "JOB" }).pipe(Args.withDescription("A job id; all jobs when left out"), Args.optional)
}

const runStatus = (config: Command.Command.ParseConfig<typeof statusOptions>) =>
  withClient(config.storage, "status", (client) =>
    Effect.gen(function*() {
      // One job: with what each runner and origin stored, has in flight, and the rate of the last 10 s.
      if (Option.isSome(config.job)) {
        const progress = yield* client.progress(config.job.value)
        const text = config.json
          ? JSON.stringify({ ...progress, createdAt: progress.createdAt.toISOString() })
          : renderStatusProgress(progress, config.top).join("\n")
        return yield* Output.stdout.write(`${text}\n`)
      }
      const jobs = yield* client.jobs
      if (!config.json) return yield* Output.stdout.write(`${renderJobs(jobs).join("\n")}\n`)
      for (const status of jobs) {
        yield* Output.stdout.write(`${JSON.stringify({ ...status, createdAt: status.createdAt.toISOString() })}\n`)
      }
    }))

const status = Command.make("status", statusOptions, runStatus).pipe(
  Command.withDescription(helpDoc({
    summary:
      "Print where a job (or every job) stands; for one job also per runner and per origin (most pending first): done, failed, in flight, pending, URLs/s over the last 10 s, and the ETA.",
    details: ["--json prints one JSON line per job instead, with every origin."],
    examples: ["gather cluster status --storage sqlite:jobs.db", "gather cluster status job-1a2b3c4d --json --storage sqlite:jobs.db"]
  }))
)

// --- prune -------------------------------------------------------------------

const pruneOptions = {
  storage: storageOption,
  job: Args.text({ name: "JOB" }).pipe(Args.withDescription("The job to delete"))
}

const runPrune = (config: Command.Command.ParseConfig<typeof pruneOptions>) =>
  withClient(
    config.storage,
    "prune",
    (client) => Effect.flatMap(client.prune(config.job), (results) => Output.stdout.write(`job ${config.job}: deleted with its ${results} results\n`))
  )

const prune = Command.make("prune", pruneOptions, runPrune).pipe(
  Command.withDescription(helpDoc({
    summary: "Delete a job and its stored results (run results first if you need them).",
    examples: ["gather cluster prune job-1a2b3c4d --storage sqlite:jobs.db"]
  }))
)

export const command = Command.make("cluster", {}, () => Effect.fail(new UsageError({ message: "missing command: runner, submit, results, status or prune" })))
  .pipe(
    Command.withDescription(helpDoc({
      summary: "A sharded, durable gather over several processes or machines (effect-gather/Cluster).",
      examples: [
        "gather cluster runner --storage sqlite:jobs.db --port 34431 &",
        "gather cluster runner --storage sqlite:jobs.db --port 34432 &",
        "JOB=$(gather cluster submit urls.txt --storage sqlite:jobs.db)",
        "gather cluster results $JOB --storage sqlite:jobs.db > out.ndjson"
      ]
    })),
    Command.withSubcommands([runner, submit, results, status, prune])
  )
