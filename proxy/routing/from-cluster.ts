/**
 * Cluster objects → a `Route`: the one place that knows both Kubernetes shapes and the route table.
 * Pure: same objects in, same route out.
 *
 * A workspace is routable (state `ready`) once its Ready condition is True and an upstream is known:
 * a ready endpoint of its Service's EndpointSlices (label `kubernetes.io/service-name`), else, when
 * `serviceFallback` is on and the proxy sees no EndpointSlice of that Service at all (it cannot watch
 * them, or the cluster does not make them), the Service's DNS name. A Service whose slices are there
 * but list no ready endpoint is starting: its DNS name would lead nowhere better (a killed pod's
 * Service resolves to no address), and the waiting page with Retry-After is the honest answer.
 * The class decides how the base path reaches the IDE.
 */
import type { V1EndpointSlice } from "@kubernetes/client-node";
import type { Workspace, WorkspaceClass } from "../../crds/types.ts";
import { PORT_NAME, SERVICE_PORT, childNames } from "../../common/model/workspace/names.ts";
import { basePath } from "../../common/model/workspace/template.ts";
import type { RoutingConfig } from "../config.ts";
import { isIdleStopped } from "../../common/model/workspace/lifecycle.ts";
import type { Route, RouteState, Upstream } from "./table.ts";

/** The label EndpointSlices carry with their Service's name. */
export const SERVICE_NAME_LABEL = "kubernetes.io/service-name";

/** The class a workspace runs: as the operator resolved it, else as asked. */
export const classNameOf = (ws: Workspace): string =>
  ws.status?.className ?? ws.spec.className ?? ws.spec.ide ?? "";

const readyCondition = (ws: Workspace) => ws.status?.conditions?.find((c) => c.type === "Ready");

/** The first ready endpoint (address + the Service's target port) among a Service's slices. */
export function readyEndpoint(slices: readonly V1EndpointSlice[], serviceName: string): Upstream | undefined {
  for (const s of slices) {
    if (s.metadata?.labels?.[SERVICE_NAME_LABEL] !== serviceName) continue;
    const port = (s.ports ?? []).find((p) => p.name === PORT_NAME) ?? s.ports?.[0];
    if (!port?.port) continue;
    for (const e of s.endpoints ?? []) {
      // `ready` unset means ready (the API's documented default); terminating endpoints are skipped.
      if (e.conditions?.ready === false || e.conditions?.terminating === true) continue;
      const address = e.addresses[0];
      if (address) return { host: address, port: port.port };
    }
  }
  return undefined;
}

function stateOf(ws: Workspace, upstream: Upstream | undefined): RouteState {
  const phase = ws.status?.phase;
  if (ws.spec.running === false || isIdleStopped(ws)) return "stopped";
  // Asked to run and not idle-stopped, but the operator has not started it yet (a wake, a start).
  if (phase === "Stopped" || phase === "Stopping") return "starting";
  if (phase === "Failed") return "failed";
  if (readyCondition(ws)?.status === "True" && upstream) return "ready";
  return "starting";
}

/**
 * The route of `ws`. `slices`: EndpointSlices of the workspace's namespace (others are ignored by
 * their label). `cls` may be absent (class not found): the route then has no IDE specifics.
 */
export function toRoute(
  ws: Workspace,
  cls: WorkspaceClass | undefined,
  slices: readonly V1EndpointSlice[],
  config: RoutingConfig,
): Route {
  const namespace = ws.metadata.namespace ?? "";
  const name = ws.metadata.name ?? "";
  const service = childNames(ws).service;
  let upstream = readyEndpoint(slices, service);
  if (
    !upstream &&
    config.serviceFallback &&
    !slices.some((s) => s.metadata?.labels?.[SERVICE_NAME_LABEL] === service)
  )
    upstream = { host: `${service}.${namespace}.svc.${config.clusterDomain}`, port: SERVICE_PORT };
  const state = stateOf(ws, upstream);
  const bp = cls?.spec.basePath ?? {};
  const created = ws.metadata.creationTimestamp;
  return {
    namespace,
    name,
    owner: ws.spec.owner,
    ...(ws.spec.sharedWith ? { sharedWith: ws.spec.sharedWith } : {}),
    className: classNameOf(ws),
    created: created instanceof Date ? created.toISOString() : (created ?? ""),
    state,
    message: ws.status?.message ?? readyCondition(ws)?.message ?? "",
    ...(state === "ready" ? { upstream } : {}),
    idePrefix: basePath(ws, config),
    stripPrefix: bp.stripPrefix ?? false,
    requestHeaders: (bp.requestHeaders ?? []).map((h) => ({ name: h.name, value: h.value })),
    rewriteLocation: bp.rewriteLocation ?? false,
    rewriteCookiePath: bp.rewriteCookiePath ?? false,
    ...(cls?.spec.forwardToken ? { forwardToken: true } : {}),
    ...(cls?.spec.allowedOrigins?.length ? { allowedOrigins: cls.spec.allowedOrigins } : {}),
    ...(isIdleStopped(ws) ? { idleStopped: true } : {}),
    ...(cls?.spec.idle?.ignoreWebSocketMessagesUpTo
      ? { ignoreWebSocketMessagesUpTo: cls.spec.idle.ignoreWebSocketMessagesUpTo }
      : {}),
  };
}
