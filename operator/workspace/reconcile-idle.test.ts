/**
 * The idle stop through the real reconcile: the annotation patch guarded by resourceVersion, then
 * the pod delete; a wake racing the stop; a crash between the two; the warning's Event once; and
 * the requeue at the next deadline.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { KubernetesObject, V1Pod } from "@kubernetes/client-node";
import type { Workspace, WorkspaceStatus } from "../../crds/types.ts";
import type { Logger } from "../../common/runtime/log.ts";
import { buildChildren } from "./build.ts";
import { testClass, testConfig, testWorkspace } from "./fixtures.ts";
import { reconcileWorkspace, type ReconcileDeps } from "./reconcile.ts";

const quiet: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  child: () => quiet,
};

const NOW = "2026-12-05T14:40:00Z";
const cls = testClass({ idleTimeout: "30m", idle: { warnBefore: "5m" } });
const config = testConfig();

interface Harness {
  deps: ReconcileDeps;
  writes: string[];
  patches: object[];
  statuses: WorkspaceStatus[];
  stops: string[];
  /** The server's resourceVersion of the Workspace (a wake moves it). */
  serverRv: { value: string };
}

function harness(ws: Workspace, opts: { pod?: boolean; now?: string } = {}): Harness {
  const built = buildChildren(ws, cls, config, { virtualService: false });
  const pod: V1Pod = {
    ...built.pod,
    metadata: {
      ...built.pod.metadata,
      uid: "pod-uid",
      creationTimestamp: "2026-12-05T12:00:00Z" as unknown as Date,
    },
    status: {
      phase: "Running",
      podIP: "10.0.0.7",
      conditions: [
        { type: "PodScheduled", status: "True" },
        { type: "Ready", status: "True" },
      ],
    },
  };
  const pvc = { ...built.pvc, status: { phase: "Bound" } };
  const one = <T>(o: T | undefined) => ({
    get: (name: string) => ((o as KubernetesObject | undefined)?.metadata?.name === name ? o : undefined),
    list: () => (o ? [o] : []),
  });
  const h: Harness = {
    writes: [],
    patches: [],
    statuses: [],
    stops: [],
    serverRv: { value: ws.metadata.resourceVersion ?? "1" },
    deps: undefined as unknown as ReconcileDeps,
  };
  h.deps = {
    caches: {
      workspaces: one(ws),
      classes: one(cls),
      pods: one(opts.pod === false ? undefined : pod),
      pvcs: one(pvc),
      services: one(built.service as KubernetesObject),
      // As the watch has it: wire JSON (NetworkPolicy's `_from` is `from`).
      networkPolicies: one(
        JSON.parse(JSON.stringify(built.networkPolicy).replaceAll('"_from":', '"from":')) as KubernetesObject,
      ),
    },
    api: {
      apply: async (o) => void h.writes.push(`apply ${o.kind}`),
      patch: async (o, p) => {
        h.writes.push(`patch ${o.kind}`);
        h.patches.push(p);
        const rv = (p as { metadata?: { resourceVersion?: string } }).metadata?.resourceVersion;
        if (rv !== h.serverRv.value) throw Object.assign(new Error("Conflict"), { code: 409 });
      },
      delete: async (o) => void h.writes.push(`delete ${o.kind}`),
      writeStatus: async (_w, s) => {
        h.writes.push("status");
        h.statuses.push(s);
      },
      secretExists: async () => true,
      // The first status of these fixtures turns Ready: that Event is not what these tests are about.
      event: async (_w, _t, reason) => void (reason !== "Ready" && h.writes.push(`event ${reason}`)),
    },
    config,
    virtualServices: false,
    log: quiet,
    now: () => new Date(opts.now ?? NOW),
    onStop: (reason) => void h.stops.push(reason),
  };
  return h;
}

const idleWorkspace = (annotations: Record<string, string>) =>
  testWorkspace({}, { resourceVersion: "41", generation: 1, annotations });
const cond = (s: WorkspaceStatus | undefined, type: string) => s?.conditions?.find((c) => c.type === type);
const run = (h: Harness, ws: Workspace) =>
  reconcileWorkspace(ws.metadata.namespace!, ws.metadata.name!, h.deps);

test("past the timeout: the annotation (guarded by resourceVersion), then the pod delete; spec untouched", async () => {
  const ws = idleWorkspace({ "portico.dev/activity-proxy": "2026-12-05T14:02:00Z" });
  const spec = structuredClone(ws.spec);
  const h = harness(ws);
  await run(h, ws);
  assert.deepEqual(h.writes, ["patch Workspace", "event IdleStop", "delete Pod", "event Stopping", "status"]);
  assert.deepEqual(h.patches[0], {
    metadata: { resourceVersion: "41", annotations: { "portico.dev/idle-stopped": "2026-12-05T14:40:00Z" } },
  });
  assert.deepEqual(h.stops, ["idle"]);
  const s = h.statuses[0]!;
  assert.equal(s.phase, "Stopping");
  assert.deepEqual([cond(s, "Ready")?.status, cond(s, "Ready")?.reason], ["False", "Idle"]);
  assert.deepEqual([cond(s, "Idle")?.status, cond(s, "Idle")?.reason], ["True", "IdleTimeout"]);
  assert.match(
    cond(s, "Idle")!.message!,
    /^Stopped at 14:40 UTC after 30m without activity: proxy 14:02 UTC\./,
  );
  assert.equal(s.stopsAt, undefined);
  assert.deepEqual(ws.spec, spec);
});

test("a wake racing the stop: the patch conflicts, nothing is deleted, the reconcile looks again", async () => {
  const ws = idleWorkspace({ "portico.dev/activity-proxy": "2026-12-05T14:02:00Z" });
  const h = harness(ws);
  h.serverRv.value = "42"; // the proxy's wake patch landed after the cache's copy
  const result = await run(h, ws);
  assert.deepEqual(h.writes, ["patch Workspace"]);
  assert.deepEqual(h.stops, []);
  assert.ok(result && result.requeueAfterMs > 0);
});

test("a crash between the patch and the delete converges: the annotation alone deletes the pod", async () => {
  const ws = idleWorkspace({ "portico.dev/idle-stopped": "2026-12-05T14:32:00Z" });
  const h = harness(ws);
  await run(h, ws);
  assert.deepEqual(h.writes, ["delete Pod", "event Stopping", "status"]);
  assert.deepEqual(h.stops, [], "the idle stop was counted when its annotation was written");
});

test("idle-stopped without a pod: no pod is created, phase Stopped, kstatus reads it as a stop", async () => {
  const ws = idleWorkspace({ "portico.dev/idle-stopped": "2026-12-05T14:32:00Z" });
  const h = harness(ws, { pod: false });
  const result = await run(h, ws);
  assert.deepEqual(h.writes, ["status"]);
  const s = h.statuses[0]!;
  assert.equal(s.phase, "Stopped");
  assert.deepEqual([cond(s, "Reconciling")?.status, cond(s, "Reconciling")?.reason], ["False", "Stopped"]);
  assert.deepEqual([cond(s, "Stalled")?.status], ["False"]);
  assert.match(cond(s, "Ready")!.message!, /idle timeout.*Open its URL/);
  assert.equal(result, undefined, "nothing to wait for");
  // The steady state writes nothing.
  const again = harness({ ...ws, status: s }, { pod: false });
  await run(again, { ...ws, status: s });
  assert.deepEqual(again.writes, []);
});

test("the warning: one IdleWarning Event entering the window, requeue at the stop, then nothing", async () => {
  const ws = idleWorkspace({ "portico.dev/activity-proxy": "2026-12-05T14:12:00Z" }); // stops 14:42
  const h = harness(ws);
  const result = await run(h, ws);
  assert.deepEqual(h.writes, ["status", "event IdleWarning"]);
  const s = h.statuses[0]!;
  assert.equal(s.stopsAt, "2026-12-05T14:42:00Z");
  assert.equal(cond(s, "Idle")?.reason, "StoppingSoon");
  assert.deepEqual(result, { requeueAfterMs: 2 * 60_000 + 100 });
  const settled = { ...ws, status: s };
  const again = harness(settled, { now: "2026-12-05T14:41:00Z" });
  await run(again, settled);
  assert.deepEqual(again.writes, [], "still in the same window: no second Event, no write");
});

test("activity in the window moves stopsAt and ends the warning", async () => {
  const warned = idleWorkspace({ "portico.dev/activity-proxy": "2026-12-05T14:12:00Z" });
  const h = harness(warned);
  await run(h, warned);
  const ws = {
    ...idleWorkspace({ "portico.dev/activity-proxy": "2026-12-05T14:39:00Z" }),
    status: h.statuses[0]!,
  };
  const after = harness(ws);
  const result = await run(after, ws);
  assert.deepEqual(after.writes, ["status"]);
  assert.equal(after.statuses[0]!.stopsAt, "2026-12-05T15:09:00Z");
  assert.equal(cond(after.statuses[0], "Idle")?.reason, "Active");
  assert.deepEqual(result, { requeueAfterMs: 24 * 60_000 + 100 }, "looks again when the next warning starts");
});

test("a user stop is counted once, when its pod is deleted", async () => {
  const ws = testWorkspace({ running: false }, { resourceVersion: "41" });
  const h = harness(ws);
  await run(h, ws);
  assert.deepEqual(h.stops, ["user"]);
  assert.ok(!h.writes.includes("patch Workspace"));
});
