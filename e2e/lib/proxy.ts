/**
 * Runs the real proxy process for a test (inside the cluster's network namespace, as tests are)
 * under its own API identity (`kubeconfig.proxy`: the chart's ServiceAccount portico-proxy, under the chart's RBAC), like e2e/lib/operator.ts does
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
import { existsSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { WebSocket } from "ws";
import { PROXY_NODE_ARGS } from "../../proxy/runtime.ts";
import { buildConsole } from "../../scripts/build-console.ts";
import { startComponent, stateDir, type Component } from "./component.ts";
import { clusterNetworkFlags } from "./operator.ts";
import { executeContent, shellRequest } from "./jupyter-state.ts";

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

export interface ProxyProcess extends Component {
  /** `http://{address}:{port}` — the data path. */
  url: string;
  address: string;
  port: number;
  /** `{name}--{namespace}.{baseDomain}:{port}`: the Host header (and browser host) of a workspace in host mode. */
  hostFor(namespace: string, name: string): string;
}

/** The console bundle the proxy serves by default (--console-dir), as `npm run build:console` writes it. */
const CONSOLE_DIST = fileURLToPath(new URL("../../proxy/console/dist", import.meta.url));
let consoleBuilt: Promise<unknown> | undefined;

/**
 * Builds the console app when no build is there (a test file run on its own, without
 * e2e/run-e2e.sh, which builds it first): a proxy without it answers / with 503.
 */
export function ensureConsoleBundle(): Promise<unknown> {
  if (existsSync(join(CONSOLE_DIST, "index.html"))) return Promise.resolve();
  return (consoleBuilt ??= buildConsole(CONSOLE_DIST));
}

/** Starts `proxy/main.ts` and waits for /readyz (every cache synced, routes built). */
export async function startProxy(opts: ProxyOptions = {}): Promise<ProxyProcess> {
  if (!(opts.flags ?? []).some((f) => f === "--console=false" || f.startsWith("--console-dir")))
    await ensureConsoleBundle();
  const address = opts.address ?? "127.0.0.1";
  const port = opts.port ?? nextPort++;
  const healthPort = nextPort++;
  const name = opts.name ?? "proxy";
  const baseDomain = opts.baseDomain ?? "portico.test";
  const flags = opts.flags ?? [];
  const component = await startComponent({
    script: "proxy/main.ts",
    nodeArgs: PROXY_NODE_ARGS,
    name,
    healthPort,
    args: [
      `--kubeconfig=${join(stateDir(), "kubeconfig.proxy")}`,
      `--host=${address}`,
      `--port=${port}`,
      "--health-host=127.0.0.1",
      `--health-port=${healthPort}`,
      `--base-domain=${baseDomain}`,
      ...(flags.some((f) => f.startsWith("--auth")) ? [] : ["--auth=none"]),
      ...clusterNetworkFlags(flags),
      ...flags,
    ],
  });
  const px: ProxyProcess = {
    ...component,
    url: `http://${address}:${port}`,
    address,
    port,
    hostFor: (namespace, wsName) => `${wsName}--${namespace}.${baseDomain}:${port}`,
  };
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
  /** More request headers for every call (a bearer token, say). */
  extra: Record<string, string> = {},
): Promise<string> {
  const hostHeader = host ?? `${px.address}:${px.port}`;
  const call = (method: string, path: string): Promise<{ status: number; body: string }> =>
    new Promise((resolveCall, reject) => {
      const req = request(
        `${px.url}${path}`,
        { method, headers: { ...extra, host: hostHeader, "content-type": "application/json" } },
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
    { headers: { ...extra, host: hostHeader }, origin: `http://${hostHeader}` },
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
        ws.send(JSON.stringify(shellRequest("execute_request", executeContent(code), { session }))),
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
