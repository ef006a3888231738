/**
 * The proxy's Prometheus metrics on their own registry (served on the health port). Made once in
 * main.ts and passed down; `noopMetrics()` is the twin for tests, so call sites never branch.
 *
 * The latency histogram holds exchanges that end with a response: its quantiles are what an alert on
 * latency means. Long-lived connections — an opened status stream, an accepted WebSocket — are
 * counted in requests_total with the status they opened with, and how long they were held goes to a
 * histogram of its own: a stream someone keeps open for an hour is not a slow request.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/** What a long-lived connection is: a status stream (server-sent events) or a relayed WebSocket. */
export type StreamKind = "sse" | "websocket";

/** What the data path records. */
export interface ProxyMetrics {
  registry: Registry;
  /**
   * A finished request/response exchange, counted and timed. `route` is `{namespace}/{name}`, `api`
   * (status streams), `api:{METHOD} {route template}` (the self-service API: `api:POST
   * /api/v1/workspaces/{ns}/{name}/start`, `api:unknown`, `api:origin`), `auth` (login),
   * `unauthenticated`, `none` (no route), `invalid` or `gateway:{namespace}/{name}`.
   */
  request(route: string, code: number, seconds: number): void;
  /** A long-lived connection the proxy opened (`code` 200 for a stream, 101 for a WebSocket): counted, never timed. */
  longLived(route: string, code: number): void;
  /** A long-lived connection ended after `seconds` held. */
  streamEnded(kind: StreamKind, seconds: number): void;
  upstreamError(code: string): void;
  websocketOpened(): void;
  websocketClosed(): void;
  sseStreams(open: number): void;
  // --- Wake (issue 15)
  /** A wake asked of the service layer: `woken`, `refused` (limits, rights), `error`. */
  wake(result: "woken" | "refused" | "error"): void;
  /**
   * A request or WebSocket held for a waking or starting workspace stopped waiting after `seconds`:
   * `forwarded` (it became ready), `timed_out` (503), `client_gone`, `ended` (stopped or failed meanwhile).
   * Held requests are not in the request-latency histogram: their wait is here.
   */
  heldWait(result: "forwarded" | "timed_out" | "client_gone" | "ended", seconds: number): void;
  // --- end wake
}

/** Request latency: 0.5 ms … 10 s. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Held connections: 1 s … 8 h (an IDE tab left open over a working day). */
const HELD_BUCKETS = [1, 10, 60, 300, 900, 1800, 3600, 7200, 14400, 28800];

/** Held requests (wake): 0.1 s … 5 min (a wake is an IDE's cold start: seconds to a minute). */
const WAIT_BUCKETS = [0.1, 0.5, 1, 2.5, 5, 10, 20, 30, 45, 60, 90, 120, 300];

/**
 * The `kind` label of the latency histogram: `workspace` for every workspace, `gateway` for every
 * GatewayRoute, `api` for every API route (its template has slashes, a namespace never has a colon).
 */
export const kindOf = (route: string): string =>
  route.startsWith("gateway:")
    ? "gateway"
    : route.startsWith("api:")
      ? "api"
      : route.includes("/")
        ? "workspace"
        : route;

/**
 * @param routeCounts called at scrape time: routes by state, from the table, so the gauge is always
 *   true without bookkeeping on every change.
 */
export function createMetrics(routeCounts: () => Record<string, number>): ProxyMetrics {
  const registry = new Registry();
  // Standard names (process_cpu_seconds_total, nodejs_*), as stock Node.js dashboards query them;
  // the scrape's job/pod labels tell the components apart.
  collectDefaultMetrics({ register: registry });
  const requests = new Counter({
    name: "portico_proxy_requests_total",
    help: "Requests by route (namespace/name, api, none, invalid, ...) and status code (101: WebSocket accepted).",
    labelNames: ["route", "code"],
    registers: [registry],
  });
  const duration = new Histogram({
    name: "portico_proxy_request_duration_seconds",
    help: "Time from request to response end (workspace requests: until the IDE's response ended). Status streams and WebSockets are not in it: see portico_proxy_stream_duration_seconds.",
    labelNames: ["kind"],
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const held = new Histogram({
    name: "portico_proxy_stream_duration_seconds",
    help: "How long long-lived connections were held, by kind (sse: status streams, websocket: relayed WebSockets), observed when they end.",
    labelNames: ["kind"],
    buckets: HELD_BUCKETS,
    registers: [registry],
  });
  const upstreamErrors = new Counter({
    name: "portico_proxy_upstream_errors_total",
    help: "Failures talking to a workspace, by error code (ECONNREFUSED, ECONNRESET, ...).",
    labelNames: ["code"],
    registers: [registry],
  });
  const websockets = new Gauge({
    name: "portico_proxy_websockets_active",
    help: "Open proxied WebSocket connections.",
    registers: [registry],
  });
  const sse = new Gauge({
    name: "portico_proxy_sse_streams_active",
    help: "Open status streams.",
    registers: [registry],
  });
  // --- Wake (issue 15)
  const wakes = new Counter({
    name: "portico_wakes_total",
    help: "Wakes of idle-stopped workspaces asked by a visit, by result (woken, refused: limits or rights, error).",
    labelNames: ["result"],
    registers: [registry],
  });
  const waited = new Histogram({
    name: "portico_wake_wait_seconds",
    help: "How long requests and WebSockets held for a waking or starting workspace waited, by result (forwarded, timed_out, client_gone, ended).",
    labelNames: ["result"],
    buckets: WAIT_BUCKETS,
    registers: [registry],
  });
  // --- end wake
  new Gauge({
    name: "portico_proxy_routes",
    help: "Workspace routes by state (ready, starting, stopped, failed).",
    labelNames: ["state"],
    registers: [registry],
    collect() {
      this.reset();
      for (const [state, n] of Object.entries(routeCounts())) this.set({ state }, n);
    },
  });
  return {
    registry,
    request(route, code, seconds) {
      requests.inc({ route, code });
      duration.observe({ kind: kindOf(route) }, seconds);
    },
    longLived: (route, code) => requests.inc({ route, code }),
    streamEnded: (kind, seconds) => held.observe({ kind }, seconds),
    upstreamError: (code) => upstreamErrors.inc({ code }),
    websocketOpened: () => websockets.inc(),
    websocketClosed: () => websockets.dec(),
    sseStreams: (open) => sse.set(open),
    wake: (result) => wakes.inc({ result }),
    heldWait: (result, seconds) => waited.observe({ result }, seconds),
  };
}

/** Records nothing. */
export function noopMetrics(): ProxyMetrics {
  return {
    registry: new Registry(),
    request: () => undefined,
    longLived: () => undefined,
    streamEnded: () => undefined,
    upstreamError: () => undefined,
    websocketOpened: () => undefined,
    websocketClosed: () => undefined,
    sseStreams: () => undefined,
    wake: () => undefined,
    heldWait: () => undefined,
  };
}
