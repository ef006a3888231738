/**
 * Passes more than one surface runs: refusals with the same wording everywhere, the origin pass with
 * its public scheme, the cap on long-lived connections per user, and "identify, then continue" for
 * upgrades. Each is built once by the dispatcher from the frozen config and handed to the surfaces.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "../../common/runtime/log.ts";
import type { Gate, Identified, Refused } from "../auth/gate.ts";
import type { Identity } from "../auth/identity.ts";
import { ConnectionCounts, type Verdict } from "../auth/limits.ts";
import type { ClientAddress } from "../http/client.ts";
import { changesState, checkOrigin, publicScheme } from "../http/origin.ts";
import type { Refusal } from "../http/request.ts";
import type { Caller } from "../gateway/serve.ts";
import type { ProxyConfig } from "../config.ts";
import type { EventHub } from "../events.ts";
import { sendJson } from "../http/errors.ts";
import type { RequestCtx } from "./surface.ts";

/** 429 with Retry-After for a spent limit; `what` names what was counted. */
export function tooMany(v: { retryAfterSeconds: number }, what: string): Refusal {
  return {
    status: 429,
    body: { error: "rate_limited", message: `too many ${what}: retry in ${v.retryAfterSeconds} s` },
    headers: { "retry-after": String(v.retryAfterSeconds) },
  };
}

/** The refusal of a spent per-IP limit, or nothing. */
export const ipLimited = (v: Verdict): Refusal | undefined =>
  v.ok ? undefined : tooMany(v, "requests from this address");

/** The refusal of a spent per-user limit, or nothing. */
export const userLimited = (v: Verdict, who: Identity): Refusal | undefined =>
  v.ok ? undefined : tooMany(v, `requests by ${who.user}`);

/** 401 for an upgrade without a valid identity (browsers get no login redirect on a WebSocket). */
export function unauthenticated(why: Refused): Refusal {
  return {
    status: 401,
    body: {
      error: "unauthenticated",
      message: why.presented ? "the credentials presented were refused" : "log in first",
    },
  };
}

/** 503 when the identity provider (JWKS, OIDC) could not be asked. */
export const AUTH_UNAVAILABLE: Refusal = Object.freeze({
  status: 503,
  body: { error: "auth_unavailable", message: "authentication is unavailable; retry" },
});

/** Where the allow-list of a refused cross-origin request lives, for the refusal's message. */
export const CLASS_HINT = "the WorkspaceClass's spec.allowedOrigins";
export const RULE_HINT = "the GatewayRoute rule's allowedOrigins";

/** The origin pass (http/origin.ts) bound to the proxy's public scheme settings. */
export type OriginPass = (
  req: IncomingMessage,
  allowed: readonly string[] | undefined,
  hint: string,
  upgrade?: boolean,
) => Refusal | undefined;

export function originPass(config: Pick<ProxyConfig, "trustForwarded" | "identity">): OriginPass {
  return (req, allowed, hint, upgrade = false) => {
    // Most requests are GETs: they skip the pass before its context is built (the hot path).
    if (!changesState(req.method, upgrade)) return undefined;
    return checkOrigin(req.method, req.headers, {
      scheme: publicScheme(req.headers, config.trustForwarded, config.identity.publicUrl),
      host: req.headers.host ?? "",
      allowed,
      upgrade,
      allowListHint: hint,
    });
  };
}

/**
 * Long-lived connections (WebSockets and status streams, on any route) per user, with a ceiling:
 * `hold` counts one more until `closes` emits "close", or returns the 429 when the user is at the
 * cap. The anonymous user of --auth=none (a local demo) is not counted.
 */
export class LongLivedConnections {
  readonly #counts: ConnectionCounts;

  constructor(maxPerUser: number) {
    this.#counts = new ConnectionCounts(maxPerUser);
  }

  hold(who: Identity, closes: { once(e: "close", f: () => void): unknown }): Refusal | undefined {
    if (who.via === "none") return undefined;
    const release = this.#counts.acquire(who.user);
    if (!release)
      return tooMany({ retryAfterSeconds: 5 }, `open WebSockets and status streams for ${who.user}`);
    closes.once("close", release);
    return undefined;
  }
}

/**
 * A workspace's status stream on `res`, held against `who`'s cap on long-lived connections. Once the
 * stream opened, `ctx` says so: the dispatcher then counts it and records how long it was held, but
 * keeps it out of the request-latency histogram (proxy/metrics.ts). A refusal or the hub's 404 is an
 * ordinary, timed answer.
 */
export function statusStream(
  events: Pick<EventHub, "serve">,
  connections: LongLivedConnections,
  req: IncomingMessage,
  res: ServerResponse,
  ctx: RequestCtx,
  who: Identity,
  workspace: { namespace: string; name: string },
): void {
  const held = connections.hold(who, res);
  if (held) return sendJson(res, held.status, held.body, held.headers);
  if (events.serve(req, res, workspace.namespace, workspace.name)) ctx.stream = "sse";
}

/**
 * Runs `next` with the gate's verdict on `req`, at once when the gate knows it (session cookie,
 * cached key) or when its promise settles; a failed look-up is logged and answered by `unavailable`.
 */
export function afterIdentify(
  gate: Gate,
  req: IncomingMessage,
  log: Logger,
  next: (i: Identified) => void,
  unavailable: () => void,
): void {
  const identified = gate.identify(req);
  if (!(identified instanceof Promise)) return next(identified);
  identified.then(next, (err: unknown) => {
    log.error("authentication failed", { err: (err as Error).stack ?? String(err) });
    unavailable();
  });
}

/** Who is asking, for a GatewayRoute's balancing, limits and X-Forwarded-For. */
export function caller(client: ClientAddress, who: Identity): Caller {
  return {
    user: who.user,
    clientIp: client.address,
    forwardedFor: client.forwardedFor,
    ...(who.token ? { token: who.token } : {}),
  };
}

/** A caller who did not authenticate (public rules): limits key on the address, no token. */
export function anonymous(client: ClientAddress): Caller {
  return { user: "", clientIp: client.address, forwardedFor: client.forwardedFor };
}
