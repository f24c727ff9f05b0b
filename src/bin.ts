#!/usr/bin/env node
/**
 * The `gather` executable. Exit codes: 0 every input succeeded, 1 some
 * failed, 2 usage error, 130 interrupted, 141 stdout closed by its reader.
 *
 * @since 0.1.0
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Effect from "effect/Effect"
import { exitCodeOf, main } from "./cli/main.js"
import { guardStdio } from "./cli/output.js"

guardStdio()

main(process.argv).pipe(
  Effect.provide(NodeContext.layer),
  NodeRuntime.runMain({
    disableErrorReporting: true,
    teardown: (exit, onExit) => onExit(exitCodeOf(exit))
  })
)
