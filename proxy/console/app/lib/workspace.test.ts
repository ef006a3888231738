import { test } from "node:test";
import assert from "node:assert/strict";
import {
  actions,
  ago,
  idleWarning,
  keepAliveChoices,
  phaseLabel,
  steps,
  type Workspace,
} from "./workspace.ts";

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

// --- Lifecycle (issue 15)
test("an idle-stopped workspace says so and offers Start (which wakes it), not Stop", () => {
  const w = { running: true, phase: "Stopped" as const, ready: false, idleStopped: true };
  assert.equal(phaseLabel(w), "Stopped (idle)");
  assert.equal(phaseLabel({ ...w, idleStopped: false }), "Stopped");
  assert.deepEqual(actions(w), ["start", "delete"]);
  assert.deepEqual(actions({ ...w, idleStopped: false, phase: "Running", ready: false }), ["stop", "delete"]);
});

test("idleWarning: the Idle condition's StoppingSoon, or stopsAt within the class's warnBefore", () => {
  const now = Date.parse("2026-12-05T14:00:00Z");
  const idle = { warnBefore: "5m", maxKeepAlive: "8h" };
  const base = { running: true, idleStopped: false, conditions: [] as ReturnType<typeof cond>[] };
  assert.equal(idleWarning(base, idle, now), undefined, "no stop coming");
  assert.deepEqual(idleWarning({ ...base, stopsAt: "2026-12-05T14:04:00Z" }, idle, now), {
    stopsAt: "2026-12-05T14:04:00Z",
  });
  assert.equal(idleWarning({ ...base, stopsAt: "2026-12-05T14:06:00Z" }, idle, now), undefined, "6 min left");
  assert.equal(idleWarning({ ...base, stopsAt: "2026-12-05T14:04:00Z" }, undefined, now), undefined);
  const soon = { ...cond("Idle", "False"), reason: "StoppingSoon" };
  assert.deepEqual(idleWarning({ ...base, conditions: [soon] }, undefined, now), {});
  assert.equal(idleWarning({ ...base, conditions: [soon], idleStopped: true }, idle, now), undefined);
  assert.equal(idleWarning({ ...base, conditions: [soon], running: false }, idle, now), undefined);
});

test("keepAliveChoices: capped by the class's maxKeepAlive, which is offered itself", () => {
  assert.deepEqual(keepAliveChoices("8h"), ["30m", "1h", "3h", "8h"]);
  assert.deepEqual(keepAliveChoices("2h"), ["30m", "1h", "2h"]);
  assert.deepEqual(keepAliveChoices("30m"), ["30m"]);
  assert.deepEqual(keepAliveChoices(undefined), ["30m", "1h", "3h", "8h"]);
  assert.deepEqual(keepAliveChoices("48h"), ["30m", "1h", "3h", "8h", "24h", "48h"]);
});
