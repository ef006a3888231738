/**
 * Benchmark (not a test): the proxy against its peers, in one run, against one backend process.
 *
 *   npm run bench:proxy                      (10,000 WebSockets, 10,000 routes)
 *   npm run bench:proxy -- --ws=2000 --routes=1000 --seconds=5 --rounds=2
 *   npm run bench:proxy -- --baseline=/path/to/older/tree/proxy/main.ts   (adds that proxy as a path)
 *
 * Runs inside a fresh cluster's network namespace (e2e/run-bench.sh). The backend
 * (e2e/fixtures/bench-backend.ts: 1 KiB answers over keep-alive, WebSocket echo) is a real workspace:
 * a Workspace of class `bench-backend` that the real operator turns into a pod the runner starts.
 * In front of that one process: direct (no proxy), Portico's proxy, configurable-http-proxy,
 * nginx, and http-proxy (the package undici replaced) behind Portico's route table. Per path: requests/s at max load (wrk, fixed connections and duration, rounds rotated so no
 * path always goes first), proxy CPU per request (utime+stime from /proc), p50/p99 at concurrency 1
 * and at fixed rates (e2e/bench/proxy-client.ts, its own process), and RSS per idle WebSocket with
 * N WebSockets held open by another process (e2e/bench/proxy-ws-client.ts). Then Portico with
 * 10,000 routes loaded against 1 route. Prints JSON and writes docs/benchmarks.md's proxy section.
 */
import { execFile, execFileSync, spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { promisify, parseArgs } from "node:util";
import { stateDir } from "../lib/operator.ts";
import { benchNetns, startBackend } from "./backend.ts";
import * as k8s from "@kubernetes/client-node";
import { childNames } from "../../common/model/workspace/names.ts";
import { SERVICE_NAME_LABEL } from "../../proxy/routing/from-cluster.ts";
import {
  cpuTicks,
  rssKiB,
  startChp,
  startHttpProxy,
  startNginx,
  sum,
  track,
  type Peer,
} from "./proxy-peers.ts";
import { porticoPresent, startPortico, type Portico } from "./proxy-portico.ts";

const { values: opt } = parseArgs({
  options: {
    ws: { type: "string", default: "10000" },
    routes: { type: "string", default: "10000" },
    seconds: { type: "string", default: "6" },
    rounds: { type: "string", default: "5" },
    connections: { type: "string", default: "32" },
    // Another tree's proxy/main.ts (an older commit), run the same way beside this one: a change's
    // cost is then a paired ratio within each round, not a comparison across runs.
    baseline: { type: "string" },
  },
});
const WS_ASKED = Number(opt.ws);
const ROUTES = Number(opt.routes);
const SECONDS = Number(opt.seconds);
const ROUNDS = Number(opt.rounds);
const CONNS = Number(opt.connections);
const RATES = [500, 1000, 2000];
const CLK_TCK = Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim());

const REPO = resolve(import.meta.dirname, "../..");
const run = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (s: string) => process.stderr.write(`[bench:proxy] ${s}\n`);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

// ---- Guards and limits: only inside the harness's network namespace, which is thrown away after.
const netns = benchNetns("bench:proxy");
// N WebSockets through a proxy hold 2N descriptors in it. Raise this process's soft limit to its
// hard limit so every process it starts inherits it (the runner's backend pod is raised by pid
// below); without CAP_SYS_RESOURCE the hard limit is the ceiling, so N is capped to fit under it.
const hardNofile = Number(
  /Max open files\s+\d+\s+(\d+)/.exec(readFileSync("/proc/self/limits", "utf8"))?.[1],
);
const NOFILE = `--nofile=${hardNofile}:${hardNofile}`;
execFileSync("prlimit", ["--pid", String(process.pid), NOFILE]);
// nginx counts both sides of a socket against worker_connections (set to the same limit): keep 1,000 spare.
const WS = Math.min(WS_ASKED, Math.floor(hardNofile / 2) - 500);
if (WS < WS_ASKED)
  log(
    `open-file limit ${hardNofile}: ${WS} WebSockets instead of ${WS_ASKED} (a proxy holds 2 descriptors per socket)`,
  );
// Every path opens and closes tens of thousands of connections to one backend ip:port; in this
// namespace only, widen the ephemeral port range and reuse TIME_WAIT ports for new connections.
writeFileSync("/proc/sys/net/ipv4/ip_local_port_range", "1024 65000");
writeFileSync("/proc/sys/net/ipv4/tcp_tw_reuse", "1");

// ---- The backend: one real workspace, made by the real operator, then the operator stops.
const { c, ns, ready } = await startBackend("bench-proxy");
const pod = await c.core.readNamespacedPod({ namespace: ns.name, name: ready.status!.children!.pod! });
const backendAddr = `${pod.status!.podIP}:8080`;
const backendUrl = `http://${backendAddr}`;
const backendPid = ((await (await fetch(`${backendUrl}/pid`)).json()) as { pid: number }).pid;
try {
  execFileSync("prlimit", ["--pid", String(backendPid), NOFILE], { stdio: "ignore" });
} catch {
  log(`could not raise the backend's open-file limit; it keeps the runner's`);
}
log(`backend: workspace ${ns.name}/backend, pod ${pod.metadata!.name} at ${backendAddr}, pid ${backendPid}`);

// ---- The paths.
const logDir = join(stateDir(), "logs");
const direct: Peer = { name: "direct", url: `${backendUrl}/`, pids: () => [], stop: async () => undefined };
const chp = await startChp("198.18.0.61", 8000, 8001, backendUrl, logDir);
const nginx = await startNginx("198.18.0.62", 8000, backendAddr, logDir);
let portico: Portico | undefined;
if (porticoPresent()) portico = await startPortico(ready, "198.18.0.63", 8000, logDir);
else log("Portico's proxy is not here yet (proxy/main.ts): measuring the peers only");
// http-proxy gets the workspace's real EndpointSlice, as Portico's informer sees it.
const slices = (
  await c.kc.makeApiClient(k8s.DiscoveryV1Api).listNamespacedEndpointSlice({
    namespace: ns.name,
    labelSelector: `${SERVICE_NAME_LABEL}=${childNames(ready).service}`,
  })
).items;
const httpProxy = await startHttpProxy(
  "198.18.0.64",
  8000,
  {
    baseDomain: "portico.test",
    host: `${ready.metadata.name}--${ns.name}.portico.test:8000`,
    workspace: ready,
    slices,
  },
  logDir,
);
const baseline = opt.baseline
  ? await startPortico(ready, "198.18.0.65", 8000, logDir, {
      main: opt.baseline,
      name: "portico-baseline",
      healthPort: 18291,
    })
  : undefined;
const paths: Peer[] = [
  direct,
  ...(portico ? [portico.peer] : []),
  ...(baseline ? [baseline.peer] : []),
  chp,
  nginx,
  httpProxy,
];

// ---- Measurements.
interface Wrk {
  requests: number;
  rps: number;
  errors: number;
}

async function wrk(p: Peer, seconds: number, script?: string): Promise<Wrk> {
  const args = ["-t1", `-c${CONNS}`, `-d${seconds}s`, "--timeout", "5s"];
  if (p.host) args.push("-H", `Host: ${p.host}`);
  if (script) args.push("-s", script);
  const { stdout } = await run("wrk", [...args, p.url], { maxBuffer: 1 << 20 });
  const requests = Number(/(\d+) requests in/.exec(stdout)?.[1] ?? 0);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1] ?? 0);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(stdout)?.[1] ?? 0);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout);
  const errors = non2xx + (sock ? sock.slice(1).reduce((a, x) => a + Number(x), 0) : 0);
  return { requests, rps, errors };
}

/** One max-load run with the proxy's CPU read before and after. */
async function throughput(p: Peer, script?: string): Promise<Wrk & { cpuTicks: number }> {
  const pids = p.pids();
  const t0 = sum(pids, cpuTicks);
  const w = await wrk(p, SECONDS, script);
  return { ...w, cpuTicks: sum(pids, cpuTicks) - t0 };
}

async function client(args: object): Promise<{ n: number; p50Us: number; p99Us: number; errors?: number }> {
  const { stdout } = await run(process.execPath, [
    join(REPO, "e2e/bench/proxy-client.ts"),
    JSON.stringify(args),
  ]);
  return JSON.parse(stdout) as { n: number; p50Us: number; p99Us: number; errors?: number };
}

interface WsResult {
  open: number;
  failed: number;
  firstError: string;
  echoed: number;
  sampled: number;
  seconds: number;
  proxyKiB: number;
  backendKiB: number;
}

/** Median RSS (KiB) of `pids` and of the backend over 5 samples 0.5 s apart (a GC moves it). */
async function rssSettled(pids: number[]): Promise<[number, number]> {
  const proxy: number[] = [];
  const backend: number[] = [];
  for (let i = 0; i < 5; i++) {
    if (i) await sleep(500);
    proxy.push(sum(pids, rssKiB));
    backend.push(rssKiB(backendPid));
  }
  return [median(proxy), median(backend)];
}

/** Holds WS idle WebSockets open through the path (client in its own process); RSS before/after. */
async function websockets(p: Peer): Promise<WsResult> {
  await sleep(2000);
  const pids = p.pids();
  const [before, backendBefore] = await rssSettled(pids);
  const wsUrl = p.url.replace(/^http/, "ws");
  const child = spawn(
    process.execPath,
    [join(REPO, "e2e/bench/proxy-ws-client.ts"), JSON.stringify({ url: wsUrl, host: p.host, count: WS })],
    { stdio: ["pipe", "pipe", "inherit"] },
  );
  track(child);
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  const line = await Promise.race([
    new Promise<string>((r) => createInterface({ input: child.stdout! }).once("line", r)),
    exited.then(() => "{}"),
    sleep(180_000).then(() => "{}"),
  ]);
  const opened = JSON.parse(line) as Omit<WsResult, "proxyKiB" | "backendKiB">;
  await sleep(3000); // let the proxy settle (buffers allocated, nothing in flight)
  const [after, backendAfter] = await rssSettled(pids);
  child.stdin!.end();
  await Promise.race([exited, sleep(30_000)]);
  if (child.exitCode === null) child.kill("SIGKILL");
  return { ...opened, proxyKiB: after - before, backendKiB: backendAfter - backendBefore };
}

interface PathResult {
  name: string;
  rps: number[];
  requests: number;
  cpuTicks: number;
  cpuUsPerRequest: number;
  /** Per round, in round order (paired with the other paths' same round). */
  cpuUsPerRequestRounds: number[];
  errors: number;
  c1: { p50Us: number; p99Us: number };
  rates: { rate: number; p50Us: number; p99Us: number; errors: number }[];
  ws?: WsResult & { bytesPerConnection: number };
}
const results = new Map<string, PathResult>(
  paths.map((p) => [
    p.name,
    {
      name: p.name,
      rps: [],
      requests: 0,
      cpuTicks: 0,
      cpuUsPerRequest: 0,
      cpuUsPerRequestRounds: [],
      errors: 0,
      c1: { p50Us: NaN, p99Us: NaN },
      rates: [],
    },
  ]),
);

// WebSockets first, on freshly started proxies: the RSS baseline is then an idle process, not one
// whose heap still holds garbage from the load runs that a GC may hand back mid-measurement.
for (const p of paths) {
  const w = await websockets(p);
  const owner = p.name === "direct" ? w.backendKiB : w.proxyKiB;
  results.get(p.name)!.ws = { ...w, bytesPerConnection: (owner * 1024) / Math.max(1, w.open) };
  log(
    `${p.name}: ${w.open}/${WS} WebSockets open (${w.failed} failed${w.firstError ? `: ${w.firstError}` : ""}),` +
      ` ${w.echoed}/${w.sampled} echoed; proxy RSS +${w.proxyKiB} KiB, backend +${w.backendKiB} KiB`,
  );
}

log(`warm-up: 3 s of wrk per path`);
for (const p of paths) await wrk(p, 3);

for (let round = 0; round < ROUNDS; round++) {
  const order = paths.map((_, i) => paths[(i + round) % paths.length]!);
  for (const p of order) {
    const t = await throughput(p);
    const r = results.get(p.name)!;
    r.rps.push(t.rps);
    r.requests += t.requests;
    r.cpuTicks += t.cpuTicks;
    r.cpuUsPerRequestRounds.push(((t.cpuTicks / CLK_TCK) * 1e6) / Math.max(1, t.requests));
    r.errors += t.errors;
    log(`round ${round + 1}/${ROUNDS} ${p.name}: ${t.rps.toFixed(0)} req/s, ${t.errors} errors`);
  }
}
for (const r of results.values()) r.cpuUsPerRequest = ((r.cpuTicks / CLK_TCK) * 1e6) / r.requests;

for (const p of paths) {
  const r = results.get(p.name)!;
  r.c1 = await client({ mode: "closed", url: p.url, host: p.host, count: 3000, warmup: 300 });
  for (const rate of RATES) {
    const x = await client({ mode: "rate", url: p.url, host: p.host, rate, seconds: 5, maxConns: 64 });
    r.rates.push({ rate, p50Us: x.p50Us, p99Us: x.p99Us, errors: x.errors ?? 0 });
  }
  log(`${p.name}: c=1 p50 ${r.c1.p50Us.toFixed(0)} µs, p99 ${r.c1.p99Us.toFixed(0)} µs`);
}

// ---- How fast a route follows Ready (one route loaded; the operator is stopped, statuses are written directly).
const LAG_CYCLES = 20;
const routeLag = portico ? await portico.routeLag(c, LAG_CYCLES) : [];
if (portico)
  log(
    `route lag after Ready: p50 ${median(routeLag).toFixed(1)} ms, max ${Math.max(...routeLag).toFixed(1)} ms`,
  );

// ---- Portico with ROUTES routes loaded against 1 route, measured back to back around the loading
// (CHP alongside in both phases: on this shared machine its own drift shows how much is noise).
interface RoutesResult {
  oneRoute: number[];
  chpBefore: number[];
  manyRoutes: number[];
  spread: number[];
  chpAfter: number[];
  loadSeconds: number;
}
let routes: RoutesResult | undefined;
if (portico) {
  const oneRoute: number[] = [];
  const chpBefore: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    oneRoute.push((await throughput(portico.peer)).rps);
    chpBefore.push((await throughput(chp)).rps);
  }
  const t0 = Date.now();
  const spreadScript = await portico.loadRoutes(c, ns.name, ROUTES);
  const loadSeconds = (Date.now() - t0) / 1000;
  log(`${ROUTES} routes loaded in ${loadSeconds.toFixed(0)} s`);
  await wrk(portico.peer, 3);
  const manyRoutes: number[] = [];
  const spread: number[] = [];
  const chpAfter: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    manyRoutes.push((await throughput(portico.peer)).rps);
    chpAfter.push((await throughput(chp)).rps);
    spread.push((await throughput(portico.peer, spreadScript)).rps);
  }
  routes = { oneRoute, chpBefore, manyRoutes, spread, chpAfter, loadSeconds };
  log(`routes: 1 → ${median(oneRoute).toFixed(0)} req/s, ${ROUTES} → ${median(manyRoutes).toFixed(0)} req/s`);
}

for (const p of paths) await p.stop();
await ns.drop();

// ---- Report.
const R = (name: string) => results.get(name);
const rps = (name: string) => median(R(name)?.rps ?? [NaN]);
const added = (name: string) => (R(name)?.c1.p50Us ?? NaN) - R("direct")!.c1.p50Us;
/**
 * Median over rounds of a/b within the same round. Both paths ran back to back in each round, so a
 * slow phase of this shared machine hits both: the paired ratio is steadier than a ratio of medians.
 */
const paired = (a: number[], b: number[]) => median(a.map((x, i) => x / b[i]!));
const CHP = "configurable-http-proxy";
const HP = "http-proxy";
const port = R("portico");
const targets = port
  ? {
      throughputVsChp: { value: paired(port.rps, R(CHP)!.rps), target: ">= 1.8" },
      cpuPerRequestVsChp: {
        value: paired(port.cpuUsPerRequestRounds, R(CHP)!.cpuUsPerRequestRounds),
        target: "<= 0.5",
      },
      addedMedianLatencyC1Us: { value: added("portico"), target: "<= 150" },
      bytesPerIdleWebSocket: { value: port.ws!.bytesPerConnection, target: "<= 16384" },
      manyRoutesThroughputRatio: {
        value: routes ? median(routes.manyRoutes) / median(routes.oneRoute) : NaN,
        target: ">= 0.9",
      },
      routeLagMsP50: { value: median(routeLag), target: "<= 1000" },
    }
  : undefined;
const met = (t: { value: number; target: string }) => {
  const [op2, bound] = t.target.split(" ");
  return op2 === ">=" ? t.value >= Number(bound) : t.value <= Number(bound);
};
const summary = {
  ws: WS,
  routeCount: ROUTES,
  seconds: SECONDS,
  rounds: ROUNDS,
  connections: CONNS,
  porticoIncluded: Boolean(port),
  paths: [...results.values()],
  ratios: {
    throughputToDirect: Object.fromEntries(paths.map((p) => [p.name, rps(p.name) / rps("direct")])),
    throughputToChp: Object.fromEntries(
      paths.map((p) => [p.name, rps(p.name) / rps("configurable-http-proxy")]),
    ),
    throughputToNginx: Object.fromEntries(paths.map((p) => [p.name, rps(p.name) / rps("nginx")])),
    addedMedianLatencyC1Us: Object.fromEntries(paths.map((p) => [p.name, added(p.name)])),
  },
  pairedToBaseline: port &&
    R("portico-baseline") && {
      throughput: paired(port.rps, R("portico-baseline")!.rps),
      cpuPerRequest: paired(port.cpuUsPerRequestRounds, R("portico-baseline")!.cpuUsPerRequestRounds),
    },
  pairedToHttpProxy: port && {
    throughput: paired(port.rps, R(HP)!.rps),
    cpuPerRequest: paired(port.cpuUsPerRequestRounds, R(HP)!.cpuUsPerRequestRounds),
  },
  manyRoutes: routes,
  routeLagMs: routeLag,
  targets: targets && Object.fromEntries(Object.entries(targets).map(([k, t]) => [k, { ...t, met: met(t) }])),
};
console.log(JSON.stringify(summary, null, 2));

// ---- docs/benchmarks.md: replace this benchmark's section.
const f0 = (x: number) => (Number.isFinite(x) ? x.toFixed(0) : "—");
const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : "—");
const f2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : "—");
const argv = process.argv.slice(2);
// run-bench.sh's default namespace is portico-bench; another one was picked through PORTICO_NETNS.
const netnsEnv = netns === "portico-bench" ? "" : `PORTICO_NETNS=${netns} `;
const command = `${netnsEnv}npm run bench:proxy${argv.length ? ` -- ${argv.join(" ")}` : ""}`;
const label: Record<string, string> = {
  direct: "direct (no proxy)",
  portico: "Portico proxy",
  "configurable-http-proxy": "configurable-http-proxy 5.3 (JupyterHub)",
  nginx: "nginx 1.22 (Debian, 1 worker)",
  "http-proxy": "http-proxy 1.18 behind Portico's route table",
  "portico-baseline": `Portico proxy, baseline (${opt.baseline ?? ""})`,
};
const mainRows = paths
  .map((p) => {
    const r = R(p.name)!;
    const proxied = p.name !== "direct";
    return `| ${label[p.name]} | ${f0(rps(p.name))} (${r.rps.map(f0).join(", ")}) | ${f2(rps(p.name) / rps("direct"))} | ${f2(rps(p.name) / rps("configurable-http-proxy"))} | ${f2(rps(p.name) / rps("nginx"))} | ${proxied ? f1(r.cpuUsPerRequest) : "—"} | ${f0(r.c1.p50Us)} / ${f0(r.c1.p99Us)} | ${proxied ? f0(added(p.name)) : "—"} |`;
  })
  .join("\n");
const rateRows = paths
  .map(
    (p) =>
      `| ${label[p.name]} | ${R(p.name)!
        .rates.map((x) => `${f0(x.p50Us)} / ${f0(x.p99Us)}${x.errors ? ` (${x.errors} errors)` : ""}`)
        .join(" | ")} |`,
  )
  .join("\n");
const wsRows = paths
  .map((p) => {
    const w = R(p.name)!.ws!;
    const what = p.name === "direct" ? "backend itself" : "proxy";
    return `| ${label[p.name]} | ${w.open} / ${WS}${w.failed ? ` (${w.failed} failed: ${w.firstError})` : ""} | ${w.echoed}/${w.sampled} | ${f1(w.bytesPerConnection / 1024)} KiB (${what}) | ${f1((w.backendKiB * 1024) / Math.max(1, w.open) / 1024)} KiB |`;
  })
  .join("\n");
const targetRows = targets
  ? Object.entries(targets)
      .map(([k, t]) => `| ${k} | ${f2(t.value)} | ${t.target} | ${met(t) ? "met" : "**not met**"} |`)
      .join("\n")
  : "| all | — | — | not measured: Portico's proxy was not there when this ran |";
const routesText = routes
  ? `Portico with ${ROUTES} routes loaded (${ROUTES - 1} extra Workspaces, ten per namespace, with a copy of the real
workspace's Ready status written through \`/status\` and an EndpointSlice each pointing at the same backend;
operator stopped; loaded and served within ${f0(routes.loadSeconds)} s), measured right before and right after
loading (${ROUTES === 10000 ? "" : "not 10,000: "}${ROUTES} routes), ${ROUTES === 1 ? "" : "same route hit"}:
**${f0(median(routes.manyRoutes))} req/s vs ${f0(median(routes.oneRoute))} with 1 route = ${f2(median(routes.manyRoutes) / median(routes.oneRoute))}**.
Requests spread over all ${ROUTES} routes (wrk Lua script setting Host per request): ${f0(median(routes.spread))} req/s.
Noise gauge: configurable-http-proxy in the same two phases ${f0(median(routes.chpBefore))} → ${f0(median(routes.chpAfter))} req/s
(ratio ${f2(median(routes.chpAfter) / median(routes.chpBefore))}).`
  : "Portico with 10,000 routes vs 1 route: not measured (Portico's proxy was not there when this ran).";
const date = new Date().toISOString().slice(0, 10);
const section = `<!-- proxy:start -->
## Proxy: Portico against configurable-http-proxy, nginx and the direct path

Command: \`${command}\` (${date}; 2 cores shared with other work, 24 GiB; everything inside the
cluster's network namespace). One backend process for every path: a real workspace (class
\`bench-backend\`, pod started by the runner: \`e2e/fixtures/bench-backend.ts\`, 1 KiB answer over
keep-alive, WebSocket echo). Max load: \`wrk -t1 -c${CONNS} -d${SECONDS}s\`, ${ROUNDS} rounds in rotated order, median
shown; CPU is the proxy process's utime+stime (nginx: master + its one worker) over all rounds ÷ requests.
Latency: \`e2e/bench/proxy-client.ts\` (own process, raw keep-alive sockets, µs clock); at fixed
rates it is open loop: a request counts from when it was written, or from when it was due if it had to
wait for a free connection (no coordinated omission). Portico included: **${port ? "yes" : "no"}**.
This is a 2-vCPU virtual machine whose speed drifts from round to round (every round is listed), so
compare ratios within a round, and treat p99s as noise.

| path | req/s: median (rounds) | ÷ direct | ÷ CHP | ÷ nginx | proxy CPU µs/req | c=1 p50 / p99 µs | added p50 at c=1 over direct, µs |
| --- | --- | --- | --- | --- | --- | --- | --- |
${mainRows}

p50 / p99 latency in µs at fixed rates (5 s each, up to 64 connections):

| path | ${RATES.map((r) => `${r} req/s`).join(" | ")} |
| --- | ${RATES.map(() => "---").join(" | ")} |
${rateRows}

${WS} idle WebSockets held open through each path by a separate process, measured first, on freshly
started proxies (median RSS of 5 samples before, and 3 s after they are all open; for direct, the backend's own growth)${
  WS < WS_ASKED
    ? `: ${WS}, not ${WS_ASKED}, because the
open-file hard limit here is ${hardNofile} and cannot be raised without CAP_SYS_RESOURCE (a proxy holds two descriptors per socket)`
    : ""
}:

| path | open | echo check | RSS per connection | backend RSS per connection |
| --- | --- | --- | --- | --- |
${wsRows}

${routesText}

${
  port
    ? `Route lag: from an accepted write of the workspace's Ready status to the first 200 through Portico
(polled every 2 ms; ${LAG_CYCLES} stop/ready cycles; \`routeLag\` in \`e2e/bench/proxy-portico.ts\`):
p50 **${f1(median(routeLag))} ms**, max ${f1(Math.max(...routeLag))} ms.`
    : ""
}

Paired ratios per round (Portico ÷ CHP, same round, back to back): throughput ${port ? port.rps.map((x, i) => f2(x / R(CHP)!.rps[i]!)).join(", ") : "—"};
CPU per request ${port ? port.cpuUsPerRequestRounds.map((x, i) => f2(x / R(CHP)!.cpuUsPerRequestRounds[i]!)).join(", ") : "—"}.

${
  port && R("portico-baseline")
    ? `Against the baseline proxy (same round, back to back; this tree ÷ baseline): throughput
**${f2(paired(port.rps, R("portico-baseline")!.rps))}×** (rounds ${port.rps.map((x, i) => f2(x / R("portico-baseline")!.rps[i]!)).join(", ")}), CPU per request
**${f2(paired(port.cpuUsPerRequestRounds, R("portico-baseline")!.cpuUsPerRequestRounds))}×** (rounds ${port.cpuUsPerRequestRounds.map((x, i) => f2(x / R("portico-baseline")!.cpuUsPerRequestRounds[i]!)).join(", ")}).

`
    : ""
}Why undici and not http-proxy, measured: Portico ÷ http-proxy 1.18 behind the same route table (same
round, back to back; http-proxy runs without Portico's other passes, which favours it), throughput
${port ? `**${f2(paired(port.rps, R(HP)!.rps))}×** (rounds ${port.rps.map((x, i) => f2(x / R(HP)!.rps[i]!)).join(", ")})` : "—"}, CPU per request
${port ? `**${f2(paired(port.cpuUsPerRequestRounds, R(HP)!.cpuUsPerRequestRounds))}×** (rounds ${port.cpuUsPerRequestRounds.map((x, i) => f2(x / R(HP)!.cpuUsPerRequestRounds[i]!)).join(", ")})` : "—"}.

Targets (issue 4), as ratios in this run (throughput and CPU: the median of the paired per-round
ratios above; the table's ratio of medians is shown beside them):

| target | value | wanted | |
| --- | --- | --- | --- |
${targetRows}
<!-- proxy:end -->`;
const docPath = resolve(REPO, "docs/benchmarks.md");
let doc = await readFile(docPath, "utf8");
doc = /<!-- proxy:start -->[\s\S]*<!-- proxy:end -->/.test(doc)
  ? doc.replace(/<!-- proxy:start -->[\s\S]*<!-- proxy:end -->/, () => section)
  : `${doc.trimEnd()}\n\n${section}\n`;
await writeFile(docPath, doc);
log(`wrote ${docPath}`);
process.exit(0);
