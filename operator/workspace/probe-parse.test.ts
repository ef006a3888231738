import assert from "node:assert/strict";
import { test } from "node:test";
import {
  activityTime,
  coalesce,
  field,
  isBusy,
  probeIntervalMs,
  probePath,
  probeTarget,
  readingActivity,
} from "./probe-parse.ts";

// Jupyter Server's answers as measured (jupyter-server 1.23.3, docs/lifecycle.md).
const status = {
  connections: 0,
  kernels: 1,
  last_activity: "2026-12-05T06:15:50.518332Z",
  started: "2026-12-05T06:15:36.957268Z",
};
const kernels = [
  { id: "a", name: "python3", last_activity: "2026-12-05T06:15:50.518332Z", execution_state: "idle" },
  { id: "b", name: "python3", last_activity: "2026-12-05T06:15:50.518332Z", execution_state: "busy" },
];

test("activityTime: RFC 3339 and epoch milliseconds; nothing else", () => {
  assert.equal(activityTime(status.last_activity), Date.parse("2026-12-05T06:15:50.518Z"));
  assert.equal(activityTime("2026-12-05T07:15:50+01:00"), Date.parse("2026-12-05T06:15:50Z"));
  assert.equal(activityTime(1764915350518), 1764915350518);
  assert.equal(activityTime("1764915350518"), 1764915350518);
  for (const bad of [
    "yesterday",
    "2026-12-05",
    "Sat, 05 Dec 2026 06:15:50 GMT",
    "",
    null,
    {},
    [],
    -1,
    NaN,
    true,
  ])
    assert.equal(activityTime(bad), undefined, String(bad));
});

test("field: dotted paths into objects only", () => {
  assert.equal(field({ a: { b: { c: 3 } } }, "a.b.c"), 3);
  assert.equal(field({ a: [1] }, "a.0"), undefined);
  assert.equal(field(null, "a"), undefined);
  assert.equal(field("x", "length"), undefined);
});

test("isBusy: an element of a top-level array, or the object itself", () => {
  const busy = { field: "execution_state", value: "busy" };
  assert.equal(isBusy(kernels, busy), true);
  assert.equal(isBusy(kernels.slice(0, 1), busy), false);
  assert.equal(isBusy([], busy), false);
  assert.equal(isBusy({ execution_state: "busy" }, busy), true);
  assert.equal(isBusy({ state: { busy: true } }, { field: "state.busy", value: "true" }), true);
  assert.equal(isBusy("busy", busy), false);
});

test("readingActivity: busy means the poll time, else what the IDE says", () => {
  assert.equal(readingActivity({ busy: true, lastActivityMs: 5 }, 100), 100);
  assert.equal(readingActivity({ busy: false, lastActivityMs: 5 }, 100), 5);
  assert.equal(readingActivity({ busy: false }, 100), undefined);
});

test("coalesce: only a step newer replaces what is kept", () => {
  assert.equal(coalesce(undefined, 10, 60), 10);
  assert.equal(coalesce(10, undefined, 60), 10);
  assert.equal(coalesce(10, 69, 60), 10);
  assert.equal(coalesce(10, 70, 60), 70);
  assert.equal(coalesce(70, 10, 60), 70, "older never replaces newer");
});

test("probePath, probeIntervalMs", () => {
  assert.equal(probePath("{prefix}/api/status", "/w/ns/x"), "/w/ns/x/api/status");
  assert.equal(probePath("{prefix}/api/status", ""), "/api/status");
  assert.equal(probePath("api/status", ""), "/api/status");
  assert.equal(probeIntervalMs({ path: "/" }), 30_000);
  assert.equal(probeIntervalMs({ path: "/", interval: "10s" }), 10_000);
  assert.equal(probeIntervalMs({ path: "/", interval: "1s" }), 5_000);
});

test("probeTarget: only a Ready pod with an IP, a probe and a timeout; step bounded by the timeout", () => {
  const probe = {
    path: "{prefix}/api/status",
    lastActivityField: "last_activity",
    busy: { path: "{prefix}/api/kernels?no_track_activity=1", field: "execution_state", value: "busy" },
    interval: "10s",
  };
  const o = {
    probe,
    port: 8888,
    prefix: "/w/team-a/nb",
    podIP: "10.0.0.7",
    podUid: "u1",
    podRunning: true,
    podReady: true,
    timeoutMs: 30 * 60_000,
    reportIntervalMs: 60_000,
  };
  assert.deepEqual(probeTarget(o), {
    url: "http://10.0.0.7:8888/w/team-a/nb/api/status",
    busyUrl: "http://10.0.0.7:8888/w/team-a/nb/api/kernels?no_track_activity=1",
    lastActivityField: "last_activity",
    busy: { field: "execution_state", value: "busy" },
    intervalMs: 10_000,
    stepMs: 60_000,
    podUid: "u1",
    ready: true,
  });
  assert.equal(
    probeTarget({ ...o, podReady: false })?.ready,
    false,
    "a running pod that is not Ready is a target",
  );
  assert.equal(probeTarget({ ...o, timeoutMs: 20_000 })?.stepMs, 5_000);
  assert.equal(probeTarget({ ...o, podIP: "fd00::7" })?.url, "http://[fd00::7]:8888/w/team-a/nb/api/status");
  // The path cannot name another host (userinfo tricks land in the path).
  const tricky = probeTarget({ ...o, prefix: "", probe: { path: "{prefix}@169.254.169.254/x" } });
  assert.equal(tricky?.url, "http://10.0.0.7:8888/@169.254.169.254/x");
  assert.equal(probePath("{prefix}@evil.test/", ""), "/@evil.test/");
  assert.equal(probeTarget({ ...o, podRunning: false }), undefined);
  assert.equal(probeTarget({ ...o, podIP: undefined }), undefined);
  assert.equal(probeTarget({ ...o, probe: undefined }), undefined);
  assert.equal(probeTarget({ ...o, timeoutMs: undefined }), undefined);
});
