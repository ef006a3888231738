/**
 * GatewayRoute metrics, per rule (`namespace/name#index`) and endpoint (`ip:port` or URL), on the
 * proxy's registry. Health and breaker states are read at scrape time from the live state, so the
 * gauges never drift from what the data path uses.
 */
import { Counter, Gauge, Histogram, type Registry } from "prom-client";

export interface GatewayMetrics {
  request(rule: string, endpoint: string, code: number, seconds: number): void;
  upstreamError(rule: string, endpoint: string, kind: string): void;
  retry(rule: string): void;
  refused(rule: string, reason: string): void;
}

export interface GatewaySnapshot {
  endpoints(): { rule: string; endpoint: string; state: string }[];
  breakers(): { rule: string; state: string }[];
}

export function createGatewayMetrics(registry: Registry, snapshot: GatewaySnapshot): GatewayMetrics {
  const requests = new Counter({
    name: "portico_gateway_requests_total",
    help: "GatewayRoute requests by rule, endpoint (the last one tried) and status code.",
    labelNames: ["rule", "endpoint", "code"],
    registers: [registry],
  });
  const duration = new Histogram({
    name: "portico_gateway_request_duration_seconds",
    help: "GatewayRoute request time, retries included, until the response ended.",
    labelNames: ["rule"],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  const errors = new Counter({
    name: "portico_gateway_upstream_errors_total",
    help: "Failed attempts by rule, endpoint and kind (ConnectFailure, Reset, Timeout, GatewayError, ServerError).",
    labelNames: ["rule", "endpoint", "kind"],
    registers: [registry],
  });
  const retries = new Counter({
    name: "portico_gateway_retries_total",
    help: "Attempts sent again to another endpoint, by rule.",
    labelNames: ["rule"],
    registers: [registry],
  });
  const refusals = new Counter({
    name: "portico_gateway_refused_total",
    help: "Requests answered by the gateway itself, by rule and reason (rate_limited, circuit_open, no_healthy_backend, body_too_large, websocket_disabled).",
    labelNames: ["rule", "reason"],
    registers: [registry],
  });
  new Gauge({
    name: "portico_gateway_endpoint_health",
    help: "1 for each endpoint's current state (healthy, unhealthy, ejected) as this replica sees it.",
    labelNames: ["rule", "endpoint", "state"],
    registers: [registry],
    collect() {
      this.reset();
      for (const e of snapshot.endpoints())
        this.set({ rule: e.rule, endpoint: e.endpoint, state: e.state }, 1);
    },
  });
  new Gauge({
    name: "portico_gateway_circuit_state",
    help: "1 for each rule's circuit breaker state (closed, open, half-open); rules without a breaker are absent.",
    labelNames: ["rule", "state"],
    registers: [registry],
    collect() {
      this.reset();
      for (const b of snapshot.breakers()) this.set({ rule: b.rule, state: b.state }, 1);
    },
  });
  return {
    request(rule, endpoint, code, seconds) {
      requests.inc({ rule, endpoint, code });
      duration.observe({ rule }, seconds);
    },
    upstreamError: (rule, endpoint, kind) => errors.inc({ rule, endpoint, kind }),
    retry: (rule) => retries.inc({ rule }),
    refused: (rule, reason) => refusals.inc({ rule, reason }),
  };
}
