/**
 * The gateway traffic surface: what no workspace route claims goes to the GatewayRoutes
 * (proxy/gateway/serve.ts: match table, balancing, health, retries, circuit breaker).
 *
 *   HTTP:       match → rule access (users, groups, roles) → origin → gateway.serve
 *   anonymous:  match (no workspace claims it) → `public: true` rule? → origin → gateway.serve
 *   WebSocket:  match → per-IP limit → identify (public rules: optional) → rule access → origin
 *               → per-user limit → hold a connection → gateway.upgrade
 */
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import type { Logger } from "../../common/runtime/log.ts";
import type { GatewayHit } from "../../common/model/gateway/model.ts";
import type { Gate, Identified } from "../auth/gate.ts";
import type { ProxyConfig } from "../config.ts";
import { checkRuleAccess, isPublic } from "../gateway/access.ts";
import type { Gateway } from "../gateway/serve.ts";
import { rejectSocket, sendJson, type ErrorBody } from "../http/errors.ts";
import type { Refusal } from "../http/request.ts";
import type { RouteTable } from "../routing/table.ts";
import {
  AUTH_UNAVAILABLE,
  RULE_HINT,
  afterIdentify,
  anonymous,
  caller,
  ipLimited,
  unauthenticated,
  userLimited,
  type LongLivedConnections,
  type OriginPass,
} from "./passes.ts";
import type { Addressed, Surface, UpgradeCtx } from "./surface.ts";

export interface GatewaySurfaceDeps {
  config: Pick<ProxyConfig, "identity">;
  gate: Gate;
  gateway: Gateway;
  /** Only to know whether a workspace claims a request (then no public rule may serve it). */
  table: Pick<RouteTable, "match">;
  log: Logger;
  connections: LongLivedConnections;
  origin: OriginPass;
}

export function gatewaySurface(deps: GatewaySurfaceDeps): Surface {
  const { gate, gateway, connections, origin, log } = deps;
  const adminRoles = deps.config.identity.adminRoles;
  const match = (req: IncomingMessage, { host, target }: Addressed) =>
    gateway.match({ host, method: req.method ?? "GET", path: target.path, headers: req.headers });
  const label = (hit: GatewayHit) => `gateway:${hit.ref.namespace}/${hit.ref.route}`;

  /** A WebSocket to a GatewayRoute: identified like any request, then the gateway decides. */
  function upgradeHit(req: IncomingMessage, socket: Duplex, head: Buffer, hit: GatewayHit, at: UpgradeCtx) {
    const name = label(hit);
    const reject = (status: number, body: ErrorBody, headers: Record<string, string> = {}) => {
      at.done(name, status);
      rejectSocket(socket, status, body, headers);
    };
    const refuse = (r: Refusal) => reject(r.status, r.body, r.headers);
    const { path, query } = at.target;
    const limited = ipLimited(gate.limitIp(at.client.address));
    if (limited) return refuse(limited);
    const next = (i: Identified) => {
      if (socket.destroyed) return;
      if ("reason" in i) {
        if (!isPublic(hit.ref.rule)) {
          gate.logRefusal(req, i, at.client.address);
          return refuse(unauthenticated(i));
        }
        const cross = origin(req, hit.ref.rule.allowedOrigins, RULE_HINT, true);
        if (cross) return refuse(cross);
        if (gateway.upgrade(req, socket, head, hit, anonymous(at.client), path, query, reject))
          at.done(name, 101);
        return;
      }
      // In order: rule access, origin, then the limits (which count only requests that may pass).
      const refusal =
        checkRuleAccess(hit.ref, i.who, adminRoles) ??
        origin(req, hit.ref.rule.allowedOrigins, RULE_HINT, true) ??
        userLimited(gate.limitUser(i.who), i.who) ??
        connections.hold(i.who, socket);
      if (refusal) return refuse(refusal);
      if (gateway.upgrade(req, socket, head, hit, caller(at.client, i.who), path, query, reject))
        at.done(name, 101);
    };
    afterIdentify(gate, req, log, next, () => refuse(AUTH_UNAVAILABLE));
  }

  return {
    serve(req, res, at, ctx, who) {
      const hit = match(req, at);
      if (!hit) return false;
      ctx.route = label(hit);
      const refusal =
        checkRuleAccess(hit.ref, who, adminRoles) ?? origin(req, hit.ref.rule.allowedOrigins, RULE_HINT);
      if (refusal) sendJson(res, refusal.status, refusal.body, refusal.headers);
      else gateway.serve(req, res, hit, caller(ctx.client, who), at.target.path, at.target.query);
      return true;
    },

    anonymous(req, res, at, ctx) {
      // A `public: true` rule is served without authentication, unless a workspace claims the request.
      if (deps.table.match(at.host, at.target)) return false;
      const hit = match(req, at);
      if (!hit || !isPublic(hit.ref.rule)) return false;
      ctx.route = label(hit);
      const cross = origin(req, hit.ref.rule.allowedOrigins, RULE_HINT);
      if (cross) sendJson(res, cross.status, cross.body, cross.headers);
      else gateway.serve(req, res, hit, anonymous(ctx.client), at.target.path, at.target.query);
      return true;
    },

    upgrade(req, socket, head, at) {
      const hit = match(req, at);
      if (!hit) return false;
      upgradeHit(req, socket, head, hit, at);
      return true;
    },
  };
}
