/**
 * Benchmark (not a test): N Workspaces applied at once → all Ready, against the direct path —
 * the same N claims, pods and services applied straight with kubectl, no operator — in one run on
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
import { clients, withNamespace } from "../lib/kube.ts";
import { auditWrites, OPERATOR_USER, startOperator, type OperatorProcess } from "../lib/operator.ts";
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

function kubectlApply(docs: object[]): void {
  execFileSync("kubectl", ["apply", "--server-side", "-f", "-"], {
    input: docs.map((d) => stringify(d)).join("---\n"),
    stdio: ["pipe", "ignore", "inherit"],
    maxBuffer: 64 << 20,
  });
}

async function waitAll(what: string, count: () => Promise<number>): Promise<number> {
  const t0 = Date.now();
  let last = -1;
  for (;;) {
    const n = await count();
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

// ---- direct path: what the operator makes, applied directly.
async function directPath(): Promise<number> {
  const direct = await withNamespace(c, "bench-direct");
  const directDocs = Array.from({ length: N }, (_, i) => [
    {
      apiVersion: "v1",
      kind: "PersistentVolumeClaim",
      metadata: { name: `d-${i}-home`, namespace: direct.name },
      spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } },
    },
    {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: `d-${i}`, namespace: direct.name, labels: { app: `d-${i}` } },
      spec: {
        volumes: [{ name: "home", persistentVolumeClaim: { claimName: `d-${i}-home` } }],
        containers: [
          {
            name: "ide",
            image: "portico.dev/test/tiny-http:1",
            ports: [{ containerPort: 8000, name: "http" }],
            volumeMounts: [{ name: "home", mountPath: "/home/coder" }],
            readinessProbe: { httpGet: { path: "/", port: "http" }, periodSeconds: 2 },
          },
        ],
      },
    },
    {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: `d-${i}`, namespace: direct.name },
      spec: { selector: { app: `d-${i}` }, ports: [{ port: 80, targetPort: "http" }] },
    },
  ]).flat();
  const directStart = Date.now();
  kubectlApply(directDocs);
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
const op = await startOperator(["--lease-name=bench"], "bench", [
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
const wsDocs = Array.from({ length: N }, (_, i) => ({
  apiVersion: `${GROUP}/${VERSION}`,
  kind: "Workspace",
  metadata: { name: `w-${i}`, namespace: ns.name },
  spec: { owner: `user-${i % 50}`, className: cls, storage: { size: "1Gi", reclaimPolicy: "Delete" } },
}));
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
| direct: ${N} × (PVC, Pod, Service) applied with \`kubectl apply --server-side\` | ${directReady.toFixed(1)} s | 1.00 |
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
