/**
 * The API surface: the self-service REST API (`/api/v1/...`, proxy/api/rest.ts) and GraphQL
 * (`POST /graphql`, proxy/api/graphql.ts) on any host that is not a workspace's own, for identified
 * callers only (an unauthenticated one got the dispatcher's 401 or login redirect before this).
 * On a host that is neither the base domain nor the public URL's, a GatewayRoute that matches the
 * request keeps it: a route's own `/api/v1/...` or `/graphql` reaches its backends, not Portico's API
 * (as the console yields `/` there).
 *
 *   claim (path, not a workspace host) → origin (unsafe methods) → caller into res.locals → express app
 *   (route label for the metrics → REST: body rules (415, 413, 400), checks against the OpenAPI
 *   document → service → answer | GraphQL: its handler, which reads and bounds the body itself)
 *
 * It runs after the status surface, which keeps `/api/v1/workspaces/{ns}/{name}/events` and
 * `/api/v1/analysis/events/{ide}`, and claims neither `/api/v1/connect/...` (a workspace's
 * seed-compatible path: the workspace surface's). With `--api=false`, or no service handed to the
 * server (a read-only proxy), it claims nothing: those paths then reach the 404 of the dispatcher.
 *
 * The origin pass comes before anything runs: a page of another origin (another site, or a
 * workspace's own host, which shares the base domain and so the session cookie) cannot make the
 * API change anything with the visitor's cookie. The API has no allow-list: its own origin only.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "../../common/runtime/log.ts";
import { createGraphqlHandler } from "../api/graphql.ts";
import { API_PREFIX } from "../api/openapi.ts";
import { createApiApp, methodNotAllowed, type ApiLocals } from "../api/rest.ts";
import type { WorkspaceApi } from "../api/types.ts";
import type { ProxyConfig } from "../config.ts";
import { sendJson } from "../http/errors.ts";
import type { Refusal } from "../http/request.ts";
import type { RouteTable } from "../routing/table.ts";
import { consoleHosts } from "./console.ts";
import type { OriginPass } from "./passes.ts";
import type { Addressed, Surface } from "./surface.ts";

export interface ApiSurfaceDeps {
  config: Pick<ProxyConfig, "api" | "routingConfig" | "identity">;
  /** The service layer; absent: the proxy serves no API. */
  api: WorkspaceApi | undefined;
  table: Pick<RouteTable, "isWorkspaceHost">;
  /** Whether a GatewayRoute matches the request (it then keeps it on hosts that are not Portico's own). */
  gatewayMatches: (req: IncomingMessage, at: Addressed) => boolean;
  origin: OriginPass;
  log: Logger;
}

/**
 * Whether the API serves a request: a path it claims, on a host that is not a workspace's, and not
 * one a GatewayRoute serves (Portico's own hosts excepted: the API there wins). Pure.
 */
export function apiServes(
  path: string,
  host: string,
  p: {
    ownHosts: ReadonlySet<string>;
    isWorkspaceHost: (h: string) => boolean;
    gatewayMatches: () => boolean;
  },
): boolean {
  if (!claimsPath(path) || p.isWorkspaceHost(host)) return false;
  return p.ownHosts.has(host) || !p.gatewayMatches();
}

/** The GraphQL endpoint. */
export const GRAPHQL_PATH = "/graphql";

/** Whether the API claims `path` (any host but a workspace's). Pure. */
export function claimsPath(path: string): boolean {
  if (path === GRAPHQL_PATH) return true;
  if (path !== API_PREFIX && !path.startsWith(`${API_PREFIX}/`)) return false;
  return path !== `${API_PREFIX}/connect` && !path.startsWith(`${API_PREFIX}/connect/`);
}

/**
 * The origin pass's refusal in the API's words: the API lists no other origins, so the message says
 * who may call it rather than where an allow-list would be.
 */
export function apiOriginRefusal(r: Refusal): Refusal {
  const message = r.body.message.replace(
    /: only pages of (\S+) itself.*$/,
    ": only pages of $1 itself may change things through the API (clients that send no Origin header, " +
      "such as curl or a script with a bearer token, may too)",
  );
  return { ...r, body: { ...r.body, message } };
}

export function apiSurface({ config, api, table, gatewayMatches, origin, log }: ApiSurfaceDeps): Surface {
  if (!config.api.enabled || !api) return {};
  const ownHosts = consoleHosts(config.routingConfig.baseDomain, config.identity.publicUrl);
  const app = createApiApp({ api, config: config.api, log }, (a) => {
    // POST goes to the GraphQL handler with no body parser in front: it reads and bounds the body
    // itself and answers its refusals (415, 413, malformed JSON, batches) as GraphQL errors with a
    // code. Any other method is the API's 405 with Allow, as on every API path: queries and
    // mutations alike run over POST only.
    a.post(
      GRAPHQL_PATH,
      (_req, res, next) => {
        (res.locals as ApiLocals).onRoute?.(`api:POST ${GRAPHQL_PATH}`);
        next();
      },
      createGraphqlHandler({ api, config: config.api, log }),
    );
    a.all(GRAPHQL_PATH, methodNotAllowed(GRAPHQL_PATH, ["POST"]));
  });
  return {
    serve(req, res, at, ctx, who) {
      const { host, target } = at;
      const serves = apiServes(target.path, host, {
        ownHosts,
        isWorkspaceHost: (h) => table.isWorkspaceHost(h),
        gatewayMatches: () => gatewayMatches(req, at),
      });
      if (!serves) return false;
      ctx.route = "api:origin";
      const refused = origin(req, undefined, "-");
      if (refused) {
        const r = apiOriginRefusal(refused);
        sendJson(res, r.status, r.body, r.headers);
        return true;
      }
      ctx.route = "api:unknown";
      // express keeps locals it finds on the response (app.handle): the caller and the label setter.
      const locals: ApiLocals = { who, onRoute: (label) => (ctx.route = label) };
      (res as ServerResponse & { locals: ApiLocals }).locals = locals;
      app(req, res);
      return true;
    },
  };
}
