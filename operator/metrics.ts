/**
 * The operator's Prometheus metrics, on their own registry (served on the health port).
 * Made once in main.ts and passed to whoever records; nothing here reads the cluster.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

export interface OperatorMetrics {
  registry: Registry;
  reconciles: Counter<"kind" | "outcome">;
  reconcileDuration: Histogram<"kind">;
  reconcileErrors: Counter<"kind">;
  timeToReady: Histogram<"after">;
  // issue 15 (idle stop): stops by reason, wake latency, IDE probe failures.
  stops: Counter<"reason">;
  wakeSeconds: Histogram;
  probeFailures: Counter<"reason">;
  queueDepth: Gauge;
  apiWrites: Counter<"verb" | "resource">;
  workspaces: Gauge<"phase">;
  leader: Gauge;
}

/**
 * @param phaseCounts called at scrape time: the number of workspaces per phase, from the cache,
 *   so the gauge is always true without bookkeeping on every change.
 * @param depth called at scrape time: waiting work items.
 */
export function createMetrics(
  phaseCounts: () => Record<string, number>,
  depth: () => number,
): OperatorMetrics {
  const registry = new Registry();
  // Standard names (process_cpu_seconds_total, nodejs_*), as stock Node.js dashboards query them;
  // the scrape's job/pod labels tell the components apart.
  collectDefaultMetrics({ register: registry });
  const m: OperatorMetrics = {
    registry,
    reconciles: new Counter({
      name: "portico_operator_reconciles_total",
      help: "Reconciles by object kind and outcome (success, error, requeue).",
      labelNames: ["kind", "outcome"],
      registers: [registry],
    }),
    reconcileDuration: new Histogram({
      name: "portico_operator_reconcile_duration_seconds",
      help: "Time one reconcile took.",
      labelNames: ["kind"],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    reconcileErrors: new Counter({
      name: "portico_operator_reconcile_errors_total",
      help: "Reconciles that failed and were retried with backoff.",
      labelNames: ["kind"],
      registers: [registry],
    }),
    timeToReady: new Histogram({
      name: "portico_operator_workspace_time_to_ready_seconds",
      help:
        "Time to Ready by what it follows: after=create from the Workspace's creation, after=wake from its " +
        "wake (the portico.dev/woken time).",
      labelNames: ["after"],
      buckets: [1, 2, 5, 10, 20, 30, 60, 120, 300, 600],
      registers: [registry],
    }),
    stops: new Counter({
      name: "portico_workspace_stops_total",
      help: "Workspace stops by reason: idle (the operator's idle stop), user (spec.running set to false).",
      labelNames: ["reason"],
      registers: [registry],
    }),
    wakeSeconds: new Histogram({
      name: "portico_workspace_wake_seconds",
      help: "From an idle-stopped workspace's wake (the portico.dev/woken time) to the operator seeing it Ready.",
      buckets: [1, 2, 5, 10, 20, 30, 60, 120, 300, 600],
      registers: [registry],
    }),
    probeFailures: new Counter({
      name: "portico_operator_idle_probe_failures_total",
      help: "IDE activity probes (a class's idle.probe) that failed, by reason: timeout, network, http, body, json.",
      labelNames: ["reason"],
      registers: [registry],
    }),
    queueDepth: new Gauge({
      name: "portico_operator_workqueue_depth",
      help: "Work items waiting.",
      registers: [registry],
      collect() {
        this.set(depth());
      },
    }),
    apiWrites: new Counter({
      name: "portico_operator_api_writes_total",
      help: "Writes the operator sent to the API server, by verb and resource.",
      labelNames: ["verb", "resource"],
      registers: [registry],
    }),
    workspaces: new Gauge({
      name: "portico_operator_workspaces",
      help: "Workspaces by phase (from the operator's cache).",
      labelNames: ["phase"],
      registers: [registry],
      collect() {
        this.reset();
        for (const [phase, n] of Object.entries(phaseCounts())) this.set({ phase }, n);
      },
    }),
    leader: new Gauge({
      name: "portico_operator_leader",
      help: "1 while this replica holds the leader lease.",
      registers: [registry],
    }),
  };
  // Both reasons exist from the start, so a rate over them is 0, not absent, before the first stop.
  for (const reason of ["idle", "user"]) m.stops.inc({ reason }, 0);
  return m;
}
