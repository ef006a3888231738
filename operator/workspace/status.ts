/**
 * A Workspace's status, computed from what the reconciler observed. Pure: the time is a parameter.
 *
 * Conditions: StorageReady (the claim), PodReady (the IDE answers, or the most useful reason why not),
 * Routed (Service, and VirtualService when wanted) and Ready (all three; otherwise the reason and message
 * of the one users should read first). `phase` and `message` summarise them for `kubectl get`.
 * Reconciling and Stalled are kstatus's "abnormal-true" pair (what Flux and the kubectl ecosystem read,
 * docs/gitops.md): Reconciling True while the operator is still moving toward the spec, Stalled True
 * when nothing will change until someone acts; at most one of them is True.
 */
import type {
  V1ContainerStatus,
  V1NetworkPolicy,
  V1PersistentVolumeClaim,
  V1Pod,
  V1Service,
} from "@kubernetes/client-node";
import type {
  Condition,
  ConditionStatus,
  Workspace,
  WorkspaceChildren,
  WorkspaceClass,
  WorkspacePhase,
  WorkspaceStatus,
} from "../../crds/types.ts";
import type { BuilderConfig } from "../config.ts";
import { canonicalJson, GIT_CHECKOUT_CONTAINER, GIT_CONTAINER } from "./build.ts";
import { pvcName, requiredNamespace } from "../../common/model/workspace/names.ts";
import { basePath, readinessPath, workspaceUrl } from "../../common/model/workspace/template.ts";
import { isIdleStopped, rfc3339 as rfc3339Ms } from "../../common/model/workspace/lifecycle.ts";
import { decideIdle } from "./idle.ts";

/** What the reconciler observed about one workspace. */
export interface ObservedWorkspace {
  ws: Workspace;
  /** Absent when the class named by the workspace does not exist. */
  cls?: WorkspaceClass;
  pvc?: V1PersistentVolumeClaim;
  pod?: V1Pod;
  service?: V1Service;
  /** Whether a VirtualService is wanted (Istio routing on). */
  virtualServiceWanted: boolean;
  virtualService?: object;
  networkPolicy?: V1NetworkPolicy;
  /** Name of the repository Secret when it does not exist. */
  missingSecret?: string;
  /** Why the workspace may not start (no pod is created): out of its class's bounds, a user limit. */
  block?: StartBlock;
  /** The pod is being replaced to apply a class or spec change. */
  rolling?: boolean;
  config: Pick<BuilderConfig, "routing" | "baseDomain" | "urlScheme" | "urlPort">;
  /** The IDE probe's latest activity (ms since the epoch), when its class has a probe (probe.ts). */
  ideActivityMs?: number;
}

/** Why a workspace without a pod is not started. */
export interface StartBlock {
  /** `OutOfBounds` (phase Failed: someone must act) or `UserLimitReached` (phase Pending: it waits). */
  reason: "OutOfBounds" | "UserLimitReached";
  message: string;
}

/** Waiting reasons that mean the image cannot be pulled. */
export const IMAGE_ERRORS: ReadonlySet<string> = new Set([
  "ImagePullBackOff",
  "ErrImagePull",
  "InvalidImageName",
  "ErrImageNeverPull",
]);

/** PodReady reasons that put the workspace in phase Failed: nothing changes until someone acts. */
export const FAILED_REASONS: ReadonlySet<string> = new Set([
  "ClassNotFound",
  "SecretNotFound",
  "OutOfBounds",
  "InitContainerFailed",
  ...IMAGE_ERRORS,
]);

/**
 * PodReady reasons reported on Ready ahead of StorageReady: they need someone to act (or are the user's
 * own choice), so they explain the state better than a claim that is merely not created yet.
 */
const PODREADY_FIRST: ReadonlySet<string> = new Set([
  ...FAILED_REASONS,
  "Stopped",
  "Idle",
  "CreateContainerConfigError",
  "UserLimitReached",
]);

/**
 * Ready reasons that stall progress besides phase Failed: the pod is there but keeps failing, or the
 * volume is gone. The operator can only wait until someone fixes the cause.
 */
export const STALLED_REASONS: ReadonlySet<string> = new Set([
  ...FAILED_REASONS,
  "CrashLoopBackOff",
  "CreateContainerConfigError",
  "PodFailed",
]);

/** A condition before its bookkeeping fields are added. */
interface Judgement {
  status: ConditionStatus;
  reason: string;
  message: string;
}

const yes = (reason: string, message: string): Judgement => ({ status: "True", reason, message });
const no = (reason: string, message: string): Judgement => ({ status: "False", reason, message });

/** The class a workspace asks for: `spec.className`, else its alias `spec.ide`. */
export function resolvedClassName(ws: Workspace): string {
  return ws.spec.className ?? ws.spec.ide ?? "";
}

/** RFC 3339 without fractional seconds, as the API server writes `metav1.Time` (the lifecycle's format). */
export const rfc3339 = (d: Date): string => rfc3339Ms(d.getTime());

/** The workspace's status from what was observed at `now`. */
export function computeStatus(o: ObservedWorkspace, now: Date): WorkspaceStatus {
  const { ws } = o;
  const storage = storageReady(o);
  const pod = podReady(o, storage);
  const routed = routedCondition(o);
  const ready = readyCondition(storage, pod, routed, o);
  const phase = phaseOf(o, storage, pod, ready);
  const { reconciling, stalled } = progressConditions(phase, ready);
  const idle = decideIdle({
    ws,
    cls: o.cls,
    pod: o.pod,
    ...(o.ideActivityMs !== undefined ? { ideActivityMs: o.ideActivityMs } : {}),
    nowMs: now.getTime(),
  });

  const generation = ws.metadata.generation;
  const stamp = (type: string, j: Judgement): Condition => {
    const previous = ws.status?.conditions?.find((c) => c.type === type);
    return {
      type,
      status: j.status,
      ...(generation !== undefined ? { observedGeneration: generation } : {}),
      lastTransitionTime:
        previous && previous.status === j.status ? previous.lastTransitionTime : rfc3339(now),
      reason: j.reason,
      message: j.message,
    };
  };

  const children: WorkspaceChildren = {};
  if (o.pvc?.metadata?.name) children.pvc = o.pvc.metadata.name;
  if (o.pod?.metadata?.name) children.pod = o.pod.metadata.name;
  if (o.service?.metadata?.name) children.service = o.service.metadata.name;
  const vsName = (o.virtualService as { metadata?: { name?: string } } | undefined)?.metadata?.name;
  if (vsName) children.virtualService = vsName;
  if (o.networkPolicy?.metadata?.name) children.networkPolicy = o.networkPolicy.metadata.name;

  const status: WorkspaceStatus = {
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
    phase,
    className: resolvedClassName(ws),
    conditions: [
      stamp("Ready", ready),
      stamp("Reconciling", reconciling),
      stamp("Stalled", stalled),
      stamp("StorageReady", storage),
      stamp("PodReady", pod),
      stamp("Routed", routed),
      stamp("Idle", idle.condition),
      // The sync's condition is the sync's business (sync.ts): carried over as it is.
      ...(ws.status?.conditions ?? []).filter((c) => c.type === "Synced"),
    ],
    ...(o.cls ? { url: workspaceUrl(ws, o.config) } : {}),
    children,
    ...(idle.lastActivity ? { lastActivity: idle.lastActivity } : {}),
    ...(Object.keys(idle.activity).length ? { activity: idle.activity } : {}),
    ...(idle.stopsAt ? { stopsAt: idle.stopsAt } : {}),
    message: phase === "Running" ? "" : ready.message,
    ...(ws.status?.sync ? { sync: ws.status.sync } : {}),
  };
  return status;
}

function storageReady(o: ObservedWorkspace): Judgement {
  const name = o.pvc?.metadata?.name ?? pvcName(o.ws);
  if (!o.pvc) return no("NotCreated", `PersistentVolumeClaim ${name} has not been created yet.`);
  const phase = o.pvc.status?.phase ?? "Pending";
  if (phase === "Bound") return yes("Bound", `PersistentVolumeClaim ${name} is bound.`);
  if (phase === "Pending") {
    const sc = o.pvc.spec?.storageClassName;
    const from = sc ? `storage class "${sc}"` : "the cluster's default storage class";
    return no(
      "PVCPending",
      `PersistentVolumeClaim ${name} is waiting for a volume from ${from}. If the class binds on first use ` +
        `(WaitForFirstConsumer) this ends once the pod is scheduled; otherwise check that the storage class ` +
        `exists and can provision (kubectl describe pvc ${name}).`,
    );
  }
  return no(
    phase === "Lost" ? "PVCLost" : `PVC${phase}`,
    `PersistentVolumeClaim ${name} is ${phase}: its volume is gone. An administrator has to restore or ` +
      `replace it (kubectl describe pvc ${name}).`,
  );
}

function podReady(o: ObservedWorkspace, storage: Judgement): Judgement {
  const { ws, cls, pod } = o;
  if (ws.spec.running === false) {
    return no(
      "Stopped",
      pod
        ? "The workspace is stopping (spec.running is false); its storage is kept."
        : "The workspace is stopped (spec.running is false); its storage is kept. Set spec.running to true to start it.",
    );
  }
  if (isIdleStopped(ws)) {
    // The operator's idle stop (idle.ts): the Idle condition names when and why.
    return no(
      "Idle",
      pod
        ? "The workspace is stopping after its idle timeout; its storage is kept."
        : "The workspace was stopped after its idle timeout; its storage is kept. Open its URL or start it to wake it.",
    );
  }
  if (!cls) {
    return no(
      "ClassNotFound",
      `WorkspaceClass "${resolvedClassName(ws)}" does not exist. Create it, or set spec.className to one of ` +
        `the installed classes (kubectl get workspaceclasses).`,
    );
  }
  if (o.missingSecret) {
    return no(
      "SecretNotFound",
      `Secret "${o.missingSecret}" named by spec.repository.secretRef does not exist in namespace ` +
        `${requiredNamespace(ws)}. Create it, or remove spec.repository.secretRef for a public repository.`,
    );
  }
  if (o.block && !pod) return no(o.block.reason, o.block.message);
  if (o.rolling) return no("Rolling", "Replacing the pod to apply a WorkspaceClass or spec change.");
  if (!pod) {
    return no(
      "Starting",
      storage.status === "True" ? "Creating the pod." : "Creating the pod once its storage is ready.",
    );
  }
  const path = readinessPath(cls, basePath(ws, o.config));
  if (isPodReady(pod)) return yes("Ready", `The IDE answers on port ${cls.spec.port} at ${path}.`);
  return podProblem(ws, pod) ?? no("Starting", startingMessage(ws, pod, path));
}

/** Whether the pod's Ready condition is True. */
export function isPodReady(pod: V1Pod): boolean {
  return pod.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
}

/** The most useful thing wrong with a pod that is not ready, or undefined while it is just starting. */
function podProblem(ws: Workspace, pod: V1Pod): Judgement | undefined {
  const scheduled = pod.status?.conditions?.find((c) => c.type === "PodScheduled");
  if (
    scheduled?.status === "False" &&
    scheduled.reason === "Unschedulable" &&
    !waitsOnClaimBinding(scheduled.message)
  ) {
    return no("Unschedulable", `The pod cannot be scheduled: ${scheduled.message ?? "no node fits"}`);
  }
  const inits = pod.status?.initContainerStatuses ?? [];
  const mains = pod.status?.containerStatuses ?? [];
  for (const s of [...inits, ...mains]) {
    const waiting = s.state?.waiting;
    if (waiting?.reason && IMAGE_ERRORS.has(waiting.reason)) {
      return no(
        waiting.reason,
        `Container ${s.name} cannot pull image "${s.image}": ${waiting.message ?? waiting.reason}. ` +
          `Check spec.image or the WorkspaceClass's image.`,
      );
    }
  }
  for (const s of [...inits, ...mains]) {
    const waiting = s.state?.waiting;
    if (waiting?.reason === "CreateContainerConfigError") {
      return no(
        "CreateContainerConfigError",
        `Container ${s.name} cannot be created: ${waiting.message ?? waiting.reason}`,
      );
    }
  }
  for (const s of inits) {
    const failed = failedRun(s);
    if (failed) {
      const git = s.name === GIT_CONTAINER || s.name === GIT_CHECKOUT_CONTAINER;
      const what = git
        ? `Cloning ${ws.spec.repository?.url ?? "the repository"}`
        : `Init container ${s.name}`;
      return no(
        "InitContainerFailed",
        `${what} failed (exit code ${failed.exitCode}): ${failed.detail}` +
          (git
            ? " Check spec.repository (url, ref), the credentials in its Secret and the protocols the WorkspaceClass allows (spec.git.allowedProtocols)."
            : ""),
      );
    }
  }
  for (const s of mains) {
    const waiting = s.state?.waiting;
    if (waiting?.reason === "CrashLoopBackOff") {
      const last = s.lastState?.terminated;
      const detail = last
        ? ` (exit code ${last.exitCode}): ${(last.message ?? last.reason ?? "").trim()}`
        : "";
      return no("CrashLoopBackOff", `The IDE keeps exiting${detail}`.trim() + (detail ? "" : "."));
    }
  }
  if (pod.status?.phase === "Failed") {
    return no("PodFailed", `The pod failed: ${pod.status.message ?? pod.status.reason ?? "unknown reason"}`);
  }
  return undefined;
}

/**
 * The scheduler's answer for a pod created beside its claim, before the claim is bound (a class
 * that binds at once): it retries by itself once the claim binds. Not a problem, just a step, so
 * it reads as waiting to be scheduled (StorageReady says PVCPending meanwhile), and costs neither
 * an Event nor a status write.
 */
const waitsOnClaimBinding = (message: string | undefined) =>
  !!message && /unbound immediate PersistentVolumeClaims/.test(message);

/** A terminated run with a non-zero exit code, now or just before a restart back-off. */
function failedRun(s: V1ContainerStatus): { exitCode: number; detail: string } | undefined {
  const t =
    s.state?.terminated && s.state.terminated.exitCode !== 0
      ? s.state.terminated
      : s.state?.waiting && s.lastState?.terminated && s.lastState.terminated.exitCode !== 0
        ? s.lastState.terminated
        : undefined;
  if (!t) return undefined;
  return { exitCode: t.exitCode, detail: (t.message ?? "").trim() || t.reason || "no message" };
}

/**
 * Where a scheduled pod is on its way to Ready. A workspace with a repository reads "Cloning" until
 * both git init containers have finished, including before the node has reported their statuses at
 * all: otherwise the first status after scheduling would say "Starting the IDE", the next "Cloning",
 * and the waiting page's steps would go backward. Once the IDE container runs, the clone is done
 * whatever the init statuses say (the node reports them with the main container's).
 */
function startingMessage(ws: Workspace, pod: V1Pod, path: string): string {
  const scheduled = pod.status?.conditions?.find((c) => c.type === "PodScheduled");
  if (scheduled?.status !== "True") return "Waiting for the pod to be scheduled.";
  const inits = pod.status?.initContainerStatuses ?? [];
  const ideStarted = (pod.status?.containerStatuses ?? []).some(
    (s) => s.state?.running || s.state?.terminated,
  );
  const cloned = [GIT_CONTAINER, GIT_CHECKOUT_CONTAINER].every(
    (name) => !!inits.find((s) => s.name === name)?.state?.terminated,
  );
  const cloning = inits.some(
    (s) => (s.name === GIT_CONTAINER || s.name === GIT_CHECKOUT_CONTAINER) && !s.state?.terminated,
  );
  if (cloning || (ws.spec.repository && !ideStarted && !cloned)) return "Cloning the repository.";
  return `Starting the IDE; waiting for it to answer at ${path}.`;
}

function routedCondition(o: ObservedWorkspace): Judgement {
  if (!o.service) return no("ServiceNotCreated", "The workspace's Service has not been created yet.");
  if (o.virtualServiceWanted && !o.virtualService) {
    return no("VirtualServiceNotCreated", "The workspace's Istio VirtualService has not been created yet.");
  }
  return yes("Routed", o.cls ? `Routed at ${workspaceUrl(o.ws, o.config)}` : "Routed.");
}

function readyCondition(
  storage: Judgement,
  pod: Judgement,
  routed: Judgement,
  o: ObservedWorkspace,
): Judgement {
  const order =
    PODREADY_FIRST.has(pod.reason) && pod.status !== "True" ? [pod, storage, routed] : [storage, pod, routed];
  const failing = order.find((c) => c.status !== "True");
  if (failing) return no(failing.reason, failing.message);
  return yes(
    "Ready",
    o.cls ? `The workspace is ready at ${workspaceUrl(o.ws, o.config)}` : "The workspace is ready.",
  );
}

function phaseOf(o: ObservedWorkspace, storage: Judgement, pod: Judgement, ready: Judgement): WorkspacePhase {
  if (o.ws.spec.running === false || isIdleStopped(o.ws)) return o.pod ? "Stopping" : "Stopped";
  if (pod.status !== "True" && FAILED_REASONS.has(pod.reason)) return "Failed";
  if (ready.status === "True") return "Running";
  if (!o.pod || storage.status !== "True") return "Pending";
  return "Starting";
}

/**
 * kstatus's Reconciling and Stalled from the phase and Ready: a Workspace reads InProgress while the
 * operator works toward the spec, Failed when someone has to act, and otherwise by its Ready condition
 * (so Running reads Current; Stopped, whose Ready is False, reads InProgress: see docs/gitops.md).
 */
function progressConditions(
  phase: WorkspacePhase,
  ready: Judgement,
): { reconciling: Judgement; stalled: Judgement } {
  if (ready.status === "True") {
    return {
      reconciling: no("Ready", "Nothing left to do: the workspace is ready."),
      stalled: no("Ready", "The workspace is ready."),
    };
  }
  if (phase === "Failed" || STALLED_REASONS.has(ready.reason) || isVolumeGone(ready.reason)) {
    return {
      reconciling: no("Stalled", "Not progressing until the cause in the Stalled condition is fixed."),
      stalled: yes(ready.reason, ready.message),
    };
  }
  if (phase === "Stopped") {
    const why = ready.reason === "Idle" ? "after its idle timeout" : "as spec.running asks";
    return {
      reconciling: no("Stopped", `Nothing left to do: the workspace is stopped ${why}.`),
      stalled: no("Stopped", `The workspace is stopped ${why}.`),
    };
  }
  return {
    reconciling: yes(phase === "Stopping" ? "Stopping" : ready.reason, ready.message),
    stalled: no("Progressing", "The operator is making progress toward the spec."),
  };
}

/** A claim in phase Lost (or any phase but Pending and Bound): an administrator has to restore it. */
const isVolumeGone = (reason: string) => reason.startsWith("PVC") && reason !== "PVCPending";

/**
 * Whether two statuses say the same thing. Nothing is ignored, but conditions are compared by type
 * whatever their order and absent fields equal undefined ones, so a status read back from the API
 * server equals the one computed from it in steady state, and the reconciler writes nothing.
 */
export function statusEqual(a: WorkspaceStatus | undefined, b: WorkspaceStatus | undefined): boolean {
  return canonicalJson(normalize(a)) === canonicalJson(normalize(b));
}

function normalize(s: WorkspaceStatus | undefined): WorkspaceStatus {
  if (!s) return {};
  if (!s.conditions) return s;
  const conditions = [...s.conditions].sort((x, y) => (x.type < y.type ? -1 : x.type > y.type ? 1 : 0));
  return { ...s, conditions };
}
