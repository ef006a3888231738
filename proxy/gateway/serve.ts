/**
 * Serving GatewayRoutes: the compiled match table (common/model/gateway/match.ts) and, per served rule,
 * its endpoints, balancer, health, circuit breaker, rate limit and connection pool. The request
 * passes before this (method, Host, path, identity) are the proxy's own; here a matched request is
 * rate limited, checked against the breaker, rewritten, and sent to an endpoint with retries.
 *
 * Retries go to another endpoint when one is left, and only where sending again is safe: a request
 * without a body, after a failure the rule retries on (`retries.retryOn`, default ConnectFailure);
 * a connect failure sent nothing, so any bodiless method may go again; after any other failure only
 * idempotent methods do. A request with a body is never sent twice. Without `retries`, a rule gets
 * the API's defaults (1 retry, on ConnectFailure): a killed endpoint costs only its in-flight requests.
 *
 * The gateway's own credentials never reach a backend; the caller's access token does where the rule
 * says `forwardToken` — every caller's, whoever they are: the rule's author (whoever may write
 * GatewayRoutes in its namespace) chose to hand callers' tokens to that backend, and the route is
 * an API the callers mean to call as themselves (docs/security.md). Workspace classes differ: there
 * only the owner's own token is forwarded.
 *
 * Health is this replica's own: active probes and passive ejection per endpoint, the breaker per rule.
 * Workspace routes come first: a GatewayRoute serves what no workspace route claims.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import type { Registry } from "prom-client";
import type { LookupFunction } from "node:net";
import { Agent, request as undiciRequest } from "undici";
import type { GatewayRoute, RetryOn } from "../../crds/types.ts";
import { DEFAULT_URL_POLICY, type UrlPolicy } from "../../common/model/gateway/address.ts";
import { ruleEndpoints, type ClusterView } from "../../common/model/gateway/endpoints.ts";
import { compileGatewayTable } from "../../common/model/gateway/match.ts";
import type {
  Balancer,
  Endpoint,
  GatewayHit,
  GatewayTable,
  RequestFacts,
  RuleRef,
} from "../../common/model/gateway/model.ts";
import type { Logger } from "../../common/runtime/log.ts";
import { parseDurationMs } from "../../common/runtime/settings.ts";
import { KeyedBuckets } from "../auth/limits.ts";
import { limitKey } from "../http/client.ts";
import { classifyUpstreamError, errorCode, sendJson, type ErrorBody } from "../http/errors.ts";
import { BodyTooLarge, DivertedAnswer, upstreamRequestHeaders, type Forwarder } from "../http/forward.ts";
import { forwardedHeaders, stripCredentials } from "../http/request.ts";
import { upstreamHeaders, type WsRelay } from "../http/websocket.ts";
import { createBalancer } from "./balancer.ts";
import { ActiveProber, CircuitBreaker, EndpointHealth, type Probe } from "./health.ts";
import { guardedLookup, refusedAddress } from "./guard.ts";
import { createGatewayMetrics, type GatewayMetrics } from "./metrics.ts";
import { modifyHeaders, upstreamPath } from "./transform.ts";

export interface GatewayDeps {
  log: Logger;
  registry: Registry;
  /** Shared with workspace traffic: streams both ways with backpressure; each rule brings its pool. */
  forwarder: Forwarder;
  relay: WsRelay;
  sessionCookie: string;
  trustForwarded: boolean;
  /** The proxy's own limits, which a rule may tighten. */
  maxBodyBytes: number;
  idleTimeoutMs: number;
  maxResponseHeaderBytes: number;
  /** Where url backends may point: judged when routes compile, and on every resolved address at connect. */
  urlPolicy?: UrlPolicy;
  now?: () => number;
}

/** Who is asking, as far as routing and limits need it. */
export interface Caller {
  user: string;
  clientIp: string;
  /** X-Forwarded-For to send on: the client's address and the trusted hops (proxy/http/client.ts). */
  forwardedFor: string;
  /** The caller's own access token (bearer, or the session's), for rules with `forwardToken`. */
  token?: string;
}

type FailureKind = RetryOn;

const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"]);
const CONNECT_FAILURES = new Set([
  "ECONNREFUSED",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "UND_ERR_CONNECT_TIMEOUT",
  "ENOTFOUND",
  "EAI_AGAIN",
]);
const TIMEOUTS = new Set(["UND_ERR_HEADERS_TIMEOUT", "UND_ERR_BODY_TIMEOUT", "ETIMEDOUT", "ESOCKETTIMEDOUT"]);

/** What kind of failure an attempt met (for retryOn, metrics and the answer). */
export function failureKind(err: Error): FailureKind {
  if (err instanceof DivertedAnswer) return statusFailureKind(err.status);
  const code = errorCode(err);
  if (CONNECT_FAILURES.has(code)) return "ConnectFailure";
  if (TIMEOUTS.has(code)) return "Timeout";
  return "Reset";
}

/** Whether an answer with `status` is one of the failures in `on`. */
export function retryableStatus(status: number, on: ReadonlySet<RetryOn>): boolean {
  if (on.has("ServerError") && status >= 500) return true;
  return on.has("GatewayError") && status >= 502 && status <= 504;
}

/** The failure kind of a 5xx answer: 502–504 are the gateway's kind, any other the server's. */
export function statusFailureKind(status: number): "GatewayError" | "ServerError" {
  return status >= 502 && status <= 504 ? "GatewayError" : "ServerError";
}

/**
 * Whether an attempt that failed with `kind` may be sent again: only a `safe` one (no body, attempts
 * left), on a failure the rule retries on, and either nothing was sent (a connect failure) or the
 * method is idempotent.
 */
export function mayRetry(
  kind: FailureKind,
  a: { safe: boolean; retryOn: ReadonlySet<RetryOn>; method: string },
): boolean {
  return a.safe && a.retryOn.has(kind) && (kind === "ConnectFailure" || IDEMPOTENT.has(a.method));
}

/** The answer when the last attempt failed before anything was written: status and what failed where. */
export function upstreamFailure(
  err: Error,
  kind: FailureKind,
  rule: string,
  endpoint: string,
): { status: number; body: ErrorBody } {
  const diverted = err instanceof DivertedAnswer;
  const status = diverted ? err.status : kind === "Timeout" ? 504 : kind === "ConnectFailure" ? 503 : 502;
  return {
    status,
    body: {
      error: kind === "Timeout" ? "upstream_timeout" : "upstream_error",
      message: `${rule}: the backend at ${endpoint} failed (${kind}${diverted ? ` ${err.status}` : `, ${errorCode(err)}`})`,
    },
  };
}

const bodyTooLarge = (max: number): ErrorBody => ({
  error: "body_too_large",
  message: `request bodies on this route are limited to ${max} bytes`,
});

const ms = (d: string | undefined, fallback: number) =>
  d === undefined ? fallback : (parseDurationMs(d) ?? fallback);

/** Everything one served rule keeps between requests. */
interface RuleState {
  ref: RuleRef;
  /** `key@generation`: a changed rule starts afresh. */
  id: string;
  endpoints: Endpoint[];
  /** Whether the rule has health checks (else every endpoint counts as healthy). */
  checked: boolean;
  health: Map<string, EndpointHealth>;
  inflight: Map<string, number>;
  balancer: Balancer;
  breaker?: CircuitBreaker;
  limiter?: KeyedBuckets;
  prober?: ActiveProber;
  agent: Agent;
  attempts: number;
  retryOn: ReadonlySet<RetryOn>;
  backoffMs: number;
  requestTimeoutMs: number;
  maxBodyBytes: number;
}

/** A request turned away before any attempt: its status, the metric's reason and the answer. */
interface Refusal {
  status: number;
  reason: string;
  body: ErrorBody;
  headers: Record<string, string>;
}

/** One HTTP request on its way through a rule: what its attempts share. */
interface Exchange {
  req: IncomingMessage;
  res: ServerResponse;
  st: RuleState;
  /** The rule as it was when the request came in (a retry after backoff uses the same). */
  rule: RuleRef["rule"];
  hit: GatewayHit;
  who: Caller;
  path: string;
  query: string;
  /** The rule's key, for metrics and messages. */
  name: string;
  started: number;
  /** The Host the client sent: a Service's pods get it, a url backend its own. */
  host: string;
  hasBody: boolean;
  method: string;
  hashKey: string | undefined;
  /** Endpoints already tried: a retry goes elsewhere. */
  tried: Set<string>;
  finished: boolean;
  timer: NodeJS.Timeout | undefined;
  /** A breaker slot is held: given back or judged once, when the request finishes. */
  breakerTaken: boolean;
}

/** One attempt at one endpoint. */
interface Attempt {
  n: number;
  ep: Endpoint;
  /** Whether a failure of this kind may be sent again. */
  again(kind: FailureKind): boolean;
  /** Ends the attempt's in-flight count (once). */
  release(): void;
  /** The attempt's verdict for passive health: once, at the first sign (headers or failure). */
  settle(ok: boolean): void;
}

export class Gateway {
  readonly #d: GatewayDeps;
  readonly #now: () => number;
  readonly #metrics: GatewayMetrics;
  #table: GatewayTable = compileGatewayTable([]);
  readonly #states = new Map<string, RuleState>();
  readonly #policy: UrlPolicy;
  readonly #lookup: LookupFunction;

  constructor(d: GatewayDeps) {
    this.#d = d;
    this.#policy = d.urlPolicy ?? DEFAULT_URL_POLICY;
    this.#lookup = guardedLookup(this.#policy);
    this.#now = d.now ?? (() => performance.now());
    this.#metrics = createGatewayMetrics(d.registry, {
      endpoints: () =>
        [...this.#states.values()].flatMap((s) =>
          s.endpoints.map((e) => ({
            rule: s.ref.key,
            endpoint: e.id,
            state: s.health.get(e.id)?.state(this.#now()) ?? "healthy",
          })),
        ),
      breakers: () =>
        [...this.#states.values()].flatMap((s) =>
          s.breaker ? [{ rule: s.ref.key, state: s.breaker.state(this.#now()) }] : [],
        ),
    });
  }

  /** Rules served now. */
  get size(): number {
    return this.#states.size;
  }

  /** Rebuilds the table and every rule's endpoints from the caches; keeps health where endpoints stay. */
  update(routes: readonly GatewayRoute[], view: ClusterView): void {
    const before = this.#served();
    this.#table = compileGatewayTable(routes, this.#policy);
    for (const [key, problems] of this.#table.problems)
      this.#d.log.warn("GatewayRoute not served", { route: key, problems });
    const keep = new Set<string>();
    for (const ref of this.#table.rules) {
      keep.add(ref.key);
      let st = this.#states.get(ref.key);
      const id = `${ref.key}@${ref.generation}`;
      if (st && st.id !== id) {
        this.#dispose(st);
        st = undefined;
      }
      st ??= this.#newState(ref, id);
      st.ref = ref;
      this.#setEndpoints(st, ruleEndpoints(ref.namespace, ref.rule, view));
      this.#states.set(ref.key, st);
    }
    for (const [key, st] of this.#states)
      if (!keep.has(key)) {
        this.#dispose(st);
        this.#states.delete(key);
      }
    this.#forgetGone(before);
  }

  /** Rule → the endpoints it serves now. */
  #served(): Map<string, string[]> {
    return new Map([...this.#states].map(([key, st]) => [key, st.endpoints.map((e) => e.id)]));
  }

  /** Removes the series of every rule and endpoint that was served `before` and is not now. */
  #forgetGone(before: Map<string, string[]>): void {
    for (const [rule, endpoints] of before) {
      const st = this.#states.get(rule);
      if (!st) this.#metrics.forgetRule(rule);
      else for (const e of endpoints) if (!st.health.has(e)) this.#metrics.forgetEndpoint(rule, e);
    }
  }

  match(facts: RequestFacts): GatewayHit | undefined {
    return this.#table.match(facts);
  }

  /**
   * Serves an HTTP request the table matched. `path`/`query` as the request passes parsed them.
   * Admitted (rate limit, body size, breaker), its headers prepared once, then sent in attempts.
   */
  serve(
    req: IncomingMessage,
    res: ServerResponse,
    hit: GatewayHit,
    who: Caller,
    path: string,
    query: string,
  ): void {
    const st = this.#states.get(hit.ref.key);
    if (!st) return sendJson(res, 404, { error: "not_found", message: "the route was just removed" });
    const started = this.#now();
    const declared = Number(req.headers["content-length"] ?? "0");
    const refusal = this.#admit(st, who, declared);
    if (refusal) {
      this.#metrics.refused(st.ref.key, refusal.reason);
      this.#metrics.request(st.ref.key, "", refusal.status, (this.#now() - started) / 1000);
      return sendJson(res, refusal.status, refusal.body, refusal.headers);
    }
    const x: Exchange = {
      req,
      res,
      st,
      rule: st.ref.rule,
      hit,
      who,
      path,
      query,
      name: st.ref.key,
      started,
      host: req.headers.host ?? "",
      hasBody: declared > 0 || req.headers["transfer-encoding"] !== undefined,
      method: req.method ?? "GET",
      hashKey: undefined,
      tried: new Set(),
      finished: false,
      timer: undefined,
      breakerTaken: st.breaker !== undefined,
    };
    this.#prepareHeaders(req, x.rule, hit, who, x.host);
    x.hashKey = hashKeyOf(req.headers, x.rule.loadBalancer?.hashOn);
    res.once("close", () => this.#finish(x, undefined, "", 499));
    this.#armTimeout(x);
    this.#attempt(x, 0);
  }

  /**
   * A WebSocket upgrade the table matched: refused when the rule turns WebSockets off, else relayed
   * to one endpoint (hash strategies keep a client on one; no retries once the handshake is sent).
   */
  upgrade(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    hit: GatewayHit,
    who: Caller,
    path: string,
    query: string,
    reject: (status: number, body: ErrorBody, headers?: Record<string, string>) => void,
  ): boolean {
    const refused = (status: number, body: ErrorBody, headers?: Record<string, string>) => {
      reject(status, body, headers);
      return false;
    };
    const st = this.#states.get(hit.ref.key);
    if (!st) return refused(404, { error: "not_found", message: "the route was just removed" });
    const name = st.ref.key;
    if (st.ref.rule.websocket === false) {
      this.#metrics.refused(name, "websocket_disabled");
      return refused(403, { error: "websocket_disabled", message: `${name} does not take WebSockets` });
    }
    const limited = this.#limit(st, who);
    if (limited) return refused(429, limited.body, limited.headers);
    const ep = this.#pick(
      st,
      who.clientIp,
      hashKeyOf(req.headers, st.ref.rule.loadBalancer?.hashOn),
      new Set(),
    );
    if (!ep) return refused(503, { error: "no_healthy_backend", message: `no healthy backend for ${name}` });
    this.#prepareHeaders(req, st.ref.rule, hit, who, req.headers.host ?? "");
    const target = upstreamPath(path, query, hit.matchedPrefix, st.ref.rule.rewrite, ep.basePath);
    const ws = ep.origin.replace(/^http/, "ws");
    this.#metrics.upgraded(name, ep.id);
    this.#d.relay.relay(req, socket, head, ws + target, upstreamHeaders(req.headers), name, this.#lookup);
    return true;
  }

  close(): void {
    for (const st of this.#states.values()) this.#dispose(st);
    this.#states.clear();
  }

  /** Rate limit, declared body size, then the breaker (last: a granted slot must be given back). */
  #admit(st: RuleState, who: Caller, declared: number): Refusal | undefined {
    const limited = this.#limit(st, who);
    if (limited) return { status: 429, reason: "rate_limited", ...limited };
    if (st.maxBodyBytes > 0 && declared > st.maxBodyBytes)
      return { status: 413, reason: "body_too_large", body: bodyTooLarge(st.maxBodyBytes), headers: {} };
    if (st.breaker && !st.breaker.tryAcquire(this.#now()))
      return {
        status: 503,
        reason: "circuit_open",
        body: { error: "circuit_open", message: `the backends of ${st.ref.key} keep failing; retry later` },
        headers: { "retry-after": String(Math.max(1, Math.ceil(this.#retryAfterMs(st) / 1000))) },
      };
    return undefined;
  }

  /** The request headers a backend gets: no gateway credentials, the caller's token where the rule says. */
  #prepareHeaders(
    req: IncomingMessage,
    rule: RuleRef["rule"],
    hit: GatewayHit,
    who: Caller,
    host: string,
  ): void {
    stripCredentials(req.headers, this.#d.sessionCookie);
    if (rule.forwardToken && who.token) req.headers.authorization = `Bearer ${who.token}`;
    forwardedHeaders(req.headers, {
      client: { address: who.clientIp, forwardedFor: who.forwardedFor },
      proto: "http",
      host,
      prefix: rule.rewrite && hit.matchedPrefix && hit.matchedPrefix !== "/" ? hit.matchedPrefix : "",
      trust: this.#d.trustForwarded,
    });
    modifyHeaders(req.headers, rule.requestHeaders);
  }

  /** The request is over (answered, failed, or the client left): once, with the breaker's verdict. */
  #finish(x: Exchange, ok: boolean | undefined, endpoint: string, status: number): void {
    if (x.finished) return;
    x.finished = true;
    clearTimeout(x.timer);
    if (x.breakerTaken) {
      x.breakerTaken = false;
      if (ok === undefined) x.st.breaker!.release(this.#now());
      else x.st.breaker!.onResult(ok, this.#now());
    }
    if (this.#serves(x.name, endpoint))
      this.#metrics.request(x.name, endpoint, status, (this.#now() - x.started) / 1000);
  }

  /**
   * Whether `rule` (and `endpoint`, unless empty) is still served: a request that finishes after its
   * endpoint or rule left is not recorded, or it would bring back the series removed with them.
   */
  #serves(rule: string, endpoint: string): boolean {
    const st = this.#states.get(rule);
    return st !== undefined && (endpoint === "" || st.health.has(endpoint));
  }

  /** The rule's whole-request timeout, over every attempt: 504, or a cut if the answer had started. */
  #armTimeout(x: Exchange): void {
    const { st, res } = x;
    if (st.requestTimeoutMs <= 0) return;
    x.timer = setTimeout(() => {
      if (res.headersSent) return void res.destroy(); // half an answer must not look complete
      this.#finish(x, false, "", 504);
      sendJson(res, 504, {
        error: "upstream_timeout",
        message: `no answer from ${x.name} within ${st.requestTimeoutMs} ms`,
      });
    }, st.requestTimeoutMs);
    x.timer.unref();
  }

  /** Attempt `n`: to an endpoint not tried yet, or 503 when no healthy one is left. */
  #attempt(x: Exchange, n: number): void {
    if (x.finished || x.res.destroyed) return;
    const ep = this.#pick(x.st, x.who.clientIp, x.hashKey, x.tried);
    if (!ep) return this.#noHealthyBackend(x);
    x.tried.add(ep.id);
    // A URL backend is its own virtual host; a Service's pods get the Host the client sent.
    if (ep.id.startsWith("http")) x.req.headers.host = new URL(ep.origin).host;
    else x.req.headers.host = x.host;
    this.#forward(x, this.#begin(x, ep, n));
  }

  #noHealthyBackend(x: Exchange): void {
    this.#metrics.refused(x.name, "no_healthy_backend");
    this.#finish(x, false, "", 503);
    sendJson(
      x.res,
      503,
      { error: "no_healthy_backend", message: `no healthy backend for ${x.name}` },
      { "retry-after": "2" },
    );
  }

  /** Counts the attempt in flight on its endpoint and gives it its once-only release and verdict. */
  #begin(x: Exchange, ep: Endpoint, n: number): Attempt {
    const { st } = x;
    const safe = !x.hasBody && n < st.attempts;
    // In flight until its answer has ended (or failed, or the client left): least connections
    // counts requests that are still streaming, not only those waiting for headers.
    st.inflight.set(ep.id, (st.inflight.get(ep.id) ?? 0) + 1);
    let released = false;
    let judged = false;
    const a: Attempt = {
      n,
      ep,
      again: (kind) => mayRetry(kind, { safe, retryOn: st.retryOn, method: x.method }),
      release: () => {
        if (released) return;
        released = true;
        st.inflight.set(ep.id, Math.max(0, (st.inflight.get(ep.id) ?? 1) - 1));
      },
      settle: (ok) => {
        if (judged) return;
        judged = true;
        st.health.get(ep.id)?.passiveResult(ok, this.#now());
      },
    };
    x.res.once("close", a.release);
    return a;
  }

  /** Sends the attempt; a retryable 5xx is diverted (dropped) when it may go again elsewhere. */
  #forward(x: Exchange, a: Attempt): void {
    const { req, res, st, rule } = x;
    this.#d.forwarder.forward(
      req,
      res,
      {
        origin: a.ep.origin,
        path: upstreamPath(x.path, x.query, x.hit.matchedPrefix, rule.rewrite, a.ep.basePath),
        maxBodyBytes: st.maxBodyBytes,
        dispatcher: st.agent,
        headers: upstreamRequestHeaders(req.headers),
      },
      {
        divert: (status) =>
          x.finished || (retryableStatus(status, st.retryOn) && a.again(statusFailureKind(status))),
        onResponseHeaders: (status, h) => {
          a.settle(status < 500);
          modifyHeaders(h, rule.responseHeaders);
        },
        onDone: (status) => {
          a.release();
          this.#finish(x, status < 500, a.ep.id, status);
        },
        onError: (err, responseStarted) => this.#failed(x, a, err, responseStarted),
      },
    );
  }

  /** An attempt failed: refused address, body too large, retry, cut, or an answer naming the failure. */
  #failed(x: Exchange, a: Attempt, err: Error, responseStarted: boolean): void {
    a.release();
    const refusedBy = refusedAddress(err);
    if (refusedBy && !x.finished) return this.#addressRefused(x, a, refusedBy);
    if (err instanceof BodyTooLarge) return this.#bodyTooLarge(x, a);
    const kind = failureKind(err);
    a.settle(false);
    if (this.#serves(x.name, a.ep.id)) this.#metrics.upstreamError(x.name, a.ep.id, kind);
    if (x.finished) return;
    if (!responseStarted && a.again(kind) && !x.res.destroyed) return this.#retry(x, a.n);
    if (responseStarted) {
      this.#finish(x, false, a.ep.id, 502);
      return void x.res.destroy();
    }
    const { status, body } = upstreamFailure(err, kind, x.name, a.ep.id);
    this.#d.log.warn("gateway upstream error", {
      rule: x.name,
      endpoint: a.ep.id,
      kind,
      code: errorCode(err),
    });
    this.#finish(x, false, a.ep.id, status);
    sendJson(x.res, status, body);
  }

  /** A url backend's name resolved to a refused address: no socket was opened, nothing sent. */
  #addressRefused(x: Exchange, a: Attempt, refusedBy: NonNullable<ReturnType<typeof refusedAddress>>): void {
    a.settle(true);
    this.#metrics.refused(x.name, "address_refused");
    this.#d.log.warn("gateway backend address refused", {
      rule: x.name,
      endpoint: a.ep.id,
      reason: refusedBy.reason,
    });
    this.#finish(x, undefined, a.ep.id, 403);
    const fault = classifyUpstreamError(refusedBy, x.name);
    sendJson(x.res, fault.status, fault.body);
  }

  /** The body outgrew the rule's limit while streaming: 413, and the connection closed after it. */
  #bodyTooLarge(x: Exchange, a: Attempt): void {
    a.settle(true);
    this.#metrics.refused(x.name, "body_too_large");
    this.#finish(x, undefined, a.ep.id, 413);
    sendJson(x.res, 413, bodyTooLarge(x.st.maxBodyBytes), { connection: "close" });
    x.res.once("finish", () => x.req.socket.destroy());
  }

  /** The next attempt, after the rule's backoff if it has one. */
  #retry(x: Exchange, n: number): void {
    this.#metrics.retry(x.name);
    if (x.st.backoffMs > 0) setTimeout(() => this.#attempt(x, n + 1), x.st.backoffMs).unref();
    else this.#attempt(x, n + 1);
  }

  #pick(
    st: RuleState,
    clientIp: string,
    hashKey: string | undefined,
    tried: ReadonlySet<string>,
  ): Endpoint | undefined {
    // Without health checks every ready endpoint is healthy: no list to build per request.
    const healthy = st.checked
      ? st.endpoints.filter((e) => st.health.get(e.id)?.healthy(this.#now()) ?? true)
      : st.endpoints;
    return st.balancer.pick(healthy, { clientIp, hashKey, exclude: tried });
  }

  #limit(st: RuleState, who: Caller): { body: ErrorBody; headers: Record<string, string> } | undefined {
    if (!st.limiter) return undefined;
    const key = st.ref.rule.rateLimit?.key === "User" ? `u:${who.user}` : `ip:${limitKey(who.clientIp)}`;
    const v = st.limiter.take(key);
    if (v.ok) return undefined;
    this.#metrics.refused(st.ref.key, "rate_limited");
    return {
      body: {
        error: "rate_limited",
        message: `too many requests on ${st.ref.key}: retry in ${v.retryAfterSeconds} s`,
      },
      headers: { "retry-after": String(v.retryAfterSeconds) },
    };
  }

  #retryAfterMs(st: RuleState): number {
    return ms(st.ref.rule.circuitBreaker?.openDuration, 30_000);
  }

  #newState(ref: RuleRef, id: string): RuleState {
    const rule = ref.rule;
    const inflight = new Map<string, number>();
    const t = rule.timeouts ?? {};
    const idleMs = ms(t.idle, this.#d.idleTimeoutMs);
    const st: RuleState = {
      ref,
      id,
      endpoints: [],
      checked: rule.healthCheck !== undefined,
      health: new Map(),
      inflight,
      balancer: createBalancer(rule.loadBalancer?.strategy, (e) => inflight.get(e) ?? 0),
      ...(rule.circuitBreaker ? { breaker: new CircuitBreaker(rule.circuitBreaker) } : {}),
      ...(rule.rateLimit
        ? {
            limiter: new KeyedBuckets({
              ratePerSecond: rule.rateLimit.requestsPerSecond,
              burst: rule.rateLimit.burst ?? rule.rateLimit.requestsPerSecond,
              maxKeys: 100_000,
            }),
          }
        : {}),
      agent: new Agent({
        // url backends' names are resolved through the address policy (Service endpoints are IPs).
        connect: { timeout: ms(t.connect, 5_000), lookup: this.#lookup },
        // 0s turns the idle limit off, as the API says.
        headersTimeout: idleMs,
        bodyTimeout: idleMs,
        keepAliveTimeout: 4_000,
        maxHeaderSize: this.#d.maxResponseHeaderBytes,
        pipelining: 1,
      }),
      attempts: rule.retries?.attempts ?? 1,
      retryOn: new Set(rule.retries?.retryOn ?? ["ConnectFailure"]),
      backoffMs: ms(rule.retries?.backoff, 0),
      requestTimeoutMs: ms(t.request, 0),
      maxBodyBytes:
        rule.maxBodyBytes !== undefined && rule.maxBodyBytes > 0
          ? this.#d.maxBodyBytes > 0
            ? Math.min(rule.maxBodyBytes, this.#d.maxBodyBytes)
            : rule.maxBodyBytes
          : this.#d.maxBodyBytes,
    };
    const active = rule.healthCheck?.active;
    if (active)
      st.prober = new ActiveProber(active, {
        // Probes go through the rule's pool, so through the address policy too.
        probe: agentProbe(st.agent),
        onResult: (endpoint, ok) => {
          const h = st.health.get(endpoint);
          if (!h) return;
          const before = h.state(this.#now());
          h.activeResult(ok);
          const after = h.state(this.#now());
          if (before !== after)
            this.#d.log.info("gateway endpoint health", { rule: ref.key, endpoint, state: after });
        },
      });
    return st;
  }

  #setEndpoints(st: RuleState, endpoints: Endpoint[]): void {
    st.endpoints = endpoints;
    const ids = new Set(endpoints.map((e) => e.id));
    for (const e of endpoints)
      if (!st.health.has(e.id)) st.health.set(e.id, new EndpointHealth(st.ref.rule.healthCheck));
    for (const id of [...st.health.keys()]) if (!ids.has(id)) st.health.delete(id);
    st.prober?.update(endpoints.map((e) => ({ id: e.id, origin: e.origin, basePath: e.basePath })));
  }

  #dispose(st: RuleState): void {
    st.prober?.stop();
    void st.agent.close();
  }
}

/** A health probe through `agent` (httpProbe's, with the rule's guarded pool). */
function agentProbe(agent: Agent): Probe {
  return async (url, signal) => {
    const res = await undiciRequest(url, { method: "GET", signal, dispatcher: agent });
    await res.body.dump({ limit: 65_536, signal });
    return res.statusCode;
  };
}

/** ConsistentHash's key: the named header's value or cookie's value. */
export function hashKeyOf(
  headers: IncomingHttpHeaders,
  on: { header?: string; cookie?: string } | undefined,
): string | undefined {
  if (!on) return undefined;
  if (on.header) {
    const v = headers[on.header.toLowerCase()];
    return Array.isArray(v) ? v[0] : v;
  }
  if (on.cookie) {
    for (const part of (headers.cookie ?? "").split(";")) {
      const eq = part.indexOf("=");
      if (eq > 0 && part.slice(0, eq).trim() === on.cookie) return part.slice(eq + 1).trim();
    }
  }
  return undefined;
}
