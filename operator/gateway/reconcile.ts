/**
 * Reconcile one GatewayRoute's status: observe (the cached routes, Services and EndpointSlices) →
 * compile the table of every route (conflicts are between routes) → compute this route's status
 * (pure, status.ts) → write /status only when it says something new. The operator never edits a
 * route's spec and creates nothing for it: the proxy serves routes from its own caches.
 *
 * Which keys a change concerns (main.ts wires these to the watches): any route change concerns
 * every route (one route's arrival or departure can start or end another's conflict); a Service or
 * EndpointSlice change concerns the routes of its namespace that name that Service.
 */
import type { GatewayRoute, GatewayRouteStatus } from "../../crds/types.ts";
import type { Logger } from "../../common/runtime/log.ts";
import type { Cache } from "../workspace/reconcile.ts";
import { SERVICE_NAME_LABEL, type ClusterView } from "../../common/model/gateway/endpoints.ts";
import { compileGatewayTable } from "../../common/model/gateway/match.ts";
import type { GatewayTable } from "../../common/model/gateway/model.ts";
import { gatewayRouteStatus, routeStatusDiffers } from "./status.ts";

/** The one write a route's reconcile may make. */
export interface GatewayRouteApi {
  /** Replaces the route's status, guarded by the route's resourceVersion. */
  writeRouteStatus(route: GatewayRoute, status: GatewayRouteStatus): Promise<void>;
}

export interface GatewayRouteDeps {
  routes: Cache<GatewayRoute>;
  view: ClusterView;
  api: GatewayRouteApi;
  /** The table of the given routes; `memoTable()` compiles again only when a route changed. */
  table(routes: readonly GatewayRoute[]): GatewayTable;
  log: Pick<Logger, "info">;
  now(): Date;
}

/** `namespace/name`, the key the table reports problems and conflicts under. */
export const routeKey = (namespace: string, name: string) => `${namespace}/${name}`;

export async function reconcileGatewayRoute(
  namespace: string,
  name: string,
  d: GatewayRouteDeps,
): Promise<void> {
  const route = d.routes.get(name, namespace);
  if (!route || route.metadata.deletionTimestamp) return; // gone or going: no status to keep
  const table = d.table(d.routes.list());
  const key = routeKey(namespace, name);
  const status = gatewayRouteStatus(route, {
    problems: table.problems.get(key) ?? [],
    conflicts: table.conflicts.get(key) ?? [],
    view: d.view,
    now: d.now(),
    previous: route.status,
  });
  if (!routeStatusDiffers(route.status, status)) return;
  await d.api.writeRouteStatus(route, status);
  const summary = Object.fromEntries((status.conditions ?? []).map((c) => [c.type, c.reason]));
  d.log.info("route status written", {
    gatewayRoute: key,
    ...summary,
    backends: `${status.backends?.healthy ?? 0}/${status.backends?.total ?? 0}`,
  });
}

/**
 * A compile that is reused while the routes are the very same objects (the cache replaces an object
 * on every change, so identity is enough): N reconciles after one change compile once, not N times.
 */
export function memoTable(
  compile: (routes: readonly GatewayRoute[]) => GatewayTable = compileGatewayTable,
): (routes: readonly GatewayRoute[]) => GatewayTable {
  let last: { routes: readonly GatewayRoute[]; table: GatewayTable } | undefined;
  return (routes) => {
    if (last && last.routes.length === routes.length && last.routes.every((r, i) => r === routes[i]))
      return last.table;
    last = { routes: [...routes], table: compile(routes) };
    return last.table;
  };
}

/** Whether a route has a Service backend named `service` (in its own namespace). */
export const namesService = (route: GatewayRoute, service: string): boolean =>
  route.spec.rules.some((r) => r.backends.some((b) => b.service?.name === service));

/** The routes of `namespace` that name `service`: those a Service change concerns. */
export function routesNaming(
  routes: Cache<GatewayRoute>,
  namespace: string,
  service: string,
): GatewayRoute[] {
  return routes.list(namespace).filter((r) => namesService(r, service));
}

/** The Service an EndpointSlice belongs to, from its `kubernetes.io/service-name` label. */
export const sliceService = (slice: { metadata?: { labels?: Record<string, string> } }): string | undefined =>
  slice.metadata?.labels?.[SERVICE_NAME_LABEL];

/**
 * Whether a route update can change any route's status: its spec (generation), its deletion, or its
 * creation time (which decides conflicts). A status-only update — our own write coming back — cannot.
 */
export function routeChangeMatters(route: GatewayRoute, old: GatewayRoute | undefined): boolean {
  if (!old) return true;
  return (
    old.metadata.generation !== route.metadata.generation ||
    String(old.metadata.deletionTimestamp ?? "") !== String(route.metadata.deletionTimestamp ?? "") ||
    String(old.metadata.creationTimestamp ?? "") !== String(route.metadata.creationTimestamp ?? "")
  );
}
