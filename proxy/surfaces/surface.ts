/**
 * What a surface is, and the context the dispatcher (proxy/server.ts) hands it.
 *
 * A surface is one kind of traffic the proxy serves: workspace traffic, gateway traffic, status
 * streams, the auth endpoints (and later the API and the console). The dispatcher runs the passes
 * every request shares (method, Host and target, body limit, per-IP limit, identity, per-user limit)
 * and then offers the request to each surface in order; the first that claims it serves it. A
 * surface is a short pipeline of named passes (proxy/http/*.ts, ./passes.ts) over what it was handed.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import type { Identity } from "../auth/identity.ts";
import type { ClientAddress } from "../http/client.ts";
import type { Refusal } from "../http/request.ts";
import type { Target } from "../routing/path.ts";

/** A request that passed the shared front passes: where it is going. */
export interface Addressed {
  /** The Host header's name, lower-case, without the port. */
  host: string;
  target: Target;
}

/** What the passes found out about an HTTP request, for the access log and the metrics. */
export interface RequestCtx {
  /** The metrics and access-log label; a surface sets it when it claims the request. */
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
  /**
   * Set by the surface once the response it serves is a long-lived stream ("sse": a status stream):
   * counted and its held time recorded, but not timed as a request (proxy/metrics.ts).
   */
  stream?: "sse";
  /**
   * Wake (issue 15): set once the request was held for a waking or starting workspace. Counted, but
   * not timed as a request: the wait is in portico_wake_wait_seconds, and a cold start is no slow request.
   */
  held?: boolean;
}

/** An upgrade request that passed the handshake and target checks. */
export interface UpgradeCtx extends Addressed {
  client: ClientAddress;
  /** Records the outcome (metrics label and status) once, when the socket is answered. */
  done(route: string, status: number): void;
}

/**
 * One kind of traffic. Every hook returns `true` when the surface took the request (it answers it,
 * now or later) and `false` to let the next surface look. Hooks a surface does not serve are absent.
 */
export interface Surface {
  /** Before identification: served to anyone (the login routes). Per-IP limits are the surface's own. */
  beforeIdentity?(req: IncomingMessage, res: ServerResponse, at: Addressed, ctx: RequestCtx): boolean;
  /** A request without a valid identity: served only where the surface allows it (public rules). */
  anonymous?(req: IncomingMessage, res: ServerResponse, at: Addressed, ctx: RequestCtx): boolean;
  /** An identified request, within its per-user limit. */
  serve?(req: IncomingMessage, res: ServerResponse, at: Addressed, ctx: RequestCtx, who: Identity): boolean;
  /** A WebSocket upgrade; the surface identifies the caller itself, before the handshake completes. */
  upgrade?(req: IncomingMessage, socket: Duplex, head: Buffer, at: UpgradeCtx): boolean;
}

/** Answers a refused upgrade on the raw socket and records it. */
export type RejectUpgrade = (route: string, r: Refusal) => void;
