/**
 * The workspace traffic surface: a request the route table (routing/table.ts) matches goes to that
 * workspace's IDE.
 *
 *   HTTP:      match → (redirect) → authorize → own host (host mode) → origin → own status stream
 *              → workspace state (waiting page / stopped / failed) → to the IDE: strip gateway
 *              credentials, forwarded and class headers → stream (response passes: Location,
 *              Set-Cookie path, frame headers)
 *   WebSocket: match → per-IP limit → identify → authorize → own host → origin → per-user limit
 *              → hold a connection → ready? → relay
 *
 * In host mode a workspace is served on its own host only: the compatible path on any other host
 * answers 308 to `{scheme}://{name}--{namespace}.{baseDomain}[:port]{rest}{query}`. Identity and
 * authorization come before an upgrade completes: a refused client never gets a WebSocket, and the
 * IDE never sees its handshake.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import type { Logger } from "../../common/runtime/log.ts";
import type { Gate } from "../auth/gate.ts";
import { forwardedToken, mayOpen, type Identity } from "../auth/identity.ts";
import type { ProxyConfig } from "../config.ts";
import type { EventHub } from "../events.ts";
import type { ClientAddress } from "../http/client.ts";
import { classifyUpstreamError, errorCode, rejectSocket, sendJson } from "../http/errors.ts";
import { BodyTooLarge, type Forwarder } from "../http/forward.ts";
import { publicScheme } from "../http/origin.ts";
import {
  bodyTooLarge,
  forwardedHeaders,
  routeHeaders,
  stripCredentials,
  wantsHtml,
  type Refusal,
} from "../http/request.ts";
import { rewriteCookiePath, rewriteLocation, securityHeaders } from "../http/response.ts";
import { EVENTS_SUFFIX, waitingPage } from "../http/waiting.ts";
import { upstreamHeaders, type WsRelay } from "../http/websocket.ts";
import type { ProxyMetrics } from "../metrics.ts";
import type { OwnHostMatch, Route, RouteMatch, RouteTable } from "../routing/table.ts";
import {
  AUTH_UNAVAILABLE,
  CLASS_HINT,
  afterIdentify,
  ipLimited,
  statusStream,
  unauthenticated,
  userLimited,
  type LongLivedConnections,
  type OriginPass,
} from "./passes.ts";
import { forbidden } from "./status.ts";
import type { Addressed, Surface, UpgradeCtx } from "./surface.ts";

export interface WorkspaceSurfaceDeps {
  config: ProxyConfig;
  gate: Gate;
  table: Pick<RouteTable, "match">;
  events: Pick<EventHub, "serve">;
  forwarder: Forwarder;
  relay: WsRelay;
  metrics: ProxyMetrics;
  log: Logger;
  connections: LongLivedConnections;
  origin: OriginPass;
}

/** Host mode, compatible path on a host not the workspace's own: 308 to where the workspace lives. */
export function ownHost(m: OwnHostMatch, scheme: string, requestHost: string | undefined): Refusal {
  const port = /:(\d{1,5})$/.exec(requestHost ?? "")?.[1];
  const location = `${scheme}://${m.host}${port ? `:${port}` : ""}${m.path}`;
  return {
    status: 308,
    body: {
      error: "own_host",
      message: `workspace ${m.route.namespace}/${m.route.name} is served on its own host only: ${location}`,
    },
    headers: { location },
  };
}

/** 404 for a request no route claims. */
export const notRouted = ({ host, target }: Addressed): Refusal => ({
  status: 404,
  body: { error: "not_found", message: `no workspace is routed at ${host}${target.path}` },
});

/**
 * The request passes on the way to an IDE (HTTP and WebSocket alike): the gateway's credentials
 * out, the user's own token in only where the class asks for it and the user is the owner (never
 * the session cookie), the X-Forwarded-* and the class's headers. Returns the upstream's
 * `host:port` (IPv6 bracketed).
 */
export function toIde(
  req: IncomingMessage,
  m: RouteMatch,
  who: Identity,
  client: ClientAddress,
  config: Pick<ProxyConfig, "sessionCookie" | "trustForwarded">,
): string {
  const route = m.route;
  stripCredentials(req.headers, config.sessionCookie);
  const token = route.forwardToken ? forwardedToken(who, route.owner) : undefined;
  if (token) req.headers.authorization = `Bearer ${token}`;
  forwardedHeaders(req.headers, {
    client,
    proto: "http",
    host: req.headers.host!,
    prefix: m.publicPrefix,
    trust: config.trustForwarded,
  });
  routeHeaders(req.headers, route.requestHeaders, m.publicPrefix);
  const { host, port } = route.upstream!;
  return `${host.includes(":") ? `[${host}]` : host}:${port}`;
}

/** Response passes: the IDE's headers, changed in place before the client sees them. */
export function responsePasses(
  req: IncomingMessage,
  m: RouteMatch,
  headers: IncomingHttpHeaders,
  frameAncestors: string,
): void {
  const from = m.route.stripPrefix ? "" : m.route.idePrefix;
  const up = m.route.upstream;
  if (m.route.rewriteLocation && headers.location) {
    const own = [req.headers.host ?? "", up ? `${up.host}:${up.port}` : ""].filter(Boolean);
    headers.location = rewriteLocation(headers.location, from, m.publicPrefix, own);
  }
  if (m.route.rewriteCookiePath && headers["set-cookie"])
    headers["set-cookie"] = rewriteCookiePath(headers["set-cookie"], from, m.publicPrefix);
  securityHeaders(headers, frameAncestors);
}

/** A workspace that is not ready: stopped 404, failed 503, starting 503 (a waiting page for browsers). */
function notReady(req: IncomingMessage, res: ServerResponse, m: RouteMatch, frameAncestors: string): void {
  const r = m.route;
  const ws = `${r.namespace}/${r.name}`;
  if (r.state === "stopped")
    return sendJson(res, 404, {
      error: "workspace_stopped",
      message: `workspace ${ws} is stopped; set spec.running to true to start it`,
    });
  if (r.state === "failed")
    return sendJson(res, 503, {
      error: "workspace_failed",
      message: `workspace ${ws} failed: ${r.message}`,
    });
  if (wantsHtml(req.headers) && (req.method === "GET" || req.method === "HEAD")) {
    const html = waitingPage(r.namespace, r.name, r.message, `${m.publicPrefix}${EVENTS_SUFFIX}`);
    if (res.writableEnded) return;
    res.writeHead(503, {
      "content-type": "text/html; charset=utf-8",
      "content-length": Buffer.byteLength(html),
      "cache-control": "no-store",
      "retry-after": "2",
      "content-security-policy": `frame-ancestors ${frameAncestors}`,
    });
    res.end(req.method === "HEAD" ? undefined : html);
    return;
  }
  const message = `workspace ${ws} is starting${r.message ? `: ${r.message}` : ""}`;
  sendJson(res, 503, { error: "workspace_starting", message }, { "retry-after": "2" });
}

/** The IDE's answer streamed back; upstream faults classified where they meet the user. */
function forward(
  deps: Pick<WorkspaceSurfaceDeps, "config" | "forwarder" | "metrics" | "log">,
  req: IncomingMessage,
  res: ServerResponse,
  m: RouteMatch,
  who: Identity,
  client: ClientAddress,
): void {
  const { config, log } = deps;
  const { limits } = config;
  const route = `${m.route.namespace}/${m.route.name}`;
  // The Host header goes up as the client sent it (port included): IDEs check Origin against it.
  const upstream = `http://${toIde(req, m, who, client, config)}`;
  deps.forwarder.forward(
    req,
    res,
    { origin: upstream, path: m.upstreamPath, maxBodyBytes: limits.maxBodyBytes },
    {
      onResponseHeaders: (_status, headers) => responsePasses(req, m, headers, config.frameAncestors),
      onError: (err, started) => {
        if (err instanceof BodyTooLarge) {
          const r = bodyTooLarge(limits.maxBodyBytes);
          sendJson(res, r.status, r.body, { connection: "close" });
          res.once("finish", () => req.socket.destroy());
          return;
        }
        deps.metrics.upstreamError(errorCode(err));
        const fault = classifyUpstreamError(err, route);
        if (fault.expected)
          log.warn("upstream error", {
            route,
            code: errorCode(err),
            status: started ? "cut off" : fault.status,
          });
        else log.error("upstream error", { route, err: err.stack ?? String(err) });
        if (started) return void res.destroy(); // half an answer must not look complete
        sendJson(
          res,
          fault.status,
          fault.body,
          fault.retryAfter ? { "retry-after": String(fault.retryAfter) } : {},
        );
      },
    },
  );
}

export function workspaceSurface(deps: WorkspaceSurfaceDeps): Surface {
  const { config, gate, table, events, connections, origin, log } = deps;
  const may = (who: Identity, r: Route) => mayOpen(who, r, config.identity.adminRoles);
  const ownHostOf = (req: IncomingMessage, m: OwnHostMatch) =>
    ownHost(m, publicScheme(req.headers, config.trustForwarded, config.identity.publicUrl), req.headers.host);

  /** An identified upgrade the table matched: the checks, then the relay. */
  function upgradeMatched(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    m: RouteMatch | OwnHostMatch,
    at: UpgradeCtx,
  ) {
    const name = `${m.route.namespace}/${m.route.name}`;
    const reject = (r: Refusal) => {
      at.done(name, r.status);
      rejectSocket(socket, r.status, r.body, r.headers);
    };
    const limited = ipLimited(gate.limitIp(at.client.address));
    if (limited) return reject(limited);
    const next = (who: Identity) => {
      if (!may(who, m.route)) return reject(forbidden(m.route));
      if (m.kind === "own-host") return reject(ownHostOf(req, m));
      const refusal =
        origin(req, m.route.allowedOrigins, CLASS_HINT, true) ??
        userLimited(gate.limitUser(who), who) ??
        connections.hold(who, socket);
      if (refusal) return reject(refusal);
      if (m.route.state !== "ready" || !m.route.upstream)
        return reject({
          status: 503,
          body: { error: "workspace_not_ready", message: `workspace ${name} is ${m.route.state}` },
          headers: { "retry-after": "2" },
        });
      const url = `ws://${toIde(req, m, who, at.client, config)}${m.upstreamPath}`;
      at.done(name, 101);
      deps.relay.relay(req, socket, head, url, upstreamHeaders(req.headers), name);
    };
    afterIdentify(
      gate,
      req,
      log,
      (i) => {
        if (socket.destroyed) return;
        if ("reason" in i) {
          gate.logRefusal(req, i, at.client.address);
          return reject(unauthenticated(i));
        }
        next(i.who);
      },
      () => reject(AUTH_UNAVAILABLE),
    );
  }

  return {
    serve(req, res, at, ctx, who) {
      const m = table.match(at.host, at.target);
      if (!m) return false;
      if (m.kind === "redirect") {
        ctx.route = "none";
        res.writeHead(308, { location: m.location, "content-length": 0 }).end();
        return true;
      }
      const route = m.route;
      ctx.route = `${route.namespace}/${route.name}`;
      const refusal = !may(who, route)
        ? forbidden(route)
        : m.kind === "own-host"
          ? ownHostOf(req, m)
          : origin(req, route.allowedOrigins, CLASS_HINT);
      if (refusal || m.kind === "own-host") {
        if (refusal) sendJson(res, refusal.status, refusal.body, refusal.headers);
        return true;
      }
      if (m.rest === EVENTS_SUFFIX && req.method === "GET") {
        statusStream(events, connections, req, res, ctx, who, route);
        return true;
      }
      if (route.state !== "ready" || !route.upstream) notReady(req, res, m, config.frameAncestors);
      else forward(deps, req, res, m, who, ctx.client);
      return true;
    },

    upgrade(req, socket, head, at) {
      const m = table.match(at.host, at.target);
      if (!m) return false;
      // A redirect is no WebSocket's answer: the path it redirects is not routed as it stands.
      if (m.kind === "redirect") {
        const r = notRouted(at);
        at.done("none", r.status);
        rejectSocket(socket, r.status, r.body);
      } else upgradeMatched(req, socket, head, m, at);
      return true;
    },
  };
}
