/**
 * What this proxy replica saw of each workspace's activity, in memory (docs/lifecycle.md). The hot
 * path — every request forwarded to an IDE, every client-to-IDE WebSocket message over the class's
 * limit — calls `touch`: two Map lookups and a number stored, no allocation once the workspace has
 * an entry (a nested Map by namespace, then name, so no key string is built per call). Streams that
 * are activity for as long as they are open (console terminals and log streams) `hold` instead.
 *
 * Nothing here writes anywhere: the flusher (./flusher.ts) reads `entries()` every few seconds,
 * decides with `dueReports` (./due.ts) and writes the annotation.
 */

/** Which annotation a signal feeds: `portico.dev/activity-proxy` or `portico.dev/activity-console`. */
export type ActivityKind = "proxy" | "console";

/** One workspace's activity as this replica saw it. */
export interface ActivityEntry {
  readonly namespace: string;
  readonly name: string;
  /** Newest time (ms) seen per kind; 0: never. */
  seen: { proxy: number; console: number };
  /** Open holds per kind (a held kind is active now, whenever it is asked). */
  holds: { proxy: number; console: number };
  /** When this replica last wrote each kind (ms; 0: never): at most one write per report interval. */
  wrote: { proxy: number; console: number };
}

export class ActivityTracker {
  readonly #byNamespace = new Map<string, Map<string, ActivityEntry>>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  #entry(namespace: string, name: string): ActivityEntry {
    let names = this.#byNamespace.get(namespace);
    if (!names) this.#byNamespace.set(namespace, (names = new Map()));
    let e = names.get(name);
    if (!e) {
      e = {
        namespace,
        name,
        seen: { proxy: 0, console: 0 },
        holds: { proxy: 0, console: 0 },
        wrote: { proxy: 0, console: 0 },
      };
      names.set(name, e);
    }
    return e;
  }

  /** The workspace was active just now (hot path: O(1), no allocation after its first call). */
  touch(namespace: string, name: string, kind: ActivityKind): void {
    this.#entry(namespace, name).seen[kind] = this.#now();
  }

  /**
   * The workspace is active for as long as the returned function is not called (a console stream
   * while open). Releasing counts as activity at that moment; a second call does nothing.
   */
  hold(namespace: string, name: string, kind: ActivityKind): () => void {
    const e = this.#entry(namespace, name);
    e.holds[kind]++;
    e.seen[kind] = this.#now();
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      e.holds[kind]--;
      e.seen[kind] = this.#now();
    };
  }

  get(namespace: string, name: string): ActivityEntry | undefined {
    return this.#byNamespace.get(namespace)?.get(name);
  }

  /** Every workspace with an entry (the flusher's input). */
  *entries(): IterableIterator<ActivityEntry> {
    for (const names of this.#byNamespace.values()) yield* names.values();
  }

  /** Forgets a workspace (gone from the cache). Its open holds keep their own entry alive until released. */
  forget(namespace: string, name: string): void {
    const names = this.#byNamespace.get(namespace);
    if (!names?.delete(name)) return;
    if (names.size === 0) this.#byNamespace.delete(namespace);
  }

  get size(): number {
    let n = 0;
    for (const names of this.#byNamespace.values()) n += names.size;
    return n;
  }
}
