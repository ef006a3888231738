import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import type { Workspace, WorkspaceClass } from "../crds/types.ts";
import {
  CLASSES_DIR,
  demoClass,
  demoObjects,
  NO_TRUST_PROMPT,
  readDocs,
  WORKSPACES_FILE,
} from "./demo-objects.ts";

const URL_ = "http://198.18.0.20:8080/sample.git";
const chartClass = (name: string) => readDocs<WorkspaceClass>(join(CLASSES_DIR, `${name}.yaml`))[0]!;

test("the demo's VS Code opens the clone, not the volume's root, and skips the trust prompt", () => {
  const chart = chartClass("vscode");
  const before = structuredClone(chart);
  const args = demoClass(chart, URL_).spec.args!;
  assert.ok(args.includes("/home/coder/sample"), args.join(" "));
  assert.ok(!args.includes("/home/coder"), "the volume's root is no longer opened");
  assert.ok(args.includes(NO_TRUST_PROMPT));
  assert.deepEqual(chart, before, "the chart's class is left alone");
});

test("every demo class may clone over plain http (the demo's local server)", () => {
  for (const f of readdirSync(CLASSES_DIR).filter((n) => n.endsWith(".yaml"))) {
    const cls = readDocs<WorkspaceClass>(join(CLASSES_DIR, f))[0]!;
    assert.deepEqual(demoClass(cls, URL_).spec.git?.allowedProtocols, ["http"], f);
  }
});

test("a code-server class that does not open its home fails loudly, naming what to update", () => {
  const cls = chartClass("vscode");
  cls.spec.args = ["--auth=none"];
  assert.throws(() => demoClass(cls, URL_), /scripts\/demo-objects\.ts/);
});

test("both sample workspaces clone the sample repository", () => {
  const list = demoObjects([], readDocs<Workspace>(WORKSPACES_FILE), URL_);
  const ws = list.items as Workspace[];
  assert.deepEqual(
    ws.map((w) => [w.metadata.name, w.spec.repository?.url]),
    [
      ["demo", URL_],
      ["code", URL_],
    ],
  );
});

test("the sample project's notebook is a notebook that uses the project's module", () => {
  const dir = fileURLToPath(new URL("demo-sample/", import.meta.url));
  const nb = JSON.parse(readFileSync(join(dir, "explore.ipynb"), "utf8")) as {
    nbformat: number;
    cells: { cell_type: string; source: string }[];
  };
  assert.equal(nb.nbformat, 4);
  const code = nb.cells.filter((c) => c.cell_type === "code").map((c) => c.source);
  assert.ok(code.some((s) => s.includes("from primes import")));
  assert.match(readFileSync(join(dir, "primes.py"), "utf8"), /^def primes_below\(/m);
});
