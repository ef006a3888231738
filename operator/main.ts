/**
 * portico-operator: wiring only. Reads the configuration (config.ts), watches Workspaces,
 * WorkspaceClasses and the children it owns, and — once it holds the leader Lease — reconciles
 * one workspace key at a time per key through a work queue with capped exponential backoff.
 * Health, readiness and metrics are served on their own port. SIGTERM stops taking work, waits for
 * in-flight reconciles, releases the Lease (so a standby takes over at once) and exits.
 */
import * as k8s from "@kubernetes/client-node";
import {
  GROUP,
  VERSION,
  WORKSPACE,
  WORKSPACE_CLASS,
  type Workspace,
  type WorkspaceClass,
} from "../crds/types.ts";
import { configOrExit, kubeConfig, listCustom, listRaw, onSignals, watcher, type Raw } from "./bootstrap.ts";
import { loadConfig } from "./config.ts";
import { LeaderElector } from "./engine/leader.ts";
import { WorkQueue } from "./engine/queue.ts";
import { realClock } from "./engine/types.ts";
import type { Watched } from "./engine/watched.ts";
import { startHealthServer } from "./health.ts";
import { createWorkspaceApi, virtualServicesServed } from "./kube-api.ts";
import { createLogger } from "./log.ts";
import { createMetrics } from "./metrics.ts";
import { TokenBucket } from "./ratelimit.ts";
import { CHILD_LABEL_SELECTOR, WORKSPACE_ANNOTATION, childNames } from "./workspace/names.ts";
import { reconcileWorkspace, type Cache, type WorkspaceCaches } from "./workspace/reconcile.ts";

const config = configOrExit(() => loadConfig(process.argv.slice(2), process.env));
const log = createLogger(config.logLevel, "portico-operator");
const kc = kubeConfig(config.kubeconfig);

const useVirtualServices =
  config.virtualServices === "enabled" ||
  (config.virtualServices === "auto" && (await virtualServicesServed(kc)));

// ------------------------------------------------------------------ metrics, API, queue, caches

const wsKey = (namespace: string, name: string) => `${WORKSPACE.kind}/${namespace}/${name}`;
// Caches, metrics and the queue refer to each other through closures that run only after start.
const metrics = createMetrics(
  () => {
    const counts: Record<string, number> = {};
    for (const w of caches.workspaces.list()) {
      const phase = w.status?.phase ?? "Unknown";
      counts[phase] = (counts[phase] ?? 0) + 1;
    }
    return counts;
  },
  () => queue.depth(),
);
const limiter = new TokenBucket(config.qps, config.burst, realClock);
const api = createWorkspaceApi(kc, limiter, metrics);

const queue: WorkQueue = new WorkQueue({
  workers: config.workers,
  backoffBaseMs: config.backoffBaseMs,
  backoffMaxMs: config.backoffMaxMs,
  clock: realClock,
  logger: log,
  process: async (key) => {
    const [, namespace, name] = key.split("/");
    return reconcileWorkspace(namespace!, name!, {
      caches,
      api,
      config: config.builder,
      virtualServices: useVirtualServices,
      log,
      now: () => new Date(),
      onReady: (seconds) => metrics.timeToReady.observe(seconds),
    });
  },
  onProcessed: (_key, ms, outcome) => {
    metrics.reconciles.inc({ kind: WORKSPACE.kind, outcome });
    metrics.reconcileDuration.observe({ kind: WORKSPACE.kind }, ms / 1000);
  },
  onError: (key, err, failures, delayMs) => {
    metrics.reconcileErrors.inc({ kind: WORKSPACE.kind });
    const e = err as { code?: number; body?: unknown; message?: string };
    log.warn("reconcile failed, retrying", {
      workspace: key.slice(WORKSPACE.kind.length + 1),
      error: e.message ?? String(err),
      code: e.code,
      failures,
      retryInMs: delayMs,
    });
  },
});

const enqueue = (namespace: string | undefined, name: string | undefined) => {
  if (namespace && name) queue.add(wsKey(namespace, name));
};

const watch = watcher(kc, log, { silenceMs: config.watchSilenceMs, resyncMs: config.resyncPeriodMs });

/** A child's workspace: its controller owner reference, or the annotation the builders put on it. */
function ownerOf(obj: k8s.KubernetesObject): void {
  const ns = obj.metadata?.namespace;
  const owners = (obj.metadata?.ownerReferences ?? []).filter((r) => r.kind === WORKSPACE.kind);
  for (const r of owners) enqueue(ns, r.name);
  const annotated = obj.metadata?.annotations?.[WORKSPACE_ANNOTATION];
  if (annotated) enqueue(ns, annotated);
  if (!owners.length && !annotated && obj.kind === "PersistentVolumeClaim") {
    // A per-user claim with no owner: every workspace that uses it.
    for (const w of caches.workspaces.list(ns))
      if (childNames(w).pvc === obj.metadata?.name) enqueue(ns, w.metadata.name);
  }
}

const classOf = (w: Workspace) => w.spec.className ?? w.spec.ide;
/** Our CRD types keep timestamps as the JSON strings they are; client-node's type wants Dates. */
function typed<T>(w: Watched<Raw>): Cache<T> {
  return {
    get: (name, namespace) => w.get(name, namespace) as unknown as T | undefined,
    list: (namespace) => w.list(namespace) as unknown as T[],
  };
}
const caches: WorkspaceCaches & { all: Watched<k8s.KubernetesObject>[] } = (() => {
  const workspacesRaw = watch<Raw>({
    name: "workspaces",
    path: `/apis/${GROUP}/${VERSION}/${WORKSPACE.plural}`,
    list: listCustom(kc, WORKSPACE.plural),
    onChange: (raw, oldRaw) => {
      const w = raw as unknown as Workspace;
      const old = oldRaw as unknown as Workspace | undefined;
      // Our own status writes come back as updates: nothing in them needs a reconcile.
      const statusOnly =
        old &&
        old.metadata.generation === w.metadata.generation &&
        JSON.stringify(old.metadata.labels) === JSON.stringify(w.metadata.labels) &&
        JSON.stringify(old.metadata.annotations) === JSON.stringify(w.metadata.annotations) &&
        old.metadata.deletionTimestamp === w.metadata.deletionTimestamp;
      if (!statusOnly) enqueue(w.metadata.namespace, w.metadata.name);
    },
  });
  const workspaces = typed<Workspace>(workspacesRaw);
  const classesRaw = watch<Raw>({
    name: "workspaceclasses",
    path: `/apis/${GROUP}/${VERSION}/${WORKSPACE_CLASS.plural}`,
    list: listCustom(kc, WORKSPACE_CLASS.plural),
    onChange: (c) => {
      // A class change rolls every workspace that runs it.
      for (const w of workspaces.list())
        if (classOf(w) === c.metadata?.name) enqueue(w.metadata.namespace, w.metadata.name);
    },
  });
  // Children: only what the operator labelled as its own.
  const child = <T extends Raw>(
    name: string,
    path: string,
    list: () => Promise<k8s.KubernetesListObject<T>>,
  ) => watch<T>({ name, path, list, onChange: ownerOf, labelSelector: CHILD_LABEL_SELECTOR });
  const raw = (path: string) => listRaw(kc, path, CHILD_LABEL_SELECTOR);
  const pods = child("pods", "/api/v1/pods", raw("/api/v1/pods"));
  const pvcs = child(
    "persistentvolumeclaims",
    "/api/v1/persistentvolumeclaims",
    raw("/api/v1/persistentvolumeclaims"),
  );
  const services = child("services", "/api/v1/services", raw("/api/v1/services"));
  const networkPolicies = child(
    "networkpolicies",
    "/apis/networking.k8s.io/v1/networkpolicies",
    raw("/apis/networking.k8s.io/v1/networkpolicies"),
  );
  const virtualServices = useVirtualServices
    ? child(
        "virtualservices",
        "/apis/networking.istio.io/v1/virtualservices",
        raw("/apis/networking.istio.io/v1/virtualservices"),
      )
    : undefined;
  const classes = typed<WorkspaceClass>(classesRaw);
  const all = [
    workspacesRaw,
    classesRaw,
    pods,
    pvcs,
    services,
    networkPolicies,
    ...(virtualServices ? [virtualServices] : []),
  ];
  return {
    workspaces,
    classes,
    pods,
    pvcs,
    services,
    networkPolicies,
    virtualServices,
    all: all as unknown as Watched<k8s.KubernetesObject>[],
  };
})();

// ------------------------------------------------------------------ start

const server = await startHealthServer(
  config.healthHost,
  config.healthPort,
  { ready: () => caches.all.every((c) => c.synced()) },
  metrics.registry,
);
await Promise.all(caches.all.map((c) => c.start()));
log.info("caches synced", { virtualServices: useVirtualServices, resources: caches.all.length });

const elector = config.leaderElection.enabled
  ? new LeaderElector({
      api: kc.makeApiClient(k8s.CoordinationV1Api),
      leaseName: config.leaderElection.leaseName,
      leaseNamespace: config.leaderElection.leaseNamespace,
      identity: config.leaderElection.identity,
      leaseDurationMs: config.leaderElection.leaseDurationMs,
      renewDeadlineMs: config.leaderElection.renewDeadlineMs,
      retryPeriodMs: config.leaderElection.retryPeriodMs,
      clock: realClock,
      logger: log,
    })
  : undefined;

function lead(): void {
  metrics.leader.set(1);
  log.info("leading: reconciling", { identity: config.leaderElection.identity });
  queue.start();
  for (const w of caches.workspaces.list()) enqueue(w.metadata.namespace, w.metadata.name);
}

if (elector) {
  void elector.run({
    onStartedLeading: lead,
    onStoppedLeading: () => {
      // Another replica may be acting now: stop at once rather than risk two writers.
      metrics.leader.set(0);
      log.error("lost the leader lease: exiting so that only one replica acts");
      process.exit(1);
    },
  });
} else {
  lead();
}

onSignals(async (signal) => {
  log.info("shutting down", { signal });
  const force = setTimeout(() => process.exit(1), 20_000);
  force.unref();
  await queue.stop();
  await elector?.stop();
  await Promise.all(caches.all.map((c) => c.stop()));
  server.close();
  log.info("stopped");
  process.exit(0);
});
