/**
 * The data path: a raw Node `http` server and undici's keep-alive pools (http/forward.ts). Every request runs
 * through ordered passes (proxy/http/*.ts):
 *
 *   method allow-list → Host and target checks → body limit → login routes → per-IP limit →
 *   identify (proxy/auth/gate.ts) → per-user limit → status streams or route match → authorize →
 *   origin (http/origin.ts: unsafe methods and upgrades) → workspace state (waiting page / stopped)
 *   → strip gateway credentials → forwarded and class headers → stream (response passes:
 *   Location/Set-Cookie, frame headers)
 *
 * In host mode a workspace is served on its own host only: the compatible path on any other host
 * answers 308 to `{scheme}://{name}--{namespace}.{baseDomain}[:port]{rest}{query}` (routing/table.ts).
 *
 * Upgrades take the same passes, then the WebSocket relay. Header size, header and request
 * timeouts are the Node server's own limits; what it refuses is answered in `clientError`.
 */
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import type { Duplex } from "node:stream";
import type { Logger } from "../common/runtime/log.ts";
import type { ProxyConfig } from "./config.ts";
import type { EventHub } from "./events.ts";
import { AUTH_PREFIX, type Gate, type Identified } from "./auth/gate.ts";
import { forwardedToken, mayOpen, type Identity } from "./auth/identity.ts";
import { ConnectionCounts } from "./auth/limits.ts";
import { classifyUpstreamError, errorCode, rejectSocket, sendJson, type ErrorBody } from "./http/errors.ts";
import { clientAddress, type ClientAddress } from "./http/client.ts";
import { BodyTooLarge, Forwarder } from "./http/forward.ts";
import {
  bodyTooLarge,
  checkDeclaredBody,
  checkHandshake,
  checkMethod,
  forwardedHeaders,
  routeHeaders,
  stripCredentials,
  wantsHtml,
  type Refusal,
} from "./http/request.ts";
import { changesState, checkOrigin, publicScheme } from "./http/origin.ts";
import { rewriteCookiePath, rewriteLocation, securityHeaders } from "./http/response.ts";
import { EVENTS_SUFFIX, waitingPage } from "./http/waiting.ts";
import { WsRelay, upstreamHeaders } from "./http/websocket.ts";
import type { ProxyMetrics } from "./metrics.ts";
import { BadPath, hostName, parseTarget, type Target } from "./routing/path.ts";
import type { OwnHostMatch, Route, RouteMatch, RouteTable } from "./routing/table.ts";
import { Gateway, type Caller } from "./gateway/serve.ts";
import { checkRuleAccess, isPublic } from "./gateway/access.ts";
import type { GatewayHit } from "../common/model/gateway/model.ts";
import { compileUrlPolicy } from "../common/model/gateway/address.ts";

export interface ServerDeps {
  config: ProxyConfig;
  /** Who is asking (proxy/auth/gate.ts); authorization is `mayOpen` with the route's owner and sharing. */
  gate: Gate;
  table: RouteTable;
  events: EventHub;
  metrics: ProxyMetrics;
  log: Logger;
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

/** What the request passes found out, for the access log and the metrics. */
interface Ctx {
  route: string;
  /** The path as the client asked for it (req.url is rewritten for the upstream). */
  path: string;
  started: bigint;
  /**
   * The client's address through the trusted hops (http/client.ts), read up front: Node detaches the
   * socket from the request before the response's `close`.
   */
  remote: string;
  client: ClientAddress;
}

const EVENTS_RE = /^\/api\/v1\/workspaces\/([^/]+)\/([^/]+)\/events$/;
const COMPAT_EVENTS_RE = /^\/api\/v1\/analysis\/events\/([^/]+)$/;

export function createProxyServer(deps: ServerDeps): ProxyServer {
  const { config, gate, table, events, metrics, log } = deps;
  const adminRoles = config.identity.adminRoles;
  const wsPerUser = new ConnectionCounts(config.identity.rateLimit.maxConnectionsPerUser);
  /**
   * Counts one more long-lived connection of `who` (a WebSocket or a status stream, on any route)
   * until `closes` emits "close"; the 429 when the user is at the cap. The anonymous user of
   * --auth=none (a local demo) is not counted.
   */
  const holdConnection = (who: Identity, closes: { once(e: "close", f: () => void): unknown }) => {
    if (who.via === "none") return undefined;
    const release = wsPerUser.acquire(who.user);
    if (!release)
      return tooMany({ retryAfterSeconds: 5 }, `open WebSockets and status streams for ${who.user}`);
    closes.once("close", release);
    return undefined;
  };
  const may = (who: Identity, r: Route) => mayOpen(who, r, adminRoles);
  const forbidden = (r: Route): Refusal => ({
    status: 403,
    body: { error: "forbidden", message: `you may not open workspace ${r.namespace}/${r.name}` },
  });
  const tooMany = (v: { retryAfterSeconds: number }, what: string): Refusal => ({
    status: 429,
    body: { error: "rate_limited", message: `too many ${what}: retry in ${v.retryAfterSeconds} s` },
    headers: { "retry-after": String(v.retryAfterSeconds) },
  });
  const { limits } = config;
  const forwarder = new Forwarder({
    idleTimeoutMs: limits.idleTimeoutMs,
    // IDEs set large cookies; their answers are theirs, not the client's, to size.
    maxResponseHeaderBytes: Math.max(limits.maxHeaderBytes, 64 * 1024),
  });
  const relay = new WsRelay({
    pingIntervalMs: limits.wsPingIntervalMs,
    // Messages are bounded like bodies (at least 1 MiB); with no body limit, 256 MiB. Counted as
    // frames pass, never held: the relay streams (proxy/http/websocket.ts).
    maxPayload: limits.maxBodyBytes > 0 ? Math.max(limits.maxBodyBytes, 1 << 20) : 256 * 1024 * 1024,
    handshakeTimeoutMs: 10_000,
    maxBufferedBytes: limits.wsBufferBytes,
    onOpen: () => metrics.websocketOpened(),
    onClose: () => metrics.websocketClosed(),
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
    maxResponseHeaderBytes: Math.max(limits.maxHeaderBytes, 64 * 1024),
    urlPolicy: compileUrlPolicy(config.gatewayUrlPolicy),
  });

  /** Response passes: the IDE's headers, changed in place before the client sees them. */
  function responsePasses(req: IncomingMessage, m: RouteMatch, headers: IncomingHttpHeaders): void {
    const from = m.route.stripPrefix ? "" : m.route.idePrefix;
    const up = m.route.upstream;
    if (m.route.rewriteLocation && headers.location) {
      const own = [req.headers.host ?? "", up ? `${up.host}:${up.port}` : ""].filter(Boolean);
      headers.location = rewriteLocation(headers.location, from, m.publicPrefix, own);
    }
    if (m.route.rewriteCookiePath && headers["set-cookie"])
      headers["set-cookie"] = rewriteCookiePath(headers["set-cookie"], from, m.publicPrefix);
    securityHeaders(headers, config.frameAncestors);
  }

  const server = createServer(
    {
      maxHeaderSize: limits.maxHeaderBytes,
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      // How often Node checks the two timeouts above; its 30 s default would let slowloris linger.
      connectionsCheckingInterval: Math.min(1000, limits.headersTimeoutMs),
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      requireHostHeader: true,
    },
    (req, res) => handle(req, res),
  );
  server.timeout = limits.idleTimeoutMs;
  server.on("timeout", (socket: Duplex) => socket.destroy());

  server.on("clientError", (err: NodeJS.ErrnoException, socket: Duplex) => {
    const code = err.code ?? "";
    if (code === "ECONNRESET" || !socket.writable) return void socket.destroy();
    const [status, body]: [number, ErrorBody] =
      code === "HPE_HEADER_OVERFLOW"
        ? [
            431,
            {
              error: "headers_too_large",
              message: `request headers are limited to ${limits.maxHeaderBytes} bytes`,
            },
          ]
        : code === "ERR_HTTP_REQUEST_TIMEOUT" || code === "HPE_HEADERS_TIMEOUT"
          ? [408, { error: "request_timeout", message: "the request was not received in time" }]
          : [400, { error: "bad_request", message: `malformed request (${code || err.message})` }];
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

  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on("error", () => socket.destroy()); // first, so nothing below can crash the process
    upgrade(req, socket, head);
  });

  function finish(req: IncomingMessage, res: ServerResponse, ctx: Ctx): void {
    res.once("close", () => {
      const seconds = Number(process.hrtime.bigint() - ctx.started) / 1e9;
      const status = res.writableFinished ? res.statusCode : 499;
      metrics.request(ctx.route, status, seconds);
      log.info("request", {
        method: req.method,
        host: req.headers.host,
        path: ctx.path,
        status,
        route: ctx.route,
        ms: Math.round(seconds * 1e4) / 10,
        remote: ctx.remote,
      });
    });
  }

  /**
   * The request passes on the way to an IDE (HTTP and WebSocket alike): the gateway's credentials
   * out, the user's own token in only where the class asks for it and the user is the owner (never
   * the session cookie), the X-Forwarded-* and the class's headers. Returns the upstream's
   * `host:port` (IPv6 bracketed).
   */
  function toIde(req: IncomingMessage, m: RouteMatch, who: Identity, client: ClientAddress): string {
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

  function refuse(res: ServerResponse, r: Refusal): void {
    sendJson(res, r.status, r.body, r.headers);
  }

  /** The origin pass (http/origin.ts) for a workspace route or a GatewayRoute rule. */
  function originOf(
    req: IncomingMessage,
    allowed: readonly string[] | undefined,
    hint: string,
    upgrade = false,
  ) {
    // Most requests are GETs: they skip the pass before its context is built (the hot path).
    if (!changesState(req.method, upgrade)) return undefined;
    return checkOrigin(req.method, req.headers, {
      scheme: publicScheme(req.headers, config.trustForwarded, config.identity.publicUrl),
      host: req.headers.host ?? "",
      allowed,
      upgrade,
      allowListHint: hint,
    });
  }
  const CLASS_HINT = "the WorkspaceClass's spec.allowedOrigins";
  const RULE_HINT = "the GatewayRoute rule's allowedOrigins";

  /** Host mode, compatible path on a host not the workspace's own: where the workspace lives. */
  function ownHost(req: IncomingMessage, m: OwnHostMatch): Refusal {
    const scheme = publicScheme(req.headers, config.trustForwarded, config.identity.publicUrl);
    const port = /:(\d{1,5})$/.exec(req.headers.host ?? "")?.[1];
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

  /** Host and target, or the refusal. */
  function checkRequest(req: IncomingMessage): { host: string; target: Target } | Refusal {
    const host = hostName(req.headers.host);
    if (!host)
      return { status: 400, body: { error: "bad_host", message: "missing or malformed Host header" } };
    try {
      return { host, target: parseTarget(req.url ?? "") };
    } catch (err) {
      if (err instanceof BadPath) return { status: 400, body: { error: "bad_path", message: err.message } };
      throw err;
    }
  }

  /** The client's address: the TCP peer, or X-Forwarded-For through the trusted hops. */
  const clientOf = (req: IncomingMessage): ClientAddress =>
    clientAddress(req.socket.remoteAddress, req.headers["x-forwarded-for"], config.trustedProxyHops);

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const client = clientOf(req);
    const ctx: Ctx = {
      route: "invalid",
      path: (req.url ?? "").split("?")[0]!,
      started: process.hrtime.bigint(),
      remote: client.address,
      client,
    };
    finish(req, res, ctx);
    const method = checkMethod(req.method, config.allowedMethods);
    if (method) return refuse(res, method);
    const checked = checkRequest(req);
    if ("status" in checked) return refuse(res, checked);
    const tooLarge = checkDeclaredBody(req.headers, limits.maxBodyBytes);
    if (tooLarge) return refuse(res, tooLarge);
    const { host, target } = checked;
    if (!table.isWorkspaceHost(host) && target.path.startsWith(AUTH_PREFIX)) {
      ctx.route = "auth";
      if (req.method !== "GET" && req.method !== "POST")
        return refuse(res, checkMethod(req.method, ["GET"])!);
      // Login routes seal cookies and call the provider: limited per client IP like the rest.
      const authLimit = gate.limitIp(ctx.remote);
      if (!authLimit.ok) return refuse(res, tooMany(authLimit, "requests from this address"));
      if (gate.serveAuthRoute(req, res, target.path, target.query)) return;
    }
    // Per client IP before anything costly (a token's signature) is done for it.
    const ipLimit = gate.limitIp(ctx.remote);
    if (!ipLimit.ok) return refuse(res, tooMany(ipLimit, "requests from this address"));
    const identified = gate.identify(req);
    if (identified instanceof Promise)
      identified.then(
        (i) => identifiedRequest(req, res, ctx, host, target, i),
        (err: unknown) => {
          log.error("authentication failed", { err: (err as Error).stack ?? String(err) });
          sendJson(res, 503, { error: "auth_unavailable", message: "authentication is unavailable; retry" });
        },
      );
    else identifiedRequest(req, res, ctx, host, target, identified);
  }

  function identifiedRequest(
    req: IncomingMessage,
    res: ServerResponse,
    ctx: Ctx,
    host: string,
    target: Target,
    identified: Identified,
  ): void {
    if (res.destroyed) return; // the client left while its token was checked
    if ("reason" in identified) {
      // A `public: true` GatewayRoute rule is served without authentication.
      const open = publicGatewayHit(req, host, target);
      if (open) {
        ctx.route = `gateway:${open.ref.namespace}/${open.ref.route}`;
        const cross = originOf(req, open.ref.rule.allowedOrigins, RULE_HINT);
        if (cross) return refuse(res, cross);
        return gateway.serve(req, res, open, anonymous(ctx.client), target.path, target.query);
      }
      ctx.route = "unauthenticated";
      return gate.refuse(req, res, identified, ctx.remote);
    }
    const who = identified.who;
    if (identified.setCookie) res.appendHeader("set-cookie", identified.setCookie);
    const userLimit = gate.limitUser(who);
    if (!userLimit.ok) return refuse(res, tooMany(userLimit, `requests by ${who.user}`));

    if (!table.isWorkspaceHost(host)) {
      const ev = EVENTS_RE.exec(target.path);
      const compat = COMPAT_EVENTS_RE.exec(target.path);
      if (ev || compat) {
        ctx.route = "api";
        if (req.method !== "GET") return refuse(res, checkMethod(req.method, ["GET"])!);
        if (ev) {
          const r = table.get(target.segments[3]!, target.segments[4]!);
          if (r && !may(who, r)) return refuse(res, forbidden(r));
          const held = holdConnection(who, res);
          if (held) return refuse(res, held);
          return events.serve(req, res, target.segments[3]!, target.segments[4]!);
        }
        const owner = new URLSearchParams(target.query.slice(1)).get("owner") ?? undefined;
        const r = compatRoute(target.segments[4]!, owner);
        if (!r)
          return sendJson(res, 404, {
            error: "not_found",
            message: `no ${target.segments[4]} workspace in namespace ${config.compatNamespace}${owner ? ` owned by ${owner}` : ""}`,
          });
        if (!may(who, r)) return refuse(res, forbidden(r));
        const held = holdConnection(who, res);
        if (held) return refuse(res, held);
        return events.serve(req, res, r.namespace, r.name);
      }
    }

    const m = table.match(host, target);
    if (!m) {
      const hit = gateway.match({
        host,
        method: req.method ?? "GET",
        path: target.path,
        headers: req.headers,
      });
      if (hit) {
        ctx.route = `gateway:${hit.ref.namespace}/${hit.ref.route}`;
        const denied = checkRuleAccess(hit.ref, who, adminRoles);
        if (denied) return refuse(res, denied);
        const cross = originOf(req, hit.ref.rule.allowedOrigins, RULE_HINT);
        if (cross) return refuse(res, cross);
        return gateway.serve(req, res, hit, caller(ctx.client, who), target.path, target.query);
      }
      ctx.route = "none";
      return sendJson(res, 404, {
        error: "not_found",
        message: `no workspace is routed at ${host}${target.path}`,
      });
    }
    if (m.kind === "redirect") {
      ctx.route = "none";
      res.writeHead(308, { location: m.location, "content-length": 0 }).end();
      return;
    }
    const route = m.route;
    ctx.route = `${route.namespace}/${route.name}`;
    if (!may(who, route)) return refuse(res, forbidden(route));
    if (m.kind === "own-host") return refuse(res, ownHost(req, m));
    const cross = originOf(req, route.allowedOrigins, CLASS_HINT);
    if (cross) return refuse(res, cross);
    if (m.rest === EVENTS_SUFFIX && req.method === "GET") {
      const held = holdConnection(who, res);
      if (held) return refuse(res, held);
      return events.serve(req, res, route.namespace, route.name);
    }

    if (route.state !== "ready" || !route.upstream) return notReady(req, res, m);

    // The Host header goes up as the client sent it (port included): IDEs check Origin against it.
    const origin = `http://${toIde(req, m, who, ctx.client)}`;
    forwarder.forward(
      req,
      res,
      { origin, path: m.upstreamPath, maxBodyBytes: limits.maxBodyBytes },
      {
        onResponseHeaders: (_status, headers) => responsePasses(req, m, headers),
        onError: (err, started) => {
          if (err instanceof BodyTooLarge) {
            const r = bodyTooLarge(limits.maxBodyBytes);
            sendJson(res, r.status, r.body, { connection: "close" });
            res.once("finish", () => req.socket.destroy());
            return;
          }
          metrics.upstreamError(errorCode(err));
          const fault = classifyUpstreamError(err, ctx.route);
          if (fault.expected)
            log.warn("upstream error", {
              route: ctx.route,
              code: errorCode(err),
              status: started ? "cut off" : fault.status,
            });
          else log.error("upstream error", { route: ctx.route, err: err.stack ?? String(err) });
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

  function notReady(req: IncomingMessage, res: ServerResponse, m: RouteMatch): void {
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
        "content-security-policy": `frame-ancestors ${config.frameAncestors}`,
      });
      res.end(req.method === "HEAD" ? undefined : html);
      return;
    }
    sendJson(
      res,
      503,
      {
        error: "workspace_starting",
        message: `workspace ${ws} is starting${r.message ? `: ${r.message}` : ""}`,
      },
      { "retry-after": "2" },
    );
  }

  function compatRoute(ide: string, owner: string | undefined): Route | undefined {
    let best: Route | undefined;
    for (const r of table.list()) {
      if (r.namespace !== config.compatNamespace || r.className !== ide) continue;
      if (owner !== undefined && r.owner !== owner) continue;
      if (!best || r.created < best.created || (r.created === best.created && r.name < best.name)) best = r;
    }
    return best;
  }

  function upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const started = process.hrtime.bigint();
    const done = (route: string, status: number) =>
      metrics.request(route, status, Number(process.hrtime.bigint() - started) / 1e9);
    const reject = (route: string, r: Refusal) => {
      done(route, r.status);
      rejectSocket(socket, r.status, r.body, r.headers);
    };
    const handshake = checkHandshake(req.method, req.headers);
    if (handshake) return reject("invalid", handshake);
    const client = clientOf(req);
    const checked = checkRequest(req);
    if ("status" in checked) return reject("invalid", checked);
    const m = checked && table.match(checked.host, checked.target);
    if (!m) {
      const hit = gateway.match({
        host: checked.host,
        method: req.method ?? "GET",
        path: checked.target.path,
        headers: req.headers,
      });
      if (hit) return upgradeGateway(req, socket, head, hit, checked.target, client, done);
    }
    if (!m || m.kind === "redirect")
      return reject("none", {
        status: 404,
        body: {
          error: "not_found",
          message: `no workspace is routed at ${checked.host}${checked.target.path}`,
        },
      });
    const route = m.route;
    const name = `${route.namespace}/${route.name}`;
    // Identity and authorization come before the upgrade completes: a refused client never gets a
    // WebSocket, and the IDE never sees its handshake.
    const ipLimit = gate.limitIp(client.address);
    if (!ipLimit.ok) return reject(name, tooMany(ipLimit, "requests from this address"));
    const identified = gate.identify(req);
    const next = (i: Identified) => {
      if (socket.destroyed) return;
      if ("reason" in i) {
        gate.logRefusal(req, i, client.address);
        return reject(name, {
          status: 401,
          body: {
            error: "unauthenticated",
            message: i.presented ? "the credentials presented were refused" : "log in first",
          },
        });
      }
      if (!may(i.who, route)) return reject(name, forbidden(route));
      if (m.kind === "own-host") return reject(name, ownHost(req, m));
      const cross = originOf(req, route.allowedOrigins, CLASS_HINT, true);
      if (cross) return reject(name, cross);
      const userLimit = gate.limitUser(i.who);
      if (!userLimit.ok) return reject(name, tooMany(userLimit, `requests by ${i.who.user}`));
      const held = holdConnection(i.who, socket);
      if (held) return reject(name, held);
      upgradeRoute(req, socket, head, m, i.who, client, name, done, reject);
    };
    if (identified instanceof Promise)
      identified.then(next, (err: unknown) => {
        log.error("authentication failed", { err: (err as Error).stack ?? String(err) });
        reject(name, {
          status: 503,
          body: { error: "auth_unavailable", message: "authentication is unavailable; retry" },
        });
      });
    else next(identified);
  }

  /** Who is asking, for a GatewayRoute's balancing, limits and X-Forwarded-For. */
  function caller(client: ClientAddress, who: Identity): Caller {
    return {
      user: who.user,
      clientIp: client.address,
      forwardedFor: client.forwardedFor,
      ...(who.token ? { token: who.token } : {}),
    };
  }

  /** The GatewayRoute hit of a request no workspace route claims, when its rule is `public: true`. */
  function publicGatewayHit(req: IncomingMessage, host: string, target: Target): GatewayHit | undefined {
    if (table.match(host, target)) return undefined;
    const hit = gateway.match({ host, method: req.method ?? "GET", path: target.path, headers: req.headers });
    return hit && isPublic(hit.ref.rule) ? hit : undefined;
  }

  /** A caller who did not authenticate (public rules): limits key on the address, no token. */
  function anonymous(client: ClientAddress): Caller {
    return { user: "", clientIp: client.address, forwardedFor: client.forwardedFor };
  }

  /** A WebSocket to a GatewayRoute: identified like any request, then the gateway decides. */
  function upgradeGateway(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    hit: GatewayHit,
    target: Target,
    client: ClientAddress,
    done: (route: string, status: number) => void,
  ): void {
    const name = `gateway:${hit.ref.namespace}/${hit.ref.route}`;
    const reject = (status: number, body: ErrorBody, headers: Record<string, string> = {}) => {
      done(name, status);
      rejectSocket(socket, status, body, headers);
    };
    const ipLimit = gate.limitIp(client.address);
    if (!ipLimit.ok) {
      const r = tooMany(ipLimit, "requests from this address");
      return reject(r.status, r.body, r.headers);
    }
    const next = (i: Identified) => {
      if (socket.destroyed) return;
      if ("reason" in i) {
        if (isPublic(hit.ref.rule)) {
          const cross = originOf(req, hit.ref.rule.allowedOrigins, RULE_HINT, true);
          if (cross) return reject(cross.status, cross.body);
          if (gateway.upgrade(req, socket, head, hit, anonymous(client), target.path, target.query, reject))
            done(name, 101);
          return;
        }
        gate.logRefusal(req, i, client.address);
        return reject(401, {
          error: "unauthenticated",
          message: i.presented ? "the credentials presented were refused" : "log in first",
        });
      }
      const denied = checkRuleAccess(hit.ref, i.who, adminRoles);
      if (denied) return reject(denied.status, denied.body);
      const cross = originOf(req, hit.ref.rule.allowedOrigins, RULE_HINT, true);
      if (cross) return reject(cross.status, cross.body);
      const userLimit = gate.limitUser(i.who);
      if (!userLimit.ok) {
        const r = tooMany(userLimit, `requests by ${i.who.user}`);
        return reject(r.status, r.body, r.headers);
      }
      const held = holdConnection(i.who, socket);
      if (held) return reject(held.status, held.body, held.headers);
      if (gateway.upgrade(req, socket, head, hit, caller(client, i.who), target.path, target.query, reject))
        done(name, 101);
    };
    const identified = gate.identify(req);
    if (identified instanceof Promise)
      identified.then(next, (err: unknown) => {
        log.error("authentication failed", { err: (err as Error).stack ?? String(err) });
        reject(503, { error: "auth_unavailable", message: "authentication is unavailable; retry" });
      });
    else next(identified);
  }

  function upgradeRoute(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    m: RouteMatch,
    who: Identity,
    client: ClientAddress,
    name: string,
    done: (route: string, status: number) => void,
    reject: (route: string, r: Refusal) => void,
  ): void {
    const route = m.route;
    if (route.state !== "ready" || !route.upstream)
      return reject(name, {
        status: 503,
        body: { error: "workspace_not_ready", message: `workspace ${name} is ${route.state}` },
        headers: { "retry-after": "2" },
      });
    const url = `ws://${toIde(req, m, who, client)}${m.upstreamPath}`;
    done(name, 101);
    relay.relay(req, socket, head, url, upstreamHeaders(req.headers), name);
  }

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
