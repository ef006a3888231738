/**
 * The proxy's Prometheus metrics on their own registry (served on the health port). Made once in
 * main.ts and passed down; `noopMetrics()` is the twin for tests, so call sites never branch.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/** What the data path records. */
export interface ProxyMetrics {
  registry: Registry;
  /** A finished request: `route` is `{namespace}/{name}`, `api`, `auth` (login), `unauthenticated`, `none` (no route) or `invalid`. */
  request(route: string, code: number, seconds: number): void;
  upstreamError(code: string): void;
  websocketOpened(): void;
  websocketClosed(): void;
  sseStreams(open: number): void;
}

/**
 * @param routeCounts called at scrape time: routes by state, from the table, so the gauge is always
 *   true without bookkeeping on every change.
 */
export function createMetrics(routeCounts: () => Record<string, number>): ProxyMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "portico_proxy_" });
  const requests = new Counter({
    name: "portico_proxy_requests_total",
    help: "Requests by route (namespace/name, api, none, invalid) and status code.",
    labelNames: ["route", "code"],
    registers: [registry],
  });
  const duration = new Histogram({
    name: "portico_proxy_request_duration_seconds",
    help: "Time from request to response end (workspace requests: until the IDE's response ended).",
    labelNames: ["kind"],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
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
      const kind = route.startsWith("gateway:") ? "gateway" : route.includes("/") ? "workspace" : route;
      duration.observe({ kind }, seconds);
    },
    upstreamError: (code) => upstreamErrors.inc({ code }),
    websocketOpened: () => websockets.inc(),
    websocketClosed: () => websockets.dec(),
    sseStreams: (open) => sse.set(open),
  };
}

/** Records nothing. */
export function noopMetrics(): ProxyMetrics {
  return {
    registry: new Registry(),
    request: () => undefined,
    upstreamError: () => undefined,
    websocketOpened: () => undefined,
    websocketClosed: () => undefined,
    sseStreams: () => undefined,
  };
}
