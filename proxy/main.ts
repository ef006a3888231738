/**
 * portico-proxy: wiring only. Reads the configuration (config.ts), watches Workspaces,
 * WorkspaceClasses and EndpointSlices (the operator's watched caches), keeps the route table and the
 * status streams up to date from them, and serves the data path (server.ts) once every cache is
 * seeded. Health, readiness and metrics are served on their own port. SIGTERM: not ready, stop
 * accepting, let in-flight requests finish (bounded), exit.
 */
import { readFile } from "node:fs/promises";
import type * as k8s from "@kubernetes/client-node";
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
import type { Watched } from "../common/runtime/watched.ts";
import { startHealthServer } from "../common/runtime/health.ts";
import { createLogger } from "../common/runtime/log.ts";
import { CHILD_LABEL_SELECTOR, SYNC_REQUESTED_ANNOTATION } from "../common/model/workspace/names.ts";
import { Gate } from "./auth/gate.ts";
import { loadConfig } from "./config.ts";
import { EventHub } from "./events.ts";
import { createMetrics } from "./metrics.ts";
import { classNameOf, toRoute } from "./routing/from-cluster.ts";
import { RouteTable } from "./routing/table.ts";
import { createProxyServer, type ProxyServer } from "./server.ts";
import { apiMetrics } from "./api/metrics.ts";
import { checkRepoAccess } from "./api/repo-access.ts";
import { WorkspaceService } from "./api/service.ts";
import { kubeStore } from "./api/store.ts";
import type { ConsoleEndpoints } from "./surfaces/console.ts";
import { kubeClusterClient } from "./console/cluster-client.ts";
import { resourcesEndpoint } from "./console/resources.ts";
import { consoleAssets } from "./console/assets.ts";
import { reportingList, watchCaches } from "./console/watch-caches.ts";
import { WatchHub } from "./console/watch-hub.ts";
import { watchEndpoint } from "./console/watch.ts";
import { kubeConsoleCluster } from "./console/cluster.ts";
import { logsEndpoint } from "./console/logs.ts";
import { shellEndpoint } from "./console/shell.ts";
import { ActivityTracker } from "./activity/tracker.ts";
import { ActivityFlusher } from "./activity/flusher.ts";
import { activityMetrics } from "./activity/metrics.ts";
import { workspaceListener } from "./activity/workspace-listener.ts";
import {
  SERVICE_NAME_LABEL,
  type ClusterView,
  type EndpointSliceLike,
  type ServiceLike,
} from "../common/model/gateway/endpoints.ts";

// `portico-proxy session-keys …`: the chart's hook that makes the session keys once (no server).
if (process.argv[2] === "session-keys") {
  const { sessionKeysCommand } = await import("./session-keys-command.ts");
  process.exit(await sessionKeysCommand(process.argv.slice(3), process.env));
}

const config = configOrExit(() => loadConfig(process.argv.slice(2), process.env));
const log = createLogger(config.logLevel, "portico-proxy");
if (config.auth === "none")
  log.warn(
    "AUTHENTICATION IS OFF (--auth=none): anyone who reaches this proxy can open every workspace. " +
      "For a local demo only; never expose this proxy to a network.",
    { auth: "none" },
  );

const kc = kubeConfig(config.kubeconfig);
// The provider's discovery document and the session keys, before anything is served.
const gate = await Gate.create(
  {
    config: config.identity,
    mode: config.auth,
    sessionCookie: config.sessionCookie,
    baseDomain: config.routingConfig.baseDomain,
    log,
  },
  config.identity.sessionKeysFile
    ? JSON.parse(await readFile(config.identity.sessionKeysFile, "utf8"))
    : undefined,
);

const table = new RouteTable({
  routing: config.routingConfig.routing,
  baseDomain: config.routingConfig.baseDomain,
});
const metrics = createMetrics(() => {
  const counts: Record<string, number> = { ready: 0, starting: 0, stopped: 0, failed: 0 };
  for (const r of table.list()) counts[r.state] = (counts[r.state] ?? 0) + 1;
  return counts;
});
const events = new EventHub({
  heartbeatMs: config.limits.sseHeartbeatMs,
  onStreamsChanged: (n) => metrics.sseStreams(n),
});

const watch = watcher(kc, log, { silenceMs: config.watchSilenceMs });

/** Recomputes one workspace's route and status snapshot from the caches. */
function refresh(namespace: string, name: string): void {
  const ws = workspaces.get(name, namespace) as unknown as Workspace | undefined;
  const before = table.get(namespace, name)?.state;
  if (!ws) {
    if (table.remove(namespace, name)) log.info("route removed", { workspace: `${namespace}/${name}` });
    events.delete(namespace, name);
    return;
  }
  const cls = classes.get(classNameOf(ws)) as unknown as WorkspaceClass | undefined;
  const route = toRoute(ws, cls, slices.list(namespace) as k8s.V1EndpointSlice[], config.routingConfig);
  table.upsert(route);
  events.update(ws, route.state === "ready");
  apiObserver?.seen(ws);
  if (before !== route.state)
    log.info("route", { workspace: `${namespace}/${name}`, state: route.state, upstream: route.upstream });
}
const refreshNamespace = (ns: string) => {
  for (const w of workspaces.list(ns)) refresh(ns, w.metadata!.name!);
};

const workspaces = watch<Raw>({
  name: "workspaces",
  path: `/apis/${GROUP}/${VERSION}/${WORKSPACE.plural}`,
  // Each list's resourceVersion bounds what /ws/watch can resume (proxy/console/watch-history.ts).
  list: reportingList(listCustom(kc, WORKSPACE.plural), () => watchHub, "workspaces"),
  onChange: (o, old) => {
    refresh(o.metadata!.namespace!, o.metadata!.name!);
    // The API's own writes are laid over this cache until the watch brings them (read-your-writes).
    api?.observed(o);
    watchHub?.workspaceChanged(o as unknown as Workspace, old as unknown as Workspace | undefined);
  },
});
const classes = watch<Raw>({
  name: "workspaceclasses",
  path: `/apis/${GROUP}/${VERSION}/${WORKSPACE_CLASS.plural}`,
  list: listCustom(kc, WORKSPACE_CLASS.plural),
  onChange: (c) => {
    for (const w of workspaces.list() as unknown as Workspace[])
      if (classNameOf(w) === c.metadata?.name) refresh(w.metadata.namespace!, w.metadata.name!);
  },
});
// EndpointSlices inherit their Service's labels: only the operator's workspace Services are watched.
const slices = watch<k8s.V1EndpointSlice>({
  name: "endpointslices",
  path: "/apis/discovery.k8s.io/v1/endpointslices",
  list: listRaw(kc, "/apis/discovery.k8s.io/v1/endpointslices", CHILD_LABEL_SELECTOR),
  onChange: (s) => refreshNamespace(s.metadata!.namespace!),
  labelSelector: CHILD_LABEL_SELECTOR,
});
// GatewayRoutes, and every Service and EndpointSlice their backends may name (the gateway's view).
/** The server, once it exists: changes seen while the caches seed wait for the first full update. */
const live: { proxy?: ProxyServer } = {};
let gatewayDirty = false;
/** Rebuilds the gateway from the caches once per burst of changes. */
const gatewayChanged = () => {
  if (gatewayDirty) return;
  gatewayDirty = true;
  setImmediate(() => {
    gatewayDirty = false;
    live.proxy?.gateway.update(gatewayRoutes.list() as unknown as GatewayRoute[], clusterView);
  });
};
const gatewayRoutes = watch<Raw>({
  name: "gatewayroutes",
  path: `/apis/${GROUP}/${VERSION}/${GATEWAY_ROUTE.plural}`,
  list: listCustom(kc, GATEWAY_ROUTE.plural),
  onChange: gatewayChanged,
});
const services = watch<Raw>({
  name: "services",
  path: "/api/v1/services",
  list: listRaw(kc, "/api/v1/services"),
  onChange: gatewayChanged,
});
const allSlices = watch<Raw>({
  name: "endpointslices-all",
  path: "/apis/discovery.k8s.io/v1/endpointslices",
  list: listRaw(kc, "/apis/discovery.k8s.io/v1/endpointslices"),
  onChange: gatewayChanged,
});
const clusterView: ClusterView = {
  service: (ns, name) => services.get(name, ns) as ServiceLike | undefined,
  slices: (ns, name) =>
    (allSlices.list(ns) as EndpointSliceLike[]).filter(
      (s) => s.metadata?.labels?.[SERVICE_NAME_LABEL] === name,
    ),
};
const caches = [workspaces, classes, slices, gatewayRoutes, services, allSlices] as Watched<Raw>[];

// The console's /ws/watch (proxy/console/watch.ts): trimmed pod and event caches beside the
// Workspace cache, feeding one hub of channels; none of it when the console is off.
const consoleCaches = config.console.enabled
  ? watchCaches(watch, kc, (): WatchHub | undefined => watchHub)
  : undefined;
const watchHub: WatchHub | undefined = consoleCaches
  ? new WatchHub({
      adminRoles: config.identity.adminRoles,
      syncAnnotation: SYNC_REQUESTED_ANNOTATION,
      workspaces: {
        get: (name, ns) => workspaces.get(name, ns) as unknown as Workspace | undefined,
        list: (ns) => workspaces.list(ns) as unknown as Workspace[],
      },
      pods: consoleCaches.pods,
      events: consoleCaches.events,
    })
  : undefined;
if (consoleCaches)
  caches.push(consoleCaches.pods as unknown as Watched<Raw>, consoleCaches.events as unknown as Watched<Raw>);
const watchSockets = watchHub
  ? watchEndpoint({ hub: watchHub, maxSubscriptions: config.console.maxSubscriptions, log })
  : undefined;

// The self-service API (proxy/api/): reads these caches, writes as this proxy's ServiceAccount.
const cachedWorkspaces = () => workspaces.list() as unknown as Workspace[];
const apiObserver = config.api.enabled ? apiMetrics(metrics.registry, cachedWorkspaces) : undefined;
const gitApi = config.api.git?.api;
const api = config.api.enabled
  ? new WorkspaceService({
      config: config.api,
      adminRoles: config.identity.adminRoles,
      caches: {
        workspaces: cachedWorkspaces,
        workspace: (ns, name) => workspaces.get(name, ns) as unknown as Workspace | undefined,
        classes: () => classes.list() as unknown as WorkspaceClass[],
        workspaceClass: (name) => classes.get(name) as unknown as WorkspaceClass | undefined,
      },
      store: kubeStore(kc),
      ...(gitApi
        ? { repoAccess: (token, owner, repo) => checkRepoAccess(fetch, gitApi, token, owner, repo) }
        : {}),
      ...(apiObserver ? { observer: apiObserver } : {}),
    })
  : undefined;

// Activity reports (issue 15, proxy/activity/): what this replica sees, written as the Workspace's
// activity annotations at most once per report interval, against the shared cache.
const activity = new ActivityTracker();
const activityStore = kubeStore(kc);
const flusher = new ActivityFlusher({
  tracker: activity,
  annotations: (ns, name) => {
    const ws = workspaces.get(name, ns);
    return ws ? (ws.metadata?.annotations ?? {}) : undefined;
  },
  write: (ns, name, patch) => activityStore.patch(ns, name, patch),
  log: log.child({ part: "activity" }),
  intervalMs: config.activity.reportIntervalMs,
  tickMs: config.activity.flushIntervalMs,
  writesPerSecond: config.activity.writesPerSecond,
  onResult: activityMetrics(metrics.registry),
});

let ready = false;
const health = await startHealthServer(
  config.healthHost,
  config.healthPort,
  { ready: () => ready },
  metrics.registry,
);
await Promise.all(caches.map((c) => c.start()));
// Every cache is seeded: rebuild every route once from the full picture, then serve.
for (const w of workspaces.list()) refresh(w.metadata!.namespace!, w.metadata!.name!);
// The console (proxy/surfaces/console.ts): each endpoint built from the caches and the cluster.
const consoleEndpoints: ConsoleEndpoints | undefined = config.console.enabled
  ? { ...(watchSockets ? { watch: watchSockets } : {}) }
  : undefined;
// Resource views (proxy/console/resources.ts): read as this proxy, each read first allowed by a
// SubjectAccessReview as the caller. Off unless the chart grants the reads (console.resources).
if (consoleEndpoints && config.console.resources)
  consoleEndpoints.resources = resourcesEndpoint({
    config: config.console,
    cluster: kubeClusterClient(kc),
    log: log.child({ endpoint: "console-resources" }),
  });
// The console app's bundle (proxy/console/assets.ts), read once here; 503 with what to run when absent.
if (consoleEndpoints) consoleEndpoints.assets = consoleAssets(config.console.assetsDir, log);
// /ws/logs and /ws/shell reach a workspace's own pod for those the API lets manage it; they need
// the API's RBAC (pods get, pods/log; pods/exec for the shell), so they exist only with the API.
if (consoleEndpoints && api) {
  const cluster = kubeConsoleCluster(kc, metrics.registry);
  const resolve = {
    workspace: api.managedWorkspace.bind(api),
    readPod: cluster.readPod,
  };
  consoleEndpoints.logs = logsEndpoint({ resolve, cluster, log, activity });
  if (config.console.shell) consoleEndpoints.shell = shellEndpoint({ resolve, cluster, log, activity });
}
const proxy = createProxyServer({
  config,
  gate,
  table,
  events,
  metrics,
  log,
  ...(api ? { api } : {}),
  ...(consoleEndpoints ? { console: consoleEndpoints } : {}),
  activity,
});
live.proxy = proxy;
proxy.gateway.update(gatewayRoutes.list() as unknown as GatewayRoute[], clusterView);
await new Promise<void>((resolve, reject) => {
  proxy.server.once("error", reject);
  proxy.server.listen(config.port, config.host, () => resolve());
});
flusher.start();
// Issue 15: the in-workspace keep-alive listener (--workspace-listen), callers known by pod address.
const keepAliveListen = config.activity.workspaceListen;
const keepAliveServer = keepAliveListen
  ? workspaceListener({
      routes: () => table.list(),
      workspace: (ns, name) => workspaces.get(name, ns) as unknown as Workspace | undefined,
      workspaceClass: (ws) => classes.get(classNameOf(ws)) as unknown as WorkspaceClass | undefined,
      write: (ns, name, patch) => activityStore.patch(ns, name, patch),
      log: log.child({ part: "workspace-keep-alive" }),
    })
  : undefined;
if (keepAliveServer && keepAliveListen)
  await new Promise<void>((resolve, reject) => {
    keepAliveServer.once("error", reject);
    keepAliveServer.listen(keepAliveListen.port, keepAliveListen.host, () => resolve());
  });
ready = true;
log.info("proxy ready", {
  listen: `${config.host}:${config.port}`,
  routing: config.routingConfig.routing,
  routes: table.size,
  gatewayRules: proxy.gateway.size,
  auth: config.auth,
  ...(keepAliveListen ? { workspaceListen: `${keepAliveListen.host}:${keepAliveListen.port}` } : {}),
});

onSignals(async (signal) => {
  ready = false;
  log.info("shutting down", { signal });
  const force = setTimeout(() => {
    log.warn("in-flight requests did not finish in time: exiting");
    process.exit(0);
  }, 10_000);
  force.unref();
  watchSockets?.close();
  await proxy.close();
  await flusher.stop();
  keepAliveServer?.close();
  await Promise.all(caches.map((c) => c.stop()));
  health.close();
  log.info("stopped");
  process.exit(0);
});
