/**
 * What the views show of a workspace (the API's Workspace, docs/api.md), as pure functions: the
 * progress steps from its conditions, the actions its state allows, relative times.
 */
import type { WorkspaceConditionType } from "../../../../crds/types.ts";

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
export function actions(w: Pick<Workspace, "running" | "phase" | "ready" | "url" | "repository">): Action[] {
  const out: Action[] = [];
  if (w.ready && w.url) out.push("open");
  if (!w.running) out.push("start");
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
