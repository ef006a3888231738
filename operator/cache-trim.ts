/**
 * What the operator's watched caches keep of each object (the `trim` of common/runtime/watched.ts):
 * everything the reconcilers, the status computation and the drift checks read, nothing else.
 *
 * - Every kind loses `metadata.managedFields` (the API server's field ownership, often the largest
 *   part of a small object) and kubectl's `last-applied-configuration` annotation (a second copy
 *   of the object). Nothing in the operator reads either; a /status write sends the trimmed
 *   Workspace back, and the API server keeps its managedFields when a body leaves them out.
 * - Pods keep metadata (creationTimestamp: the idle timeout's floor, workspace/idle.ts), spec.nodeName
 *   (where a sync pod must run), status.podIP (where the IDE probe polls) and the status fields status.ts
 *   reads; the rest of their spec is never read (a spec
 *   change is detected by the pod-spec-hash annotation, build.ts).
 * - EndpointSlices keep ports and each endpoint's addresses and conditions
 *   (common/model/gateway/endpoints.ts), not its node, zone, target reference and hints.
 * - Workspaces, classes, claims, Services, NetworkPolicies, VirtualServices and GatewayRoutes keep
 *   spec and status whole: the drift checks compare specs, and they are small.
 *
 * Pure: each returns a new object and leaves its argument alone.
 */
import type { KubernetesObject, V1ContainerStatus, V1ObjectMeta, V1Pod } from "@kubernetes/client-node";

export const LAST_APPLIED_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration";

/** Metadata without managedFields and kubectl's last-applied annotation. */
export function trimMetadata(meta: V1ObjectMeta | undefined): V1ObjectMeta | undefined {
  if (!meta) return meta;
  const { managedFields: _managed, annotations, ...rest } = meta;
  if (!annotations) return rest;
  if (!(LAST_APPLIED_ANNOTATION in annotations)) return { ...rest, annotations };
  const { [LAST_APPLIED_ANNOTATION]: _lastApplied, ...kept } = annotations;
  return Object.keys(kept).length ? { ...rest, annotations: kept } : rest;
}

/** Any kind: the object with trimmed metadata. */
export function trimObject<T extends KubernetesObject>(obj: T): T {
  return { ...obj, metadata: trimMetadata(obj.metadata) };
}

/** What status.ts reads of a container: name, image, states (and ready, restart count for people). */
const trimContainerStatus = (s: V1ContainerStatus): V1ContainerStatus =>
  ({
    name: s.name,
    image: s.image,
    ready: s.ready,
    restartCount: s.restartCount,
    ...(s.state ? { state: s.state } : {}),
    ...(s.lastState ? { lastState: s.lastState } : {}),
  }) as V1ContainerStatus;

/** A Pod: metadata, and of its status the phase, reason, message, pod IP, conditions and container states. */
export function trimPod(pod: V1Pod): V1Pod {
  const s = pod.status;
  return {
    apiVersion: pod.apiVersion,
    kind: pod.kind,
    metadata: trimMetadata(pod.metadata),
    // The node, for the sync pod that must run beside the workspace's (its volume is ReadWriteOnce).
    ...(pod.spec?.nodeName ? { spec: { nodeName: pod.spec.nodeName, containers: [] } } : {}),
    ...(s
      ? {
          status: {
            ...(s.phase !== undefined ? { phase: s.phase } : {}),
            ...(s.reason !== undefined ? { reason: s.reason } : {}),
            ...(s.message !== undefined ? { message: s.message } : {}),
            // Where the IDE probe (workspace/probe.ts) polls the IDE.
            ...(s.podIP !== undefined ? { podIP: s.podIP } : {}),
            ...(s.conditions ? { conditions: s.conditions } : {}),
            ...(s.initContainerStatuses
              ? { initContainerStatuses: s.initContainerStatuses.map(trimContainerStatus) }
              : {}),
            ...(s.containerStatuses
              ? { containerStatuses: s.containerStatuses.map(trimContainerStatus) }
              : {}),
          },
        }
      : {}),
  };
}

/** The wire shape of an EndpointSlice, as far as this reads it. */
export interface EndpointSliceWire extends KubernetesObject {
  addressType?: string;
  ports?: unknown[] | null;
  endpoints?: { addresses: string[]; conditions?: unknown }[] | null;
}

/** An EndpointSlice: metadata, address type, ports, and each endpoint's addresses and conditions. */
export function trimEndpointSlice(slice: EndpointSliceWire): EndpointSliceWire {
  return {
    apiVersion: slice.apiVersion,
    kind: slice.kind,
    metadata: trimMetadata(slice.metadata),
    ...(slice.addressType !== undefined ? { addressType: slice.addressType } : {}),
    ...(slice.ports !== undefined ? { ports: slice.ports } : {}),
    ...(slice.endpoints !== undefined
      ? {
          endpoints:
            slice.endpoints?.map((e) => ({
              addresses: e.addresses,
              ...(e.conditions !== undefined ? { conditions: e.conditions } : {}),
            })) ?? null,
        }
      : {}),
  };
}
