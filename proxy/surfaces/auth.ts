/**
 * The auth endpoints surface: `/__portico/auth/{login,callback,logout}` on any host that is not a
 * workspace's own (a workspace's page must not be able to start or end a login on its origin).
 * Served before identification; limited per client IP like the rest, as they seal cookies and call
 * the OpenID provider.
 *
 *   claim (prefix, not a workspace host) → method (GET, POST) → per-IP limit → gate.serveAuthRoute
 */
import { AUTH_PREFIX, type Gate } from "../auth/gate.ts";
import { sendJson } from "../http/errors.ts";
import { checkMethod } from "../http/request.ts";
import type { RouteTable } from "../routing/table.ts";
import { ipLimited } from "./passes.ts";
import type { Surface } from "./surface.ts";

export interface AuthSurfaceDeps {
  gate: Gate;
  table: Pick<RouteTable, "isWorkspaceHost">;
}

export function authSurface({ gate, table }: AuthSurfaceDeps): Surface {
  return {
    beforeIdentity(req, res, { host, target }, ctx) {
      if (!target.path.startsWith(AUTH_PREFIX) || table.isWorkspaceHost(host)) return false;
      ctx.route = "auth";
      const refusal =
        req.method !== "GET" && req.method !== "POST"
          ? checkMethod(req.method, ["GET"])
          : ipLimited(gate.limitIp(ctx.remote));
      if (refusal) sendJson(res, refusal.status, refusal.body, refusal.headers);
      else gate.serveAuthRoute(req, res, target.path, target.query);
      return true;
    },
  };
}
