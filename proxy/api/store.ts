/**
 * The API's writes, as the proxy's ServiceAccount: Workspace objects (create, merge-patch, delete with
 * a resourceVersion precondition), a workspace's own claim when its user asks for the files to go,
 * and the IDE container's log. The only module of the API that talks to the API server; reads come
 * from the informer caches. API server refusals become ApiErrors that keep its message (it names the
 * field: the CRD's schema and CEL rules are the last check).
 */
import * as k8s from "@kubernetes/client-node";
import { PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import { GROUP, VERSION, WORKSPACE, type Workspace } from "../../crds/types.ts";
import { ApiError } from "./types.ts";

/** What the service asks of the cluster. */
export interface WorkspaceStore {
  create(namespace: string, ws: Workspace): Promise<Workspace>;
  /** JSON merge patch; `resourceVersion`: refused with 412 when the object changed since. */
  patch(namespace: string, name: string, patch: object, resourceVersion?: string): Promise<Workspace>;
  /** Direct read, for what the caches cannot know yet (an object another replica just made). */
  read(namespace: string, name: string): Promise<Workspace | undefined>;
  delete(namespace: string, name: string, resourceVersion?: string): Promise<void>;
  /** Deletes claim `name` only if it still carries `labels` (it is the workspace's own). */
  deleteClaim(namespace: string, name: string, labels: Record<string, string>): Promise<boolean>;
  podLog(namespace: string, pod: string, container: string, lines: number): Promise<string>;
}

/** The API server's message in a client-node error. */
function serverMessage(err: unknown): string {
  const e = err as { body?: unknown; message?: string };
  if (typeof e.body === "string") {
    try {
      const parsed = JSON.parse(e.body) as { message?: string };
      if (parsed.message) return parsed.message;
    } catch {
      return e.body.slice(0, 500);
    }
  }
  return e.message ?? String(err);
}

/**
 * An API server refusal as the API answers it. 422 (schema or CEL rule) keeps the server's message,
 * which names the field; 409 on a precondition is 412 for the client, who sent If-Match.
 */
export function asApiError(err: unknown, what: string, precondition = false): ApiError {
  const code = (err as { code?: unknown }).code;
  const message = serverMessage(err);
  if (code === 404) return new ApiError(404, "not_found", `${what} not found`);
  if (code === 409 && precondition)
    return new ApiError(412, "precondition_failed", `${what} changed since the version you sent (If-Match)`);
  if (code === 409) return new ApiError(409, "conflict", `${what}: ${message}`);
  if (code === 422 || code === 400) return new ApiError(400, "invalid", message, fieldOf(message));
  if (code === 403)
    return new ApiError(
      503,
      "unavailable",
      `the proxy may not change ${what} (its RBAC): ask your platform team`,
    );
  return new ApiError(503, "unavailable", `the cluster could not be asked about ${what}; retry`);
}

/** `spec.storage.size` from "Workspace.portico.dev \"x\" is invalid: spec.storage.size: Invalid value…". */
export function fieldOf(message: string): string | undefined {
  const m = /(?:^|[:\s[])((?:metadata|spec)\.[A-Za-z0-9_.[\]]+)(?=: )/.exec(message);
  return m?.[1]?.replace(/^spec\./, "");
}

const CUSTOM = { group: GROUP, version: VERSION, plural: WORKSPACE.plural };

export function kubeStore(kc: k8s.KubeConfig): WorkspaceStore {
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const key = (ns: string, name: string) => `workspace ${ns}/${name}`;
  return {
    async create(namespace, ws) {
      try {
        return (await custom.createNamespacedCustomObject({ ...CUSTOM, namespace, body: ws })) as Workspace;
      } catch (err) {
        throw asApiError(err, key(namespace, ws.metadata.name ?? ""));
      }
    },
    async patch(namespace, name, patch, resourceVersion) {
      const body = resourceVersion
        ? { ...patch, metadata: { ...(patch as { metadata?: object }).metadata, resourceVersion } }
        : patch;
      try {
        return (await custom.patchNamespacedCustomObject(
          { ...CUSTOM, namespace, name, body },
          setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
        )) as Workspace;
      } catch (err) {
        throw asApiError(err, key(namespace, name), resourceVersion !== undefined);
      }
    },
    async read(namespace, name) {
      try {
        return (await custom.getNamespacedCustomObject({ ...CUSTOM, namespace, name })) as Workspace;
      } catch (err) {
        if ((err as { code?: unknown }).code === 404) return undefined;
        throw asApiError(err, key(namespace, name));
      }
    },
    async delete(namespace, name, resourceVersion) {
      try {
        await custom.deleteNamespacedCustomObject({
          ...CUSTOM,
          namespace,
          name,
          body: {
            propagationPolicy: "Background",
            ...(resourceVersion ? { preconditions: { resourceVersion } } : {}),
          },
        });
      } catch (err) {
        throw asApiError(err, key(namespace, name), resourceVersion !== undefined);
      }
    },
    async deleteClaim(namespace, name, labels) {
      try {
        const pvc = await core.readNamespacedPersistentVolumeClaim({ namespace, name });
        const have = pvc.metadata?.labels ?? {};
        if (Object.entries(labels).some(([k, v]) => have[k] !== v)) return false;
        await core.deleteNamespacedPersistentVolumeClaim({
          namespace,
          name,
          body: { preconditions: { uid: pvc.metadata?.uid } },
        });
        return true;
      } catch (err) {
        if ((err as { code?: unknown }).code === 404) return false;
        throw asApiError(err, `volume ${namespace}/${name}`);
      }
    },
    async podLog(namespace, pod, container, lines) {
      try {
        return await core.readNamespacedPodLog({ namespace, name: pod, container, tailLines: lines });
      } catch (err) {
        const code = (err as { code?: unknown }).code;
        if (code === 400 || code === 404)
          throw new ApiError(
            409,
            "conflict",
            `the workspace's IDE has no log yet (it is not running): ${serverMessage(err).slice(0, 200)}`,
          );
        throw asApiError(err, `the log of ${namespace}/${pod}`);
      }
    },
  };
}
