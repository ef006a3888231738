/**
 * The caller's workspaces, live: from the watch's `workspaces` channel while the socket is open and
 * the server serves it, else from GET /api/v1/workspaces, asked again every POLL_MS — so the list
 * stays current on a proxy without /ws/watch, and between a drop and the resume.
 */
import type { WorkspaceItem } from "../../protocol.ts";
import type { Clock } from "./socket.ts";
import type { ConnState, WatchClient } from "./watch-client.ts";
import type { Workspace } from "./workspace.ts";

export const POLL_MS = 2000;

export interface StoreDeps {
  watch: Pick<WatchClient, "subscribe">;
  list(): Promise<Workspace[]>;
  clock: Clock;
}

export type Source = "watch" | "rest" | "none";

export class WorkspaceStore {
  items: Workspace[] = [];
  source: Source = "none";
  /** The last REST failure, shown until a list arrives. */
  error: string | undefined;
  private readonly deps: StoreDeps;
  private readonly listeners = new Set<() => void>();
  private watchLive = false;
  private timer: unknown;
  private polling = false;
  private stopped = false;
  private unsubscribe: (() => void) | undefined;

  constructor(deps: StoreDeps) {
    this.deps = deps;
  }

  start(): void {
    this.unsubscribe = this.deps.watch.subscribe<WorkspaceItem>("workspaces", undefined, {
      update: (items) => {
        this.watchLive = true;
        this.set(
          items.map((i) => i.view as unknown as Workspace),
          "watch",
        );
      },
      error: () => {
        this.watchLive = false; // the server does not serve the channel to us: REST it is
        this.poll();
      },
    });
    this.poll();
  }

  stop(): void {
    this.stopped = true;
    this.unsubscribe?.();
    this.deps.clock.clearTimeout(this.timer);
  }

  /** The watch socket's state: while it is not open, REST keeps the list current. */
  connection(state: ConnState): void {
    if (state !== "open") this.watchLive = false;
    if (!this.watchLive) this.poll();
  }

  /** Asks REST now (after an action, so its effect shows at once even without the watch). */
  async refresh(): Promise<void> {
    try {
      const items = await this.deps.list();
      this.error = undefined;
      if (!this.watchLive) this.set(items, "rest");
    } catch (e) {
      this.error = e instanceof Error ? e.message : String(e);
      this.emit();
    }
  }

  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  find(namespace: string, name: string): Workspace | undefined {
    return this.items.find((w) => w.namespace === namespace && w.name === name);
  }

  private poll(): void {
    if (this.polling || this.stopped) return;
    this.polling = true;
    const tick = async () => {
      if (this.watchLive || this.stopped) return void (this.polling = false);
      await this.refresh();
      this.timer = this.deps.clock.setTimeout(tick, POLL_MS);
    };
    void tick();
  }

  private set(items: Workspace[], source: Source): void {
    this.items = [...items].sort((a, b) =>
      `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`),
    );
    this.source = source;
    this.emit();
  }

  private emit(): void {
    for (const fn of this.listeners) fn();
  }
}
