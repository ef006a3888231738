/**
 * Portico's proxy in the proxy benchmark: the real `proxy/main.ts`, under its own API identity
 * (`kubeconfig.proxy`), in host mode, in front of the benchmark's one workspace; and the loading of
 * many more routes into it the way the cluster would feed them.
 *
 * Loading 10,000 routes honestly without 10,000 processes: each extra route is a real Workspace
 * whose status (a copy of the real workspace's Ready status) is written through the `/status`
 * subresource, with the operator stopped, plus the EndpointSlice that the Service's controller
 * would make (label `kubernetes.io/service-name`, one ready endpoint: the benchmark backend). The
 * proxy reads them through its informers exactly as it reads real ones (proxy/routing/from-cluster.ts).
 */
import { spawn } from "node:child_process";
import { createWriteStream, existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import * as k8s from "@kubernetes/client-node";
import { GROUP, VERSION, WORKSPACE, type Workspace } from "../../crds/types.ts";
import { childNames, WORKSPACE_LABEL, workspaceLabelValue } from "../../common/model/workspace/names.ts";
import { SERVICE_NAME_LABEL } from "../../proxy/routing/from-cluster.ts";
import { PROXY_NODE_ARGS } from "../../proxy/runtime.ts";
import type { Clients } from "../lib/kube.ts";
import { stateDir } from "../lib/operator.ts";
import { track, type Peer } from "./proxy-peers.ts";

const REPO = resolve(import.meta.dirname, "../..");
const MAIN = join(REPO, "proxy/main.ts");
const BASE_DOMAIN = "portico.test";
const PER_NAMESPACE = 10;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface Portico {
  peer: Peer;
  /**
   * Adds routes until `total` are loaded (the benchmark's workspace is the first) and waits until the
   * proxy serves them; returns the path of a wrk script that spreads requests over all of them.
   */
  loadRoutes(c: Clients, namespace: string, total: number): Promise<string>;
  /**
   * How long after Ready is written to the API server the proxy routes the workspace: `cycles`
   * times, its status is set to stopped (until the proxy answers 404), then back to the real Ready
   * status, and the time from the accepted status write to the first 200 through the proxy is taken
   * (polled every 2 ms, so it is at most 2 ms late). Milliseconds, one per cycle.
   */
  routeLag(c: Clients, cycles: number): Promise<number[]>;
}

/** Whether Portico's proxy exists in this tree yet. */
export const porticoPresent = (): boolean => existsSync(MAIN);

/** The Host a browser sends for a workspace in host mode (port included, as browsers do). */
const hostOf = (name: string, namespace: string, port: number) =>
  `${name}--${namespace}.${BASE_DOMAIN}:${port}`;

async function answers(url: string, host: string, headers: Record<string, string> = {}): Promise<boolean> {
  // fetch() will not send a Host header of our choosing; a raw request via node:http does.
  const { request } = await import("node:http");
  return new Promise((resolveOk) => {
    const req = request(url, { headers: { ...headers, host }, timeout: 2000 }, (res) => {
      let n = 0;
      res.on("data", (d: Buffer) => (n += d.length));
      res.on("end", () => resolveOk(res.statusCode === 200 && n === 1024));
    });
    req.on("error", () => resolveOk(false));
    req.on("timeout", () => req.destroy());
    req.end();
  });
}

async function until(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(250);
  }
}

/**
 * Starts proxy/main.ts on ip:port and waits until it routes to `ready` (the benchmark's workspace).
 * `o.flags` replace `--auth=none` (with their own --auth); `o.headers` go with the readiness probe.
 */
export async function startPortico(
  ready: Workspace,
  ip: string,
  port: number,
  logDir: string,
  o: {
    flags?: string[];
    headers?: Record<string, string>;
    healthPort?: number;
    name?: string;
    /** Another tree's proxy/main.ts (an older relay, say), run the same way. */
    main?: string;
  } = {},
): Promise<Portico> {
  const healthPort = o.healthPort ?? 18290;
  const log = join(logDir, `${o.name ?? "portico-proxy-bench"}.log`);
  const out = createWriteStream(log, { flags: "a" });
  const proc = spawn(
    process.execPath,
    [
      ...PROXY_NODE_ARGS,
      // PORTICO_PROXY_PROFILE=DIR: a V8 CPU profile of the proxy under the benchmark's load.
      ...(process.env.PORTICO_PROXY_PROFILE
        ? ["--cpu-prof", `--cpu-prof-dir=${process.env.PORTICO_PROXY_PROFILE}`]
        : []),
      o.main ?? MAIN,
      `--kubeconfig=${join(stateDir(), "kubeconfig.proxy")}`,
      ...(o.flags ?? ["--auth=none"]),
      "--routing=host",
      `--base-domain=${BASE_DOMAIN}`,
      `--host=${ip}`,
      `--port=${port}`,
      "--health-host=127.0.0.1",
      `--health-port=${healthPort}`,
      "--log-level=warn",
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  track(proc);
  proc.stdout!.pipe(out);
  proc.stderr!.pipe(out);
  const exited = new Promise<void>((r) => proc.once("exit", () => r()));
  const namespace = ready.metadata.namespace!;
  const url = `http://${ip}:${port}/`;
  const host = hostOf(ready.metadata.name!, namespace, port);
  await until(`Portico's proxy to route ${host} (log: ${log})`, 60_000, async () => {
    if (proc.exitCode !== null) throw new Error(`Portico's proxy exited with ${proc.exitCode}: see ${log}`);
    return answers(url, host, o.headers);
  });
  const peer: Peer = {
    name: o.name ?? "portico",
    url,
    host,
    pids: () => [proc.pid!],
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGTERM");
      await Promise.race([exited, sleep(5000)]);
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
    },
  };
  const status = (c: Clients, body: Workspace) =>
    c.custom.replaceNamespacedCustomObjectStatus({
      group: GROUP,
      version: VERSION,
      plural: WORKSPACE.plural,
      namespace,
      name: ready.metadata.name!,
      body,
    }) as Promise<Workspace>;
  const current = (c: Clients) =>
    c.custom.getNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      plural: WORKSPACE.plural,
      namespace,
      name: ready.metadata.name!,
    }) as Promise<Workspace>;
  const statusCode = async (): Promise<number> => {
    const { request } = await import("node:http");
    return new Promise((done) => {
      const req = request(url, { headers: { host }, timeout: 2000 }, (res) => {
        res.resume();
        res.on("end", () => done(res.statusCode ?? 0));
      });
      req.on("error", () => done(0));
      req.on("timeout", () => req.destroy());
      req.end();
    });
  };
  return {
    peer,
    routeLag: async (c, cycles) => {
      const lags: number[] = [];
      for (let i = 0; i < cycles; i++) {
        const now = await current(c);
        const stopped = {
          ...now.status,
          phase: "Stopped" as const,
          conditions: now.status!.conditions!.map((x) =>
            x.type === "Ready" ? { ...x, status: "False" as const, reason: "Stopped" } : x,
          ),
        };
        const off = await status(c, { ...now, status: stopped });
        await until("the proxy to drop the route", 10_000, async () => (await statusCode()) === 404);
        await status(c, { ...off, status: ready.status });
        const t0 = performance.now();
        while ((await statusCode()) !== 200) {
          if (performance.now() - t0 > 10_000) throw new Error("the route did not come back within 10 s");
          await sleep(2);
        }
        lags.push(performance.now() - t0);
      }
      return lags;
    },
    loadRoutes: async (c, ns, total) => {
      const discovery = c.kc.makeApiClient(k8s.DiscoveryV1Api);
      const slice = (await discovery.listNamespacedEndpointSlice({ namespace: ns })).items.find(
        (s) => s.metadata?.labels?.[SERVICE_NAME_LABEL] === childNames(ready).service,
      );
      if (!slice) throw new Error(`no EndpointSlice for ${childNames(ready).service} in ${ns}`);
      // Ten workspaces per namespace, as users with a few workspaces each in their own namespace.
      const routes = Array.from({ length: total - 1 }, (_, i) => ({
        namespace: `${ns}-${Math.floor(i / PER_NAMESPACE)}`,
        name: `r${i % PER_NAMESPACE}`,
      }));
      for (const n of new Set(routes.map((r) => r.namespace)))
        await c.core.createNamespace({ body: { metadata: { name: n } } });
      let next = 0;
      let done = 0;
      const t0 = Date.now();
      const one = async ({ namespace, name }: { namespace: string; name: string }) => {
        const body: Workspace = {
          apiVersion: `${GROUP}/${VERSION}`,
          kind: "Workspace",
          metadata: { name, namespace },
          spec: ready.spec,
        };
        const created = (await c.custom.createNamespacedCustomObject({
          group: GROUP,
          version: VERSION,
          plural: WORKSPACE.plural,
          namespace,
          body,
        })) as Workspace;
        const gen = created.metadata.generation;
        const child = childNames(created);
        const status = {
          ...ready.status,
          observedGeneration: gen,
          conditions: ready.status!.conditions!.map((x) => ({ ...x, observedGeneration: gen })),
          children: { ...ready.status!.children, pod: child.pod, service: child.service, pvc: child.pvc },
          url: `http://${hostOf(name, namespace, port)}/`,
        };
        await c.custom.replaceNamespacedCustomObjectStatus({
          group: GROUP,
          version: VERSION,
          plural: WORKSPACE.plural,
          namespace,
          name,
          body: { ...created, status },
        });
        // The real slice's labels (the Service's, which the proxy's watch selects on), renamed; not
        // marked as the EndpointSlice controller's, so it leaves these Service-less slices alone.
        await discovery.createNamespacedEndpointSlice({
          namespace,
          body: {
            metadata: {
              name: `${child.service}-bench`,
              labels: {
                ...slice.metadata!.labels,
                [SERVICE_NAME_LABEL]: child.service,
                [WORKSPACE_LABEL]: workspaceLabelValue(name),
                "endpointslice.kubernetes.io/managed-by": "bench.portico.dev",
              },
            },
            addressType: slice.addressType,
            endpoints: (slice.endpoints ?? []).map((e) => ({
              addresses: e.addresses,
              conditions: { ready: true },
            })),
            ports: slice.ports ?? [],
          },
        });
        if (++done % 1000 === 0)
          process.stderr.write(
            `[bench:proxy] ${done}/${total - 1} routes written in ${((Date.now() - t0) / 1000).toFixed(0)} s\n`,
          );
      };
      await Promise.all(
        Array.from({ length: 32 }, async () => {
          while (next < routes.length) await one(routes[next++]!);
        }),
      );
      // Served once the last one and a sample across the range answer through the proxy.
      const sample = [
        routes[routes.length - 1]!,
        ...routes.filter((_, i) => i % Math.ceil(routes.length / 20) === 0),
      ];
      await until(`Portico's proxy to serve ${total} routes`, 300_000, async () =>
        (await Promise.all(sample.map((r) => answers(url, hostOf(r.name, r.namespace, port))))).every(
          Boolean,
        ),
      );
      const hosts = [host, ...routes.map((r) => hostOf(r.name, r.namespace, port))];
      const script = join(stateDir(), "bench-proxy-spread.lua");
      await writeFile(
        script,
        `local hosts = {\n${hosts.map((h) => `"${h}",`).join("\n")}\n}\nlocal i = 0\n` +
          `request = function()\n  i = i % #hosts + 1\n  wrk.headers["Host"] = hosts[i]\n  return wrk.format(nil, "/")\nend\n`,
      );
      return script;
    },
  };
}
