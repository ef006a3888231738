/**
 * Runs the real operator process for a test (inside the cluster's network namespace, as tests
 * are) under its own API identity, and reads what it did: its metrics, and its writes as the API
 * server's audit log recorded them.
 */
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { OPERATOR_NODE_ARGS } from "../../operator/runtime.ts";
import { startComponent, stateDir, type Component } from "./component.ts";

export { stateDir, sumSamples } from "./component.ts";

/** `--pod-cidrs` and `--service-cidrs` of the test cluster, unless `flags` sets them. */
export function clusterNetworkFlags(flags: readonly string[]): string[] {
  return [
    ...(flags.some((f) => f.startsWith("--pod-cidrs")) ? [] : ["--pod-cidrs=198.18.0.0/16"]),
    ...(flags.some((f) => f.startsWith("--service-cidrs")) ? [] : ["--service-cidrs=198.19.0.0/16"]),
  ];
}

/** Ports for health and metrics; the proxy's helper counts from 18280, so they never meet. */
let nextPort = 18081;

/**
 * The API user the operator runs as: the Helm chart's ServiceAccount, under the chart's RBAC
 * (e2e/cluster/cluster.sh), as the audit log names it.
 */
export const OPERATOR_USER = "system:serviceaccount:portico-system:portico-operator";

export type OperatorProcess = Component;

/** Starts `operator/main.ts` with the operator's kubeconfig and the given extra flags; waits for /readyz. */
export async function startOperator(
  flags: string[] = [],
  name = "operator",
  nodeArgs: readonly string[] = [],
): Promise<OperatorProcess> {
  const healthPort = nextPort++;
  return startComponent({
    script: "operator/main.ts",
    nodeArgs: [...OPERATOR_NODE_ARGS, ...nodeArgs],
    name,
    healthPort,
    args: [
      `--kubeconfig=${join(stateDir(), "kubeconfig.operator")}`,
      `--health-port=${healthPort}`,
      "--health-host=127.0.0.1",
      "--lease-namespace=portico-system",
      // The test cluster's networks (e2e/cluster/cluster.sh): url backends may not point into them.
      ...clusterNetworkFlags(flags),
      ...flags,
    ],
  });
}

export interface AuditEntry {
  verb: string;
  user: { username: string };
  objectRef?: { resource?: string; namespace?: string; name?: string; subresource?: string };
  requestReceivedTimestamp: string;
  responseStatus?: { code?: number };
}

/** Writes (create/update/patch/delete) the API server recorded for `username` since `since`. */
export async function auditWrites(
  username: string,
  since: Date,
  until = new Date(8.64e15),
): Promise<AuditEntry[]> {
  // The API server rotates its audit log at 100 MB (audit-<time>.log beside it): read them all.
  const files = (await readdir(stateDir())).filter((f) => /^audit(-.+)?\.log$/.test(f));
  const texts = await Promise.all(files.map((f) => readFile(join(stateDir(), f), "utf8")));
  const out: AuditEntry[] = [];
  for (const line of texts.join("\n").split("\n")) {
    if (!line.includes(username)) continue;
    const e = JSON.parse(line) as AuditEntry;
    const at = new Date(e.requestReceivedTimestamp);
    if (e.user.username === username && at >= since && at <= until) out.push(e);
  }
  return out;
}
