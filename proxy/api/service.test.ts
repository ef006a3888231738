/**
 * The service layer against in-memory caches and an in-memory store (a test double of
 * WorkspaceStore: the real one talks to the API server and is exercised end to end in
 * e2e/tests/api-*.test.ts). Every refusal must leave the store untouched.
 */
import assert from "node:assert/strict";
import test from "node:test";
import type { Workspace, WorkspaceClass } from "../../crds/types.ts";
import type { Identity } from "../auth/identity.ts";
import { WorkspaceService, ownClaim, type RepoAccessCheck } from "./service.ts";
import type { WorkspaceStore } from "./store.ts";
import { ApiError, type ApiConfig } from "./types.ts";
import {
  ACTIVITY_PROXY_ANNOTATION,
  IDLE_STOPPED_ANNOTATION,
  WOKEN_ANNOTATION,
} from "../../common/model/workspace/lifecycle.ts";

const who = (user: string, roles: string[] = []): Identity => ({
  user,
  groups: [],
  roles,
  via: "bearer",
  token: `tok-${user}`,
});
const alice = who("alice");
const bob = who("bob");
const admin = who("root", ["portico-admin"]);

const cls = (name: string, extra: Record<string, unknown> = {}): WorkspaceClass =>
  ({
    apiVersion: "portico.dev/v1alpha1",
    kind: "WorkspaceClass",
    metadata: { name },
    spec: { image: "x", port: 8080, storage: { size: "1Gi" }, ...extra },
  }) as WorkspaceClass;

const config: ApiConfig = {
  enabled: true,
  namespace: "ws-{user}",
  maxWorkspacesPerUser: 3,
  maxRunningPerUser: 2,
  maxBodyBytes: 65536,
  git: { base: "http://git.test", api: "http://git.test/api/v1", className: "vscode" },
  graphql: { maxDepth: 8, maxCost: 500 },
};

function world(
  opts: {
    access?: RepoAccessCheck;
    classes?: WorkspaceClass[];
    cachesBlind?: boolean;
    lagging?: boolean;
    nowMs?: () => number;
  } = {},
) {
  const objects = new Map<string, Workspace>();
  const claims = new Map<string, Record<string, string>>();
  const writes: string[] = [];
  let rv = 1;
  const classes = new Map(
    (opts.classes ?? [cls("vscode", { bounds: { maxStorage: "10Gi", maxCpu: "2" } }), cls("jupyter")]).map(
      (c) => [c.metadata.name!, c],
    ),
  );
  const k = (ns: string, n: string) => `${ns}/${n}`;
  const store: WorkspaceStore = {
    async create(ns, ws) {
      writes.push(`create ${k(ns, ws.metadata.name!)}`);
      if (objects.has(k(ns, ws.metadata.name!))) throw new ApiError(409, "conflict", "exists");
      const made = structuredClone({
        ...ws,
        metadata: {
          ...ws.metadata,
          resourceVersion: String(rv++),
          creationTimestamp: new Date(rv * 1000).toISOString(),
        },
      });
      objects.set(k(ns, ws.metadata.name!), made);
      return made;
    },
    async patch(ns, name, patch, resourceVersion) {
      writes.push(`patch ${k(ns, name)}`);
      const ws = objects.get(k(ns, name));
      if (!ws) throw new ApiError(404, "not_found", "gone");
      if (resourceVersion && resourceVersion !== ws.metadata.resourceVersion)
        throw new ApiError(412, "precondition_failed", "changed");
      const p = patch as { spec?: object; metadata?: { annotations?: Record<string, string> } };
      const next = structuredClone(ws);
      Object.assign(next.spec, p.spec ?? {});
      if (p.metadata?.annotations) {
        // JSON merge patch: null removes the key.
        const merged: Record<string, string | null> = {
          ...next.metadata.annotations,
          ...p.metadata.annotations,
        };
        for (const [key, v] of Object.entries(merged)) if (v === null) delete merged[key];
        next.metadata.annotations = merged as Record<string, string>;
      }
      next.metadata.resourceVersion = String(rv++);
      objects.set(k(ns, name), next);
      return next;
    },
    async read(ns, name) {
      return objects.get(k(ns, name));
    },
    async delete(ns, name) {
      writes.push(`delete ${k(ns, name)}`);
      objects.delete(k(ns, name));
    },
    async deleteClaim(ns, name, labels) {
      writes.push(`deleteClaim ${k(ns, name)} ${JSON.stringify(labels)}`);
      return claims.delete(k(ns, name));
    },
    async podLog(ns, pod, container, lines) {
      return `${ns}/${pod}/${container}:${lines}`;
    },
  };
  /** The caches as the watch has delivered them: everything at once, nothing, or what `deliver` brought. */
  const watched = new Map<string, Workspace>();
  const seen = (): Map<string, Workspace> =>
    opts.cachesBlind ? new Map() : opts.lagging ? watched : objects;
  /** Another replica over the same cluster (its own read-your-writes). */
  const replica = () =>
    new WorkspaceService({
      config,
      adminRoles: ["portico-admin"],
      caches: {
        workspaces: () => seen().values(),
        workspace: (ns, n) => seen().get(k(ns, n)),
        classes: () => classes.values(),
        workspaceClass: (n) => classes.get(n),
      },
      store,
      repoAccess:
        opts.access ?? (async () => ({ ok: true, cloneUrl: "", defaultBranch: "main", private: false })),
      now: () => new Date(opts.nowMs?.() ?? Date.parse("2026-12-05T01:02:03.456Z")),
    });
  const service = replica();
  /** The watch catches up: the caches become the cluster, and the service hears of each change. */
  const deliver = () => {
    // A deletion's watch event carries a newer resourceVersion than the object's last.
    for (const [key, ws] of watched)
      if (!objects.has(key))
        service.observed({ metadata: { ...ws.metadata, resourceVersion: String(rv++) } });
    watched.clear();
    for (const [key, ws] of objects) {
      watched.set(key, ws);
      service.observed(ws);
    }
  };
  return { service, replica, deliver, objects, writes, claims };
}

async function refused(
  p: Promise<unknown> | (() => unknown),
  status: number,
  code: string,
  field?: string,
): Promise<ApiError> {
  try {
    await (typeof p === "function" ? p() : p);
  } catch (err) {
    assert.ok(err instanceof ApiError, String(err));
    assert.equal(err.status, status, err.message);
    assert.equal(err.code, code);
    if (field) assert.equal(err.field, field);
    return err;
  }
  assert.fail("not refused");
}

test("create: owner from the identity, namespace from the mapping, a generated name", async () => {
  const { service } = world();
  const v = await service.create(alice, { className: "jupyter" });
  assert.equal(v.owner, "alice");
  assert.equal(v.namespace, "ws-alice");
  assert.match(v.name, /^jupyter-[0-9a-f]{5}$/);
  assert.equal(v.status, "PENDING");
});

test("create refuses, naming the field, and writes nothing", async () => {
  const { service, writes } = world();
  await refused(
    service.create(alice, { className: "jupyter", namespace: "ws-bob" }),
    400,
    "invalid",
    "namespace",
  );
  await refused(service.create(alice, { className: "nope" }), 400, "invalid", "className");
  await refused(service.create(alice, { className: "jupyter", name: "Bad_Name" }), 400, "invalid", "name");
  await refused(
    service.create(alice, { className: "vscode", storage: { size: "11Gi" } }),
    400,
    "invalid",
    "storage.size",
  );
  await refused(
    service.create(alice, { className: "vscode", resources: { limits: { cpu: "3" } } }),
    400,
    "invalid",
    "resources.limits.cpu",
  );
  assert.deepEqual(writes, []);
});

test("per-user limits: 429 with the limit, the count and what to stop", async () => {
  const { service, writes } = world();
  await service.create(alice, { className: "jupyter", name: "a1" });
  await service.create(alice, { className: "jupyter", name: "a2" });
  const before = writes.length;
  const err = await refused(
    service.create(alice, { className: "jupyter", name: "a3" }),
    429,
    "too_many_running",
  );
  assert.equal(err.details?.limit, 2);
  assert.equal(err.details?.current, 2);
  assert.deepEqual((err.details?.candidates as { name: string }[]).map((c) => c.name).sort(), ["a1", "a2"]);
  // A stopped one is allowed (count 3 of 3), a fourth is not (too many workspaces).
  await service.create(alice, { className: "jupyter", name: "a3", running: false });
  await refused(
    service.create(alice, { className: "jupyter", name: "a4", running: false }),
    429,
    "too_many_workspaces",
  );
  // Starting the stopped one passes the running limit: refused.
  await refused(service.start(alice, "ws-alice", "a3"), 429, "too_many_running");
  assert.equal(writes.length, before + 1);
  // bob's count is his own.
  await service.create(bob, { className: "jupyter", name: "b1" });
});

test("a class may lower the limits", async () => {
  const { service } = world({ classes: [cls("jupyter", { userLimits: { maxRunning: 1 } })] });
  await service.create(alice, { className: "jupyter", name: "a1" });
  const err = await refused(
    service.create(alice, { className: "jupyter", name: "a2" }),
    429,
    "too_many_running",
  );
  assert.match(err.message, /class jupyter allows 1/);
});

test("bob sees none of alice's workspaces and gets 404 for her ids; a sharee may look, not touch", async () => {
  const { service, writes } = world();
  await service.create(alice, { className: "jupyter", name: "a1", sharedWith: { users: ["carol"] } });
  assert.deepEqual(service.list(bob), []);
  for (const call of [
    () => service.get(bob, "ws-alice", "a1"),
    () => service.stop(bob, "ws-alice", "a1"),
    () => service.delete(bob, "ws-alice", "a1"),
    () => service.sync(bob, "ws-alice", "a1"),
    () => service.logs(bob, "ws-alice", "a1", 10),
  ])
    await refused(call, 404, "not_found");
  const carol = who("carol");
  assert.equal(service.get(carol, "ws-alice", "a1").name, "a1");
  assert.equal(service.list(carol).length, 1);
  await refused(service.stop(carol, "ws-alice", "a1"), 403, "forbidden");
  assert.equal(writes.filter((w) => !w.startsWith("create")).length, 0);
  await refused(() => service.list(bob, { all: true }), 403, "forbidden", "all");
  assert.equal(service.list(admin, { all: true }).length, 1);
});

test("If-Match: the version the caller saw, else 412 and nothing written", async () => {
  const { service, writes } = world();
  const v = await service.create(alice, { className: "jupyter", name: "a1" });
  await refused(
    service.update(alice, "ws-alice", "a1", { running: false }, "999"),
    412,
    "precondition_failed",
  );
  await refused(service.delete(alice, "ws-alice", "a1", { ifMatch: "999" }), 412, "precondition_failed");
  assert.equal(writes.length, 1);
  const stopped = await service.update(alice, "ws-alice", "a1", { running: false }, v.resourceVersion);
  assert.equal(stopped.running, false);
  assert.equal(stopped.status, "STOPPING");
});

test("sync: an annotation with a request id, only for a running workspace with a repository", async () => {
  const { service } = world();
  await service.create(alice, { className: "jupyter", name: "plain" });
  await refused(service.sync(alice, "ws-alice", "plain"), 409, "conflict", "repository");
  await service.create(alice, {
    className: "jupyter",
    name: "r",
    repository: { url: "https://git.test/a/b.git" },
  });
  const { workspace, request } = await service.sync(alice, "ws-alice", "r");
  assert.equal(request.slice(0, 21), "2026-12-05T01:02:03Z-");
  assert.deepEqual(workspace.sync, { requested: request, state: "Pending" });
});

test("keepAlive: only who may manage; capped by the class's maxKeepAlive (422 naming duration and the max); 0s removes it", async () => {
  const { service, writes, objects } = world({
    classes: [cls("jupyter", { idle: { maxKeepAlive: "4h" } }), cls("vscode")],
  });
  await service.create(alice, { className: "jupyter", name: "a1", sharedWith: { users: ["carol"] } });
  await service.create(alice, { className: "vscode", name: "v1" });
  const v = await service.keepAlive(alice, "ws-alice", "a1", "3h");
  assert.equal(v.keepAliveUntil, "2026-12-05T04:02:03Z");
  assert.equal(
    objects.get("ws-alice/a1")!.metadata.annotations!["portico.dev/keep-alive-until"],
    "2026-12-05T04:02:03Z",
  );
  const before = writes.length;
  const over = await refused(
    service.keepAlive(alice, "ws-alice", "a1", "5h"),
    422,
    "unprocessable",
    "duration",
  );
  assert.match(over.message, /4h/);
  for (const bad of ["soon", "-1h", "3 h", "", "1d"])
    await refused(service.keepAlive(alice, "ws-alice", "a1", bad), 422, "unprocessable", "duration");
  await refused(service.keepAlive(bob, "ws-alice", "a1", "1h"), 404, "not_found");
  await refused(service.keepAlive(who("carol"), "ws-alice", "a1", "1h"), 403, "forbidden");
  assert.equal(writes.length, before, "no refusal wrote anything");
  // The default cap is 8h.
  assert.equal(
    (await service.keepAlive(alice, "ws-alice", "v1", "8h")).keepAliveUntil,
    "2026-12-05T09:02:03Z",
  );
  await refused(service.keepAlive(alice, "ws-alice", "v1", "8h1s"), 422, "unprocessable", "duration");
  assert.ok((await service.keepAlive(admin, "ws-alice", "a1", "1h")).keepAliveUntil);
  const cancelled = await service.keepAlive(alice, "ws-alice", "a1", "0s");
  assert.equal(cancelled.keepAliveUntil, undefined);
  assert.equal(objects.get("ws-alice/a1")!.metadata.annotations?.["portico.dev/keep-alive-until"], undefined);
});

test("provision: access first, then one workspace per user and repository, started again when stopped", async () => {
  const asked: string[] = [];
  const { service, objects } = world({
    access: async (token, o, r) => {
      asked.push(`${token} ${o}/${r}`);
      return o === "alice"
        ? { ok: true, cloneUrl: "", defaultBranch: "main", private: true }
        : { ok: false, reason: "not_found", message: "no" };
    },
  });
  const first = await service.provision(alice, "alice", "analysis");
  assert.equal(first.isNew, true);
  assert.equal(first.workspace.repository?.url, "http://git.test/alice/analysis.git");
  assert.equal(first.workspace.className, "vscode");
  const again = await service.provision(alice, "alice", "analysis");
  assert.equal(again.isNew, false);
  assert.equal(again.workspace.name, first.workspace.name);
  await service.stop(alice, first.workspace.namespace, first.workspace.name);
  const woke = await service.provision(alice, "alice", "analysis");
  assert.equal(woke.isNew, false);
  assert.equal(woke.workspace.running, true);
  assert.match(woke.message, /started/);
  assert.deepEqual(asked, [
    "tok-alice alice/analysis",
    "tok-alice alice/analysis",
    "tok-alice alice/analysis",
  ]);
  // bob's provision of the same repository is his own workspace; a repository he may not read is refused.
  const size = objects.size;
  await refused(service.provision(bob, "bob", "secret"), 403, "repository_access_denied", "repoName");
  assert.equal(objects.size, size);
  assert.notEqual((await service.provision(bob, "alice", "analysis")).workspace.name, first.workspace.name);
});

test("provision meets a workspace another replica just made, before the caches saw it", async () => {
  const w = world({ cachesBlind: true });
  const first = await w.replica().provision(alice, "alice", "x");
  const r = await w.service.provision(alice, "alice", "x");
  assert.equal(r.isNew, false);
  assert.equal(r.workspace.name, first.workspace.name);
  assert.equal(w.writes.filter((x) => x.startsWith("create")).length, 1);
});

test("delete keeps the volume unless asked; then only the workspace's own claim, by its labels", async () => {
  const { service, writes } = world();
  await service.create(alice, { className: "jupyter", name: "keep" });
  await service.create(alice, { className: "jupyter", name: "drop" });
  await service.delete(alice, "ws-alice", "keep");
  await service.delete(alice, "ws-alice", "drop", { deleteVolume: true });
  assert.deepEqual(writes.slice(2), [
    "delete ws-alice/keep",
    "delete ws-alice/drop",
    `deleteClaim ws-alice/ws-drop-home {"app.kubernetes.io/managed-by":"portico-operator","portico.dev/workspace":"drop"}`,
  ]);
});

test("a user-scope home goes only with the last workspace sharing it", () => {
  const ws = (name: string): Workspace =>
    ({
      metadata: { name, namespace: "n" },
      spec: { owner: "alice", storage: { scope: "user" } },
    }) as Workspace;
  assert.equal(ownClaim(ws("a"), [ws("a"), ws("b")]), undefined);
  assert.equal(ownClaim(ws("a"), [ws("a")])?.name, "home-alice");
});

test("stats for admins only; logs bounded", async () => {
  const { service } = world();
  await service.create(alice, { className: "jupyter", name: "a1", storage: { size: "2Gi" } });
  await service.create(bob, { className: "jupyter", name: "b1", running: false });
  await refused(() => service.stats(alice), 403, "forbidden");
  const s = service.stats(admin);
  assert.equal(s.totalInstances, 2);
  assert.equal(s.totalStorageUsed, 3 * 2 ** 30);
  await refused(service.logs(alice, "ws-alice", "a1", 0), 400, "invalid", "lines");
  await refused(service.logs(alice, "ws-alice", "a1", 5001), 400, "invalid", "lines");
  assert.equal(await service.logs(alice, "ws-alice", "a1", 7), "ws-alice/ws-a1/ide:7");
});

test("read-your-writes: a create, a change and a delete are seen at once, before the watch brings them", async () => {
  const { service, deliver, writes } = world({ lagging: true });
  await service.create(alice, { className: "jupyter", name: "one" });
  await service.create(alice, { className: "jupyter", name: "two" });
  assert.deepEqual(
    service.list(alice).map((v) => v.name),
    ["one", "two"],
  );
  // The running limit (2) counts both although the caches hold neither yet: nothing is written.
  await refused(service.create(alice, { className: "jupyter", name: "three" }), 429, "too_many_running");
  assert.equal(writes.filter((x) => x.startsWith("create")).length, 2);
  assert.equal((await service.stop(alice, "ws-alice", "one")).running, false);
  assert.equal(service.get(alice, "ws-alice", "one").running, false);
  await service.delete(alice, "ws-alice", "two");
  assert.deepEqual(
    service.list(alice).map((v) => v.name),
    ["one"],
  );
  await refused(() => service.get(alice, "ws-alice", "two"), 404, "not_found");
  // The watch catches up: the same answers, now from the caches.
  deliver();
  assert.deepEqual(
    service.list(alice).map((v) => `${v.name}:${v.running}`),
    ["one:false"],
  );
});

test("read-your-writes: an entry the watch never confirms expires (a create another client undid)", async () => {
  let now = Date.parse("2026-12-05T01:00:00Z");
  const { service, objects } = world({ lagging: true, nowMs: () => now });
  await service.create(alice, { className: "jupyter", name: "ghost" });
  objects.clear(); // deleted by someone else before this replica's watch saw either event
  assert.equal(service.list(alice).length, 1);
  now += 11_000;
  assert.deepEqual(service.list(alice), []);
});

// --- Wake (issue 15)
const IDLE = {
  [IDLE_STOPPED_ANNOTATION]: "2026-12-05T00:00:00Z",
  [ACTIVITY_PROXY_ANNOTATION]: "2026-12-04T23:00:00Z",
};

test("start wakes an idle-stopped workspace: the idle stop lifted, woken and activity set, spec untouched", async () => {
  const { service, objects, writes } = world();
  await service.create(alice, { className: "jupyter", name: "a1" });
  objects.get("ws-alice/a1")!.metadata.annotations = { ...IDLE, keep: "x" };
  const before = writes.length;
  const view = await service.start(alice, "ws-alice", "a1");
  assert.equal(writes.length, before + 1);
  const ws = objects.get("ws-alice/a1")!;
  assert.equal(ws.metadata.annotations?.[IDLE_STOPPED_ANNOTATION], undefined);
  assert.equal(ws.metadata.annotations?.[WOKEN_ANNOTATION], "2026-12-05T01:02:03Z");
  assert.equal(ws.metadata.annotations?.[ACTIVITY_PROXY_ANNOTATION], "2026-12-05T01:02:03Z");
  assert.equal(ws.metadata.annotations?.keep, "x");
  assert.equal(ws.spec.running, undefined, "running was not false: spec is not written");
  assert.equal(view.idleStopped ?? false, false);
});

test("start on an idle-stopped workspace whose spec.running is false also sets running, in one write", async () => {
  const { service, objects, writes } = world();
  await service.create(alice, { className: "jupyter", name: "a1", running: false });
  objects.get("ws-alice/a1")!.metadata.annotations = { ...IDLE };
  const before = writes.length;
  await service.start(alice, "ws-alice", "a1");
  assert.equal(writes.length, before + 1);
  const ws = objects.get("ws-alice/a1")!;
  assert.equal(ws.spec.running, true);
  assert.equal(ws.metadata.annotations?.[IDLE_STOPPED_ANNOTATION], undefined);
});

test("start on a running workspace writes nothing; a sharee and a stranger are refused before any write", async () => {
  const { service, objects, writes } = world();
  await service.create(alice, { className: "jupyter", name: "a1", sharedWith: { users: ["bob"] } });
  const before = writes.length;
  await service.start(alice, "ws-alice", "a1");
  assert.equal(writes.length, before);
  objects.get("ws-alice/a1")!.metadata.annotations = { ...IDLE };
  await refused(service.start(bob, "ws-alice", "a1"), 403, "forbidden");
  await refused(service.start(who("mallory"), "ws-alice", "a1"), 404, "not_found");
  assert.equal(writes.length, before);
  assert.ok(objects.get("ws-alice/a1")!.metadata.annotations?.[IDLE_STOPPED_ANNOTATION]);
  // An admin may wake it.
  await service.start(admin, "ws-alice", "a1");
  assert.equal(objects.get("ws-alice/a1")!.metadata.annotations?.[IDLE_STOPPED_ANNOTATION], undefined);
});

test("idle-stopped workspaces hold no running slot; waking one past the running limit is refused", async () => {
  const { service, objects, writes } = world();
  await service.create(alice, { className: "jupyter", name: "a1" });
  await service.create(alice, { className: "jupyter", name: "a2" });
  objects.get("ws-alice/a1")!.metadata.annotations = { ...IDLE };
  objects.get("ws-alice/a2")!.metadata.annotations = { ...IDLE };
  // Both idle-stopped: a third may run (limit 2).
  await service.create(alice, { className: "jupyter", name: "a3" });
  await service.start(alice, "ws-alice", "a1");
  const before = writes.length;
  const err = await refused(service.start(alice, "ws-alice", "a2"), 429, "too_many_running");
  assert.match(err.message, /allows 2 running workspaces/);
  assert.equal(writes.length, before);
  assert.ok(objects.get("ws-alice/a2")!.metadata.annotations?.[IDLE_STOPPED_ANNOTATION]);
});
