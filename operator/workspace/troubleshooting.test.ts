/**
 * docs/troubleshooting.md must explain every status reason the operator can write on a Workspace, every
 * condition type, every phase and every event reason. The reasons are read from the operator's own
 * source (operator/workspace/*.ts, tests excluded), so a new reason without an entry in the guide fails
 * here. An entry is a heading, or the first cell of a table row, naming the reason in a code span.
 *
 * What the source is scanned for:
 * - `yes("Reason", …)` / `no("Reason", …)`: every string literal in the first argument but those compared
 *   with, so both branches of a ternary (`no(p === "Lost" ? "PVCLost" : …)`) count and `"Lost"` does not;
 *   a template literal `` `PVC${phase}` `` is a family, written `PVC{phase}`;
 * - `reason: "Reason"` in object literals;
 * - `new Set([...])` lists whose entries are all CamelCase string literals (the reason sets);
 * - `stamp("Type", …)`: condition types; `event(ws, "Normal" | "Warning", "Reason", …)`: event reasons.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { loadCrd, CRD_FILES, versionSchema } from "../../crds/schema.ts";

const HERE = fileURLToPath(new URL(".", import.meta.url));
const GUIDE = fileURLToPath(new URL("../../docs/troubleshooting.md", import.meta.url));

/** What the operator can write, as found in its source. */
interface Vocabulary {
  /** Condition reasons; families from template literals are written `Prefix{name}`. */
  reasons: Set<string>;
  conditions: Set<string>;
  events: Set<string>;
}

const CAMEL = /^[A-Z][A-Za-z0-9]*$/;

/** The text of a call's first argument, from just after `(` to the first top-level comma or `)`. */
function firstArgument(src: string, open: number): string {
  let depth = 0;
  let quote: string | undefined;
  for (let i = open; i < src.length; i++) {
    const c = src[i]!;
    if (quote) {
      if (c === "\\") i++;
      else if (c === quote) quote = undefined;
      continue;
    }
    if (c === '"' || c === "'" || c === "`") quote = c;
    else if (c === "(" || c === "[" || c === "{") depth++;
    else if (c === ")" || c === "]" || c === "}") {
      if (depth === 0) return src.slice(open, i);
      depth--;
    } else if (c === "," && depth === 0) return src.slice(open, i);
  }
  return src.slice(open);
}

/** Scans TypeScript sources (file name → text) for the reasons, condition types and event reasons they write. */
function extractVocabulary(sources: ReadonlyMap<string, string>): Vocabulary {
  const v: Vocabulary = { reasons: new Set(), conditions: new Set(), events: new Set() };
  for (const src of sources.values()) {
    for (const m of src.matchAll(/\b(?:yes|no)\(/g)) {
      const arg = firstArgument(src, m.index + m[0].length);
      for (const s of arg.matchAll(/"([^"\\]*)"/g)) {
        // A literal compared with (`phase === "Lost" ? …`) is a condition, not a reason written.
        const before = arg.slice(0, s.index);
        const after = arg.slice(s.index + s[0].length);
        if (/[=!]==?\s*$/.test(before) || /^\s*[=!]==?/.test(after)) continue;
        if (CAMEL.test(s[1]!)) v.reasons.add(s[1]!);
      }
      for (const t of arg.matchAll(/`([A-Z][A-Za-z0-9]*)\$\{\s*([\w.]+)\s*\}`/g))
        v.reasons.add(`${t[1]}{${t[2]!.split(".").at(-1)}}`);
    }
    for (const m of src.matchAll(/\breason:\s*"([^"\\]*)"/g)) if (CAMEL.test(m[1]!)) v.reasons.add(m[1]!);
    for (const m of src.matchAll(/new Set(?:<[^>]*>)?\(\[([^\]]*)\]\)/g)) {
      const entries = m[1]!
        .split(",")
        .map((e) => e.trim())
        .filter((e) => e && !e.startsWith("..."));
      const literals = entries.map((e) => /^"([^"]*)"$/.exec(e)?.[1]);
      if (literals.length && literals.every((l) => l !== undefined && CAMEL.test(l)))
        for (const l of literals) v.reasons.add(l!);
    }
    for (const m of src.matchAll(/\bstamp\(\s*"([^"]+)"/g)) v.conditions.add(m[1]!);
    for (const m of src.matchAll(/\bevent\(\s*[\w.]+,\s*"(?:Normal|Warning)",\s*"([^"]+)"/g))
      v.events.add(m[1]!);
  }
  return v;
}

/** The operator's workspace sources, tests left out. */
function operatorSources(): Map<string, string> {
  const files = readdirSync(HERE)
    .filter((f) => f.endsWith(".ts") && !f.endsWith(".test.ts"))
    .sort();
  return new Map(files.map((f) => [f, readFileSync(HERE + f, "utf8")]));
}

/** Code spans in the guide's headings and in the first cell of its table rows. */
function guideEntries(markdown: string): Set<string> {
  const out = new Set<string>();
  for (const line of markdown.split("\n")) {
    let place: string | undefined;
    if (/^#{1,6} /.test(line)) place = line;
    else if (line.startsWith("|") && !/^\|[\s|:-]*$/.test(line)) place = line.split("|")[1];
    if (!place) continue;
    for (const m of place.matchAll(/`([^`]+)`/g)) out.add(m[1]!);
  }
  return out;
}

/** Headings of the guide, without their `#`s. */
const headings = (markdown: string): string[] =>
  markdown
    .split("\n")
    .filter((l) => /^#{1,6} /.test(l))
    .map((l) => l.replace(/^#+ /, ""));

describe("the reason extractor", () => {
  it("finds each pattern the operator uses, and nothing else", () => {
    const src = [
      'const a = no("NotCreated", `claim ${x} "Quoted" missing`);',
      'const b = yes("Bound", "bound");',
      'return no(phase === "Lost" ? "PVCLost" : `PVC${o.phase}`, "gone");',
      'return { r: yes(p === "Stopping" ? "Stopping" : ready.reason, m), s: no("Lost" !== p ? "Gone" : x, m) };',
      "return no(waiting.reason, `${waiting.message}`);",
      'const c = { status: "False", reason: "Stalled", message: "stuck" };',
      'export const SOME: ReadonlySet<string> = new Set(["ErrImagePull", "ImagePullBackOff"]);',
      'const mixed = new Set(["PORTICO_OWNER", "ok"]);',
      'const spread = new Set([...SOME, "Stopped"]);',
      'stamp("Ready", ready), stamp( "Reconciling", r);',
      'await d.api.event(\n  ws,\n  "Normal",\n  "Rolling",\n  "replacing");',
    ].join("\n");
    const v = extractVocabulary(new Map([["x.ts", src]]));
    assert.deepEqual(
      [...v.reasons].sort(),
      [
        "Bound",
        "ErrImagePull",
        "ImagePullBackOff",
        "NotCreated",
        "PVC{phase}",
        "PVCLost",
        "Stalled",
        "Stopped",
        "Stopping",
        "Gone",
      ].sort(),
    );
    assert.deepEqual([...v.conditions], ["Ready", "Reconciling"]);
    assert.deepEqual([...v.events], ["Rolling"]);
  });

  it("reads entries only from headings and first table cells", () => {
    const md = [
      "## `Ready` condition",
      "| `A` / `B` | text with `NotAnEntry` |",
      "| --- | --- |",
      "Prose mentions `AlsoNot`.",
    ].join("\n");
    assert.deepEqual([...guideEntries(md)].sort(), ["A", "B", "Ready"]);
  });
});

describe("docs/troubleshooting.md", () => {
  const vocabulary = extractVocabulary(operatorSources());
  const guide = readFileSync(GUIDE, "utf8");
  const entries = guideEntries(guide);

  it("the scan finds a sensible vocabulary (so this test cannot pass by finding nothing)", () => {
    assert.ok(
      vocabulary.reasons.size >= 20,
      `only ${vocabulary.reasons.size} reasons: ${[...vocabulary.reasons]}`,
    );
    for (const r of [
      "Bound",
      "NotCreated",
      "PVCPending",
      "PVCLost",
      "ClassNotFound",
      "SecretNotFound",
      "ImagePullBackOff",
      "CrashLoopBackOff",
      "InitContainerFailed",
      "Stopped",
      "Rolling",
      "ServiceNotCreated",
      "Routed",
      "Ready",
    ])
      assert.ok(vocabulary.reasons.has(r), `the scan missed ${r}: the extractor no longer matches status.ts`);
    for (const c of ["Ready", "StorageReady", "PodReady", "Routed"])
      assert.ok(vocabulary.conditions.has(c), `the scan missed condition ${c}`);
    for (const e of ["Starting", "Stopping", "Rolling", "Ready"])
      assert.ok(vocabulary.events.has(e), `the scan missed event ${e}`);
  });

  it("has an entry for every condition reason the operator can write", () => {
    const missing = [...vocabulary.reasons].filter((r) => !entries.has(r)).sort();
    assert.deepEqual(
      missing,
      [],
      `docs/troubleshooting.md has no heading or table row for: ${missing.join(", ")} (add what it means and what to do)`,
    );
  });

  it("has a section for every condition type", () => {
    const hs = headings(guide);
    const missing = [...vocabulary.conditions].filter(
      (c) => !hs.some((h) => new RegExp(`^\`${c}\`( |$)`).test(h)),
    );
    assert.deepEqual(missing, [], `no section headed \`Type\` for: ${missing.join(", ")}`);
  });

  it("has an entry for every event reason and every phase", () => {
    const phases = versionSchema(loadCrd(CRD_FILES.workspaces), "v1alpha1").properties!.status!.properties!
      .phase!.enum as string[];
    assert.ok(phases.length >= 6);
    const missing = [...vocabulary.events, ...phases].filter((x) => !entries.has(x));
    assert.deepEqual(missing, [], `docs/troubleshooting.md has no entry for: ${missing.join(", ")}`);
  });
});
