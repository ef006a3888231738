/**
 * Start-up pieces the operator's and the proxy's main.ts share: configuration or a clean exit, the
 * cluster's kubeconfig, watched caches with the same restart policy, and signal handling.
 */
import * as k8s from "@kubernetes/client-node";
import * as http from "node:http";
import * as https from "node:https";
import { GROUP, VERSION } from "../../crds/types.ts";
import { realClock } from "./types.ts";
import { PooledKubeConfig } from "./pooled-kubeconfig.ts";
import { Watched, type Trim } from "./watched.ts";
import type { Logger } from "./log.ts";
import { ConfigError, HelpRequested } from "./settings.ts";

/**
 * The configuration, or exit 2 with the loader's message (every problem, naming what to set); with
 * `--help`, the help on stdout and exit 0.
 */
export function configOrExit<T>(load: () => T): T {
  try {
    return load();
  } catch (err) {
    if (err instanceof HelpRequested) {
      process.stdout.write(err.text);
      process.exit(0);
    }
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(2);
    }
    throw err;
  }
}

/**
 * From the given file, else KUBECONFIG, else the pod's service account (in-cluster config). Its API
 * requests share one connection pool (pooled-kubeconfig.ts).
 */
export function kubeConfig(path: string | undefined): PooledKubeConfig {
  const kc = new PooledKubeConfig();
  if (path) kc.loadFromFile(path);
  else kc.loadFromDefault();
  return kc;
}

export type Raw = k8s.KubernetesObject;

/**
 * Lists `path` (e.g. `/api/v1/pods`) as the API server's JSON, each item given the `kind` and
 * `apiVersion` the server leaves out of list items. Caches are seeded from this, never from
 * client-node's typed lists: those rename fields (a NetworkPolicy's `from` becomes `_from`) and drop
 * kind, so a cache seeded by them would not look like the watch events that follow, and writes
 * built from it would fail (a delete needs the kind).
 */
export function listRaw<T extends Raw = Raw>(
  kc: k8s.KubeConfig,
  path: string,
  labelSelector?: string,
): () => Promise<k8s.KubernetesListObject<T>> {
  return async () => {
    const server = kc.getCurrentCluster()?.server;
    if (!server) throw new Error("the kubeconfig names no cluster server");
    const url = new URL(server.replace(/\/$/, "") + path);
    if (labelSelector) url.searchParams.set("labelSelector", labelSelector);
    const opts: https.RequestOptions = { method: "GET", headers: { accept: "application/json" } };
    await kc.applyToHTTPSOptions(opts);
    const list = await new Promise<k8s.KubernetesListObject<T>>((resolve, reject) => {
      const req = (url.protocol === "https:" ? https : http).request(url, opts, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", reject);
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          if (res.statusCode !== 200) {
            // The same shape as client-node's ApiException, which callers test for `code`.
            return reject(
              Object.assign(new Error(`list ${path}: HTTP ${res.statusCode}: ${text}`), {
                code: res.statusCode,
                body: text,
              }),
            );
          }
          resolve(JSON.parse(text) as k8s.KubernetesListObject<T>);
        });
      });
      req.on("error", reject);
      req.end();
    });
    const kind = (list.kind ?? "").replace(/List$/, "");
    for (const item of list.items) {
      item.kind ??= kind;
      item.apiVersion ??= list.apiVersion;
    }
    return list;
  };
}

/** Lists one of Portico's cluster-wide custom resources (for a watched cache's relist). */
export function listCustom(kc: k8s.KubeConfig, plural: string): () => Promise<k8s.KubernetesListObject<Raw>> {
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  return () =>
    custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural }) as Promise<
      k8s.KubernetesListObject<Raw>
    >;
}

export interface WatchSpec<T extends Raw> {
  name: string;
  path: string;
  list: () => Promise<k8s.KubernetesListObject<T>>;
  /** Every add, update, delete (and resync, when on) of an object; `old` on updates. */
  onChange: (obj: T, old?: T) => void;
  labelSelector?: string;
  /** What the cache keeps of each object (watched.ts); default: all of it. */
  trim?: Trim<T>;
}

/**
 * A factory of watched caches that share one restart policy: relist when silent for `silenceMs`,
 * back off from 0.5 s to 30 s after failures, each restart logged; `resyncMs` hands every cached
 * object to `onChange` again that often (0: never).
 */
export function watcher(
  kc: k8s.KubeConfig,
  log: Logger,
  o: { silenceMs: number; resyncMs?: number },
): <T extends Raw>(spec: WatchSpec<T>) => Watched<T> {
  return <T extends Raw>(s: WatchSpec<T>) =>
    new Watched<T>({
      name: s.name,
      path: s.path,
      list: s.list,
      kubeConfig: kc,
      labelSelector: s.labelSelector,
      trim: s.trim,
      silenceMs: o.silenceMs,
      resyncMs: o.resyncMs,
      backoffBaseMs: 500,
      backoffMaxMs: 30_000,
      onAdd: (obj) => s.onChange(obj),
      onUpdate: (obj, old) => s.onChange(obj, old),
      onDelete: (obj) => s.onChange(obj),
      onResync: o.resyncMs ? (obj) => s.onChange(obj) : undefined,
      onRestart: (reason, failures, delayMs) =>
        log.warn("watch restarting", { resource: s.name, reason, failures, delayMs }),
      clock: realClock,
      logger: log,
    });
}

/** Runs `shutdown` once, on the first SIGTERM or SIGINT. */
export function onSignals(shutdown: (signal: string) => Promise<void>): void {
  let started = false;
  const once = (signal: string) => {
    if (started) return;
    started = true;
    void shutdown(signal);
  };
  process.on("SIGTERM", () => once("SIGTERM"));
  process.on("SIGINT", () => once("SIGINT"));
}
