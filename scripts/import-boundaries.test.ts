import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";
import { importsOf, violationsOf } from "./import-boundaries.ts";

const repo = path.resolve(import.meta.dirname, "..");

describe("the import checker", () => {
  test("reads static, type-only, re-exported and dynamic imports, with their lines", () => {
    const src = [
      'import { a } from "../operator/a.ts";',
      'import type { B } from "./b.ts";',
      'export { c } from "../../proxy/c.ts";',
      "const d = await import('../operator/d.ts');",
      'import fs from "node:fs";',
    ].join("\n");
    assert.deepEqual(importsOf(src), [
      { specifier: "../operator/a.ts", line: 1 },
      { specifier: "./b.ts", line: 2 },
      { specifier: "../../proxy/c.ts", line: 3 },
      { specifier: "../operator/d.ts", line: 4 },
    ]);
  });

  test("the proxy reaching into the operator is a violation; into common/ or crds/ is not", () => {
    const src = [
      'import { createLogger } from "../../operator/log.ts";',
      'import { childNames } from "../../common/model/workspace/names.ts";',
      'import type { Workspace } from "../../crds/types.ts";',
      'import { x } from "./sibling.ts";',
    ].join("\n");
    assert.deepEqual(violationsOf("proxy/http/request.ts", src), [
      { file: "proxy/http/request.ts", line: 1, specifier: "../../operator/log.ts", target: "operator" },
    ]);
  });

  test("the operator reaching into the proxy, and common/ into either component, are violations", () => {
    assert.equal(violationsOf("operator/main.ts", 'export * from "../proxy/server.ts";').length, 1);
    assert.equal(violationsOf("common/runtime/log.ts", 'import "../../operator/config.ts";').length, 1);
    assert.equal(violationsOf("common/model/cidr.ts", 'import "../../proxy/config.ts";').length, 1);
    assert.equal(violationsOf("crds/types.ts", 'import "../common/runtime/log.ts";').length, 1);
  });

  test("a test may use the harness (e2e/, scripts/) but still not the other component", () => {
    assert.deepEqual(violationsOf("operator/x.test.ts", 'import "../e2e/fixtures/git-http.ts";'), []);
    assert.equal(violationsOf("operator/x.ts", 'import "../e2e/fixtures/git-http.ts";').length, 1);
    assert.equal(violationsOf("proxy/x.test.ts", 'import "../operator/engine/queue.ts";').length, 1);
  });

  test("files outside the ruled folders may import anything", () => {
    assert.deepEqual(violationsOf("e2e/lib/proxy.ts", 'import "../../proxy/server.ts";'), []);
  });
});

test("no file in the repository crosses a folder boundary (operator ↮ proxy; common/ imports neither)", () => {
  const files = execFileSync(
    "git",
    ["ls-files", "--cached", "--others", "--exclude-standard", "--", "*.ts"],
    {
      cwd: repo,
      encoding: "utf8",
    },
  )
    .split("\n")
    .filter((f) => /^(operator|proxy|common|crds)\//.test(f));
  assert.ok(files.some((f) => f.startsWith("proxy/")) && files.some((f) => f.startsWith("operator/")));
  const violations = files.flatMap((f) => violationsOf(f, readFileSync(path.join(repo, f), "utf8")));
  assert.deepEqual(
    violations.map((v) => `${v.file}:${v.line} imports ${v.specifier} (${v.target})`),
    [],
    "move what both components need to common/ (see docs/architecture.md)",
  );
});
