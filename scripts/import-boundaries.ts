/**
 * The import rule between the project's folders (docs/architecture.md):
 *
 * - `operator/` and `proxy/` are components: each may import `crds/`, `common/` and itself, never the other.
 * - `common/` is the shared home: it may import `crds/` and itself, never a component.
 * - `crds/` is the API: it imports nothing of the project but itself.
 * - Tests may also use the test harness (`e2e/`, `scripts/`), still never the other component.
 *
 * Imports are read with TypeScript's own pre-processor (static imports, `export … from`, dynamic
 * `import()` and `require()`), so a re-export or a lazy import cannot slip past a regular expression.
 */
import path from "node:path";
import ts from "typescript";

/** Which top-level folders each folder may import from (itself always included). */
export const ALLOWED: Readonly<Record<string, readonly string[]>> = Object.freeze({
  crds: ["crds"],
  common: ["common", "crds"],
  operator: ["operator", "common", "crds"],
  proxy: ["proxy", "common", "crds"],
});

/** Folders a test file may use besides its folder's own list: the harness, never a component. */
export const TEST_HARNESS: readonly string[] = Object.freeze(["e2e", "scripts"]);

/** One import that crosses a boundary it may not. */
export interface Violation {
  file: string;
  line: number;
  specifier: string;
  /** The top-level folder the import lands in. */
  target: string;
}

/** The top-level folder of a repository-relative path (`proxy/http/x.ts` → `proxy`). */
export function topFolder(relPath: string): string {
  return relPath.split(/[\\/]/)[0] ?? "";
}

/** The relative module specifiers a TypeScript source imports, with their 1-based lines. */
export function importsOf(source: string): { specifier: string; line: number }[] {
  const info = ts.preProcessFile(source, true, true);
  return info.importedFiles
    .filter((f) => f.fileName.startsWith("."))
    .map((f) => ({
      specifier: f.fileName,
      line: source.slice(0, f.pos).split("\n").length,
    }));
}

/**
 * Every import of `file` (repository-relative) that leaves the folders its own folder may use.
 * Files outside the ruled folders (e2e/, scripts/, charts/) may import anything.
 */
export function violationsOf(file: string, source: string): Violation[] {
  const own = ALLOWED[topFolder(file)];
  if (!own) return [];
  const allowed = file.endsWith(".test.ts") ? [...own, ...TEST_HARNESS] : own;
  const out: Violation[] = [];
  for (const { specifier, line } of importsOf(source)) {
    const resolved = path.posix.normalize(path.posix.join(path.posix.dirname(file), specifier));
    const target = resolved.startsWith("../") ? "(outside the repository)" : topFolder(resolved);
    if (!allowed.includes(target)) out.push({ file, line, specifier, target });
  }
  return out;
}
