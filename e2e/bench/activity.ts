/**
 * Benchmark (not a test): the activity reports' write budget (issue 15). N busy workspaces — every
 * one receiving requests continuously through 2 real proxy replicas for at least 3 report intervals
 * — and the Workspace PATCHes the proxies send, counted in the API server's audit log per minute,
 * in total and per replica (each replica's `portico_activity_reports_total{result="written"}`),
 * against the budget of one write per workspace per minute (N/min). Writes into docs/benchmarks.md.
 *
 *   npm run bench:activity            (N = 1000, the production interval of 60 s)
 *   npm run bench:activity -- 200     (another N)
 *
 * What is real: the API server (and its audit log), both proxies (the chart's RBAC), the HTTP
 * requests through them, the backends answering them (4 processes of e2e/fixtures/bench-backend.ts
 * in the test network). What stands in: the workspaces' pods. No operator runs; each Workspace gets
 * a Ready status and an EndpointSlice (the operator's child labels) pointing at one of the 4
 * backends, written by the bench as admin — what the proxy reads to route is exactly what the
 * operator and the endpoint controller would have written, for a thousand pods this machine could
 * not run.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { Agent, request } from "node:http";
import { readFile, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { GROUP, VERSION, WORKSPACE } from "../../crds/types.ts";
import {
  CHILD_SELECTOR,
  PORT_NAME,
  childNames,
  WORKSPACE_LABEL,
} from "../../common/model/workspace/names.ts";
import { REPORT_INTERVAL_MS } from "../../common/model/workspace/lifecycle.ts";
import * as k8s from "@kubernetes/client-node";
import { clients, loadKubeConfig, withNamespace } from "../lib/kube.ts";
import { auditWrites } from "../lib/operator.ts";
import { startProxy, type ProxyProcess } from "../lib/proxy.ts";
import { createClass, tinyClass, workspace } from "../lib/workspaces.ts";

const N = Number(process.argv[2] ?? 1000);
const INTERVAL_MS = REPORT_INTERVAL_MS;
/** Each workspace gets a request through each replica this often. */
const EVERY_MS = 5000;
const WARMUP_MS = INTERVAL_MS + 30_000;
const MEASURE_MS = 3 * INTERVAL_MS;
const BACKENDS = ["198.18.0.250", "198.18.0.251", "198.18.0.252", "198.18.0.253"];
const PROXY_USER = "system:serviceaccount:portico-system:portico-proxy";
const REPO = resolve(import.meta.dirname, "../..");
const c = clients();
const discovery = loadKubeConfig().makeApiClient(k8s.DiscoveryV1Api);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const names = Array.from({ length: N }, (_, i) => `busy-${String(i).padStart(4, "0")}`);

/** Runs `fn` over `items`, `limit` at a time. */
async function pool<T>(items: readonly T[], limit: number, fn: (t: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

const backends: ChildProcess[] = BACKENDS.map((host) =>
  spawn(process.execPath, [join(REPO, "e2e/fixtures/bench-backend.ts")], {
    env: { ...process.env, HOST: host, PORT: "8080" },
    stdio: "ignore",
  }),
);
const ns = await withNamespace(c, "bench-activity");
const cls = "bench-activity-tiny";
await createClass(c, tinyClass(cls));

// ---- N Workspaces, each Ready with one ready endpoint (as the operator and the endpoint controller make them).
const t0 = Date.now();
await pool(names, 16, async (name, i = names.indexOf(name)) => {
  const ws = workspace(ns.name, name, { className: cls, owner: "bench" });
  await c.custom.createNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    namespace: ns.name,
    plural: WORKSPACE.plural,
    body: ws,
  });
  const now = new Date().toISOString().replace(/\.\d+Z$/, "Z");
  await c.custom.patchNamespacedCustomObjectStatus(
    {
      group: GROUP,
      version: VERSION,
      namespace: ns.name,
      plural: WORKSPACE.plural,
      name,
      body: {
        status: {
          phase: "Running",
          className: cls,
          conditions: [
            { type: "Ready", status: "True", reason: "Ready", message: "", lastTransitionTime: now },
          ],
        },
      },
    },
    k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch),
  );
  await discovery.createNamespacedEndpointSlice({
    namespace: ns.name,
    body: {
      metadata: {
        name: `${childNames(ws).service}-bench`,
        labels: {
          ...CHILD_SELECTOR,
          [WORKSPACE_LABEL]: name,
          "kubernetes.io/service-name": childNames(ws).service,
        },
      },
      addressType: "IPv4",
      ports: [{ name: PORT_NAME, port: 8080, protocol: "TCP" }],
      endpoints: [{ addresses: [BACKENDS[i % BACKENDS.length]!], conditions: { ready: true } }],
    },
  });
});
console.error(`${N} workspaces ready-faked in ${((Date.now() - t0) / 1000).toFixed(0)} s`);

// ---- 2 proxy replicas, the production report interval and writes-per-second budget.
const proxies: ProxyProcess[] = [];
for (const [i, address] of ["198.18.0.248", "198.18.0.249"].entries())
  proxies.push(
    await startProxy({ address, port: 8080, name: `bench-activity-proxy-${i}`, flags: ["--console=false"] }),
  );

async function routed(px: ProxyProcess): Promise<number> {
  const text = await px.metrics();
  return Number(/portico_proxy_routes\{state="ready"\}\s+(\d+)/.exec(text)?.[1] ?? 0);
}
for (const px of proxies)
  for (let t = Date.now(); (await routed(px)) < N; await sleep(1000))
    if (Date.now() - t > 5 * 60_000) throw new Error(`${px.url}: only ${await routed(px)}/${N} routes ready`);

// ---- Traffic: every workspace through every replica every EVERY_MS, spread evenly.
const agent = new Agent({ keepAlive: true, maxSockets: 32 });
let sent = 0;
let failed = 0;
let running = true;
function get(px: ProxyProcess, name: string): Promise<void> {
  return new Promise((resolve) => {
    const req = request(
      { host: px.address, port: px.port, path: "/", agent, headers: { host: px.hostFor(ns.name, name) } },
      (res) => {
        if (res.statusCode !== 200) failed++;
        res.resume();
        res.on("end", resolve);
      },
    );
    req.on("error", () => {
      failed++;
      resolve();
    });
    req.end();
    sent++;
  });
}
const traffic = (async () => {
  const gap = EVERY_MS / N;
  while (running) {
    const start = Date.now();
    for (let i = 0; i < N && running; i++) {
      for (const px of proxies) void get(px, names[i]!);
      const due = start + (i + 1) * gap - Date.now();
      if (due > 0) await sleep(due);
    }
  }
})();

const written = async () =>
  Promise.all(proxies.map((px) => px.metric("portico_activity_reports_total", { result: "written" })));
const patches = async (from: Date, to: Date) =>
  (await auditWrites(PROXY_USER, from, to)).filter(
    (e) => e.verb === "patch" && e.objectRef?.resource === "workspaces",
  ).length;

const trafficStart = new Date();
console.error(`traffic on; warming up ${WARMUP_MS / 1000} s (the first reports of every workspace)`);
await sleep(WARMUP_MS);
const from = new Date();
const before = await written();
await sleep(MEASURE_MS);
const to = new Date();
const after = await written();
running = false;
await traffic;
const warm = await patches(trafficStart, from);
const total = await patches(from, to);
const minutes = (to.getTime() - from.getTime()) / 60_000;
const perReplica = after.map((a, i) => (a - before[i]!) / minutes);
const result = {
  workspaces: N,
  replicas: 2,
  reportIntervalSeconds: INTERVAL_MS / 1000,
  requestsSent: sent,
  requestsFailed: failed,
  warmupWrites: warm,
  warmupSeconds: (from.getTime() - trafficStart.getTime()) / 1000,
  measuredMinutes: minutes,
  writesPerMinute: total / minutes,
  writesPerMinutePerReplica: perReplica,
  budgetRatio: total / minutes / N,
};
console.log(JSON.stringify(result, null, 2));

for (const px of proxies) await px.stop();
for (const b of backends) b.kill("SIGTERM");
await ns.drop();
await c.custom
  .deleteClusterCustomObject({ group: GROUP, version: VERSION, plural: "workspaceclasses", name: cls })
  .catch(() => undefined);

// ---- docs/benchmarks.md: replace this benchmark's section.
const date = new Date().toISOString().slice(0, 10);
const section = `<!-- activity:start -->
## Activity reports: ${N} busy workspaces through 2 proxy replicas

Command: \`npm run bench:activity${N === 1000 ? "" : ` -- ${N}`}\` (${date}; 2 cores shared; real API server and audit log,
2 real proxies with the production report interval (${INTERVAL_MS / 1000} s) and writes-per-second budget (20 per replica)).
Every workspace got a request through each replica every ${EVERY_MS / 1000} s (${result.requestsSent} requests,
${result.requestsFailed} not 200) for ${((to.getTime() - trafficStart.getTime()) / 60_000).toFixed(1)} min; counted over the last ${minutes.toFixed(1)} min, after a
${result.warmupSeconds.toFixed(0)} s warm-up (${warm} writes: every workspace's first report, and from 60 s on the second ones). The workspaces' pods stand in: each
Workspace has a Ready status and an EndpointSlice written by the bench (no operator), pointing at one
of 4 real backend processes (e2e/fixtures/bench-backend.ts).

| | Workspace PATCHes per minute |
| --- | --- |
| both replicas (audit log) | **${result.writesPerMinute.toFixed(0)}** |
| replica 1 (its portico_activity_reports_total{result="written"}) | ${perReplica[0]!.toFixed(0)} |
| replica 2 | ${perReplica[1]!.toFixed(0)} |
| budget: one per workspace per minute | ${N} |
| ratio to the budget | **${result.budgetRatio.toFixed(2)}** |

Steady state, each busy workspace is written about once per 60–65 s (the interval, plus up to a flush
round and the paced wait); the two replicas share the writes about evenly and rarely both write the
same workspace (random order per replica, a re-check of the cache right before each write).
<!-- activity:end -->`;
const path = resolve(REPO, "docs/benchmarks.md");
let doc = await readFile(path, "utf8");
doc = /<!-- activity:start -->[\s\S]*<!-- activity:end -->/.test(doc)
  ? doc.replace(/<!-- activity:start -->[\s\S]*<!-- activity:end -->/, section)
  : `${doc.trimEnd()}\n\n${section}\n`;
await writeFile(path, doc);
console.error(`wrote ${path}`);
process.exit(0);
