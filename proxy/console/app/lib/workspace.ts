/**
 * What the views show of a workspace (the API's Workspace, docs/api.md), as pure functions: the
 * progress steps from its conditions, the actions its state allows, relative times.
 */
import type { WorkspaceConditionType } from "../../../../crds/types.ts";
import { parseDurationMs } from "../../../../common/runtime/settings.ts";

/** The API's Workspace view, the fields the console reads. */
export interface Workspace {
  namespace: string;
  name: string;
  owner: string;
  className: string;
  running: boolean;
  phase: "Pending" | "Starting" | "Running" | "Stopping" | "Stopped" | "Failed";
  ready: boolean;
  url?: string;
  message: string;
  repository?: { url: string; ref?: string };
  storage: { size?: string | number };
  conditions: {
    type: string;
    status: "True" | "False" | "Unknown";
    reason: string;
    message: string;
    lastTransitionTime: string;
  }[];
  createdAt: string;
  lastActivity?: string;
  resourceVersion: string;
  sync?: { state: string; message?: string; conflicts?: string[] };
  /** Lifecycle (issue 15): when the idle stop comes unless there is activity; absent: never. */
  stopsAt?: string;
  /** A keep-alive's end (the proxy's API sets it, capped by the class). */
  keepAliveUntil?: string;
  /** Stopped for idleness: Start (or a visit) wakes it. */
  idleStopped?: boolean;
}

/** The steps a start goes through, in order (Synced is not a step: it is about a later sync). */
export const STEPS = ["StorageReady", "PodReady", "Routed", "Ready"] as const;
// Fails to compile if a step is not a condition the operator sets.
const _checked: readonly WorkspaceConditionType[] = STEPS;
void _checked;

export const STEP_LABEL: Record<(typeof STEPS)[number], string> = {
  StorageReady: "storage",
  PodReady: "pod",
  Routed: "routed",
  Ready: "ready",
};

export type StepState = "done" | "active" | "failed" | "todo";

/**
 * Each step's state: done when its condition is True; the first step not done is active while the
 * workspace is meant to run (failed when its condition is False with a reason that says so, or the
 * phase is Failed); the rest todo.
 */
export function steps(
  w: Pick<Workspace, "conditions" | "running" | "phase">,
): { type: (typeof STEPS)[number]; state: StepState; message: string }[] {
  let activeGiven = false;
  return STEPS.map((type) => {
    const c = w.conditions.find((x) => x.type === type);
    if (c?.status === "True") return { type, state: "done" as StepState, message: c.message };
    let state: StepState = "todo";
    if (!activeGiven && w.running) {
      activeGiven = true;
      state = w.phase === "Failed" ? "failed" : "active";
    }
    return { type, state, message: c?.message ?? "" };
  });
}

export type Action = "open" | "start" | "stop" | "sync" | "delete";

/** The actions a workspace's state allows (the API refuses the others: the buttons are not shown). */
export function actions(
  w: Pick<Workspace, "running" | "phase" | "ready" | "url" | "repository" | "idleStopped">,
): Action[] {
  const out: Action[] = [];
  if (w.ready && w.url) out.push("open");
  // An idle-stopped workspace still has running: true; Start wakes it (the API's start does).
  if (!w.running || w.idleStopped) out.push("start");
  else out.push("stop");
  if (w.running && w.phase === "Running" && w.repository) out.push("sync");
  out.push("delete");
  return out;
}

/** "just now", "5 min ago", "3 h ago", "2 d ago" from `iso` at `now`; "" when absent or unreadable. */
export function ago(iso: string | undefined, now: number): string {
  const t = iso ? Date.parse(iso) : NaN;
  if (!Number.isFinite(t)) return "";
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 45) return "just now";
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

// --- Lifecycle (issue 15): the idle warning, keep-alive choices, the idle-stopped label.

/** The phase as the console says it: "Stopped (idle)" for a workspace stopped for idleness. */
export const phaseLabel = (w: Pick<Workspace, "phase" | "idleStopped">): string =>
  w.idleStopped ? "Stopped (idle)" : w.phase;

/** A class's idle settings as the API gives them (ClassView `idle`). */
export interface ClassIdle {
  warnBefore: string;
  maxKeepAlive: string;
}

/**
 * The idle warning of a running workspace, or undefined: its `Idle` condition says StoppingSoon, or
 * its stop (`stopsAt`) is within the class's `warnBefore` (the console may see that first).
 */
export function idleWarning(
  w: Pick<Workspace, "running" | "idleStopped" | "stopsAt" | "conditions">,
  idle: ClassIdle | undefined,
  now: number,
): { stopsAt?: string } | undefined {
  if (!w.running || w.idleStopped) return undefined;
  const at = w.stopsAt ? { stopsAt: w.stopsAt } : {};
  const c = w.conditions.find((x) => x.type === "Idle");
  if (c?.status === "False" && c.reason === "StoppingSoon") return at;
  const t = w.stopsAt ? Date.parse(w.stopsAt) : NaN;
  const warn = idle ? parseDurationMs(idle.warnBefore) : undefined;
  if (Number.isFinite(t) && warn !== undefined && t - now <= warn) return at;
  return undefined;
}

const KEEP_ALIVE_STEPS = ["30m", "1h", "3h", "8h", "24h"];

/** The keep-alive durations to offer: the usual ones up to the class's maximum, and the maximum. */
export function keepAliveChoices(maxKeepAlive: string | undefined): string[] {
  const max = parseDurationMs(maxKeepAlive ?? "8h") ?? 0;
  const out = KEEP_ALIVE_STEPS.filter((d) => (parseDurationMs(d) ?? Infinity) <= max);
  if (maxKeepAlive && max > 0 && !out.some((d) => parseDurationMs(d) === max)) out.push(maxKeepAlive);
  return out;
}

/** "14:02" (local time) from an RFC 3339 time; "" when unreadable. */
export function clock(iso: string | undefined): string {
  const t = iso ? Date.parse(iso) : NaN;
  if (!Number.isFinite(t)) return "";
  const d = new Date(t);
  return `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
}
