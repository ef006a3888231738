import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { V1Pod } from "@kubernetes/client-node";
import type { Workspace } from "../../crds/types.ts";
import {
  SYNC_OF_LABEL,
  SYNC_REQUEST_ANNOTATION,
  SYNC_REQUESTED_ANNOTATION,
  WORKSPACE_LABEL,
} from "../../common/model/workspace/names.ts";
import { GIT_CONTAINER, HOME_VOLUME } from "./build.ts";
import { testClass, testConfig, testWorkspace } from "./fixtures.ts";
import {
  SYNC_CONTAINER,
  TERMINATION_LOG,
  buildSyncNetworkPolicy,
  buildSyncPod,
  parseSyncReport,
  planSync,
  readSyncResult,
  syncResources,
  withSync,
} from "./sync.ts";

const NOW = "2026-12-05T01:00:00Z";
const repo = { url: "https://git.example.com/team/analysis.git" };
const asking = (id: string | undefined, spec: Partial<Workspace["spec"]> = {}) =>
  testWorkspace(
    { repository: repo, ...spec },
    id ? { annotations: { [SYNC_REQUESTED_ANNOTATION]: id } } : {},
  );
const withStatus = (ws: Workspace, status: Workspace["status"]): Workspace => ({ ...ws, status });
const wsPod: V1Pod = {
  metadata: { name: "ws-alice-notebook" },
  spec: { nodeName: "node-1", containers: [] },
};
const syncPod = (request: string, status?: V1Pod["status"], deleting = false): V1Pod => ({
  metadata: {
    name: "ws-alice-notebook-sync",
    annotations: { [SYNC_REQUEST_ANNOTATION]: request },
    ...(deleting ? { deletionTimestamp: new Date() } : {}),
  },
  status,
});
const finishedWith = (message: string, exitCode = 0): V1Pod["status"] => ({
  phase: exitCode ? "Failed" : "Succeeded",
  containerStatuses: [
    {
      name: SYNC_CONTAINER,
      image: "git",
      imageID: "",
      ready: false,
      restartCount: 0,
      state: { terminated: { exitCode, message } },
    },
  ],
});
const report = (o: object) =>
  JSON.stringify({ commit: "c0ffee", conflicts: [], message: "merged origin/main.", ...o });

describe("buildSyncPod", () => {
  const pod = buildSyncPod(
    asking("r1"),
    testClass({ resources: { limits: { cpu: "50m" } } }),
    testConfig(),
    "node-7",
    "r1",
  )!;

  it("runs the workspace's git-clone step, then git-sync, once, on the workspace pod's node", () => {
    assert.equal(pod.metadata?.name, "ws-alice-notebook-sync");
    assert.equal(pod.spec?.nodeName, "node-7");
    assert.equal(pod.spec?.restartPolicy, "Never");
    assert.deepEqual(
      pod.spec?.initContainers?.map((c) => c.name),
      [GIT_CONTAINER],
    );
    assert.deepEqual(
      pod.spec?.containers.map((c) => c.name),
      [SYNC_CONTAINER],
    );
    assert.equal(pod.metadata?.ownerReferences?.[0]?.kind, "Workspace");
    assert.equal(pod.metadata?.annotations?.[SYNC_REQUEST_ANNOTATION], "r1");
  });

  it("is not selected by the workspace's Service, and only the fetch step sees the Secret", () => {
    assert.equal(pod.metadata?.labels?.[WORKSPACE_LABEL], undefined);
    assert.equal(pod.metadata?.labels?.[SYNC_OF_LABEL], "alice-notebook");
    const sync = pod.spec!.containers[0]!;
    assert.ok(!JSON.stringify(sync).includes("secretKeyRef"));
    assert.equal(sync.terminationMessagePath, TERMINATION_LOG);
    assert.ok(sync.env?.some((e) => e.name === "TERMINATION_LOG" && e.value === TERMINATION_LOG));
    assert.equal(
      sync.volumeMounts?.find((m) => m.name === HOME_VOLUME)?.readOnly,
      undefined,
      "it writes the clone",
    );
    const fetch = pod.spec!.initContainers![0]!;
    assert.equal(fetch.volumeMounts?.find((m) => m.name === HOME_VOLUME)?.readOnly, true);
  });

  it("asks for little (it bypasses the scheduler), never above the workspace's limits", () => {
    assert.deepEqual(pod.spec!.containers[0]!.resources, {
      requests: { cpu: "50m", memory: "128Mi" },
      limits: { cpu: "50m" },
    });
    assert.deepEqual(syncResources(undefined), { requests: { cpu: "100m", memory: "128Mi" } });
  });

  it("is not built without a repository", () => {
    assert.equal(buildSyncPod(testWorkspace(), testClass(), testConfig(), "n", "r"), undefined);
  });
});

describe("buildSyncNetworkPolicy", () => {
  it("selects the sync pods only, admits nothing, and lets out what the workspace's pod may reach", () => {
    const ws = asking("r1");
    const pod = buildSyncPod(ws, testClass(), testConfig(), "n", "r1")!;
    const policy = buildSyncNetworkPolicy(ws, testConfig());
    const selector = policy.spec!.podSelector!.matchLabels!;
    assert.ok(Object.entries(selector).every(([k, v]) => pod.metadata?.labels?.[k] === v));
    assert.equal(selector[WORKSPACE_LABEL], undefined);
    assert.deepEqual(policy.spec?.ingress, []);
    assert.deepEqual(policy.spec?.policyTypes, ["Ingress", "Egress"]);
    assert.ok(policy.spec?.egress?.length);
    const open = testConfig({ workspaceEgress: { ...testConfig().workspaceEgress, mode: "open" } });
    assert.deepEqual(buildSyncNetworkPolicy(ws, open).spec?.policyTypes, ["Ingress"]);
  });
});

describe("readSyncResult", () => {
  it("reads the script's report: success reasons, conflicts, commit", () => {
    const r = readSyncResult(
      syncPod("r", finishedWith(report({ reason: "MergedKeepingLocal", conflicts: ["a.txt"] }))),
    );
    assert.deepEqual(r, {
      ok: true,
      reason: "MergedKeepingLocal",
      commit: "c0ffee",
      conflicts: ["a.txt"],
      message: "merged origin/main.",
    });
  });

  it("fails with the script's words, the raw message, or the exit code", () => {
    const said = readSyncResult(
      syncPod("r", finishedWith(report({ reason: "Failed", message: "no upstream branch" }), 1)),
    );
    assert.deepEqual([said?.ok, said?.reason, said?.message], [false, "SyncFailed", "no upstream branch"]);
    assert.equal(
      readSyncResult(syncPod("r", finishedWith("sh: git: not found", 127)))?.message,
      "sh: git: not found",
    );
    assert.equal(
      readSyncResult(syncPod("r", finishedWith("", 2)))?.message,
      "the git-sync container exited with code 2",
    );
    assert.equal(
      readSyncResult(syncPod("r", finishedWith("not json", 0)))?.ok,
      false,
      "success needs the report",
    );
  });

  it("fails when the pod failed before git-sync ran; undefined while it runs", () => {
    const fetchFailed: V1Pod["status"] = {
      initContainerStatuses: [
        {
          name: GIT_CONTAINER,
          image: "",
          imageID: "",
          ready: false,
          restartCount: 0,
          state: { terminated: { exitCode: 128, message: "fatal: repository not found" } },
        },
      ],
    };
    assert.match(
      readSyncResult(syncPod("r", fetchFailed))!.message,
      /fetching the repository failed: fatal: repository not found/,
    );
    assert.match(
      readSyncResult(syncPod("r", { phase: "Failed", reason: "DeadlineExceeded" }))!.message,
      /DeadlineExceeded/,
    );
    assert.equal(readSyncResult(syncPod("r", { phase: "Running" })), undefined);
  });

  it("parseSyncReport takes only the script's shape", () => {
    assert.equal(parseSyncReport("[]"), undefined);
    assert.equal(parseSyncReport('{"reason":1}'), undefined);
    assert.deepEqual(parseSyncReport('{"reason":"Merged","message":"m","conflicts":["x",2]}'), {
      reason: "Merged",
      conflicts: ["x"],
      message: "m",
    });
  });
});

describe("planSync", () => {
  const plan = (ws: Workspace, o: { pod?: V1Pod; syncPod?: V1Pod; ready?: boolean } = {}) =>
    planSync({ ws, pod: o.pod, syncPod: o.syncPod, podReady: o.ready ?? !!o.pod, now: NOW });

  it("does nothing without a request", () => {
    assert.deepEqual(plan(asking(undefined), { pod: wsPod }), {});
  });

  it("creates the pod beside a running, Ready workspace, with an Event", () => {
    const p = plan(asking("r1"), { pod: wsPod });
    assert.equal(p.create, true);
    assert.deepEqual(p.sync, {
      requested: "r1",
      state: "Running",
      message: "Fetching upstream and merging it into the clone.",
    });
    assert.equal(p.synced?.reason, "Syncing");
    assert.equal(p.event?.reason, "SyncStarted");
  });

  it("waits while the workspace is stopped or not Ready: Pending, NotRunning", () => {
    for (const p of [
      plan(asking("r1", { running: false })),
      plan(asking("r1"), { pod: wsPod, ready: false }),
    ]) {
      assert.equal(p.create, undefined);
      assert.equal(p.sync?.state, "Pending");
      assert.deepEqual([p.synced?.status, p.synced?.reason], ["False", "NotRunning"]);
    }
  });

  it("records a finished pod's result, then deletes the pod after the status write", () => {
    const done = syncPod("r1", finishedWith(report({ reason: "Merged" })));
    const p = plan(asking("r1"), { pod: wsPod, syncPod: done });
    assert.deepEqual(p.sync, {
      requested: "r1",
      state: "Succeeded",
      commit: "c0ffee",
      message: "merged origin/main.",
      finishedAt: NOW,
    });
    assert.deepEqual([p.synced?.status, p.synced?.reason], ["True", "Merged"]);
    assert.deepEqual(p.remove, { pod: done, afterStatus: true });
    assert.equal(p.event?.type, "Normal");
  });

  it("conflicts kept locally are a success that names the files; a failure is SyncFailed", () => {
    const kept = plan(asking("r1"), {
      syncPod: syncPod(
        "r1",
        finishedWith(report({ reason: "MergedKeepingLocal", conflicts: ["a.txt", "b.txt"] })),
      ),
    });
    assert.deepEqual(
      [kept.synced?.status, kept.synced?.reason, kept.sync?.conflicts],
      ["True", "MergedKeepingLocal", ["a.txt", "b.txt"]],
    );
    assert.match(kept.synced!.message, /Kept locally: a\.txt, b\.txt\./);
    const failed = plan(asking("r1"), {
      syncPod: syncPod("r1", finishedWith(report({ reason: "Failed", message: "x" }), 1)),
    });
    assert.deepEqual(
      [failed.sync?.state, failed.synced?.status, failed.synced?.reason, failed.event?.type],
      ["Failed", "False", "SyncFailed", "Warning"],
    );
  });

  it("converges after a restart: a recorded request only loses its leftover pod, with no new status or Event", () => {
    const ws = withStatus(asking("r1"), { sync: { requested: "r1", state: "Succeeded" } });
    const left = syncPod("r1", finishedWith(report({ reason: "Merged" })));
    assert.deepEqual(plan(ws, { pod: wsPod, syncPod: left }), { remove: { pod: left, afterStatus: false } });
    assert.deepEqual(plan(ws, { pod: wsPod }), {}, "no second pod for a recorded request");
    assert.deepEqual(plan(ws, { pod: wsPod, syncPod: syncPod("r1", undefined, true) }), {});
  });

  it("a new request replaces the pod of an older one first; one pod per request", () => {
    const old = syncPod("r1", { phase: "Running" });
    const p = plan(asking("r2"), { pod: wsPod, syncPod: old });
    assert.deepEqual(p.remove, { pod: old, afterStatus: false });
    assert.equal(p.create, undefined);
    assert.equal(p.sync?.requested, "r2");
    const waiting = plan(asking("r2"), { pod: wsPod, syncPod: syncPod("r1", { phase: "Running" }, true) });
    assert.deepEqual([waiting.remove, waiting.create], [undefined, undefined]);
  });

  it("a workspace without a repository fails at once", () => {
    const p = plan(testWorkspace({}, { annotations: { [SYNC_REQUESTED_ANNOTATION]: "r1" } }), { pod: wsPod });
    assert.deepEqual([p.sync?.state, p.synced?.reason, p.create], ["Failed", "NoRepository", undefined]);
  });
});

describe("withSync", () => {
  it("sets status.sync and the Synced condition, keeping its transition time while its status holds", () => {
    const ws = withStatus(asking("r1"), {
      conditions: [
        {
          type: "Synced",
          status: "Unknown",
          reason: "Syncing",
          message: "",
          lastTransitionTime: "2026-12-05T00:00:00Z",
        },
      ],
    });
    const base = {
      phase: "Running" as const,
      conditions: [
        { type: "Ready", status: "True" as const, reason: "Ready", message: "", lastTransitionTime: "t" },
      ],
    };
    const still = withSync(base, ws, { synced: { status: "Unknown", reason: "Syncing", message: "m" } }, NOW);
    assert.equal(
      still.conditions?.find((c) => c.type === "Synced")?.lastTransitionTime,
      "2026-12-05T00:00:00Z",
    );
    const done = withSync(
      base,
      ws,
      {
        sync: { requested: "r1", state: "Succeeded" },
        synced: { status: "True", reason: "Merged", message: "m" },
      },
      NOW,
    );
    assert.equal(done.conditions?.find((c) => c.type === "Synced")?.lastTransitionTime, NOW);
    assert.equal(done.conditions?.length, 2);
    assert.deepEqual(done.sync, { requested: "r1", state: "Succeeded" });
    assert.equal(withSync(base, ws, {}, NOW), base);
  });
});
