/**
 * reconcileWorkspace with in-memory caches and a recording API: the sync request's whole life (one
 * pod, its result recorded before it is deleted, a restart between the two converging without a
 * second pod or Event) and a workspace that waits on its owner's running limit.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { V1Pod } from "@kubernetes/client-node";
import type { Workspace, WorkspaceStatus } from "../../crds/types.ts";
import type { Logger } from "../../common/runtime/log.ts";
import { SYNC_REQUESTED_ANNOTATION } from "../../common/model/workspace/names.ts";
import { testClass, testConfig, testWorkspace } from "./fixtures.ts";
import { reconcileWorkspace, type Cache, type ReconcileDeps } from "./reconcile.ts";
import { SYNC_CONTAINER } from "./sync.ts";
import { buildPod } from "./build.ts";

const quiet: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  child: () => quiet,
};

function cache<T extends { metadata?: { name?: string; namespace?: string } }>(items: T[]): Cache<T> {
  return {
    get: (name, ns) => items.find((o) => o.metadata?.name === name && (!ns || o.metadata?.namespace === ns)),
    list: (ns) => items.filter((o) => !ns || o.metadata?.namespace === ns),
  };
}

interface World {
  workspaces: Workspace[];
  pods: V1Pod[];
  calls: string[];
  statuses: WorkspaceStatus[];
}

function deps(w: World, maxRunningPerUser = 0): ReconcileDeps {
  const cls = testClass();
  return {
    caches: {
      workspaces: cache(w.workspaces),
      classes: cache([cls]),
      pods: cache(w.pods),
      pvcs: cache([]),
      services: cache([]),
      networkPolicies: cache([]),
    },
    api: {
      apply: async (o) => void w.calls.push(`apply ${o.kind} ${o.metadata?.name}`),
      patch: async (o) => void w.calls.push(`patch ${o.kind} ${o.metadata?.name}`),
      delete: async (o) => void w.calls.push(`delete ${o.kind ?? "Pod"} ${o.metadata?.name}`),
      writeStatus: async (ws, s) => {
        w.calls.push(`status ${ws.metadata.name}`);
        w.statuses.push(s);
      },
      secretExists: async () => true,
      event: async (ws, type, reason) => void w.calls.push(`event ${ws.metadata.name} ${type} ${reason}`),
    },
    config: testConfig(),
    maxRunningPerUser,
    virtualServices: false,
    log: quiet,
    now: () => new Date("2026-12-05T01:00:00Z"),
  };
}

/** The calls a sync may cause (the other children are absent from these caches, so they are applied). */
const aboutSync = (call: string) => /sync|^status|^event/.test(call);

/** The pod the operator built for `ws`, scheduled and Ready. */
const readyPod = (ws: Workspace): V1Pod => {
  const pod = buildPod(ws, testClass(), testConfig());
  return {
    ...pod,
    spec: { ...pod.spec!, nodeName: "node-3" },
    status: { phase: "Running", conditions: [{ type: "Ready", status: "True" }] },
  };
};

test("a sync request: one pod, then its result recorded, then the pod deleted; a restart in between converges", async () => {
  const ws = testWorkspace(
    { repository: { url: "https://git.example.com/a/project.git" } },
    { annotations: { [SYNC_REQUESTED_ANNOTATION]: "r1" } },
  );
  const w: World = { workspaces: [ws], pods: [readyPod(ws)], calls: [], statuses: [] };
  const ns = ws.metadata.namespace!;
  const name = ws.metadata.name!;

  await reconcileWorkspace(ns, name, deps(w));
  const policy = w.calls.indexOf("apply NetworkPolicy ws-alice-notebook-sync");
  assert.ok(policy >= 0 && policy < w.calls.indexOf("apply Pod ws-alice-notebook-sync"), w.calls.join("\n"));
  assert.ok(w.calls.includes("event alice-notebook Normal SyncStarted"));
  assert.deepEqual(w.statuses.at(-1)?.sync?.state, "Running");

  // Next look: the pod runs; the status says so already: nothing is created or announced again.
  ws.status = w.statuses.at(-1);
  const running: V1Pod = {
    kind: "Pod",
    metadata: {
      name: "ws-alice-notebook-sync",
      namespace: ns,
      annotations: { "portico.dev/sync-request": "r1" },
    },
    status: { phase: "Running" },
  };
  w.pods.push(running);
  w.calls = [];
  await reconcileWorkspace(ns, name, deps(w));
  assert.ok(
    !w.calls.some((c) => c.startsWith("apply Pod ws-alice-notebook-sync") || c.startsWith("event")),
    w.calls.join("\n"),
  );

  // It finished: status first, then the Event, then the pod goes.
  running.status = {
    phase: "Succeeded",
    containerStatuses: [
      {
        name: SYNC_CONTAINER,
        image: "git",
        imageID: "",
        ready: false,
        restartCount: 0,
        state: {
          terminated: {
            exitCode: 0,
            message: '{"reason":"Merged","commit":"abc","conflicts":[],"message":"merged origin/main."}',
          },
        },
      },
    ],
  };
  w.calls = [];
  await reconcileWorkspace(ns, name, deps(w));
  assert.deepEqual(w.calls.filter(aboutSync), [
    "status alice-notebook",
    "event alice-notebook Normal Merged",
    "delete Pod ws-alice-notebook-sync",
  ]);
  const done = w.statuses.at(-1)!;
  assert.deepEqual([done.sync?.state, done.sync?.commit], ["Succeeded", "abc"]);
  assert.equal(done.conditions?.find((c) => c.type === "Synced")?.reason, "Merged");

  // Crash before the delete: the next reconcile only deletes the pod (no status write, no Event).
  ws.status = done;
  w.calls = [];
  await reconcileWorkspace(ns, name, deps(w));
  assert.deepEqual(w.calls.filter(aboutSync), ["delete Pod ws-alice-notebook-sync"]);

  // And once it is gone, nothing happens at all for this request.
  w.pods.splice(w.pods.indexOf(running), 1);
  w.calls = [];
  await reconcileWorkspace(ns, name, deps(w));
  assert.deepEqual(w.calls.filter(aboutSync), []);
});

test("a workspace past its owner's running limit gets no pod and says why; the running one is left alone", async () => {
  const first = testWorkspace({}, { name: "first", creationTimestamp: "2026-12-05T00:00:00Z" });
  const second = testWorkspace({}, { name: "second", creationTimestamp: "2026-12-05T00:01:00Z" });
  const w: World = { workspaces: [first, second], pods: [readyPod(first)], calls: [], statuses: [] };

  await reconcileWorkspace("team-a", "second", deps(w, 1));
  assert.ok(!w.calls.some((c) => c.startsWith("apply Pod")), w.calls.join("\n"));
  const s = w.statuses.at(-1)!;
  const ready = s.conditions?.find((c) => c.type === "Ready");
  assert.deepEqual([s.phase, ready?.status, ready?.reason], ["Pending", "False", "UserLimitReached"]);
  assert.match(ready!.message, /team-a\/first/);

  w.calls = [];
  await reconcileWorkspace("team-a", "first", deps(w, 1));
  assert.ok(!w.calls.some((c) => c.startsWith("delete")), "the running workspace keeps its pod");

  // The first stops: the second starts.
  first.spec.running = false;
  w.calls = [];
  await reconcileWorkspace("team-a", "second", deps(w, 1));
  assert.ok(w.calls.includes("apply Pod ws-second"), w.calls.join("\n"));
});
