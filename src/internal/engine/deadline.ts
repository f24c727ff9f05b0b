/**
 * The deadline a Gather sets for every effect inside it (Clock ms), read by
 * each Fetch (the earlier of it and the session's `total` applies). Made
 * through `globalValue` so two copies of this module share one FiberRef.
 */
import * as FiberRef from "effect/FiberRef"
import { globalValue } from "effect/GlobalValue"

export const currentDeadline: FiberRef.FiberRef<number | undefined> = globalValue(
  Symbol.for("effect-gather/currentDeadline"),
  () => FiberRef.unsafeMake<number | undefined>(undefined)
)
