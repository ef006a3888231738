/**
 * What the operator writes for workspaces created together, from creation to Ready, as the API
 * server's audit log records it (a refused write counts: the API server did the work). At scale
 * the API server and the operator's own rate limit bound how fast workspaces come up, so each
 * write must buy something: each child applied once, no status write refused for a stale
 * resourceVersion, no status write per intermediate step beyond the four a workspace goes
 * through (created, claim bound, pod scheduled, Ready), and two Events each (`Starting`, `Ready`).
 * operator/workspace/reconcile-writes.test.ts pins the exact count for one workspace's steps.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { clients, withNamespace, type Clients } from "../lib/kube.ts";
import { auditWrites, OPERATOR_USER, startOperator, type OperatorProcess } from "../lib/operator.ts";
import {
  createClass,
  createWorkspace,
  deleteClass,
  isReady,
  tinyClass,
  waitWorkspace,
  workspace,
} from "../lib/workspaces.ts";

const N = 20;
const cls = "writes-tiny";
let c: Clients;
let ns: { name: string; drop: () => Promise<void> };
let op: OperatorProcess;

before(async () => {
  c = clients();
  ns = await withNamespace(c, "writes");
  await createClass(c, tinyClass(cls));
  op = await startOperator(["--lease-name=writes"], "writes");
});

after(async () => {
  await op?.stop();
  await ns?.drop();
  await deleteClass(c, cls);
});

test(`${N} workspaces created at once: each child applied once, no refused status write, at most 4 status writes and 2 Events each`, async () => {
  const since = new Date();
  const names = Array.from({ length: N }, (_, i) => `w${i}`);
  await Promise.all(names.map((n) => createWorkspace(c, workspace(ns.name, n, { className: cls }))));
  for (const n of names) await waitWorkspace(c, ns.name, n, "Ready", isReady, 180_000);
  const until = new Date();

  const writes = (await auditWrites(OPERATOR_USER, since, until)).filter(
    (w) => w.objectRef?.namespace === ns.name,
  );
  const show = writes.map(
    (w) =>
      `${w.verb} ${w.objectRef?.resource}${w.objectRef?.subresource ? `/${w.objectRef.subresource}` : ""} ` +
      `${w.objectRef?.name} ${w.responseStatus?.code}`,
  );
  const count = (resource: string, name?: string) =>
    writes.filter(
      (w) =>
        `${w.objectRef?.resource}${w.objectRef?.subresource ? `/${w.objectRef.subresource}` : ""}` ===
          resource &&
        (name === undefined || w.objectRef?.name === name),
    );
  console.log(
    `# per workspace: ${(count("workspaces/status").length / N).toFixed(2)} status writes, ` +
      `${(count("events").length / N).toFixed(2)} Events, ${(writes.length / N).toFixed(2)} writes in all`,
  );

  const refused = count("workspaces/status").filter((w) => w.responseStatus?.code === 409);
  assert.deepEqual(refused.length, 0, `no status write refused as stale:\n${show.join("\n")}`);
  for (const n of names) {
    const statuses = count("workspaces/status", n).length;
    assert.ok(statuses >= 1 && statuses <= 4, `${n}: ${statuses} status writes`);
    for (const resource of ["persistentvolumeclaims", "services", "networkpolicies"]) {
      const child = resource === "persistentvolumeclaims" ? `ws-${n}-home` : `ws-${n}`;
      assert.equal(count(resource, child).length, 1, `${n}: ${resource} applied once`);
    }
  }

  // Events by reason, counted as the API server holds them.
  const events = (await c.core.listNamespacedEvent({ namespace: ns.name })).items.filter(
    (e) => e.reportingComponent === "portico-operator",
  );
  const reasons: Record<string, number> = {};
  for (const e of events) reasons[e.reason ?? ""] = (reasons[e.reason ?? ""] ?? 0) + (e.count ?? 1);
  assert.equal(reasons.Ready, N, JSON.stringify(reasons));
  assert.equal(reasons.Unschedulable, undefined, "waiting for the claim to bind is no Event");
  assert.ok((reasons.Starting ?? 0) >= N && count("events").length <= 2 * N + 2, JSON.stringify(reasons));
});
