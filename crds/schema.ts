/**
 * Reading the CRD files and walking their OpenAPI v3 schemas, as pure functions over plain data.
 *
 * `checkObject` applies the schema's structural rules (types, unknown fields, required, enum, pattern,
 * bounds, list types) to an object the way the API server does before CEL runs; CEL rules
 * (`x-kubernetes-validations`) are not evaluated here — the e2e API test checks those against a real
 * API server. Paths are written like `spec.rules[].backends[].weight`: `[]` for any list item and `{}`
 * for any map value.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";

/** One `x-kubernetes-validations` entry. */
export interface ValidationRule {
  rule: string;
  message?: string;
  messageExpression?: string;
  fieldPath?: string;
  reason?: string;
  optionalOldSelf?: boolean;
}

/** The subset of a CRD's JSONSchemaProps that Portico's schemas use. */
export interface JSONSchemaProps {
  type?: "object" | "array" | "string" | "integer" | "number" | "boolean";
  description?: string;
  format?: string;
  properties?: Record<string, JSONSchemaProps>;
  additionalProperties?: JSONSchemaProps | boolean;
  items?: JSONSchemaProps;
  anyOf?: JSONSchemaProps[];
  required?: string[];
  enum?: unknown[];
  default?: unknown;
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  maxItems?: number;
  minProperties?: number;
  maxProperties?: number;
  "x-kubernetes-int-or-string"?: boolean;
  "x-kubernetes-preserve-unknown-fields"?: boolean;
  "x-kubernetes-list-type"?: "atomic" | "set" | "map";
  "x-kubernetes-list-map-keys"?: string[];
  "x-kubernetes-validations"?: ValidationRule[];
}

/** An additional printer column of a CRD version. */
export interface PrinterColumn {
  name: string;
  type: string;
  jsonPath: string;
  description?: string;
  priority?: number;
  format?: string;
}

/** One version of a CRD. */
export interface CRDVersion {
  name: string;
  served: boolean;
  storage: boolean;
  subresources?: { status?: Record<string, never>; scale?: unknown };
  additionalPrinterColumns?: PrinterColumn[];
  schema: { openAPIV3Schema: JSONSchemaProps };
}

/** A CustomResourceDefinition as written in `crds/*.yaml`. */
export interface CRD {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  spec: {
    group: string;
    scope: "Namespaced" | "Cluster";
    names: {
      kind: string;
      listKind?: string;
      plural: string;
      singular?: string;
      shortNames?: string[];
      categories?: string[];
    };
    versions: CRDVersion[];
  };
}

/** The CRD files of this directory, by plural resource name. */
export const CRD_FILES = {
  workspaces: "workspaces.portico.dev.yaml",
  workspaceclasses: "workspaceclasses.portico.dev.yaml",
  gatewayroutes: "gatewayroutes.portico.dev.yaml",
} as const;

/** Reads and parses one CRD file of this directory (for example `CRD_FILES.workspaces`). */
export function loadCrd(file: string): CRD {
  return parse(readFileSync(fileURLToPath(new URL(file, import.meta.url)), "utf8")) as CRD;
}

/** The schema of one version of a CRD; throws when the version is missing. */
export function versionSchema(crd: CRD, version: string): JSONSchemaProps {
  const v = crd.spec.versions.find((x) => x.name === version);
  if (!v) throw new Error(`${crd.metadata.name} has no version ${version}`);
  return v.schema.openAPIV3Schema;
}

/** The schema of a map's values, or undefined when the node is not a map. */
export function mapValues(node: JSONSchemaProps): JSONSchemaProps | undefined {
  return typeof node.additionalProperties === "object" ? node.additionalProperties : undefined;
}

/** Calls `visit` on every node of a schema, parents before children, with the node's path. */
export function forEachNode(
  node: JSONSchemaProps,
  visit: (node: JSONSchemaProps, path: string) => void,
  path = "",
): void {
  visit(node, path);
  for (const [key, child] of Object.entries(node.properties ?? {})) {
    forEachNode(child, visit, path ? `${path}.${key}` : key);
  }
  if (node.items) forEachNode(node.items, visit, `${path}[]`);
  const values = mapValues(node);
  if (values) forEachNode(values, visit, `${path}{}`);
}

/** Every path of a schema below its root: properties, list items (`[]`) and map values (`{}`). */
export function schemaPaths(root: JSONSchemaProps): Set<string> {
  const paths = new Set<string>();
  forEachNode(root, (_node, path) => {
    if (path) paths.add(path);
  });
  return paths;
}

/** The node at a path (in the notation of `schemaPaths`), or undefined. */
export function nodeAt(root: JSONSchemaProps, path: string): JSONSchemaProps | undefined {
  let node: JSONSchemaProps | undefined = root;
  for (const token of path.match(/[^.[\]{}]+|\[\]|\{\}/g) ?? []) {
    if (!node) return undefined;
    if (token === "[]") node = node.items;
    else if (token === "{}") node = mapValues(node);
    else node = node.properties?.[token];
  }
  return node;
}

/** What `checkObject` found: the generic paths the object sets, and every way it breaks the schema. */
export interface CheckResult {
  paths: Set<string>;
  problems: string[];
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * Checks an object against a schema's structural rules and records which schema paths it sets. A node
 * with neither properties nor a map schema (like `metadata`) is opaque: its content is not looked at.
 */
export function checkObject(value: unknown, root: JSONSchemaProps): CheckResult {
  const result: CheckResult = { paths: new Set(), problems: [] };
  walk(value, root, "", "", result);
  return result;
}

function walk(value: unknown, node: JSONSchemaProps, at: string, generic: string, out: CheckResult): void {
  if (generic) out.paths.add(generic);
  const fail = (problem: string): void => {
    out.problems.push(`${at || "<root>"}: ${problem}`);
  };
  if (node.enum && !node.enum.some((e) => e === value))
    fail(`${JSON.stringify(value)} is not one of ${node.enum}`);

  if (node["x-kubernetes-int-or-string"]) {
    if (typeof value === "string") checkString(value, node, fail);
    else if (Number.isInteger(value)) checkNumber(value as number, node, fail);
    else fail(`expected an integer or a string, got ${JSON.stringify(value)}`);
    return;
  }
  switch (node.type) {
    case "string":
      if (typeof value !== "string") return fail(`expected a string, got ${JSON.stringify(value)}`);
      return checkString(value, node, fail);
    case "integer":
      if (!Number.isInteger(value)) return fail(`expected an integer, got ${JSON.stringify(value)}`);
      return checkNumber(value as number, node, fail);
    case "number":
      if (typeof value !== "number") return fail(`expected a number, got ${JSON.stringify(value)}`);
      return checkNumber(value, node, fail);
    case "boolean":
      if (typeof value !== "boolean") fail(`expected a boolean, got ${JSON.stringify(value)}`);
      return;
    case "array":
      if (!Array.isArray(value)) return fail(`expected a list, got ${JSON.stringify(value)}`);
      return checkArray(value, node, at, generic, out, fail);
    case "object":
      if (!isPlainObject(value)) return fail(`expected an object, got ${JSON.stringify(value)}`);
      return checkObjectNode(value, node, at, generic, out, fail);
    default:
      fail(`schema node has no type`);
  }
}

function checkString(value: string, node: JSONSchemaProps, fail: (p: string) => void): void {
  const length = [...value].length;
  if (node.minLength !== undefined && length < node.minLength) fail(`shorter than ${node.minLength}`);
  if (node.maxLength !== undefined && length > node.maxLength) fail(`longer than ${node.maxLength}`);
  if (node.pattern && !new RegExp(node.pattern, "u").test(value))
    fail(`"${value}" does not match ${node.pattern}`);
  if (node.format === "date-time" && Number.isNaN(Date.parse(value))) fail(`"${value}" is not a date-time`);
}

function checkNumber(value: number, node: JSONSchemaProps, fail: (p: string) => void): void {
  if (node.minimum !== undefined && value < node.minimum) fail(`${value} is below ${node.minimum}`);
  if (node.maximum !== undefined && value > node.maximum) fail(`${value} is above ${node.maximum}`);
}

function checkArray(
  value: unknown[],
  node: JSONSchemaProps,
  at: string,
  generic: string,
  out: CheckResult,
  fail: (p: string) => void,
): void {
  if (node.minItems !== undefined && value.length < node.minItems) fail(`fewer than ${node.minItems} items`);
  if (node.maxItems !== undefined && value.length > node.maxItems) fail(`more than ${node.maxItems} items`);
  const listType = node["x-kubernetes-list-type"];
  if (listType === "set" || listType === "map") {
    const keys = node["x-kubernetes-list-map-keys"] ?? [];
    const identity = (item: unknown) =>
      JSON.stringify(listType === "map" && isPlainObject(item) ? keys.map((k) => item[k]) : item);
    const seen = new Set<string>();
    for (const item of value) {
      const id = identity(item);
      if (seen.has(id)) fail(`duplicate ${listType === "map" ? `key ${id}` : `value ${id}`}`);
      seen.add(id);
    }
  }
  if (!node.items) return fail("list schema has no items");
  value.forEach((item, i) => walk(item, node.items!, `${at}[${i}]`, `${generic}[]`, out));
}

function checkObjectNode(
  value: Record<string, unknown>,
  node: JSONSchemaProps,
  at: string,
  generic: string,
  out: CheckResult,
  fail: (p: string) => void,
): void {
  const count = Object.keys(value).length;
  if (node.minProperties !== undefined && count < node.minProperties)
    fail(`fewer than ${node.minProperties} fields`);
  if (node.maxProperties !== undefined && count > node.maxProperties)
    fail(`more than ${node.maxProperties} fields`);
  for (const key of node.required ?? []) if (!(key in value)) fail(`required field ${key} is missing`);
  const values = mapValues(node);
  if (node.properties) {
    for (const [key, child] of Object.entries(value)) {
      const schema = node.properties[key];
      const childAt = at ? `${at}.${key}` : key;
      if (!schema) {
        fail(`unknown field ${key}`);
        continue;
      }
      walk(child, schema, childAt, generic ? `${generic}.${key}` : key, out);
    }
  } else if (values) {
    for (const [key, child] of Object.entries(value))
      walk(child, values, `${at}[${key}]`, `${generic}{}`, out);
  }
  // Otherwise opaque (metadata, or preserved unknown fields): the API server owns its shape.
}
