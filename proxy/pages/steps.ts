/**
 * The steps a starting workspace goes through, as the waiting page (and any other client of the
 * status stream) shows them: storage, clone, pod, ready — each pending, active, done, failed or
 * skipped, with when it started and ended where the workspace's status says so.
 *
 * Pure, and stateless across proxy replicas: everything comes from the status the operator wrote
 * (operator/workspace/status.ts), so every replica says the same thing for the same status.
 *
 * - The start of the whole start is Reconciling's transition to True: the operator began moving
 *   toward the spec (a new workspace, or `spec.running` set back to true on a stopped one; Ready
 *   stays False across that change, Reconciling does not).
 * - storage: StorageReady. A volume bound before the start (kept from the last run) is done at once.
 * - clone: only with a repository. PodReady's reason is `Starting` throughout pod creation,
 *   scheduling, the clone and the IDE's start; its message says which (`Cloning the repository.`),
 *   so the clone spans from the storage's end to the first message that is neither about creating,
 *   scheduling nor cloning. Its end has no timestamp in the status: `endedAt` is left out, and a
 *   page that watched it happen fills it in with its own clock.
 * - pod: the IDE's container, until PodReady is True (its transition time ends it).
 * - ready: Routed and Ready, and the proxy can route to the IDE (`routable`).
 * A reason that needs someone to act (Stalled True, phase Failed) fails the step it belongs to.
 */

/** What a step is doing. */
export type StepState = "pending" | "active" | "done" | "failed" | "skipped";

export interface Step {
  key: "storage" | "clone" | "pod" | "ready";
  label: string;
  state: StepState;
  /** RFC 3339; absent when the status does not say. */
  startedAt?: string;
  endedAt?: string;
  /** One sentence about the step now (the condition's message), or "". */
  detail: string;
}

/** A condition as the status stream carries it. */
export interface StepCondition {
  type: string;
  status: string;
  reason: string;
  message: string;
  /** lastTransitionTime. */
  since?: string;
}

export interface StepInput {
  phase: string;
  /** The proxy has a route with an upstream. */
  routable: boolean;
  /** The workspace clones a repository (spec.repository). */
  repository: boolean;
  conditions: readonly StepCondition[];
}

const LABELS: Record<Step["key"], string> = {
  storage: "Storage",
  clone: "Clone the repository",
  pod: "Start the IDE",
  ready: "Ready",
};

/** PodReady messages while the pod is created, scheduled or cloning: the clone step is active. */
const BEFORE_IDE = /^(Creating the pod|Waiting for the pod to be scheduled|Cloning the repository)/;
/** PodReady reasons that fail the clone step rather than the pod step. */
const CLONE_FAILURES: ReadonlySet<string> = new Set(["InitContainerFailed", "SecretNotFound"]);

const later = (a: string | undefined, b: string | undefined): string | undefined =>
  a === undefined ? b : b === undefined ? a : Date.parse(a) >= Date.parse(b) ? a : b;

const step = (key: Step["key"], state: StepState, detail = "", at: Partial<Step> = {}): Step => ({
  key,
  label: LABELS[key],
  state,
  ...(at.startedAt ? { startedAt: at.startedAt } : {}),
  ...(at.endedAt ? { endedAt: at.endedAt } : {}),
  detail,
});

/** The four steps of `s`, in order. A stopped (or stopping) workspace has every step pending. */
export function stepsOf(s: StepInput): Step[] {
  const cond = (type: string) => s.conditions.find((c) => c.type === type);
  const ready = cond("Ready");
  if (s.phase === "Stopped" || s.phase === "Stopping")
    return (["storage", "clone", "pod", "ready"] as const).map((k) =>
      step(k, k === "clone" && !s.repository ? "skipped" : "pending"),
    );
  const reconciling = cond("Reconciling");
  const begin = reconciling?.status === "True" ? reconciling.since : undefined;
  const stalled = cond("Stalled")?.status === "True" || s.phase === "Failed";

  const storage = storageStep(cond("StorageReady"), begin);
  const pod = cond("PodReady");
  const podUp = pod?.status === "True";
  const podFailed = !podUp && stalled && !!pod && !storageFailed(cond("StorageReady"));
  const clone = cloneStep(s.repository, storage, pod, podFailed);
  const ide = ideStep(storage, clone, pod, podFailed, begin);
  const last = s.routable
    ? step("ready", "done", "", {
        ...(ide.endedAt ? { startedAt: ide.endedAt } : {}),
        ...(later(ready?.since, ide.endedAt) ? { endedAt: later(ready?.since, ide.endedAt)! } : {}),
      })
    : ide.state === "done"
      ? step("ready", "active", ready?.message ?? "", ide.endedAt ? { startedAt: ide.endedAt } : {})
      : step("ready", "pending");
  return [storage, clone, ide, last];
}

const storageFailed = (c: StepCondition | undefined) =>
  !!c && c.status !== "True" && c.reason !== "PVCPending" && c.reason !== "NotCreated";

function storageStep(c: StepCondition | undefined, begin: string | undefined): Step {
  if (c?.status === "True")
    return step("storage", "done", "", {
      ...(begin ? { startedAt: begin } : {}),
      ...(later(c.since, begin) ? { endedAt: later(c.since, begin)! } : {}),
    });
  return step(
    "storage",
    storageFailed(c) ? "failed" : "active",
    c?.message ?? "",
    begin ? { startedAt: begin } : {},
  );
}

function cloneStep(
  repository: boolean,
  storage: Step,
  pod: StepCondition | undefined,
  podFailed: boolean,
): Step {
  if (!repository) return step("clone", "skipped");
  if (storage.state !== "done") return step("clone", "pending");
  const from = storage.endedAt ? { startedAt: storage.endedAt } : {};
  if (pod?.status === "True") return step("clone", "done", "", from);
  if (pod && CLONE_FAILURES.has(pod.reason)) return step("clone", "failed", pod.message, from);
  if (!pod || BEFORE_IDE.test(pod.message) || (pod.reason !== "Starting" && !podFailed))
    return step("clone", "active", pod?.message ?? "", from);
  return step("clone", "done", "", from);
}

function ideStep(
  storage: Step,
  clone: Step,
  pod: StepCondition | undefined,
  podFailed: boolean,
  begin: string | undefined,
): Step {
  const before = clone.state === "skipped" ? storage : clone;
  if (before.state !== "done") return step("pod", "pending");
  const from = before.endedAt ? { startedAt: before.endedAt } : {};
  if (pod?.status === "True") {
    const end = later(pod.since, begin);
    return step("pod", "done", "", { ...from, ...(end ? { endedAt: end } : {}) });
  }
  return step("pod", podFailed ? "failed" : "active", pod?.message ?? "", from);
}
