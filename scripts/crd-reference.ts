/**
 * The CRD reference (docs/crd-reference.md), generated from the CRD YAML in crds/ — the one source of
 * truth for the API — so the reference cannot drift from what the API server enforces.
 *
 *   node scripts/crd-reference.ts           writes docs/crd-reference.md
 *   node scripts/crd-reference.ts --check   exits 1 (naming this command) when the file is stale
 *
 * `renderCrdReference` is pure (parsed CRDs in, Markdown out; no clock, no environment), so the same
 * CRDs always give the same bytes; reading crds/ and writing docs/ happen only in `main`.
 * Options for tests: `--crds=DIR` and `--out=FILE` (defaults: crds/ and docs/crd-reference.md).
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";
import type { CRD, CRDVersion, JSONSchemaProps, PrinterColumn, ValidationRule } from "../crds/schema.ts";
import { code, runGenerator, text } from "./generated-doc.ts";

/** The command that regenerates the reference; named in the file's header and in `--check`'s message. */
export const COMMAND = "node scripts/crd-reference.ts";

const REPO = fileURLToPath(new URL("..", import.meta.url));
/** Default input directory and output file. */
export const CRD_DIR = join(REPO, "crds");
export const OUTPUT = join(REPO, "docs", "crd-reference.md");

// ---------------------------------------------------------------------------------------------------------
// Rendering (pure)

/** One row of a field table. */
interface FieldRow {
  path: string;
  node: JSONSchemaProps;
  required: boolean;
}

/** One CEL rule and the field it sits on. */
interface RuleRow {
  path: string;
  rule: ValidationRule;
}

/**
 * The Markdown reference for `crds` (parsed CustomResourceDefinitions). Deterministic: CRDs are sorted
 * by name, fields and rules follow the schema's own order, and nothing depends on time or place.
 */
export function renderCrdReference(crds: object[]): string {
  const list = (crds as CRD[])
    .filter((c) => c && c.kind === "CustomResourceDefinition")
    .sort((a, b) => cmp(a.metadata.name, b.metadata.name));
  const out: string[] = [
    "<!-- Generated from crds/*.yaml by `" + COMMAND + "`. Do not edit: change the CRD and run it again. -->",
    "",
    "# CRD reference",
    "",
    "Generated from the CustomResourceDefinitions in `crds/` (the source of truth for the API) by",
    "`" + COMMAND + "`; do not edit by hand. `" + COMMAND + " --check` fails when this file is stale.",
    "",
    "Field paths use `[]` for any item of a list and `{}` for any value of a map, for example",
    "`spec.rules[].backends[].weight`. *Required* means the field must be set whenever its parent is.",
    "CEL rules (`x-kubernetes-validations`) are evaluated by the API server on the field they sit on",
    "(`self`); a rule that uses `oldSelf` is a transition rule and is checked on updates only.",
    "",
  ];
  for (const crd of list) out.push(`- [${crd.spec.names.kind}](#${anchor(crd.spec.names.kind)})`);
  out.push("");
  for (const crd of list) out.push(...renderCrd(crd));
  return (
    out
      .join("\n")
      .replace(/\n{3,}/g, "\n\n")
      .replace(/\n*$/, "") + "\n"
  );
}

function renderCrd(crd: CRD): string[] {
  const { group, scope, names } = crd.spec;
  const versions = crd.spec.versions ?? [];
  const out = [
    `## ${names.kind}`,
    "",
    "| | |",
    "| --- | --- |",
    `| group | \`${group}\` |`,
    `| versions | ${versions.map(versionLabel).join(", ")} |`,
    `| kind | \`${names.kind}\` (list: \`${names.listKind ?? `${names.kind}List`}\`) |`,
    `| CRD name | \`${crd.metadata.name}\` |`,
    `| scope | ${scope} |`,
    `| plural / singular | \`${names.plural}\` / \`${names.singular ?? names.kind.toLowerCase()}\` |`,
    `| short names | ${codeList(names.shortNames)} |`,
    `| categories | ${codeList(names.categories)} |`,
    "",
  ];
  for (const v of versions) {
    if (versions.length > 1) out.push(`### ${names.kind} ${v.name}`, "");
    out.push(...renderVersion(crd, v, versions.length > 1 ? "####" : "###"));
  }
  return out;
}

function versionLabel(v: CRDVersion): string {
  const flags = [v.served ? "served" : "not served", ...(v.storage ? ["storage"] : [])];
  return `\`${v.name}\` (${flags.join(", ")})`;
}

function renderVersion(crd: CRD, v: CRDVersion, h: string): string[] {
  const root = v.schema?.openAPIV3Schema ?? {};
  const apiVersion = `${crd.spec.group}/${v.name}`;
  const out: string[] = [];
  if (root.description) out.push(text(root.description), "");
  out.push(`\`apiVersion: ${apiVersion}\`, \`kind: ${crd.spec.names.kind}\``, "");

  const sub = v.subresources ?? {};
  const subs = Object.keys(sub).sort();
  out.push(
    `${h} Subresources`,
    "",
    subs.length
      ? subs
          .map((s) =>
            s === "status"
              ? "- `status`: `.status` is written only through `/status`; a change to it does not bump `metadata.generation`."
              : `- \`${s}\`: \`${JSON.stringify(sub[s as keyof typeof sub])}\``,
          )
          .join("\n")
      : "None.",
    "",
  );

  const cols = v.additionalPrinterColumns ?? [];
  out.push(`${h} Printer columns`, "");
  if (cols.length) {
    out.push(
      "Shown by `kubectl get`; columns with priority above 0 only with `-o wide`.",
      "",
      "| column | type | JSON path | priority | description |",
      "| --- | --- | --- | --- | --- |",
      ...cols.map(printerRow),
      "",
    );
  } else out.push("None (`kubectl get` shows name and age).", "");

  const rules: RuleRow[] = [];
  for (const top of ["spec", "status"]) {
    const node = root.properties?.[top];
    out.push(`${h} \`${top}\``, "");
    if (!node) {
      out.push(`No \`${top}\`.`, "");
      continue;
    }
    const rows: FieldRow[] = [];
    collect(node, top, (root.required ?? []).includes(top), rows, rules);
    out.push(
      "| field | type | required | default | limits | description |",
      "| --- | --- | --- | --- | --- | --- |",
      ...rows.map(fieldRow),
      "",
    );
  }
  // Rules on the root object itself (or on apiVersion/kind/metadata) are collected too.
  const elsewhere: RuleRow[] = [];
  for (const r of root["x-kubernetes-validations"] ?? []) elsewhere.push({ path: "(object)", rule: r });
  for (const [key, node] of Object.entries(root.properties ?? {})) {
    if (key === "spec" || key === "status") continue;
    collect(node, key, false, [], elsewhere);
  }
  const allRules = [...elsewhere, ...rules];
  out.push(`${h} Validation rules (CEL)`, "");
  if (allRules.length) {
    out.push(
      "| field | rule | message | reported as |",
      "| --- | --- | --- | --- |",
      ...allRules.map(ruleRow),
      "",
    );
  } else out.push("None.", "");
  return out;
}

/** Every node below `node` (itself first), in schema order: properties, list items, map values. */
function collect(node: JSONSchemaProps, path: string, required: boolean, rows: FieldRow[], rules: RuleRow[]) {
  rows.push({ path, node, required });
  for (const r of node["x-kubernetes-validations"] ?? []) rules.push({ path, rule: r });
  const req = node.required ?? [];
  for (const [key, child] of Object.entries(node.properties ?? {}))
    collect(child, `${path}.${key}`, req.includes(key), rows, rules);
  if (node.items) collect(node.items, `${path}[]`, false, rows, rules);
  if (typeof node.additionalProperties === "object")
    collect(node.additionalProperties, `${path}{}`, false, rows, rules);
}

function printerRow(c: PrinterColumn): string {
  const type = c.format ? `${c.type} (${c.format})` : c.type;
  return `| ${c.name} | ${type} | ${code(c.jsonPath)} | ${c.priority ?? 0} | ${text(c.description ?? "")} |`;
}

function fieldRow(r: FieldRow): string {
  const n = r.node;
  const def = n.default === undefined ? "" : code(JSON.stringify(n.default));
  return `| ${code(r.path)} | ${typeOf(n)} | ${r.required ? "yes" : ""} | ${def} | ${limits(n).join("<br>")} | ${text(n.description ?? "")} |`;
}

function ruleRow(r: RuleRow): string {
  const { rule } = r;
  const message = [
    rule.message ? text(rule.message) : "",
    rule.messageExpression ? `message expression: ${code(rule.messageExpression)}` : "",
  ]
    .filter(Boolean)
    .join("<br>");
  const reported = [
    rule.fieldPath ? `field ${code(r.path + rule.fieldPath)}` : "",
    rule.reason ? `reason \`${rule.reason}\`` : "",
    /\boldSelf\b/.test(rule.rule)
      ? rule.optionalOldSelf
        ? "transition rule (optionalOldSelf)"
        : "on update only"
      : "",
  ]
    .filter(Boolean)
    .join("<br>");
  return `| ${code(r.path)} | ${code(rule.rule)} | ${message} | ${reported} |`;
}

/** The field's type: lists as `[]T`, maps as `map[string]T`, int-or-string and formats spelled out. */
function typeOf(n: JSONSchemaProps): string {
  if (n["x-kubernetes-int-or-string"]) return "integer or string";
  if (n.anyOf?.length) return n.anyOf.map(typeOf).join(" or ");
  const format = n.format ? ` (${n.format})` : "";
  if (n.type === "array") return `[]${n.items ? typeOf(n.items) : "?"}`;
  if (n.type === "object" && typeof n.additionalProperties === "object")
    return `map[string]${typeOf(n.additionalProperties)}`;
  if (n.type === "object" && n["x-kubernetes-preserve-unknown-fields"]) return "object (any fields)";
  return `${n.type ?? "any"}${format}`;
}

/** Every limit the API server enforces on the field itself (CEL rules are listed apart). */
function limits(n: JSONSchemaProps): string[] {
  const out: string[] = [];
  const range = (what: string, min?: number, max?: number) => {
    if (min !== undefined && max !== undefined) out.push(`${what} ${min}–${max}`);
    else if (min !== undefined) out.push(`${what} ≥ ${min}`);
    else if (max !== undefined) out.push(`${what} ≤ ${max}`);
  };
  if (n.enum)
    out.push(`one of ${n.enum.map((e) => code(typeof e === "string" ? e : JSON.stringify(e))).join(", ")}`);
  if (n.pattern) out.push(`pattern ${code(n.pattern)}`);
  range("length", n.minLength, n.maxLength);
  range("value", n.minimum, n.maximum);
  range("items", n.minItems, n.maxItems);
  range("fields", n.minProperties, n.maxProperties);
  const listType = n["x-kubernetes-list-type"];
  if (listType === "map") out.push(`list map keyed by ${codeList(n["x-kubernetes-list-map-keys"])}`);
  else if (listType === "set") out.push("list of unique values (set)");
  if (n["x-kubernetes-preserve-unknown-fields"]) out.push("unknown fields kept");
  if (n["x-kubernetes-validations"]?.length) {
    const k = n["x-kubernetes-validations"].length;
    out.push(`${k} CEL rule${k === 1 ? "" : "s"}`);
  }
  return out;
}

function codeList(items: readonly string[] | undefined): string {
  return items?.length ? items.map((i) => code(i)).join(", ") : "none";
}

/** GitHub's heading anchor for a plain word. */
function anchor(s: string): string {
  return s
    .toLowerCase()
    .replace(/[^a-z0-9 -]/g, "")
    .replace(/ /g, "-");
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

// ---------------------------------------------------------------------------------------------------------
// The edge: files in, file out

/** Every CustomResourceDefinition in the `*.yaml` files of `dir` (not its subdirectories), by file name. */
export function readCrds(dir: string = CRD_DIR): object[] {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith(".yaml") || f.endsWith(".yml"))
    .sort();
  const crds: object[] = [];
  for (const f of files)
    for (const doc of parseAllDocuments(readFileSync(join(dir, f), "utf8"))) {
      const obj = doc.toJS() as { kind?: string } | null;
      if (obj?.kind === "CustomResourceDefinition") crds.push(obj);
    }
  return crds;
}

/** Writes the reference, or with `--check` reports whether it is current. Returns the exit status. */
export function main(argv: readonly string[]): number {
  return runGenerator(
    {
      command: COMMAND,
      output: OUTPUT,
      options: ["crds"],
      staleBecause: "crds/ changed since it was generated",
      render: (opt) => renderCrdReference(readCrds(opt("crds") ?? CRD_DIR)),
    },
    argv,
  );
}

if (import.meta.main) process.exitCode = main(process.argv.slice(2));
