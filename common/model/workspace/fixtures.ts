/**
 * Test fixtures for the API model: a Workspace and a WorkspaceClass as they come back from the API
 * server (defaults applied), each adjustable per test. Used only by tests.
 */
import type { Workspace, WorkspaceClass, WorkspaceClassSpec, WorkspaceSpec } from "../../../crds/types.ts";

/** A running workspace `alice-notebook` in `team-a`, owned by `alice`, of class `jupyterlab`. */
export function testWorkspace(
  spec: Partial<WorkspaceSpec> = {},
  meta: Partial<Workspace["metadata"]> = {},
): Workspace {
  return {
    apiVersion: "portico.dev/v1alpha1",
    kind: "Workspace",
    metadata: {
      name: "alice-notebook",
      namespace: "team-a",
      uid: "0b7f6a38-5a7e-4d3c-9a53-2f1c8d3e4f50",
      generation: 3,
      ...meta,
    },
    spec: {
      owner: "alice",
      className: "jupyterlab",
      running: true,
      storage: { reclaimPolicy: "Retain", scope: "workspace" },
      ...spec,
    },
  };
}

/** The chart's JupyterLab class (prefix kept, readiness at `{prefix}/api`). */
export function testClass(spec: Partial<WorkspaceClassSpec> = {}, name = "jupyterlab"): WorkspaceClass {
  return {
    apiVersion: "portico.dev/v1alpha1",
    kind: "WorkspaceClass",
    metadata: { name, uid: "5d1e8e43-0d8b-4b8e-8d9e-6c3c7b0e1a22", generation: 1 },
    spec: {
      image: "quay.io/jupyter/minimal-notebook:2025-10-20",
      imagePullPolicy: "IfNotPresent",
      port: 8888,
      command: ["jupyter", "lab"],
      args: ["--ServerApp.base_url={prefix}", "--ServerApp.ip=0.0.0.0"],
      env: [
        { name: "JUPYTER_ENABLE_LAB", value: "yes" },
        { name: "BASE", value: "{prefix}/lab" },
      ],
      resources: { requests: { cpu: "500m", memory: "1Gi" }, limits: { memory: "4Gi" } },
      storage: { size: "10Gi", mountPath: "/home/jovyan" },
      basePath: {
        stripPrefix: false,
        requestHeaders: [{ name: "X-Forwarded-Prefix", value: "{prefix}" }],
        rewriteLocation: false,
        rewriteCookiePath: false,
      },
      forwardToken: false,
      readinessPath: "{prefix}/api",
      ...spec,
    },
  };
}
