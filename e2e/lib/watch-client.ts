/**
 * A /ws/watch client for e2e files and the console benchmark: opens the socket as a browser tab of
 * the console would (Host and Origin of the base domain, the user's bearer token or cookie), records
 * every frame, and lets a test wait on a condition over what arrived (never on time).
 *
 *   const w = await openWatch(px, { token });
 *   w.send({ type: "subscribe", id: "ws", channel: "workspaces" });
 *   await w.until("a snapshot", () => w.frames.find((f) => f.type === "snapshot"));
 */
import { WebSocket } from "ws";
import type { WatchChange, WatchServerFrame } from "../../proxy/console/protocol.ts";
import { WATCH_PATH } from "../../proxy/console/protocol.ts";
import { proxyOidcFlags } from "./oidc.ts";

export interface WatchTarget {
  address: string;
  port: number;
}

export interface WatchOptions {
  token?: string;
  cookie?: string;
  /** Host header (default `portico.test:{port}`, the base domain). */
  host?: string;
  /** Origin header (default `http://{host}`, the console's own); null: none. */
  origin?: string | null;
  /** Query string after /ws/watch (tests of odd upgrades). */
  query?: string;
}

export interface WatchClient {
  ws: WebSocket;
  frames: WatchServerFrame[];
  /** Every change of every `changes` frame of subscription `id`, in arrival order. */
  changes(id: string): WatchChange[];
  send(frame: unknown): void;
  /** Resolves with `check()`'s first truthy value, re-checked on every frame; rejects after `ms`. */
  until<T>(what: string, check: () => T | undefined | false, ms?: number): Promise<T>;
  /** The close code, once closed. */
  closed: Promise<number>;
  close(): void;
}

/** The status and body of a refused upgrade. */
export class UpgradeRefused extends Error {
  readonly status: number;
  readonly body: string;
  constructor(status: number, body: string) {
    super(`upgrade refused: ${status} ${body}`);
    this.status = status;
    this.body = body;
  }
}

export async function openWatch(px: WatchTarget, o: WatchOptions = {}): Promise<WatchClient> {
  const host = o.host ?? `portico.test:${px.port}`;
  const origin = o.origin === undefined ? `http://${host}` : o.origin;
  const ws = new WebSocket(`ws://${px.address}:${px.port}${WATCH_PATH}${o.query ?? ""}`, {
    headers: {
      host,
      ...(o.token ? { authorization: `Bearer ${o.token}` } : {}),
      ...(o.cookie ? { cookie: o.cookie } : {}),
    },
    ...(origin !== null ? { origin } : {}),
    perMessageDeflate: false,
  });
  const frames: WatchServerFrame[] = [];
  const listeners = new Set<() => void>();
  ws.on("message", (data, isBinary) => {
    if (!isBinary) frames.push(JSON.parse(String(data)) as WatchServerFrame);
    for (const l of [...listeners]) l();
  });
  const closed = new Promise<number>((resolve) => ws.once("close", (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("unexpected-response", (_req, res) => {
      let body = "";
      res.on("data", (d: Buffer) => (body += String(d)));
      res.on("end", () => reject(new UpgradeRefused(res.statusCode ?? 0, body)));
    });
    ws.once("error", reject);
  });
  const until = <T>(what: string, check: () => T | undefined | false, ms = 120_000) =>
    new Promise<T>((resolve, reject) => {
      const done = (v: T) => {
        clearTimeout(timer);
        listeners.delete(poll);
        resolve(v);
      };
      const poll = () => {
        const v = check();
        if (v) done(v);
      };
      const timer = setTimeout(() => {
        listeners.delete(poll);
        reject(
          new Error(`watch: no ${what} within ${ms} ms; frames: ${JSON.stringify(frames).slice(-2000)}`),
        );
      }, ms);
      listeners.add(poll);
      ws.once("close", poll);
      poll();
    });
  return {
    ws,
    frames,
    changes: (id) => frames.flatMap((f) => (f.type === "changes" && f.id === id ? f.changes : [])),
    send: (frame) => ws.send(typeof frame === "string" ? frame : JSON.stringify(frame)),
    until,
    closed,
    close: () => ws.close(),
  };
}

/** The proxy flags of the console's e2e files: real logins, users' workspaces in `{prefix}-{user}`, no rate limits. */
export function consoleProxyFlags(
  provider: { issuer: string; clientId: string; clientSecret: string },
  publicUrl: string,
  nsPrefix: string,
): string[] {
  return [
    ...proxyOidcFlags(provider, publicUrl),
    `--api-namespace=${nsPrefix}-{user}`,
    "--rate-limit-ip=0",
    "--rate-limit-user=0",
  ];
}
