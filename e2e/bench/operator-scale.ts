/**
 * Benchmark (not a test): N Workspaces applied at once → all Ready, against the direct path —
 * the same children the operator makes (claim, pod, Service, NetworkPolicy and, with Istio's CRD,
 * VirtualService; built by the operator's own builders) applied straight with kubectl — in one run on
 * one cluster. Reports times and their ratio, the operator's API writes (from the API server's
 * audit log) and its peak RSS, and writes them into docs/benchmarks.md.
 *
 *   npm run bench:operator            (N = 500)
 *   npm run bench:operator -- 100     (another N)
 */
import { execFileSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { stringify } from "yaml";
import { GROUP, VERSION, WORKSPACE } from "../../crds/types.ts";
import { stateDir } from "../lib/component.ts";
import { clients, withNamespace } from "../lib/kube.ts";
import { loadConfig } from "../../operator/config.ts";
import { buildChildren } from "../../operator/workspace/build.ts";
import {
  auditWrites,
  clusterNetworkFlags,
  OPERATOR_USER,
  startOperator,
  type OperatorProcess,
} from "../lib/operator.ts";
import { createClass, isReady, tinyClass } from "../lib/workspaces.ts";
import type { Workspace } from "../../crds/types.ts";

const { values: opt, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    // Measuring memory while iterating: skip the direct path (and leave docs/benchmarks.md alone).
    "no-direct": { type: "boolean", default: false },
    // Where the operator's CPU profile (the whole run) and a V8 heap snapshot (once all are Ready)
    // go; the cluster's state directory is deleted afterwards, so somewhere else.
    "profile-dir": { type: "string" },
    // Node flags for the operator (repeatable), to compare V8 heap settings: --node-arg=--max-semi-space-size=4
    "node-arg": { type: "string", multiple: true, default: [] },
  },
});
const N = Number(positionals[0] ?? 500);
const profileDir = opt["profile-dir"] && resolve(opt["profile-dir"]);
const REPO = resolve(import.meta.dirname, "../..");
const c = clients();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `kubectl apply --server-side`; `as`: a kubeconfig of the state directory (default: the admin's). */
function kubectlApply(docs: object[], as?: string): void {
  execFileSync(
    "kubectl",
    ["apply", "--server-side", ...(as ? ["--kubeconfig", join(stateDir(), as)] : []), "-f", "-"],
    {
      input: docs.map((d) => stringify(d)).join("---\n"),
      stdio: ["pipe", "ignore", "inherit"],
      maxBuffer: 64 << 20,
    },
  );
}

async function waitAll(what: string, count: () => Promise<number>): Promise<number> {
  const t0 = Date.now();
  let last = -1;
  for (;;) {
    // A count that fails (the API server too busy to accept a connection within 10 s on a loaded
    // machine) is asked again next second: a slow answer is what this bench measures, not an error.
    const n = await count().catch((err: unknown) => {
      process.stderr.write(`\n${what}: count failed (${String(err)}); asking again\n`);
      return last;
    });
    if (n !== last)
      process.stderr.write(`\r${what}: ${n}/${N} after ${((Date.now() - t0) / 1000).toFixed(0)} s   `);
    last = n;
    if (n >= N) break;
    if (Date.now() - t0 > 30 * 60_000) throw new Error(`${what}: only ${n}/${N} after 30 min`);
    await sleep(1000);
  }
  process.stderr.write("\n");
  return (Date.now() - t0) / 1000;
}

/** SIGUSR2 → V8 writes a snapshot (synchronously: /healthz answers again once it is written). */
async function heapSnapshot(o: OperatorProcess, dir: string): Promise<void> {
  o.proc.kill("SIGUSR2");
  await sleep(500);
  for (;;) {
    const ok = await fetch(`${o.healthUrl}/healthz`, { signal: AbortSignal.timeout(2000) }).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
  }
  const file = readdirSync(dir).find((f) => f.endsWith(".heapsnapshot") && f.includes(`.${o.proc.pid}.`));
  console.error(`heap snapshot: ${file ? join(dir, file) : "not written"}`);
}

/** VmHWM (peak) or VmRSS (now) of a process, in MiB. */
function rssMiB(pid: number, which: "VmHWM" | "VmRSS" = "VmHWM"): number {
  const status = execFileSync("cat", [`/proc/${pid}/status`]).toString();
  return Number(new RegExp(`${which}:\\s+(\\d+) kB`).exec(status)![1]) / 1024;
}

const cls = "bench-tiny";
await createClass(c, tinyClass(cls)).catch(() => undefined);
/** The benchmark operator's flags (startOperator adds the same network flags), read as it reads them. */
const OPERATOR_FLAGS = ["--lease-name=bench"];
const operatorConfig = loadConfig(
  ["--lease-namespace=portico-system", ...clusterNetworkFlags(OPERATOR_FLAGS), ...OPERATOR_FLAGS],
  {},
);

// ---- direct path: what the operator makes, applied directly.
/** The Workspace both paths start from (the direct path builds its children without applying it). */
const workspaceDoc = (name: string, namespace: string, i: number): Workspace => ({
  apiVersion: `${GROUP}/${VERSION}`,
  kind: "Workspace",
  metadata: { name, namespace },
  spec: { owner: `user-${i % 50}`, className: cls, storage: { size: "1Gi", reclaimPolicy: "Delete" } },
});

/**
 * Exactly the children the operator would make for workspace `i` — its own pure builders
 * (operator/workspace/build.ts), with the configuration the benchmark's operator runs with — less
 * the owner references (no Workspace exists to own them). The direct path applies these, so the
 * ratio measures what the operator adds, not a difference in what is made (until 2026-12-05 the
 * direct path applied a claim, a pod and a Service only: three objects against the operator's five).
 */
function directChildren(namespace: string, i: number, virtualService: boolean): object[] {
  // A uid to build with: the owner references it ends up in are dropped below.
  const ws = workspaceDoc(`d-${i}`, namespace, i);
  ws.metadata.uid = `00000000-0000-0000-0000-${String(i).padStart(12, "0")}`;
  const built = buildChildren(ws, tinyClass(cls), operatorConfig.builder, {
    virtualService,
  });
  // client-node's models spell NetworkPolicy's `from` as `_from` (its serializer maps it back; see
  // operator/workspace/reconcile.ts WIRE_NAMES): kubectl needs the wire spelling.
  return Object.values(built).map((o) => {
    const wire = JSON.parse(JSON.stringify(o).replaceAll('"_from":', '"from":')) as {
      metadata?: { ownerReferences?: unknown };
    };
    delete wire.metadata?.ownerReferences;
    return wire;
  });
}

// The operator makes a VirtualService when Istio's CRD is served: so does the direct path.
const istio = await c.custom
  .listClusterCustomObject({ group: "networking.istio.io", version: "v1", plural: "virtualservices" })
  .then(
    () => true,
    () => false,
  );
const directKinds = istio ? ", VirtualService" : "";

async function directPath(): Promise<number> {
  const direct = await withNamespace(c, "bench-direct");
  const directDocs = Array.from({ length: N }, (_, i) => directChildren(direct.name, i, istio)).flat();
  const directStart = Date.now();
  // As the operator's ServiceAccount: the chart's admission policies let only it create objects that
  // carry a workspace's labels, and both paths then pass the same policies.
  kubectlApply(directDocs, "kubeconfig.operator");
  const directApplied = (Date.now() - directStart) / 1000;
  const directReady =
    (await waitAll("direct pods Ready", async () => {
      const pods = await c.core.listNamespacedPod({ namespace: direct.name });
      return pods.items.filter((p) =>
        p.status?.conditions?.some((x) => x.type === "Ready" && x.status === "True"),
      ).length;
    })) + directApplied;
  await direct.drop();
  // A fair second phase starts on a quiet cluster: the direct path's pods and volumes all gone
  // (reclaiming 500 volumes keeps the PV controller busy for minutes otherwise).
  await waitAll(
    "direct pods gone",
    async () => N - (await c.core.listNamespacedPod({ namespace: direct.name })).items.length,
  );
  await waitAll(
    "direct volumes reclaimed",
    async () => N - (await c.core.listPersistentVolume()).items.length,
  );
  return directReady;
}
const directReady = opt["no-direct"] ? NaN : await directPath();

// ---- Portico: N Workspaces at once, the operator does the rest.
const op = await startOperator(OPERATOR_FLAGS, "bench", [
  ...opt["node-arg"],
  ...(profileDir
    ? [
        "--heapsnapshot-signal=SIGUSR2",
        `--diagnostic-dir=${profileDir}`,
        "--cpu-prof",
        `--cpu-prof-dir=${profileDir}`,
      ]
    : []),
]);
const ns = await withNamespace(c, "bench-portico");
const wsDocs = Array.from({ length: N }, (_, i) => workspaceDoc(`w-${i}`, ns.name, i));
const from = new Date();
const wsStart = Date.now();
kubectlApply(wsDocs);
const wsApplied = (Date.now() - wsStart) / 1000;
const porticoReady =
  (await waitAll("workspaces Ready", async () => {
    const list = (await c.custom.listNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      plural: WORKSPACE.plural,
      namespace: ns.name,
    })) as {
      items: Workspace[];
    };
    return list.items.filter(isReady).length;
  })) + wsApplied;
const writes = await auditWrites(OPERATOR_USER, from);
const byKind: Record<string, number> = {};
for (const w of writes) {
  const k = `${w.verb} ${w.objectRef?.resource}${w.objectRef?.subresource ? "/" + w.objectRef.subresource : ""}`;
  byKind[k] = (byKind[k] ?? 0) + 1;
}
const rss = rssMiB(op.proc.pid!);
// Where the resident memory is (prom-client's process metrics, whatever their prefix).
const memory = Object.fromEntries(
  [
    ...(await op.metrics()).matchAll(
      /^(?:\w+_)?(nodejs_heap_size_total_bytes|nodejs_heap_size_used_bytes|nodejs_external_memory_bytes) (\S+)$/gm,
    ),
  ].map((m) => [m[1]!, Math.round(Number(m[2]) / 1048576)]),
);
console.error(`operator memory now (MiB): ${JSON.stringify(memory)}`);
console.error(
  `operator RSS: peak ${rss.toFixed(0)} MiB, now ${rssMiB(op.proc.pid!, "VmRSS").toFixed(0)} MiB`,
);
if (profileDir) await heapSnapshot(op, profileDir);
const reconciles = await op.metric("portico_operator_reconciles_total");
await op.stop();
// No cleanup of the Workspaces: the cluster is torn down after a benchmark, and deleting 1,000 of
// them outlasts the namespace helper's wait.

const nonLease = writes.filter((w) => w.objectRef?.resource !== "leases").length;
const result = {
  n: N,
  directReadySeconds: directReady,
  porticoReadySeconds: porticoReady,
  ratio: porticoReady / directReady,
  operatorWrites: nonLease,
  writesPerWorkspace: nonLease / N,
  writesByKind: byKind,
  operatorPeakRssMiB: rss,
  reconciles,
};
console.log(JSON.stringify(result, null, 2));

// ---- docs/benchmarks.md: replace this benchmark's section (not for a run without the direct path).
if (opt["no-direct"]) process.exit(0);
const date = new Date().toISOString().slice(0, 10);
const rows = Object.entries(byKind)
  .sort((a, b) => b[1] - a[1])
  .map(([k, v]) => `| ${k} | ${v} |`)
  .join("\n");
const section = `<!-- operator-scale:start -->
## Operator: ${N} Workspaces applied at once

Command: \`npm run bench:operator${N === 500 ? "" : ` -- ${N}`}\` (${date}; 2 cores, 24 GiB; real API server, pods as
real processes — Python's http.server — behind a real HTTP readiness probe).

| path | all Ready after | ratio |
| --- | --- | --- |
| direct: ${N} × the operator's children (PVC, Pod, Service, NetworkPolicy${directKinds}) applied with \`kubectl apply --server-side\` | ${directReady.toFixed(1)} s | 1.00 |
| Portico: ${N} Workspaces applied with \`kubectl apply --server-side\`; the operator makes the rest | ${porticoReady.toFixed(1)} s | ${result.ratio.toFixed(2)} |

Operator: **${nonLease} API writes** (${result.writesPerWorkspace.toFixed(1)} per workspace, Lease renewals left
out), peak RSS **${rss.toFixed(0)} MiB**, ${reconciles} reconciles.

| operator write (audit log) | count |
| --- | --- |
${rows}
<!-- operator-scale:end -->`;
const path = resolve(REPO, "docs/benchmarks.md");
let doc = await readFile(path, "utf8").catch(
  () =>
    "# Benchmarks\n\nResults with the command that produced them. Absolute times on these shared 2-core machines are noise; ratios within one run are what to compare.\n",
);
doc = /<!-- operator-scale:start -->[\s\S]*<!-- operator-scale:end -->/.test(doc)
  ? doc.replace(/<!-- operator-scale:start -->[\s\S]*<!-- operator-scale:end -->/, section)
  : `${doc.trimEnd()}\n\n${section}\n`;
await writeFile(path, doc);
console.error(`wrote ${path}`);
