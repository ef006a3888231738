/**
 * The Helm values reference (docs/configuration.md), generated from the chart's values.schema.json (types,
 * allowed values, descriptions: what `helm install` enforces) and values.yaml (the defaults), so the
 * reference cannot drift from the chart.
 *
 *   node scripts/values-reference.ts           writes docs/configuration.md
 *   node scripts/values-reference.ts --check   exits 1 (naming this command) when the file is stale
 *
 * `renderValuesReference` is pure (parsed schema and values in, Markdown out; no clock, no environment);
 * reading the chart and writing docs/ happen only in `main`.
 * Options for tests: `--chart=DIR` and `--out=FILE` (defaults: charts/portico and docs/configuration.md).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import { code, runGenerator, text } from "./generated-doc.ts";

/** The command that regenerates the reference; named in the file's header and in `--check`'s message. */
export const COMMAND = "node scripts/values-reference.ts";

const REPO = fileURLToPath(new URL("..", import.meta.url));
/** Default chart directory and output file. */
export const CHART_DIR = join(REPO, "charts", "portico");
export const OUTPUT = join(REPO, "docs", "configuration.md");

/** The subset of JSON Schema draft-07 the chart's values.schema.json uses. */
export interface ValuesSchema {
  $ref?: string;
  description?: string;
  type?: string | string[];
  enum?: unknown[];
  const?: unknown;
  pattern?: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  required?: string[];
  properties?: Record<string, ValuesSchema>;
  additionalProperties?: boolean | ValuesSchema;
  items?: ValuesSchema;
  definitions?: Record<string, ValuesSchema>;
  if?: ValuesSchema;
  then?: ValuesSchema;
}

/** One value of the chart: a leaf, a list, or a free-form map (whose keys are the user's). */
export interface ValueRow {
  /** Dotted path, as in `--set`: `proxy.auth.mode`. */
  path: string;
  /** The node with its `$ref` resolved (the local keys win). */
  node: ValuesSchema;
  /** The definition it refers to, when it uses one (its name is the anchor of the Formats section). */
  format?: string;
  /** The definition its list items refer to. */
  itemFormat?: string;
}

// ---------------------------------------------------------------------------------------------------------
// Walking the schema (pure)

/** `node` with its `$ref` (to `#/definitions/…`) resolved; the node's own keys win over the definition's. */
export function resolve(root: ValuesSchema, node: ValuesSchema): { node: ValuesSchema; format?: string } {
  if (!node.$ref) return { node };
  const m = /^#\/definitions\/([^/]+)$/.exec(node.$ref);
  const target = m && root.definitions?.[m[1]!];
  if (!target) throw new Error(`values.schema.json: unresolvable $ref ${node.$ref}`);
  const inner = resolve(root, target);
  const { $ref: _ref, ...own } = node;
  return { node: { ...inner.node, ...own }, format: inner.format ?? m[1]! };
}

/** A node whose keys are ours (named properties, unknown ones refused): walked into, never a row itself. */
export function isOwnedObject(n: ValuesSchema): boolean {
  return n.type === "object" && !!n.properties && n.additionalProperties === false;
}

/** Every value of the chart in schema order: the leaves, lists and free-form maps below `root`. */
export function valueRows(root: ValuesSchema): ValueRow[] {
  const rows: ValueRow[] = [];
  const walk = (node: ValuesSchema, path: string) => {
    const r = resolve(root, node);
    if (path && !isOwnedObject(r.node)) {
      const items = r.node.items && resolve(root, r.node.items);
      rows.push({
        path,
        node: items ? { ...r.node, items: items.node } : r.node,
        ...(r.format ? { format: r.format } : {}),
        ...(items?.format ? { itemFormat: items.format } : {}),
      });
      return;
    }
    for (const [key, child] of Object.entries(r.node.properties ?? {}))
      walk(child, path ? `${path}.${key}` : key);
  };
  walk(root, "");
  return rows;
}

/** The value at a dotted path of a values tree, or undefined. */
export function valueAt(values: unknown, path: string): unknown {
  let v = values;
  for (const key of path.split(".")) {
    if (!v || typeof v !== "object" || Array.isArray(v)) return undefined;
    v = (v as Record<string, unknown>)[key];
  }
  return v;
}

/** One conditional rule (`if`/`then`) of the schema, as text: when X is Y, Z must … */
export interface ConditionalRule {
  at: string;
  when: string[];
  then: string[];
}

/** Every `if`/`then` in the schema, with `const` conditions and the constraints they add, as dotted paths. */
export function conditionalRules(root: ValuesSchema): ConditionalRule[] {
  const out: ConditionalRule[] = [];
  const leaves = (
    n: ValuesSchema,
    path: string,
    acc: string[],
    describe: (p: string, n: ValuesSchema) => string[],
  ) => {
    if (n.properties)
      for (const [k, c] of Object.entries(n.properties)) leaves(c, path ? `${path}.${k}` : k, acc, describe);
    else acc.push(...describe(path, n));
    return acc;
  };
  const walk = (node: ValuesSchema, path: string) => {
    const n = resolve(root, node).node;
    if (n.if && n.then) {
      const when = leaves(n.if, path, [], (p, c) => [`${code(p)} is ${code(JSON.stringify(c.const))}`]);
      const then = leaves(n.then, path, [], (p, c) => constraints(c).map((x) => `${code(p)}: ${x}`));
      out.push({ at: path, when, then });
    }
    for (const [k, c] of Object.entries(n.properties ?? {})) walk(c, path ? `${path}.${k}` : k);
  };
  walk(root, "");
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Rendering (pure)

/**
 * The Markdown reference of the chart's values: one table row per value (dotted path, type, default,
 * allowed values, description), a section per top-level key, then the shared formats and the
 * conditional rules. Deterministic: schema order, nothing depends on time or place.
 */
export function renderValuesReference(schema: ValuesSchema, values: unknown): string {
  const rows = valueRows(schema);
  const sections = new Map<string, ValueRow[]>();
  for (const r of rows) {
    const top = r.path.includes(".") ? r.path.split(".")[0]! : "";
    sections.set(top, [...(sections.get(top) ?? []), r]);
  }
  const formats = [...new Set(rows.flatMap((r) => [r.format, r.itemFormat]))].filter(
    (f): f is string => !!f && !!schema.definitions?.[f]?.pattern,
  );
  const out: string[] = [
    "<!-- Generated from charts/portico/values.schema.json and values.yaml by `" +
      COMMAND +
      "`. Do not edit: change the chart and run it again. -->",
    "",
    "# Configuration (Helm values)",
    "",
    "Every value of the `charts/portico` chart, generated from `values.schema.json` (which `helm install`,",
    "`upgrade`, `template` and `lint` check) and `values.yaml` (the defaults) by `" + COMMAND + "`; do not",
    "edit by hand. `" +
      COMMAND +
      " --check` fails when this file is stale. Installing: [install.md](install.md).",
    "",
    "Paths are as in `helm --set`: `--set proxy.replicas=3`, `--set-json 'proxy.auth.adminRoles=[\"admins\"]'`.",
    "A key the schema does not know (a typo such as `proxy.replica`) is refused, except inside the free-form",
    "maps (type `object` or `map[string]string`: resources, annotations, labels, selectors, affinity,",
    "tolerations, class overrides), which are passed through as they are.",
    "",
  ];
  for (const top of sections.keys()) {
    const title = top || "General";
    out.push(`- [${title}](#${anchor(title)})`);
  }
  out.push(
    ...(formats.length ? ["- [Formats](#formats)"] : []),
    "- [Conditional rules](#conditional-rules)",
    "",
  );
  for (const [top, list] of sections) {
    out.push(`## ${top || "General"}`, "");
    const d = top && resolve(schema, schema.properties![top]!).node.description;
    if (d) out.push(text(d), "");
    out.push(
      "| value | type | default | allowed | description |",
      "| --- | --- | --- | --- | --- |",
      ...list.map((r) => row(r, values)),
      "",
    );
  }
  if (formats.length) {
    out.push(
      "## Formats",
      "",
      "Shared by several values; each links here from its *allowed* cell.",
      "",
      "| format | description | allowed |",
      "| --- | --- | --- |",
    );
    for (const f of formats) {
      const d = schema.definitions![f]!;
      out.push(
        `| <a id="${anchor(f)}"></a>${f} | ${text(d.description ?? "")} | ${constraints(d).join("<br>")} |`,
      );
    }
    out.push("");
  }
  out.push("## Conditional rules", "");
  const rules = conditionalRules(schema);
  if (rules.length) {
    out.push("| when | then |", "| --- | --- |");
    for (const r of rules) out.push(`| ${r.when.join(" and ")} | ${r.then.join("<br>")} |`);
    out.push("");
  } else out.push("None.", "");
  out.push(
    "Rules between values that a JSON Schema cannot express (for example",
    "`operator.leaderElection.leaseDuration` > `renewDeadline` > `retryPeriod`, `proxy.limits.headersTimeout` ≤",
    "`requestTimeout`, an issuer for `oidc` and `jwt`) are checked by the components at start: a pod that",
    "refuses its configuration logs every problem and names the flag behind each value. The install notes",
    "(`helm install` output) list the settings still missing under *ACTION NEEDED*.",
  );
  return (
    out
      .join("\n")
      .replace(/\n{3,}/g, "\n\n")
      .replace(/\n*$/, "") + "\n"
  );
}

function row(r: ValueRow, values: unknown): string {
  const def = valueAt(values, r.path);
  return `| ${code(r.path)} | ${typeOf(r.node)} | ${def === undefined ? "(unset)" : code(JSON.stringify(def))} | ${allowed(r)} | ${text(r.node.description ?? "")} |`;
}

/** What may be set: enums spelled out, shared patterns as a link to their format, other limits as they are. */
function allowed(r: ValueRow): string {
  const link = (f: string) => `[${f}](#${anchor(f)})`;
  const { items, ...own } = r.node;
  const parts = r.format && own.pattern ? [link(r.format)] : constraints(own);
  if (items)
    parts.push(
      ...(r.itemFormat && items.pattern ? [`each item: ${link(r.itemFormat)}`] : itemConstraints(items)),
    );
  return parts.join("<br>");
}

function enumText(values: unknown[]): string {
  return `one of ${values.map((e) => code(typeof e === "string" ? e : JSON.stringify(e))).join(", ")}`;
}

/** A node's type: lists as `[]T`, maps as `map[string]T`, unions joined with "or". */
export function typeOf(n: ValuesSchema): string {
  const types = Array.isArray(n.type) ? n.type : n.type ? [n.type] : [];
  if (types.length > 1) return types.join(" or ");
  if (types[0] === "array") return `[]${n.items ? typeOf(n.items) : "any"}`;
  if (types[0] === "object" && typeof n.additionalProperties === "object")
    return `map[string]${typeOf(n.additionalProperties)}`;
  return types[0] ?? "any";
}

/** What the schema enforces on a value, one phrase each (list items' limits prefixed by "each item:"). */
export function constraints(n: ValuesSchema): string[] {
  const out: string[] = [];
  if (n.enum) out.push(enumText(n.enum));
  if (n.const !== undefined) out.push(`exactly ${code(JSON.stringify(n.const))}`);
  if (n.pattern) out.push(`pattern ${code(n.pattern)}`);
  const range = (what: string, min?: number, max?: number) => {
    if (min !== undefined && max !== undefined) out.push(`${what} ${min}–${max}`);
    else if (min !== undefined) out.push(`${what} ≥ ${min}`);
    else if (max !== undefined) out.push(`${what} ≤ ${max}`);
  };
  range("length", n.minLength, n.maxLength);
  range("value", n.minimum, n.maximum);
  if (n.items) out.push(...itemConstraints(n.items));
  return out;
}

function itemConstraints(items: ValuesSchema): string[] {
  const limits = constraints(items);
  if (items.required?.length) limits.push(`${items.required.map((k) => code(k)).join(", ")} required`);
  return limits.map((c) => `each item: ${c}`);
}

/** GitHub's heading anchor for a plain heading. */
function anchor(s: string): string {
  return s
    .toLowerCase()
    .replace(/[^a-z0-9 -]/g, "")
    .replace(/ /g, "-");
}

// ---------------------------------------------------------------------------------------------------------
// The edge: files in, file out

/** The chart's schema and default values. */
export function readChart(dir: string = CHART_DIR): { schema: ValuesSchema; values: unknown } {
  return {
    schema: JSON.parse(readFileSync(join(dir, "values.schema.json"), "utf8")) as ValuesSchema,
    values: parse(readFileSync(join(dir, "values.yaml"), "utf8")) as unknown,
  };
}

/** Writes the reference, or with `--check` reports whether it is current. Returns the exit status. */
export function main(argv: readonly string[]): number {
  return runGenerator(
    {
      command: COMMAND,
      output: OUTPUT,
      options: ["chart"],
      staleBecause: "the chart's values or schema changed since it was generated",
      render: (opt) =>
        (() => {
          const { schema, values } = readChart(opt("chart") ?? CHART_DIR);
          return renderValuesReference(schema, values);
        })(),
    },
    argv,
  );
}

if (import.meta.main) process.exitCode = main(process.argv.slice(2));
