/**
 * The console surface: the browser dashboard and its endpoints, on the base domain (and the public
 * URL's host) only — never a workspace's host, never a GatewayRoute's.
 *
 *   GET /, /_console/*                       the single-page app (proxy/console/assets.ts)
 *   GET /api/cluster, /api/resources[/kind], /api/resource/{kind}/{name}
 *                                            resource views, authorized by SubjectAccessReview as
 *                                            the caller (proxy/console/resources.ts)
 *   WebSocket /ws/watch, /ws/logs, /ws/shell multiplexed watch, log follow, terminal
 *                                            (proxy/console/watch.ts, logs.ts, shell.ts)
 *
 * An upgrade runs: per-IP limit → identify (401 without a valid identity: a WebSocket gets no login
 * redirect) → origin (the console's own origin only: a workspace's page shares the session cookie
 * and must not open a shell with it) → per-user request limit → the per-user cap of that endpoint
 * and the cap on long-lived connections (429) → the endpoint's own check (403/404 before the
 * handshake, so a refused socket never opens) → handshake → the endpoint. The wire protocol is
 * proxy/console/protocol.ts.
 *
 * Endpoints a proxy does not serve (no RBAC for them, `--console=false`) are absent: their paths fall
 * through to the next surface (the GatewayRoutes, else 404).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocketServer, type WebSocket } from "ws";
import type { Logger } from "../../common/runtime/log.ts";
import type { Gate, Identified } from "../auth/gate.ts";
import type { Identity } from "../auth/identity.ts";
import { ConnectionCounts } from "../auth/limits.ts";
import { LOGS_PATH, SHELL_PATH, WATCH_PATH } from "../console/protocol.ts";
import type { ProxyConfig } from "../config.ts";
import { rejectSocket, sendJson } from "../http/errors.ts";
import type { Refusal } from "../http/request.ts";
import type { RouteTable } from "../routing/table.ts";
import type { Target } from "../routing/path.ts";
import {
  AUTH_UNAVAILABLE,
  afterIdentify,
  ipLimited,
  tooMany,
  unauthenticated,
  userLimited,
  type LongLivedConnections,
  type OriginPass,
} from "./passes.ts";
import type { RequestCtx, Surface, UpgradeCtx } from "./surface.ts";

/** One WebSocket endpoint of the console. */
export interface WsEndpoint {
  /**
   * Whether `who` may open it with `query`, before the handshake: undefined to go on, or the
   * refusal (400 bad query, 403/404 not theirs, 503 the cluster could not be asked).
   */
  check?(who: Identity, query: URLSearchParams): Refusal | undefined | Promise<Refusal | undefined>;
  /** Serves the open socket until either side closes it. */
  open(ws: WebSocket, who: Identity, query: URLSearchParams): void;
}

/** An HTTP endpoint of the console: it answers every request handed to it. */
export type HttpEndpoint = (
  req: IncomingMessage,
  res: ServerResponse,
  target: Target,
  who: Identity,
  ctx: RequestCtx,
) => void;

/** What the console serves; each part absent when this proxy does not serve it. */
export interface ConsoleEndpoints {
  /** The single-page app: GET / and /_console/*. */
  assets?: HttpEndpoint;
  /** /api/cluster, /api/resources, /api/resources/{kind}, /api/resource/{kind}/{name}. */
  resources?: HttpEndpoint;
  watch?: WsEndpoint;
  logs?: WsEndpoint;
  shell?: WsEndpoint;
}

export interface ConsoleSurfaceDeps {
  config: Pick<ProxyConfig, "console" | "routingConfig" | "identity">;
  gate: Gate;
  table: Pick<RouteTable, "isWorkspaceHost">;
  origin: OriginPass;
  connections: LongLivedConnections;
  log: Logger;
  endpoints: ConsoleEndpoints | undefined;
}

/** Where the app's bundle is served from. */
export const ASSETS_PREFIX = "/_console/";

/**
 * The hosts the console answers on: the base domain and the public URL's host. Only those: any other
 * host that is not a workspace's may be a GatewayRoute's, whose `/` is its own (CI caught the console
 * answering `/` for a GatewayRoute's host). Pure.
 */
export function consoleHosts(baseDomain: string, publicUrl: string | undefined): ReadonlySet<string> {
  const hosts = new Set([baseDomain.toLowerCase()]);
  if (publicUrl) hosts.add(new URL(publicUrl).hostname.toLowerCase());
  return hosts;
}

/** Which HTTP endpoint claims `path`, if any. Pure. */
export function httpPart(path: string): "assets" | "resources" | undefined {
  if (path === "/" || path === "/index.html" || path.startsWith(ASSETS_PREFIX)) return "assets";
  if (path === "/api/cluster" || path === "/api/resources" || path.startsWith("/api/resources/"))
    return "resources";
  if (path.startsWith("/api/resource/")) return "resources";
  return undefined;
}

/** Which WebSocket endpoint claims `path`, if any. Pure. */
export function wsPart(path: string): "watch" | "logs" | "shell" | undefined {
  if (path === WATCH_PATH) return "watch";
  if (path === LOGS_PATH) return "logs";
  if (path === SHELL_PATH) return "shell";
  return undefined;
}

/** The largest client frame any console socket takes (a shell's stdin is the largest). */
const MAX_CLIENT_FRAME = 256 * 1024;

export function consoleSurface(deps: ConsoleSurfaceDeps): Surface {
  const { config, gate, table, origin, connections, log, endpoints } = deps;
  if (!config.console.enabled || !endpoints) return {};
  const hosts = consoleHosts(config.routingConfig.baseDomain, config.identity.publicUrl);
  const ours = (host: string) => hosts.has(host) && !table.isWorkspaceHost(host);
  const caps = {
    watch: new ConnectionCounts(config.console.maxWatchesPerUser),
    logs: new ConnectionCounts(config.console.maxLogStreamsPerUser),
    shell: new ConnectionCounts(config.console.maxShellsPerUser),
  };
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_CLIENT_FRAME, perMessageDeflate: false });

  /** The per-endpoint cap: held until the socket closes. --auth=none (a local demo) is not counted. */
  function holdCap(part: keyof typeof caps, who: Identity, socket: Duplex): Refusal | undefined {
    if (who.via === "none") return undefined;
    const release = caps[part].acquire(who.user);
    if (!release)
      return tooMany({ retryAfterSeconds: 5 }, `open console ${part} connections for ${who.user}`);
    socket.once("close", release);
    return undefined;
  }

  function upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, at: UpgradeCtx): boolean {
    const part = wsPart(at.target.path);
    const endpoint = part && endpoints![part];
    if (!part || !endpoint || !ours(at.host)) return false;
    const route = `console:${at.target.path}`;
    const refuse = (r: Refusal) => {
      at.done(route, r.status);
      rejectSocket(socket, r.status, r.body, r.headers);
    };
    const limited = ipLimited(gate.limitIp(at.client.address));
    if (limited) return (refuse(limited), true);
    const next = (i: Identified) => {
      if (socket.destroyed) return;
      if ("reason" in i) {
        gate.logRefusal(req, i, at.client.address);
        return refuse(unauthenticated(i));
      }
      const who = i.who;
      const refusal =
        origin(req, undefined, "-", true) ??
        userLimited(gate.limitUser(who), who) ??
        holdCap(part, who, socket) ??
        connections.hold(who, socket);
      if (refusal) return refuse(refusal);
      const query = new URLSearchParams(at.target.query.replace(/^\?/, ""));
      const opened = () => {
        if (socket.destroyed) return;
        wss.handleUpgrade(req, socket, head, (ws) => {
          at.done(route, 101);
          endpoint.open(ws, who, query);
        });
      };
      let checked: ReturnType<NonNullable<WsEndpoint["check"]>>;
      try {
        checked = endpoint.check?.(who, query);
      } catch (err) {
        log.error("console: endpoint check failed", { path: at.target.path, err: String(err) });
        return refuse(AUTH_UNAVAILABLE);
      }
      if (!(checked instanceof Promise)) return checked ? refuse(checked) : opened();
      checked.then(
        (r) => (r ? refuse(r) : opened()),
        (err: unknown) => {
          log.error("console: endpoint check failed", { path: at.target.path, err: String(err) });
          refuse({
            status: 503,
            body: { error: "unavailable", message: "the cluster could not be asked; retry" },
          });
        },
      );
    };
    afterIdentify(gate, req, log, next, () => refuse(AUTH_UNAVAILABLE));
    return true;
  }

  return {
    serve(req, res, at, ctx, who) {
      const part = httpPart(at.target.path);
      const endpoint = part && endpoints[part];
      if (!part || !endpoint || !ours(at.host)) return false;
      ctx.route =
        part === "assets" ? "console:assets" : `console:${at.target.path.split("/").slice(0, 3).join("/")}`;
      if (req.method !== "GET" && req.method !== "HEAD") {
        sendJson(
          res,
          405,
          { error: "method_not_allowed", message: `${at.target.path} answers GET only` },
          { allow: "GET, HEAD" },
        );
        return true;
      }
      endpoint(req, res, at.target, who, ctx);
      return true;
    },
    upgrade,
  };
}
