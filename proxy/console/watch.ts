/**
 * /ws/watch: one multiplexed WebSocket per browser tab (protocol.ts). The surface
 * (proxy/surfaces/console.ts) has identified the caller, checked the origin and the per-user cap;
 * this serves the open socket:
 *
 *   frame → allowance (flood: 1008) → parse (watch-frames.ts; refused: an `error` frame, the socket
 *   stays, until too many: 1008) → subscribe / unsubscribe / ping → the hub (watch-hub.ts).
 *
 * Changes are batched per socket: at most one flush per BATCH_MS, each subscription's changes of a
 * burst in one `changes` frame. A client that does not read (its send buffer past MAX_BUFFERED) is
 * closed with 1001, to reconnect and resume, rather than buffered without limit. The server pings
 * every PING_INTERVAL_MS; a peer that has not answered the previous ping by then is terminated.
 */
import type { RawData, WebSocket } from "ws";
import type { Logger } from "../../common/runtime/log.ts";
import type { Identity } from "../auth/identity.ts";
import type { WsEndpoint } from "../surfaces/console.ts";
import { CLOSE, PING_INTERVAL_MS, type ErrorFrame, type WatchClientFrame } from "./protocol.ts";
import {
  FRAME_BURST,
  MAX_REFUSED_FRAMES,
  parseWatchFrame,
  takeFrame,
  type Allowance,
  type Refused,
} from "./watch-frames.ts";
import { guarded } from "./socket.ts";
import type { WatchHub } from "./watch-hub.ts";
import type { Subscription } from "./watch-subscription.ts";

/** At most one flush of a socket's changes per this many ms. */
export const BATCH_MS = 100;
/** Bytes queued for a client past which it is too slow and is closed. */
export const MAX_BUFFERED = 4 * 1024 * 1024;

export interface WatchEndpointOptions {
  hub: WatchHub;
  maxSubscriptions: number;
  log: Logger;
  /** For tests. */
  pingIntervalMs?: number;
  batchMs?: number;
  now?: () => number;
}

interface Shared {
  hub: WatchHub;
  log: Logger;
  maxSubscriptions: number;
  batchMs: number;
  now: () => number;
}

type SubscribeFrame = Extract<WatchClientFrame, { type: "subscribe" }>;

/** One open socket: kept small, it lives as long as a browser tab. */
class Conn {
  readonly ws: WebSocket;
  readonly who: Identity;
  readonly #s: Shared;
  readonly #subs = new Map<string, Subscription>();
  readonly #owed = new Set<Subscription>();
  readonly #allowance: Allowance;
  #refused = 0;
  alive = true;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #lastFlush = 0;

  constructor(ws: WebSocket, who: Identity, s: Shared) {
    this.ws = ws;
    this.who = who;
    this.#s = s;
    this.#allowance = { tokens: FRAME_BURST, last: s.now() };
  }

  send(text: string): void {
    const { ws } = this;
    if (ws.readyState !== ws.OPEN) return;
    if (ws.bufferedAmount + text.length > MAX_BUFFERED) {
      this.#s.log.info("console watch: client too slow, closing", { user: this.who.user });
      ws.close(CLOSE.goingAway, "too slow: reconnect and resume");
      return;
    }
    ws.send(text);
  }

  /** A frame from the client. */
  frame(data: Buffer, isBinary: boolean): void {
    if (!takeFrame(this.#allowance, this.#s.now())) {
      this.#s.log.info("console watch: frame flood, closing", { user: this.who.user });
      return this.ws.close(CLOSE.policy, "too many frames");
    }
    const parsed = parseWatchFrame(data, isBinary);
    if ("refused" in parsed) return this.#refuse(parsed.refused);
    const f = parsed.frame;
    if (f.type === "ping") return this.send('{"type":"pong"}');
    if (f.type === "subscribe") return this.#subscribe(f);
    const sub = this.#subs.get(f.id);
    if (!sub)
      return this.#refuse({ code: "not_found", id: f.id, message: `no subscription ${f.id} on this socket` });
    this.#s.hub.close(sub);
    this.#subs.delete(f.id);
    this.#owed.delete(sub);
  }

  /** The socket closed: every subscription goes. */
  closed(): void {
    for (const sub of this.#subs.values()) this.#s.hub.close(sub);
    this.#subs.clear();
    this.#owed.clear();
    if (this.#timer) clearTimeout(this.#timer);
  }

  #subscribe(f: SubscribeFrame): void {
    const max = this.#s.maxSubscriptions;
    if (this.#subs.has(f.id))
      return this.#refuse({
        code: "duplicate_id",
        id: f.id,
        message: `subscription ${f.id} exists: unsubscribe it first or pick another id`,
      });
    if (this.#subs.size >= max) {
      this.#refuse({ code: "too_many", id: f.id, message: `a socket may hold ${max} subscriptions` });
      return this.ws.close(CLOSE.policy, "too many subscriptions");
    }
    const holder: { sub?: Subscription } = {};
    const { sub, first } = this.#s.hub.open(this.who, f, () => holder.sub && this.#schedule(holder.sub));
    holder.sub = sub;
    this.#subs.set(f.id, sub);
    this.send(first);
  }

  #refuse(r: Refused): void {
    const frame: ErrorFrame = {
      type: "error",
      code: r.code,
      message: r.message,
      ...(r.id ? { id: r.id } : {}),
    };
    this.send(JSON.stringify(frame));
    if (++this.#refused > MAX_REFUSED_FRAMES) this.ws.close(CLOSE.policy, "too many refused frames");
  }

  /** At most one flush per batch interval: a burst of changes leaves as one frame per subscription. */
  #schedule(sub: Subscription): void {
    this.#owed.add(sub);
    if (this.#timer) return;
    const wait = Math.max(0, this.#lastFlush + this.#s.batchMs - this.#s.now());
    this.#timer = setTimeout(() => this.#flush(), wait);
  }

  #flush(): void {
    this.#timer = undefined;
    this.#lastFlush = this.#s.now();
    const owed = [...this.#owed];
    this.#owed.clear();
    for (const sub of owed) {
      const text = sub.frame();
      if (text) this.send(text);
    }
  }
}

export interface WatchEndpoint extends WsEndpoint {
  /** Open sockets (metrics, tests). */
  readonly size: number;
  /** Stops the ping timer and closes every socket with 1001 (shutdown). */
  close(): void;
}

export function watchEndpoint(o: WatchEndpointOptions): WatchEndpoint {
  const shared: Shared = {
    hub: o.hub,
    log: o.log,
    maxSubscriptions: o.maxSubscriptions,
    batchMs: o.batchMs ?? BATCH_MS,
    now: o.now ?? (() => performance.now()),
  };
  const conns = new Set<Conn>();
  // One timer for every socket: an idle connection costs no timer of its own.
  const pinger = setInterval(() => {
    for (const c of conns) {
      if (!c.alive) {
        c.ws.terminate();
        continue;
      }
      c.alive = false;
      c.ws.ping();
    }
  }, o.pingIntervalMs ?? PING_INTERVAL_MS);
  pinger.unref();

  return {
    open(ws: WebSocket, who: Identity) {
      const c = new Conn(ws, who, shared);
      conns.add(c);
      ws.on(
        "message",
        guarded(ws, o.log, "console watch", (data: RawData, isBinary: boolean) =>
          c.frame(toBuffer(data), isBinary),
        ),
      );
      ws.on("pong", () => (c.alive = true));
      ws.on("error", (err) => o.log.debug("console watch: socket error", { err: String(err) }));
      ws.on("close", () => {
        conns.delete(c);
        c.closed();
      });
    },
    get size() {
      return conns.size;
    },
    close() {
      clearInterval(pinger);
      for (const c of conns) c.ws.close(CLOSE.goingAway, "the proxy is shutting down: reconnect");
    },
  };
}

function toBuffer(data: unknown): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data as Buffer[]);
  return Buffer.from(data as ArrayBuffer);
}
