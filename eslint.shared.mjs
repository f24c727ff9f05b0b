/**
 * What the lint and format configs share: the files, the TypeScript parser,
 * and the dprint settings (the Effect repository's, at this repo's line width).
 */
import tseslint from "typescript-eslint"

export const files = ["**/*.ts", "**/*.mts", "**/*.mjs"]

export const ignores = {
  ignores: [
    "**/dist/**",
    "bench/.build/**",
    "test/artifacts/**",
    ".doc-examples/**",
    "**/node_modules/**",
    "**/*.md",
    "bench/RESULTS.md",
    ".vitest-report.json"
  ]
}

export const parser = {
  files,
  languageOptions: { parser: tseslint.parser, ecmaVersion: 2022, sourceType: "module" }
}

/** The dprint TypeScript plugin's options, as `@effect/dprint` passes them on. */
export const dprintConfig = {
  indentWidth: 2,
  lineWidth: 160,
  semiColons: "asi",
  quoteStyle: "alwaysDouble",
  trailingCommas: "never",
  operatorPosition: "maintain",
  "arrowFunction.useParentheses": "force"
}
