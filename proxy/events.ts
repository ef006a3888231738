/**
 * Status streams: Server-Sent Events with a workspace's phase, conditions and whether the proxy can
 * route to it, pushed as the informer sees changes.
 *
 * Stateless across replicas: the stream is a sequence of snapshots, and an event's id is the
 * workspace's resourceVersion plus the routable bit. A client that reconnects with `Last-Event-ID`
 * (EventSource does so by itself) gets the current snapshot only if it differs from the one it saw, on
 * whichever replica it lands. Heartbeat comments keep idle streams open through intermediaries.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Workspace } from "../crds/types.ts";
import { stepsOf, type Step, type StepCondition } from "./pages/steps.ts";

/** What one status event carries. */
export interface Snapshot {
  namespace: string;
  name: string;
  phase: string;
  /** The workspace's Ready condition is True. */
  ready: boolean;
  /** The proxy has a route with an upstream: loading the IDE now works. */
  routable: boolean;
  message: string;
  url: string;
  /** With `since`: the condition's lastTransitionTime. */
  conditions: StepCondition[];
  /** The workspace clones a repository (spec.repository). */
  repository: boolean;
  /** Storage, clone, pod, ready: what the waiting page shows (proxy/pages/steps.ts). */
  steps: Step[];
}

/** The event id of a snapshot: resourceVersion and routable bit. */
export const eventId = (rv: string, s: Snapshot): string => `${rv}.${s.routable ? 1 : 0}`;

/** A snapshot of `ws` (pure). */
export function snapshotOf(ws: Workspace, routable: boolean): Snapshot {
  const conditions = (ws.status?.conditions ?? []).map((c) => ({
    type: c.type,
    status: c.status,
    reason: c.reason,
    message: c.message,
    ...(c.lastTransitionTime ? { since: c.lastTransitionTime } : {}),
  }));
  const phase = ws.status?.phase ?? "Pending";
  const repository = !!ws.spec.repository;
  return {
    namespace: ws.metadata.namespace ?? "",
    name: ws.metadata.name ?? "",
    phase,
    ready: conditions.some((c) => c.type === "Ready" && c.status === "True"),
    routable,
    message: ws.status?.message ?? "",
    url: ws.status?.url ?? "",
    conditions,
    repository,
    steps: stepsOf({ phase, routable, repository, conditions }),
  };
}

/** One SSE frame. */
export function frame(event: string, id: string | undefined, data: unknown): string {
  return `${id === undefined ? "" : `id: ${id}\n`}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

interface Entry {
  id: string;
  snapshot: Snapshot;
  text: string;
}

export interface EventHubOptions {
  heartbeatMs: number;
  /** Reconnect delay suggested to clients. */
  retryMs?: number;
  onStreamsChanged?: (open: number) => void;
}

/** Latest snapshot per workspace and the open streams that follow it. */
export class EventHub {
  private readonly latest = new Map<string, Entry>();
  private readonly streams = new Map<string, Set<ServerResponse>>();
  private readonly timer: ReturnType<typeof setInterval>;
  private readonly o: EventHubOptions;
  private open = 0;

  constructor(o: EventHubOptions) {
    this.o = o;
    this.timer = setInterval(() => this.heartbeat(), o.heartbeatMs);
    this.timer.unref();
  }

  /** Records a workspace's state; pushes it to its streams when something a client sees changed. */
  update(ws: Workspace, routable: boolean): void {
    const key = `${ws.metadata.namespace}/${ws.metadata.name}`;
    const snapshot = snapshotOf(ws, routable);
    const text = JSON.stringify(snapshot);
    const old = this.latest.get(key);
    if (old?.text === text) return;
    const entry = { id: eventId(ws.metadata.resourceVersion ?? "0", snapshot), snapshot, text };
    this.latest.set(key, entry);
    for (const res of this.streams.get(key) ?? []) this.write(res, frame("status", entry.id, snapshot));
  }

  /** The workspace is gone: tell its streams and end them. */
  delete(namespace: string, name: string): void {
    const key = `${namespace}/${name}`;
    this.latest.delete(key);
    for (const res of this.streams.get(key) ?? []) {
      this.write(res, frame("deleted", undefined, { namespace, name }));
      res.end();
    }
  }

  /** The latest snapshot of a workspace, if it exists. */
  get(namespace: string, name: string): Snapshot | undefined {
    return this.latest.get(`${namespace}/${name}`)?.snapshot;
  }

  /**
   * Serves the stream of `namespace/name` on `res`; 404 JSON when the workspace is unknown. The
   * current snapshot is sent first unless `Last-Event-ID` says the client already has it. Returns
   * whether a stream opened (false: the 404 was the whole answer).
   */
  serve(req: IncomingMessage, res: ServerResponse, namespace: string, name: string): boolean {
    const key = `${namespace}/${name}`;
    const entry = this.latest.get(key);
    if (!entry) {
      const body = JSON.stringify({ error: "not_found", message: `no workspace ${key}` });
      res.writeHead(404, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" });
      res.end(body);
      return false;
    }
    res.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-store",
      "x-accel-buffering": "no",
    });
    res.write(`retry: ${this.o.retryMs ?? 2000}\n\n`);
    if (req.headers["last-event-id"] !== entry.id) this.write(res, frame("status", entry.id, entry.snapshot));
    let set = this.streams.get(key);
    if (!set) this.streams.set(key, (set = new Set()));
    set.add(res);
    this.o.onStreamsChanged?.(++this.open);
    res.once("close", () => {
      set.delete(res);
      if (set.size === 0 && this.streams.get(key) === set) this.streams.delete(key);
      this.o.onStreamsChanged?.(--this.open);
    });
    return true;
  }

  /** Ends every stream and the heartbeat timer. */
  close(): void {
    clearInterval(this.timer);
    for (const set of this.streams.values()) for (const res of set) res.end();
  }

  private heartbeat(): void {
    for (const set of this.streams.values()) for (const res of set) this.write(res, ": heartbeat\n\n");
  }

  private write(res: ServerResponse, text: string): void {
    if (!res.writableEnded && !res.destroyed) res.write(text);
  }
}
