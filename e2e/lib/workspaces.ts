/**
 * Test helpers for Portico objects on the real cluster: create classes and workspaces, read them,
 * wait for conditions, and run kubectl as a user would.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type { Condition, Workspace, WorkspaceClass, WorkspaceSpec } from "../../crds/types.ts";
import { GROUP, VERSION, WORKSPACE, WORKSPACE_CLASS } from "../../crds/types.ts";
import { eventually, type Clients } from "./kube.ts";

const run = promisify(execFile);

/** Runs kubectl (on PATH inside the harness) with the admin kubeconfig; resolves with stdout. */
export async function kubectl(...args: string[]): Promise<string> {
  const { stdout } = await run("kubectl", args, { env: process.env, maxBuffer: 16 << 20 });
  return stdout;
}

/** A class that runs Debian's Jupyter Server (the jupyterlab class as the chart ships it). */
export function jupyterClass(name: string): WorkspaceClass {
  return {
    apiVersion: `${GROUP}/${VERSION}`,
    kind: "WorkspaceClass",
    metadata: { name },
    spec: {
      image: "quay.io/jupyter/minimal-notebook:2025-10-20",
      port: 8888,
      command: ["jupyter", "lab"],
      args: [
        "--ServerApp.base_url={prefix}",
        "--ServerApp.token=",
        "--ServerApp.password=",
        "--ServerApp.disable_check_xsrf=True",
        "--ServerApp.open_browser=False",
      ],
      storage: { mountPath: "/home/jovyan", size: "1Gi" },
      basePath: { stripPrefix: false },
      // Not counted as Jupyter's activity (as the chart's class: see its comment).
      readinessPath: "{prefix}/api?no_track_activity=1",
      // As the chart's class (charts/portico/files/workspaceclasses/jupyterlab.yaml): Jupyter's own
      // activity report, and a kernel running a cell as busy.
      idle: {
        probe: {
          path: "{prefix}/api/status",
          lastActivityField: "last_activity",
          busy: { path: "{prefix}/api/kernels?no_track_activity=1", field: "execution_state", value: "busy" },
          interval: "30s",
        },
      },
    },
  };
}

/**
 * The echo class (e2e/fixtures/http-echo.ts): answers what it saw (method, URL, headers), so a test
 * can assert at the backend what the proxy forwarded.
 */
export function echoClass(name: string, spec: Partial<WorkspaceClass["spec"]> = {}): WorkspaceClass {
  return {
    apiVersion: `${GROUP}/${VERSION}`,
    kind: "WorkspaceClass",
    metadata: { name },
    spec: {
      image: "portico.dev/test/http-echo:1",
      port: 8080,
      storage: { size: "1Gi" },
      readinessPath: "/",
      ...spec,
    },
  };
}

/** A featherweight class (Python's http.server) for tests that run many workspaces. */
export function tinyClass(name: string): WorkspaceClass {
  return {
    apiVersion: `${GROUP}/${VERSION}`,
    kind: "WorkspaceClass",
    metadata: { name },
    spec: { image: "portico.dev/test/tiny-http:1", port: 8000, storage: { size: "1Gi" }, readinessPath: "/" },
  };
}

export async function createClass(c: Clients, cls: WorkspaceClass): Promise<void> {
  await c.custom.createClusterCustomObject({
    group: GROUP,
    version: VERSION,
    plural: WORKSPACE_CLASS.plural,
    body: cls,
  });
}

export async function deleteClass(c: Clients, name: string): Promise<void> {
  await c.custom
    .deleteClusterCustomObject({ group: GROUP, version: VERSION, plural: WORKSPACE_CLASS.plural, name })
    .catch(() => undefined);
}

export function workspace(
  namespace: string,
  name: string,
  spec: Partial<WorkspaceSpec> & { className: string },
): Workspace {
  return {
    apiVersion: `${GROUP}/${VERSION}`,
    kind: "Workspace",
    metadata: { name, namespace },
    spec: { owner: "alice", ...spec },
  };
}

export async function createWorkspace(c: Clients, ws: Workspace): Promise<Workspace> {
  return (await c.custom.createNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    plural: WORKSPACE.plural,
    namespace: ws.metadata.namespace!,
    body: ws,
  })) as Workspace;
}

export async function getWorkspace(c: Clients, namespace: string, name: string): Promise<Workspace> {
  return (await c.custom.getNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    plural: WORKSPACE.plural,
    namespace,
    name,
  })) as Workspace;
}

/** JSON merge patch of a workspace's spec, as `kubectl patch --type merge` does. */
export async function patchWorkspace(
  c: Clients,
  namespace: string,
  name: string,
  spec: Partial<WorkspaceSpec>,
): Promise<void> {
  await kubectl(
    "patch",
    "workspace",
    name,
    "-n",
    namespace,
    "--type",
    "merge",
    "-p",
    JSON.stringify({ spec }),
  );
}

export async function deleteWorkspace(c: Clients, namespace: string, name: string): Promise<void> {
  await c.custom.deleteNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    plural: WORKSPACE.plural,
    namespace,
    name,
  });
}

export function condition(ws: Workspace, type: string): Condition | undefined {
  return ws.status?.conditions?.find((x) => x.type === type);
}

/** Waits until `pred` holds for the workspace; returns it. */
export async function waitWorkspace(
  c: Clients,
  namespace: string,
  name: string,
  what: string,
  pred: (ws: Workspace) => boolean,
  timeoutMs = 60_000,
): Promise<Workspace> {
  return eventually(
    `workspace ${namespace}/${name}: ${what}`,
    async () => {
      const ws = await getWorkspace(c, namespace, name);
      return pred(ws) ? ws : undefined;
    },
    timeoutMs,
    250,
  );
}

export const isReady = (ws: Workspace) =>
  condition(ws, "Ready")?.status === "True" &&
  condition(ws, "Ready")?.observedGeneration === ws.metadata.generation;
