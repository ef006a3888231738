/**
 * Benchmark (not a test): how long from `kubectl apply` of a Workspace to its IDE usable in Chromium,
 * and from opening an idle-stopped workspace's URL to usable again (issue 15), for VS Code
 * (code-server) and Jupyter (Jupyter Server's notebook UI), each start split into Portico's own share
 * (operator, proxy), Kubernetes' (scheduler, the pod runner, the readiness probe) and the IDE's.
 *
 *   npm run bench:start [-- --runs=10 --ides=vscode,jupyter --wake=true --stop=timeout]
 *
 * Set-up: one cluster (e2e/run-bench.sh), the real operator and proxy (host mode, `--auth=none`:
 * every visitor may start a workspace, rate limits off) under the chart's RBAC, the chart's vscode
 * class and the jupyter class of the e2e tests, Debian's Chromium resolving `*.portico.test` to the
 * proxy. Per run and IDE, a fresh Workspace:
 *
 * 1. apply: t0 = `kubectl apply -f -` of the Workspace (the harness's kubeconfig, as a user would);
 *    when kubectl returns, Chromium opens the workspace's URL (the proxy's waiting page, whose script
 *    reloads it once the proxy routes the IDE) and drives the IDE until usable (start-browser.ts).
 *    The marks between (start-timeline.ts): Workspace seen, pod created (the operator), IDE process
 *    spawned (the runner), IDE answers its readiness path at the pod, pod Ready, Workspace Ready, the
 *    proxy's first 200, the browser's request of the IDE's page, usable.
 * 2. the browser load alone, server warm, each in a fresh browser context (no cache): once through
 *    the proxy and once directly at the pod address, order alternating per run. Their difference is
 *    the proxy's added time on a load; the direct one is the IDE's own load in the browser.
 * 3. wake (`--wake=true`): the workspace is stopped for idleness — `--stop=timeout` (default) sets
 *    `spec.idleTimeout: 1s` with kubectl, waits for the operator's idle stop (the `Idle` condition,
 *    reason IdleTimeout, the pod gone), then removes the timeout again (the class's, so the woken
 *    workspace is not stopped again while measured); `--stop=annotation` writes the
 *    `portico.dev/idle-stopped` annotation as an admin, as the operator does, and waits for the pod
 *    to go. Then t0 = Chromium opens its URL; the proxy wakes it (`portico.dev/woken`), and the same
 *    marks follow.
 *
 * Prints JSON (every run's marks) and writes docs/benchmarks.md's start section.
 */
import { execFile } from "node:child_process";
import { parseArgs, promisify } from "node:util";
import { rfc3339, IDLE_STOPPED_ANNOTATION, IDLE_REASONS } from "../../common/model/workspace/lifecycle.ts";
import type { Workspace } from "../../crds/types.ts";
import { vscodeClass } from "../ide/checks.ts";
import { clients, eventually, withNamespace } from "../lib/kube.ts";
import { startOperator } from "../lib/operator.ts";
import { startProxy } from "../lib/proxy.ts";
import {
  condition,
  createClass,
  deleteClass,
  deleteWorkspace,
  getWorkspace,
  jupyterClass,
  workspace,
} from "../lib/workspaces.ts";
import { benchNetns, loadLog } from "./backend.ts";
import { launch, openUsable, type Ide, type Load } from "./start-browser.ts";
import { httpStatus, Timeline, type Marks } from "./start-timeline.ts";
import { replay } from "./start-replay.ts";
import { startSection, type Run } from "./start-report.ts";
import { writeSection } from "./wrk.ts";

const { values: opt } = parseArgs({
  options: {
    runs: { type: "string", default: "10" },
    ides: { type: "string", default: "vscode,jupyter" },
    wake: { type: "string", default: "true" },
    stop: { type: "string", default: "timeout" },
  },
});
const RUNS = Number(opt.runs);
const IDES = opt.ides!.split(",") as Ide[];
const WAKE = opt.wake === "true";
const STOP = opt.stop as "timeout" | "annotation";
const PROXY = "198.18.0.196";
const TIMEOUT = 300_000;
const NO_WAKE = { "sec-fetch-site": "cross-site", "sec-fetch-mode": "no-cors", "sec-fetch-dest": "image" };
const log = (s: string) =>
  process.stderr.write(`[bench:start] ${new Date().toISOString().slice(11, 23)} ${s}\n`);
const run = promisify(execFile);
const { loads, note: noteLoad } = loadLog();

const netns = benchNetns("bench:start");
noteLoad("start");
const c = clients();
const CLASS: Record<Ide, string> = { vscode: "bench-start-vscode", jupyter: "bench-start-jupyter" };
await deleteClass(c, CLASS.vscode);
await deleteClass(c, CLASS.jupyter);
await createClass(c, await vscodeClass(CLASS.vscode));
await createClass(c, jupyterClass(CLASS.jupyter));
const ns = await withNamespace(c, "bench-start");
const op = await startOperator(["--lease-name=bench-start"], "bench-start-operator");
const px = await startProxy({
  address: PROXY,
  port: 8080,
  name: "bench-start-proxy",
  flags: ["--auth=none", "--rate-limit-ip=0", "--rate-limit-user=0", "--log-level=warn"],
});
const tl = new Timeline(c, ns.name, px);
await tl.watch();
const browser = await launch({ "portico.test": PROXY });
const base = (name: string) => `http://${px.hostFor(ns.name, name)}/`;

/** `kubectl apply -f -` of the Workspace, as a user would (the harness's KUBECONFIG). */
async function kubectlApply(ws: Workspace): Promise<void> {
  const p = run("kubectl", ["apply", "-f", "-"], { env: process.env });
  p.child.stdin!.end(JSON.stringify(ws));
  await p;
}

async function kubectl(...args: string[]): Promise<void> {
  await run("kubectl", args, { env: process.env });
}

/** The UID of the IDE's pod of workspace `name` (the operator's label), or undefined. */
async function podOf(name: string): Promise<string | undefined> {
  const pods = await c.core.listNamespacedPod({
    namespace: ns.name,
    labelSelector: `portico.dev/workspace=${name}`,
  });
  return pods.items.find((p) => p.spec?.containers.some((x) => x.name === "ide"))?.metadata?.uid;
}

/**
 * The first 200 through the proxy: the poller's, or Chromium's own request of the IDE's page when
 * that came first (it is one too). Then the marks from the logs.
 */
async function routedBy(name: string, m: Marks, load: Load): Promise<void> {
  await tl.until(name, "routed", 30_000);
  tl.end(name);
  if (load.ideNav < m.routed!) m.routed = load.ideNav;
  await tl.fromLogs(name);
}

/** Apply → usable, then the warm loads (proxy and direct, order by `r`). */
async function applyRun(ide: Ide, name: string, r: number): Promise<Run> {
  const m = tl.begin(name);
  await kubectlApply(
    workspace(ns.name, name, { className: CLASS[ide], storage: { reclaimPolicy: "Delete" } }),
  );
  m.applied = Date.now();
  const load = await openUsable(browser, ide, base(name), TIMEOUT);
  await routedBy(name, m, load);
  const pod = tl.pod(name)!;
  const direct = `http://${pod.ip}:${pod.port}/`;
  // Two pairs, ABBA (which comes first alternates per run): the loads are noisy on a shared machine.
  const warm: Record<"proxy" | "direct", (Load & { t0: number })[]> = { proxy: [], direct: [] };
  const pair = r % 2 === 0 ? (["proxy", "direct"] as const) : (["direct", "proxy"] as const);
  for (const how of [...pair, ...[...pair].reverse()] as ("proxy" | "direct")[])
    warm[how].push(await openUsable(browser, ide, how === "proxy" ? base(name) : direct, TIMEOUT));
  const ms = (ls: (Load & { t0: number })[]) => ls.reduce((a, l) => a + l.usable - l.t0, 0) / ls.length;
  // The same page's GETs at the HTTP level (start-replay.ts): the proxy's own milliseconds.
  const gets = warm.direct[0]!.gets.filter((u) => !u.includes("/channels"));
  const http = await replay(gets, { url: px.url, host: px.hostFor(ns.name, name) }, 5);
  return {
    ide,
    kind: "apply",
    name,
    marks: { ...m },
    load,
    warmProxy: ms(warm.proxy),
    warmDirect: ms(warm.direct),
    warm,
    http,
  };
}

/** Stops the workspace for idleness (see --stop) and waits until the proxy says it is stopped. */
async function stopForIdle(name: string): Promise<string> {
  const pod = (await podOf(name))!;
  if (STOP === "timeout") {
    await kubectl(
      "patch",
      "workspace",
      name,
      "-n",
      ns.name,
      "--type",
      "merge",
      "-p",
      '{"spec":{"idleTimeout":"1s"}}',
    );
    await eventually(
      `${name} stopped for idleness`,
      async () => {
        const ws = await getWorkspace(c, ns.name, name);
        const idle = condition(ws, "Idle");
        return idle?.status === "True" && idle.reason === IDLE_REASONS.stopped && !(await podOf(name))
          ? true
          : undefined;
      },
      120_000,
      250,
    );
    await kubectl(
      "patch",
      "workspace",
      name,
      "-n",
      ns.name,
      "--type",
      "merge",
      "-p",
      '{"spec":{"idleTimeout":null}}',
    );
  } else {
    await kubectl(
      "annotate",
      "workspace",
      name,
      "-n",
      ns.name,
      `${IDLE_STOPPED_ANNOTATION}=${rfc3339(Date.now())}`,
    );
    await eventually(
      `${name}'s pod gone`,
      async () => ((await podOf(name)) ? undefined : true),
      120_000,
      250,
    );
  }
  const host = px.hostFor(ns.name, name);
  await eventually(
    `the proxy says ${name} is stopped`,
    // As a cross-site image would ask: a request that may not wake it (a plain client may).
    async () => ((await httpStatus(`${px.url}/`, host, NO_WAKE)) === 404 ? true : undefined),
    60_000,
    100,
  );
  const ws = await getWorkspace(c, ns.name, name);
  if (!ws.metadata.annotations?.[IDLE_STOPPED_ANNOTATION])
    throw new Error(`${name} is stopped but not idle-stopped`);
  return pod;
}

/** Idle stop, then Chromium opens the URL → usable; the same marks. */
async function wakeRun(ide: Ide, name: string): Promise<Run> {
  const old = await stopForIdle(name);
  const m = tl.begin(name, [old]);
  const load = await openUsable(browser, ide, base(name), TIMEOUT);
  m.t0 = load.t0;
  await routedBy(name, m, load);
  return { ide, kind: "wake", name, marks: { ...m }, load };
}

async function dropWorkspace(name: string): Promise<void> {
  await deleteWorkspace(c, ns.name, name);
  await eventually(
    `${name} and its pod gone`,
    async () =>
      (await getWorkspace(c, ns.name, name).then(
        () => true,
        () => false,
      )) || (await podOf(name))
        ? undefined
        : true,
    120_000,
    250,
  );
}

const runs: Run[] = [];
try {
  for (let r = 0; r < RUNS; r++) {
    for (const ide of IDES) {
      const name = `${ide}-${r}`;
      const a = await applyRun(ide, name, r);
      runs.push(a);
      log(`run ${r + 1}/${RUNS} ${ide} apply → usable ${a.load.usable - a.marks.t0} ms`);
      if (WAKE) {
        const w = await wakeRun(ide, name);
        runs.push(w);
        log(`run ${r + 1}/${RUNS} ${ide} wake → usable ${w.load.usable - w.marks.t0} ms`);
      }
      await dropWorkspace(name);
    }
    noteLoad(`after run ${r + 1}`);
  }
} finally {
  tl.close();
  await browser.close().catch(() => undefined);
  await px.stop();
  await op.stop();
  await ns.drop().catch(() => undefined);
}

console.log(JSON.stringify({ runs }, null, 2));
const argv = process.argv.slice(2);
const netnsEnv = netns === "portico-bench" ? "" : `PORTICO_NETNS=${netns} `;
const section = startSection(runs, {
  command: `${netnsEnv}npm run bench:start${argv.length ? ` -- ${argv.join(" ")}` : ""}`,
  loads,
  runs: RUNS,
  wake: WAKE,
  stop: STOP,
});
console.log(section);
log(`wrote ${await writeSection("start", section)}`);
process.exit(0);
