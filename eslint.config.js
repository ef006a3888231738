// Lint: typescript-eslint's recommended rules on every TypeScript file, plus a few project rules.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["node_modules/", "dist/", "charts/portico/", "**/*.js", "!eslint.config.js"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/consistent-type-imports": "error",
      "no-console": ["error", { allow: ["error"] }],
    },
  },
  {
    // Scripts and e2e harness print to the terminal on purpose.
    files: ["e2e/**", "scripts/**"],
    rules: { "no-console": "off" },
  },
  {
    // Issue 12: every function readable in one sitting, and it stays that way.
    files: ["common/**", "operator/**", "proxy/**"],
    rules: { "max-lines-per-function": ["error", { max: 120, skipBlankLines: true, skipComments: true }] },
  },
);
