/**
 * The REST API (./rest.ts) through a real express app over real HTTP on 127.0.0.1, against
 * `MemoryApi` (./memory-api.ts): a TEST DOUBLE of the service contract (`WorkspaceApi`, ./types.ts),
 * in memory, with the contract's refusals (404 for what the caller may not see, 412 on a stale
 * If-Match, 429 with candidates past a limit). The real service (./service.ts) is tested on its own
 * and end to end against a cluster; what these tests prove is the HTTP side: routes, validation against the OpenAPI
 * document, status codes, ETag/If-Match, bodies, limits and error shapes. Every success body is also
 * checked against the document's response schema.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { MemoryApi, user } from "./memory-api.ts";
import { OPENAPI, routes, type Schema } from "./openapi.ts";
import { activeIde, createApiApp, parseIfMatch, type ApiLocals } from "./rest.ts";
import type { ClassView, WorkspaceView } from "./types.ts";
import { absolute, documentAjv } from "./validate.ts";

// -- the server ---------------------------------------------------------------------------------------------

const api = new MemoryApi();
const logged: string[] = [];
const labels: string[] = [];
const MAX_BODY = 1024;
let server: Server;
let base: string;

before(async () => {
  const log = {
    debug() {},
    info() {},
    warn() {},
    error: (m: string, meta?: object) => void logged.push(`${m} ${JSON.stringify(meta)}`),
  };
  const app = createApiApp({ api, config: { maxBodyBytes: MAX_BODY }, log });
  // As the API surface does: the caller (here from a test header) and the label setter into locals.
  server = createServer((req, res) => {
    const name = String(req.headers["x-test-user"] ?? "alice");
    const locals: ApiLocals = {
      who: user(name, name === "root" ? ["admin"] : []),
      onRoute: (l) => void labels.push(l),
    };
    (res as ServerResponse & { locals: ApiLocals }).locals = locals;
    app(req, res);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(() => new Promise((r) => server.close(r)));

interface Got {
  status: number;
  headers: Headers;
  text: string;
  json: Record<string, unknown>;
}

async function call(
  method: string,
  path: string,
  opts: { as?: string; body?: unknown; type?: string; headers?: Record<string, string> } = {},
): Promise<Got> {
  const headers: Record<string, string> = { "x-test-user": opts.as ?? "alice", ...opts.headers };
  let body: string | undefined;
  if (opts.body !== undefined) {
    body = typeof opts.body === "string" ? opts.body : JSON.stringify(opts.body);
    headers["content-type"] = opts.type ?? "application/json";
  }
  const res = await fetch(base + path, { method, headers, ...(body !== undefined ? { body } : {}) });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    /* text answers */
  }
  return { status: res.status, headers: res.headers, text, json };
}

/** The body conforms to what the document says the operation answers with that status. */
const ajv = documentAjv(OPENAPI);
function conforms(operationId: string, got: Got): void {
  const op = routes().find((r) => r.op.operationId === operationId)!.op;
  let response = op.responses[String(got.status)] as Schema;
  assert.ok(response, `${operationId} documents ${got.status}`);
  if (response.$ref)
    response = String(response.$ref)
      .slice(2)
      .split("/")
      .reduce<Schema>((n, k) => n[k] as Schema, OPENAPI as Schema);
  const schema = (response.content as Record<string, { schema: Schema }> | undefined)?.["application/json"]
    ?.schema;
  if (!schema) return;
  const validate = ajv.compile(absolute(schema) as Schema);
  assert.ok(validate(got.json), `${operationId} ${got.status}: ${JSON.stringify(validate.errors)}`);
}

function refused(got: Got, status: number, error: string, field?: string): void {
  assert.equal(got.status, status, got.text);
  assert.equal(got.json.error, error, got.text);
  assert.equal(typeof got.json.message, "string");
  assert.equal(got.headers.get("content-type"), "application/json; charset=utf-8");
  if (field !== undefined) {
    assert.equal(got.json.field, field);
    assert.ok(String(got.json.message).includes(field), `the message names ${field}: ${got.json.message}`);
  }
}

// -- routes ---------------------------------------------------------------------------------------------

describe("workspaces", () => {
  test("POST creates one owned by the caller: 201, Location, ETag; GET follows Location", async () => {
    const got = await call("POST", "/api/v1/workspaces", {
      body: { name: "thesis", className: "jupyterlab" },
    });
    assert.equal(got.status, 201, got.text);
    conforms("createWorkspace", got);
    assert.equal(got.json.owner, "alice");
    assert.equal(got.headers.get("location"), "/api/v1/workspaces/ws-alice/thesis");
    assert.equal(got.headers.get("etag"), `"${String(got.json.resourceVersion)}"`);
    assert.equal(got.headers.get("cache-control"), "no-store");
    const again = await call("GET", got.headers.get("location")!);
    assert.equal(again.status, 200);
    conforms("getWorkspace", again);
    assert.equal(again.headers.get("etag"), got.headers.get("etag"));
  });

  test("GET lists the caller's and the shared ones; another user's is 404; all=true is for admins", async () => {
    api.add("bob", "bobs");
    api.add("bob", "shared", { sharedWith: { users: ["alice"] } });
    const mine = await call("GET", "/api/v1/workspaces");
    conforms("listWorkspaces", mine);
    const names = (mine.json.items as WorkspaceView[]).map((w) => w.name);
    assert.ok(names.includes("shared") && !names.includes("bobs"), names.join());
    refused(await call("GET", "/api/v1/workspaces/ws-bob/bobs"), 404, "not_found");
    refused(await call("GET", "/api/v1/workspaces?all=true"), 403, "forbidden");
    const all = await call("GET", "/api/v1/workspaces?all=true", { as: "root" });
    assert.ok((all.json.items as WorkspaceView[]).some((w) => w.name === "bobs"));
  });

  test("a shared workspace may be seen, not changed: 403", async () => {
    refused(await call("POST", "/api/v1/workspaces/ws-bob/shared/stop"), 403, "forbidden");
  });

  test("start, stop and sync answer 202 with Location and ETag", async () => {
    api.add("alice", "repo", { repository: { url: "https://git.test/a/r.git" } });
    for (const [verb, id] of [
      ["stop", "stopWorkspace"],
      ["start", "startWorkspace"],
      ["sync", "syncWorkspace"],
    ] as const) {
      const got = await call("POST", `/api/v1/workspaces/ws-alice/repo/${verb}`);
      assert.equal(got.status, 202, `${verb}: ${got.text}`);
      conforms(id, got);
      assert.equal(got.headers.get("location"), "/api/v1/workspaces/ws-alice/repo");
      const rv =
        verb === "sync" ? (got.json.workspace as WorkspaceView).resourceVersion : got.json.resourceVersion;
      assert.equal(got.headers.get("etag"), `"${String(rv)}"`);
    }
    assert.equal(api.items.get("ws-alice/repo")!.sync?.requested, "s1");
    refused(await call("POST", "/api/v1/workspaces/ws-alice/thesis/sync"), 409, "conflict");
  });

  test("keepalive: 200 with keepAliveUntil; over the max 422 naming duration; a body without it 400; 0s cancels", async () => {
    api.add("alice", "kept");
    const got = await call("POST", "/api/v1/workspaces/ws-alice/kept/keepalive", {
      body: { duration: "3h" },
    });
    assert.equal(got.status, 200, got.text);
    conforms("keepAliveWorkspace", got);
    assert.equal(got.json.keepAliveUntil, "2026-01-01T03:00:00Z");
    assert.equal(got.headers.get("etag"), `"${String(got.json.resourceVersion)}"`);
    refused(
      await call("POST", "/api/v1/workspaces/ws-alice/kept/keepalive", { body: { duration: "9h" } }),
      422,
      "unprocessable",
      "duration",
    );
    refused(
      await call("POST", "/api/v1/workspaces/ws-alice/kept/keepalive", { body: {} }),
      400,
      "invalid",
      "duration",
    );
    refused(
      await call("POST", "/api/v1/workspaces/ws-alice/kept/keepalive", { body: { duration: "1h", x: 1 } }),
      400,
      "invalid",
    );
    refused(
      await call("POST", "/api/v1/workspaces/ws-bob/bobs/keepalive", { body: { duration: "1h" } }),
      404,
      "not_found",
    );
    const off = await call("POST", "/api/v1/workspaces/ws-alice/kept/keepalive", {
      body: { duration: "0s" },
    });
    assert.equal(off.status, 200);
    assert.equal(off.json.keepAliveUntil, undefined);
  });

  test("logs: text/plain, ?lines bounded", async () => {
    const got = await call("GET", "/api/v1/workspaces/ws-alice/thesis/logs?lines=3");
    assert.equal(got.status, 200);
    assert.equal(got.headers.get("content-type"), "text/plain; charset=utf-8");
    assert.equal(got.text, "line 1\nline 2\nline 3\n");
    assert.equal((await call("GET", "/api/v1/workspaces/ws-alice/thesis/logs")).text.split("\n").length, 101);
    refused(await call("GET", "/api/v1/workspaces/ws-alice/thesis/logs?lines=0"), 400, "invalid", "lines");
    refused(await call("GET", "/api/v1/workspaces/ws-alice/thesis/logs?lines=5001"), 400, "invalid", "lines");
  });

  test("DELETE: 204, the volume only with deleteVolume=true", async () => {
    api.add("alice", "gone1");
    api.add("alice", "gone2");
    assert.equal((await call("DELETE", "/api/v1/workspaces/ws-alice/gone1")).status, 204);
    assert.equal((await call("DELETE", "/api/v1/workspaces/ws-alice/gone2?deleteVolume=true")).status, 204);
    assert.ok(api.calls.includes('delete ws-alice/gone1 {"deleteVolume":false}'));
    assert.ok(api.calls.includes('delete ws-alice/gone2 {"deleteVolume":true}'));
    refused(await call("DELETE", "/api/v1/workspaces/ws-alice/gone1"), 404, "not_found");
    refused(
      await call("DELETE", "/api/v1/workspaces/ws-alice/thesis?deleteVolume=yes"),
      400,
      "invalid",
      "deleteVolume",
    );
  });
});

describe("ETag and If-Match", () => {
  test("PATCH with the current ETag changes it; a stale one is 412 and changes nothing", async () => {
    const w = api.add("alice", "patched");
    const url = "/api/v1/workspaces/ws-alice/patched";
    const first = await call("PATCH", url, {
      body: { idleTimeout: "4h" },
      type: "application/merge-patch+json",
      headers: { "if-match": `"${w.resourceVersion}"` },
    });
    assert.equal(first.status, 200, first.text);
    conforms("updateWorkspace", first);
    assert.notEqual(first.headers.get("etag"), `"${w.resourceVersion}"`);
    const stale = await call("PATCH", url, {
      body: { idleTimeout: "8h" },
      headers: { "if-match": `"${w.resourceVersion}"` },
    });
    refused(stale, 412, "precondition_failed");
    assert.equal(api.items.get("ws-alice/patched")!.idleTimeout, "4h");
    // application/json is taken too; a list of tags holding the current one passes; a weak tag never does.
    const current = first.headers.get("etag")!;
    const listed = await call("PATCH", url, {
      body: { running: false },
      headers: { "if-match": `"1", ${current}` },
    });
    assert.equal(listed.status, 200, listed.text);
    refused(
      await call("PATCH", url, {
        body: { running: true },
        headers: { "if-match": `W/${listed.headers.get("etag")}` },
      }),
      412,
      "precondition_failed",
    );
    assert.equal(
      (await call("PATCH", url, { body: { running: true }, headers: { "if-match": "*" } })).status,
      200,
    );
  });

  test("DELETE with a stale If-Match is 412 and the workspace stays", async () => {
    const w = api.add("alice", "kept");
    refused(
      await call("DELETE", "/api/v1/workspaces/ws-alice/kept", { headers: { "if-match": '"1"' } }),
      412,
      "precondition_failed",
    );
    assert.ok(api.items.has("ws-alice/kept"));
    const ok = await call("DELETE", "/api/v1/workspaces/ws-alice/kept", {
      headers: { "if-match": `"${w.resourceVersion}"` },
    });
    assert.equal(ok.status, 204);
  });

  test("parseIfMatch", () => {
    assert.deepEqual(parseIfMatch(undefined), { kind: "none" });
    assert.deepEqual(parseIfMatch(" * "), { kind: "any" });
    assert.deepEqual(parseIfMatch('"12", W/"13"'), { kind: "tags", tags: ["12", 'W/"13"'] });
  });
});

describe("refusals", () => {
  test("unknown field and bad name: 400 invalid naming the field; nothing reaches the service", async () => {
    const before = api.calls.length;
    refused(
      await call("POST", "/api/v1/workspaces", { body: { className: "jupyterlab", owner: "mallory" } }),
      400,
      "invalid",
      "owner",
    );
    refused(
      await call("POST", "/api/v1/workspaces", { body: { className: "jupyterlab", name: "Not_A_Label" } }),
      400,
      "invalid",
      "name",
    );
    refused(
      await call("POST", "/api/v1/workspaces", {
        body: { className: "jupyterlab", storage: { size: "ten" } },
      }),
      400,
      "invalid",
      "storage.size",
    );
    refused(await call("GET", "/api/v1/workspaces/ws-alice/UPPER"), 400, "invalid", "name");
    assert.equal(api.calls.length, before);
  });

  test("malformed JSON: 400 bad_request", async () => {
    refused(await call("POST", "/api/v1/workspaces", { body: '{"className": ' }), 400, "bad_request");
    // JSON that is not an object is the schema's to refuse.
    refused(await call("POST", "/api/v1/workspaces", { body: '"just a string"' }), 400, "invalid");
    refused(await call("POST", "/api/v1/workspaces", { body: "[]" }), 400, "invalid");
  });

  test("a body not of the operation's media type: 415", async () => {
    refused(
      await call("POST", "/api/v1/workspaces", {
        body: "className=x",
        type: "application/x-www-form-urlencoded",
      }),
      415,
      "unsupported_media_type",
    );
    refused(
      await call("POST", "/api/v1/workspaces", { body: '{"className":"x"}', type: "text/plain" }),
      415,
      "unsupported_media_type",
    );
    // merge-patch is for PATCH only
    refused(
      await call("POST", "/api/v1/workspaces", {
        body: { className: "x" },
        type: "application/merge-patch+json",
      }),
      415,
      "unsupported_media_type",
    );
  });

  test("a body past --api-max-body-bytes: 413, declared or streamed, and nothing is created", async () => {
    const before = api.calls.length;
    const big = {
      className: "jupyterlab",
      name: "big",
      idleTimeout: "1h",
      sharedWith: { groups: ["x".repeat(MAX_BODY)] },
    };
    refused(await call("POST", "/api/v1/workspaces", { body: big }), 413, "payload_too_large");
    const chunks = new ReadableStream({
      start(c) {
        c.enqueue(new TextEncoder().encode(JSON.stringify(big)));
        c.close();
      },
    });
    const res = await fetch(`${base}/api/v1/workspaces`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-test-user": "alice" },
      body: chunks,
      duplex: "half",
    } as RequestInit);
    assert.equal(res.status, 413);
    assert.equal(((await res.json()) as { error: string }).error, "payload_too_large");
    assert.equal(api.calls.length, before);
  });
});

describe("refusals of routes and limits", () => {
  test("a known path with another method: 405 with Allow; OPTIONS: 204 with Allow", async () => {
    const got = await call("PUT", "/api/v1/workspaces/ws-alice/thesis", { body: {} });
    refused(got, 405, "method_not_allowed");
    assert.equal(got.headers.get("allow"), "GET, PATCH, DELETE, HEAD, OPTIONS");
    assert.equal((await call("DELETE", "/api/v1/classes")).headers.get("allow"), "GET, HEAD, OPTIONS");
    const options = await call("OPTIONS", "/api/v1/workspaces");
    assert.equal(options.status, 204);
    assert.equal(options.headers.get("allow"), "GET, POST, HEAD, OPTIONS");
  });

  test("an unknown route under /api/v1: 404 JSON", async () => {
    refused(await call("GET", "/api/v1/nothing-here"), 404, "not_found");
    refused(await call("GET", "/api/v1/workspaces/ws-alice/thesis/start/again"), 404, "not_found");
  });

  test("past a per-user limit: 429 {error, message, reason, limit, current, candidates}", async () => {
    api.maxWorkspaces = 1;
    try {
      const got = await call("POST", "/api/v1/workspaces", { as: "carol", body: { className: "vscode" } });
      assert.equal(got.status, 201);
      const over = await call("POST", "/api/v1/workspaces", {
        as: "carol",
        body: { className: "vscode", name: "second" },
      });
      refused(over, 429, "too_many_workspaces");
      conforms("createWorkspace", over);
      assert.deepEqual(Object.keys(over.json), [
        "error",
        "message",
        "reason",
        "limit",
        "current",
        "candidates",
      ]);
      assert.deepEqual(over.json.candidates, [{ namespace: "ws-carol", name: "vscode-1", phase: "Running" }]);
      assert.equal(over.json.limit, 1);
      assert.equal(over.json.current, 1);
    } finally {
      api.maxWorkspaces = 3;
    }
  });

  test("an unexpected error: 500 internal, logged without the caller's credentials", async () => {
    api.bug = new TypeError("cannot read properties of undefined");
    try {
      const got = await call("GET", "/api/v1/workspaces", {
        headers: { authorization: "Bearer s3cr3t-token" },
      });
      assert.equal(got.status, 500);
      assert.deepEqual(got.json, { error: "internal", message: "internal error" });
      assert.equal(logged.length, 1);
      assert.match(logged[0]!, /cannot read properties/);
      assert.doesNotMatch(logged[0]!, /s3cr3t/);
    } finally {
      api.bug = undefined;
    }
  });
});

describe("classes, provision, stats, the document", () => {
  test("GET classes", async () => {
    const got = await call("GET", "/api/v1/classes");
    conforms("listClasses", got);
    assert.deepEqual(
      (got.json.items as ClassView[]).map((c) => c.name),
      ["jupyterlab", "vscode"],
    );
  });

  test("POST provision: 201 new, then 200 the same; access denied 403", async () => {
    const first = await call("POST", "/api/v1/provision", {
      as: "dave",
      body: { repoOwner: "dave", repoName: "notes" },
    });
    assert.equal(first.status, 201, first.text);
    conforms("provision", first);
    assert.equal(first.json.isNew, true);
    assert.equal(first.headers.get("location"), "/api/v1/workspaces/ws-dave/dave-notes");
    const ws = first.json.workspace as WorkspaceView;
    assert.equal(first.headers.get("etag"), `"${ws.resourceVersion}"`);
    const again = await call("POST", "/api/v1/provision", {
      as: "dave",
      body: { repoOwner: "dave", repoName: "notes" },
    });
    assert.equal(again.status, 200);
    assert.equal(again.json.isNew, false);
    assert.deepEqual(again.json.workspace, first.json.workspace);
    const denied = await call("POST", "/api/v1/provision", {
      as: "dave",
      body: { repoOwner: "dave", repoName: "private" },
    });
    refused(denied, 403, "repository_access_denied");
    assert.equal(denied.json.field, "repoName");
    refused(
      await call("POST", "/api/v1/provision", { as: "dave", body: { repoOwner: "dave" } }),
      400,
      "invalid",
      "repoName",
    );
  });

  test("GET stats: admins only", async () => {
    const got = await call("GET", "/api/v1/stats", { as: "root" });
    conforms("stats", got);
    assert.equal(got.json.totalInstances, api.items.size);
    refused(await call("GET", "/api/v1/stats"), 403, "forbidden");
  });

  test("GET openapi.json: the document", async () => {
    const got = await call("GET", "/api/v1/openapi.json");
    assert.equal(got.status, 200);
    assert.deepEqual(got.json, JSON.parse(JSON.stringify(OPENAPI)));
  });

  test("the metrics label is the route template, never the raw path", () => {
    assert.ok(labels.includes("api:POST /api/v1/workspaces/{ns}/{name}/start"), labels.join("\n"));
    assert.ok(labels.includes("api:PUT /api/v1/workspaces/{ns}/{name}"));
    assert.ok(labels.includes("api:unknown"));
    assert.ok(
      labels.every((l) => !l.includes("ws-alice")),
      "no namespace in a label",
    );
  });
});

describe("seed-compatible /api/v1/analysis", () => {
  test("no IDE: GET and DELETE are 404 saying how to create one", async () => {
    refused(await call("GET", "/api/v1/analysis", { as: "erin" }), 404, "not_found");
    const del = await call("DELETE", "/api/v1/analysis", { as: "erin" });
    refused(del, 404, "not_found");
    assert.match(String(del.json.message), /POST \/api\/v1\/analysis/);
  });

  test("POST {ide} creates it (201), then returns it (200); GET is the active one; DELETE keeps the volume", async () => {
    const made = await call("POST", "/api/v1/analysis", { as: "erin", body: { ide: "jupyterlab" } });
    assert.equal(made.status, 201, made.text);
    conforms("createAnalysis", made);
    assert.equal(made.json.owner, "erin");
    const again = await call("POST", "/api/v1/analysis", { as: "erin", body: { ide: "jupyterlab" } });
    assert.equal(again.status, 200);
    assert.equal(again.json.name, made.json.name);
    const active = await call("GET", "/api/v1/analysis", { as: "erin" });
    conforms("getAnalysis", active);
    assert.equal(active.json.name, made.json.name);
    assert.equal((await call("DELETE", "/api/v1/analysis", { as: "erin" })).status, 204);
    assert.ok(api.calls.includes(`delete ws-erin/${String(made.json.name)} {"deleteVolume":false}`));
  });

  test("POST {ide} for a stopped IDE of that class starts it", async () => {
    api.add("frank", "lab", { running: false, phase: "Stopped", status: "STOPPED" });
    const got = await call("POST", "/api/v1/analysis", { as: "frank", body: { ide: "jupyterlab" } });
    assert.equal(got.status, 200);
    assert.equal(got.json.running, true);
    assert.ok(api.calls.includes("start ws-frank/lab"));
  });

  test("POST with an unknown field or a bad class name is refused naming it", async () => {
    refused(
      await call("POST", "/api/v1/analysis", { body: { ide: "jupyterlab", user: "x" } }),
      400,
      "invalid",
      "user",
    );
    refused(await call("POST", "/api/v1/analysis", { body: { ide: "Jupyter Lab" } }), 400, "invalid", "ide");
    const before = api.calls.length;
    refused(await call("POST", "/api/v1/analysis", { body: { ide: "no-such-ide" } }), 400, "invalid", "ide");
    assert.equal(api.calls.length, before, "nothing created");
  });

  test("GET options: the classes", async () => {
    const got = await call("GET", "/api/v1/analysis/options");
    conforms("analysisOptions", got);
    assert.equal((got.json.items as ClassView[]).length, 2);
  });

  test("activeIde: the newest running workspace the caller owns", () => {
    const v = (name: string, owner: string, running: boolean, createdAt: string) =>
      ({ name, namespace: "n", owner, running, createdAt }) as WorkspaceView;
    const views = [
      v("old", "a", true, "2026-01-01T00:00:00Z"),
      v("new", "a", true, "2026-02-01T00:00:00Z"),
      v("stopped", "a", false, "2026-03-01T00:00:00Z"),
      v("other", "b", true, "2026-04-01T00:00:00Z"),
    ];
    assert.equal(activeIde(views, "a")?.name, "new");
    assert.equal(activeIde(views, "c"), undefined);
  });
});
