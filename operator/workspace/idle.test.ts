import assert from "node:assert/strict";
import { test } from "node:test";
import type { V1Pod } from "@kubernetes/client-node";
import type { Workspace, WorkspaceClassIdle } from "../../crds/types.ts";
import { testClass, testWorkspace } from "./fixtures.ts";
import { clock, decideIdle, humanDuration, type IdleAction } from "./idle.ts";

const at = (hhmmss: string) => Date.parse(`2026-03-01T${hhmmss}Z`);
const iso = (hhmmss: string) => `2026-03-01T${hhmmss}Z`;
const pod = (created: string, deleting = false): V1Pod => ({
  metadata: {
    name: "ws-alice-notebook",
    creationTimestamp: iso(created) as unknown as Date,
    ...(deleting ? { deletionTimestamp: iso(created) as unknown as Date } : {}),
  },
});

interface Row {
  name: string;
  annotations?: Record<string, string>;
  idleTimeout?: string;
  classIdle?: WorkspaceClassIdle;
  running?: boolean;
  pod?: V1Pod;
  ide?: number;
  previousIde?: string;
  now: string;
  action: IdleAction;
  reason: string;
  stopsAt?: string;
  lastActivity?: string;
  nextAt?: string;
  /** Fields of status.activity expected (exactly). */
  activity?: Record<string, string>;
  message?: RegExp;
}

const base = { idleTimeout: "30m", classIdle: { warnBefore: "5m" }, pod: pod("12:00:00") };

const rows: Row[] = [
  {
    name: "recent proxy activity: active, stops a timeout after it, looks again when the warning starts",
    ...base,
    annotations: { "portico.dev/activity-proxy": iso("14:02:00") },
    now: "14:10:00",
    action: "none",
    reason: "Active",
    stopsAt: iso("14:32:00"),
    lastActivity: iso("14:02:00"),
    nextAt: "14:27:00",
    message:
      /^No activity since 14:02 UTC \(proxy 14:02 UTC\); stops at 14:32 UTC unless there is activity\.$/,
  },
  {
    name: "inside the warning window: warn, look again at the stop",
    ...base,
    annotations: { "portico.dev/activity-proxy": iso("14:02:00") },
    now: "14:28:00",
    action: "warn",
    reason: "StoppingSoon",
    stopsAt: iso("14:32:00"),
    nextAt: "14:32:00",
  },
  {
    name: "clock exactly at the warning's start: warn",
    ...base,
    annotations: { "portico.dev/activity-proxy": iso("14:02:00") },
    now: "14:27:00",
    action: "warn",
    reason: "StoppingSoon",
  },
  {
    name: "clock exactly at stopsAt: stop",
    ...base,
    annotations: { "portico.dev/activity-proxy": iso("14:02:00") },
    now: "14:32:00",
    action: "stop",
    reason: "StoppingSoon",
    stopsAt: iso("14:32:00"),
  },
  {
    name: "one second before stopsAt: not yet",
    ...base,
    annotations: { "portico.dev/activity-proxy": iso("14:02:00") },
    now: "14:31:59",
    action: "warn",
    reason: "StoppingSoon",
  },
  {
    name: "the newest signal counts: console newer than proxy, ide older",
    ...base,
    annotations: {
      "portico.dev/activity-proxy": iso("14:02:00"),
      "portico.dev/activity-console": iso("14:20:00"),
    },
    ide: at("13:58:00"),
    now: "14:33:00",
    action: "none",
    reason: "Active",
    stopsAt: iso("14:50:00"),
    lastActivity: iso("14:20:00"),
    activity: { proxy: iso("14:02:00"), console: iso("14:20:00"), ide: iso("13:58:00") },
    message: /\(console 14:20 UTC, proxy 14:02 UTC, ide 13:58 UTC\)/,
  },
  {
    name: "keep-alive postpones the stop past the timeout",
    ...base,
    annotations: {
      "portico.dev/activity-proxy": iso("14:02:00"),
      "portico.dev/keep-alive-until": iso("17:00:00"),
    },
    now: "14:40:00",
    action: "none",
    reason: "Active",
    stopsAt: iso("17:00:00"),
    lastActivity: iso("14:02:00"),
    activity: { proxy: iso("14:02:00"), keepAliveUntil: iso("17:00:00") },
    message: /kept alive until 17:00 UTC/,
  },
  {
    name: "a keep-alive past now + maxKeepAlive is ignored",
    ...base,
    classIdle: { warnBefore: "5m", maxKeepAlive: "1h" },
    annotations: {
      "portico.dev/activity-proxy": iso("14:02:00"),
      "portico.dev/keep-alive-until": iso("23:00:00"),
    },
    now: "14:40:00",
    action: "stop",
    reason: "StoppingSoon",
    activity: { proxy: iso("14:02:00") },
  },
  {
    name: "a keep-alive already past does not postpone",
    ...base,
    annotations: {
      "portico.dev/activity-proxy": iso("14:02:00"),
      "portico.dev/keep-alive-until": iso("14:10:00"),
    },
    now: "14:40:00",
    action: "stop",
    reason: "StoppingSoon",
  },
  {
    name: "busy probe keeps it alive: the poll time is activity",
    ...base,
    annotations: { "portico.dev/activity-proxy": iso("13:00:00") },
    ide: at("14:39:30"),
    now: "14:40:00",
    action: "none",
    reason: "Active",
    stopsAt: iso("15:09:30"),
    lastActivity: iso("14:39:30"),
  },
  {
    name: "the ide time already in status still counts when the probe has nothing new",
    ...base,
    previousIde: iso("14:30:00"),
    now: "14:40:00",
    action: "none",
    reason: "Active",
    stopsAt: iso("15:00:00"),
    activity: { ide: iso("14:30:00") },
  },
  {
    name: "restart floor: a pod created after the last activity gets a full timeout",
    ...base,
    pod: pod("15:00:00"),
    annotations: { "portico.dev/activity-proxy": iso("13:00:00") },
    now: "15:10:00",
    action: "none",
    reason: "Active",
    stopsAt: iso("15:30:00"),
    lastActivity: iso("13:00:00"),
  },
  {
    name: "woken floor: the wake time counts even when the pod is older",
    ...base,
    annotations: { "portico.dev/woken": iso("14:50:00") },
    now: "15:10:00",
    action: "none",
    reason: "Active",
    stopsAt: iso("15:20:00"),
    message: /^No activity seen; stops at 15:20 UTC/,
  },
  {
    name: "no activity ever: counts from the pod's creation",
    ...base,
    now: "12:31:00",
    action: "stop",
    reason: "StoppingSoon",
    stopsAt: iso("12:30:00"),
  },
  {
    name: "0s timeout: never stops, no stopsAt, no requeue",
    ...base,
    idleTimeout: "0s",
    now: "23:00:00",
    action: "none",
    reason: "NoIdleTimeout",
  },
  {
    name: "unset timeout (neither workspace nor class): never stops",
    ...base,
    idleTimeout: undefined,
    now: "23:00:00",
    action: "none",
    reason: "NoIdleTimeout",
  },
  {
    name: "spec.running false: nothing to stop",
    ...base,
    running: false,
    now: "23:00:00",
    action: "none",
    reason: "NotRunning",
  },
  {
    name: "no pod yet: the timeout has not started",
    ...base,
    pod: undefined,
    now: "23:00:00",
    action: "none",
    reason: "NotRunning",
  },
  {
    name: "a pod being deleted is not running",
    ...base,
    pod: pod("12:00:00", true),
    now: "23:00:00",
    action: "none",
    reason: "NotRunning",
  },
  {
    name: "idle-stopped: IdleTimeout with when and why, nothing more to do",
    ...base,
    pod: undefined,
    annotations: {
      "portico.dev/idle-stopped": iso("14:32:00"),
      "portico.dev/activity-proxy": iso("14:02:00"),
    },
    ide: at("13:58:00"),
    now: "15:00:00",
    action: "none",
    reason: "IdleTimeout",
    message:
      /^Stopped at 14:32 UTC after 30m without activity: proxy 14:02 UTC, ide 13:58 UTC\. Open its URL or start it to wake it\.$/,
  },
  {
    name: "annotation garbage is ignored: unparseable times and times far in the future",
    ...base,
    annotations: {
      "portico.dev/activity-proxy": "yesterday",
      "portico.dev/activity-console": iso("23:59:00"),
      "portico.dev/keep-alive-until": "soon",
      "portico.dev/woken": "{}",
    },
    now: "12:31:00",
    action: "stop",
    reason: "StoppingSoon",
    activity: {},
  },
  {
    name: "warnBefore 0s: no warning, requeue at the stop",
    ...base,
    classIdle: { warnBefore: "0s" },
    annotations: { "portico.dev/activity-proxy": iso("14:02:00") },
    now: "14:31:00",
    action: "none",
    reason: "Active",
    nextAt: "14:32:00",
  },
  {
    name: "the workspace's own idleTimeout wins over the class's",
    ...base,
    idleTimeout: "5m",
    annotations: { "portico.dev/activity-proxy": iso("14:02:00") },
    now: "14:05:00",
    action: "warn",
    reason: "StoppingSoon",
    stopsAt: iso("14:07:00"),
  },
];

for (const r of rows) {
  test(`decideIdle: ${r.name}`, () => {
    const ws: Workspace = testWorkspace(
      {
        ...(r.running === false ? { running: false } : {}),
        ...(r.idleTimeout ? { idleTimeout: r.idleTimeout } : {}),
      },
      { annotations: r.annotations ?? {} },
    );
    if (r.previousIde) ws.status = { activity: { ide: r.previousIde } };
    const cls = testClass({ idle: r.classIdle ?? {} });
    const d = decideIdle({
      ws,
      cls,
      pod: r.pod,
      ...(r.ide !== undefined ? { ideActivityMs: r.ide } : {}),
      nowMs: at(r.now),
    });
    assert.equal(d.action, r.action, d.condition.message);
    assert.equal(d.condition.reason, r.reason);
    assert.equal(d.condition.status, r.reason === "IdleTimeout" ? "True" : "False");
    if (r.stopsAt !== undefined) assert.equal(d.stopsAt, r.stopsAt);
    if (["NoIdleTimeout", "NotRunning", "IdleTimeout"].includes(r.reason)) {
      assert.equal(d.stopsAt, undefined);
      assert.equal(d.nextAtMs, undefined);
    }
    if (r.lastActivity !== undefined) assert.equal(d.lastActivity, r.lastActivity);
    if (r.nextAt !== undefined) assert.equal(d.nextAtMs, at(r.nextAt));
    if (r.activity) assert.deepEqual(d.activity, r.activity);
    if (r.message) assert.match(d.condition.message, r.message);
  });
}

test("a moving clock: active, then the warning, then the stop, each at its deadline", () => {
  const ws = testWorkspace({ idleTimeout: "20s" }, { annotations: {} });
  const cls = testClass({ idle: { warnBefore: "10s" } });
  const p = pod("12:00:00");
  let now = at("12:00:01");
  const seen: string[] = [];
  for (let i = 0; i < 5; i++) {
    const d = decideIdle({ ws, cls, pod: p, nowMs: now });
    seen.push(d.action);
    if (d.nextAtMs === undefined || d.action === "stop") break;
    now = d.nextAtMs;
  }
  assert.deepEqual(seen, ["none", "warn", "stop"]);
});

test("clock and humanDuration read as people write them", () => {
  assert.equal(clock(at("14:02:59"), at("15:00:00")), "14:02 UTC");
  assert.equal(clock(at("14:02:00"), Date.parse("2026-03-02T01:00:00Z")), "2026-03-01 14:02 UTC");
  assert.equal(humanDuration(30 * 60_000), "30m");
  assert.equal(humanDuration(90 * 60_000), "1h30m");
  assert.equal(humanDuration(20_000), "20s");
  assert.equal(humanDuration(0), "0s");
});
