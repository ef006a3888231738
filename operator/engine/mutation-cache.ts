/**
 * A watched cache overlaid with the objects the operator itself just wrote (client-go's
 * MutationCache): the answer to a /status write is newer than what the watch has delivered yet,
 * and a reconcile that runs before the watch catches up (a child's event arrives first) would
 * otherwise compute from the old status, find it differs and write again — a write the API server
 * refuses (409: the resourceVersion is stale) and a retry after backoff, both for nothing.
 *
 * An overlay entry wins only while its resourceVersion is newer than the cached object's, compared
 * as integers (as client-go does: not promised by the API, true of etcd3; a version that is not an
 * integer drops the entry). It is dropped once the cache catches up, when the object leaves the
 * cache, and after `ttlMs` in any case, so a watch that never delivers cannot pin an old object.
 */
import { newerVersion } from "../../common/runtime/recent-writes.ts";
import type { Cache } from "../workspace/reconcile.ts";

interface Meta {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string };
}

export interface MutationCache<T> extends Cache<T> {
  /** Records an object the API server returned for the operator's own write. */
  mutated(obj: T): void;
}

export interface MutationCacheOptions<T> {
  /** How long an entry may outlive the watch's silence (default 10 s). */
  ttlMs?: number;
  now?: () => number;
  /** Applied to written objects so they look like the cache's (its trim). */
  trim?: (obj: T) => T;
}

const keyOf = (name: string | undefined, namespace: string | undefined) => `${namespace ?? ""}/${name ?? ""}`;

export function withMutations<T extends Meta>(
  cache: Cache<T>,
  options: MutationCacheOptions<T> = {},
): MutationCache<T> {
  const ttlMs = options.ttlMs ?? 10_000;
  const now = options.now ?? Date.now;
  const trim = options.trim ?? ((o: T) => o);
  const entries = new Map<string, { obj: T; until: number }>();

  /** The newer of the cached object and the overlay's; drops an entry that no longer applies. */
  const pick = (key: string, cached: T | undefined): T | undefined => {
    const entry = entries.get(key);
    if (!entry) return cached;
    const newer = cached
      ? newerVersion(entry.obj.metadata?.resourceVersion, cached.metadata?.resourceVersion)
      : undefined;
    if (!cached || !newer || entry.until < now()) {
      entries.delete(key);
      return cached;
    }
    return entry.obj;
  };

  return {
    get: (name, namespace) => pick(keyOf(name, namespace), cache.get(name, namespace)),
    list: (namespace) => {
      const items = cache.list(namespace);
      if (!entries.size) return items;
      return items.map((o) => pick(keyOf(o.metadata?.name, o.metadata?.namespace), o)!);
    },
    mutated: (obj) => {
      const key = keyOf(obj.metadata?.name, obj.metadata?.namespace);
      entries.set(key, { obj: trim(obj), until: now() + ttlMs });
    },
  };
}
