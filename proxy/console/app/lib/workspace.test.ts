import { test } from "node:test";
import assert from "node:assert/strict";
import { actions, ago, steps, type Workspace } from "./workspace.ts";

const cond = (type: string, status: "True" | "False" | "Unknown", message = "") => ({
  type,
  status,
  reason: "R",
  message,
  lastTransitionTime: "2026-12-05T10:00:00Z",
});

test("steps: done ones, then the one under way, then the rest", () => {
  const w = {
    running: true,
    phase: "Starting" as const,
    conditions: [cond("StorageReady", "True"), cond("PodReady", "False", "pulling")],
  };
  assert.deepEqual(
    steps(w).map((s) => `${s.type}:${s.state}`),
    ["StorageReady:done", "PodReady:active", "Routed:todo", "Ready:todo"],
  );
  assert.equal(steps(w)[1]!.message, "pulling");
  assert.equal(steps({ ...w, phase: "Failed" })[1]!.state, "failed");
  assert.deepEqual(
    steps({ running: false, phase: "Stopped", conditions: [cond("StorageReady", "True")] }).map(
      (s) => s.state,
    ),
    ["done", "todo", "todo", "todo"],
    "a stopped workspace has no step under way",
  );
});

test("actions follow the state", () => {
  const base: Pick<Workspace, "running" | "phase" | "ready" | "url" | "repository"> = {
    running: true,
    phase: "Running",
    ready: true,
    url: "http://x/",
    repository: { url: "https://git/x.git" },
  };
  assert.deepEqual(actions(base), ["open", "stop", "sync", "delete"]);
  assert.deepEqual(actions({ ...base, repository: undefined }), ["open", "stop", "delete"]);
  assert.deepEqual(actions({ ...base, running: false, phase: "Stopped", ready: false }), ["start", "delete"]);
  assert.deepEqual(actions({ ...base, phase: "Starting", ready: false }), ["stop", "delete"]);
});

test("ago", () => {
  const now = Date.parse("2026-12-05T12:00:00Z");
  assert.equal(ago("2026-12-05T11:59:50Z", now), "just now");
  assert.equal(ago("2026-12-05T11:55:00Z", now), "5 min ago");
  assert.equal(ago("2026-12-05T09:00:00Z", now), "3 h ago");
  assert.equal(ago("2026-12-03T12:00:00Z", now), "2 d ago");
  assert.equal(ago(undefined, now), "");
  assert.equal(ago("garbage", now), "");
});
