/**
 * One subscription of one /ws/watch socket: which objects the client has (so a change becomes
 * ADDED, MODIFIED or DELETED for *this* caller), what it is owed, and where it may resume from.
 * Pure: entries in, frame text out; the socket's batching decides when to call `frame()`.
 *
 * Visibility follows the caller, not the object: a change that makes an object visible is ADDED, one
 * that hides it (sharing withdrawn) is DELETED, and changes of objects the caller never had are not
 * sent at all.
 */
import type { Channel } from "./protocol.ts";
import type { Access } from "../auth/identity.ts";
import type { Entry, Op } from "./watch-history.ts";

/** Whether the caller may see an object admitting `access` (absent: admins only). */
export type Viewer = (access: Access | undefined) => boolean;

export class Subscription {
  readonly id: string;
  readonly channel: Channel;
  readonly namespace: string | undefined;
  /** Keys (`ns/name`) of the objects the client holds. */
  readonly known = new Set<string>();
  /** Changes at or below this the client already has (it resumed from a replica that was ahead). */
  #floor: bigint;
  /** The resourceVersion the client may resume from once it has what is pending. */
  #position: bigint;
  #pending: string[] = [];
  /** The next frame is owed even when empty: the answer to a resume. */
  #ack = false;

  constructor(o: { id: string; channel: Channel; namespace?: string; position: bigint }) {
    this.id = o.id;
    this.channel = o.channel;
    this.namespace = o.namespace;
    this.#floor = o.position;
    this.#position = o.position;
  }

  /** Whether a change in `namespace` concerns this subscription at all. */
  covers(namespace: string): boolean {
    return this.namespace === undefined || this.namespace === namespace;
  }

  /**
   * A live change. `force`: a re-evaluation of visibility (a workspace's sharing changed), which has
   * no place in the channel's order and is never dropped by the floor.
   */
  offer(entry: Entry, may: Viewer, force = false): void {
    if (!this.covers(entry.namespace)) return;
    const visible = entry.op !== "DELETED" && may(entry.now);
    const had = this.known.has(entry.key);
    let op: Op | undefined;
    if (visible) {
      op = had ? "MODIFIED" : "ADDED";
      this.known.add(entry.key);
    } else if (had) {
      op = "DELETED";
      this.known.delete(entry.key);
    }
    // The client has this one already (it came through another replica): keep `known` true, send nothing.
    if (!force && entry.rv <= this.#floor) return;
    if (!force && entry.rv > this.#position) this.#position = entry.rv;
    if (op) this.#push(op, entry.json);
  }

  /**
   * Changes the client missed, in order, judged by visibility before and after each (the client's
   * holdings are not known here); then `known` is what is visible now (`current`).
   */
  replay(entries: readonly Entry[], may: Viewer, current: Iterable<string>): void {
    for (const e of entries) {
      if (!this.covers(e.namespace)) continue;
      const was = e.before !== undefined && may(e.before);
      const is = e.op !== "DELETED" && may(e.now);
      const op: Op | undefined = is ? (was ? "MODIFIED" : "ADDED") : was ? "DELETED" : undefined;
      if (op) this.#push(op, e.json);
      if (e.rv > this.#position) this.#position = e.rv;
    }
    this.known.clear();
    for (const k of current) this.known.add(k);
    // An empty answer still tells the client its resume was served.
    this.#ack = true;
  }

  #push(op: Op, json: string): void {
    this.#pending.push(`{"op":"${op}","object":${json}}`);
  }

  /** Whether a frame is owed. */
  get owed(): boolean {
    return this.#pending.length > 0 || this.#ack;
  }

  /** The `changes` frame of everything pending, or undefined when nothing is owed. Clears it. */
  frame(): string | undefined {
    if (this.#pending.length === 0 && !this.#ack) return undefined;
    const text =
      `{"type":"changes","id":${JSON.stringify(this.id)},"changes":[${this.#pending.join(",")}],` +
      `"resourceVersion":"${this.#position}"}`;
    this.#pending = [];
    this.#ack = false;
    return text;
  }

  /** Where the client stands (tests). */
  get position(): bigint {
    return this.#position;
  }
}
