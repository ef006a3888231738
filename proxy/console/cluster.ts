/**
 * What the console's log and shell endpoints ask of the API server, as the proxy's ServiceAccount:
 * read a pod, follow a container's log (a streamed GET of pods/log), open an exec (pods/exec over a
 * WebSocket). Both streams carry the kubeconfig's TLS and credentials (kc.applyToHTTPSOptions) and
 * are counted while open (portico_console_upstream_streams), so a test — or an operator — can see
 * that closing the browser's socket closed the one behind it.
 */
import * as http from "node:http";
import * as https from "node:https";
import * as k8s from "@kubernetes/client-node";
import { Gauge, type Registry } from "prom-client";
import WebSocket from "ws";
import type { PodLike } from "./target.ts";

/** The exec subprotocols offered, best first: v5 adds the close signal (stdin EOF); v4 is the fallback. */
export const EXEC_PROTOCOLS = ["v5.channel.k8s.io", "v4.channel.k8s.io"] as const;

/** A refusal of the API server (status and its message). */
export class UpstreamError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

export interface LogRequest {
  container: string;
  tailLines?: number;
  /** RFC 3339 (whole seconds: what pods/log takes). */
  sinceTime?: string;
}

export interface ConsoleCluster {
  readPod(namespace: string, name: string): Promise<PodLike | undefined>;
  /** The log stream (status 200), or an UpstreamError; `signal` aborts the request. */
  followLog(
    namespace: string,
    pod: string,
    req: LogRequest,
    signal: AbortSignal,
  ): Promise<http.IncomingMessage>;
  /** An open exec WebSocket (default: a TTY with stdin), or an UpstreamError. */
  exec(
    namespace: string,
    pod: string,
    container: string,
    command: readonly string[],
    opts?: ExecOptions,
  ): Promise<WebSocket>;
}

/** The API server's message from an error body (a Status object), bounded. */
export function statusMessage(body: string): string {
  try {
    const s = JSON.parse(body) as { message?: unknown };
    if (typeof s.message === "string") return s.message.slice(0, 500);
  } catch {
    /* not JSON: the text itself */
  }
  return body.slice(0, 500);
}

/** The pods/log URL path and query. Pure. */
export function logPath(namespace: string, pod: string, req: LogRequest): string {
  const q = new URLSearchParams({ container: req.container, follow: "true", timestamps: "true" });
  if (req.tailLines !== undefined) q.set("tailLines", String(req.tailLines));
  if (req.sinceTime !== undefined) q.set("sinceTime", req.sinceTime);
  return `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(pod)}/log?${q}`;
}

/** An interactive terminal (the default), or a plain command without input. */
export interface ExecOptions {
  tty: boolean;
}

/** The pods/exec URL path and query (TTY: stderr is merged into stdout). Pure. */
export function execPath(
  namespace: string,
  pod: string,
  container: string,
  command: readonly string[],
  opts: ExecOptions = { tty: true },
): string {
  const q = new URLSearchParams(
    opts.tty
      ? { container, stdin: "true", stdout: "true", stderr: "false", tty: "true" }
      : { container, stdin: "false", stdout: "true", stderr: "true", tty: "false" },
  );
  for (const c of command) q.append("command", c);
  return `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(pod)}/exec?${q}`;
}

export function kubeConsoleCluster(kc: k8s.KubeConfig, registry?: Registry): ConsoleCluster {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const open = new Gauge({
    name: "portico_console_upstream_streams",
    help: "Log follows (kind=logs) and execs (kind=shell) the console has open to the API server.",
    labelNames: ["kind"],
    registers: registry ? [registry] : [],
  });
  open.set({ kind: "logs" }, 0);
  open.set({ kind: "shell" }, 0);
  const server = () => {
    const s = kc.getCurrentCluster()?.server;
    if (!s) throw new Error("the kubeconfig names no cluster server");
    return new URL(s);
  };
  return {
    async readPod(namespace, name) {
      try {
        return (await core.readNamespacedPod({ namespace, name })) as PodLike;
      } catch (err) {
        if ((err as { code?: unknown }).code === 404) return undefined;
        throw err;
      }
    },
    async followLog(namespace, pod, req, signal) {
      const base = server();
      const opts: https.RequestOptions = {};
      await kc.applyToHTTPSOptions(opts);
      const url = new URL(logPath(namespace, pod, req), base);
      const mod = url.protocol === "https:" ? https : http;
      return new Promise((resolve, reject) => {
        const r = mod.request(url, { ...opts, method: "GET", signal }, (res) => {
          if (res.statusCode === 200) return resolve(res);
          let body = "";
          res.setEncoding("utf8");
          res.on("data", (d: string) => {
            if (body.length < 4096) body += d;
          });
          res.on("end", () => reject(new UpstreamError(res.statusCode ?? 502, statusMessage(body))));
          res.on("error", reject);
        });
        open.inc({ kind: "logs" });
        r.once("close", () => open.dec({ kind: "logs" }));
        r.once("error", reject);
        r.end();
      });
    },
    async exec(namespace, pod, container, command, execOpts) {
      const base = server();
      const opts: WebSocket.ClientOptions = { perMessageDeflate: false, maxPayload: 1024 * 1024 };
      await kc.applyToHTTPSOptions(opts);
      const url = new URL(execPath(namespace, pod, container, command, execOpts), base);
      url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
      const ws = new WebSocket(url, [...EXEC_PROTOCOLS], opts);
      open.inc({ kind: "shell" });
      ws.once("close", () => open.dec({ kind: "shell" }));
      return new Promise((resolve, reject) => {
        ws.once("open", () => resolve(ws));
        ws.once("unexpected-response", (_req, res) => {
          let body = "";
          res.setEncoding("utf8");
          res.on("data", (d: string) => {
            if (body.length < 4096) body += d;
          });
          res.on("end", () => {
            reject(new UpstreamError(res.statusCode ?? 502, statusMessage(body)));
            ws.terminate();
          });
        });
        ws.on("error", (err) => reject(err));
      });
    },
  };
}
