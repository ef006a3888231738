/**
 * Read-your-writes over a watched cache: the objects a component just created, changed or deleted,
 * laid over what its watch has delivered so far. A client that creates a workspace and lists at once
 * must see it, and a per-user limit counted from the cache must count it, although the watch event
 * may arrive a few milliseconds later (the proxy's API: CI saw a list miss a create made 2 ms before).
 *
 * An entry wins while it is newer than the cached object (resourceVersions compared as integers, as
 * client-go's MutationCache does: not promised by the API, true of etcd3), or while the cache has no
 * such object yet (a create). A deletion hides the cached object until the watch delivers a newer
 * version of it or drops it. Entries go once the watch catches up (`observed`), and after `ttlMs` in
 * any case, so a watch that never delivers cannot pin a stale object. Per process: another replica
 * sees the write when its own watch does.
 */

interface Meta {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string };
}

/** Whether resourceVersion `a` is newer than `b`; undefined when either is not an integer. */
export function newerVersion(a: string | undefined, b: string | undefined): boolean | undefined {
  if (!a || !b || !/^\d+$/.test(a) || !/^\d+$/.test(b)) return undefined;
  return BigInt(a) > BigInt(b);
}

const keyOf = (o: Meta) => `${o.metadata?.namespace ?? ""}/${o.metadata?.name ?? ""}`;

interface Entry<T> {
  obj: T;
  deleted: boolean;
  until: number;
}

export interface RecentWritesOptions {
  /** How long an entry may outlive the watch's silence (default 10 s). */
  ttlMs?: number;
  now?: () => number;
}

export class RecentWrites<T extends Meta> {
  readonly #entries = new Map<string, Entry<T>>();
  readonly #ttlMs: number;
  readonly #now: () => number;

  constructor(options: RecentWritesOptions = {}) {
    this.#ttlMs = options.ttlMs ?? 10_000;
    this.#now = options.now ?? Date.now;
  }

  /** The API server's answer to this process's create or update. */
  wrote(obj: T): void {
    this.#entries.set(keyOf(obj), { obj, deleted: false, until: this.#now() + this.#ttlMs });
  }

  /** This process deleted `last` (the version it knew): hidden until the watch says more. */
  deleted(last: T): void {
    this.#entries.set(keyOf(last), { obj: last, deleted: true, until: this.#now() + this.#ttlMs });
  }

  /** The watch delivered `obj` (added, updated or deleted): entries it supersedes go. */
  observed(obj: Meta): void {
    const key = keyOf(obj);
    const entry = this.#entries.get(key);
    if (!entry) return;
    const theirs = obj.metadata?.resourceVersion;
    const mine = entry.obj.metadata?.resourceVersion;
    const newer = newerVersion(theirs, mine);
    // A write's own event carries its version; a deletion's event (or a later update) a newer one.
    if (newer === undefined || newer || (!entry.deleted && theirs === mine)) this.#entries.delete(key);
  }

  /** What a read of `key` should see, given the cache's `cached`; drops an entry that no longer applies. */
  #resolve(key: string, cached: T | undefined): T | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return cached;
    const mine = entry.obj.metadata?.resourceVersion;
    const cachedNewer = cached ? newerVersion(cached.metadata?.resourceVersion, mine) : false;
    const stale = entry.until < this.#now() || cachedNewer !== false;
    const caughtUp = !entry.deleted && cached?.metadata?.resourceVersion === mine;
    if (stale || caughtUp) {
      this.#entries.delete(key);
      return cached;
    }
    return entry.deleted ? undefined : entry.obj;
  }

  /** One object as this process should see it. */
  get(namespace: string, name: string, cached: T | undefined): T | undefined {
    return this.#resolve(`${namespace}/${name}`, cached);
  }

  /** The cached objects as this process should see them, with its creates the watch has not brought yet. */
  list(cached: Iterable<T>): T[] {
    if (!this.#entries.size) return [...cached];
    const out: T[] = [];
    const seen = new Set<string>();
    for (const obj of cached) {
      const key = keyOf(obj);
      seen.add(key);
      const mine = this.#resolve(key, obj);
      if (mine) out.push(mine);
    }
    for (const key of [...this.#entries.keys()]) {
      if (seen.has(key)) continue;
      const mine = this.#resolve(key, undefined);
      if (mine) out.push(mine);
    }
    return out;
  }

  /** Entries held (for tests and a gauge). */
  get size(): number {
    return this.#entries.size;
  }
}
