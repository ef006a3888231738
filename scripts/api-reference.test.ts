/**
 * docs/api.md is generated from the OpenAPI document (proxy/api/openapi.ts) and the GraphQL schema by
 * scripts/api-reference.ts. These tests prove the committed file is what the generator makes now,
 * that every route is in it with curl examples for both credentials, and that the renderer really
 * follows the document (a new route, field or error shows up), so the staleness check can fail.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { graphqlSchemaText } from "../proxy/api/graphql.ts";
import { OPENAPI, routes, type Schema } from "../proxy/api/openapi.ts";
import { COMMAND, OUTPUT, curlExamples, renderApiReference } from "./api-reference.ts";

const fresh = () => renderApiReference(OPENAPI, graphqlSchemaText());

describe("docs/api.md", () => {
  it("is what the generator makes of the OpenAPI document and the GraphQL schema now", () => {
    assert.ok(
      readFileSync(OUTPUT, "utf8") === fresh(),
      `docs/api.md is stale (proxy/api/openapi.ts or the GraphQL schema changed): run \`${COMMAND}\` (npm run docs:api) and commit the result`,
    );
  });

  it("has every route, with a curl example for a bearer token and one for the session cookie", () => {
    const doc = fresh();
    const all = routes();
    assert.ok(all.length >= 19);
    for (const r of all) {
      assert.ok(doc.includes(`\n### ${r.method} ${r.path}\n`), `no section for ${r.method} ${r.path}`);
      const examples = curlExamples(r).join("\n");
      assert.ok(doc.includes(examples), `${r.method} ${r.path}: examples missing`);
      assert.match(examples, /-H "Authorization: Bearer \$TOKEN"/);
      assert.match(examples, /-b "portico_session=\$SESSION"/);
      if (r.method !== "GET") assert.ok(examples.includes(`-X ${r.method}`), `${r.method} ${r.path}`);
      if (r.op.requestBody)
        assert.match(
          examples,
          /-H 'Content-Type: application\/([a-z-]+\+)?json'( -H 'If-Match: "12345"')? -d '\{/,
        );
      assert.doesNotMatch(examples, /\{(ns|name|ide)\}/, "path parameters filled in");
    }
  });

  it("follows the document: a new route, field and error code appear", () => {
    const doc = JSON.parse(JSON.stringify(OPENAPI)) as Schema & {
      paths: Record<string, unknown>;
      components: { schemas: Record<string, Schema> };
    };
    doc.paths["/api/v1/hello"] = {
      get: {
        operationId: "hello",
        summary: "Say hello",
        tags: ["Meta"],
        responses: { "200": { description: "Hi." } },
      },
    };
    (doc.components.schemas.CreateRequest!.properties as Record<string, Schema>).colour = {
      type: "string",
      title: "a colour name",
    };
    const out = renderApiReference(doc, "type Query { health: String! }");
    assert.match(out, /\n### GET \/api\/v1\/hello\n\nSay hello\./);
    assert.match(out, /\| `colour` \| string \| {2}\| a colour name \|/);
    assert.match(out, /```graphql\ntype Query \{ health: String! \}\n```/);
    assert.notEqual(out, fresh());
  });

  it("documents the errors, the limits body, ETag/If-Match and the seed-compatible paths", () => {
    const doc = fresh();
    for (const heading of ["## Errors", "## Limits", "## ETag and If-Match", "## The seed-compatible paths"])
      assert.ok(doc.includes(`\n${heading}\n`), heading);
    assert.match(doc, /\| 412 \| `precondition_failed` \|/);
    assert.match(doc, /"candidates": \[/);
    for (const path of ["/api/v1/analysis", "/api/v1/analysis/options", "/api/v1/analysis/events/{ide}"])
      assert.ok(doc.includes(`### GET ${path}\n`), path);
  });
});

describe(`${COMMAND} --check`, () => {
  const script = fileURLToPath(new URL("./api-reference.ts", import.meta.url));
  const run = (...args: string[]) =>
    spawnSync(process.execPath, [script, ...args], { encoding: "utf8", timeout: 30_000 });

  it("exits 0 on a current file and 1, naming the command, on a stale or missing one", () => {
    const dir = mkdtempSync(join(tmpdir(), "api-reference-"));
    try {
      const out = join(dir, "api.md");
      writeFileSync(out, fresh());
      assert.equal(run("--check", `--out=${out}`).status, 0);
      writeFileSync(
        out,
        fresh().replace("### PATCH /api/v1/workspaces/{ns}/{name}", "### PUT /api/v1/workspaces/{ns}/{name}"),
      );
      const stale = run("--check", `--out=${out}`);
      assert.equal(stale.status, 1);
      assert.match(stale.stderr, /is stale/);
      assert.ok(stale.stderr.includes(`run \`${COMMAND}\``), stale.stderr);
      assert.match(run("--check", `--out=${join(dir, "none.md")}`).stderr, /is missing/);
      assert.equal(run(`--out=${out}`).status, 0, "writing");
      assert.equal(readFileSync(out, "utf8"), fresh());
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
