import { Effect } from "effect"
import { Fetch, FetchError, Gather } from "effect-gather"

/**
 * A watcher of one's own: the items started, the successes and the slowest
 * of them (ms), the failures by error tag. Plain functions over its own
 * state, called from each item's completion: quick, and never throwing.
 */
export const tally = () => {
  const failed: Record<string, number> = {}
  const seen = { started: 0, ok: 0, interrupted: 0, slowestMs: 0, failed }
  const watcher: Gather.Watcher = {
    onStart: () => {
      seen.started++
    },
    onSuccess: (_response, startedAt) => {
      seen.ok++
      seen.slowestMs = Math.max(seen.slowestMs, performance.now() - startedAt)
    },
    onFailure: (error) => {
      const tag = FetchError.isFetchError(error) ? error._tag : "other"
      failed[tag] = (failed[tag] ?? 0) + 1
    },
    onInterrupt: () => {
      seen.interrupted++
    }
  }
  return { seen, watcher }
}

/** Fetches every URL on the session in context; succeeds with what the watcher saw (a new tally per run). */
export const fetchAll = (urls: ReadonlyArray<string>) =>
  Effect.suspend(() => {
    const { seen, watcher } = tally()
    return Gather.settle(urls.map((url) => Fetch.get(url)), { concurrency: 16, watch: watcher }).pipe(Effect.as(seen))
  })
