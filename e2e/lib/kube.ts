/**
 * Test helpers: clients for the local cluster the harness started (`e2e/cluster/cluster.sh up`).
 * The harness exports KUBECONFIG (and PORTICO_CLUSTER_STATE); tests never guess where the cluster is.
 */
import * as k8s from "@kubernetes/client-node";
import { PooledKubeConfig } from "../../common/runtime/pooled-kubeconfig.ts";

/** Loads the harness kubeconfig, failing with a message that says how to get one. */
export function loadKubeConfig(env: NodeJS.ProcessEnv = process.env): k8s.KubeConfig {
  const path = env.KUBECONFIG;
  if (!path) {
    throw new Error(
      "KUBECONFIG is not set: run e2e tests through `npm run test:e2e` (or `bash e2e/cluster/cluster.sh exec -- <cmd>`), which starts the local cluster and sets it",
    );
  }
  // Pooled as the components' clients are: client-node alone opens a TLS connection per request,
  // which at benchmark scale cost the API server more CPU in handshakes than some of the work measured.
  const kc = new PooledKubeConfig();
  kc.loadFromFile(path);
  return kc;
}

/** The typed API clients a test usually needs, all bound to one kubeconfig. */
export interface Clients {
  kc: k8s.KubeConfig;
  core: k8s.CoreV1Api;
  custom: k8s.CustomObjectsApi;
  apiext: k8s.ApiextensionsV1Api;
  objects: k8s.KubernetesObjectApi;
}

export function clients(kc: k8s.KubeConfig = loadKubeConfig()): Clients {
  return {
    kc,
    core: kc.makeApiClient(k8s.CoreV1Api),
    custom: kc.makeApiClient(k8s.CustomObjectsApi),
    apiext: kc.makeApiClient(k8s.ApiextensionsV1Api),
    objects: k8s.KubernetesObjectApi.makeApiClient(kc),
  };
}

/** A namespace name unique to one test, so tests never see each other's objects. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`;
}

/** Polls `check` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 30_000,
  intervalMs = 200,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const why = lastError instanceof Error ? `: last error ${lastError.message}` : "";
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/**
 * Creates a namespace and returns a function that deletes it and waits until it is gone, so that
 * no workspace of one test file is still seen (by a proxy's informers, say) while the next runs.
 */
export async function withNamespace(
  c: Clients,
  prefix: string,
): Promise<{ name: string; drop: () => Promise<void> }> {
  const name = uniqueName(prefix);
  await c.core.createNamespace({ body: { metadata: { name } } });
  return {
    name,
    drop: async () => {
      await c.core.deleteNamespace({ name }).catch(() => undefined);
      await eventually(
        `namespace ${name} deleted`,
        () =>
          c.core.readNamespace({ name }).then(
            () => undefined,
            (err: { code?: number }) => {
              if (err.code === 404) return true;
              throw err;
            },
          ),
        180_000,
        250,
      );
    },
  };
}

/** The API server's message from a refused request (client-node 2.x ApiException body is JSON text). */
export function apiErrorMessage(err: unknown): string {
  const e = err as { code?: number; body?: unknown; message?: string };
  if (typeof e.body === "string") {
    try {
      const parsed = JSON.parse(e.body) as { message?: string };
      if (parsed.message) return parsed.message;
    } catch {
      return e.body;
    }
  }
  if (e.body && typeof e.body === "object" && "message" in e.body)
    return String((e.body as { message: unknown }).message);
  return e.message ?? String(err);
}

/** HTTP status of an API error, or undefined. */
export function apiErrorCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown }).code;
  return typeof code === "number" ? code : undefined;
}
