/**
 * The OpenAPI document (./openapi.ts) is the one source of truth: these tests prove it is whole
 * (every reference resolves, every schema compiles under ajv's strict mode, every path parameter is
 * declared, every request schema is closed, every operation has a handler or a surface that serves
 * it) and that the validator built from it (./validate.ts) refuses bad requests naming the field.
 * No OpenAPI meta-schema is installed here: the OpenAPI structure is checked by hand below, each
 * schema by JSON Schema 2020-12's meta-schema (ajv validates schemas as it adds them).
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { ERROR_CATALOGUE, OPENAPI, routes, type Schema } from "./openapi.ts";
import { HANDLERS } from "./rest.ts";
import { API_ERROR_CODES, ApiError } from "./types.ts";
import { absolute, compileValidators, documentAjv, explain, fieldPath } from "./validate.ts";

const doc = OPENAPI as Schema & {
  paths: Record<string, Record<string, Schema>>;
  components: { schemas: Record<string, Schema>; responses: Record<string, Schema> };
};

/** Every `$ref` anywhere under `node`, with where it was found. */
function refs(node: unknown, at = "#"): [string, string][] {
  if (Array.isArray(node)) return node.flatMap((n, i) => refs(n, `${at}/${i}`));
  if (!node || typeof node !== "object") return [];
  return Object.entries(node).flatMap(([k, v]) =>
    k === "$ref" && typeof v === "string" ? [[at, v] as [string, string]] : refs(v, `${at}/${k}`),
  );
}

function resolve(pointer: string): unknown {
  return pointer
    .slice(2)
    .split("/")
    .reduce<unknown>((n, k) => (n as Record<string, unknown> | undefined)?.[k], doc);
}

describe("the OpenAPI document", () => {
  test("is OpenAPI 3.1 with JSON Schema 2020-12, served as JSON without loss", () => {
    assert.equal(doc.openapi, "3.1.0");
    assert.deepEqual(JSON.parse(JSON.stringify(doc)), doc);
    assert.ok(Object.isFrozen(doc) && Object.isFrozen(doc.components.schemas.CreateRequest));
  });

  test("every reference resolves", () => {
    const all = refs(doc);
    assert.ok(all.length > 50);
    for (const [at, ref] of all) assert.ok(resolve(ref) !== undefined, `${at}: ${ref} does not resolve`);
  });

  test("every schema compiles in ajv's strict mode (the document's own schemas and each operation's)", () => {
    const ajv = documentAjv(doc);
    for (const name of Object.keys(doc.components.schemas))
      assert.doesNotThrow(
        () => ajv.compile(absolute({ $ref: `#/components/schemas/${name}` }) as Schema),
        name,
      );
    assert.doesNotThrow(() => compileValidators(doc));
  });

  test("operations: unique ids, a summary, documented responses, every path parameter declared", () => {
    const ids = new Set<string>();
    for (const { method, path, op } of routes()) {
      const where = `${method} ${path}`;
      assert.ok(!ids.has(op.operationId), `${where}: duplicate operationId ${op.operationId}`);
      ids.add(op.operationId);
      assert.ok(op.summary, `${where}: summary`);
      assert.ok(op.tags.length > 0, `${where}: tags`);
      const declared = (op.parameters ?? []).filter((p) => p.in === "path").map((p) => p.name);
      const inPath = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
      assert.deepEqual(declared.sort(), inPath.sort(), `${where}: path parameters`);
      for (const p of op.parameters ?? []) assert.ok(p.name && p.in && p.schema && p.description, where);
      for (const [status, r] of Object.entries(op.responses)) {
        assert.match(status, /^[1-5]\d\d$/, where);
        const response = (r.$ref ? resolve(r.$ref as string) : r) as Schema;
        assert.ok(response.description, `${where} ${status}: description`);
      }
      assert.ok(
        Object.keys(op.responses).some((s) => s.startsWith("2")),
        `${where}: a success response`,
      );
    }
  });

  test("every operation is served: by a REST handler, or by the surface it names", () => {
    for (const { method, path, op } of routes()) {
      const surface = op["x-portico-surface"];
      if (surface) assert.ok(["status", "graphql"].includes(surface), `${method} ${path}`);
      else assert.ok(HANDLERS[op.operationId], `${method} ${path}: no handler ${op.operationId}`);
    }
    const ids = new Set(routes().map((r) => r.op.operationId));
    for (const id of Object.keys(HANDLERS)) assert.ok(ids.has(id), `handler ${id} has no operation`);
  });

  test("request schemas are closed: every object a request may carry refuses unknown fields", () => {
    const seen = new Set<string>();
    const check = (s: Schema, at: string): void => {
      if (s.$ref) {
        const ref = s.$ref as string;
        if (seen.has(ref)) return;
        seen.add(ref);
        return check(resolve(ref) as Schema, ref);
      }
      if (s.type === "object")
        assert.ok(
          s.additionalProperties === false || (typeof s.additionalProperties === "object" && s.propertyNames),
          `${at}: additionalProperties must be false (or a map with checked names)`,
        );
      for (const [k, v] of Object.entries(s.properties ?? {})) check(v as Schema, `${at}/${k}`);
      if (s.items) check(s.items as Schema, `${at}/items`);
      if (typeof s.additionalProperties === "object") check(s.additionalProperties as Schema, `${at}/*`);
    };
    for (const { op } of routes())
      for (const [type, c] of Object.entries(op.requestBody?.content ?? {}))
        if (!op["x-portico-surface"]) check(c.schema, `${op.operationId} ${type}`);
    assert.ok(seen.has("#/components/schemas/CreateRequest") && seen.has("#/components/schemas/Resources"));
  });

  test("every error code has a status and a line in the catalogue; 429s carry the limit body", () => {
    for (const code of API_ERROR_CODES) assert.ok(ERROR_CATALOGUE[code], code);
    const limit = doc.components.schemas.LimitError as { required: string[] };
    assert.deepEqual(limit.required, ["error", "message", "reason", "limit", "current", "candidates"]);
  });
});

describe("validation against the document", () => {
  const v = compileValidators(OPENAPI);
  const create = v.get("createWorkspace")!.body!;
  const refused = (e: ApiError | undefined) => {
    assert.ok(e instanceof ApiError, "refused");
    assert.equal(e.status, 400);
    assert.equal(e.code, "invalid");
    return { field: e.field, message: e.message };
  };

  test("a good request passes", () => {
    assert.equal(
      create({
        name: "thesis",
        className: "jupyterlab",
        repository: { url: "https://git.example.com/alice/thesis.git", ref: "main" },
        storage: { size: "10Gi" },
        resources: { requests: { cpu: "500m", memory: 1073741824 }, limits: { "nvidia.com/gpu": 1 } },
        idleTimeout: "1h30m",
        running: false,
        sharedWith: { users: ["bob"], groups: ["/team-a"] },
      }),
      undefined,
    );
  });

  const cases: [string, unknown, string, RegExp][] = [
    [
      "unknown top-level field",
      { className: "x", owner: "mallory" },
      "owner",
      /unknown field owner; allowed here: name/,
    ],
    [
      "unknown nested field",
      { className: "x", storage: { scope: "user" } },
      "storage.scope",
      /unknown field/,
    ],
    ["missing className", { name: "a" }, "className", /className is required/],
    ["bad name", { className: "x", name: "Bad_Name" }, "name", /must be a workspace name/],
    ["name too long", { className: "x", name: "a".repeat(41) }, "name", /at most 40 characters/],
    ["name with a path", { className: "x", name: "../victim" }, "name", /workspace name/],
    [
      "a file:// repository",
      { className: "x", repository: { url: "file:///etc" } },
      "repository.url",
      /git URL/,
    ],
    [
      "bad size",
      { className: "x", storage: { size: "10 GB" } },
      "storage.size",
      /Kubernetes quantity such as 10Gi/,
    ],
    ["size zero", { className: "x", storage: { size: 0 } }, "storage.size", />= 1/],
    ["bad duration", { className: "x", idleTimeout: "2 hours" }, "idleTimeout", /duration such as 30m/],
    [
      "credentials in URL",
      { className: "x", repository: { url: "https://u:p@h/r" } },
      "repository.url",
      /without credentials/,
    ],
    [
      "bad git ref",
      { className: "x", repository: { url: "https://h/r", ref: "a..b" } },
      "repository.ref",
      /git branch/,
    ],
    [
      "bad user in a list",
      { className: "x", sharedWith: { users: ["ok", "no spaces"] } },
      "sharedWith.users[1]",
      /user name/,
    ],
    [
      "bad resource name",
      { className: "x", resources: { limits: { "bad name": 1 } } },
      "resources.limits.bad name",
      /resource name/,
    ],
    [
      "bad quantity in a map",
      { className: "x", resources: { requests: { cpu: "lots" } } },
      "resources.requests.cpu",
      /quantity/,
    ],
    ["wrong type", { className: "x", running: "yes" }, "running", /must be a boolean/],
  ];
  for (const [what, body, field, message] of cases)
    test(`refused, field named: ${what}`, () => {
      const r = refused(create(body));
      assert.equal(r.field, field);
      assert.match(r.message, message);
      assert.ok(r.message.includes(field), `the message names ${field}: ${r.message}`);
    });

  test("a body that is not an object, and an empty patch, are refused without a field", () => {
    assert.match(refused(create([])).message, /must be a JSON object/);
    assert.match(refused(v.get("updateWorkspace")!.body!({})).message, /empty/);
  });
});

describe("validation of parameters", () => {
  const v = compileValidators(OPENAPI);
  const refused = (e: ApiError | undefined) => {
    assert.ok(e instanceof ApiError, "refused");
    assert.equal(e.status, 400);
    return { field: e.field, message: e.message };
  };

  test("query parameters are typed, defaulted, bounded, and never repeated or unknown", () => {
    const q = v.get("workspaceLogs")!.query;
    assert.deepEqual(q({}), { lines: 100 });
    assert.deepEqual(q({ lines: "20" }), { lines: 20 });
    assert.equal(refused(q({ lines: "5001" }) as ApiError).field, "lines");
    assert.equal(refused(q({ lines: "x" }) as ApiError).field, "lines");
    assert.equal(refused(q({ lines: ["1", "2"] }) as ApiError).field, "lines");
    assert.match(
      refused(q({ line: "1" }) as ApiError).message,
      /unknown query parameter line; allowed here: lines/,
    );
    assert.deepEqual(v.get("deleteWorkspace")!.query({ deleteVolume: "true" }), { deleteVolume: true });
  });

  test("path parameters follow the name patterns", () => {
    const p = v.get("getWorkspace")!.path;
    assert.equal(p({ ns: "ws-alice", name: "a" }), undefined);
    const r = refused(p({ ns: "ws-alice", name: "A.B" }));
    assert.equal(r.field, "name");
    assert.match(r.message, /path parameter name must be a DNS label/);
  });

  test("provision: owner and repository names as the git server has them", () => {
    const p = v.get("provision")!.body!;
    assert.equal(p({ repoOwner: "alice", repoName: "my.repo_1-x" }), undefined);
    assert.equal(refused(p({ repoOwner: "alice", repoName: ".." })).field, "repoName");
    assert.equal(refused(p({ repoOwner: "a/b", repoName: "r" })).field, "repoOwner");
    assert.equal(refused(p({ repoOwner: "alice" })).field, "repoName");
  });

  test("fieldPath and explain are pure", () => {
    assert.equal(fieldPath("/storage/size"), "storage.size");
    assert.equal(fieldPath("/sharedWith/users/0"), "sharedWith.users[0]");
    assert.equal(fieldPath("/resources/requests", "a~b"), "resources.requests.a~b");
    assert.equal(fieldPath("/a~1b"), "a/b");
    assert.equal(fieldPath(""), "");
    const e = explain(
      {
        keyword: "maxItems",
        instancePath: "/sharedWith/users",
        schemaPath: "",
        params: { limit: 64 },
        message: "must NOT have more than 64 items",
      },
      "body",
    );
    assert.deepEqual(e, {
      field: "sharedWith.users",
      message: "field sharedWith.users must NOT have more than 64 items",
    });
  });
});
