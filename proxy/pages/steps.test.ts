import { test } from "node:test";
import assert from "node:assert/strict";
import { stepsOf, type StepCondition, type StepInput } from "./steps.ts";

const T0 = "2026-12-05T10:00:00Z";
const T1 = "2026-12-05T10:00:04Z";
const T2 = "2026-12-05T10:00:20Z";
const T3 = "2026-12-05T10:00:21Z";
const OLD = "2026-12-01T08:00:00Z";

const c = (type: string, status: string, reason: string, message = "", since = T0): StepCondition => ({
  type,
  status,
  reason,
  message,
  since,
});

/** A workspace starting since T0 with `storage` and `pod` as given. */
function starting(storage: StepCondition, pod: StepCondition, extra: Partial<StepInput> = {}): StepInput {
  return {
    phase: "Starting",
    routable: false,
    repository: true,
    conditions: [
      c("Ready", "False", pod.reason, pod.message),
      c("Reconciling", "True", pod.reason, pod.message, T0),
      c("Stalled", "False", "Progressing"),
      storage,
      pod,
      c("Routed", "True", "Routed"),
    ],
    ...extra,
  };
}

const states = (s: StepInput) => stepsOf(s).map((x) => `${x.key}:${x.state}`);

test("a new workspace: storage is active from Reconciling's transition, the rest pending", () => {
  const s = starting(
    c("StorageReady", "False", "PVCPending", "waiting for a volume", T0),
    c("PodReady", "False", "Starting", "Creating the pod once its storage is ready."),
  );
  assert.deepEqual(states(s), ["storage:active", "clone:pending", "pod:pending", "ready:pending"]);
  const [storage] = stepsOf(s);
  assert.equal(storage!.startedAt, T0);
  assert.equal(storage!.endedAt, undefined);
  assert.equal(storage!.detail, "waiting for a volume");
});

test("the clone is active while PodReady says the pod is scheduled or cloning", () => {
  for (const message of ["Cloning the repository.", "Waiting for the pod to be scheduled."]) {
    const s = starting(
      c("StorageReady", "True", "Bound", "", T1),
      c("PodReady", "False", "Starting", message),
    );
    assert.deepEqual(states(s), ["storage:done", "clone:active", "pod:pending", "ready:pending"]);
    const [storage, clone] = stepsOf(s);
    assert.deepEqual([storage!.startedAt, storage!.endedAt], [T0, T1], "storage took T0..T1");
    assert.equal(clone!.startedAt, T1, "the clone starts when the storage is done");
    assert.equal(clone!.detail, message);
  }
});

test("once the IDE starts the clone is done (its end is not in the status) and the pod active", () => {
  const s = starting(
    c("StorageReady", "True", "Bound", "", T1),
    c("PodReady", "False", "Starting", "Starting the IDE; waiting for it to answer at /."),
  );
  assert.deepEqual(states(s), ["storage:done", "clone:done", "pod:active", "ready:pending"]);
  const [, clone, pod] = stepsOf(s);
  assert.equal(clone!.endedAt, undefined);
  assert.equal(pod!.startedAt, undefined, "nothing in the status says when the clone ended");
  assert.match(pod!.detail, /waiting for it to answer/);
});

test("without a repository the clone is skipped and the pod starts when the storage is done", () => {
  const s = starting(
    c("StorageReady", "True", "Bound", "", T1),
    c("PodReady", "False", "Starting", "Starting the IDE; waiting for it to answer at /."),
    { repository: false },
  );
  assert.deepEqual(states(s), ["storage:done", "clone:skipped", "pod:active", "ready:pending"]);
  assert.equal(stepsOf(s)[2]!.startedAt, T1);
});

test("a volume kept from the last run is done at the start, taking no time", () => {
  const s = starting(
    c("StorageReady", "True", "Bound", "", OLD),
    c("PodReady", "False", "Starting", "Cloning the repository."),
  );
  const [storage] = stepsOf(s);
  assert.equal(storage!.state, "done");
  assert.deepEqual([storage!.startedAt, storage!.endedAt], [T0, T0]);
});

test("PodReady True ends the pod step; ready is active until the proxy can route, then done", () => {
  const pod = c("PodReady", "True", "Ready", "", T2);
  const s = starting(c("StorageReady", "True", "Bound", "", T1), pod);
  assert.deepEqual(states(s), ["storage:done", "clone:done", "pod:done", "ready:active"]);
  assert.equal(stepsOf(s)[2]!.endedAt, T2);
  const running: StepInput = {
    phase: "Running",
    routable: true,
    repository: true,
    conditions: [
      c("Ready", "True", "Ready", "", T3),
      c("Reconciling", "False", "Ready", "", T3),
      c("StorageReady", "True", "Bound", "", T1),
      pod,
    ],
  };
  assert.deepEqual(states(running), ["storage:done", "clone:done", "pod:done", "ready:done"]);
  assert.deepEqual([stepsOf(running)[3]!.startedAt, stepsOf(running)[3]!.endedAt], [T2, T3]);
});

test("a failed clone fails the clone step with the operator's message", () => {
  const failed = c(
    "PodReady",
    "False",
    "InitContainerFailed",
    "Cloning http://git/x.git failed (exit code 128)",
  );
  const s: StepInput = {
    ...starting(c("StorageReady", "True", "Bound", "", T1), failed),
    phase: "Failed",
  };
  assert.deepEqual(states(s), ["storage:done", "clone:failed", "pod:pending", "ready:pending"]);
  assert.match(stepsOf(s)[1]!.detail, /exit code 128/);
});

test("an image that cannot be pulled, or an IDE that keeps exiting, fails the pod step", () => {
  for (const [reason, phase] of [
    ["ImagePullBackOff", "Failed"],
    ["CrashLoopBackOff", "Starting"],
  ] as const) {
    const pod = c("PodReady", "False", reason, `${reason}: details`);
    const base = starting(c("StorageReady", "True", "Bound", "", T1), pod, { repository: false, phase });
    const s: StepInput = {
      ...base,
      conditions: base.conditions.map((x) => (x.type === "Stalled" ? c("Stalled", "True", reason) : x)),
    };
    assert.deepEqual(states(s), ["storage:done", "clone:skipped", "pod:failed", "ready:pending"], reason);
  }
});

test("a lost volume fails the storage step", () => {
  const s = starting(
    c("StorageReady", "False", "PVCLost", "its volume is gone"),
    c("PodReady", "False", "Starting", "Creating the pod once its storage is ready."),
  );
  assert.deepEqual(states(s), ["storage:failed", "clone:pending", "pod:pending", "ready:pending"]);
});

test("a stopped workspace has every step pending (the clone skipped without a repository)", () => {
  const s: StepInput = {
    phase: "Stopped",
    routable: false,
    repository: false,
    conditions: [c("StorageReady", "True", "Bound"), c("PodReady", "False", "Stopped")],
  };
  assert.deepEqual(states(s), ["storage:pending", "clone:skipped", "pod:pending", "ready:pending"]);
});
