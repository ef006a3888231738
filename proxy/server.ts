/**
 * The data path's front: a raw Node `http` server with the limits every request shares, and a thin
 * dispatcher over the surfaces (proxy/surfaces/*.ts), each one kind of traffic:
 *
 *   method allow-list → Host and target checks → body limit → [auth endpoints] → per-IP limit →
 *   identify (proxy/auth/gate.ts) → [anonymous: public GatewayRoute rules, else 401] → per-user limit →
 *   [status streams → API (not on a workspace host) → workspace traffic → GatewayRoutes] → 404
 *
 * Upgrades take the handshake and target checks here, then go to the first surface that claims them;
 * the surface identifies and authorizes before the handshake completes. Header size, header and
 * request timeouts are the Node server's own limits; what it refuses is answered in `clientError`.
 * Adding a surface (the API, the console) is a module in proxy/surfaces/ and a line in `surfaces`.
 */
import type { ActivityTracker } from "./activity/tracker.ts";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import type { Logger } from "../common/runtime/log.ts";
import { compileUrlPolicy } from "../common/model/gateway/address.ts";
import type { ProxyConfig } from "./config.ts";
import type { EventHub } from "./events.ts";
import type { Gate, Identified } from "./auth/gate.ts";
import { errorCode, rejectSocket, sendJson, type ErrorBody } from "./http/errors.ts";
import { clientAddress, type ClientAddress } from "./http/client.ts";
import { Forwarder } from "./http/forward.ts";
import { checkDeclaredBody, checkHandshake, checkMethod, type Refusal } from "./http/request.ts";
import { WsRelay } from "./http/websocket.ts";
import type { ProxyMetrics } from "./metrics.ts";
import { BadPath, hostName, parseTarget } from "./routing/path.ts";
import type { RouteTable } from "./routing/table.ts";
import { Gateway } from "./gateway/serve.ts";
import type { WorkspaceApi } from "./api/types.ts";
import { apiSurface } from "./surfaces/api.ts";
import { authSurface } from "./surfaces/auth.ts";
import { consoleSurface, type ConsoleEndpoints } from "./surfaces/console.ts";
import { gatewaySurface } from "./surfaces/gateway.ts";
import {
  AUTH_UNAVAILABLE,
  LongLivedConnections,
  afterIdentify,
  ipLimited,
  originPass,
  userLimited,
  type OriginPass,
} from "./surfaces/passes.ts";
import { statusSurface } from "./surfaces/status.ts";
import type { Addressed, RequestCtx, Surface } from "./surfaces/surface.ts";
import { notRouted, workspaceSurface } from "./surfaces/workspace.ts";

export interface ServerDeps {
  config: ProxyConfig;
  /** Who is asking (proxy/auth/gate.ts); authorization is `mayOpen` with the route's owner and sharing. */
  gate: Gate;
  table: RouteTable;
  events: EventHub;
  metrics: ProxyMetrics;
  log: Logger;
  /**
   * The self-service API's service layer (proxy/api/types.ts). Absent (a read-only proxy, tests of
   * other surfaces): no API is served, as with `--api=false`.
   */
  api?: WorkspaceApi;
  /** The console's endpoints (proxy/surfaces/console.ts); absent: no console is served. */
  console?: ConsoleEndpoints;
  /** Issue 15: what this replica sees of workspaces' activity (proxy/activity/); absent: not recorded. */
  activity?: Pick<ActivityTracker, "touch">;
}

export interface ProxyServer {
  server: Server;
  /** GatewayRoutes served; `update` it whenever routes, Services or EndpointSlices change. */
  gateway: Gateway;
  /** Open WebSocket relays. */
  websockets(): number;
  /** Stops accepting, closes relays and idle connections; resolves when the server closed. */
  close(): Promise<void>;
}

/** Host and target of a request, or the refusal (400 with what is wrong). */
export function addressOf(req: Pick<IncomingMessage, "headers" | "url">): Addressed | Refusal {
  const host = hostName(req.headers.host);
  if (!host) return { status: 400, body: { error: "bad_host", message: "missing or malformed Host header" } };
  try {
    return { host, target: parseTarget(req.url ?? "") };
  } catch (err) {
    if (err instanceof BadPath) return { status: 400, body: { error: "bad_path", message: err.message } };
    throw err;
  }
}

/** What the Node server itself refused (header size, timeouts, malformed requests), as status and body. */
export function clientErrorAnswer(
  code: string,
  message: string,
  maxHeaderBytes: number,
): [number, ErrorBody] {
  if (code === "HPE_HEADER_OVERFLOW")
    return [
      431,
      { error: "headers_too_large", message: `request headers are limited to ${maxHeaderBytes} bytes` },
    ];
  if (code === "ERR_HTTP_REQUEST_TIMEOUT" || code === "HPE_HEADERS_TIMEOUT")
    return [408, { error: "request_timeout", message: "the request was not received in time" }];
  return [400, { error: "bad_request", message: `malformed request (${code || message})` }];
}

/** The parts the surfaces share: the upstream pools, the WebSocket relay and the GatewayRoutes. */
function dataPath(config: ProxyConfig, metrics: ProxyMetrics, log: Logger) {
  const { limits } = config;
  // IDEs set large cookies; their answers are theirs, not the client's, to size.
  const maxResponseHeaderBytes = Math.max(limits.maxHeaderBytes, 64 * 1024);
  const forwarder = new Forwarder({ idleTimeoutMs: limits.idleTimeoutMs, maxResponseHeaderBytes });
  const relay = new WsRelay({
    pingIntervalMs: limits.wsPingIntervalMs,
    // Messages are bounded like bodies (at least 1 MiB); with no body limit, 256 MiB. Counted as
    // frames pass, never held: the relay streams (proxy/http/websocket.ts).
    maxPayload: limits.maxBodyBytes > 0 ? Math.max(limits.maxBodyBytes, 1 << 20) : 256 * 1024 * 1024,
    handshakeTimeoutMs: 10_000,
    maxBufferedBytes: limits.wsBufferBytes,
    onOpen: () => metrics.websocketOpened(),
    onClose: (seconds) => {
      metrics.websocketClosed();
      metrics.streamEnded("websocket", seconds);
    },
    onUpstreamError: (err) => metrics.upstreamError(errorCode(err)),
  });
  // GatewayRoutes: what no workspace route claims. main.ts feeds it the routes and the cluster view.
  const gateway = new Gateway({
    log,
    registry: metrics.registry,
    forwarder,
    relay,
    sessionCookie: config.sessionCookie,
    trustForwarded: config.trustForwarded,
    maxBodyBytes: limits.maxBodyBytes,
    idleTimeoutMs: limits.idleTimeoutMs,
    maxResponseHeaderBytes,
    urlPolicy: compileUrlPolicy(config.gatewayUrlPolicy),
  });
  return { forwarder, relay, gateway };
}

/** The Node server with the limits it enforces itself, before any surface sees a request. */
function nodeServer(config: ProxyConfig, metrics: ProxyMetrics): Server {
  const { limits } = config;
  const server = createServer({
    maxHeaderSize: limits.maxHeaderBytes,
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    // How often Node checks the two timeouts above; its 30 s default would let slowloris linger.
    connectionsCheckingInterval: Math.min(1000, limits.headersTimeoutMs),
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    requireHostHeader: true,
  });
  server.timeout = limits.idleTimeoutMs;
  server.on("timeout", (socket: Duplex) => socket.destroy());
  server.on("clientError", (err: NodeJS.ErrnoException, socket: Duplex) => {
    const code = err.code ?? "";
    if (code === "ECONNRESET" || !socket.writable) return void socket.destroy();
    const [status, body] = clientErrorAnswer(code, err.message, limits.maxHeaderBytes);
    metrics.request("invalid", status, 0);
    rejectSocket(socket, status, body);
  });
  server.on("connect", (_req: IncomingMessage, socket: Duplex) => {
    socket.on("error", () => socket.destroy());
    metrics.request("invalid", 405, 0);
    rejectSocket(socket, 405, {
      error: "method_not_allowed",
      message: "CONNECT is not allowed through Portico",
    });
  });
  return server;
}

/** The surfaces in their order of precedence. */
function surfacesOf(
  deps: ServerDeps,
  parts: ReturnType<typeof dataPath> & { connections: LongLivedConnections; origin: OriginPass },
): readonly Surface[] {
  const { config, gate, table, events, metrics, log, api, console: endpoints } = deps;
  const { forwarder, relay, gateway, connections, origin } = parts;
  // The order is the precedence: status streams, the API, the console, then a workspace (its stopped
  // page's Start goes through the API's service layer), then the GatewayRoutes.
  return [
    authSurface({ gate, table }),
    statusSurface({ config, table, events, connections }),
    apiSurface({
      config,
      api,
      table,
      origin,
      log,
      gatewayMatches: (req, { host, target }) =>
        !!gateway.match({ host, method: req.method ?? "GET", path: target.path, headers: req.headers }),
    }),
    consoleSurface({ config, gate, table, origin, connections, log, endpoints }),
    workspaceSurface({
      config,
      gate,
      table,
      events,
      forwarder,
      relay,
      metrics,
      log,
      connections,
      origin,
      api,
      ...(deps.activity ? { activity: deps.activity } : {}),
    }),
    gatewaySurface({ config, gate, gateway, table, log, connections, origin }),
  ];
}

export function createProxyServer(deps: ServerDeps): ProxyServer {
  const { config, gate, events, metrics, log } = deps;
  const { forwarder, relay, gateway } = dataPath(config, metrics, log);
  const connections = new LongLivedConnections(config.identity.rateLimit.maxConnectionsPerUser);
  const origin = originPass(config);
  const surfaces = surfacesOf(deps, { forwarder, relay, gateway, connections, origin });
  const server = nodeServer(config, metrics);
  const clientOf = (req: IncomingMessage): ClientAddress =>
    clientAddress(req.socket.remoteAddress, req.headers["x-forwarded-for"], config.trustedProxyHops);
  const refuse = (res: ServerResponse, r: Refusal) => sendJson(res, r.status, r.body, r.headers);

  /**
   * The access log line and the request metric, when the response is done (or the client left). A
   * stream (ctx.stream) ends when either side closes it: it is counted with the status it opened
   * with and its held time goes to the stream histogram, never the latency one.
   */
  function finish(req: IncomingMessage, res: ServerResponse, ctx: RequestCtx): void {
    res.once("close", () => {
      const seconds = Number(process.hrtime.bigint() - ctx.started) / 1e9;
      const status = res.writableFinished || ctx.stream ? res.statusCode : 499;
      if (ctx.stream) {
        metrics.longLived(ctx.route, status);
        metrics.streamEnded(ctx.stream, seconds);
      } else if (ctx.held) metrics.longLived(ctx.route, status);
      else metrics.request(ctx.route, status, seconds);
      const ms = Math.round(seconds * 1e4) / 10;
      log.info("request", {
        method: req.method,
        host: req.headers.host,
        path: ctx.path,
        status,
        route: ctx.route,
        ms,
        remote: ctx.remote,
      });
    });
  }

  server.on("request", (req: IncomingMessage, res: ServerResponse) => {
    const client = clientOf(req);
    const path = (req.url ?? "").split("?")[0]!;
    const ctx: RequestCtx = {
      route: "invalid",
      path,
      started: process.hrtime.bigint(),
      remote: client.address,
      client,
    };
    finish(req, res, ctx);
    const front = checkMethod(req.method, config.allowedMethods);
    if (front) return refuse(res, front);
    const at = addressOf(req);
    if ("status" in at) return refuse(res, at);
    const tooLarge = checkDeclaredBody(req.headers, config.limits.maxBodyBytes);
    if (tooLarge) return refuse(res, tooLarge);
    if (surfaces.some((s) => s.beforeIdentity?.(req, res, at, ctx))) return;
    // Per client IP before anything costly (a token's signature) is done for it.
    const limited = ipLimited(gate.limitIp(ctx.remote));
    if (limited) return refuse(res, limited);
    afterIdentify(
      gate,
      req,
      log,
      (i) => identifiedRequest(req, res, at, ctx, i),
      () => refuse(res, AUTH_UNAVAILABLE),
    );
  });

  function identifiedRequest(
    req: IncomingMessage,
    res: ServerResponse,
    at: Addressed,
    ctx: RequestCtx,
    identified: Identified,
  ): void {
    if (res.destroyed) return; // the client left while its token was checked
    if ("reason" in identified) {
      if (surfaces.some((s) => s.anonymous?.(req, res, at, ctx))) return;
      ctx.route = "unauthenticated";
      return gate.refuse(req, res, identified, ctx.remote);
    }
    const who = identified.who;
    if (identified.setCookie) res.appendHeader("set-cookie", identified.setCookie);
    const limited = userLimited(gate.limitUser(who), who);
    if (limited) return refuse(res, limited);
    if (surfaces.some((s) => s.serve?.(req, res, at, ctx, who))) return;
    ctx.route = "none";
    refuse(res, notRouted(at));
  }

  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on("error", () => socket.destroy()); // first, so nothing below can crash the process
    const started = process.hrtime.bigint();
    // 101 opens a connection that lasts as long as the user keeps it: counted, not timed (the relay
    // records how long it was held). A refused upgrade is an ordinary, timed answer.
    const done = (route: string, status: number) =>
      status === 101
        ? metrics.longLived(route, status)
        : metrics.request(route, status, Number(process.hrtime.bigint() - started) / 1e9);
    const reject = (route: string, r: Refusal) => {
      done(route, r.status);
      rejectSocket(socket, r.status, r.body, r.headers);
    };
    const handshake = checkHandshake(req.method, req.headers);
    if (handshake) return reject("invalid", handshake);
    const at = addressOf(req);
    if ("status" in at) return reject("invalid", at);
    const upgrade = { ...at, client: clientOf(req), done };
    if (surfaces.some((s) => s.upgrade?.(req, socket, head, upgrade))) return;
    reject("none", notRouted(at));
  });

  return {
    server,
    gateway,
    websockets: () => relay.size,
    close: () =>
      new Promise<void>((resolve) => {
        relay.close();
        events.close();
        server.close(() => resolve());
        server.closeIdleConnections();
        gateway.close();
        void forwarder.close();
      }),
  };
}
