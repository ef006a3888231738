/**
 * One channel's recent changes, in resourceVersion order, so that a client reconnecting with the
 * resourceVersion of the last frame it got can be sent exactly the changes after it. Pure: no timers,
 * no I/O; the watched cache feeds it (`listed`, `record`).
 *
 * Why resume works across replicas: etcd revisions are one global counter, so every replica's watch
 * of a resource delivers the same changes with the same resourceVersions, each resource's in order.
 * A replica's history is complete from the resourceVersion of its last list on (`coveredFrom`): every
 * change after it reached this replica's watch. A client that was at `R` on another replica has seen
 * every change up to `R`; if `R >= coveredFrom` (and nothing after `R` was evicted), the entries after
 * `R` are exactly what it missed. If this replica has not caught up to `R` yet, it will: the changes
 * it then delivers at or below `R` are ones the client has, and the subscription drops them (its
 * floor, watch-subscription.ts).
 *
 * A list (the first, a relist after a watch restart, after silence or after 410 Gone) may have missed
 * changes that happened before it: coverage restarts at its resourceVersion and older entries go.
 * The changes a relist itself reveals (its diff against the cache) are tagged with the list's
 * resourceVersion: an object's own version may be older than changes already recorded.
 */
import type { Access } from "../auth/identity.ts";

export type Op = "ADDED" | "MODIFIED" | "DELETED";

/** One change as every subscriber of the channel may receive it. */
export interface Entry {
  /** Where it sits in the channel's order (the object's resourceVersion, or the relist's). */
  rv: bigint;
  op: Op;
  namespace: string;
  /** `namespace/name`. */
  key: string;
  /** The item (protocol.ts WatchObject) as JSON: serialized once for every subscriber. */
  json: string;
  /** Who may see the object after the change (absent: nobody but admins; DELETED: the last state's). */
  now: Access | undefined;
  /** Who could see it before (absent for ADDED). */
  before: Access | undefined;
}

/** A resourceVersion as an integer, or undefined when it is not one (then a resume cannot be served). */
export function rvOf(text: string | undefined): bigint | undefined {
  return text && /^\d{1,30}$/.test(text) ? BigInt(text) : undefined;
}

export class ChannelHistory {
  readonly #max: number;
  /** A ring of at most `max` entries, oldest first from `#start`. */
  #entries: Entry[] = [];
  #start = 0;
  /** The resourceVersion of the last list: complete from here on. Undefined until the first list. */
  #coveredFrom: bigint | undefined;
  /** The newest resourceVersion this channel has seen (list or change). */
  #high = 0n;

  constructor(maxEntries: number) {
    if (!(maxEntries > 0)) throw new Error("ChannelHistory: maxEntries must be > 0");
    this.#max = maxEntries;
  }

  /** A list answered at `rv`: history before it can no longer be trusted to be complete. */
  listed(rv: bigint): void {
    this.#entries = [];
    this.#start = 0;
    this.#coveredFrom = rv;
    if (rv > this.#high) this.#high = rv;
  }

  /**
   * Where a change of an object at version `objRv` sits: its own version when it came from the
   * watch (newer than the last list), else the list's (a relist's diff).
   */
  positionOf(objRv: bigint | undefined): bigint {
    const floor = this.#coveredFrom ?? 0n;
    return objRv !== undefined && objRv > floor ? objRv : floor;
  }

  /** Records a change (watch event or relist diff); evicts the oldest past the bound. */
  record(entry: Entry): void {
    if (entry.rv > this.#high) this.#high = entry.rv;
    // A relist's diff sits at the list's version, which clients resumable here have already passed.
    if (this.#coveredFrom !== undefined && entry.rv <= this.#coveredFrom) return;
    if (this.#entries.length - this.#start >= this.#max) {
      this.#coveredFrom = this.#entries[this.#start]!.rv;
      this.#start++;
      // Compact now and then rather than shifting on every eviction.
      if (this.#start >= this.#max) {
        this.#entries = this.#entries.slice(this.#start);
        this.#start = 0;
      }
    }
    this.#entries.push(entry);
  }

  /** The newest resourceVersion seen: what a snapshot taken now is current to. */
  get high(): bigint {
    return this.#high;
  }

  /** Entries kept (for metrics and tests). */
  get size(): number {
    return this.#entries.length - this.#start;
  }

  /**
   * The entries after `rv`, oldest first, when this history holds all of them; undefined when it
   * cannot tell (before the first list, `rv` older than coverage).
   */
  since(rv: bigint): Entry[] | undefined {
    if (this.#coveredFrom === undefined || rv < this.#coveredFrom) return undefined;
    const out: Entry[] = [];
    // Newest first until `rv`: a resuming client is usually close to the end.
    for (let i = this.#entries.length - 1; i >= this.#start; i--) {
      const e = this.#entries[i]!;
      if (e.rv <= rv) break;
      out.push(e);
    }
    return out.reverse();
  }
}
