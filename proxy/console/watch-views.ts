/**
 * What the watch channels carry and what the proxy keeps to build it. Pure.
 *
 * Pods and Events are cached trimmed to the item the console shows (`trimPod`, `trimEvent`): a
 * cluster's pods and events are many and large, and nothing else of them is read. Workspaces are
 * the proxy's own cache (whole objects), shown as the self-service API's view (proxy/api/views.ts).
 */
import type { KubernetesObject } from "@kubernetes/client-node";
import type { Workspace } from "../../crds/types.ts";
import { WORKSPACE_ANNOTATION } from "../../common/model/workspace/names.ts";
import type { Access } from "../auth/identity.ts";
import { workspaceView } from "../api/views.ts";
import type { EventItem, PodItem, WorkspaceItem } from "./protocol.ts";

/** A cached Pod or Event: identity, and the item (its workspace resolved when delivered). */
export interface Trimmed<I> extends KubernetesObject {
  metadata: { name: string; namespace: string; resourceVersion: string };
  item: I;
}

export type TrimmedPod = Trimmed<PodItem>;
/** An Event's item; `workspace` is "" until resolved (a pod's workspace may be learnt later). */
export type TrimmedEvent = Trimmed<EventItem>;

/** Who may see a workspace (policy.ts mayView's rule takes owner and sharing only). */
export const accessOf = (ws: Workspace): Access => ({
  owner: ws.spec.owner,
  ...(ws.spec.sharedWith ? { sharedWith: ws.spec.sharedWith } : {}),
});

/** Whether two Access values admit the same callers (a change of sharing changes visibility). */
export const sameAccess = (a: Access | undefined, b: Access | undefined): boolean =>
  JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

export function workspaceItem(ws: Workspace, syncAnnotation: string): WorkspaceItem {
  return {
    kind: "Workspace",
    namespace: ws.metadata.namespace ?? "",
    name: ws.metadata.name ?? "",
    resourceVersion: ws.metadata.resourceVersion ?? "",
    view: workspaceView(ws, syncAnnotation) as unknown as Record<string, unknown>,
  };
}

interface RawContainerStatus {
  name?: string;
  ready?: boolean;
  restartCount?: number;
  state?: Record<string, { reason?: string } | undefined>;
}

interface RawPod extends KubernetesObject {
  metadata?: KubernetesObject["metadata"] & {
    annotations?: Record<string, string>;
    ownerReferences?: { kind?: string; name?: string }[];
  };
  status?: {
    phase?: string;
    startTime?: string | Date;
    conditions?: { type?: string; status?: string }[];
    containerStatuses?: RawContainerStatus[];
    initContainerStatuses?: RawContainerStatus[];
  };
}

const containerOf = (c: RawContainerStatus): PodItem["containers"][number] => {
  const [state, detail] = Object.entries(c.state ?? {}).find(([, v]) => v) ?? ["waiting", undefined];
  return {
    name: c.name ?? "",
    ready: c.ready === true,
    state,
    ...(detail?.reason ? { reason: detail.reason } : {}),
    restarts: c.restartCount ?? 0,
  };
};

/** The workspace a Portico pod belongs to: the exact name the operator annotates, else its owner. */
export function workspaceOfPod(pod: RawPod): string {
  return (
    pod.metadata?.annotations?.[WORKSPACE_ANNOTATION] ??
    pod.metadata?.ownerReferences?.find((r) => r.kind === "Workspace")?.name ??
    ""
  );
}

const iso = (t: string | Date | undefined) => (t instanceof Date ? t.toISOString() : t);

/** What the pod cache keeps of a pod. */
export function trimPod(raw: KubernetesObject): TrimmedPod {
  const pod = raw as RawPod;
  const m = pod.metadata ?? {};
  const st = pod.status ?? {};
  const startedAt = iso(st.startTime);
  const meta = { namespace: m.namespace ?? "", name: m.name ?? "", resourceVersion: m.resourceVersion ?? "" };
  return {
    metadata: meta,
    item: {
      kind: "Pod",
      ...meta,
      workspace: workspaceOfPod(pod),
      phase: st.phase ?? "Pending",
      ready: st.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false,
      containers: (st.containerStatuses ?? []).map(containerOf),
      initContainers: (st.initContainerStatuses ?? []).map(containerOf),
      ...(startedAt ? { startedAt } : {}),
    },
  };
}

interface RawEvent extends KubernetesObject {
  involvedObject?: { kind?: string; name?: string; namespace?: string };
  regarding?: { kind?: string; name?: string };
  type?: string;
  reason?: string;
  message?: string;
  note?: string;
  count?: number;
  lastTimestamp?: string | Date | null;
  eventTime?: string | Date | null;
  firstTimestamp?: string | Date | null;
  metadata?: KubernetesObject["metadata"] & { creationTimestamp?: string | Date };
}

/** Kinds whose events the console shows; the rest are kept as identity only. */
export const EVENT_KINDS: ReadonlySet<string> = new Set(["Workspace", "Pod"]);
/** Longest event message kept (kubelet messages can be long; the console shows a line). */
export const MAX_EVENT_MESSAGE = 1024;

/** What the event cache keeps of an Event (core/v1; events.k8s.io/v1 field names also read). */
export function trimEvent(raw: KubernetesObject): TrimmedEvent {
  const ev = raw as RawEvent;
  const m = ev.metadata ?? {};
  const meta = { namespace: m.namespace ?? "", name: m.name ?? "", resourceVersion: m.resourceVersion ?? "" };
  const about = ev.involvedObject ?? ev.regarding ?? {};
  const kind = about.kind ?? "";
  const relevant = EVENT_KINDS.has(kind);
  const time = iso(ev.lastTimestamp ?? ev.eventTime ?? ev.firstTimestamp ?? m.creationTimestamp) ?? "";
  return {
    metadata: meta,
    item: {
      kind: "Event",
      ...meta,
      workspace: relevant && kind === "Workspace" ? (about.name ?? "") : "",
      involved: { kind, name: relevant ? (about.name ?? "") : "" },
      type: relevant ? (ev.type ?? "Normal") : "",
      reason: relevant ? (ev.reason ?? "") : "",
      message: relevant ? (ev.message ?? ev.note ?? "").slice(0, MAX_EVENT_MESSAGE) : "",
      count: ev.count ?? 1,
      time: relevant ? time : "",
    },
  };
}
