/**
 * Runs the real proxy process for a test (inside the cluster's network namespace, as tests are)
 * under its own API identity (`kubeconfig.proxy`, user portico-proxy), like e2e/lib/operator.ts does
 * for the operator.
 *
 *   const px = await startProxy({ address: "198.18.0.2", flags: ["--routing=path"] });
 *   await fetch(`${px.url}/w/${ns}/${name}/api`);          // path mode
 *   await fetch(`${px.url}/api`, { headers: { host: px.hostFor(ns, name) } }); // host mode
 *   await px.stop();
 *
 * `--auth=none` is passed unless `flags` has an `--auth`. The data port listens on `address:port`
 * (default 127.0.0.1 and a fresh port); health and metrics on 127.0.0.1 and another fresh port.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream } from "node:fs";
import { request } from "node:http";
import { join, resolve } from "node:path";
import { WebSocket } from "ws";
import { eventually } from "./kube.ts";
import { stateDir, sumSamples } from "./operator.ts";

const REPO = resolve(import.meta.dirname, "../..");
let nextPort = 18280;

export interface ProxyOptions {
  /** Extra flags, e.g. `--routing=path`. */
  flags?: string[];
  /** Address of the data port: 127.0.0.1 (default) or one in 198.18.0.0/24 unique to the test file. */
  address?: string;
  /** Data port; default: a fresh one from 18280 up. */
  port?: number;
  /** Base domain for host mode (default portico.test, the operator's default). */
  baseDomain?: string;
  /** Names the log file. */
  name?: string;
}

export interface ProxyProcess {
  proc: ChildProcess;
  /** `http://{address}:{port}` — the data path. */
  url: string;
  address: string;
  port: number;
  healthUrl: string;
  logFile: string;
  /** `{name}--{namespace}.{baseDomain}:{port}`: the Host header (and browser host) of a workspace in host mode. */
  hostFor(namespace: string, name: string): string;
  /** SIGTERM and wait for the exit (graceful shutdown). */
  stop(): Promise<void>;
  /** SIGKILL: a crash. */
  kill(): Promise<void>;
  metrics(): Promise<string>;
  /** The value of one sample in the metrics text (summed over matching labels), 0 when absent. */
  metric(name: string, labels?: Record<string, string>): Promise<number>;
}

/** Starts `proxy/main.ts` and waits for /readyz (every cache synced, routes built). */
export async function startProxy(opts: ProxyOptions = {}): Promise<ProxyProcess> {
  const address = opts.address ?? "127.0.0.1";
  const port = opts.port ?? nextPort++;
  const healthPort = nextPort++;
  const name = opts.name ?? "proxy";
  const baseDomain = opts.baseDomain ?? "portico.test";
  const flags = opts.flags ?? [];
  const logFile = join(stateDir(), "logs", `${name}-${healthPort}.log`);
  const out = createWriteStream(logFile, { flags: "a" });
  const proc = spawn(
    process.execPath,
    [
      join(REPO, "proxy/main.ts"),
      `--kubeconfig=${join(stateDir(), "kubeconfig.proxy")}`,
      `--host=${address}`,
      `--port=${port}`,
      "--health-host=127.0.0.1",
      `--health-port=${healthPort}`,
      `--base-domain=${baseDomain}`,
      ...(flags.some((f) => f.startsWith("--auth")) ? [] : ["--auth=none"]),
      ...flags,
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  proc.stdout!.pipe(out);
  proc.stderr!.pipe(out);
  const healthUrl = `http://127.0.0.1:${healthPort}`;
  const exited = new Promise<void>((r) => proc.once("exit", () => r()));
  const px: ProxyProcess = {
    proc,
    url: `http://${address}:${port}`,
    address,
    port,
    healthUrl,
    logFile,
    hostFor: (namespace, wsName) => `${wsName}--${namespace}.${baseDomain}:${port}`,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGTERM");
      await exited;
    },
    async kill() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
      await exited;
    },
    async metrics() {
      const res = await fetch(`${healthUrl}/metrics`, { signal: AbortSignal.timeout(5000) });
      return res.text();
    },
    async metric(metricName, labels = {}) {
      return sumSamples(await px.metrics(), metricName, labels);
    },
  };
  await eventually(
    `proxy ${name} ready on ${healthUrl}/readyz (log: ${logFile})`,
    async () => {
      if (proc.exitCode !== null) throw new Error(`proxy exited with ${proc.exitCode}: see ${logFile}`);
      const res = await fetch(`${healthUrl}/readyz`, { signal: AbortSignal.timeout(1000) });
      return res.status === 200 ? true : undefined;
    },
    60_000,
    100,
  );
  return px;
}

/**
 * Runs `code` in a real Jupyter kernel through the proxy and returns the `text/plain` result: POST
 * {prefix}/api/kernels, then the kernel's WebSocket channels (Origin = the page's origin, as a browser
 * sends it), execute_request, wait for execute_result. `host` is the Host header (host mode) or
 * undefined (path mode: the proxy address). Deletes the kernel afterwards.
 */
export async function jupyterExecute(
  px: ProxyProcess,
  prefix: string,
  code: string,
  host?: string,
): Promise<string> {
  const hostHeader = host ?? `${px.address}:${px.port}`;
  const call = (method: string, path: string): Promise<{ status: number; body: string }> =>
    new Promise((resolveCall, reject) => {
      const req = request(
        `${px.url}${path}`,
        { method, headers: { host: hostHeader, "content-type": "application/json" } },
        (res) => {
          let body = "";
          res.on("data", (d) => (body += String(d)));
          res.on("end", () => resolveCall({ status: res.statusCode ?? 0, body }));
        },
      );
      req.on("error", reject);
      req.end(method === "POST" ? "{}" : undefined);
    });
  const created = await call("POST", `${prefix}/api/kernels`);
  if (created.status !== 201) throw new Error(`POST kernels: ${created.status} ${created.body}`);
  const kernel = JSON.parse(created.body) as { id: string };
  const session = `s-${Date.now()}`;
  const ws = new WebSocket(
    `ws://${px.address}:${px.port}${prefix}/api/kernels/${kernel.id}/channels?session_id=${session}`,
    { headers: { host: hostHeader }, origin: `http://${hostHeader}` },
  );
  try {
    return await new Promise<string>((resolveRun, reject) => {
      const timer = setTimeout(() => reject(new Error("no execute_result within 30 s")), 30_000);
      ws.once("error", (err) => {
        clearTimeout(timer);
        reject(err);
      });
      ws.once("unexpected-response", (_req, res) => {
        clearTimeout(timer);
        reject(new Error(`kernel WebSocket refused: ${res.statusCode}`));
      });
      ws.once("open", () =>
        ws.send(
          JSON.stringify({
            header: {
              msg_id: `m-${Date.now()}`,
              username: "test",
              session,
              msg_type: "execute_request",
              version: "5.3",
              date: new Date().toISOString(),
            },
            parent_header: {},
            metadata: {},
            content: { code, silent: false, store_history: false, user_expressions: {}, allow_stdin: false },
            channel: "shell",
            buffers: [],
          }),
        ),
      );
      ws.on("message", (data) => {
        const msg = JSON.parse(String(data)) as {
          msg_type?: string;
          header?: { msg_type?: string };
          content?: { data?: Record<string, string> };
        };
        if ((msg.msg_type ?? msg.header?.msg_type) === "execute_result") {
          clearTimeout(timer);
          resolveRun(msg.content?.data?.["text/plain"] ?? "");
        }
      });
    });
  } finally {
    ws.close();
    await call("DELETE", `${prefix}/api/kernels/${kernel.id}`).catch(() => undefined);
  }
}
