/**
 * portico-operator: wiring only. Reads the configuration (config.ts), watches Workspaces,
 * WorkspaceClasses and the children it owns, GatewayRoutes with the Services and EndpointSlices they
 * name, and — once it holds the leader Lease — reconciles one key at a time per key
 * (`Workspace/ns/name`, `GatewayRoute/ns/name`) through a work queue with capped exponential backoff.
 * Health, readiness and metrics are served on their own port. SIGTERM stops taking work, waits for
 * in-flight reconciles, releases the Lease (so a standby takes over at once) and exits.
 */
import * as k8s from "@kubernetes/client-node";
import {
  GATEWAY_ROUTE,
  GROUP,
  VERSION,
  WORKSPACE,
  WORKSPACE_CLASS,
  type GatewayRoute,
  type Workspace,
  type WorkspaceClass,
} from "../crds/types.ts";
import {
  configOrExit,
  kubeConfig,
  listCustom,
  listRaw,
  onSignals,
  watcher,
  type Raw,
} from "../common/runtime/bootstrap.ts";
import { trimEndpointSlice, trimObject, trimPod } from "./cache-trim.ts";
import { loadConfig } from "./config.ts";
import { LeaderElector } from "./engine/leader.ts";
import { compileUrlPolicy } from "../common/model/gateway/address.ts";
import {
  SERVICE_NAME_LABEL,
  type ClusterView,
  type EndpointSliceLike,
} from "../common/model/gateway/endpoints.ts";
import { compileGatewayTable } from "../common/model/gateway/match.ts";
import {
  memoTable,
  reconcileGatewayRoute,
  routeChangeMatters,
  routesNaming,
  sliceService,
} from "./gateway/reconcile.ts";
import { WorkQueue } from "./engine/queue.ts";
import { withMutations } from "./engine/mutation-cache.ts";
import { realClock } from "../common/runtime/types.ts";
import type { Watched } from "../common/runtime/watched.ts";
import { startHealthServer } from "../common/runtime/health.ts";
import { createWorkspaceApi, virtualServicesServed } from "./kube-api.ts";
import { createLogger } from "../common/runtime/log.ts";
import { createMetrics } from "./metrics.ts";
import { TokenBucket } from "./ratelimit.ts";
import {
  CHILD_LABEL_SELECTOR,
  OWNER_ANNOTATION,
  WORKSPACE_ANNOTATION,
  childNames,
} from "../common/model/workspace/names.ts";
import { reconcileWorkspace, type Cache, type WorkspaceCaches } from "./workspace/reconcile.ts";
// issue 15 (idle stop): the IDE probe poller.
import { ProbePoller } from "./workspace/probe.ts";

const config = configOrExit(() => loadConfig(process.argv.slice(2), process.env));
const log = createLogger(config.logLevel, "portico-operator");
const kc = kubeConfig(config.kubeconfig);

const useVirtualServices =
  config.virtualServices === "enabled" ||
  (config.virtualServices === "auto" && (await virtualServicesServed(kc)));

// ------------------------------------------------------------------ metrics, API, queue, caches

const wsKey = (namespace: string, name: string) => `${WORKSPACE.kind}/${namespace}/${name}`;
const routeKey = (namespace: string, name: string) => `${GATEWAY_ROUTE.kind}/${namespace}/${name}`;
/** A key's kind (`Workspace`, `GatewayRoute`) and the `namespace/name` after it. */
const splitKey = (key: string) => {
  const slash = key.indexOf("/");
  return { kind: key.slice(0, slash), object: key.slice(slash + 1) };
};
// url backends are judged by the configured address policy (Accepted=False naming the field).
const urlPolicy = compileUrlPolicy(config.gatewayUrlPolicy);
const routeTable = memoTable((routes) => compileGatewayTable(routes, urlPolicy));
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
const api = createWorkspaceApi(kc, limiter, metrics, new TokenBucket(config.qps, config.burst, realClock));

// issue 15 (idle stop): polls the IDE activity reports of the pods the reconciler says (only while
// leading: reconciles run only then); a change of an IDE's activity reconciles its workspace.
const probes = new ProbePoller({
  clock: realClock,
  log,
  onChange: (namespace, name) => queue.add(wsKey(namespace, name)),
  onFailure: (reason) => metrics.probeFailures.inc({ reason }),
});

const queue: WorkQueue = new WorkQueue({
  workers: config.workers,
  backoffBaseMs: config.backoffBaseMs,
  backoffMaxMs: config.backoffMaxMs,
  clock: realClock,
  logger: log,
  process: async (key) => {
    const [kind, namespace, name] = key.split("/");
    if (kind === GATEWAY_ROUTE.kind) {
      return reconcileGatewayRoute(namespace!, name!, {
        routes: gateway.routes,
        view: gateway.view,
        api,
        table: routeTable,
        log,
        now: () => new Date(),
      });
    }
    return reconcileWorkspace(namespace!, name!, {
      caches,
      api,
      config: config.builder,
      maxRunningPerUser: config.maxRunningPerUser,
      virtualServices: useVirtualServices,
      log,
      now: () => new Date(),
      // issue 15 (idle stop): time to Ready after a creation or a wake, stops by reason, the probe.
      onReady: (seconds, after) => {
        metrics.timeToReady.observe({ after }, seconds);
        if (after === "wake") metrics.wakeSeconds.observe(seconds);
      },
      onStop: (reason) => metrics.stops.inc({ reason }),
      probes,
    });
  },
  onProcessed: (key, ms, outcome) => {
    const { kind } = splitKey(key);
    metrics.reconciles.inc({ kind, outcome });
    metrics.reconcileDuration.observe({ kind }, ms / 1000);
  },
  onError: (key, err, failures, delayMs) => {
    const { kind, object } = splitKey(key);
    metrics.reconcileErrors.inc({ kind });
    const e = err as { code?: number; body?: unknown; message?: string };
    log.warn("reconcile failed, retrying", {
      [kind === GATEWAY_ROUTE.kind ? "gatewayRoute" : "workspace"]: object,
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

/**
 * The owner's workspaces waiting on a running limit: a change to any workspace or pod of that owner
 * may free a slot, and nothing else would wake them. Oldest first is decided in their reconcile.
 */
function enqueueWaiting(owner: string | undefined): void {
  if (!owner) return;
  for (const w of caches.workspaces.list()) {
    if (w.spec.owner !== owner) continue;
    const ready = w.status?.conditions?.find((c) => c.type === "Ready");
    if (ready?.reason === "UserLimitReached") enqueue(w.metadata.namespace, w.metadata.name);
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
    trim: trimObject,
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
      if (!statusOnly) {
        enqueue(w.metadata.namespace, w.metadata.name);
        enqueueWaiting(w.spec.owner);
      }
    },
  });
  const workspaces = typed<Workspace>(workspacesRaw);
  const classesRaw = watch<Raw>({
    name: "workspaceclasses",
    path: `/apis/${GROUP}/${VERSION}/${WORKSPACE_CLASS.plural}`,
    list: listCustom(kc, WORKSPACE_CLASS.plural),
    trim: trimObject,
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
    trim: (obj: T) => T = trimObject,
  ) => watch<T>({ name, path, list, trim, onChange: ownerOf, labelSelector: CHILD_LABEL_SELECTOR });
  const raw = (path: string) => listRaw(kc, path, CHILD_LABEL_SELECTOR);
  const pods = watch<Raw>({
    name: "pods",
    path: "/api/v1/pods",
    list: raw("/api/v1/pods"),
    trim: (p) => trimPod(p as k8s.V1Pod),
    labelSelector: CHILD_LABEL_SELECTOR,
    onChange: (p) => {
      ownerOf(p);
      enqueueWaiting(p.metadata?.annotations?.[OWNER_ANNOTATION]);
    },
  });
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
    // Status writes' answers overlay the watch until it catches up (engine/mutation-cache.ts).
    workspaces: withMutations(workspaces, {
      trim: (w) => trimObject(w as unknown as Raw) as unknown as Workspace,
    }),
    classes,
    pods,
    pvcs,
    services,
    networkPolicies,
    virtualServices,
    all: all as unknown as Watched<k8s.KubernetesObject>[],
  };
})();

/**
 * GatewayRoutes (all namespaces) and what their backends name: every Service and EndpointSlice,
 * not only the operator's labelled children (a route may name any Service of its namespace).
 */
const gateway = (() => {
  const enqueueRoute = (r: GatewayRoute) => {
    if (r.metadata.namespace && r.metadata.name) queue.add(routeKey(r.metadata.namespace, r.metadata.name));
  };
  const routesRaw = watch<Raw>({
    name: "gatewayroutes",
    path: `/apis/${GROUP}/${VERSION}/${GATEWAY_ROUTE.plural}`,
    list: listCustom(kc, GATEWAY_ROUTE.plural),
    trim: trimObject,
    onChange: (raw, oldRaw) => {
      const r = raw as unknown as GatewayRoute;
      // Conflicts are between routes: a change to one may change any other's status (N is small).
      // A status-only update (our own write coming back) concerns this route alone.
      if (routeChangeMatters(r, oldRaw as unknown as GatewayRoute | undefined))
        routes.list().forEach(enqueueRoute);
      else enqueueRoute(r);
    },
  });
  const routes = typed<GatewayRoute>(routesRaw);
  const routesOf = (namespace: string | undefined, service: string | undefined) => {
    if (namespace && service) routesNaming(routes, namespace, service).forEach(enqueueRoute);
  };
  const services = watch<Raw>({
    name: "services-all",
    path: "/api/v1/services",
    list: listRaw(kc, "/api/v1/services"),
    trim: trimObject,
    onChange: (svc) => routesOf(svc.metadata?.namespace, svc.metadata?.name),
  });
  const slices = watch<Raw>({
    name: "endpointslices",
    path: "/apis/discovery.k8s.io/v1/endpointslices",
    list: listRaw(kc, "/apis/discovery.k8s.io/v1/endpointslices"),
    trim: trimEndpointSlice,
    onChange: (slice, old) => {
      const service = sliceService(slice);
      routesOf(slice.metadata?.namespace, service);
      const was = old && sliceService(old);
      if (was && was !== service) routesOf(old.metadata?.namespace, was);
    },
  });
  const view: ClusterView = {
    service: (namespace, name) => services.get(name, namespace),
    slices: (namespace, service) =>
      (slices.list(namespace) as unknown as EndpointSliceLike[]).filter(
        (s) => s.metadata?.labels?.[SERVICE_NAME_LABEL] === service,
      ),
  };
  return { routes, view, all: [routesRaw, services, slices] as Watched<k8s.KubernetesObject>[] };
})();
const allCaches = [...caches.all, ...gateway.all];

// ------------------------------------------------------------------ start

const server = await startHealthServer(
  config.healthHost,
  config.healthPort,
  { ready: () => allCaches.every((c) => c.synced()) },
  metrics.registry,
);
await Promise.all(allCaches.map((c) => c.start()));
log.info("caches synced", { virtualServices: useVirtualServices, resources: allCaches.length });

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
  for (const r of gateway.routes.list()) queue.add(routeKey(r.metadata.namespace!, r.metadata.name!));
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
  probes.stop();
  await elector?.stop();
  await Promise.all(allCaches.map((c) => c.stop()));
  server.close();
  log.info("stopped");
  process.exit(0);
});
