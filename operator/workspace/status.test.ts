import assert from "node:assert/strict";
import { test } from "node:test";
import type {
  V1ContainerStatus,
  V1PersistentVolumeClaim,
  V1Pod,
  V1PodCondition,
} from "@kubernetes/client-node";
import type { Condition, Workspace, WorkspaceStatus } from "../../crds/types.ts";
import { buildChildren } from "./build.ts";
import { testClass, testConfig, testWorkspace } from "./fixtures.ts";
import { computeStatus, rfc3339, statusEqual, type ObservedWorkspace } from "./status.ts";

const config = testConfig();
const cls = testClass();
const T0 = new Date("2026-03-01T10:00:00.000Z");
const T1 = new Date("2026-03-01T10:05:00.250Z");

function pvc(phase: string | undefined, storageClassName?: string): V1PersistentVolumeClaim {
  const built = buildChildren(testWorkspace(), cls, config, { virtualService: false }).pvc;
  return {
    ...built,
    spec: { ...built.spec, ...(storageClassName ? { storageClassName } : {}) },
    ...(phase ? { status: { phase } } : {}),
  };
}

function pod(
  opts: {
    ready?: boolean;
    conditions?: V1PodCondition[];
    init?: V1ContainerStatus[];
    main?: V1ContainerStatus[];
    phase?: string;
  } = {},
): V1Pod {
  const built = buildChildren(testWorkspace(), cls, config, { virtualService: false }).pod;
  return {
    ...built,
    status: {
      phase: opts.phase ?? "Running",
      conditions: opts.conditions ?? [
        { type: "PodScheduled", status: "True" },
        { type: "Ready", status: opts.ready ? "True" : "False" },
      ],
      ...(opts.init ? { initContainerStatuses: opts.init } : {}),
      ...(opts.main ? { containerStatuses: opts.main } : {}),
    },
  };
}

const cs = (
  name: string,
  state: V1ContainerStatus["state"],
  lastState?: V1ContainerStatus["lastState"],
): V1ContainerStatus => ({
  name,
  image: name === "git-clone" ? "docker.io/alpine/git:2.47.2" : "quay.io/jupyter/minimal-notebook:2025-10-20",
  imageID: "",
  ready: false,
  restartCount: 1,
  state,
  ...(lastState ? { lastState } : {}),
});

/** Everything in place and ready; each case changes a few fields. */
function observed(over: Partial<ObservedWorkspace> = {}, ws: Workspace = testWorkspace()): ObservedWorkspace {
  const children = buildChildren(ws, cls, config, { virtualService: true });
  return {
    ws,
    cls,
    pvc: pvc("Bound"),
    pod: pod({ ready: true }),
    service: children.service,
    virtualServiceWanted: false,
    networkPolicy: children.networkPolicy,
    config,
    ...over,
  };
}

const cond = (s: WorkspaceStatus, type: string): Condition => s.conditions!.find((c) => c.type === type)!;

interface Case {
  name: string;
  o: ObservedWorkspace;
  phase: string;
  /** Expected status/reason per condition; `Ready` is checked against the failing one too. */
  storage?: string;
  podReady: string;
  routed?: string;
  ready: string;
  message?: RegExp;
  /** kstatus's pair: Reconciling True, Stalled True, or neither. */
  progress: "Reconciling" | "Stalled" | "neither";
}

const stopped = testWorkspace({ running: false });
const cases: Case[] = [
  {
    name: "all ready",
    o: observed(),
    phase: "Running",
    storage: "Bound",
    podReady: "Ready",
    routed: "Routed",
    ready: "Ready",
    progress: "neither",
  },
  {
    name: "stopping: running false, pod still there",
    o: observed({}, stopped),
    phase: "Stopping",
    podReady: "Stopped",
    ready: "Stopped",
    progress: "Reconciling",
    message: /stopping/,
  },
  {
    name: "stopped: running false, no pod",
    o: observed({ pod: undefined }, stopped),
    phase: "Stopped",
    storage: "Bound",
    podReady: "Stopped",
    ready: "Stopped",
    progress: "neither",
    message: /spec\.running to true/,
  },
  {
    name: "class not found wins over missing children",
    o: observed({ cls: undefined, pvc: undefined, pod: undefined, service: undefined }),
    phase: "Failed",
    storage: "NotCreated",
    podReady: "ClassNotFound",
    routed: "ServiceNotCreated",
    ready: "ClassNotFound",
    progress: "Stalled",
    message: /WorkspaceClass "jupyterlab" does not exist/,
  },
  {
    name: "secret not found",
    o: observed({ missingSecret: "alice-git", pod: undefined }),
    phase: "Failed",
    podReady: "SecretNotFound",
    ready: "SecretNotFound",
    progress: "Stalled",
    message: /Secret "alice-git".*spec\.repository\.secretRef/,
  },
  {
    name: "unschedulable",
    o: observed({
      pod: pod({
        phase: "Pending",
        conditions: [
          {
            type: "PodScheduled",
            status: "False",
            reason: "Unschedulable",
            message: "0/3 nodes are available: 3 Insufficient memory.",
          },
        ],
      }),
    }),
    phase: "Starting",
    podReady: "Unschedulable",
    ready: "Unschedulable",
    progress: "Reconciling",
    message: /Insufficient memory/,
  },
  ...(["ImagePullBackOff", "ErrImagePull", "InvalidImageName"] as const).map((reason): Case => ({
    name: `IDE image: ${reason}`,
    o: observed({
      pod: pod({ main: [cs("ide", { waiting: { reason, message: `${reason} for the image` } })] }),
    }),
    phase: "Failed",
    podReady: reason,
    ready: reason,
    progress: "Stalled",
    message: new RegExp(`ide cannot pull image .*${reason} for the image`),
  })),
  {
    name: "git image cannot be pulled",
    o: observed({
      pod: pod({
        phase: "Pending",
        init: [cs("git-clone", { waiting: { reason: "ErrImagePull", message: "not found" } })],
      }),
    }),
    phase: "Failed",
    podReady: "ErrImagePull",
    ready: "ErrImagePull",
    progress: "Stalled",
    message: /git-clone cannot pull image "docker\.io\/alpine\/git/,
  },
  {
    name: "create container config error",
    o: observed({
      pod: pod({
        main: [
          cs("ide", { waiting: { reason: "CreateContainerConfigError", message: 'secret "x" not found' } }),
        ],
      }),
    }),
    phase: "Starting",
    podReady: "CreateContainerConfigError",
    ready: "CreateContainerConfigError",
    progress: "Stalled",
    message: /secret "x" not found/,
  },
  {
    name: "crash loop",
    o: observed({
      pod: pod({
        main: [
          cs(
            "ide",
            { waiting: { reason: "CrashLoopBackOff", message: "back-off 40s" } },
            { terminated: { exitCode: 2, reason: "Error", message: "jupyter: unknown option\n" } },
          ),
        ],
      }),
    }),
    phase: "Starting",
    podReady: "CrashLoopBackOff",
    ready: "CrashLoopBackOff",
    progress: "Stalled",
    message: /exit code 2\): jupyter: unknown option$/,
  },
  {
    name: "git clone failed (terminated)",
    o: observed({
      pod: pod({
        phase: "Pending",
        init: [
          cs("git-clone", {
            terminated: { exitCode: 128, reason: "Error", message: "fatal: repository not found\n" },
          }),
        ],
      }),
    }),
    phase: "Failed",
    podReady: "InitContainerFailed",
    ready: "InitContainerFailed",
    progress: "Stalled",
    message: /exit code 128\): fatal: repository not found/,
  },
  {
    name: "git clone failed (backing off)",
    o: observed({
      pod: pod({
        phase: "Pending",
        init: [
          cs(
            "git-clone",
            { waiting: { reason: "CrashLoopBackOff" } },
            { terminated: { exitCode: 128, reason: "Error", message: "fatal: Authentication failed" } },
          ),
        ],
      }),
    }),
    phase: "Failed",
    podReady: "InitContainerFailed",
    ready: "InitContainerFailed",
    progress: "Stalled",
    message: /Authentication failed/,
  },
  {
    name: "rolling, old pod still there",
    o: observed({ rolling: true }),
    phase: "Starting",
    podReady: "Rolling",
    ready: "Rolling",
    progress: "Reconciling",
    message: /replacing the pod to apply a WorkspaceClass or spec change/i,
  },
  {
    name: "rolling, old pod gone",
    o: observed({ rolling: true, pod: undefined }),
    phase: "Pending",
    podReady: "Rolling",
    ready: "Rolling",
    progress: "Reconciling",
  },
  {
    name: "starting: cloning",
    o: observed({ pod: pod({ phase: "Pending", init: [cs("git-clone", { running: {} })] }) }),
    phase: "Starting",
    podReady: "Starting",
    ready: "Starting",
    progress: "Reconciling",
    message: /Cloning the repository/,
  },
  {
    name: "starting, a repository to clone, before the node reports the init containers: cloning (never 'IDE' then 'cloning')",
    o: observed(
      { pod: pod({ phase: "Pending" }) },
      testWorkspace({ repository: { url: "https://git.example.com/team/analysis.git" } }),
    ),
    phase: "Starting",
    podReady: "Starting",
    ready: "Starting",
    progress: "Reconciling",
    message: /Cloning the repository/,
  },
  {
    name: "starting, cloned (both git init containers done), IDE not running yet",
    o: observed(
      {
        pod: pod({
          phase: "Pending",
          init: [
            cs("git-clone", { terminated: { exitCode: 0 } }),
            cs("git-checkout", { terminated: { exitCode: 0 } }),
          ],
        }),
      },
      testWorkspace({ repository: { url: "https://git.example.com/team/analysis.git" } }),
    ),
    phase: "Starting",
    podReady: "Starting",
    ready: "Starting",
    progress: "Reconciling",
    message: /answer at \/api/,
  },
  {
    name: "starting, a repository, the IDE already running (init statuses not in the cache)",
    o: observed(
      { pod: pod({ main: [cs("ide", { running: {} })] }) },
      testWorkspace({ repository: { url: "https://git.example.com/team/analysis.git" } }),
    ),
    phase: "Starting",
    podReady: "Starting",
    ready: "Starting",
    progress: "Reconciling",
    message: /answer at \/api/,
  },
  {
    name: "starting: IDE not answering yet",
    o: observed({ pod: pod({ main: [cs("ide", { running: {} })] }) }),
    phase: "Starting",
    podReady: "Starting",
    ready: "Starting",
    progress: "Reconciling",
    message: /answer at \/api/,
  },
  {
    name: "no pod yet",
    o: observed({ pod: undefined }),
    phase: "Pending",
    podReady: "Starting",
    ready: "Starting",
    progress: "Reconciling",
  },
  {
    name: "claim pending (storage named)",
    o: observed({ pvc: pvc("Pending", "fast-ssd"), pod: undefined }),
    phase: "Pending",
    storage: "PVCPending",
    podReady: "Starting",
    ready: "PVCPending",
    progress: "Reconciling",
    message: /ws-alice-notebook-home .*storage class "fast-ssd"/,
  },
  {
    name: "claim pending, cluster default class, pod waiting on it",
    o: observed({
      pvc: pvc(undefined),
      pod: pod({
        phase: "Pending",
        conditions: [
          {
            type: "PodScheduled",
            status: "False",
            reason: "Unschedulable",
            message: "unbound immediate PersistentVolumeClaims",
          },
        ],
      }),
    }),
    phase: "Pending",
    storage: "PVCPending",
    // The scheduler retries by itself once the claim binds: a step, not a problem.
    podReady: "Starting",
    ready: "PVCPending",
    progress: "Reconciling",
    message: /default storage class/,
  },
  {
    name: "claim lost: its volume is gone",
    o: observed({ pvc: pvc("Lost"), pod: undefined }),
    phase: "Pending",
    storage: "PVCLost",
    podReady: "Starting",
    ready: "PVCLost",
    progress: "Stalled",
    message: /administrator has to restore/,
  },
  {
    name: "pod failed",
    o: observed({ pod: { ...pod(), status: { phase: "Failed", message: "The node was low on memory." } } }),
    phase: "Starting",
    podReady: "PodFailed",
    ready: "PodFailed",
    progress: "Stalled",
    message: /low on memory/,
  },
  {
    name: "claim not created",
    o: observed({ pvc: undefined, pod: undefined }),
    phase: "Pending",
    storage: "NotCreated",
    podReady: "Starting",
    ready: "NotCreated",
    progress: "Reconciling",
    message: /ws-alice-notebook-home has not been created/,
  },
  {
    name: "service missing",
    o: observed({ service: undefined }),
    phase: "Starting",
    podReady: "Ready",
    routed: "ServiceNotCreated",
    ready: "ServiceNotCreated",
    progress: "Reconciling",
  },
  {
    name: "virtual service wanted, missing",
    o: observed({ virtualServiceWanted: true }),
    phase: "Starting",
    routed: "VirtualServiceNotCreated",
    podReady: "Ready",
    ready: "VirtualServiceNotCreated",
    progress: "Reconciling",
  },
  {
    name: "virtual service wanted, present",
    o: observed({ virtualServiceWanted: true, virtualService: { metadata: { name: "ws-alice-notebook" } } }),
    phase: "Running",
    routed: "Routed",
    podReady: "Ready",
    ready: "Ready",
    progress: "neither",
  },
];

test("status table: phase, reasons and the message users see", () => {
  for (const c of cases) {
    const s = computeStatus(c.o, T0);
    assert.equal(s.phase, c.phase, `${c.name}: phase`);
    assert.equal(cond(s, "PodReady").reason, c.podReady, `${c.name}: PodReady`);
    if (c.storage) assert.equal(cond(s, "StorageReady").reason, c.storage, `${c.name}: StorageReady`);
    if (c.routed) assert.equal(cond(s, "Routed").reason, c.routed, `${c.name}: Routed`);
    const ready = cond(s, "Ready");
    assert.equal(ready.reason, c.ready, `${c.name}: Ready`);
    assert.equal(ready.status, c.ready === "Ready" ? "True" : "False", `${c.name}: Ready status`);
    // Ready's message is the failing condition's message, and the status message repeats it.
    if (c.ready !== "Ready") {
      const source = s.conditions!.find(
        (x) => !["Ready", "Reconciling", "Stalled"].includes(x.type) && x.reason === c.ready,
      )!;
      assert.equal(ready.message, source.message, `${c.name}: Ready message`);
      assert.equal(s.message, ready.message, `${c.name}: message`);
      assert.notEqual(s.message, "", `${c.name}: message`);
    } else {
      assert.equal(s.message, "", `${c.name}: message empty when Running`);
    }
    if (c.message) assert.match(s.message!, c.message, `${c.name}: message text`);
    for (const x of s.conditions!) {
      assert.equal(x.observedGeneration, 3, `${c.name}: ${x.type} observedGeneration`);
      assert.ok(["True", "False"].includes(x.status));
      assert.match(
        x.reason,
        /^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/,
        `${c.name}: ${x.type} reason is CamelCase`,
      );
    }
  }
});

test("Reconciling and Stalled: kstatus's pair for every phase, at most one True", () => {
  const seen = new Map<string, Set<string>>();
  for (const c of cases) {
    const s = computeStatus(c.o, T0);
    const reconciling = cond(s, "Reconciling");
    const stalled = cond(s, "Stalled");
    const ready = cond(s, "Ready");
    const got =
      reconciling.status === "True" ? "Reconciling" : stalled.status === "True" ? "Stalled" : "neither";
    assert.equal(got, c.progress, `${c.name}: Reconciling ${reconciling.status}, Stalled ${stalled.status}`);
    assert.ok(!(reconciling.status === "True" && stalled.status === "True"), `${c.name}: never both True`);
    if (got === "Stalled") {
      // Stalled says what to fix in Ready's words; Reconciling points there.
      assert.equal(stalled.reason, ready.reason, `${c.name}: Stalled reason`);
      assert.equal(stalled.message, ready.message, `${c.name}: Stalled message`);
      assert.equal(reconciling.reason, "Stalled", `${c.name}: Reconciling reason`);
    }
    if (got === "Reconciling") {
      assert.equal(
        reconciling.reason,
        s.phase === "Stopping" ? "Stopping" : ready.reason,
        `${c.name}: Reconciling reason`,
      );
      assert.equal(reconciling.message, ready.message, `${c.name}: Reconciling message`);
      assert.equal(stalled.reason, "Progressing", `${c.name}: Stalled reason`);
    }
    for (const x of [reconciling, stalled]) assert.ok(x.message !== "", `${c.name}: ${x.type} message`);
    seen.set(s.phase!, (seen.get(s.phase!) ?? new Set()).add(got));
  }
  // The phase → pair table docs/gitops.md gives (Starting splits: a pod failing in place is stalled).
  assert.deepEqual(Object.fromEntries([...seen].map(([phase, pairs]) => [phase, [...pairs].sort()])), {
    Running: ["neither"],
    Stopped: ["neither"],
    Stopping: ["Reconciling"],
    Pending: ["Reconciling", "Stalled"],
    Starting: ["Reconciling", "Stalled"],
    Failed: ["Stalled"],
  });
});

/**
 * How kstatus (sigs.k8s.io/cli-utils v0.37.2 `status.Compute`) reads a custom resource, in its order:
 * observedGeneration behind → InProgress; Reconciling True → InProgress; Stalled True → Failed; then
 * the Ready condition (True → Current, otherwise InProgress); no conditions → Current. A model for
 * this table only: e2e/tests/gitops.test.ts runs the real library against the real operator.
 */
function kstatusModel(generation: number, s: WorkspaceStatus): string {
  if (s.observedGeneration !== undefined && s.observedGeneration !== generation) return "InProgress";
  for (const c of s.conditions ?? []) {
    if (c.type === "Reconciling" && c.status === "True") return "InProgress";
    if (c.type === "Stalled" && c.status === "True") return "Failed";
  }
  const ready = s.conditions?.find((c) => c.type === "Ready");
  if (ready) return ready.status === "True" ? "Current" : "InProgress";
  return "Current";
}

test("what kstatus makes of each phase (model of cli-utils' order)", () => {
  const read = (c: Case) => kstatusModel(3, computeStatus(c.o, T0));
  const byName = (name: string) => cases.find((c) => c.name === name)!;
  assert.equal(read(byName("all ready")), "Current");
  assert.equal(read(byName("no pod yet")), "InProgress");
  assert.equal(read(byName("starting: IDE not answering yet")), "InProgress");
  assert.equal(read(byName("rolling, old pod still there")), "InProgress");
  assert.equal(read(byName("stopping: running false, pod still there")), "InProgress");
  assert.equal(read(byName("class not found wins over missing children")), "Failed");
  assert.equal(read(byName("crash loop")), "Failed");
  // Stopped: neither Reconciling nor Stalled, but Ready is False and kstatus falls back to it.
  assert.equal(read(byName("stopped: running false, no pod")), "InProgress");
  // A spec change the operator has not seen yet: InProgress whatever the conditions say.
  assert.equal(kstatusModel(4, computeStatus(observed(), T0)), "InProgress");
});

test("status fields: url, className, children, observedGeneration, lastActivity", () => {
  const ws = testWorkspace({ className: undefined, ide: "jupyterlab" }, { generation: 7 });
  ws.metadata.annotations = {
    ...ws.metadata.annotations,
    "portico.dev/activity-proxy": "2026-03-01T09:00:00Z",
  };
  const s = computeStatus(
    observed({ virtualServiceWanted: true, virtualService: { metadata: { name: "ws-alice-notebook" } } }, ws),
    T0,
  );
  assert.equal(s.observedGeneration, 7);
  assert.equal(s.className, "jupyterlab");
  assert.equal(s.url, "http://alice-notebook--team-a.portico.test/");
  assert.equal(s.lastActivity, "2026-03-01T09:00:00Z");
  assert.deepEqual(s.children, {
    pvc: "ws-alice-notebook-home",
    pod: "ws-alice-notebook",
    service: "ws-alice-notebook",
    virtualService: "ws-alice-notebook",
    networkPolicy: "ws-alice-notebook",
  });
  const pathMode = computeStatus({ ...observed(), config: testConfig({ routing: "path" }) }, T0);
  assert.equal(pathMode.url, "http://portico.test/w/team-a/alice-notebook/");
  // No class: not routable, no URL; stopped: no pod in children.
  assert.equal(computeStatus(observed({ cls: undefined }), T0).url, undefined);
  assert.equal(
    computeStatus(observed({ pod: undefined }, testWorkspace({ running: false })), T0).children!.pod,
    undefined,
  );
});

test("lastTransitionTime: kept while a condition's status holds, now when it flips", () => {
  const ws = testWorkspace();
  const first = computeStatus(observed({ pod: undefined }, ws), T0);
  for (const c of first.conditions!) assert.equal(c.lastTransitionTime, "2026-03-01T10:00:00Z");
  ws.status = first;

  // Still not ready, but for another reason: the time stays.
  const second = computeStatus(observed({ pod: pod({ ready: false }) }, ws), T1);
  assert.equal(cond(second, "Ready").reason, "Starting");
  assert.equal(cond(second, "Ready").lastTransitionTime, "2026-03-01T10:00:00Z");
  assert.equal(cond(second, "StorageReady").lastTransitionTime, "2026-03-01T10:00:00Z");
  ws.status = second;

  // Ready flips to True: its time (and PodReady's) is now, without fractional seconds.
  const third = computeStatus(observed({}, ws), T1);
  assert.equal(cond(third, "Ready").status, "True");
  assert.equal(cond(third, "Ready").lastTransitionTime, "2026-03-01T10:05:00Z");
  assert.equal(cond(third, "PodReady").lastTransitionTime, "2026-03-01T10:05:00Z");
  assert.equal(cond(third, "StorageReady").lastTransitionTime, "2026-03-01T10:00:00Z");
  assert.equal(rfc3339(T1), "2026-03-01T10:05:00Z");
});

test("steady state: recomputing from what was written changes nothing, so nothing is written", () => {
  const ws = testWorkspace();
  const written = computeStatus(observed({}, ws), T0);
  // What the API server hands back: plain JSON, conditions possibly in another order.
  ws.status = JSON.parse(
    JSON.stringify({ ...written, conditions: [...written.conditions!].reverse() }),
  ) as WorkspaceStatus;
  for (const later of [T1, new Date("2027-01-01T00:00:00Z")]) {
    assert.ok(statusEqual(computeStatus(observed({}, ws), later), ws.status), "no write in steady state");
  }
});

test("statusEqual: order-insensitive for conditions, sensitive to everything else", () => {
  const a = computeStatus(observed(), T0);
  const reordered: WorkspaceStatus = { ...a, conditions: [...a.conditions!].reverse() };
  assert.ok(statusEqual(a, reordered));
  assert.ok(statusEqual(a, JSON.parse(JSON.stringify(a)) as WorkspaceStatus));
  assert.ok(statusEqual(undefined, {}));
  const changes: [string, WorkspaceStatus][] = [
    ["phase", { ...a, phase: "Starting" }],
    ["message", { ...a, message: "x" }],
    ["url", { ...a, url: "http://other/" }],
    ["children", { ...a, children: {} }],
    ["observedGeneration", { ...a, observedGeneration: 4 }],
    [
      "a condition's message",
      {
        ...a,
        conditions: a.conditions!.map((c) => (c.type === "Routed" ? { ...c, message: "changed" } : c)),
      },
    ],
    [
      "a condition's time",
      {
        ...a,
        conditions: a.conditions!.map((c) =>
          c.type === "Ready" ? { ...c, lastTransitionTime: "2020-01-01T00:00:00Z" } : c,
        ),
      },
    ],
    ["a missing condition", { ...a, conditions: a.conditions!.slice(1) }],
    ["lastActivity", { ...a, lastActivity: "2026-03-01T09:00:00Z" }],
  ];
  for (const [what, b] of changes) assert.equal(statusEqual(a, b), false, what);
  assert.equal(statusEqual(a, undefined), false);
});
