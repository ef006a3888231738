/**
 * What one watch subscription knows: the objects of its channel keyed by namespace/name, and the
 * resourceVersion to resume from. Pure functions over an immutable-by-convention state, so the merge
 * of a snapshot and the changes after it is tested without a socket.
 */
import type { WatchChange, WatchObject } from "../../protocol.ts";

export interface SubState<T extends WatchObject = WatchObject> {
  items: ReadonlyMap<string, T>;
  /** The last resourceVersion the server gave; absent until the first snapshot. */
  resourceVersion?: string;
}

export const emptyState = <T extends WatchObject>(): SubState<T> => ({ items: new Map() });

export const keyOf = (o: { namespace: string; name: string }): string => `${o.namespace}/${o.name}`;

/**
 * A snapshot: the full list. A first snapshot or a reset replaces everything; a snapshot that is not
 * a reset (the server answered a resume with the whole list) replaces as well — it is the truth now.
 */
export function applySnapshot<T extends WatchObject>(
  items: readonly T[],
  resourceVersion: string,
): SubState<T> {
  return { items: new Map(items.map((i) => [keyOf(i), i])), resourceVersion };
}

/**
 * Changes after the state's resourceVersion, in order. A change whose object is older than the one
 * held (a repeat after a resume) is skipped, so nothing is applied twice.
 */
export function applyChanges<T extends WatchObject>(
  state: SubState<T>,
  changes: readonly WatchChange[],
  resourceVersion: string,
): SubState<T> {
  const items = new Map(state.items);
  for (const { op, object } of changes) {
    const key = keyOf(object);
    const held = items.get(key);
    if (held && op !== "DELETED" && !newer(object.resourceVersion, held.resourceVersion)) continue;
    if (op === "DELETED") items.delete(key);
    else items.set(key, object as T);
  }
  return { items, resourceVersion };
}

/**
 * Whether resourceVersion `a` is after `b`. Kubernetes says they are opaque, but etcd's are integers
 * and the watch cache compares them as such; when either is not an integer, any difference counts.
 */
export function newer(a: string, b: string): boolean {
  if (/^\d+$/.test(a) && /^\d+$/.test(b)) return BigInt(a) > BigInt(b);
  return a !== b;
}

/** The items, sorted by namespace then name (a stable order for lists). */
export function sortedItems<T extends WatchObject>(state: SubState<T>): T[] {
  return [...state.items.values()].sort((x, y) => keyOf(x).localeCompare(keyOf(y)));
}
