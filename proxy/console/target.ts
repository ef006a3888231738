/**
 * What /ws/logs and /ws/shell reach: a container of a workspace's own pod, and nothing else.
 *
 * The query names it two ways — `?workspace=ns/name`, or `?ns=…&pod=…` — plus an optional
 * `container`. Either way the answer is decided from the Workspace the pod belongs to:
 * - the caller must be allowed to manage it (the self-service API's rule: a stranger gets 404, a
 *   sharee 403, as GET …/logs answers them), because a log shows and a shell changes its files;
 * - the pod must be that workspace's own (its IDE pod, or — for logs only — its sync pod): its name
 *   is the one the operator gives it, it carries the workspace's labels and the Workspace owns it
 *   (ownerReferences uid). A pod someone labelled to look like a workspace's, another workspace's
 *   pod, the operator's or any other pod is "not found", with the same words as a missing one, so
 *   the answer never tells a stranger which pods exist.
 * Parsing is pure; resolving asks the service (the caches) and the API server (the pod).
 */
import type { Workspace } from "../../crds/types.ts";
import {
  CHILD_SELECTOR,
  IDE_CONTAINER,
  SYNC_OF_LABEL,
  WORKSPACE_ANNOTATION,
  WORKSPACE_LABEL,
  childNames,
  workspaceLabelValue,
} from "../../common/model/workspace/names.ts";
import type { Identity } from "../auth/identity.ts";
import type { Refusal } from "../http/request.ts";
import { ApiError } from "../api/types.ts";

/** A pod as the API server returns it: the fields the checks read. */
export interface PodLike {
  metadata?: {
    name?: string;
    namespace?: string;
    uid?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: { kind?: string; uid?: string; apiVersion?: string }[];
    deletionTimestamp?: unknown;
  };
  spec?: { containers?: { name: string }[]; initContainers?: { name: string }[] };
  status?: { phase?: string };
}

/** The query, checked. */
export interface TargetQuery {
  namespace: string;
  /** `?workspace=` form: the workspace's name. */
  workspace?: string;
  /** `?ns=&pod=` form: the pod's name. */
  pod?: string;
  container?: string;
}

/** What the endpoint reaches. */
export interface Resolved {
  namespace: string;
  workspace: string;
  pod: string;
  container: string;
  /** The workspace's IDE pod or its sync pod. */
  role: "ide" | "sync";
  /** False when the workspace's pod does not exist (yet): logs wait for it. */
  exists: boolean;
}

export type Use = "logs" | "shell";

const LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const isLabel = (s: string) => s.length <= 63 && LABEL.test(s);
const isSubdomain = (s: string) => s.length <= 253 && SUBDOMAIN.test(s);

export const badQuery = (message: string): Refusal => ({ status: 400, body: { error: "invalid", message } });

/** Parameters each endpoint takes; any other is refused (no parameter is ignored silently). */
export const PARAMS: Record<Use, readonly string[]> = {
  logs: ["workspace", "ns", "pod", "container", "tail", "since"],
  shell: ["workspace", "ns", "pod", "container"],
};

/**
 * The target named by `query`, or a 400 naming the parameter. Names must be what Kubernetes allows
 * (namespace and container: DNS labels; pod and workspace: DNS subdomains), so `../`, `/`, `%2F`
 * (decoded by URLSearchParams to `/`), unicode or an over-long value never reach a URL. Pure.
 */
export function parseTarget(query: URLSearchParams, use: Use): TargetQuery | Refusal {
  const allowed = PARAMS[use];
  const seen = new Set<string>();
  for (const key of query.keys()) {
    if (!allowed.includes(key))
      return badQuery(`${key}: not a parameter of this endpoint (it takes ${allowed.join(", ")})`);
    if (seen.has(key)) return badQuery(`${key}: given more than once`);
    seen.add(key);
  }
  const container = query.get("container") ?? undefined;
  if (container !== undefined && !isLabel(container))
    return badQuery("container: must be a container name (lowercase letters, digits and '-', at most 63)");
  const opt = container !== undefined ? { container } : {};
  const ws = query.get("workspace");
  const ns = query.get("ns");
  const pod = query.get("pod");
  if (ws !== null) {
    if (ns !== null || pod !== null)
      return badQuery("workspace: give either workspace=ns/name or ns and pod");
    const parts = ws.split("/");
    if (parts.length !== 2 || !isLabel(parts[0]!) || !isSubdomain(parts[1]!))
      return badQuery("workspace: must be namespace/name, e.g. workspace=ws-alice/my-project");
    return { namespace: parts[0]!, workspace: parts[1]!, ...opt };
  }
  if (ns === null || pod === null) return badQuery("workspace: give workspace=ns/name, or both ns and pod");
  if (!isLabel(ns))
    return badQuery("ns: must be a namespace name (lowercase letters, digits and '-', at most 63)");
  if (!isSubdomain(pod)) return badQuery("pod: must be a pod name (lowercase DNS name, at most 253)");
  return { namespace: ns, pod, ...opt };
}

/** The IDE pod's name of `ws` (what the operator reports, else what it would name it). */
export const idePodName = (ws: Workspace): string => ws.status?.children?.pod ?? childNames(ws).pod;

/** Whether `pod` is `ws`'s own IDE pod or sync pod: name, labels and owner all agree. Pure. */
export function podRole(pod: PodLike, ws: Workspace): "ide" | "sync" | undefined {
  const m = pod.metadata ?? {};
  const labels = m.labels ?? {};
  if (m.namespace !== undefined && m.namespace !== ws.metadata.namespace) return undefined;
  if (Object.entries(CHILD_SELECTOR).some(([k, v]) => labels[k] !== v)) return undefined;
  const uid = ws.metadata.uid;
  const owned = (m.ownerReferences ?? []).some(
    (r) => r.kind === "Workspace" && uid !== undefined && r.uid === uid,
  );
  if (!owned) return undefined;
  const value = workspaceLabelValue(ws.metadata.name!);
  if (m.name === idePodName(ws) && labels[WORKSPACE_LABEL] === value && labels[SYNC_OF_LABEL] === undefined)
    return "ide";
  if (
    m.name === childNames(ws).sync &&
    labels[SYNC_OF_LABEL] === value &&
    labels[WORKSPACE_LABEL] === undefined
  )
    return "sync";
  return undefined;
}

/** The workspace a pod says it belongs to (exact name annotation, else the label). */
export const claimedWorkspace = (pod: PodLike): string | undefined =>
  pod.metadata?.annotations?.[WORKSPACE_ANNOTATION] ??
  pod.metadata?.labels?.[WORKSPACE_LABEL] ??
  pod.metadata?.labels?.[SYNC_OF_LABEL];

/** The containers `use` may reach in `pod`: logs every one (init containers too), a shell the running ones. */
export function containersOf(pod: PodLike, use: Use): string[] {
  const main = (pod.spec?.containers ?? []).map((c) => c.name);
  return use === "logs" ? [...(pod.spec?.initContainers ?? []).map((c) => c.name), ...main] : main;
}

export interface ResolveDeps {
  /** The workspace if `who` may manage it; throws ApiError (404 not visible, 403 sharee). */
  workspace(who: Identity, namespace: string, name: string): Workspace;
  /** The pod from the API server; undefined when there is none. */
  readPod(namespace: string, name: string): Promise<PodLike | undefined>;
}

const refusalOf = (err: ApiError): Refusal => ({
  status: err.status,
  body: { error: err.code, message: err.message },
});

const notFound = (q: TargetQuery): Refusal => ({
  status: 404,
  body: {
    error: "not_found",
    message: `pod ${q.namespace}/${q.pod ?? ""} is not the pod of a workspace you may manage: open the workspace's logs or terminal from its page`,
  },
});

/** The workspace by `who`'s rights: the ApiError as a refusal. */
function managed(deps: ResolveDeps, who: Identity, namespace: string, name: string): Workspace | Refusal {
  try {
    return deps.workspace(who, namespace, name);
  } catch (err) {
    if (err instanceof ApiError) return refusalOf(err);
    throw err;
  }
}

const isRefusal = (x: unknown): x is Refusal =>
  typeof x === "object" && x !== null && "status" in x && "body" in x;

/**
 * What `q` reaches for `who`, or why not. Called before the handshake and again whenever a log
 * stream reconnects upstream, so a workspace taken away or a pod replaced is noticed.
 */
export async function resolveTarget(
  deps: ResolveDeps,
  who: Identity,
  q: TargetQuery,
  use: Use,
): Promise<Resolved | Refusal> {
  let ws: Workspace | Refusal;
  let pod: PodLike | undefined;
  if (q.workspace !== undefined) {
    ws = managed(deps, who, q.namespace, q.workspace);
    if (isRefusal(ws)) return ws;
    pod = await deps.readPod(q.namespace, idePodName(ws));
  } else {
    pod = await deps.readPod(q.namespace, q.pod!);
    const name = pod && claimedWorkspace(pod);
    if (!name || !isSubdomain(name)) return notFound(q);
    ws = managed(deps, who, q.namespace, name);
    // A stranger learns nothing from a pod's labels: the same 404 as a pod that is not there.
    if (isRefusal(ws)) return ws.status === 404 ? notFound(q) : ws;
  }
  const wsName = ws.metadata.name!;
  if (!pod) {
    if (q.pod !== undefined) return notFound(q);
    if (use === "shell")
      return {
        status: 409,
        body: {
          error: "conflict",
          message: `workspace ${q.namespace}/${wsName} is not running: start it first`,
        },
      };
    return {
      namespace: q.namespace,
      workspace: wsName,
      pod: idePodName(ws),
      container: q.container ?? IDE_CONTAINER,
      role: "ide",
      exists: false,
    };
  }
  const role = podRole(pod, ws);
  if (!role || (use === "shell" && role !== "ide"))
    return notFound({ ...q, pod: q.pod ?? pod.metadata?.name ?? "" });
  const names = containersOf(pod, use);
  const container = q.container ?? (role === "ide" ? IDE_CONTAINER : names[0]);
  if (!container || !names.includes(container))
    return {
      status: 404,
      body: {
        error: "not_found",
        message: `container ${container ?? ""}: not ${use === "shell" ? "a running container" : "a container"} of pod ${pod.metadata?.name}; it has ${names.join(", ") || "none"}`,
      },
    };
  if (use === "shell" && (pod.status?.phase !== "Running" || pod.metadata?.deletionTimestamp))
    return {
      status: 409,
      body: {
        error: "conflict",
        message: `workspace ${q.namespace}/${wsName} is not running: start it first`,
      },
    };
  return {
    namespace: q.namespace,
    workspace: wsName,
    pod: pod.metadata!.name!,
    container,
    role,
    exists: true,
  };
}

export { isRefusal };
