/**
 * Pod status as a kubelet reports it, computed from what the runner knows of each container's
 * process. Pure: the runner feeds it the runtime state and writes the result only when it differs
 * from what it wrote last (see `statusKey`).
 */
import type { V1ContainerStatus, V1Pod, V1PodCondition, V1PodStatus } from "@kubernetes/client-node";

/** What the runner knows of one container. */
export interface ContainerRuntime {
  name: string;
  image: string;
  state: "waiting" | "running" | "terminated";
  /** Waiting reason (ContainerCreating, ErrImagePull, CreateContainerConfigError, CrashLoopBackOff, PodInitializing). */
  reason?: string;
  message?: string;
  startedAt?: Date;
  finishedAt?: Date;
  exitCode?: number;
  restartCount: number;
  ready: boolean;
}

export interface PodRuntime {
  podIP: string;
  hostIP: string;
  startTime: Date;
  init: ContainerRuntime[];
  main: ContainerRuntime[];
}

function containerStatus(c: ContainerRuntime): V1ContainerStatus {
  const state =
    c.state === "running"
      ? { running: { startedAt: c.startedAt } }
      : c.state === "terminated"
        ? {
            terminated: {
              exitCode: c.exitCode ?? 0,
              reason: c.reason ?? (c.exitCode === 0 ? "Completed" : "Error"),
              message: c.message,
              startedAt: c.startedAt,
              finishedAt: c.finishedAt,
            },
          }
        : { waiting: { reason: c.reason ?? "ContainerCreating", message: c.message } };
  return {
    name: c.name,
    image: c.image,
    imageID: "",
    ready: c.ready,
    started: c.state === "running",
    restartCount: c.restartCount,
    state,
  };
}

function condition(type: string, ok: boolean, reason?: string, message?: string): V1PodCondition {
  return { type, status: ok ? "True" : "False", ...(ok ? {} : { reason, message }) };
}

/** The pod status for a runtime snapshot (without transition times; see withTransitionTimes). */
export function computePodStatus(pod: V1Pod, rt: PodRuntime): V1PodStatus {
  const initDone = rt.init.every((c) => c.state === "terminated" && c.exitCode === 0);
  const allReady = initDone && rt.main.length > 0 && rt.main.every((c) => c.ready);
  const restartPolicy = pod.spec?.restartPolicy ?? "Always";
  const mainTerminated = rt.main.length > 0 && rt.main.every((c) => c.state === "terminated");
  let phase = "Pending";
  if (initDone && rt.main.some((c) => c.state === "running" || c.restartCount > 0)) phase = "Running";
  if (initDone && mainTerminated && restartPolicy !== "Always") {
    phase = rt.main.every((c) => c.exitCode === 0)
      ? "Succeeded"
      : restartPolicy === "Never"
        ? "Failed"
        : phase;
  }
  const notReady = rt.main.filter((c) => !c.ready).map((c) => c.name);
  const pendingInit = rt.init
    .filter((c) => !(c.state === "terminated" && c.exitCode === 0))
    .map((c) => c.name);
  return {
    phase,
    podIP: rt.podIP,
    podIPs: [{ ip: rt.podIP }],
    hostIP: rt.hostIP,
    hostIPs: [{ ip: rt.hostIP }],
    startTime: rt.startTime,
    conditions: [
      condition("PodScheduled", true),
      condition(
        "Initialized",
        initDone,
        "ContainersNotInitialized",
        `containers with incomplete status: [${pendingInit.join(" ")}]`,
      ),
      condition(
        "ContainersReady",
        allReady,
        "ContainersNotReady",
        `containers with unready status: [${notReady.join(" ")}]`,
      ),
      condition(
        "Ready",
        allReady,
        "ContainersNotReady",
        `containers with unready status: [${notReady.join(" ")}]`,
      ),
    ],
    ...(rt.init.length ? { initContainerStatuses: rt.init.map(containerStatus) } : {}),
    containerStatuses: rt.main.map(containerStatus),
  };
}

/** Copies lastTransitionTime from the previous status for conditions whose status did not change. */
export function withTransitionTimes(
  next: V1PodStatus,
  previous: V1PodStatus | undefined,
  now: Date,
): V1PodStatus {
  const before = new Map((previous?.conditions ?? []).map((c) => [c.type, c]));
  return {
    ...next,
    conditions: next.conditions?.map((c) => {
      const old = before.get(c.type);
      return {
        ...c,
        lastTransitionTime:
          old && old.status === c.status && old.lastTransitionTime ? old.lastTransitionTime : now,
      };
    }),
  };
}

/** A comparable fingerprint of a status: what a reader would notice change (times left out). */
export function statusKey(s: V1PodStatus): string {
  const cs = (list?: V1ContainerStatus[]) =>
    (list ?? []).map((c) => ({
      n: c.name,
      r: c.ready,
      rc: c.restartCount,
      w: c.state?.waiting ? [c.state.waiting.reason, c.state.waiting.message] : undefined,
      run: c.state?.running ? 1 : 0,
      t: c.state?.terminated ? [c.state.terminated.exitCode, c.state.terminated.reason] : undefined,
    }));
  return JSON.stringify({
    p: s.phase,
    ip: s.podIP,
    c: (s.conditions ?? []).map((c) => [c.type, c.status, c.reason, c.message]),
    i: cs(s.initContainerStatuses),
    m: cs(s.containerStatuses),
  });
}

/** The kubelet's default `terminationMessagePath`. */
export const DEFAULT_TERMINATION_MESSAGE_PATH = "/dev/termination-log";
/** The most of a termination message file the kubelet reports. */
export const MAX_TERMINATION_MESSAGE_BYTES = 4096;

/**
 * A terminated container's message, as the kubelet makes it: the content of the file at its
 * `terminationMessagePath` (at most 4096 bytes) when the container wrote one; otherwise `fallback`
 * (the runner's tail of the log, as `FallbackToLogsOnError` gives).
 */
export function terminationMessage(
  file: Buffer | undefined,
  fallback: string | undefined,
): string | undefined {
  if (file && file.length > 0) return file.subarray(0, MAX_TERMINATION_MESSAGE_BYTES).toString("utf8");
  return fallback;
}
