/**
 * Cluster objects → what the API shows. Pure: a Workspace (as the informer cache holds it) in, a
 * WorkspaceView out; a WorkspaceClass in, a ClassView out. Nothing here reads the API server.
 */
import type { Workspace, WorkspaceClass } from "../../crds/types.ts";
import { classNameOf } from "../routing/from-cluster.ts";
import {
  DEFAULT_MAX_KEEP_ALIVE,
  DEFAULT_WARN_BEFORE,
  KEEP_ALIVE_ANNOTATION,
  isIdleStopped,
} from "../../common/model/workspace/lifecycle.ts";
import type { ClassView, InstanceStatus, SyncView, WorkspaceView } from "./types.ts";

/** Whether the operator reports the workspace Ready (its Ready condition is True). */
export const isReady = (ws: Workspace): boolean =>
  ws.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;

const isoOf = (t: string | Date | undefined): string => (t instanceof Date ? t.toISOString() : (t ?? ""));

/**
 * InstanceStatus of a workspace, from what the operator observed: asked to stop → STOPPING until the
 * operator says Stopped; Running but not yet Ready → STARTING (the IDE is not answering yet).
 */
export function instanceStatus(ws: Workspace): InstanceStatus {
  const phase = ws.status?.phase;
  const running = ws.spec.running !== false;
  if (phase === "Failed") return "ERROR";
  if (!running) return phase === "Stopped" ? "STOPPED" : "STOPPING";
  // Stopped for idleness: stopped until a visit or a start wakes it (the annotation goes then).
  if (isIdleStopped(ws)) return phase === "Stopped" ? "STOPPED" : "STOPPING";
  if (phase === "Stopping") return "STOPPING";
  if (phase === "Stopped") return "STARTING"; // asked to run again; the operator has not caught up
  if (phase === "Running") return isReady(ws) ? "RUNNING" : "STARTING";
  if (phase === "Starting") return "STARTING";
  return "PENDING";
}

/** The last sync the operator reported; a request it has not taken yet shows as Pending. */
export function syncOf(ws: Workspace, requested: string | undefined): SyncView | undefined {
  const s = (ws.status as { sync?: SyncView } | undefined)?.sync;
  if (requested && s?.requested !== requested) return { requested, state: "Pending" };
  return s ? { ...s } : undefined;
}

/** A workspace as the API shows it. */
export function workspaceView(ws: Workspace, syncAnnotation: string): WorkspaceView {
  const st = ws.status ?? {};
  const sync = syncOf(ws, ws.metadata.annotations?.[syncAnnotation]);
  const repo = ws.spec.repository;
  const keepAlive = ws.metadata.annotations?.[KEEP_ALIVE_ANNOTATION];
  return {
    namespace: ws.metadata.namespace ?? "",
    name: ws.metadata.name ?? "",
    owner: ws.spec.owner,
    className: classNameOf(ws),
    running: ws.spec.running !== false,
    phase: st.phase ?? "Pending",
    status: instanceStatus(ws),
    ready: isReady(ws),
    ...(st.url ? { url: st.url } : {}),
    message: st.message ?? st.conditions?.find((c) => c.type === "Ready")?.message ?? "",
    ...(repo ? { repository: { url: repo.url, ...(repo.ref ? { ref: repo.ref } : {}) } } : {}),
    storage: {
      ...(ws.spec.storage?.size !== undefined ? { size: ws.spec.storage.size } : {}),
      reclaimPolicy: ws.spec.storage?.reclaimPolicy ?? "Retain",
      scope: ws.spec.storage?.scope ?? "workspace",
    },
    ...(ws.spec.resources ? { resources: ws.spec.resources } : {}),
    ...(ws.spec.idleTimeout ? { idleTimeout: ws.spec.idleTimeout } : {}),
    ...(ws.spec.sharedWith ? { sharedWith: ws.spec.sharedWith } : {}),
    conditions: (st.conditions ?? []).map((c) => ({ ...c })),
    createdAt: isoOf(ws.metadata.creationTimestamp),
    ...(st.lastActivity ? { lastActivity: st.lastActivity } : {}),
    ...(st.stopsAt ? { stopsAt: st.stopsAt } : {}),
    ...(keepAlive ? { keepAliveUntil: keepAlive } : {}),
    idleStopped: isIdleStopped(ws),
    resourceVersion: ws.metadata.resourceVersion ?? "",
    ...(sync ? { sync } : {}),
  };
}

/** Bounds and per-user limits as a class states them (fields the class leaves out are absent). */
interface ClassLimits {
  bounds?: ClassView["bounds"];
  userLimits?: ClassView["userLimits"];
}

/** An option a user may pick. */
export function classView(cls: WorkspaceClass): ClassView {
  const spec = cls.spec as WorkspaceClass["spec"] & ClassLimits;
  return {
    name: cls.metadata.name ?? "",
    ...(spec.displayName ? { displayName: spec.displayName } : {}),
    ...(spec.description ? { description: spec.description } : {}),
    defaults: {
      ...(spec.storage?.size !== undefined ? { storage: spec.storage.size } : {}),
      ...(spec.resources ? { resources: spec.resources } : {}),
      ...(spec.idleTimeout ? { idleTimeout: spec.idleTimeout } : {}),
    },
    bounds: { ...spec.bounds },
    userLimits: { ...spec.userLimits },
    idle: {
      warnBefore: spec.idle?.warnBefore ?? DEFAULT_WARN_BEFORE,
      maxKeepAlive: spec.idle?.maxKeepAlive ?? DEFAULT_MAX_KEEP_ALIVE,
    },
  };
}
