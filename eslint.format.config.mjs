/**
 * The formatter alone: dprint's TypeScript plugin (WebAssembly shipped in
 * the `@dprint/typescript` npm package, so it works offline) run through
 * `@effect/eslint-plugin`'s `@effect/dprint` rule, as the Effect repository
 * does. `npm run format` rewrites, `npm run format:check` reports.
 */
import * as effect from "@effect/eslint-plugin"
import { dprintConfig, files, ignores, parser } from "./eslint.shared.mjs"

export default [
  ignores,
  parser,
  {
    files,
    plugins: { "@effect": effect },
    linterOptions: { reportUnusedDisableDirectives: "off" },
    rules: { "@effect/dprint": ["error", { config: dprintConfig }] }
  }
]
