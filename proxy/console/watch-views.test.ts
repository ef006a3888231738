import assert from "node:assert/strict";
import test from "node:test";
import type { Workspace } from "../../crds/types.ts";
import { MAX_EVENT_MESSAGE, trimEvent, trimPod, workspaceItem, workspaceOfPod } from "./watch-views.ts";

const rawPod = {
  apiVersion: "v1",
  kind: "Pod",
  metadata: {
    namespace: "ns",
    name: "ws-w",
    resourceVersion: "7",
    annotations: { "portico.dev/workspace": "w", "kubectl.kubernetes.io/last-applied-configuration": "{…}" },
    managedFields: [{ manager: "portico-operator" }],
    labels: { "portico.dev/workspace": "w" },
  },
  spec: { containers: [{ name: "ide", env: [{ name: "TOKEN", value: "s3cr3t" }] }] },
  status: {
    phase: "Running",
    startTime: "2026-01-01T00:00:00Z",
    conditions: [{ type: "Ready", status: "True" }],
    initContainerStatuses: [
      { name: "git-clone", ready: false, restartCount: 0, state: { terminated: { reason: "Completed" } } },
    ],
    containerStatuses: [{ name: "ide", ready: true, restartCount: 2, state: { running: {} } }],
  },
};

test("a pod is kept as its item only: no spec, env, annotations or managedFields", () => {
  const p = trimPod(rawPod);
  assert.deepEqual(p.item, {
    kind: "Pod",
    namespace: "ns",
    name: "ws-w",
    resourceVersion: "7",
    workspace: "w",
    phase: "Running",
    ready: true,
    containers: [{ name: "ide", ready: true, state: "running", restarts: 2 }],
    initContainers: [
      { name: "git-clone", ready: false, state: "terminated", reason: "Completed", restarts: 0 },
    ],
    startedAt: "2026-01-01T00:00:00Z",
  });
  assert.doesNotMatch(JSON.stringify(p), /s3cr3t|managedFields|last-applied/);
});

test("a pod's workspace: the operator's annotation, else its Workspace owner", () => {
  assert.equal(
    workspaceOfPod({ metadata: { ownerReferences: [{ kind: "Workspace", name: "x" }] } } as never),
    "x",
  );
  assert.equal(workspaceOfPod({ metadata: {} }), "");
});

test("events about workspaces and pods keep what the timeline shows; others only their identity", () => {
  const ev = (kind: string) =>
    trimEvent({
      metadata: { namespace: "ns", name: "e", resourceVersion: "9" },
      involvedObject: { kind, name: "w" },
      type: "Warning",
      reason: "BackOff",
      message: "m".repeat(MAX_EVENT_MESSAGE + 10),
      count: 3,
      lastTimestamp: "2026-01-01T00:00:01Z",
    } as never);
  const about = ev("Workspace");
  assert.equal(about.item.workspace, "w");
  assert.equal(about.item.message.length, MAX_EVENT_MESSAGE);
  assert.equal(about.item.time, "2026-01-01T00:00:01Z");
  assert.equal(ev("Pod").item.workspace, "", "a pod's workspace is resolved from the caches");
  const other = ev("Node");
  assert.deepEqual([other.item.reason, other.item.message, other.item.involved.name], ["", "", ""]);
});

// --- Lifecycle (issue 15): the workspaces channel carries what the console's idle warning reads.
test("a workspace's item carries stopsAt, keepAliveUntil and idleStopped (the API's view)", () => {
  const ws = {
    apiVersion: "portico.dev/v1alpha1",
    kind: "Workspace",
    metadata: {
      namespace: "ns",
      name: "w",
      resourceVersion: "9",
      annotations: {
        "portico.dev/keep-alive-until": "2026-12-05T18:00:00Z",
        "portico.dev/idle-stopped": "2026-12-05T14:02:00Z",
      },
    },
    spec: { owner: "alice", className: "jupyter" },
    status: { phase: "Running", stopsAt: "2026-12-05T19:00:00Z" },
  } as unknown as Workspace;
  const v = workspaceItem(ws, "portico.dev/sync-requested").view;
  assert.equal(v.stopsAt, "2026-12-05T19:00:00Z");
  assert.equal(v.keepAliveUntil, "2026-12-05T18:00:00Z");
  assert.equal(v.idleStopped, true);
});
