/**
 * A console WebSocket client for e2e files (/ws/logs, /ws/shell): opens the socket through the
 * proxy as a browser on the console's origin would (Host and Origin of the base domain, a bearer
 * token or a session cookie), collects what comes back — JSON text frames and the terminal's raw
 * bytes — and lets a test wait on a condition of them. A refused upgrade resolves with its HTTP
 * status and JSON body instead of a socket.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { WebSocket } from "ws";
import { sumSamples } from "./component.ts";
import { eventually } from "./kube.ts";
import type { ProxyProcess } from "./proxy.ts";

export interface ConsoleSocket {
  ws: WebSocket;
  /** Text frames, parsed, in order. */
  frames: { type: string; [k: string]: unknown }[];
  /** Binary frames (the terminal's output), decoded as UTF-8 and joined. */
  output(): string;
  /** Resolves with the close code. */
  closed: Promise<number>;
  /** Waits until `pred` holds of the collected frames and output (fails if the socket closes first). */
  until<T>(what: string, pred: () => T | undefined, timeoutMs?: number): Promise<T>;
  sendJson(frame: unknown): void;
  close(): Promise<number>;
}

export interface Refused {
  status: number;
  body: { error?: string; message?: string };
}

export interface OpenOptions {
  token?: string;
  cookie?: string;
  /** Default: the console's own origin (http://portico.test:{port}); null: no Origin header. */
  origin?: string | null;
}

/** Opens `path` (with its query) on the proxy's base domain. */
export function openConsole(
  px: ProxyProcess,
  path: string,
  o: OpenOptions = {},
): Promise<ConsoleSocket | Refused> {
  const host = `portico.test:${px.port}`;
  const headers: Record<string, string> = { host };
  if (o.origin !== null) headers.origin = o.origin ?? `http://${host}`;
  if (o.token) headers.authorization = `Bearer ${o.token}`;
  if (o.cookie) headers.cookie = o.cookie;
  const ws = new WebSocket(`ws://${px.address}:${px.port}${path}`, { headers, perMessageDeflate: false });
  return new Promise((resolve, reject) => {
    ws.once("unexpected-response", (_req, res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (text += d));
      res.on("end", () => {
        let body: Refused["body"] = {};
        try {
          body = JSON.parse(text) as Refused["body"];
        } catch {
          body = { message: text };
        }
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
    ws.once("error", reject);
    ws.once("open", () => resolve(wrap(ws)));
  });
}

function wrap(ws: WebSocket): ConsoleSocket {
  const frames: ConsoleSocket["frames"] = [];
  const bytes: Buffer[] = [];
  let isClosed = false;
  const closed = new Promise<number>((r) =>
    ws.once("close", (code) => {
      isClosed = true;
      r(code);
    }),
  );
  ws.on("error", () => undefined);
  ws.on("message", (data: Buffer, isBinary) => {
    if (isBinary) bytes.push(Buffer.from(data));
    else frames.push(JSON.parse(data.toString("utf8")) as ConsoleSocket["frames"][number]);
  });
  const s: ConsoleSocket = {
    ws,
    frames,
    output: () => Buffer.concat(bytes).toString("utf8"),
    closed,
    until: (what, pred, timeoutMs = 60_000) =>
      eventually(
        what,
        async () => {
          const v = pred();
          if (v !== undefined) return v;
          if (isClosed) throw new Error(`the socket closed: frames ${JSON.stringify(frames).slice(-600)}`);
          return undefined;
        },
        timeoutMs,
        50,
      ).catch((err: Error) => {
        throw new Error(`${err.message}; last frames ${JSON.stringify(frames.slice(-5)).slice(-800)}`);
      }),
    sendJson: (frame) => ws.send(JSON.stringify(frame)),
    close: () => {
      ws.close(1000);
      return closed;
    },
  };
  return s;
}

export const isSocket = (x: ConsoleSocket | Refused): x is ConsoleSocket => "ws" in x;

/** Opens and expects a socket. */
export async function mustOpen(px: ProxyProcess, path: string, o: OpenOptions = {}): Promise<ConsoleSocket> {
  const r = await openConsole(px, path, o);
  if (!isSocket(r)) throw new Error(`${path} refused: ${r.status} ${JSON.stringify(r.body)}`);
  return r;
}

/** The API server's own metrics (as the harness's admin): what reached pods/log and pods/exec. */
export async function apiServerMetrics(): Promise<string> {
  const { stdout } = await promisify(execFile)("kubectl", ["get", "--raw", "/metrics"], {
    env: process.env,
    maxBuffer: 256 * 1024 * 1024,
  });
  return stdout;
}

/** Requests to pods/{subresource} the API server has served (all verbs and codes), and those open now. */
export async function podSubresourceRequests(
  subresource: "log" | "exec",
): Promise<{ total: number; open: number }> {
  const text = await apiServerMetrics();
  return {
    total: sumSamples(text, "apiserver_request_total", { resource: "pods", subresource }),
    open: sumSamples(text, "apiserver_longrunning_requests", { resource: "pods", subresource }),
  };
}
