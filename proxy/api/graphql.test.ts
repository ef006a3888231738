/**
 * GraphQL at POST /graphql, through a real express app on 127.0.0.1 and real HTTP: every query and
 * mutation, the limits (depth, aliases, fragment fan-out and cycles), the refusals in front of
 * graphql-http (method, content type, body size, malformed JSON, batches) and the error codes.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import { createServer, type Server } from "node:http";
import { connect } from "node:net";
import { once } from "node:events";
import express from "express";
import { buildSchema, getIntrospectionQuery, GraphQLError, parse, printSchema } from "graphql";
import { createHandler as createGraphqlHttpHandler } from "graphql-http";
import type { Logger } from "../../common/runtime/log.ts";
import type { Identity } from "../auth/identity.ts";
import { createGraphqlHandler, GRAPHQL_SDL, graphqlSchemaText, readBody } from "./graphql.ts";
import { formatError, GRAPHQL_CODES } from "./graphql-errors.ts";
import { measureDocument } from "./graphql-limits.ts";
import { GRAPHQL_SCHEMA, parseInstanceId, repoOf, toInstance } from "./graphql-schema.ts";
import {
  API_ERROR_CODES,
  ApiError,
  type ApiCaller,
  type ClassView,
  type InstanceStatus,
  type ProvisionResultView,
  type StatsView,
  type WorkspaceApi,
  type WorkspaceView,
} from "./types.ts";

const GIT = "http://git.test";

function view(
  namespace: string,
  name: string,
  owner: string,
  extra: Partial<WorkspaceView> = {},
): WorkspaceView {
  return {
    namespace,
    name,
    owner,
    className: "vscode",
    running: true,
    phase: "Running",
    status: "RUNNING",
    ready: true,
    message: "",
    storage: { reclaimPolicy: "Retain", scope: "workspace" },
    conditions: [],
    createdAt: "2026-12-01T10:00:00Z",
    idleStopped: false,
    resourceVersion: "1",
    ...extra,
  };
}

/**
 * A test double of the service contract (WorkspaceApi): workspaces in a Map, answering as the
 * contract's comments say (404 for what the caller may not see, 403 stats for non-admins, limits
 * with candidates, repository access). The real service (./service.ts) is tested on its own and end
 * to end; this one lets the GraphQL layer be driven through real HTTP and records what it was asked.
 */
class FakeApi implements WorkspaceApi {
  workspaces = new Map<string, WorkspaceView>();
  calls: string[] = [];
  deletes: { id: string; deleteVolume: boolean | undefined }[] = [];
  /** `user:owner/repo` the git server lets read. */
  access = new Set(["alice:acme/app", "alice:acme/new", "bob:acme/app"]);
  maxWorkspaces = 4;

  reset(): void {
    this.workspaces = new Map(
      [
        view("ws-alice", "app", "alice", {
          repository: { url: `${GIT}/acme/app.git` },
          storage: { size: "10Gi", reclaimPolicy: "Retain", scope: "workspace" },
          url: "http://app--ws-alice.portico.test/",
          lastActivity: "2026-12-04T09:00:00Z",
        }),
        view("ws-alice", "notes", "alice", {
          repository: { url: "https://elsewhere.test/x/y.git" },
          running: false,
          phase: "Stopped",
          status: "STOPPED",
          ready: false,
        }),
        view("ws-alice", "broken", "alice"),
        view("ws-bob", "bobs", "bob", { repository: { url: `${GIT}/acme/app.git` } }),
      ].map((v) => [`${v.namespace}/${v.name}`, v]),
    );
    this.calls = [];
    this.deletes = [];
  }

  private mine(who: ApiCaller, namespace: string, name: string): WorkspaceView {
    const v = this.workspaces.get(`${namespace}/${name}`);
    if (!v || v.owner !== who.user)
      throw new ApiError(404, "not_found", `workspace ${namespace}/${name} not found`);
    return v;
  }
  private set(v: WorkspaceView, change: Partial<WorkspaceView>): WorkspaceView {
    const next = { ...v, ...change };
    this.workspaces.set(`${v.namespace}/${v.name}`, next);
    return next;
  }
  private running(v: WorkspaceView, running: boolean): WorkspaceView {
    const status: InstanceStatus = running ? "STARTING" : "STOPPING";
    return this.set(v, { running, status });
  }

  list(who: ApiCaller): WorkspaceView[] {
    this.calls.push("list");
    return [...this.workspaces.values()].filter((v) => v.owner === who.user);
  }
  get(who: ApiCaller, namespace: string, name: string): WorkspaceView {
    this.calls.push("get");
    return this.mine(who, namespace, name);
  }
  create(): Promise<WorkspaceView> {
    throw new Error("GraphQL never creates but through provision");
  }
  update(): Promise<WorkspaceView> {
    throw new Error("GraphQL never updates");
  }
  async start(who: ApiCaller, namespace: string, name: string): Promise<WorkspaceView> {
    this.calls.push("start");
    return this.running(this.mine(who, namespace, name), true);
  }
  async keepAlive(who: ApiCaller, namespace: string, name: string, duration: string): Promise<WorkspaceView> {
    this.calls.push(`keepAlive ${duration}`);
    const v = this.mine(who, namespace, name);
    if (duration !== "3h") throw new ApiError(422, "unprocessable", "duration: at most 8h", "duration");
    return this.set(v, { keepAliveUntil: "2026-12-04T12:00:00Z" });
  }
  async stop(who: ApiCaller, namespace: string, name: string): Promise<WorkspaceView> {
    this.calls.push("stop");
    return this.running(this.mine(who, namespace, name), false);
  }
  async sync(who: ApiCaller, namespace: string, name: string) {
    this.calls.push("sync");
    const v = this.set(this.mine(who, namespace, name), { sync: { requested: "r1", state: "Pending" } });
    return { workspace: v, request: "r1" };
  }
  async delete(
    who: ApiCaller,
    namespace: string,
    name: string,
    opts?: { deleteVolume?: boolean },
  ): Promise<void> {
    this.calls.push("delete");
    this.mine(who, namespace, name);
    this.workspaces.delete(`${namespace}/${name}`);
    this.deletes.push({ id: `${namespace}/${name}`, deleteVolume: opts?.deleteVolume });
  }
  async logs(who: ApiCaller, namespace: string, name: string, lines: number): Promise<string> {
    this.calls.push("logs");
    const v = this.mine(who, namespace, name);
    if (v.name === "broken") throw new Error("kubelet 198.18.0.7:10250 said: token abc123 expired");
    return Array.from({ length: lines }, (_, i) => `${v.name} line ${i + 1}`).join("\n");
  }
  stats(who: ApiCaller): StatsView {
    this.calls.push("stats");
    if (!who.roles.includes("admin"))
      throw new ApiError(403, "forbidden", "instance statistics are for admins only");
    const all = [...this.workspaces.values()];
    return {
      totalInstances: all.length,
      runningInstances: all.filter((v) => v.status === "RUNNING").length,
      stoppedInstances: all.filter((v) => v.status === "STOPPED").length,
      totalStorageUsed: 3 * 2 ** 30 * all.length,
    };
  }
  classes(): ClassView[] {
    return [
      {
        name: "vscode",
        defaults: { storage: "5Gi" },
        bounds: {},
        userLimits: {},
        idle: { warnBefore: "5m", maxKeepAlive: "8h" },
      },
    ];
  }
  async provision(who: ApiCaller, repoOwner: string, repoName: string): Promise<ProvisionResultView> {
    this.calls.push("provision");
    const url = `${GIT}/${repoOwner}/${repoName}.git`;
    const mine = [...this.workspaces.values()].filter((v) => v.owner === who.user);
    const existing = mine.find((v) => v.repository?.url === url);
    if (existing) {
      const ws = existing.running ? existing : this.running(existing, true);
      return { workspace: ws, message: "your existing workspace", isNew: false };
    }
    if (!this.access.has(`${who.user}:${repoOwner}/${repoName}`))
      throw new ApiError(
        403,
        "repository_access_denied",
        `repository access denied: ${repoOwner}/${repoName}`,
        "repoName",
      );
    if (mine.length >= this.maxWorkspaces) {
      const candidates = mine.map((v) => ({ namespace: v.namespace, name: v.name, phase: v.phase }));
      const details = {
        reason: "too_many_workspaces",
        limit: this.maxWorkspaces,
        current: mine.length,
        candidates,
      };
      throw new ApiError(
        429,
        "too_many_workspaces",
        "you have too many workspaces: delete one",
        undefined,
        details,
      );
    }
    const ws = view(`ws-${who.user}`, repoName, who.user, {
      repository: { url },
      status: "PENDING",
      phase: "Pending",
    });
    this.workspaces.set(`${ws.namespace}/${ws.name}`, ws);
    return { workspace: ws, message: "created", isNew: true };
  }
}

/** A logger that keeps its lines, so tests can see what was logged (and what was not answered). */
function memoryLogger(): Logger & { lines: { msg: string; meta?: Record<string, unknown> }[] } {
  const lines: { msg: string; meta?: Record<string, unknown> }[] = [];
  const log = {
    lines,
    debug: () => undefined,
    info: () => undefined,
    warn: (msg: string, meta?: Record<string, unknown>) =>
      void lines.push({ msg, ...(meta ? { meta } : {}) }),
    error: (msg: string, meta?: Record<string, unknown>) =>
      void lines.push({ msg, ...(meta ? { meta } : {}) }),
    child: () => log,
  };
  return log;
}

const api = new FakeApi();
const log = memoryLogger();
const MAX_BODY = 16 * 1024;
let server: Server;
let endpoint: string;

/** An express app as the proxy mounts the handler; `jsonFirst`: with express.json in front of it. */
async function serve(jsonFirst: boolean): Promise<{ server: Server; endpoint: string }> {
  const app = express();
  // Stands in for the proxy's authentication: it sets res.locals.who before the API sees the request.
  app.use((req, res, next) => {
    const user = req.get("x-test-user");
    if (user) {
      const roles = (req.get("x-test-roles") ?? "").split(",").filter(Boolean);
      res.locals.who = { user, groups: [], roles, via: "bearer" } satisfies Identity;
    }
    next();
  });
  if (jsonFirst) app.use(express.json({ limit: MAX_BODY, strict: false }));
  const config = {
    graphql: { maxDepth: 8, maxCost: 500 },
    git: { base: GIT, api: `${GIT}/api/v1`, className: "vscode" },
    maxBodyBytes: MAX_BODY,
  };
  app.all("/graphql", createGraphqlHandler({ api, config, log }));
  const s = app.listen(0, "127.0.0.1");
  await new Promise<void>((resolve) => s.once("listening", resolve));
  return { server: s, endpoint: `http://127.0.0.1:${(s.address() as AddressInfo).port}/graphql` };
}

before(async () => {
  ({ server, endpoint } = await serve(false));
});

after(() => new Promise<void>((resolve) => server.close(() => resolve())));

interface Answer {
  status: number;
  type: string | null;
  headers: Headers;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
}

async function answer(res: Response): Promise<Answer> {
  const text = await res.text();
  return {
    status: res.status,
    type: res.headers.get("content-type"),
    headers: res.headers,
    body: text ? JSON.parse(text) : null,
  };
}

interface Ask {
  variables?: Record<string, unknown>;
  operationName?: string;
  user?: string | null;
  roles?: string;
  accept?: string;
}

/** POSTs one GraphQL request as `user` (alice unless told). */
async function gql(query: string, ask: Ask = {}): Promise<Answer> {
  const headers: Record<string, string> = {
    "content-type": "application/json",
    accept: ask.accept ?? "application/graphql-response+json",
  };
  const user = ask.user === undefined ? "alice" : ask.user;
  if (user) headers["x-test-user"] = user;
  if (ask.roles) headers["x-test-roles"] = ask.roles;
  const body = JSON.stringify({ query, variables: ask.variables, operationName: ask.operationName });
  return answer(await fetch(endpoint, { method: "POST", headers, body }));
}

/** POSTs raw bytes as alice. */
async function post(body: string, contentType = "application/json"): Promise<Answer> {
  const headers = {
    "content-type": contentType,
    accept: "application/graphql-response+json",
    "x-test-user": "alice",
  };
  return answer(await fetch(endpoint, { method: "POST", headers, body }));
}

const codes = (a: Answer): string[] =>
  (a.body?.errors ?? []).map((e: { extensions?: { code?: string } }) => e.extensions?.code);

const INSTANCE_FIELDS = "id userId repoName repoOwner url status createdAt lastAccessedAt storageUsed";

describe("graphql: queries", () => {
  before(() => api.reset());

  it("myCodeServers: the caller's instances, mapped from the views", async () => {
    const a = await gql(`{ myCodeServers { ${INSTANCE_FIELDS} } }`);
    assert.equal(a.status, 200);
    assert.match(a.type ?? "", /^application\/graphql-response\+json/);
    assert.equal(a.headers.get("cache-control"), "no-store");
    const byId = new Map(a.body.data.myCodeServers.map((i: { id: string }) => [i.id, i]));
    assert.deepEqual([...byId.keys()].sort(), ["ws-alice/app", "ws-alice/broken", "ws-alice/notes"]);
    assert.deepEqual(byId.get("ws-alice/app"), {
      id: "ws-alice/app",
      userId: "alice",
      repoName: "app",
      repoOwner: "acme",
      url: "http://app--ws-alice.portico.test/",
      status: "RUNNING",
      createdAt: "2026-12-01T10:00:00Z",
      lastAccessedAt: "2026-12-04T09:00:00Z",
      storageUsed: 10 * 2 ** 30, // past Int's 2^31 - 1: why the field is a Float
    });
    // A repository on another server has no owner/name here; no size asked: the class's default.
    const notes = byId.get("ws-alice/notes") as Record<string, unknown>;
    assert.equal(notes.repoOwner, null);
    assert.equal(notes.repoName, null);
    assert.equal(notes.url, null);
    assert.equal(notes.status, "STOPPED");
    assert.equal(notes.storageUsed, 5 * 2 ** 30);
    const bob = await gql("{ myCodeServers { id userId } }", { user: "bob" });
    assert.deepEqual(bob.body.data.myCodeServers, [{ id: "ws-bob/bobs", userId: "bob" }]);
  });

  it("codeServer and codeServerStatus: the instance; another user's id is NOT_FOUND", async () => {
    const own = await gql(
      '{ codeServer(id: "ws-alice/app") { id status repoOwner } codeServerStatus(id: "ws-alice/notes") }',
    );
    assert.equal(own.status, 200);
    assert.deepEqual(own.body.data, {
      codeServer: { id: "ws-alice/app", status: "RUNNING", repoOwner: "acme" },
      codeServerStatus: "STOPPED",
    });
    const theirs = await gql(
      '{ codeServer(id: "ws-alice/app") { id } codeServerStatus(id: "ws-alice/app") }',
      { user: "bob" },
    );
    assert.equal(theirs.status, 200); // data is there (nulls): an execution error, not a request error
    assert.deepEqual(theirs.body.data, { codeServer: null, codeServerStatus: null });
    assert.deepEqual(codes(theirs), ["NOT_FOUND", "NOT_FOUND"]);
    assert.deepEqual(theirs.body.errors[0].path, ["codeServer"]);
    assert.equal(theirs.body.errors[0].message, "workspace ws-alice/app not found");
  });

  it("codeServer with variables; a missing variable is BAD_USER_INPUT and a 400", async () => {
    const q = "query One($id: ID!) { codeServer(id: $id) { id } }";
    const ok = await gql(q, { variables: { id: "ws-alice/notes" } });
    assert.deepEqual(ok.body.data, { codeServer: { id: "ws-alice/notes" } });
    const missing = await gql(q);
    assert.equal(missing.status, 400);
    assert.equal(missing.body.data, undefined);
    assert.deepEqual(codes(missing), ["BAD_USER_INPUT"]);
    assert.match(missing.body.errors[0].message, /\$id/);
  });

  it("codeServerLogs: the last lines, 100 unless told; lines out of 1..5000 is BAD_USER_INPUT naming lines", async () => {
    const a = await gql(
      '{ two: codeServerLogs(id: "ws-alice/app", lines: 2) dflt: codeServerLogs(id: "ws-alice/app") }',
    );
    assert.equal(a.body.data.two, "app line 1\napp line 2");
    assert.equal(a.body.data.dflt.split("\n").length, 100);
    for (const lines of [0, 5001, -3]) {
      const bad = await gql(`{ codeServerLogs(id: "ws-alice/app", lines: ${lines}) }`);
      assert.deepEqual(codes(bad), ["BAD_USER_INPUT"], String(lines));
      assert.equal(bad.body.errors[0].extensions.field, "lines");
    }
  });

  it("health: ok", async () => {
    const a = await gql("{ health }");
    assert.deepEqual(a.body, { data: { health: "ok" } });
  });

  it("instanceStats: admins only (FORBIDDEN otherwise), over every user's instances", async () => {
    const q = "{ instanceStats { totalInstances runningInstances stoppedInstances totalStorageUsed } }";
    const alice = await gql(q);
    assert.deepEqual(alice.body.data, { instanceStats: null });
    assert.deepEqual(codes(alice), ["FORBIDDEN"]);
    const admin = await gql(q, { user: "carol", roles: "admin" });
    assert.deepEqual(admin.body.data.instanceStats, {
      totalInstances: 4,
      runningInstances: 3,
      stoppedInstances: 1,
      totalStorageUsed: 12 * 2 ** 30,
    });
  });

  it("introspection is allowed within the default limits (GraphiQL's full query), and counted", async () => {
    const a = await gql(getIntrospectionQuery({ descriptions: true, inputValueDeprecation: true }));
    assert.equal(a.status, 200);
    const names = a.body.data.__schema.types.map((t: { name: string }) => t.name);
    for (const t of ["CodeServerInstance", "InstanceStatus", "ProvisionResult", "InstanceStats"])
      assert.ok(names.includes(t), t);
    assert.ok(measureDocument(parse(getIntrospectionQuery())).cost > 100); // it is counted, not exempt
  });
});

describe("graphql: mutations", () => {
  before(() => api.reset());

  it("provisionCodeServer: new, then the same instance again (isNew false)", async () => {
    const q = `mutation P($o: String!, $r: String!) { provisionCodeServer(repoOwner: $o, repoName: $r) { isNew message instance { id repoOwner repoName status userId } } }`;
    const first = await gql(q, { variables: { o: "acme", r: "new" } });
    assert.equal(first.status, 200);
    assert.deepEqual(first.body.data.provisionCodeServer, {
      isNew: true,
      message: "created",
      instance: {
        id: "ws-alice/new",
        repoOwner: "acme",
        repoName: "new",
        status: "PENDING",
        userId: "alice",
      },
    });
    const again = await gql(q, { variables: { o: "acme", r: "new" } });
    assert.equal(again.body.data.provisionCodeServer.isNew, false);
    assert.equal(again.body.data.provisionCodeServer.instance.id, "ws-alice/new");
  });

  it("provisionCodeServer: no access is REPOSITORY_ACCESS_DENIED naming the field; a limit keeps its candidates", async () => {
    const denied = await gql(
      'mutation { provisionCodeServer(repoOwner: "acme", repoName: "secret") { isNew } }',
    );
    assert.deepEqual(denied.body.data, { provisionCodeServer: null });
    assert.deepEqual(codes(denied), ["REPOSITORY_ACCESS_DENIED"]);
    assert.equal(denied.body.errors[0].extensions.field, "repoName");
    api.access.add("alice:acme/more");
    const full = await gql('mutation { provisionCodeServer(repoOwner: "acme", repoName: "more") { isNew } }');
    assert.deepEqual(codes(full), ["TOO_MANY_WORKSPACES"]);
    const details = full.body.errors[0].extensions.details;
    assert.equal(details.limit, 4);
    assert.equal(details.current, 4);
    assert.deepEqual(details.candidates.map((c: { name: string }) => c.name).sort(), [
      "app",
      "broken",
      "new",
      "notes",
    ]);
    assert.equal(api.workspaces.has("ws-alice/more"), false);
  });

  it("stopCodeServer and startCodeServer: the instance as it is now", async () => {
    const stop = await gql('mutation { stopCodeServer(id: "ws-alice/app") { id status } }');
    assert.deepEqual(stop.body.data.stopCodeServer, { id: "ws-alice/app", status: "STOPPING" });
    assert.equal(api.workspaces.get("ws-alice/app")?.running, false);
    const start = await gql('mutation { startCodeServer(id: "ws-alice/app") { status } }');
    assert.deepEqual(start.body.data.startCodeServer, { status: "STARTING" });
    assert.equal(api.workspaces.get("ws-alice/app")?.running, true);
    const theirs = await gql('mutation { stopCodeServer(id: "ws-alice/app") { id } }', { user: "bob" });
    assert.deepEqual(codes(theirs), ["NOT_FOUND"]);
    assert.equal(api.workspaces.get("ws-alice/app")?.running, true);
  });

  it("syncRepository: asks the service to sync and returns the instance", async () => {
    const a = await gql('mutation { syncRepository(id: "ws-alice/app") { id status } }');
    assert.deepEqual(a.body.data.syncRepository, { id: "ws-alice/app", status: "STARTING" });
    assert.equal(api.workspaces.get("ws-alice/app")?.sync?.requested, "r1");
  });

  it("keepAliveCodeServer: the instance with keepAliveUntil; over the max BAD_USER_INPUT naming duration; another user's NOT_FOUND", async () => {
    const a = await gql(
      'mutation { keepAliveCodeServer(id: "ws-alice/app", duration: "3h") { id keepAliveUntil idleStopped stopsAt } }',
    );
    assert.deepEqual(a.body.data.keepAliveCodeServer, {
      id: "ws-alice/app",
      keepAliveUntil: "2026-12-04T12:00:00Z",
      idleStopped: false,
      stopsAt: null,
    });
    const over = await gql('mutation { keepAliveCodeServer(id: "ws-alice/app", duration: "9h") { id } }');
    assert.deepEqual(codes(over), ["BAD_USER_INPUT"]);
    assert.equal(over.body.errors[0].extensions.field, "duration");
    const theirs = await gql('mutation { keepAliveCodeServer(id: "ws-alice/app", duration: "3h") { id } }', {
      user: "bob",
    });
    assert.deepEqual(codes(theirs), ["NOT_FOUND"]);
  });

  it("deleteCodeServer: deletes with its volume (deleteVolume: true); then it is NOT_FOUND", async () => {
    const a = await gql('mutation { deleteCodeServer(id: "ws-alice/notes") }');
    assert.deepEqual(a.body.data, { deleteCodeServer: true });
    assert.deepEqual(api.deletes, [{ id: "ws-alice/notes", deleteVolume: true }]);
    const gone = await gql('{ codeServer(id: "ws-alice/notes") { id } }');
    assert.deepEqual(codes(gone), ["NOT_FOUND"]);
    const again = await gql('mutation { deleteCodeServer(id: "ws-alice/notes") }');
    assert.deepEqual(again.body.data, { deleteCodeServer: null });
    assert.deepEqual(codes(again), ["NOT_FOUND"]);
  });

  it("operationName picks the operation; several without one, or a name not there, is BAD_REQUEST", async () => {
    const doc = 'query H { health } mutation S { stopCodeServer(id: "ws-alice/app") { status } }';
    api.calls = [];
    const h = await gql(doc, { operationName: "H" });
    assert.deepEqual(h.body.data, { health: "ok" });
    assert.deepEqual(api.calls, []); // the mutation in the same document did not run
    for (const operationName of [undefined, "Nope"]) {
      const a = await gql(doc, operationName ? { operationName } : {});
      assert.equal(a.status, 400, String(operationName));
      assert.deepEqual(codes(a), ["BAD_REQUEST"]);
      assert.equal(a.body.errors[0].extensions.field, "operationName");
    }
    assert.deepEqual(api.calls, []);
  });
});

describe("graphql: bad ids", () => {
  before(() => api.reset());

  for (const id of [
    "nope",
    "ws-alice/app/x",
    "WS-alice/app",
    "/app",
    "ws-alice/",
    "ws-alice/a_b",
    "",
    `${"a".repeat(64)}/app`,
  ])
    it(`id ${JSON.stringify(id.slice(0, 20))} is BAD_USER_INPUT naming id, and the service is not asked`, async () => {
      api.calls = [];
      const a = await gql("mutation D($id: ID!) { deleteCodeServer(id: $id) }", { variables: { id } });
      assert.deepEqual(a.body.data, { deleteCodeServer: null });
      assert.deepEqual(codes(a), ["BAD_USER_INPUT"]);
      assert.equal(a.body.errors[0].extensions.field, "id");
      assert.deepEqual(api.calls, []);
    });
});

describe("graphql: limits, before validation and execution", () => {
  before(() => api.reset());

  it("a depth bomb (introspection nested 9 deep) is QUERY_TOO_DEEP", async () => {
    const a = await gql(
      "{ __schema { types { fields { type { fields { type { fields { type { name } } } } } } } } }",
    );
    assert.equal(a.status, 400);
    assert.equal(a.body.data, undefined);
    assert.deepEqual(codes(a), ["QUERY_TOO_DEEP"]);
    assert.deepEqual(a.body.errors[0].extensions.details, { limit: 8, actual: 9 });
  });

  it("an alias bomb (1000 aliases of health; 600 of myCodeServers) is QUERY_TOO_COSTLY, nothing runs", async () => {
    const health = Array.from({ length: 1000 }, (_, i) => `a${i}: health`).join(" ");
    const a = await gql(`{ ${health} }`);
    assert.equal(a.status, 400);
    assert.deepEqual(codes(a), ["QUERY_TOO_COSTLY"]);
    assert.deepEqual(a.body.errors[0].extensions.details, { limit: 500, actual: 1000 });
    api.calls = [];
    const lists = Array.from({ length: 600 }, (_, i) => `l${i}: myCodeServers { id }`).join(" ");
    const b = await gql(`{ ${lists} }`);
    assert.deepEqual(codes(b), ["QUERY_TOO_COSTLY"]);
    assert.deepEqual(api.calls, []);
    // Just within: 500 aliases run.
    const fits = await gql(`{ ${Array.from({ length: 500 }, (_, i) => `a${i}: health`).join(" ")} }`);
    assert.equal(fits.status, 200);
    assert.equal(Object.keys(fits.body.data).length, 500);
  });

  // The timeout guards against a hang (2^40 expansions) should the measure ever expand fragments; not a speed check.
  it(
    "fragment fan-out (each fragment spreads the next twice, 40 deep) is measured, not expanded: QUERY_TOO_COSTLY",
    { timeout: 60_000 },
    async () => {
      const frags = Array.from(
        { length: 40 },
        (_, i) => `fragment F${i} on Query { ...F${i + 1} ...F${i + 1} }`,
      );
      const a = await gql(`query { ...F0 } ${frags.join(" ")} fragment F40 on Query { health }`);
      assert.deepEqual(codes(a), ["QUERY_TOO_COSTLY"]);
      assert.equal(a.body.errors[0].extensions.details.actual, 2 ** 40);
    },
  );

  it("a fragment cycle ends the measure and is refused by validation", async () => {
    const a = await gql("query { ...A } fragment A on Query { health ...B } fragment B on Query { ...A }");
    assert.equal(a.status, 400);
    assert.ok(codes(a).length > 0);
    assert.ok(codes(a).every((c) => c === "GRAPHQL_VALIDATION_FAILED"));
    assert.match(a.body.errors[0].message, /Cannot spread fragment "A" within itself/);
  });

  it("cost counts every operation and unused fragments of the document", () => {
    const m = measureDocument(
      parse("query A { health } query B { health h2: health } fragment U on Query { health }"),
    );
    assert.deepEqual(m, { depth: 1, cost: 4 });
    // ofType adds no depth; the list fields around it do.
    assert.equal(
      measureDocument(parse('{ __type(name: "X") { ofType { ofType { ofType { name } } } } }')).depth,
      2,
    );
  });
});

describe("graphql: refusals in front of graphql-http", () => {
  before(() => api.reset());

  it("a batch (JSON array) is BAD_REQUEST 400, and none of it runs", async () => {
    const batch = [{ query: "{ health }" }, { query: 'mutation { deleteCodeServer(id: "ws-alice/app") }' }];
    api.calls = [];
    const a = await post(JSON.stringify(batch));
    assert.equal(a.status, 400);
    assert.deepEqual(codes(a), ["BAD_REQUEST"]);
    assert.match(a.body.errors[0].message, /batched operations are not supported/);
    assert.deepEqual(api.calls, []);
    assert.ok(api.workspaces.has("ws-alice/app"));
  });

  it("GET, even of a mutation, is 405 with Allow: POST, and nothing runs", async () => {
    api.calls = [];
    const q = encodeURIComponent('mutation { deleteCodeServer(id: "ws-alice/app") }');
    const a = await answer(await fetch(`${endpoint}?query=${q}`, { headers: { "x-test-user": "alice" } }));
    assert.equal(a.status, 405);
    assert.equal(a.headers.get("allow"), "POST");
    assert.deepEqual(codes(a), ["METHOD_NOT_ALLOWED"]);
    const query = await answer(
      await fetch(`${endpoint}?query=${encodeURIComponent("{ health }")}`, {
        headers: { "x-test-user": "alice" },
      }),
    );
    assert.equal(query.status, 405);
    assert.deepEqual(api.calls, []);
    assert.ok(api.workspaces.has("ws-alice/app"));
  });

  it("graphql-http on its own refuses a mutation over GET too (the guard behind ours)", async () => {
    const handler = createGraphqlHttpHandler({
      schema: GRAPHQL_SCHEMA,
      rootValue: { deleteCodeServer: () => assert.fail("ran") },
    });
    const url = `/graphql?query=${encodeURIComponent('mutation { deleteCodeServer(id: "a/b") }')}`;
    const [, init] = await handler({ method: "GET", url, headers: {}, body: null, raw: null, context: null });
    assert.equal(init.status, 405);
  });

  it("malformed JSON is BAD_REQUEST 400", async () => {
    for (const body of ['{"query": ', "nul", "'{ health }'"]) {
      const a = await post(body);
      assert.equal(a.status, 400, body);
      assert.deepEqual(codes(a), ["BAD_REQUEST"]);
      assert.match(a.body.errors[0].message, /not valid JSON/);
    }
    for (const body of ["null", "42", '"{ health }"']) {
      const a = await post(body);
      assert.equal(a.status, 400, body);
      assert.match(a.body.errors[0].message, /must be a JSON object/);
    }
  });

  it("a body that is an object but no GraphQL request is BAD_REQUEST (graphql-http's own check)", async () => {
    // Fields named like a refusal's are just unknown fields of a request without a query.
    const lookalike = await post(JSON.stringify({ status: 99, code: "X", message: "m" }));
    assert.equal(lookalike.status, 400);
    assert.deepEqual(codes(lookalike), ["BAD_REQUEST"]);
    const a = await post(JSON.stringify({ query: 42 }));
    assert.equal(a.status, 400);
    assert.deepEqual(codes(a), ["BAD_REQUEST"]);
    const v = await post(JSON.stringify({ query: "{ health }", variables: [1] }));
    assert.equal(v.status, 400);
    assert.deepEqual(codes(v), ["BAD_REQUEST"]);
  });

  it("a content type other than application/json (UTF-8) is UNSUPPORTED_MEDIA_TYPE 415", async () => {
    for (const type of [
      "text/plain",
      "application/graphql",
      "application/x-www-form-urlencoded",
      "application/json; charset=latin1",
    ]) {
      const a = await post(JSON.stringify({ query: "{ health }" }), type);
      assert.equal(a.status, 415, type);
      assert.deepEqual(codes(a), ["UNSUPPORTED_MEDIA_TYPE"]);
    }
    const ok = await post(JSON.stringify({ query: "{ health }" }), "Application/JSON; charset=UTF-8");
    assert.equal(ok.status, 200);
  });

  it("a body past maxBodyBytes is PAYLOAD_TOO_LARGE 413, and the connection still answers", async () => {
    const big = JSON.stringify({ query: "{ health }", variables: { pad: "x".repeat(MAX_BODY) } });
    const a = await post(big);
    assert.equal(a.status, 413);
    assert.deepEqual(codes(a), ["PAYLOAD_TOO_LARGE"]);
    // Chunked (no Content-Length): counted while read.
    const stream = new ReadableStream({
      start(c) {
        for (let i = 0; i < 4; i++)
          c.enqueue(new TextEncoder().encode(i ? "x".repeat(MAX_BODY / 2) : '{"query":"{ health }","v":"'));
        c.close();
      },
    });
    const headers = { "content-type": "application/json", "x-test-user": "alice" };
    const chunked = await answer(
      await fetch(endpoint, { method: "POST", headers, body: stream, duplex: "half" } as RequestInit),
    );
    assert.equal(chunked.status, 413);
    assert.equal((await gql("{ health }")).status, 200);
  });
});

describe("graphql: readBody", () => {
  it("settles when the client goes away mid-body (rejects), and bounds what it keeps", async () => {
    const outcomes: Promise<string>[] = [];
    const srv = createServer((req, res) => {
      outcomes.push(
        readBody(req, 64).then(
          (b) => (b === undefined ? "too large" : `read ${b.length}`),
          (err: Error) => `rejected: ${err.message}`,
        ),
      );
      void outcomes.at(-1)?.then(() => res.end());
    });
    srv.listen(0, "127.0.0.1");
    await once(srv, "listening");
    const { port } = srv.address() as AddressInfo;
    try {
      const sock = connect(port, "127.0.0.1");
      await once(sock, "connect");
      const asked = once(srv, "request");
      sock.write("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n0123456789");
      await asked;
      sock.destroy();
      assert.match(await outcomes[0]!, /^rejected: /);
      const ok = await fetch(`http://127.0.0.1:${port}/`, { method: "POST", body: "x".repeat(64) });
      await ok.text();
      assert.equal(await outcomes[1], "read 64");
      const big = await fetch(`http://127.0.0.1:${port}/`, { method: "POST", body: "x".repeat(65) });
      await big.text();
      assert.equal(await outcomes[2], "too large");
    } finally {
      srv.closeAllConnections();
      await new Promise((r) => srv.close(r));
    }
  });
});

describe("graphql: refusals of graphql-http's phases (Accept, parse, validation)", () => {
  before(() => api.reset());

  it("an unknown field is GRAPHQL_VALIDATION_FAILED: 400, or 200 for a legacy application/json client", async () => {
    const a = await gql("{ health nope }");
    assert.equal(a.status, 400);
    assert.deepEqual(codes(a), ["GRAPHQL_VALIDATION_FAILED"]);
    assert.match(a.body.errors[0].message, /"nope"/);
    const legacy = await gql("{ health nope }", { accept: "application/json" });
    assert.equal(legacy.status, 200);
    assert.match(legacy.type ?? "", /^application\/json/);
    assert.deepEqual(codes(legacy), ["GRAPHQL_VALIDATION_FAILED"]);
  });

  it("a syntax error is GRAPHQL_PARSE_FAILED 400", async () => {
    const a = await gql("{ health ");
    assert.equal(a.status, 400);
    assert.deepEqual(codes(a), ["GRAPHQL_PARSE_FAILED"]);
    // Past ten tokens per field the cost allows (5000 here), the parser stops: no document to measure.
    const long = await gql(`{ ${"a ".repeat(6000)}}`);
    assert.equal(long.status, 400);
    assert.deepEqual(codes(long), ["GRAPHQL_PARSE_FAILED"]);
    assert.match(long.body.errors[0].message, /more than 5000 tokens/);
  });

  it("an Accept it cannot serve is NOT_ACCEPTABLE 406", async () => {
    const a = await gql("{ health }", { accept: "text/html" });
    assert.equal(a.status, 406);
    assert.deepEqual(codes(a), ["NOT_ACCEPTABLE"]);
  });

  it("no identity (the surface authenticates first; defence in depth) is UNAUTHENTICATED 401", async () => {
    const a = await gql("{ health }", { user: null });
    assert.equal(a.status, 401);
    assert.deepEqual(codes(a), ["UNAUTHENTICATED"]);
  });
});

describe("graphql: behind a body parser", () => {
  let other: { server: Server; endpoint: string };
  before(async () => {
    api.reset();
    other = await serve(true);
  });
  after(() => new Promise<void>((resolve) => other.server.close(() => resolve())));

  it("a body express.json parsed already is used as is; a batch is still refused", async () => {
    const headers = { "content-type": "application/json", "x-test-user": "alice" };
    const send = async (body: unknown) =>
      answer(await fetch(other.endpoint, { method: "POST", headers, body: JSON.stringify(body) }));
    const ok = await send({
      query: "query Q($id: ID!) { codeServer(id: $id) { id } }",
      variables: { id: "ws-alice/app" },
    });
    assert.deepEqual(ok.body, { data: { codeServer: { id: "ws-alice/app" } } });
    const batch = await send([{ query: "{ health }" }]);
    assert.equal(batch.status, 400);
    assert.deepEqual(codes(batch), ["BAD_REQUEST"]);
    const scalar = await send("{ health }");
    assert.equal(scalar.status, 400);
    assert.match(scalar.body.errors[0].message, /must be a JSON object/);
  });
});

describe("graphql: errors", () => {
  before(() => api.reset());

  it("an unexpected error is logged and answered INTERNAL_SERVER_ERROR 'internal error', nothing internal in it", async () => {
    log.lines.length = 0;
    const a = await gql('{ health codeServerLogs(id: "ws-alice/broken") }');
    assert.equal(a.status, 200);
    assert.deepEqual(a.body.data, { health: "ok", codeServerLogs: null });
    assert.deepEqual(a.body.errors, [
      {
        message: "internal error",
        locations: [{ line: 1, column: 10 }],
        path: ["codeServerLogs"],
        extensions: { code: "INTERNAL_SERVER_ERROR" },
      },
    ]);
    assert.doesNotMatch(JSON.stringify(a.body), /kubelet|abc123|stack/);
    assert.equal(log.lines.length, 1);
    assert.match(String(log.lines[0]?.meta?.error), /kubelet/);
  });

  it("every service error code maps to a GraphQL code, field and details kept", () => {
    for (const code of API_ERROR_CODES) {
      // As graphql-js hands a resolver's throw to formatError: located, the ApiError as its cause.
      const cause = new ApiError(400, code, `m ${code}`, "f", { reason: code });
      const e = formatError(new GraphQLError(cause.message, { path: ["f"], originalError: cause }), log);
      assert.equal(e.extensions.code, GRAPHQL_CODES[code]);
      assert.match(String(e.extensions.code), /^[A-Z_]+$/);
      assert.equal(e.extensions.field, "f");
      assert.deepEqual(e.extensions.details, { reason: code });
      assert.equal(e.message, `m ${code}`);
    }
    assert.equal(GRAPHQL_CODES.not_found, "NOT_FOUND");
    assert.equal(GRAPHQL_CODES.forbidden, "FORBIDDEN");
    assert.equal(GRAPHQL_CODES.invalid, "BAD_USER_INPUT");
  });
});

describe("graphql: schema and mapping", () => {
  it("the schema has the issue's operations and types, every field and argument documented", () => {
    const ops: Record<string, Record<string, [string, string]>> = {
      Query: {
        myCodeServers: ["", "[CodeServerInstance!]!"],
        codeServer: ["id: ID!", "CodeServerInstance"],
        codeServerStatus: ["id: ID!", "InstanceStatus"],
        codeServerLogs: ["id: ID!, lines: Int", "String"],
        health: ["", "String!"],
        instanceStats: ["", "InstanceStats"],
      },
      Mutation: {
        provisionCodeServer: ["repoOwner: String!, repoName: String!", "ProvisionResult"],
        stopCodeServer: ["id: ID!", "CodeServerInstance"],
        startCodeServer: ["id: ID!", "CodeServerInstance"],
        deleteCodeServer: ["id: ID!", "Boolean"],
        syncRepository: ["id: ID!", "CodeServerInstance"],
        keepAliveCodeServer: ["id: ID!, duration: String!", "CodeServerInstance"],
      },
    };
    for (const [root, fields] of Object.entries(ops)) {
      const t = root === "Query" ? GRAPHQL_SCHEMA.getQueryType() : GRAPHQL_SCHEMA.getMutationType();
      assert.ok(t, root);
      const actual = Object.fromEntries(
        Object.values(t.getFields()).map((f) => [
          f.name,
          [f.args.map((a) => `${a.name}: ${String(a.type)}`).join(", "), String(f.type)],
        ]),
      );
      assert.deepEqual(actual, fields, root);
      for (const f of Object.values(t.getFields()))
        for (const a of f.args) assert.ok(a.description, `${f.name}(${a.name})`);
    }
    const shapes: Record<string, string[]> = {
      CodeServerInstance: [
        "id",
        "userId",
        "repoName",
        "repoOwner",
        "url",
        "status",
        "createdAt",
        "lastAccessedAt",
        "stopsAt",
        "keepAliveUntil",
        "idleStopped",
        "storageUsed",
      ],
      ProvisionResult: ["instance", "message", "isNew"],
      InstanceStats: ["totalInstances", "runningInstances", "stoppedInstances", "totalStorageUsed"],
      InstanceStatus: ["PENDING", "STARTING", "RUNNING", "STOPPING", "STOPPED", "ERROR"],
    };
    for (const [type, names] of Object.entries(shapes)) {
      const t = GRAPHQL_SCHEMA.getType(type);
      assert.ok(t?.description, type);
      const members =
        "getFields" in t
          ? Object.values(t.getFields())
          : "getValues" in t
            ? t.getValues()
            : assert.fail(type);
      assert.deepEqual(
        members.map((m) => m.name),
        names,
        type,
      );
      for (const m of members) assert.ok(m.description, `${type}.${m.name} has a description`);
    }
    assert.match(graphqlSchemaText(), /lines: Int = 100/);
    assert.equal(printSchema(buildSchema(GRAPHQL_SDL)), graphqlSchemaText());
  });

  it("ids and repository URLs parse strictly", () => {
    assert.deepEqual(parseInstanceId("ws-a/b-1"), { namespace: "ws-a", name: "b-1" });
    for (const bad of ["a", "a/b/c", "A/b", "a/-b", "a/b ", " a/b", "a//b"])
      assert.equal(parseInstanceId(bad), undefined, bad);
    assert.deepEqual(repoOf(`${GIT}/acme/app.git`, GIT), { owner: "acme", name: "app" });
    assert.deepEqual(repoOf(`${GIT}/acme/app`, `${GIT}/`), { owner: "acme", name: "app" });
    for (const url of [
      `${GIT}x/acme/app.git`,
      `${GIT}/acme/app/extra.git`,
      `${GIT}/acme.git`,
      `${GIT}/../app.git`,
      "https://other.test/acme/app.git",
    ])
      assert.equal(repoOf(url, GIT), undefined, url);
    assert.equal(repoOf(`${GIT}/acme/app.git`, undefined), undefined);
    const v = view("n", "w", "u", {
      storage: { size: "1500M", reclaimPolicy: "Retain", scope: "workspace" },
    });
    assert.equal(toInstance(v, GIT).storageUsed, 1.5e9);
    assert.equal(toInstance(view("n", "w", "u"), GIT).storageUsed, null);
  });
});
