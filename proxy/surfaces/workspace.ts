/**
 * The workspace traffic surface: a request the route table (routing/table.ts) matches goes to that
 * workspace's IDE.
 *
 *   HTTP:      match → (redirect) → [POST {prefix}/__portico/start: pages/start.ts] → authorize → own host (host mode) → origin → own status stream
 *              → the pages' script and stylesheet → workspace state (pages/render.ts: the
 *              waiting page with its steps / stopped with Start / failed) → to the IDE: strip gateway
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
import { EventEmitter } from "node:events";
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
  checkMethod,
  forwardedHeaders,
  routeHeaders,
  stripCredentials,
  wantsHtml,
  type Refusal,
} from "../http/request.ts";
import { rewriteCookiePath, rewriteLocation, securityHeaders } from "../http/response.ts";
import { mayManageOwned } from "../api/policy.ts";
import type { WorkspaceApi } from "../api/types.ts";
import { PAGE_CSS, PAGE_JS } from "../pages/assets.ts";
import {
  EVENTS_SUFFIX,
  SCRIPT_SUFFIX,
  START_SUFFIX,
  STYLE_SUFFIX,
  pageCsp,
  renderPage,
  type PageKind,
} from "../pages/render.ts";
import { NO_API, fromOwnPage, startAnswer, startMethod } from "../pages/start.ts";
import { stepsOf } from "../pages/steps.ts";
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
import type { Addressed, RequestCtx, Surface, UpgradeCtx } from "./surface.ts";
import { WAKE_FAILED, Wakes, heldTimedOut, notReadyAction, upgradeNotReady, waitReady } from "./wake.ts";
import type { ActivityTracker } from "../activity/tracker.ts";

export interface WorkspaceSurfaceDeps {
  config: ProxyConfig;
  gate: Gate;
  /** `subscribe` and `get`: requests held for a waking workspace (./wake.ts). */
  table: Pick<RouteTable, "match" | "subscribe" | "get">;
  /** The status streams, and the latest snapshot (the steps a page shows first). */
  events: Pick<EventHub, "serve" | "get">;
  forwarder: Forwarder;
  relay: WsRelay;
  metrics: ProxyMetrics;
  log: Logger;
  connections: LongLivedConnections;
  origin: OriginPass;
  /** The self-service API's service layer: the stopped page's Start, and wakes. Absent: no Start is offered. */
  api?: Pick<WorkspaceApi, "start">;
  /** The clock of the elapsed times the pages render first. */
  now?: () => Date;
  // Activity reports (issue 15, proxy/activity/): requests forwarded to the IDE and client messages
  // over the class's limit are the user's activity; the proxy's own pages and streams are not.
  activity?: Pick<ActivityTracker, "touch">;
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

/** The console's root as a link from a workspace page: the base domain in host mode, `/` in path mode. */
export function consoleUrl(
  config: Pick<ProxyConfig, "routingConfig" | "identity">,
  scheme: string,
  requestHost: string | undefined,
): string {
  if (config.routingConfig.routing === "path") return "/";
  if (config.identity.publicUrl) return `${new URL(config.identity.publicUrl).origin}/`;
  const port = /:(\d{1,5})$/.exec(requestHost ?? "")?.[1];
  return `${scheme}://${config.routingConfig.baseDomain}${port ? `:${port}` : ""}/`;
}

/** What a workspace that is not ready answers non-browsers: stopped 404, failed 503, starting 503. */
function notReadyJson(res: ServerResponse, r: Route): void {
  const ws = `${r.namespace}/${r.name}`;
  if (r.state === "stopped" && r.idleStopped)
    return sendJson(res, 404, {
      error: "workspace_stopped",
      message: `workspace ${ws} is stopped for idleness; only its owner (or an admin) can start it: opening its URL wakes it`,
    });
  if (r.state === "stopped")
    return sendJson(res, 404, {
      error: "workspace_stopped",
      message: `workspace ${ws} is stopped; start it (POST /api/v1/workspaces/${ws}/start) or set spec.running to true`,
    });
  if (r.state === "failed")
    return sendJson(res, 503, { error: "workspace_failed", message: `workspace ${ws} failed: ${r.message}` });
  const message = `workspace ${ws} is starting${r.message ? `: ${r.message}` : ""}`;
  sendJson(res, 503, { error: "workspace_starting", message }, { "retry-after": "2" });
}

/** Sends one of the proxy's own page resources (HTML, script, stylesheet) with the pages' headers. */
function sendOwn(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  type: string,
  text: string,
  headers: Record<string, string>,
): void {
  if (res.writableEnded) return;
  res.writeHead(status, {
    "content-type": type,
    "content-length": Buffer.byteLength(text),
    "x-content-type-options": "nosniff",
    ...headers,
  });
  res.end(req.method === "HEAD" ? undefined : text);
}
/** The IDE's answer streamed back; upstream faults classified where they meet the user. */
function forward(
  deps: Pick<WorkspaceSurfaceDeps, "config" | "forwarder" | "metrics" | "log" | "activity">,
  req: IncomingMessage,
  res: ServerResponse,
  m: RouteMatch,
  who: Identity,
  client: ClientAddress,
): void {
  const { config, log } = deps;
  const { limits } = config;
  const route = `${m.route.namespace}/${m.route.name}`;
  deps.activity?.touch(m.route.namespace, m.route.name, "proxy"); // issue 15: a user request is activity
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

/** A browser's navigation: a GET or HEAD that wants HTML (the pages), not a script's request. */
const isNavigation = (req: IncomingMessage): boolean =>
  wantsHtml(req.headers) && (req.method === "GET" || req.method === "HEAD");

const schemeOf = (config: Pick<ProxyConfig, "trustForwarded" | "identity">, req: IncomingMessage) =>
  publicScheme(req.headers, config.trustForwarded, config.identity.publicUrl);

/**
 * The proxy's own pages under a workspace's prefix (proxy/pages/): the page for a workspace the IDE
 * cannot answer for, its script and stylesheet, and the Start endpoint.
 */
function workspacePages(deps: WorkspaceSurfaceDeps) {
  const { config, log } = deps;

  /**
   * A workspace the IDE cannot answer for: a page for a browser's GET, JSON for anything else.
   * `wake` (issue 15): `woken` — this visit just woke it (the waiting page, whatever the caches say
   * yet); `refused` — the wake was refused (the stopped page with the reason, its status).
   */
  function notReady(
    req: IncomingMessage,
    res: ServerResponse,
    m: RouteMatch,
    who: Identity,
    wake: { woken?: boolean; refused?: { status: number; error: string; message: string } } = {},
  ): void {
    const r = m.route;
    if (!isNavigation(req)) {
      if (wake.refused)
        return sendJson(res, wake.refused.status, {
          error: wake.refused.error,
          message: wake.refused.message,
        });
      return notReadyJson(res, r);
    }
    const kind: PageKind = wake.woken
      ? "starting"
      : r.state === "stopped"
        ? "stopped"
        : r.state === "failed"
          ? "failed"
          : "starting";
    const snap = deps.events.get(r.namespace, r.name);
    const seen = snap?.phase === "Stopped" && kind === "starting" ? undefined : snap?.phase;
    const phase = seen ?? { stopped: "Stopped", failed: "Failed", starting: "Starting" }[kind];
    const idleCondition = snap?.conditions.find((c) => c.type === "Idle" && c.status === "True");
    const idle =
      kind === "stopped" && r.idleStopped
        ? {
            message: idleCondition?.message ?? "",
            ...(idleCondition?.since ? { since: idleCondition.since } : {}),
          }
        : undefined;
    const html = renderPage({
      kind,
      namespace: r.namespace,
      name: r.name,
      owner: r.owner,
      phase,
      message: r.message,
      prefix: m.publicPrefix,
      consoleUrl: consoleUrl(config, schemeOf(config, req), req.headers.host),
      steps: snap?.steps ?? stepsOf({ phase, routable: false, repository: false, conditions: [] }),
      canStart: !!deps.api && mayManageOwned(who, r.owner, config.identity.adminRoles),
      now: deps.now?.() ?? new Date(),
      ...(idle ? { idle } : {}),
      ...(wake.refused ? { startError: wake.refused.message } : {}),
    });
    const headers: IncomingHttpHeaders = { "content-security-policy": pageCsp(config.frameAncestors) };
    securityHeaders(headers, config.frameAncestors);
    const status = wake.refused?.status ?? (kind === "stopped" ? 404 : 503);
    sendOwn(req, res, status, "text/html; charset=utf-8", html, {
      ...(headers as Record<string, string>),
      "cache-control": "no-store",
      "referrer-policy": "same-origin",
      ...(kind === "starting" ? { "retry-after": "2" } : {}),
    });
  }

  /** The pages' script and stylesheet (reserved paths); false when `m` asks for neither. */
  function asset(req: IncomingMessage, res: ServerResponse, m: RouteMatch): boolean {
    const [type, text] =
      m.rest === SCRIPT_SUFFIX
        ? ["text/javascript; charset=utf-8", PAGE_JS]
        : m.rest === STYLE_SUFFIX
          ? ["text/css; charset=utf-8", PAGE_CSS]
          : [];
    if (!type || text === undefined) return false;
    const wrong = checkMethod(req.method, ["GET", "HEAD"]);
    if (wrong) sendJson(res, wrong.status, wrong.body, wrong.headers);
    // The URL carries the content's hash (?v=): a changed asset is a new URL.
    else sendOwn(req, res, 200, type, text, { "cache-control": "private, max-age=86400" });
    return true;
  }

  /** POST {prefix}/__portico/start (pages/start.ts): the passes, then the API's service layer. */
  function start(req: IncomingMessage, res: ServerResponse, m: RouteMatch, who: Identity): void {
    const { namespace, name } = m.route;
    const own = { scheme: schemeOf(config, req), host: req.headers.host ?? "", prefix: m.publicPrefix };
    const refusal =
      startMethod(req.method) ?? fromOwnPage(req.headers, own) ?? (deps.api ? undefined : NO_API);
    if (refusal) return sendJson(res, refusal.status, refusal.body, refusal.headers);
    startAnswer(deps.api!, who, namespace, name).then(
      (a) => sendJson(res, a.status, a.body),
      (err: unknown) => {
        log.error("start from the workspace page failed", {
          workspace: `${namespace}/${name}`,
          err: err instanceof Error ? (err.stack ?? err.message) : String(err),
        });
        sendJson(res, 500, { error: "internal", message: "the start failed; retry, or use the console" });
      },
    );
  }

  return { notReady, asset, start };
}

// --- Wake (issue 15): wake on access, and requests held while the workspace starts (./wake.ts).
/** What a request to a workspace that is not ready meets: a wake, a bounded wait, or the page/JSON at once. */
function workspaceWake(deps: WorkspaceSurfaceDeps, pages: ReturnType<typeof workspacePages>) {
  const { config, table, connections, metrics, log } = deps;
  const wakes = deps.api ? new Wakes(deps.api, (r) => metrics.wake(r)) : undefined;
  const waitMs = config.limits.wakeWaitMs;
  const actionOf = (m: RouteMatch, who: Identity, req: IncomingMessage) =>
    notReadyAction(m.route, who, req.headers, {
      adminRoles: config.identity.adminRoles,
      canStart: !!wakes,
      waitMs,
    });
  const since = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e9;
  const timedOut = (m: RouteMatch) => heldTimedOut(m.route, waitMs);
  const failedWake = (what: string, m: RouteMatch, err: unknown) =>
    log.error(what, {
      workspace: `${m.route.namespace}/${m.route.name}`,
      err: err instanceof Error ? (err.stack ?? err.message) : String(err),
    });

  /** Holds an HTTP request, counted against the user's long-lived connections, until its wait ends. */
  function hold(
    req: IncomingMessage,
    res: ServerResponse,
    m: RouteMatch,
    who: Identity,
    ctx: RequestCtx,
  ): void {
    if (waitMs === 0)
      return pages.notReady(req, res, { ...m, route: { ...m.route, state: "starting" } }, who);
    const ended = new EventEmitter();
    const refusal = connections.hold(who, ended);
    if (refusal) return sendJson(res, refusal.status, refusal.body, refusal.headers);
    ctx.held = true;
    const t0 = process.hrtime.bigint();
    // The proxy is the one waiting, not the client: the connection's idle timeout (--idle-timeout,
    // which may be shorter than --wake-wait) must not close it without an answer meanwhile.
    const idle = suspendIdleTimeout(req.socket);
    void waitReady(table, m.route.namespace, m.route.name, waitMs, res).then((o) => {
      idle.restore();
      ended.emit("close");
      metrics.heldWait(o.result, since(t0));
      if (o.result === "client_gone" || res.writableEnded) return;
      if (o.result === "forwarded") return forward(deps, req, res, { ...m, route: o.route }, who, ctx.client);
      if (o.result === "timed_out") {
        const r = timedOut(m);
        return sendJson(res, r.status, r.body, r.headers);
      }
      if (o.route) return pages.notReady(req, res, { ...m, route: o.route }, who);
      sendJson(res, 404, {
        error: "not_found",
        message: `workspace ${m.route.namespace}/${m.route.name} was deleted`,
      });
    });
  }

  /** A request the IDE cannot answer yet (HTTP). */
  function http(
    req: IncomingMessage,
    res: ServerResponse,
    m: RouteMatch,
    who: Identity,
    ctx: RequestCtx,
  ): void {
    const action = actionOf(m, who, req);
    if (action === "answer" || (action === "wait" && isNavigation(req)))
      return pages.notReady(req, res, m, who);
    if (action === "wait") return hold(req, res, m, who, ctx);
    wakes!.wake(who, m.route).then(
      (w) => {
        if (res.writableEnded || res.destroyed) return;
        if (!w.ok) return pages.notReady(req, res, m, who, { refused: w });
        if (isNavigation(req)) return pages.notReady(req, res, m, who, { woken: true });
        hold(req, res, m, who, ctx);
      },
      (err: unknown) => {
        failedWake("wake on access failed", m, err);
        sendJson(res, WAKE_FAILED.status, WAKE_FAILED.body);
      },
    );
  }

  /**
   * An upgrade the IDE cannot answer yet: woken and/or held (its socket already counts against the
   * user's long-lived connections), then relayed by `relay` with the ready route, or refused.
   */
  function upgrade(
    req: IncomingMessage,
    socket: Duplex,
    m: RouteMatch,
    who: Identity,
    reject: (r: Refusal) => void,
    gone: () => void,
    relay: (m: RouteMatch) => void,
  ): void {
    const notReadyRefusal = (r: Route | undefined) => upgradeNotReady(m.route, r);
    const action = actionOf(m, who, req);
    if (action === "answer") return reject(notReadyRefusal(m.route));
    const wait = () => {
      if (waitMs === 0) return reject(notReadyRefusal({ ...m.route, state: "starting" }));
      const t0 = process.hrtime.bigint();
      const idle = suspendIdleTimeout(socket);
      void waitReady(table, m.route.namespace, m.route.name, waitMs, socket).then((o) => {
        idle.restore();
        metrics.heldWait(o.result, since(t0));
        if (o.result === "client_gone" || socket.destroyed) return gone();
        if (o.result === "forwarded") return relay({ ...m, route: o.route });
        reject(o.result === "timed_out" ? timedOut(m) : notReadyRefusal(o.route));
      });
    };
    if (action === "wait") return wait();
    wakes!.wake(who, m.route).then(
      (w) => {
        if (socket.destroyed) return gone();
        if (!w.ok) return reject({ status: w.status, body: { error: w.error, message: w.message } });
        wait();
      },
      (err: unknown) => {
        failedWake("wake on access failed", m, err);
        reject(WAKE_FAILED);
      },
    );
  }

  return { http, upgrade };
}
// --- end wake

/**
 * Turns a connection's idle timeout off while the proxy holds its request (the client is waiting on
 * the proxy, not idle), and back to what it was (the server's --idle-timeout) once the wait is over.
 */
function suspendIdleTimeout(socket: object): { restore(): void } {
  // An upgrade's socket is typed as a Duplex; it is a net.Socket (TLS or not) in the server.
  const timed = socket as { timeout?: number; setTimeout?: (ms: number) => unknown };
  const was = timed.timeout ?? 0;
  timed.setTimeout?.(0);
  return { restore: () => void timed.setTimeout?.(was) };
}

export function workspaceSurface(deps: WorkspaceSurfaceDeps): Surface {
  const { config, gate, table, events, connections, origin, log } = deps;
  const may = (who: Identity, r: Route) => mayOpen(who, r, config.identity.adminRoles);
  const ownHostOf = (req: IncomingMessage, m: OwnHostMatch) =>
    ownHost(m, schemeOf(config, req), req.headers.host);
  const pages = workspacePages(deps);
  const wake = workspaceWake(deps, pages); // wake (issue 15)

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
      const relay = (ready: RouteMatch) => {
        const url = `ws://${toIde(req, ready, who, at.client, config)}${ready.upstreamPath}`;
        at.done(name, 101);
        // Issue 15: client-to-IDE messages longer than the class's limit are activity.
        const { namespace: ns, name: wsName, ignoreWebSocketMessagesUpTo: over } = ready.route;
        const activity = deps.activity;
        const messages = activity
          ? { over: over ?? 0, onMessage: () => activity.touch(ns, wsName, "proxy") }
          : undefined;
        deps.relay.relay(req, socket, head, url, upstreamHeaders(req.headers), name, undefined, messages);
      };
      if (m.route.state === "ready" && m.route.upstream) return relay(m);
      // Wake (issue 15): woken and/or held until ready (bounded), else refused.
      const gone = () => {
        at.done(name, 499);
        socket.destroy();
      };
      wake.upgrade(req, socket, m, who, reject, gone, relay);
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
      // The start endpoint decides who may see and start the workspace itself (the API's rules: a
      // stranger gets 404, a sharee 403), after its own origin pass.
      if (m.kind === "route" && m.rest === START_SUFFIX) return (pages.start(req, res, m, who), true);
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
      if (pages.asset(req, res, m)) return true;
      if (route.state !== "ready" || !route.upstream) wake.http(req, res, m, who, ctx);
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
