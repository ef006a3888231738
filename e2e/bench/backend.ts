/**
 * What every proxy benchmark starts from: a check that it runs inside the harness's network
 * namespace (e2e/run-bench.sh, thrown away afterwards), and one real backend workspace of class
 * `bench-backend` (e2e/fixtures/bench-backend.ts: 1 KiB answers over keep-alive, WebSocket echo)
 * that the real operator turns into a pod; the operator then stops, so it spends no CPU during the
 * measurements. Also the load-average log the cluster benchmarks put in their reports.
 */
import { execFileSync } from "node:child_process";
import { loadavg } from "node:os";
import type { Workspace, WorkspaceClass } from "../../crds/types.ts";
import { clients, withNamespace, type Clients } from "../lib/kube.ts";
import { startOperator } from "../lib/operator.ts";
import { createClass, createWorkspace, isReady, waitWorkspace, workspace } from "../lib/workspaces.ts";

/** The network namespace this benchmark runs in; throws unless it is the harness's. */
export function benchNetns(script: string): string {
  const netns = execFileSync("ip", ["netns", "identify", String(process.pid)])
    .toString()
    .trim();
  if (!netns || netns !== process.env.PORTICO_NETNS || !process.env.KUBECONFIG)
    throw new Error(
      `run through \`npm run ${script}\` (inside the cluster's network namespace), not directly`,
    );
  return netns;
}

/**
 * The machine's load average at named moments of a run, for the report (a benchmark that shared
 * the machine says so): `note("start")` … then `loads` → ["start 0.6, 0.7, 0.8", …].
 */
export function loadLog(): { loads: string[]; note(when: string): void } {
  const loads: string[] = [];
  return {
    loads,
    note: (when) =>
      void loads.push(
        `${when} ${loadavg()
          .map((x) => x.toFixed(1))
          .join(", ")}`,
      ),
  };
}

export interface Backend {
  c: Clients;
  ns: { name: string; drop: () => Promise<void> };
  /** The Ready workspace, owned by alice. */
  ready: Workspace;
}

export async function startBackend(name: string): Promise<Backend> {
  const c = clients();
  const ns = await withNamespace(c, name);
  const cls: WorkspaceClass = {
    apiVersion: "portico.dev/v1alpha1",
    kind: "WorkspaceClass",
    metadata: { name: "bench-backend" },
    spec: {
      image: "portico.dev/test/bench-backend:1",
      port: 8080,
      storage: { size: "1Gi" },
      readinessPath: "/",
      basePath: { stripPrefix: true },
    },
  };
  await createClass(c, cls).catch(() => undefined); // left by an earlier run on this cluster
  const op = await startOperator([`--lease-name=${name}`], name);
  await createWorkspace(
    c,
    workspace(ns.name, "backend", {
      className: cls.metadata.name!,
      owner: "alice",
      storage: { reclaimPolicy: "Delete" },
    }),
  );
  const ready = await waitWorkspace(c, ns.name, "backend", "Ready", isReady, 120_000);
  await op.stop();
  return { c, ns, ready };
}
