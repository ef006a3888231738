/**
 * portico-proxy: wiring only. Reads the configuration (config.ts), watches Workspaces,
 * WorkspaceClasses and EndpointSlices (the operator's watched caches), keeps the route table and the
 * status streams up to date from them, and serves the data path (server.ts) once every cache is
 * seeded. Health, readiness and metrics are served on their own port. SIGTERM: not ready, stop
 * accepting, let in-flight requests finish (bounded), exit.
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
import { realClock } from "../operator/engine/types.ts";
import { Watched } from "../operator/engine/watched.ts";
import { startHealthServer } from "../operator/health.ts";
import { createLogger } from "../operator/log.ts";
import { CHILD_LABEL_SELECTOR } from "../operator/workspace/names.ts";
import { ConfigError, loadConfig } from "./config.ts";
import { EventHub } from "./events.ts";
import { createMetrics } from "./metrics.ts";
import { classNameOf, toRoute } from "./routing/from-cluster.ts";
import { RouteTable } from "./routing/table.ts";
import { createProxyServer } from "./server.ts";

let config: ReturnType<typeof loadConfig>;
try {
  config = loadConfig(process.argv.slice(2), process.env);
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(err.message);
    process.exit(2);
  }
  throw err;
}
const log = createLogger(config.logLevel, "portico-proxy");
if (config.auth === "none")
  log.warn(
    "AUTHENTICATION IS OFF (--auth=none): anyone who reaches this proxy can open every workspace. " +
      "For a local demo only; never expose this proxy to a network.",
    { auth: "none" },
  );

const kc = new k8s.KubeConfig();
if (config.kubeconfig) kc.loadFromFile(config.kubeconfig);
else kc.loadFromDefault();
const custom = kc.makeApiClient(k8s.CustomObjectsApi);
const discovery = kc.makeApiClient(k8s.DiscoveryV1Api);

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

type Raw = k8s.KubernetesObject;
function watch<T extends Raw>(
  name: string,
  path: string,
  list: () => Promise<k8s.KubernetesListObject<T>>,
  onChange: (o: T) => void,
  labelSelector?: string,
): Watched<T> {
  return new Watched<T>({
    name,
    path,
    list,
    kubeConfig: kc,
    labelSelector,
    silenceMs: config.watchSilenceMs,
    backoffBaseMs: 500,
    backoffMaxMs: 30_000,
    onAdd: onChange,
    onUpdate: onChange,
    onDelete: onChange,
    onRestart: (reason, failures, delayMs) =>
      log.warn("watch restarting", { resource: name, reason, failures, delayMs }),
    clock: realClock,
    logger: log,
  });
}

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
  if (before !== route.state)
    log.info("route", { workspace: `${namespace}/${name}`, state: route.state, upstream: route.upstream });
}
const refreshNamespace = (ns: string) => {
  for (const w of workspaces.list(ns)) refresh(ns, w.metadata!.name!);
};

const workspaces = watch<Raw>(
  "workspaces",
  `/apis/${GROUP}/${VERSION}/${WORKSPACE.plural}`,
  () =>
    custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: WORKSPACE.plural }) as Promise<
      k8s.KubernetesListObject<Raw>
    >,
  (o) => refresh(o.metadata!.namespace!, o.metadata!.name!),
);
const classes = watch<Raw>(
  "workspaceclasses",
  `/apis/${GROUP}/${VERSION}/${WORKSPACE_CLASS.plural}`,
  () =>
    custom.listClusterCustomObject({
      group: GROUP,
      version: VERSION,
      plural: WORKSPACE_CLASS.plural,
    }) as Promise<k8s.KubernetesListObject<Raw>>,
  (c) => {
    for (const w of workspaces.list() as unknown as Workspace[])
      if (classNameOf(w) === c.metadata?.name) refresh(w.metadata.namespace!, w.metadata.name!);
  },
);
// EndpointSlices inherit their Service's labels: only the operator's workspace Services are watched.
const slices = watch<k8s.V1EndpointSlice>(
  "endpointslices",
  "/apis/discovery.k8s.io/v1/endpointslices",
  () => discovery.listEndpointSliceForAllNamespaces({ labelSelector: CHILD_LABEL_SELECTOR }),
  (s) => refreshNamespace(s.metadata!.namespace!),
  CHILD_LABEL_SELECTOR,
);
const caches = [workspaces, classes, slices] as Watched<Raw>[];

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
const proxy = createProxyServer({ config, table, events, metrics, log });
await new Promise<void>((resolve, reject) => {
  proxy.server.once("error", reject);
  proxy.server.listen(config.port, config.host, () => resolve());
});
ready = true;
log.info("proxy ready", {
  listen: `${config.host}:${config.port}`,
  routing: config.routingConfig.routing,
  routes: table.size,
  auth: config.auth,
});

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  ready = false;
  log.info("shutting down", { signal });
  const force = setTimeout(() => {
    log.warn("in-flight requests did not finish in time: exiting");
    process.exit(0);
  }, 10_000);
  force.unref();
  await proxy.close();
  await Promise.all(caches.map((c) => c.stop()));
  health.close();
  log.info("stopped");
  process.exit(0);
}
process.on("SIGTERM", () => void shutdown("SIGTERM"));
process.on("SIGINT", () => void shutdown("SIGINT"));
