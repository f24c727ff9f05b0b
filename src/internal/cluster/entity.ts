/**
 * The one entity of a gather cluster: an origin. Every input URL is a
 * persisted message to the entity of its origin, so that origin's in-flight
 * limit (the entity's handler concurrency) and rate live on exactly one
 * runner at a time, whichever runner holds the origin's shard.
 */
import * as ClusterSchema from "@effect/cluster/ClusterSchema"
import * as Entity from "@effect/cluster/Entity"
import * as Rpc from "@effect/rpc/Rpc"
import * as PrimaryKey from "effect/PrimaryKey"
import * as Schema from "effect/Schema"

/** One input: its position in the job and the URL. @internal */
export const Input = Schema.Struct({ index: Schema.Int, url: Schema.String })

/**
 * A small batch of one origin's inputs of a job (one message per URL costs a
 * stored message, a notification and a stored reply each; a batch of 16 cuts
 * that sixteenfold). The primary key makes a batch sent twice (a resubmitted
 * job) one stored message.
 *
 * @internal
 */
export class FetchBatch extends Schema.Class<FetchBatch>("effect-gather/Cluster/FetchBatch")({
  job: Schema.String,
  batch: Schema.Int,
  inputs: Schema.Array(Input)
}) {
  [PrimaryKey.symbol](): string {
    return `${this.job}/${this.batch}`
  }
}

/** @internal */
export const Origin = Entity.make("GatherOrigin", [
  Rpc.make("Fetch", { payload: FetchBatch })
]).annotateRpcs(ClusterSchema.Persisted, true)

/**
 * The job's inputs as batches: grouped by origin in input order, then cut
 * into runs of `size`. Pure and deterministic, so a resubmitted job yields
 * the same batches (and the same primary keys). A streamed job is cut into
 * parts of a fixed number of lines first, each batched on its own.
 *
 * @internal
 */
export const batches = (
  urls: Iterable<string>,
  size: number,
  /** The index of the first URL and the number of the first batch (a part of a streamed job). */
  first: { readonly index: number; readonly batch: number } = { index: 0, batch: 0 }
): Array<{ readonly origin: string; readonly batch: number; readonly inputs: Array<typeof Input.Type> }> => {
  const byOrigin = new Map<string, Array<typeof Input.Type>>()
  let index = first.index
  for (const url of urls) {
    const origin = originOf(url)
    let group = byOrigin.get(origin)
    if (group === undefined) byOrigin.set(origin, group = [])
    group.push({ index: index++, url })
  }
  const out: Array<{ readonly origin: string; readonly batch: number; readonly inputs: Array<typeof Input.Type> }> = []
  for (const [origin, inputs] of byOrigin) {
    for (let i = 0; i < inputs.length; i += size) {
      out.push({ origin, batch: first.batch + out.length, inputs: inputs.slice(i, i + size) })
    }
  }
  return out
}

/**
 * The entity id of a URL: its origin (scheme, host, port; never user info,
 * path or query, so no credentials end up in the cluster's address columns).
 * Inputs that are not URLs share one entity, whose fetch fails with the
 * library's `InvalidUrl` error.
 *
 * @internal
 */
export const originOf = (url: string): string => {
  try {
    const origin = new URL(url).origin
    return origin === "null" ? "invalid" : origin
  } catch {
    return "invalid"
  }
}
