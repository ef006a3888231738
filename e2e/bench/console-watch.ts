/**
 * Benchmark (not a test) of the console's /ws/watch (issue 14): `--clients` (default 200) watching
 * clients while `--workspaces` (default 1,000) Workspaces change status, against the direct path —
 * the same number of plain Kubernetes watches of the same Workspaces on the API server — in one run
 * on one cluster.
 *
 * Set-up: one namespace, `--workspaces` stopped Workspaces (no operator: nothing but the benchmark
 * writes them), the real proxy (`--auth=none`: every client sees every workspace, the fan-out's worst
 * case, like the direct watches; rate limits off) under the chart's RBAC.
 *
 * Phases, console then direct:
 * 1. connect the clients (console: WebSocket to /ws/watch, then a `workspaces` subscription, whose
 *    snapshot holds every workspace; direct: `GET …/workspaces?watch=true` over TLS, as kubectl would)
 *    and wait until every client is ready; the serving process's RSS (median of 5 samples) before
 *    and after gives the memory per idle connection (console: also before the subscriptions);
 * 2. write a new `status.message` (a token) to every Workspace through the API server's /status
 *    (merge patch, 16 in flight), noting when each write was sent; each client notes when the token
 *    reaches it. Delivery lag = arrival − send, over every (client, workspace) pair; the phase ends
 *    when every client has every token. CPU: the proxy's and the API server's utime+stime over the
 *    phase (/proc).
 *
 *   npm run bench:console [-- --clients=200 --workspaces=1000]
 *
 * The clients run in this process (one event loop parses every frame of both paths alike). Prints
 * JSON and writes docs/benchmarks.md's console-watch section.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import * as https from "node:https";
import { join } from "node:path";
import { parseArgs } from "node:util";
import * as k8s from "@kubernetes/client-node";
import { GROUP, VERSION, WORKSPACE, type Workspace } from "../../crds/types.ts";
import type { WatchServerFrame } from "../../proxy/console/protocol.ts";
import { clients, withNamespace } from "../lib/kube.ts";
import { stateDir } from "../lib/operator.ts";
import { startProxy } from "../lib/proxy.ts";
import { openWatch, type WatchClient } from "../lib/watch-client.ts";
import { createClass, tinyClass, workspace } from "../lib/workspaces.ts";
import { benchNetns, loadLog } from "./backend.ts";
import { cpuTicks, rssKiB } from "./proxy-peers.ts";
import { writeSection } from "./wrk.ts";

const { values: opt } = parseArgs({
  options: { clients: { type: "string", default: "200" }, workspaces: { type: "string", default: "1000" } },
});
const CLIENTS = Number(opt.clients);
const N = Number(opt.workspaces);
const PROXY = "198.18.0.188";
const CLK_TCK = Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim());
const log = (s: string) => process.stderr.write(`[bench:console] ${s}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const { loads, note: noteLoad } = loadLog();

const netns = benchNetns("bench:console");
noteLoad("start");
const c = clients();
const apiserverPid = Number(readFileSync(join(stateDir(), "pids/kube-apiserver.pid"), "utf8"));
const cls = "bench-console-tiny";
await createClass(c, tinyClass(cls)).catch(() => undefined);
const ns = await withNamespace(c, "bench-console");
const names = Array.from({ length: N }, (_, i) => `w${String(i).padStart(5, "0")}`);

/** Runs `f` over `items`, `width` at a time. */
async function pool<T>(items: readonly T[], width: number, f: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await f(items[next++]!);
    }),
  );
}

log(`creating ${N} workspaces`);
await pool(names, 16, async (name) => {
  await c.custom.createNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    plural: WORKSPACE.plural,
    namespace: ns.name,
    body: workspace(ns.name, name, { className: cls, running: false }),
  });
});

const px = await startProxy({
  address: PROXY,
  port: 8080,
  name: "bench-console-proxy",
  flags: ["--auth=none", "--rate-limit-ip=0", "--rate-limit-user=0", "--log-level=warn"],
});
const proxyPid = px.proc.pid!;

// ---- writes: status patches through the API server -------------------------------------------------
const server = c.kc.getCurrentCluster()!.server;
const agent = new https.Agent({ keepAlive: true, maxSockets: 16 });
async function patchStatus(name: string, message: string): Promise<void> {
  const url = new URL(
    `${server}/apis/${GROUP}/${VERSION}/namespaces/${ns.name}/${WORKSPACE.plural}/${name}/status`,
  );
  const opts: https.RequestOptions = {
    method: "PATCH",
    headers: { "content-type": "application/merge-patch+json" },
  };
  await c.kc.applyToHTTPSOptions(opts);
  opts.agent = agent;
  await new Promise<void>((resolve, reject) => {
    const req = https.request(url, opts, (res) => {
      res.resume();
      res.on("end", () =>
        res.statusCode === 200 ? resolve() : reject(new Error(`status patch ${name}: ${res.statusCode}`)),
      );
    });
    req.on("error", reject);
    req.end(JSON.stringify({ status: { phase: "Stopped", message } }));
  });
}

/** Lag samples (ms) and per-client progress of one phase. */
class Deliveries {
  readonly sentAt = new Map<string, number>();
  readonly lags: number[] = [];
  readonly got: number[];
  #waiters: (() => void)[] = [];
  constructor(clientCount: number) {
    this.got = new Array<number>(clientCount).fill(0);
  }
  arrived(client: number, token: string | undefined): void {
    const t0 = token ? this.sentAt.get(token) : undefined;
    if (t0 === undefined) return;
    this.lags.push(performance.now() - t0);
    if (++this.got[client]! === N) for (const w of this.#waiters.splice(0)) w();
  }
  async all(ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    let said = Date.now();
    while (this.got.some((g) => g < N)) {
      if (Date.now() > deadline)
        throw new Error(`not delivered in time: ${this.got.filter((g) => g < N).length} clients short`);
      if (Date.now() - said > 10_000) {
        said = Date.now();
        log(
          `  delivered ${this.lags.length} of ${N * this.got.length}; slowest client has ${Math.min(...this.got)}`,
        );
      }
      await Promise.race([new Promise<void>((r) => this.#waiters.push(r)), sleep(1000)]);
    }
  }
}

async function rssMedian(pid: number): Promise<number> {
  const xs: number[] = [];
  for (let i = 0; i < 5; i++) {
    xs.push(rssKiB(pid));
    await sleep(200);
  }
  return xs.sort((a, b) => a - b)[2]!;
}

const pct = (xs: number[], p: number) => {
  const s = Float64Array.from(xs).sort();
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

interface Phase {
  cpuProxyS: number;
  cpuApiserverS: number;
  lagP50: number;
  lagP99: number;
  lagMax: number;
  writeSeconds: number;
  deliveredSeconds: number;
  rssBeforeKiB: number;
  rssAfterKiB: number;
  kibPerConnection: number;
  /** Console only: RSS with the sockets open, before any subscription. */
  kibPerBareSocket?: number;
  frames: number;
  samples: number;
  /** Direct only: watches the API server ended and the client watched again. */
  rewatches?: number;
}

/** Writes a token to every workspace and waits until every client has them all. */
async function storm(
  label: string,
  d: Deliveries,
): Promise<
  Pick<
    Phase,
    | "cpuProxyS"
    | "cpuApiserverS"
    | "lagP50"
    | "lagP99"
    | "lagMax"
    | "writeSeconds"
    | "deliveredSeconds"
    | "samples"
  >
> {
  const cpu0 = [cpuTicks(proxyPid), cpuTicks(apiserverPid)];
  const t0 = performance.now();
  await pool(names, 16, async (name) => {
    const token = `${label}-${name}-${Date.now()}`;
    d.sentAt.set(token, performance.now());
    await patchStatus(name, token);
  });
  const written = performance.now();
  log(`${label}: ${N} writes in ${((written - t0) / 1000).toFixed(1)} s`);
  await d.all(300_000);
  const done = performance.now();
  const cpu1 = [cpuTicks(proxyPid), cpuTicks(apiserverPid)];
  return {
    cpuProxyS: (cpu1[0]! - cpu0[0]!) / CLK_TCK,
    cpuApiserverS: (cpu1[1]! - cpu0[1]!) / CLK_TCK,
    lagP50: pct(d.lags, 50),
    lagP99: pct(d.lags, 99),
    lagMax: pct(d.lags, 100),
    writeSeconds: (written - t0) / 1000,
    deliveredSeconds: (done - t0) / 1000,
    samples: d.lags.length,
  };
}

// ---- console ---------------------------------------------------------------------------------------
async function consolePhase(): Promise<Phase> {
  const rss0 = await rssMedian(proxyPid);
  const socks: WatchClient[] = [];
  for (let i = 0; i < CLIENTS; i++) socks.push(await openWatch(px));
  const rssBare = await rssMedian(proxyPid);
  const d = new Deliveries(CLIENTS);
  let frames = 0;
  socks.forEach((w, i) =>
    w.ws.on("message", (data) => {
      frames++;
      const f = JSON.parse(String(data)) as WatchServerFrame;
      if (f.type === "changes")
        for (const ch of f.changes)
          d.arrived(i, ch.object.kind === "Workspace" ? (ch.object.view.message as string) : undefined);
    }),
  );
  for (const w of socks) w.send({ type: "subscribe", id: "ws", channel: "workspaces" });
  for (const w of socks)
    await w.until("a full snapshot", () =>
      w.frames.some((f) => f.type === "snapshot" && f.items.length === N),
    );
  // The snapshots are kept by the client helper: drop them, they are not the proxy's memory.
  for (const w of socks) w.frames.length = 0;
  const rss1 = await rssMedian(proxyPid);
  log(`console: ${CLIENTS} sockets subscribed; storm`);
  const s = await storm("console", d);
  for (const w of socks) w.close();
  return {
    ...s,
    rssBeforeKiB: rss0,
    rssAfterKiB: rss1,
    kibPerConnection: (rss1 - rss0) / CLIENTS,
    kibPerBareSocket: (rssBare - rss0) / CLIENTS,
    frames,
  };
}

// ---- direct ----------------------------------------------------------------------------------------
async function directPhase(): Promise<Phase> {
  const rss0 = await rssMedian(apiserverPid);
  const d = new Deliveries(CLIENTS);
  const ctls: (AbortController | undefined)[] = [];
  let frames = 0;
  let rewatches = 0;
  let stopping = false;
  const list = (await c.custom.listNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    plural: WORKSPACE.plural,
    namespace: ns.name,
  })) as { metadata: { resourceVersion: string } };
  /**
   * One client's watch, from `rv`; when the API server ends it (it closes watchers that fall behind),
   * it watches again from the last version it got, as an informer does.
   */
  const watchFrom = async (i: number, rv: string): Promise<void> => {
    let last = rv;
    const watch = new k8s.Watch(c.kc);
    // client-node ends a watch quiet for 30 s; these wait quietly while the RSS is sampled.
    (watch as unknown as { requestTimeoutMs: number }).requestTimeoutMs = 3_600_000;
    ctls[i] = await watch.watch(
      `/apis/${GROUP}/${VERSION}/namespaces/${ns.name}/${WORKSPACE.plural}`,
      { resourceVersion: last, allowWatchBookmarks: false },
      (_type: string, obj: Workspace) => {
        frames++;
        last = obj.metadata.resourceVersion ?? last;
        d.arrived(i, obj.status?.message);
      },
      () => {
        if (stopping) return;
        rewatches++;
        void watchFrom(i, last);
      },
    );
  };
  for (let i = 0; i < CLIENTS; i++) await watchFrom(i, list.metadata.resourceVersion);
  log(`direct: ${CLIENTS} watches open; storm`);
  const rss1 = await rssMedian(apiserverPid);
  const s = await storm("direct", d);
  stopping = true;
  for (const ctl of ctls) ctl?.abort();
  log(
    `direct: the API server ended ${rewatches} watches during the phase (each watched again from its last version)`,
  );
  return {
    ...s,
    rssBeforeKiB: rss0,
    rssAfterKiB: rss1,
    kibPerConnection: (rss1 - rss0) / CLIENTS,
    frames,
    rewatches,
  };
}

const consoleResult = await consolePhase();
noteLoad("after console");
const directResult = await directPhase();
noteLoad("after direct");
await px.stop();
await ns.drop();

const summary = { clients: CLIENTS, workspaces: N, console: consoleResult, direct: directResult, loads };
console.log(JSON.stringify(summary, null, 2));

const f0 = (x: number) => x.toFixed(0);
const f1 = (x: number) => x.toFixed(1);
const f2 = (x: number) => x.toFixed(2);
const argv = process.argv.slice(2);
const netnsEnv = netns === "portico-bench" ? "" : `PORTICO_NETNS=${netns} `;
const co = consoleResult;
const di = directResult;
const section = `<!-- console-watch:start -->
## Console: /ws/watch with ${CLIENTS} clients while ${N} workspaces change status

Command: \`${netnsEnv}npm run bench:console${argv.length ? ` -- ${argv.join(" ")}` : ""}\` (${new Date().toISOString().slice(0, 10)}; the same 2-vCPU machine, shared
with other work; load average ${loads.join("; ")}). One cluster, one run (\`e2e/bench/console-watch.ts\`):
${N} stopped Workspaces in one namespace, no operator (only the benchmark writes them); the real proxy
(\`--auth=none\`: every client sees every workspace, the fan-out's worst case, as a direct watch of the
namespace does; rate limits off) under the chart's RBAC. Console: ${CLIENTS} WebSockets to \`/ws/watch\`, each with one
\`workspaces\` subscription (its snapshot: all ${N}). Direct: ${CLIENTS} plain Kubernetes watches of the same
namespace's Workspaces on the API server (TLS, client-node's \`Watch\`, as kubectl would). Then a new
\`status.message\` is written to each of the ${N} Workspaces through the API server's \`/status\` (merge
patch, 16 in flight, ${f1(co.writeSeconds)} s / ${f1(di.writeSeconds)} s for all ${N}). Delivery lag: from sending a write to a client
receiving it, over every (client, workspace) pair (${co.samples} / ${di.samples} samples). The clients run in the
benchmark's own process (one event loop parses every frame of both paths alike).

| path | lag p50 / p99 / max ms | all delivered after | CPU s: proxy / API server | frames received | memory per idle connection |
| --- | --- | --- | --- | --- | --- |
| console: ${CLIENTS} × \`/ws/watch\` through the proxy | **${f0(co.lagP50)} / ${f0(co.lagP99)}** / ${f0(co.lagMax)} | ${f1(co.deliveredSeconds)} s | **${f2(co.cpuProxyS)}** / ${f2(co.cpuApiserverS)} | ${co.frames} (batched) | **${f1(co.kibPerConnection)} KiB** of proxy RSS (${f1(co.kibPerBareSocket ?? NaN)} KiB before subscribing) |
| direct: ${CLIENTS} Kubernetes watches on the API server | ${f0(di.lagP50)} / ${f0(di.lagP99)} / ${f0(di.lagMax)} | ${f1(di.deliveredSeconds)} s | — / ${f2(di.cpuApiserverS)} | ${di.frames} (one per event; the API server ended ${di.rewatches ?? 0} watches, each watched again from its last version) | ${di.kibPerConnection > 0 ? `${f1(di.kibPerConnection)} KiB of API server RSS` : `not measurable: the API server's RSS fell by ${f0(-di.kibPerConnection * CLIENTS)} KiB while they opened (Go's collector returned memory)`} |

Console ÷ direct: lag p50 **${f2(co.lagP50 / di.lagP50)}**, p99 **${f2(co.lagP99 / di.lagP99)}**; serving CPU (the proxy's, console phase ÷ the
API server's, direct phase) **${f2(co.cpuProxyS / di.cpuApiserverS)}**; the API server's own CPU in the console phase ÷ direct phase
${f2(co.cpuApiserverS / di.cpuApiserverS)} (it serves the writes in both, and in the console phase one watch instead of ${CLIENTS});
memory per idle connection ${di.kibPerConnection > 0 ? f2(co.kibPerConnection / di.kibPerConnection) : "— (the direct one not measurable)"}. Memory per connection is the serving process's RSS
delta (median of 5 samples each) ÷ ${CLIENTS}: for the console, a socket with its subscription (the set of ${N} keys it
holds); RSS moves with the garbage collector, so read it as a size, not to the KiB. The proxy batches each
socket's changes (at most one frame per 100 ms per subscription), so a burst reaches a client as a few large frames;
that batching is part of the lag measured.
<!-- console-watch:end -->`;
log(`wrote ${await writeSection("console-watch", section)}`);
process.exit(0);
