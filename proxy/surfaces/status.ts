/**
 * The status streams surface: a workspace's status as server-sent events (proxy/events.ts) at
 * `/api/v1/workspaces/{namespace}/{name}/events` and the compatible `/api/v1/analysis/events/{ide}`
 * (the oldest workspace of class `{ide}` in the compatible namespace, `?owner=` to pick one), on any
 * host that is not a workspace's own. (A workspace's own `{prefix}/__portico/events` is served by the
 * workspace surface, under that workspace's checks.)
 *
 *   claim (path, not a workspace host) → GET only → resolve → authorize → hold a connection → stream
 */
import type { Identity } from "../auth/identity.ts";
import { mayOpen } from "../auth/identity.ts";
import type { ProxyConfig } from "../config.ts";
import type { EventHub } from "../events.ts";
import { sendJson } from "../http/errors.ts";
import { checkMethod, type Refusal } from "../http/request.ts";
import type { Route, RouteTable } from "../routing/table.ts";
import { statusStream, type LongLivedConnections } from "./passes.ts";
import type { Surface } from "./surface.ts";

const EVENTS_RE = /^\/api\/v1\/workspaces\/([^/]+)\/([^/]+)\/events$/;
const COMPAT_EVENTS_RE = /^\/api\/v1\/analysis\/events\/([^/]+)$/;

export interface StatusSurfaceDeps {
  config: Pick<ProxyConfig, "compatNamespace" | "identity">;
  table: Pick<RouteTable, "isWorkspaceHost" | "get" | "list">;
  events: Pick<EventHub, "serve">;
  connections: LongLivedConnections;
}

/** 403 for a workspace the caller may not open (the same words as the workspace surface's). */
export function forbidden(r: Pick<Route, "namespace" | "name">): Refusal {
  return {
    status: 403,
    body: { error: "forbidden", message: `you may not open workspace ${r.namespace}/${r.name}` },
  };
}

/**
 * The compatible stream's workspace: of class `ide` in `namespace` (owned by `owner` when given), the
 * oldest, then the first by name, so every replica picks the same one.
 */
export function compatRoute(
  routes: Iterable<Route>,
  namespace: string,
  ide: string,
  owner: string | undefined,
): Route | undefined {
  let best: Route | undefined;
  for (const r of routes) {
    if (r.namespace !== namespace || r.className !== ide) continue;
    if (owner !== undefined && r.owner !== owner) continue;
    if (!best || r.created < best.created || (r.created === best.created && r.name < best.name)) best = r;
  }
  return best;
}

export function statusSurface({ config, table, events, connections }: StatusSurfaceDeps): Surface {
  const adminRoles = config.identity.adminRoles;
  return {
    serve(req, res, { host, target }, ctx, who: Identity) {
      if (table.isWorkspaceHost(host)) return false;
      const ev = EVENTS_RE.test(target.path);
      if (!ev && !COMPAT_EVENTS_RE.test(target.path)) return false;
      ctx.route = "api";
      const refuse = (r: Refusal) => void sendJson(res, r.status, r.body, r.headers);
      if (req.method !== "GET") return (refuse(checkMethod(req.method, ["GET"])!), true);
      let ns = target.segments[3]!;
      let name = target.segments[4]!;
      if (ev) {
        // A workspace not (yet) in the table still gets a stream: the hub says so and follows it.
        const r = table.get(ns, name);
        if (r && !mayOpen(who, r, adminRoles)) return (refuse(forbidden(r)), true);
      } else {
        const owner = new URLSearchParams(target.query.slice(1)).get("owner") ?? undefined;
        const r = compatRoute(table.list(), config.compatNamespace, name, owner);
        if (!r) {
          const by = owner ? ` owned by ${owner}` : "";
          const message = `no ${name} workspace in namespace ${config.compatNamespace}${by}`;
          return (sendJson(res, 404, { error: "not_found", message }), true);
        }
        if (!mayOpen(who, r, adminRoles)) return (refuse(forbidden(r)), true);
        [ns, name] = [r.namespace, r.name];
      }
      statusStream(events, connections, req, res, ctx, who, { namespace: ns, name });
      return true;
    },
  };
}
