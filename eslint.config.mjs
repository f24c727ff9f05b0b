/**
 * The linter (`npm run lint`): ESLint's and typescript-eslint's recommended
 * rules with the Effect repository's adjustments. Formatting is checked
 * apart, by `eslint.format.config.mjs` (`npm run format:check`).
 */
import * as effect from "@effect/eslint-plugin"
import js from "@eslint/js"
import tseslint from "typescript-eslint"
import { files, ignores, parser } from "./eslint.shared.mjs"

export default tseslint.config(
  ignores,
  { files, ...js.configs.recommended },
  ...tseslint.configs.recommended.map((config) => ({ files, ...config })),
  parser,
  {
    files,
    plugins: { "@effect": effect },
    rules: {
      // TypeScript checks names (and the .mjs scripts run on Node, with its globals).
      "no-undef": "off",
      "no-fallthrough": "off",
      "no-irregular-whitespace": "off",
      "object-shorthand": "error",
      "prefer-rest-params": "off",
      "prefer-spread": "off",
      "no-unused-vars": "off",
      "no-restricted-syntax": ["error", {
        selector: "CallExpression[callee.property.name='push'] > SpreadElement.arguments",
        message: "Do not use spread arguments in Array.push"
      }],
      "@typescript-eslint/array-type": ["error", { default: "generic", readonly: "generic" }],
      "@typescript-eslint/consistent-type-imports": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/no-non-null-assertion": "off",
      "@typescript-eslint/no-empty-object-type": "off",
      "@typescript-eslint/no-namespace": "off",
      "@typescript-eslint/ban-ts-comment": "off",
      "@typescript-eslint/no-unsafe-declaration-merging": "off"
    }
  },
  {
    // The library loads modules by path (`effect/Effect`), never a barrel:
    // an app importing effect-gather does not pay for all of `effect`.
    files: ["src/**/*.ts"],
    rules: {
      "@effect/no-import-from-barrel-package": ["error", { packageNames: ["effect", "@effect/platform", "@effect/platform-node", "@effect/cli"] }]
    }
  },
  {
    files: ["src/**/*.ts"],
    ignores: ["src/cli/**", "src/bin.ts"],
    rules: { "no-console": "error" }
  }
)
