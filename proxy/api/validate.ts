/**
 * Requests checked against the OpenAPI document (./openapi.ts) with ajv: every operation's body,
 * path and query schemas are compiled once, when the router is made, so a request costs one call of
 * a compiled function. A refusal is an ApiError 400 `invalid` naming the first bad field as a dotted
 * path (`storage.size`, `sharedWith.users[0]`) and saying in words what it must be (the schema's
 * `title`), or which fields are allowed when one is unknown.
 */
import { Ajv2020, type ErrorObject, type ValidateFunction } from "ajv/dist/2020.js";
import { DOCUMENT_ID, routes, type Route, type Schema } from "./openapi.ts";
import { ApiError } from "./types.ts";

/** What a request carries, per part, once its route matched. */
export interface RequestParts {
  path: Record<string, string>;
  /** Repeated names arrive as arrays (and are refused: every parameter is a single value). */
  query: Record<string, string | string[]>;
  body?: unknown;
}

/** The checks of one operation. `query` returns the parameters typed and defaulted. */
export interface OperationValidator {
  path(params: Record<string, string>): ApiError | undefined;
  query(params: Record<string, string | string[]>): Record<string, unknown> | ApiError;
  /** Absent for operations without a body. */
  body?(data: unknown): ApiError | undefined;
}

/** RFC 3339 date-time, the one format the document uses (ajv knows no formats by itself). */
const DATE_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/i;

/** An ajv that knows the document, so `#/components/schemas/...` references resolve. */
export function documentAjv(doc: Readonly<Schema>, opts: { coerce?: boolean } = {}): Ajv2020 {
  const ajv = new Ajv2020({
    strict: true,
    allowUnionTypes: true,
    verbose: true, // the failing schema (its title) for the message
    formats: { "date-time": DATE_TIME },
    ...(opts.coerce ? { coerceTypes: true, useDefaults: true } : {}),
  });
  // The document's own keywords are not JSON Schema: known to ajv as annotations, so strict mode
  // accepts them and references into `components` resolve.
  for (const k of [
    "openapi",
    "info",
    "jsonSchemaDialect",
    "servers",
    "tags",
    "security",
    "paths",
    "components",
  ])
    ajv.addKeyword(k);
  ajv.addSchema({ ...doc, $id: DOCUMENT_ID } as Schema);
  return ajv;
}

/** `#/components/...` made absolute, so a schema compiled on its own resolves into the document. */
export function absolute(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(absolute);
  if (!schema || typeof schema !== "object") return schema;
  return Object.fromEntries(
    Object.entries(schema).map(([k, v]) => [
      k,
      k === "$ref" && typeof v === "string" && v.startsWith("#") ? `${DOCUMENT_ID}${v}` : absolute(v),
    ]),
  );
}

/** The object schema of an operation's parameters in one place (`path` or `query`). */
function paramsSchema(route: Route, where: "path" | "query"): Schema {
  const params = (route.op.parameters ?? []).filter((p) => p.in === where);
  return absolute({
    type: "object",
    additionalProperties: false,
    properties: Object.fromEntries(params.map((p) => [p.name, p.schema])),
    required: params.filter((p) => p.required).map((p) => p.name),
  }) as Schema;
}

/** Compiles the checks of every operation of `doc`, by operationId. */
export function compileValidators(doc: Readonly<Schema>): Map<string, OperationValidator> {
  const strict = documentAjv(doc);
  const coercing = documentAjv(doc, { coerce: true });
  const out = new Map<string, OperationValidator>();
  for (const route of routes(doc)) {
    const path = strict.compile(paramsSchema(route, "path"));
    const query = coercing.compile(paramsSchema(route, "query"));
    const content = route.op.requestBody?.content;
    const first = content && Object.values(content)[0];
    const body = first ? strict.compile(absolute(first.schema) as Schema) : undefined;
    out.set(route.op.operationId, {
      path: (params) => (path(params) ? undefined : refusal(path, "path")),
      query(params) {
        const copy: Record<string, unknown> = { ...params };
        return query(copy) ? copy : refusal(query, "query");
      },
      ...(body ? { body: (data: unknown) => (body(data) ? undefined : refusal(body, "body")) } : {}),
    });
  }
  return out;
}

function refusal(v: ValidateFunction, where: "path" | "query" | "body"): ApiError {
  const { field, message } = explain(v.errors![0]!, where);
  return new ApiError(400, "invalid", message, field);
}

/** `/storage/size` → `storage.size`; `/sharedWith/users/0` → `sharedWith.users[0]`. */
export function fieldPath(instancePath: string, child?: string): string {
  const parts = instancePath
    .split("/")
    .slice(1)
    .map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~"));
  if (child !== undefined) parts.push(child);
  let out = "";
  for (const p of parts) out += /^\d+$/.test(p) ? `[${p}]` : out ? `.${p}` : p;
  return out;
}

const what = { path: "path parameter", query: "query parameter", body: "field" } as const;
const article = (t: string) => (/^[aeiou]/.test(t) ? `an ${t}` : `a ${t}`);

/** The first error in words: which field, and what it must be. */
export function explain(
  e: ErrorObject,
  where: "path" | "query" | "body",
): { field?: string; message: string } {
  const parent = (e.parentSchema ?? {}) as Schema;
  const title = typeof parent.title === "string" ? parent.title : undefined;
  const params = e.params as Record<string, unknown>;
  const named = (field: string, message: string) => ({ field, message });
  switch (e.keyword) {
    case "required": {
      const field = fieldPath(e.instancePath, String(params.missingProperty));
      return named(field, `${what[where]} ${field} is required`);
    }
    case "additionalProperties": {
      const field = fieldPath(e.instancePath, String(params.additionalProperty));
      const allowed = Object.keys((parent.properties as Schema | undefined) ?? {});
      const hint = allowed.length ? `; allowed here: ${allowed.join(", ")}` : "";
      return named(field, `unknown ${what[where]} ${field}${hint}`);
    }
  }
  // A map key that breaks `propertyNames` (a resource name): ajv reports the key's own error first.
  const key = (e as { propertyName?: string }).propertyName;
  if (key !== undefined) {
    const field = fieldPath(e.instancePath, key);
    return named(
      field,
      `${what[where]} ${field}: the name ${JSON.stringify(key)} must be ${title ?? "a valid name"}`,
    );
  }
  const field = fieldPath(e.instancePath);
  const subject = field ? `${what[where]} ${field}` : "the request body";
  if (!field && e.keyword === "type") return { message: "the request body must be a JSON object" };
  if (!field && e.keyword === "minProperties")
    return { message: "the request body is empty: send a field to change" };
  let message: string;
  if (e.keyword === "pattern" || (e.keyword === "type" && title))
    message = `${subject} must be ${title ?? `a value matching ${String(params.pattern)}`}`;
  else if (e.keyword === "type")
    message = `${subject} must be ${article(String(params.type).replace(",", " or "))}`;
  else if (e.keyword === "enum")
    message = `${subject} must be one of ${(params.allowedValues as unknown[]).join(", ")}`;
  else message = `${subject} ${e.message ?? "is not valid"}${title ? ` (${title})` : ""}`;
  return field ? { field, message } : { message };
}
