/**
 * The API's own metrics, on the proxy's registry: workspaces by InstanceStatus (counted from the
 * caches at scrape time, so always true) and how long a provision took to become Ready (observed when
 * the caches show it Ready, on the replica that made it). API requests by route and code are the
 * proxy's `portico_proxy_requests_total` with `route="api:{METHOD} {path template}"`.
 */
import { Gauge, Histogram, type Registry } from "prom-client";
import type { Workspace } from "../../crds/types.ts";
import type { ApiObserver } from "./service.ts";
import type { InstanceStatus } from "./types.ts";
import { instanceStatus, isReady } from "./views.ts";

/** Provision → Ready: 5 s … 5 min (the buckets). */
export const PROVISION_BUCKETS = [5, 10, 30, 60, 120, 300];
const STATUSES: readonly InstanceStatus[] = [
  "PENDING",
  "STARTING",
  "RUNNING",
  "STOPPING",
  "STOPPED",
  "ERROR",
];
/** A provision not Ready after this long is no longer waited for (it is counted by its status). */
const FORGET_MS = 30 * 60_000;

export interface ApiMetrics extends ApiObserver {
  /** Called for every workspace the caches change: observes a pending provision that became Ready. */
  seen(ws: Workspace): void;
}

export function apiMetrics(
  registry: Registry,
  workspaces: () => Iterable<Workspace>,
  nowMs: () => number = Date.now,
): ApiMetrics {
  new Gauge({
    name: "portico_api_instances",
    help: "Workspaces by status (PENDING, STARTING, RUNNING, STOPPING, STOPPED, ERROR), as the API reports them.",
    labelNames: ["status"],
    registers: [registry],
    collect() {
      const counts = new Map<InstanceStatus, number>(STATUSES.map((s) => [s, 0]));
      for (const ws of workspaces()) {
        const s = instanceStatus(ws);
        counts.set(s, (counts.get(s) ?? 0) + 1);
      }
      for (const [status, n] of counts) this.set({ status }, n);
    },
  });
  const duration = new Histogram({
    name: "portico_api_provision_duration_seconds",
    help: "Time from a provision call that created a workspace to the workspace being Ready.",
    buckets: PROVISION_BUCKETS,
    registers: [registry],
  });
  const pending = new Map<string, number>();
  return {
    provisioned(namespace, name, startedMs) {
      const now = nowMs();
      for (const [k, t] of pending) if (now - t > FORGET_MS) pending.delete(k);
      pending.set(`${namespace}/${name}`, startedMs);
    },
    seen(ws) {
      const key = `${ws.metadata.namespace}/${ws.metadata.name}`;
      const started = pending.get(key);
      if (started === undefined || !isReady(ws)) return;
      pending.delete(key);
      duration.observe((nowMs() - started) / 1000);
    },
  };
}
