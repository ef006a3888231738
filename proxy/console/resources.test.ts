/**
 * The resource views' service and HTTP glue over an in-memory cluster (the API server's paths and
 * SubjectAccessReview answers as data); the real API server's RBAC is e2e/tests/console-resources.test.ts.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Identity } from "../auth/identity.ts";
import type { Logger } from "../../common/runtime/log.ts";
import { Authorizer, SAR_PATH } from "./authorizer.ts";
import type { ClusterClient } from "./cluster-client.ts";
import { kindOf } from "./kinds.ts";
import { answer } from "./resources.ts";
import { ResourceViews, ViewError } from "./resource-views.ts";

type Rule = (user: string, verb: string, resource: string, ns?: string, name?: string) => boolean;

const b64 = (s: string) => Buffer.from(s).toString("base64");
const OBJECTS: Record<string, unknown> = {
  "/api/v1/namespaces": { items: [{ metadata: { name: "a" } }, { metadata: { name: "b" } }] },
  "/api/v1/namespaces/a/pods": { items: [{ metadata: { name: "pa", namespace: "a" } }] },
  "/api/v1/namespaces/b/pods": { items: [{ metadata: { name: "pb", namespace: "b" } }] },
  "/api/v1/namespaces/a/secrets": {
    items: [{ metadata: { name: "db", namespace: "a" }, data: { password: b64("hunter2") } }],
  },
  "/api/v1/namespaces/a/secrets/db": {
    metadata: { name: "db", namespace: "a" },
    data: { password: b64("hunter2") },
  },
  "/version": { gitVersion: "v1.34.4", major: "1", minor: "34" },
};

function fakeCluster(rule: Rule, down = false) {
  const calls: string[] = [];
  const client: ClusterClient = {
    async get(path) {
      calls.push(`GET ${path}`);
      if (down) throw new Error("ECONNREFUSED");
      const body = OBJECTS[path];
      return body ? { status: 200, body } : { status: 404, body: { kind: "Status" } };
    },
    async post(path, body) {
      calls.push(`POST ${path}`);
      if (down) throw new Error("ECONNREFUSED");
      assert.equal(path, SAR_PATH);
      const spec = (body as { spec: { user: string; resourceAttributes: Record<string, string> } }).spec;
      const a = spec.resourceAttributes;
      return {
        status: 201,
        body: { status: { allowed: rule(spec.user, a.verb!, a.resource!, a.namespace, a.name) } },
      };
    },
  };
  return { client, calls };
}

function setup(rule: Rule, opts: { reveal?: boolean; secrets?: boolean; down?: boolean } = {}) {
  const { client, calls } = fakeCluster(rule, opts.down);
  const logged: [string, Record<string, unknown> | undefined][] = [];
  const log: Logger = {
    debug: () => undefined,
    info: (m, meta) => void logged.push([m, meta]),
    warn: (m, meta) => void logged.push([m, meta]),
    error: (m, meta) => void logged.push([m, meta]),
    child: () => log,
  };
  const views = new ResourceViews({
    cluster: client,
    authorizer: new Authorizer(client),
    secrets: opts.secrets ?? true,
    revealSecrets: opts.reveal ?? false,
    log,
  });
  return { views, calls, logged };
}

const alice: Identity = { user: "alice", groups: ["team-a"], roles: [], via: "bearer" };
/** alice: everything in namespace a; get secrets there too. */
const aliceInA: Rule = (user, _verb, _resource, ns) => user === "alice" && ns === "a";

const refusal = async (p: Promise<unknown>): Promise<ViewError> => {
  const err = await p.then(
    () => assert.fail("expected a refusal"),
    (e: unknown) => e,
  );
  assert.ok(err instanceof ViewError, String(err));
  return err;
};

test("a list without ns: the namespaces RBAC allows, asked one by one; cached answers are not asked again", async () => {
  const { views, calls } = setup(aliceInA);
  const r = (await answer(views, alice, { op: "list", kind: kindOf("pods")! })) as {
    namespaces: string[];
    items: { name: string }[];
  };
  assert.deepEqual(r.namespaces, ["a"]);
  assert.deepEqual(
    r.items.map((i) => i.name),
    ["pa"],
  );
  assert.ok(!calls.includes("GET /api/v1/namespaces/b/pods"), "b was not read");
  const sars = calls.filter((c) => c.startsWith("POST")).length;
  assert.equal(sars, 3, "cluster-wide, a, b");
  await answer(views, alice, { op: "list", kind: kindOf("pods")! });
  assert.equal(calls.filter((c) => c.startsWith("POST")).length, sars, "the second time from the cache");
});

test("403 names the verb and resource; nothing is read before RBAC allows it", async () => {
  const { views, calls } = setup(aliceInA);
  const err = await refusal(answer(views, alice, { op: "list", kind: kindOf("pods")!, namespace: "b" }));
  assert.equal(err.status, 403);
  assert.match(err.message, /list pods in namespace b/);
  const one = await refusal(
    answer(views, alice, {
      op: "get",
      kind: kindOf("deployments")!,
      name: "x",
      namespace: "b",
      reveal: false,
    }),
  );
  assert.match(one.message, /get deployments\.apps "x" in namespace b/);
  assert.ok(!calls.some((c) => c.startsWith("GET")), calls.join());
  const ns = await refusal(answer(views, alice, { op: "list", kind: kindOf("namespaces")! }));
  assert.match(ns.message, /list namespaces/);
});

test("secrets: keys without values; reveal only with the flag on and get allowed; logged without the value", async () => {
  const off = setup(aliceInA);
  const list = await answer(off.views, alice, { op: "list", kind: kindOf("secrets")!, namespace: "a" });
  assert.ok(!JSON.stringify(list).includes("hunter2") && !JSON.stringify(list).includes(b64("hunter2")));
  assert.deepEqual((list as { items: { keys: string[] }[] }).items[0]!.keys, ["password"]);
  const q = { op: "get" as const, kind: kindOf("secrets")!, name: "db", namespace: "a", reveal: true };
  const disabled = await refusal(answer(off.views, alice, q));
  assert.equal(disabled.code, "reveal_disabled");
  assert.equal(disabled.status, 403);

  const listOnly = setup(
    (u, verb, r, ns) => u === "alice" && ns === "a" && !(r === "secrets" && verb === "get"),
    {
      reveal: true,
    },
  );
  const noGet = await refusal(answer(listOnly.views, alice, q));
  assert.match(noGet.message, /get secrets "db" in namespace a/);

  const on = setup(aliceInA, { reveal: true });
  const shown = (await answer(on.views, alice, q)) as { values: Record<string, { value: string }> };
  assert.equal(shown.values.password!.value, "hunter2");
  const line = on.logged.find(([m]) => m === "console: secret revealed");
  assert.deepEqual(line?.[1], { user: "alice", target: "a/db", keys: ["password"] });
  assert.ok(!JSON.stringify(on.logged).includes("hunter2"));

  const notServed = setup(aliceInA, { secrets: false });
  assert.equal(
    (await refusal(answer(notServed.views, alice, { op: "list", kind: kindOf("secrets")!, namespace: "a" })))
      .status,
    404,
  );
});

test("404 for an absent object only after RBAC allowed get; 503 when the cluster cannot be asked", async () => {
  const { views } = setup(aliceInA);
  const absent = await refusal(
    answer(views, alice, { op: "get", kind: kindOf("pods")!, name: "gone", namespace: "a", reveal: false }),
  );
  assert.equal(absent.status, 404);
  const down = setup(aliceInA, { down: true });
  const err = await refusal(answer(down.views, alice, { op: "list", kind: kindOf("pods")!, namespace: "a" }));
  assert.equal(err.status, 503);
});

test("/api/cluster: the caller, the version, the namespaces and kinds RBAC lets them see; counts per kind", async () => {
  const { views } = setup(aliceInA);
  const c = (await answer(views, alice, { op: "cluster" })) as Record<string, unknown>;
  assert.equal(c.user, "alice");
  assert.deepEqual(c.groups, ["team-a"]);
  assert.deepEqual(c.kubernetes, { version: "v1.34.4", major: "1", minor: "34" });
  assert.deepEqual(c.namespaces, ["a"]);
  assert.deepEqual(c.kinds, ["pods", "deployments", "services", "secrets", "configmaps"]);
  const n = (await answer(views, alice, { op: "counts", namespace: "a" })) as Record<string, unknown>;
  assert.deepEqual(n.counts, { pods: 1, deployments: 0, services: 0, secrets: 1, configmaps: 0 });
  const none = (await answer(views, alice, { op: "counts", namespace: "b" })) as Record<string, unknown>;
  assert.deepEqual(none.counts, {});
  assert.deepEqual(none.refused, ["pods", "deployments", "services", "secrets", "configmaps"]);
  const system = await refusal(answer(views, { ...alice, user: "system:admin" }, { op: "cluster" }));
  assert.equal(system.status, 403);
});
