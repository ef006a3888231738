/**
 * docs/crd-reference.md is generated from crds/*.yaml by scripts/crd-reference.ts. These tests prove the
 * committed file is what the generator makes of the CRDs now, and that the renderer really reflects the
 * CRDs (a new field, rule, default or enum value shows up in the expected row), so the staleness check
 * can fail.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { COMMAND, OUTPUT, readCrds, renderCrdReference } from "../scripts/crd-reference.ts";
import { forEachNode, versionSchema, type CRD, type JSONSchemaProps } from "./schema.ts";

const crds = () => readCrds() as CRD[];
const byKind = (list: CRD[], kind: string): CRD => {
  const c = list.find((x) => x.spec.names.kind === kind);
  assert.ok(c, `no CRD of kind ${kind} in crds/`);
  return c;
};
const specOf = (crd: CRD): JSONSchemaProps => versionSchema(crd, "v1alpha1").properties!.spec!;
/** The table rows of the rendered reference whose first cell is `path` in a code span. */
const rowsFor = (doc: string, path: string): string[] =>
  doc.split("\n").filter((l) => l.startsWith(`| \`${path}\` |`));

describe("docs/crd-reference.md", () => {
  it("is what the generator makes of crds/ now", () => {
    const committed = readFileSync(OUTPUT, "utf8");
    const fresh = renderCrdReference(crds());
    assert.ok(
      committed === fresh,
      `docs/crd-reference.md is stale (crds/ changed since it was generated): run \`${COMMAND}\` and commit the result`,
    );
  });

  it("has a row for every field of spec and status and every CEL rule of every CRD", () => {
    const list = crds();
    assert.equal(list.length, 3, "expected the three Portico CRDs in crds/");
    const doc = renderCrdReference(list);
    let fields = 0;
    let rules = 0;
    for (const crd of list) {
      const root = versionSchema(crd, "v1alpha1");
      for (const top of ["spec", "status"]) {
        forEachNode(root.properties![top]!, (node, rel) => {
          const path = rel ? `${top}${rel.startsWith("[") || rel.startsWith("{") ? "" : "."}${rel}` : top;
          fields++;
          assert.ok(doc.includes(`| \`${path}\` | `), `${crd.spec.names.kind}: no row for ${path}`);
          for (const r of node["x-kubernetes-validations"] ?? []) {
            rules++;
            assert.ok(
              doc.includes(r.rule.replace(/\s+/g, " ").trim().replace(/\|/g, "\\|")),
              `${crd.spec.names.kind}: rule on ${path} missing: ${r.rule}`,
            );
          }
        });
      }
    }
    assert.ok(fields > 100, `only ${fields} fields walked`);
    assert.ok(rules > 20, `only ${rules} CEL rules walked`);
  });

  it("is deterministic: same bytes whatever the input order, no timestamps", () => {
    const list = crds();
    const a = renderCrdReference(list);
    assert.equal(renderCrdReference([...list].reverse()), a);
    assert.equal(renderCrdReference(structuredClone(list)), a);
    assert.doesNotMatch(a, /\b20\d\d-\d\d-\d\d/, "a date in the output would make it change every run");
    assert.match(a, new RegExp(`Generated .*${COMMAND.replace(/[.]/g, "\\.")}`));
  });

  it("names group, version, kind, scope, short names, categories, printer columns and subresources", () => {
    const doc = renderCrdReference(crds());
    for (const line of [
      "| group | `portico.dev` |",
      "| versions | `v1alpha1` (served, storage) |",
      "| kind | `Workspace` (list: `WorkspaceList`) |",
      "| scope | Cluster |",
      "| short names | `ws` |",
      "| short names | `wsc` |",
      "| categories | `portico` |",
      '| Ready | string | `.status.conditions[?(@.type=="Ready")].status` | 0 | Whether the IDE answers and is routed. |',
      "- `status`: `.status` is written only through `/status`",
    ])
      assert.ok(doc.includes(line), `missing: ${line}`);
  });
});

describe("renderCrdReference reflects changes to the CRDs", () => {
  it("a new field shows as a row with its type, required flag, default, limits and description", () => {
    const list = structuredClone(crds());
    const spec = specOf(byKind(list, "Workspace"));
    spec.properties!.storage!.properties!.tier = {
      type: "string",
      description: "Storage tier to use.",
      enum: ["fast", "cheap"],
      default: "cheap",
      maxLength: 8,
    };
    spec.properties!.storage!.required = ["tier"];
    const before = renderCrdReference(crds());
    const after = renderCrdReference(list);
    assert.notEqual(after, before);
    assert.deepEqual(rowsFor(before, "spec.storage.tier"), []);
    assert.deepEqual(rowsFor(after, "spec.storage.tier"), [
      '| `spec.storage.tier` | string | yes | `"cheap"` | one of `fast`, `cheap`<br>length ≤ 8 | Storage tier to use. |',
    ]);
    // The committed file would now be stale: that is what the first test catches.
    assert.notEqual(after, readFileSync(OUTPUT, "utf8"));
  });

  it("a new CEL rule shows in the rules table with the field it sits on, its message and field path", () => {
    const list = structuredClone(crds());
    const ide = specOf(byKind(list, "Workspace")).properties!.ide!;
    ide["x-kubernetes-validations"] = [
      {
        rule: "self != 'emacs' || true",
        message: "no emacs | ever",
        fieldPath: ".x",
        reason: "FieldValueInvalid",
      },
    ];
    const after = renderCrdReference(list);
    assert.deepEqual(
      rowsFor(after, "spec.ide").filter((l) => l.includes("emacs")),
      [
        "| `spec.ide` | `self != 'emacs' \\|\\| true` | no emacs \\| ever | field `spec.ide.x`<br>reason `FieldValueInvalid` |",
      ],
    );
    assert.match(rowsFor(after, "spec.ide")[0]!, /<br>1 CEL rule \|/);
  });

  it("changed defaults, enums and printer columns change their rows", () => {
    const list = structuredClone(crds());
    const ws = byKind(list, "Workspace");
    const storage = specOf(ws).properties!.storage!;
    storage.properties!.reclaimPolicy!.default = "Delete";
    storage.properties!.scope!.enum = ["workspace", "user", "namespace"];
    ws.spec.versions[0]!.additionalPrinterColumns!.push({
      name: "Idle",
      type: "string",
      jsonPath: ".spec.idleTimeout",
      priority: 1,
    });
    const after = renderCrdReference(list);
    assert.match(
      rowsFor(after, "spec.storage.reclaimPolicy")[0]!,
      /\| `"Delete"` \| one of `Retain`, `Delete` \|/,
    );
    assert.match(rowsFor(after, "spec.storage.scope")[0]!, /one of `workspace`, `user`, `namespace`/);
    assert.ok(after.includes("| Idle | string | `.spec.idleTimeout` | 1 |  |"));
  });

  it("list items, maps and int-or-string get their own notation", () => {
    const doc = renderCrdReference(crds());
    assert.match(
      rowsFor(doc, "spec.sharedWith.users")[0]!,
      /\| \[\]string \|.*list of unique values \(set\)/,
    );
    assert.match(rowsFor(doc, "spec.resources.requests")[0]!, /\| map\[string\]integer or string \|/);
    assert.match(rowsFor(doc, "spec.resources.requests{}")[0]!, /\| integer or string \|.*value ≥ 0/);
    assert.match(rowsFor(doc, "status.conditions")[0]!, /list map keyed by `type`/);
    assert.match(rowsFor(doc, "status.observedGeneration")[0]!, /\| integer \(int64\) \|/);
  });
});

describe(`${COMMAND} --check`, () => {
  const script = fileURLToPath(new URL("../scripts/crd-reference.ts", import.meta.url));
  const run = (...args: string[]) =>
    spawnSync(process.execPath, [script, ...args], { encoding: "utf8", timeout: 30_000 });

  it("exits 0 on a current file and 1, naming the command, on a stale or missing one", () => {
    const dir = mkdtempSync(join(tmpdir(), "crd-reference-"));
    try {
      const out = join(dir, "ref.md");
      writeFileSync(out, renderCrdReference(crds()));
      assert.equal(run("--check", `--out=${out}`).status, 0);

      writeFileSync(out, readFileSync(out, "utf8").replace("| scope | Namespaced |", "| scope | Cluster |"));
      const stale = run("--check", `--out=${out}`);
      assert.equal(stale.status, 1);
      assert.match(stale.stderr, /is stale/);
      assert.ok(stale.stderr.includes(`run \`${COMMAND}\``), stale.stderr);

      const missing = run("--check", `--out=${join(dir, "none.md")}`);
      assert.equal(missing.status, 1);
      assert.match(missing.stderr, /is missing/);

      assert.equal(run(`--out=${out}`).status, 0, "writing");
      assert.equal(readFileSync(out, "utf8"), renderCrdReference(crds()));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
