/**
 * GatewayRoute metrics, per rule (`namespace/name#index`) and endpoint (`ip:port` or URL), on the
 * proxy's registry. Health and breaker states are read at scrape time from the live state, so the
 * gauges never drift from what the data path uses.
 *
 * Counters keep a label set until it is removed: pods come and go (every rollout brings new IPs), so
 * the series of an endpoint are removed when it leaves its rule's served set (`forgetEndpoint`) and a
 * rule's when the rule goes (`forgetRule`). The label sets in use are remembered here for that, since
 * prom-client removes only whole label sets.
 */
import { Counter, Gauge, Histogram, type Registry } from "prom-client";

export interface GatewayMetrics {
  /** A finished exchange: counted and timed. `endpoint` is empty when none answered (refused). */
  request(rule: string, endpoint: string, code: number, seconds: number): void;
  /** A WebSocket relayed (101): counted, never timed — it lasts as long as its user keeps it. */
  upgraded(rule: string, endpoint: string): void;
  upstreamError(rule: string, endpoint: string, kind: string): void;
  retry(rule: string): void;
  refused(rule: string, reason: string): void;
  /** Removes every series of `endpoint` under `rule`: it left the rule's endpoints. */
  forgetEndpoint(rule: string, endpoint: string): void;
  /** Removes every series of `rule`: it is no longer served. */
  forgetRule(rule: string): void;
}

export interface GatewaySnapshot {
  endpoints(): { rule: string; endpoint: string; state: string }[];
  breakers(): { rule: string; state: string }[];
}

/** Label values used per key, so whole label sets can be removed later. */
class Used {
  readonly #m = new Map<string, Set<string>>();
  add(key: string, value: string): void {
    let s = this.#m.get(key);
    if (!s) this.#m.set(key, (s = new Set()));
    s.add(value);
  }
  /** The values used under `key`, forgotten. */
  take(key: string): string[] {
    const s = this.#m.get(key);
    this.#m.delete(key);
    return s ? [...s] : [];
  }
  /** Keys starting with `prefix`. */
  keys(prefix: string): string[] {
    return [...this.#m.keys()].filter((k) => k.startsWith(prefix));
  }
}

/** The key of an endpoint under a rule (a rule key never holds a newline). */
const epKey = (rule: string, endpoint: string) => `${rule}\n${endpoint}`;

export function createGatewayMetrics(registry: Registry, snapshot: GatewaySnapshot): GatewayMetrics {
  const requests = new Counter({
    name: "portico_gateway_requests_total",
    help: "GatewayRoute requests by rule, endpoint (the last one tried) and status code (101: WebSocket relayed).",
    labelNames: ["rule", "endpoint", "code"],
    registers: [registry],
  });
  const duration = new Histogram({
    name: "portico_gateway_request_duration_seconds",
    help: "GatewayRoute request time, retries included, until the response ended (WebSockets are not in it).",
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
    help: "Requests answered by the gateway itself, by rule and reason (rate_limited, circuit_open, no_healthy_backend, body_too_large, websocket_disabled, address_refused).",
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
  const codes = new Used();
  const kinds = new Used();
  const reasons = new Used();
  const count = (rule: string, endpoint: string, code: number) => {
    codes.add(epKey(rule, endpoint), String(code));
    requests.inc({ rule, endpoint, code });
  };
  const forgetEndpoint = (rule: string, endpoint: string) => {
    const key = epKey(rule, endpoint);
    for (const code of codes.take(key)) requests.remove({ rule, endpoint, code });
    for (const kind of kinds.take(key)) errors.remove({ rule, endpoint, kind });
  };
  return {
    request(rule, endpoint, code, seconds) {
      count(rule, endpoint, code);
      duration.observe({ rule }, seconds);
    },
    upgraded: (rule, endpoint) => count(rule, endpoint, 101),
    upstreamError(rule, endpoint, kind) {
      kinds.add(epKey(rule, endpoint), kind);
      errors.inc({ rule, endpoint, kind });
    },
    retry: (rule) => retries.inc({ rule }),
    refused(rule, reason) {
      reasons.add(rule, reason);
      refusals.inc({ rule, reason });
    },
    forgetEndpoint,
    forgetRule(rule) {
      const endpoints = new Set([...codes.keys(`${rule}\n`), ...kinds.keys(`${rule}\n`)]);
      for (const key of endpoints) forgetEndpoint(rule, key.slice(rule.length + 1));
      for (const reason of reasons.take(rule)) refusals.remove({ rule, reason });
      duration.remove({ rule });
      retries.remove({ rule });
    },
  };
}
