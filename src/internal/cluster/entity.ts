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

/**
 * One input of a job. The primary key makes a message sent twice (a
 * resubmitted job) one stored message.
 *
 * @internal
 */
export class FetchUrl extends Schema.Class<FetchUrl>("effect-gather/Cluster/FetchUrl")({
  job: Schema.String,
  index: Schema.Int,
  url: Schema.String
}) {
  [PrimaryKey.symbol](): string {
    return `${this.job}/${this.index}`
  }
}

/** @internal */
export const Origin = Entity.make("GatherOrigin", [
  Rpc.make("Fetch", { payload: FetchUrl })
]).annotateRpcs(ClusterSchema.Persisted, true)

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
