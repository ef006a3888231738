/**
 * The operator's idle stop on the real cluster (docs/lifecycle.md, "How the operator decides"), with
 * short timeouts (idleTimeout 20s, warnBefore 10s) on the featherweight class: a workspace with no
 * activity is warned (StoppingSoon, Event IdleWarning), then stopped (IdleTimeout, pod deleted, its
 * claim and spec untouched); activity in the warning window and a keep-alive postpone the stop;
 * removing the idle-stopped annotation brings the pod back, and the floor gives it a full timeout;
 * an IDE whose own report says busy (the class's probe, polled by the operator) is not stopped; and
 * with the real Jupyter Server and the chart's probe, a kernel running a 60 s cell keeps its
 * workspace up until the cell ends, while one without traffic stops on time.
 * Every wait is a watch on the object, never a sleep.
 */
import { before, test } from "node:test";
import assert from "node:assert/strict";
import * as k8s from "@kubernetes/client-node";
import { GROUP, VERSION, WORKSPACE, type Workspace, type WorkspaceClass } from "../../crds/types.ts";
import { eventually } from "../lib/kube.ts";
import { executeContent, shellRequest } from "../lib/jupyter-state.ts";
import { clusterSuite } from "../lib/suite.ts";
import {
  condition,
  createWorkspace,
  isReady,
  jupyterClass,
  kubectl,
  tinyClass,
  workspace,
} from "../lib/workspaces.ts";

const TIMEOUT_MS = 20_000;
const idle = (cls: WorkspaceClass): WorkspaceClass => ({
  ...cls,
  spec: { ...cls.spec, idleTimeout: "20s", idle: { warnBefore: "10s" } },
});

/** The stand-in IDE of e2e/fixtures/idle-probe.ts: Jupyter-like report, its kernel busy. */
const busyProbeClass = (name: string): WorkspaceClass => ({
  apiVersion: `${GROUP}/${VERSION}`,
  kind: "WorkspaceClass",
  metadata: { name },
  spec: {
    image: "portico.dev/test/idle-probe:1",
    port: 8080,
    storage: { size: "1Gi" },
    readinessPath: "/",
    env: [{ name: "BUSY", value: "1" }],
    idleTimeout: "20s",
    idle: {
      warnBefore: "10s",
      probe: {
        path: "{prefix}/api/status",
        lastActivityField: "last_activity",
        busy: { path: "{prefix}/api/kernels", field: "execution_state", value: "busy" },
        interval: "5s",
      },
    },
  },
});

/** The chart's Jupyter class (its probe), with a 30 s timeout and a poll every 5 s. */
const jupyterIdle = (name: string): WorkspaceClass => {
  const cls = jupyterClass(name);
  return {
    ...cls,
    spec: {
      ...cls.spec,
      idleTimeout: "30s",
      idle: { ...cls.spec.idle, warnBefore: "10s", probe: { ...cls.spec.idle!.probe!, interval: "5s" } },
    },
  };
};

const suite = clusterSuite("op-idle", {
  classes: { tiny: (n) => idle(tinyClass(n)), probe: busyProbeClass, jupyter: jupyterIdle },
});
const c = suite.c;

before(() => suite.ready());

/**
 * Resolves with the first state of `path`'s object named `name` (a list path) for which `pred`
 * holds: the current one, else the next the watch delivers (restarted from the last
 * resourceVersion when the server ends it). `seen` is told every state on the way.
 */
async function watchUntil<T extends k8s.KubernetesObject>(
  path: string,
  name: string,
  what: string,
  pred: (o: T) => boolean,
  seen: (o: T) => void = () => undefined,
  timeoutMs = 120_000,
): Promise<T> {
  const watch = new k8s.Watch(c.kc);
  let abort: AbortController | undefined;
  let settled = false;
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(
      () => finish(new Error(`timed out after ${timeoutMs} ms waiting for ${name}: ${what}`)),
      timeoutMs,
    );
    const finish = (r: T | Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      abort?.abort();
      if (r instanceof Error) reject(r);
      else resolve(r);
    };
    const check = (o: T) => {
      seen(o);
      if (pred(o)) finish(o);
    };
    const start = async (resourceVersion: string) => {
      if (settled) return;
      abort = await watch.watch(
        path,
        { fieldSelector: `metadata.name=${name}`, resourceVersion, allowWatchBookmarks: false },
        (type, obj: T) => {
          if (type === "ADDED" || type === "MODIFIED") {
            resourceVersion = obj.metadata?.resourceVersion ?? resourceVersion;
            check(obj);
          }
        },
        () => void (settled ? undefined : start(resourceVersion).catch(finish)),
      );
    };
    (async () => {
      // The list gives the current state and the resourceVersion to watch from.
      const res = await fetchList(path);
      const current = res.items.find((i) => i.metadata?.name === name) as T | undefined;
      if (current) check(current);
      await start(res.metadata?.resourceVersion ?? "0");
    })().catch(finish);
  });
}

type List = { items: k8s.KubernetesObject[]; metadata?: { resourceVersion?: string } };

/** The namespace's workspaces or events, as a list (the typed clients). */
async function fetchList(path: string): Promise<List> {
  if (path === wsPath())
    return (await c.custom.listNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      plural: WORKSPACE.plural,
      namespace: suite.ns,
    })) as List;
  const field = /fieldSelector=involvedObject\.name%3D(.+)$/.exec(path)?.[1];
  return (await c.core.listNamespacedEvent({
    namespace: suite.ns,
    ...(field ? { fieldSelector: `involvedObject.name=${field}` } : {}),
  })) as List;
}

const wsPath = () => `/apis/${GROUP}/${VERSION}/namespaces/${suite.ns}/${WORKSPACE.plural}`;
const eventsPath = () => `/api/v1/namespaces/${suite.ns}/events`;
const idleReason = (ws: Workspace) => condition(ws, "Idle")?.reason;
const untilWs = (
  name: string,
  what: string,
  pred: (w: Workspace) => boolean,
  seen?: (w: Workspace) => void,
) => watchUntil<Workspace & k8s.KubernetesObject>(wsPath(), name, what, pred, seen);

/** The workspace's Events with this reason: waits (on the events watch) for the first. */
async function eventOf(ws: string, reason: string): Promise<k8s.CoreV1Event> {
  const all = await fetchList(`${eventsPath()}?fieldSelector=involvedObject.name%3D${ws}`);
  const have = (all.items as k8s.CoreV1Event[]).find((e) => e.reason === reason);
  if (have) return have;
  // Event names are generated: watch the namespace's events for this workspace's.
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${reason} Event for ${ws}`)), 60_000);
    void new k8s.Watch(c.kc)
      .watch(
        eventsPath(),
        { fieldSelector: `involvedObject.name=${ws}`, resourceVersion: all.metadata?.resourceVersion ?? "0" },
        (_type, e: k8s.CoreV1Event) => {
          if (e.reason === reason) {
            clearTimeout(timer);
            resolve(e);
          }
        },
        () => undefined,
      )
      .then((a) => setTimeout(() => a.abort(), 60_000).unref());
  });
}

async function create(name: string, cls: string): Promise<Workspace> {
  await createWorkspace(c, workspace(suite.ns, name, { className: cls }));
  return untilWs(name, "Ready", isReady);
}

const annotate = (name: string, ...kv: string[]) =>
  kubectl("annotate", "--overwrite", "workspace", name, "-n", suite.ns, ...kv);
const ms = (t: string | undefined) => (t ? Date.parse(t) : NaN);

test("no activity: StoppingSoon with an IdleWarning Event, then IdleTimeout; pod deleted, claim and spec kept; a wake brings it back with a full timeout", async () => {
  const ready = await create("quiet", suite.cls.tiny);
  const pvcBefore = await c.core.readNamespacedPersistentVolumeClaim({
    name: ready.status!.children!.pvc!,
    namespace: suite.ns,
  });
  const podName = ready.status!.children!.pod!;
  assert.equal(idleReason(ready), "Active");
  assert.ok(ready.status?.stopsAt, "stopsAt while running");

  const warned = await untilWs("quiet", "Idle StoppingSoon", (w) => idleReason(w) === "StoppingSoon");
  assert.match(condition(warned, "Idle")!.message!, /stops at \d\d:\d\d UTC unless there is activity/);
  const warning = await eventOf("quiet", "IdleWarning");
  assert.match(warning.message ?? "", /unless there is activity/);

  const stopped = await untilWs("quiet", "idle-stopped and Stopped", (w) => w.status?.phase === "Stopped");
  assert.equal(idleReason(stopped), "IdleTimeout");
  assert.equal(condition(stopped, "Idle")?.status, "True");
  assert.match(
    condition(stopped, "Idle")!.message!,
    /^Stopped at \d\d:\d\d UTC after 20s without activity: .*Open its URL/,
  );
  assert.deepEqual(
    [condition(stopped, "Ready")?.status, condition(stopped, "Ready")?.reason],
    ["False", "Idle"],
  );
  assert.deepEqual(
    [condition(stopped, "Reconciling")?.status, condition(stopped, "Stalled")?.status],
    ["False", "False"],
  );
  assert.equal(stopped.status?.stopsAt, undefined);
  const stopAt = ms(stopped.metadata.annotations?.["portico.dev/idle-stopped"]);
  assert.ok(stopAt >= ms(warned.status?.stopsAt) - 1000, "not stopped before its stopsAt");
  assert.deepEqual(stopped.spec, ready.spec, "spec untouched");
  assert.equal(stopped.metadata.generation, ready.metadata.generation);
  await assert.rejects(c.core.readNamespacedPod({ name: podName, namespace: suite.ns }), /404|not found/i);
  const pvcAfter = await c.core.readNamespacedPersistentVolumeClaim({
    name: pvcBefore.metadata!.name!,
    namespace: suite.ns,
  });
  assert.equal(pvcAfter.metadata?.uid, pvcBefore.metadata?.uid, "the claim is the same");
  assert.match((await eventOf("quiet", "IdleStop")).message ?? "", /without activity/);

  // The wake: the annotation removed (and the wake's time, as the proxy's wake writes it).
  const woken = new Date().toISOString().replace(/\.\d+Z$/, "Z");
  const reasons: string[] = [];
  await annotate("quiet", "portico.dev/idle-stopped-", `portico.dev/woken=${woken}`);
  const back = await untilWs("quiet", "Ready again", isReady, (w) => reasons.push(idleReason(w) ?? ""));
  // Once the operator saw the wake (the first state that is not the stop's), never stopped again.
  const woke = reasons.findIndex((r) => r !== "IdleTimeout");
  assert.ok(woke >= 0 && !reasons.slice(woke).includes("IdleTimeout"), reasons.join(" → "));
  assert.equal(idleReason(back), "Active");
  const pod = await c.core.readNamespacedPod({ name: podName, namespace: suite.ns });
  const created = ms(pod.metadata?.creationTimestamp as unknown as string);
  assert.ok(created >= stopAt, "a new pod");
  // The floor: a full timeout from the new pod (and the wake), whatever the old activity said.
  assert.ok(
    ms(back.status?.stopsAt) >= Math.max(created, ms(woken)) + TIMEOUT_MS,
    `stopsAt ${back.status?.stopsAt}`,
  );
  assert.ok(ms(back.status?.stopsAt) > Date.now(), "not stopped again at once");
  assert.ok((await suite.op.metric("portico_workspace_stops_total", { reason: "idle" })) >= 1);
  assert.ok((await suite.op.metric("portico_workspace_wake_seconds_count")) >= 1);
  assert.ok(
    (await suite.op.metric("portico_operator_workspace_time_to_ready_seconds_count", { after: "wake" })) >= 1,
  );
});

test("activity in the warning window postpones the stop: stopsAt moves, the warning ends", async () => {
  await create("busy-user", suite.cls.tiny);
  const warned = await untilWs("busy-user", "Idle StoppingSoon", (w) => idleReason(w) === "StoppingSoon");
  const now = new Date().toISOString().replace(/\.\d+Z$/, "Z");
  await annotate("busy-user", `portico.dev/activity-proxy=${now}`);
  const moved = await untilWs("busy-user", "activity folded in", (w) => w.status?.activity?.proxy === now);
  assert.equal(moved.status?.lastActivity, now);
  assert.equal(ms(moved.status?.stopsAt), ms(now) + TIMEOUT_MS);
  assert.ok(ms(moved.status?.stopsAt) > ms(warned.status?.stopsAt), "later than the warned stop");
  assert.equal(moved.metadata.annotations?.["portico.dev/idle-stopped"], undefined);
  assert.match(condition(moved, "Idle")!.message!, /proxy \d\d:\d\d UTC/);
});

test("a keep-alive postpones the stop to its time; a workspace without one, started later, stops first", async () => {
  await create("kept", suite.cls.tiny);
  const until = new Date(Date.now() + 10 * 60_000).toISOString().replace(/\.\d+Z$/, "Z");
  await annotate("kept", `portico.dev/keep-alive-until=${until}`);
  const kept = await untilWs(
    "kept",
    "keep-alive folded in",
    (w) => w.status?.activity?.keepAliveUntil === until,
  );
  assert.equal(kept.status?.stopsAt, until);
  assert.equal(idleReason(kept), "Active");
  assert.match(condition(kept, "Idle")!.message!, /kept alive until/);
  // A control created after it stops by itself; by then "kept" is past its own timeout.
  await create("control", suite.cls.tiny);
  await untilWs("control", "idle-stopped", (w) => idleReason(w) === "IdleTimeout");
  const still = await untilWs("kept", "current state", () => true);
  assert.equal(still.metadata.annotations?.["portico.dev/idle-stopped"], undefined);
  assert.equal(still.status?.phase, "Running");
});

test("an IDE whose own report says busy is not stopped (the class's probe, polled by the operator)", async () => {
  const probed = await create("kernel", suite.cls.probe);
  // The report's last_activity is the process's start; busy makes each poll activity.
  await untilWs("kernel", "the IDE's activity in status", (w) => !!w.status?.activity?.ide);
  // A control without a probe, created after it, stops by itself; "kernel" would have stopped first.
  await create("no-probe", suite.cls.tiny);
  await untilWs("no-probe", "idle-stopped", (w) => idleReason(w) === "IdleTimeout");
  const still = await untilWs("kernel", "current state", () => true);
  assert.equal(still.status?.phase, "Running");
  assert.equal(still.metadata.annotations?.["portico.dev/idle-stopped"], undefined);
  assert.ok(
    ms(still.status?.activity?.ide) >
      ms(probed.status?.conditions?.find((x) => x.type === "Ready")?.lastTransitionTime),
    `the IDE's activity moved on: ${still.status?.activity?.ide}`,
  );
  assert.equal(await suite.op.metric("portico_operator_idle_probe_failures_total"), 0);
});

/**
 * Starts a kernel on the real Jupyter Server at `ip` and runs `code` in it; resolves once the kernel
 * says it is busy (its iopub status message), with the client's WebSocket closed: no traffic is left.
 */
async function runCell(ip: string, code: string): Promise<number> {
  const res = await fetch(`http://${ip}:8888/api/kernels`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: "{}",
  });
  assert.equal(res.status, 201, await res.clone().text());
  const { id } = (await res.json()) as { id: string };
  const ws = new WebSocket(`ws://${ip}:8888/api/kernels/${id}/channels`);
  await new Promise((resolve, reject) => {
    ws.addEventListener("open", resolve);
    ws.addEventListener("error", reject);
  });
  // Jupyter learns a kernel's state from the kernel's broadcasts, on a subscription of its own that
  // goes live some time after the kernel started; a cell begun before that is never seen busy (seen on
  // a loaded machine: the probe read "idle" through the whole cell). So ask the kernel for its info
  // (each answer is broadcast busy → idle) until the server's state moves past "starting".
  // (A user takes longer than that between opening a notebook and running a cell.)
  await eventually(
    "Jupyter hears the new kernel",
    async () => {
      ws.send(JSON.stringify(shellRequest("kernel_info_request", {})));
      const k = await fetch(`http://${ip}:8888/api/kernels/${id}?no_track_activity=1`);
      const state = ((await k.json()) as { execution_state?: string }).execution_state;
      return state && state !== "starting" ? state : undefined;
    },
    60_000,
    1_000,
  );
  const msgId = `cell-${Date.now()}`;
  // Busy with this cell: the status message whose parent is our request (the server's own
  // kernel_info request on connect makes the kernel busy for a moment too).
  const busy = new Promise<number>((resolve) =>
    ws.addEventListener("message", (m) => {
      const msg = JSON.parse(String(m.data)) as {
        msg_type?: string;
        parent_header?: { msg_id?: string };
        content?: { execution_state?: string };
      };
      if (
        msg.msg_type === "status" &&
        msg.parent_header?.msg_id === msgId &&
        msg.content?.execution_state === "busy"
      )
        resolve(Date.now());
    }),
  );
  ws.send(
    JSON.stringify(
      shellRequest(
        "execute_request",
        { ...executeContent(code), store_history: true, stop_on_error: true },
        { msgId },
      ),
    ),
  );
  const at = await busy;
  ws.close();
  return at;
}

test("real Jupyter: one without traffic stops on time; one whose kernel runs a 60 s cell stops only after it", async () => {
  await createWorkspace(c, workspace(suite.ns, "nb-quiet", { className: suite.cls.jupyter }));
  const nb = await create("nb-cell", suite.cls.jupyter);
  const pod = await c.core.readNamespacedPod({ name: nb.status!.children!.pod!, namespace: suite.ns });
  const cellStarted = await runCell(pod.status!.podIP!, "import time; time.sleep(60)");

  const quiet = await untilWs("nb-quiet", "idle-stopped", (w) => idleReason(w) === "IdleTimeout");
  assert.match(condition(quiet, "Idle")!.message!, /after 30s without activity/);
  const stillRunning = await untilWs("nb-cell", "current state", () => true);
  assert.equal(stillRunning.status?.phase, "Running", "the busy kernel kept it running");
  assert.ok(stillRunning.status?.activity?.ide, "the IDE's activity is in status");

  // Once the cell ends, nothing is active any more: it stops, and not before the cell's end.
  const stopped = await untilWs("nb-cell", "idle-stopped", (w) => idleReason(w) === "IdleTimeout");
  const stopAt = ms(stopped.metadata.annotations?.["portico.dev/idle-stopped"]);
  assert.ok(
    stopAt >= cellStarted + 60_000,
    `stopped at ${new Date(stopAt).toISOString()}, the cell ran until about ${new Date(cellStarted + 60_000).toISOString()}`,
  );
  assert.match(condition(stopped, "Idle")!.message!, /ide \d\d:\d\d UTC/);
});
