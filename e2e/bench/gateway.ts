/**
 * Benchmark (not a test): throughput through a GatewayRoute spread over 3 backends, against one
 * backend reached directly. The backends are real `bench-backend` processes on pod IPs (1 KiB
 * answers over keep-alive) behind a real Service; the proxy balances round robin over the Service's
 * endpoints from its EndpointSlice. Max load with wrk in rounds of alternating order; ratios are
 * medians of per-round ratios (this VM drifts between rounds).
 *
 *   npm run bench:gateway [-- --seconds=6 --rounds=5]
 *
 * Prints JSON and writes docs/benchmarks.md's gateway section.
 */
import { request } from "node:http";
import { join } from "node:path";
import { API_VERSION, GATEWAY_ROUTE, GROUP, VERSION } from "../../crds/types.ts";
import { eventually } from "../lib/kube.ts";
import { stateDir } from "../lib/operator.ts";
import { benchNetns, startBackend } from "./backend.ts";
import { startPortico } from "./proxy-portico.ts";
import { median, roundOptions, wrkRound, writeSection, type WrkRound, type WrkTarget } from "./wrk.ts";

const { seconds: SECONDS, rounds: ROUNDS, connections: CONNS } = roundOptions();
const HOST = "gw.bench.test";
const HOST_ONE = "gw1.bench.test";
const log = (s: string) => process.stderr.write(`[bench:gateway] ${s}\n`);

const netns = benchNetns("bench:gateway");
const { c, ns, ready } = await startBackend("bench-gateway");
const portico = await startPortico(ready, "198.18.0.65", 8000, join(stateDir(), "logs"), {
  name: "portico-gateway",
  healthPort: 18292,
});

// Three backends behind one Service, and a GatewayRoute to it.
const pods = ["gw-b1", "gw-b2", "gw-b3"];
for (const name of pods)
  await c.core.createNamespacedPod({
    namespace: ns.name,
    body: {
      // The first pod alone is also behind gw-one: the gateway's own cost, next to the workspace path's.
      metadata: { name, labels: { app: "gw-bench", ...(name === "gw-b1" ? { first: "yes" } : {}) } },
      spec: {
        containers: [
          { name: "b", image: "portico.dev/test/bench-backend:1", ports: [{ containerPort: 8080 }] },
        ],
      },
    },
  });
await c.core.createNamespacedService({
  namespace: ns.name,
  body: {
    metadata: { name: "gw-bench" },
    spec: { selector: { app: "gw-bench" }, ports: [{ name: "http", port: 80, targetPort: 8080 }] },
  },
});
await c.core.createNamespacedService({
  namespace: ns.name,
  body: {
    metadata: { name: "gw-one" },
    spec: { selector: { first: "yes" }, ports: [{ name: "http", port: 80, targetPort: 8080 }] },
  },
});
for (const [name, host, svc] of [
  ["bench", HOST, "gw-bench"],
  ["bench-one", HOST_ONE, "gw-one"],
] as const)
  await c.custom.createNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    namespace: ns.name,
    plural: GATEWAY_ROUTE.plural,
    body: {
      apiVersion: API_VERSION,
      kind: GATEWAY_ROUTE.kind,
      metadata: { name },
      spec: { hosts: [host], rules: [{ backends: [{ service: { name: svc, port: 80 } }] }] },
    },
  });
const ips = await eventually(
  "3 backend pods with IPs",
  async () => {
    const list = await c.core.listNamespacedPod({ namespace: ns.name, labelSelector: "app=gw-bench" });
    const got = list.items
      .filter((p) => p.status?.podIP && p.status.phase === "Running")
      .map((p) => p.status!.podIP!);
    return got.length === 3 ? got : undefined;
  },
  120_000,
  500,
);
/** Which backend answered a request through the gateway (its bound address, from the Service's endpoints). */
const viaGateway = (host: string) =>
  new Promise<number>((res) => {
    const req = request(`${portico.peer.url}`, { headers: { host } }, (r) => {
      r.resume();
      r.on("end", () => res(r.statusCode ?? 0));
    });
    req.on("error", () => res(0));
    req.end();
  });
for (const host of [HOST, HOST_ONE])
  await eventually(
    `the gateway routes ${host}`,
    async () => ((await viaGateway(host)) === 200 ? true : undefined),
    60_000,
    300,
  );
// All three endpoints in the EndpointSlice before measuring.
await eventually(
  "3 ready endpoints",
  async () => {
    const slices = await c.custom.listNamespacedCustomObject({
      group: "discovery.k8s.io",
      version: "v1",
      namespace: ns.name,
      plural: "endpointslices",
      labelSelector: "kubernetes.io/service-name=gw-bench",
    });
    const n = (slices as { items: { endpoints?: { conditions?: { ready?: boolean } }[] }[] }).items
      .flatMap((s) => s.endpoints ?? [])
      .filter((e) => e.conditions?.ready !== false).length;
    return n === 3 ? true : undefined;
  },
  60_000,
  500,
);

interface Path extends WrkTarget {
  name: string;
}
const paths: Path[] = [
  { name: "direct (1 backend)", url: `http://${ips[0]}:8080/`, host: `${ips[0]}:8080`, pids: () => [] },
  { name: "gateway (3 backends)", url: portico.peer.url, host: HOST, pids: portico.peer.pids },
  { name: "gateway (1 backend)", url: portico.peer.url, host: HOST_ONE, pids: portico.peer.pids },
  {
    name: "workspace route (1 backend)",
    url: portico.peer.url,
    host: portico.peer.host!,
    pids: portico.peer.pids,
  },
];

const round = (p: Path) => wrkRound(p, CONNS, SECONDS);

for (const p of paths) await round(p); // warm-up
const results = new Map(paths.map((p) => [p.name, [] as WrkRound[]]));
for (let r = 0; r < ROUNDS; r++) {
  // Rotated, so no path always runs first or last in a round.
  for (const p of [...paths.slice(r % paths.length), ...paths.slice(0, r % paths.length)]) {
    const x = await round(p);
    results.get(p.name)!.push(x);
    log(
      `round ${r + 1}/${ROUNDS} ${p.name}: ${x.rps.toFixed(0)} req/s, p50 ${x.p50}, p99 ${x.p99}, ${x.errors} errors`,
    );
  }
}
// How the gateway spread the load (its own metrics).
const metrics = await (await fetch("http://127.0.0.1:18292/metrics")).text();
// The 3-backend route's rule only (the 1-backend route's requests are counted under its own rule).
const perEndpoint = [...metrics.matchAll(/^portico_gateway_requests_total\{([^}]*)\} (\d+)/gm)]
  .filter((m) => m[1]!.includes(`rule="${ns.name}/bench#0"`) && m[1]!.includes('code="200"'))
  .map((m) => [/endpoint="([^"]+)"/.exec(m[1]!)![1]!, Number(m[2])] as const);
await portico.peer.stop();
await ns.drop();

const direct = results.get(paths[0]!.name)!;
const gw = results.get(paths[1]!.name)!;
const gwOne = results.get(paths[2]!.name)!;
const wsRoute = results.get(paths[3]!.name)!;
const ratio = median(gw.map((x, i) => x.rps / direct[i]!.rps));
const oneRatio = median(gwOne.map((x, i) => x.rps / direct[i]!.rps));
const vsWorkspace = median(gwOne.map((x, i) => x.rps / wsRoute[i]!.rps));
const errors = [...direct, ...gw].reduce((a, x) => a + x.errors, 0);
console.log(
  JSON.stringify(
    { seconds: SECONDS, rounds: ROUNDS, connections: CONNS, direct, gateway: gw, ratio, perEndpoint },
    null,
    2,
  ),
);

const f0 = (x: number) => x.toFixed(0);
const argv = process.argv.slice(2);
const netnsEnv = netns === "portico-bench" ? "" : `PORTICO_NETNS=${netns} `;
const total = perEndpoint.reduce((a, [, n]) => a + n, 0);
const section = `<!-- gateway:start -->
## Gateway: a GatewayRoute over 3 backends vs one backend direct

Command: \`${netnsEnv}npm run bench:gateway${argv.length ? ` -- ${argv.join(" ")}` : ""}\` (${new Date().toISOString().slice(0, 10)}; the same 2-vCPU machine
and network namespace as above). Three real \`bench-backend\` processes on pod IPs (1 KiB answers,
keep-alive) behind one Service; Portico's proxy serves a GatewayRoute to it (round robin over the
EndpointSlice's endpoints). \`wrk -t1 -c${CONNS} -d${SECONDS}s\`, ${ROUNDS} rounds, order rotating; ${errors} errors in all.

| path | req/s per round | median | p50 / p99 (last round) | proxy CPU µs/req (median) |
| --- | --- | --- | --- | --- |
| direct to 1 backend | ${direct.map((x) => f0(x.rps)).join(", ")} | ${f0(median(direct.map((x) => x.rps)))} | ${direct.at(-1)!.p50} / ${direct.at(-1)!.p99} | — |
| GatewayRoute, 3 backends | ${gw.map((x) => f0(x.rps)).join(", ")} | ${f0(median(gw.map((x) => x.rps)))} | ${gw.at(-1)!.p50} / ${gw.at(-1)!.p99} | ${median(gw.map((x) => x.cpuUs)).toFixed(1)} |
| GatewayRoute, 1 backend | ${gwOne.map((x) => f0(x.rps)).join(", ")} | ${f0(median(gwOne.map((x) => x.rps)))} | ${gwOne.at(-1)!.p50} / ${gwOne.at(-1)!.p99} | ${median(gwOne.map((x) => x.cpuUs)).toFixed(1)} |
| workspace route, 1 backend (same proxy) | ${wsRoute.map((x) => f0(x.rps)).join(", ")} | ${f0(median(wsRoute.map((x) => x.rps)))} | ${wsRoute.at(-1)!.p50} / ${wsRoute.at(-1)!.p99} | ${median(wsRoute.map((x) => x.cpuUs)).toFixed(1)} |

Gateway over 3 backends ÷ one backend direct, median of per-round ratios: **${ratio.toFixed(2)}**
(over 1 backend: ${oneRatio.toFixed(2)}; a GatewayRoute ÷ a workspace route to one backend through the same proxy:
${vsWorkspace.toFixed(2)}). Requests per endpoint
through the 3-backend route: ${perEndpoint.map(([e, n]) => `${e} ${((n / Math.max(1, total)) * 100).toFixed(1)}%`).join(", ")}.
On this 2-vCPU machine wrk, the proxy and the backends share two cores: the gateway cannot add
capacity here (3 backend processes only compete harder for the cores), so the ratios show the proxy's
cost, not what 3 backends on their own nodes would give. The GatewayRoute's extra cost over a
workspace route is its rule's work per request: the breaker and balancer state, retries' bookkeeping,
and its own per-rule metrics.
<!-- gateway:end -->`;
log(`wrote ${await writeSection("gateway", section)}`);
process.exit(0);
