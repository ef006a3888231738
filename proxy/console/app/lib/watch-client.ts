/**
 * The /ws/watch client: one socket per tab, shared by every view's subscriptions (protocol.ts).
 *
 * - Subscriptions outlive the socket: after a reconnect each is sent again with the resourceVersion
 *   of the last frame it got, so the server sends only what was missed (or a reset snapshot).
 * - An application ping every PING_INTERVAL_MS; no pong within PONG_TIMEOUT_MS means the path is dead
 *   (a proxy replica gone without a FIN): the socket is dropped and a new one opened.
 * - Reconnects back off (lib/backoff.ts); the attempt count resets only once the server has answered
 *   something, so a server that accepts and drops at once is not hammered.
 * Everything the browser provides (the socket, timers, randomness) is injected.
 */
import {
  PING_INTERVAL_MS,
  PONG_TIMEOUT_MS,
  type Channel,
  type ErrorFrame,
  type WatchClientFrame,
  type WatchObject,
  type WatchServerFrame,
} from "../../protocol.ts";
import { backoffDelay } from "./backoff.ts";
import { parseFrame, type Clock, type SocketLike } from "./socket.ts";
import { applyChanges, applySnapshot, emptyState, sortedItems, type SubState } from "./watch-state.ts";

export type ConnState = "connecting" | "open" | "offline";

export interface WatchListener<T extends WatchObject> {
  /** The subscription's full, sorted list after every snapshot or batch of changes. */
  update(items: T[]): void;
  /** An error frame about this subscription (unknown_channel, forbidden, too_many …). */
  error?(frame: ErrorFrame): void;
}

export interface WatchClientDeps {
  connect(): SocketLike;
  clock: Clock;
  random(): number;
  /** The connection's state, for the status line (aria-live) and the REST fallback. */
  onState?(state: ConnState, attempt: number): void;
}

interface Sub {
  id: string;
  channel: Channel;
  namespace?: string;
  state: SubState;
  listener: WatchListener<WatchObject>;
}

export class WatchClient {
  private readonly subs = new Map<string, Sub>();
  private socket: SocketLike | undefined;
  private open = false;
  private stopped = true;
  private attempt = 0;
  private nextId = 1;
  private pingTimer: unknown;
  private pongTimer: unknown;
  private retryTimer: unknown;
  state: ConnState = "offline";

  private readonly deps: WatchClientDeps;

  constructor(deps: WatchClientDeps) {
    this.deps = deps;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.dial();
  }

  stop(): void {
    this.stopped = true;
    this.deps.clock.clearTimeout(this.retryTimer);
    this.drop(1000);
  }

  /** Subscribes to `channel` (a namespace's objects only, when given); returns the unsubscribe. */
  subscribe<T extends WatchObject>(
    channel: Channel,
    namespace: string | undefined,
    listener: WatchListener<T>,
  ): () => void {
    const sub: Sub = {
      id: `s${this.nextId++}`,
      channel,
      ...(namespace ? { namespace } : {}),
      state: emptyState(),
      listener: listener as unknown as WatchListener<WatchObject>,
    };
    this.subs.set(sub.id, sub);
    if (this.open) this.sendSubscribe(sub);
    return () => {
      if (!this.subs.delete(sub.id)) return;
      if (this.open) this.send({ type: "unsubscribe", id: sub.id });
    };
  }

  private setState(s: ConnState): void {
    this.state = s;
    this.deps.onState?.(s, this.attempt);
  }

  private dial(): void {
    this.setState("connecting");
    let ws: SocketLike;
    try {
      ws = this.deps.connect();
    } catch {
      return this.closed();
    }
    this.socket = ws;
    ws.onopen = () => {
      if (this.socket !== ws) return;
      this.open = true;
      this.setState("open");
      for (const sub of this.subs.values()) this.sendSubscribe(sub);
      this.schedulePing();
    };
    ws.onmessage = (ev) => {
      if (this.socket === ws) this.receive(parseFrame<WatchServerFrame>(ev.data));
    };
    ws.onclose = () => {
      if (this.socket === ws) this.closed();
    };
    ws.onerror = () => undefined; // a close always follows
  }

  private sendSubscribe(sub: Sub): void {
    const rv = sub.state.resourceVersion;
    this.send({
      type: "subscribe",
      id: sub.id,
      channel: sub.channel,
      ...(sub.namespace ? { namespace: sub.namespace } : {}),
      ...(rv ? { resourceVersion: rv } : {}),
    });
  }

  private receive(frame: WatchServerFrame | undefined): void {
    if (!frame) return;
    this.attempt = 0; // the server answers: the next drop starts the backoff afresh
    if (frame.type === "pong") return this.deps.clock.clearTimeout(this.pongTimer);
    if (frame.type === "error") {
      const sub = frame.id ? this.subs.get(frame.id) : undefined;
      sub?.listener.error?.(frame);
      return;
    }
    const sub = this.subs.get(frame.id);
    if (!sub) return; // an answer for a subscription dropped meanwhile
    sub.state =
      frame.type === "snapshot"
        ? applySnapshot(frame.items, frame.resourceVersion)
        : applyChanges(sub.state, frame.changes, frame.resourceVersion);
    sub.listener.update(sortedItems(sub.state));
  }

  private schedulePing(): void {
    const { clock } = this.deps;
    this.pingTimer = clock.setTimeout(() => {
      if (!this.open) return;
      this.send({ type: "ping" });
      clock.clearTimeout(this.pongTimer);
      this.pongTimer = clock.setTimeout(() => this.drop(4000, "no pong"), PONG_TIMEOUT_MS);
      this.schedulePing();
    }, PING_INTERVAL_MS);
  }

  private send(frame: WatchClientFrame): void {
    try {
      this.socket?.send(JSON.stringify(frame));
    } catch {
      // A socket closing under us: its close event reconnects.
    }
  }

  /** Closes the current socket ourselves; a reconnect follows unless stopped. */
  private drop(code: number, reason = ""): void {
    const ws = this.socket;
    if (!ws) return;
    try {
      ws.close(code === 1000 ? 1000 : 4000, reason);
    } catch {
      // already closed
    }
    this.closed();
  }

  private closed(): void {
    const { clock } = this.deps;
    this.socket = undefined;
    this.open = false;
    clock.clearTimeout(this.pingTimer);
    clock.clearTimeout(this.pongTimer);
    this.setState("offline");
    if (this.stopped) return;
    const delay = backoffDelay(this.attempt++, this.deps.random());
    this.retryTimer = clock.setTimeout(() => {
      if (!this.stopped) this.dial();
    }, delay);
  }
}
