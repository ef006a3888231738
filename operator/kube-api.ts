/**
 * The reconciler's side effects against a real API server: server-side apply (field manager
 * `portico-operator`, so the operator owns exactly the fields it sets), uid-guarded deletes,
 * status writes with optimistic concurrency (Workspaces and GatewayRoutes), Events. Every request waits for the client-side
 * rate limiter; every write is counted in `portico_operator_api_writes_total`.
 */
import * as k8s from "@kubernetes/client-node";
import { PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import {
  GATEWAY_ROUTE,
  GROUP,
  VERSION,
  WORKSPACE,
  type GatewayRoute,
  type Workspace,
  type WorkspaceStatus,
} from "../crds/types.ts";
import type { GatewayRouteApi } from "./gateway/reconcile.ts";
import type { OperatorMetrics } from "./metrics.ts";
import type { TokenBucket } from "./ratelimit.ts";
import type { WorkspaceApi } from "./workspace/reconcile.ts";

export const FIELD_MANAGER = "portico-operator";

export function createWorkspaceApi(
  kc: k8s.KubeConfig,
  limiter: TokenBucket,
  metrics: OperatorMetrics,
  /** Events' own rate limit (client-go's recorder has its own client too), so they never delay a reconcile's writes. */
  eventLimiter: TokenBucket = limiter,
): WorkspaceApi & GatewayRouteApi {
  const objects = k8s.KubernetesObjectApi.makeApiClient(kc);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const write = async <T>(
    verb: string,
    resource: string | undefined,
    f: () => Promise<T>,
    bucket: TokenBucket = limiter,
  ): Promise<T> => {
    await bucket.take();
    metrics.apiWrites.inc({ verb, resource: (resource ?? "unknown").toLowerCase() });
    return f();
  };
  const ref = (o: k8s.KubernetesObject) => ({
    apiVersion: o.apiVersion,
    kind: o.kind,
    metadata: { name: o.metadata?.name, namespace: o.metadata?.namespace },
  });

  /**
   * Replaces an object's status, guarded by the resourceVersion it was computed from: a concurrent
   * change → 409 → retried with backoff from the newer object, never a blind overwrite.
   */
  const replaceStatus = async (plural: string, obj: Workspace | GatewayRoute, status: object) =>
    (await write("update", `${plural}/status`, () =>
      custom.replaceNamespacedCustomObjectStatus({
        group: GROUP,
        version: VERSION,
        plural,
        namespace: obj.metadata.namespace!,
        name: obj.metadata.name!,
        body: { ...obj, status },
        fieldManager: FIELD_MANAGER,
      }),
    )) as unknown;
  return {
    async apply(obj) {
      return write("apply", obj.kind, () =>
        objects.patch(obj, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply),
      );
    },
    async patch(obj, patch) {
      await write("patch", obj.kind, () =>
        objects.patch(
          {
            ...ref(obj),
            ...patch,
            metadata: { ...ref(obj).metadata, ...(patch as { metadata?: object }).metadata },
          },
          undefined,
          undefined,
          FIELD_MANAGER,
          undefined,
          PatchStrategy.MergePatch,
        ),
      );
    },
    async delete(obj) {
      await write("delete", obj.kind, async () => {
        try {
          // The uid precondition: never delete a newer object that reused the name.
          // Options in the body (the API server ignores the query's when a body is sent).
          await objects.delete(ref(obj), undefined, undefined, undefined, undefined, undefined, {
            propagationPolicy: "Background",
            preconditions: { uid: obj.metadata?.uid },
          });
        } catch (err) {
          const code = (err as { code?: number }).code;
          if (code !== 404 && code !== 409) throw err;
        }
      });
    },
    writeStatus: async (ws: Workspace, status: WorkspaceStatus) =>
      (await replaceStatus(WORKSPACE.plural, ws, status)) as Workspace,
    writeRouteStatus: async (route, status) =>
      void (await replaceStatus(GATEWAY_ROUTE.plural, route, status)),
    async secretExists(namespace, name) {
      await limiter.take();
      try {
        // Metadata only: the operator never needs (or logs) a secret's data.
        await core.readNamespacedSecret(
          { name, namespace },
          setHeaderOptions("Accept", "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"),
        );
        return true;
      } catch (err) {
        if ((err as { code?: number }).code === 404) return false;
        throw err;
      }
    },
    event(ws, type, reason, message) {
      // Recorded in the background, as client-go's event recorder does: a reconcile never waits
      // for an Event (they are rate-limited on their own bucket, in order).
      void write(
        "create",
        "events",
        () =>
          core
            .createNamespacedEvent({
              namespace: ws.metadata.namespace!,
              body: eventBody(ws, type, reason, message),
            })
            .catch(() => undefined), // an event lost is not worth a failed reconcile
        eventLimiter,
      ).catch(() => undefined);
      return Promise.resolve();
    },
  };
}

/** A Workspace's Event as the API wants it (timestamp now). */
function eventBody(ws: Workspace, type: string, reason: string, message: string): k8s.CoreV1Event {
  const now = new Date();
  return {
    metadata: { generateName: `${ws.metadata.name}.`, namespace: ws.metadata.namespace },
    involvedObject: {
      apiVersion: ws.apiVersion,
      kind: "Workspace",
      name: ws.metadata.name,
      namespace: ws.metadata.namespace,
      uid: ws.metadata.uid,
      resourceVersion: ws.metadata.resourceVersion,
    },
    type,
    reason,
    message,
    source: { component: FIELD_MANAGER },
    reportingComponent: FIELD_MANAGER,
    reportingInstance: FIELD_MANAGER,
    firstTimestamp: now,
    lastTimestamp: now,
    count: 1,
  };
}

/** Whether Istio's VirtualService API is served (its CRD is installed). */
export async function virtualServicesServed(kc: k8s.KubeConfig): Promise<boolean> {
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  try {
    await custom.listClusterCustomObject({
      group: "networking.istio.io",
      version: "v1",
      plural: "virtualservices",
      limit: 1,
    });
    return true;
  } catch (err) {
    if ((err as { code?: number }).code === 404) return false;
    throw err;
  }
}
