/**
 * The in-workspace keep-alive (issue 15, docs/lifecycle.md): a small listener of its own
 * (`--workspace-listen`, off by default) that the workspace's own code calls without credentials —
 * `curl -X POST "$PORTICO_KEEP_ALIVE_URL?duration=3h"` — and that answers nothing else.
 *
 * Who calls is the TCP peer address, and only that (X-Forwarded-For and every other header are
 * ignored): it must be the ready endpoint address of exactly one workspace in the route table, else
 * 403 and nothing is written. The trust assumption: in a CNI network a pod cannot send from another
 * pod's address; a CNI that masquerades pod traffic makes every call a 403 (fail closed). The
 * duration is capped by the class as the API's is (./keep-alive.ts). Small limits: no body, a
 * small head, short timeouts, a token bucket per peer address.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Workspace, WorkspaceClass } from "../../crds/types.ts";
import { annotationTime, KEEP_ALIVE_ANNOTATION, rfc3339 } from "../../common/model/workspace/lifecycle.ts";
import type { Logger } from "../../common/runtime/log.ts";
import { KeyedBuckets } from "../auth/limits.ts";
import type { Route } from "../routing/table.ts";
import { keepAliveDecision } from "./keep-alive.ts";

export const KEEP_ALIVE_PATH = "/keep-alive";

export interface WorkspaceListenerDeps {
  /** The route table's routes (ready ones carry the pod's address). */
  routes: () => Iterable<Route>;
  workspace: (namespace: string, name: string) => Workspace | undefined;
  workspaceClass: (ws: Workspace) => WorkspaceClass | undefined;
  /** Applies a JSON merge patch to the Workspace. */
  write: (namespace: string, name: string, patch: object) => Promise<unknown>;
  log: Pick<Logger, "info" | "warn">;
  now?: () => number;
  /** Calls per second per peer address (burst 5). */
  ratePerSecond?: number;
}

/** `::ffff:198.18.0.5` → `198.18.0.5`: an IPv4 peer on a dual-stack socket. */
export const plainAddress = (a: string | undefined): string => (a ?? "").replace(/^::ffff:(?=\d+\.)/, "");

/**
 * The one ready workspace whose pod address is `address`; undefined when none or more than one
 * (two routes claiming one address is a stale table: refuse rather than guess).
 */
export function workspaceAt(routes: Iterable<Route>, address: string): Route | undefined {
  let found: Route | undefined;
  for (const r of routes) {
    if (r.state !== "ready" || r.upstream?.host !== address) continue;
    if (found) return undefined;
    found = r;
  }
  return found;
}

type Answer = { status: number; body: Record<string, unknown>; headers?: Record<string, string> };

const refuse = (
  status: number,
  error: string,
  message: string,
  headers?: Record<string, string>,
): Answer => ({
  status,
  body: { error, message },
  ...(headers ? { headers } : {}),
});

/** The answer to one request, after the peer was checked (pure but for the write). */
export async function keepAliveAnswer(
  deps: WorkspaceListenerDeps,
  method: string | undefined,
  url: string | undefined,
  peer: string,
): Promise<Answer> {
  const u = new URL(url ?? "/", "http://x");
  if (u.pathname !== KEEP_ALIVE_PATH)
    return refuse(404, "not_found", `only ${KEEP_ALIVE_PATH} is served here (POST ?duration=3h, or GET)`);
  if (method !== "GET" && method !== "POST")
    return refuse(405, "method_not_allowed", "POST ?duration=3h sets a keep-alive; GET shows it", {
      allow: "GET, POST",
    });
  const route = workspaceAt(deps.routes(), peer);
  const ws = route && deps.workspace(route.namespace, route.name);
  if (!route || !ws)
    return refuse(
      403,
      "forbidden",
      `${peer} is not the address of a running workspace's pod: call from inside the workspace ` +
        "(a CNI that masquerades pod addresses cannot be told apart, and is refused)",
    );
  const who = { namespace: route.namespace, name: route.name };
  if (method === "GET") {
    const until = annotationTime(ws, KEEP_ALIVE_ANNOTATION);
    return {
      status: 200,
      body: {
        ...who,
        ...(until !== undefined ? { keepAliveUntil: rfc3339(until) } : {}),
        ...(ws.status?.stopsAt ? { stopsAt: ws.status.stopsAt } : {}),
      },
    };
  }
  const duration = u.searchParams.getAll("duration");
  const d = keepAliveDecision(
    ws,
    deps.workspaceClass(ws),
    duration.length === 1 ? duration[0] : undefined,
    (deps.now ?? Date.now)(),
  );
  if ("error" in d)
    return { status: 422, body: { error: "unprocessable", message: d.error, field: "duration" } };
  await deps.write(route.namespace, route.name, d.patch);
  deps.log.info("keep-alive from the workspace", {
    workspace: `${route.namespace}/${route.name}`,
    until: d.until ?? "cancelled",
  });
  return { status: 200, body: { ...who, ...(d.until ? { keepAliveUntil: d.until } : {}) } };
}

function send(res: ServerResponse, a: Answer): void {
  if (res.writableEnded) return;
  const text = JSON.stringify(a.body);
  res.writeHead(a.status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(text),
    "cache-control": "no-store",
    connection: "close",
    ...a.headers,
  });
  res.end(text);
}

/** The listener's server (not listening yet). */
export function workspaceListener(deps: WorkspaceListenerDeps): Server {
  const buckets = new KeyedBuckets({ ratePerSecond: deps.ratePerSecond ?? 1, burst: 5, maxKeys: 10_000 });
  const server = createServer(
    { maxHeaderSize: 4096, headersTimeout: 5000, requestTimeout: 5000 },
    (req, res) => handle(deps, buckets, req, res),
  );
  server.keepAliveTimeout = 1000;
  server.on("clientError", (_err, socket) => socket.destroy());
  return server;
}

function handle(
  deps: WorkspaceListenerDeps,
  buckets: KeyedBuckets,
  req: IncomingMessage,
  res: ServerResponse,
): void {
  const peer = plainAddress(req.socket.remoteAddress);
  const limited = buckets.take(peer);
  if (!limited.ok)
    return send(
      res,
      refuse(429, "rate_limited", "too many keep-alive calls from this address; retry later", {
        "retry-after": String(limited.retryAfterSeconds),
      }),
    );
  // No body is taken: a request that declares one is refused before it is read.
  if (req.headers["transfer-encoding"] !== undefined || Number(req.headers["content-length"] ?? 0) > 0)
    return send(
      res,
      refuse(413, "payload_too_large", "send no body: the duration goes in the query (?duration=3h)"),
    );
  keepAliveAnswer(deps, req.method, req.url, peer).then(
    (a) => send(res, a),
    (err: unknown) => {
      deps.log.warn("in-workspace keep-alive failed", {
        peer,
        err: err instanceof Error ? err.message : String(err),
      });
      send(res, refuse(503, "unavailable", "the keep-alive could not be written; retry"));
    },
  );
}
