/**
 * The three /ws/watch channels of one proxy: fed by watched caches (Workspaces: the proxy's own;
 * Pods and Events: trimmed caches made here, only when the console is on), each change turned into
 * one history entry (serialized once) and offered to every subscription of its channel.
 *
 * Invariants:
 * - a channel's history is in resourceVersion order (its watch delivers changes in order; a relist
 *   resets coverage: watch-history.ts);
 * - what a subscriber gets is decided by policy's visibility rule (mayOpen, the rule of policy.ts
 *   mayView) with this proxy's admin roles, at the time of each change;
 * - pods and events are visible when their workspace is: a change of a workspace's owner or sharing
 *   re-evaluates its pods and events for live subscribers, and makes older positions on those two
 *   channels unresumable (a reset snapshot), since the history judged them under the old sharing.
 */
import type { Workspace } from "../../crds/types.ts";
import { childNames } from "../../common/model/workspace/names.ts";
import { mayOpen, type Access, type Identity } from "../auth/identity.ts";
import { isAdmin } from "../api/policy.ts";
import { CHANNELS, type Channel } from "./protocol.ts";
import { ChannelHistory, rvOf, type Entry, type Op } from "./watch-history.ts";
import { Subscription, type Viewer } from "./watch-subscription.ts";
import { accessOf, sameAccess, workspaceItem, type TrimmedEvent, type TrimmedPod } from "./watch-views.ts";

/** What the hub reads of any cached object. */
interface Meta {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string };
}

/** Changes each channel keeps for resuming clients. */
export const HISTORY_ENTRIES = 4096;

/** The caches a hub reads (get/list by namespace, as Watched offers). */
export interface HubCache<T> {
  get(name: string, namespace?: string): T | undefined;
  list(namespace?: string): T[];
}

export interface HubDeps {
  adminRoles: readonly string[];
  /** The annotation a sync request sits in (the API's view shows it as Pending). */
  syncAnnotation: string;
  workspaces: HubCache<Workspace>;
  pods: HubCache<TrimmedPod>;
  events: HubCache<TrimmedEvent>;
  historyEntries?: number;
}

interface ChannelState {
  history: ChannelHistory;
  /** Each open subscription, with its caller's viewer and how to tell its socket a frame is owed. */
  subs: Map<Subscription, { may: Viewer; owed: () => void }>;
}

export class WatchHub {
  readonly #d: HubDeps;
  readonly #channels: Record<Channel, ChannelState>;
  /** Each object version's item JSON, made once for every subscriber. */
  readonly #json = new WeakMap<object, string>();
  /** The newest resourceVersion at which a workspace's access changed (pods and events resumes). */
  #accessChangedAt = 0n;

  constructor(d: HubDeps) {
    this.#d = d;
    const n = d.historyEntries ?? HISTORY_ENTRIES;
    this.#channels = Object.fromEntries(
      CHANNELS.map((c) => [c, { history: new ChannelHistory(n), subs: new Map() }]),
    ) as Record<Channel, ChannelState>;
  }

  /** The viewer rule for `who`: owner, sharee or admin (policy.ts mayView). */
  viewer(who: Identity): Viewer {
    const admin = isAdmin(who, this.#d.adminRoles);
    return (access: Access | undefined) => admin || (access !== undefined && mayOpen(who, access, []));
  }

  /** A list of `channel`'s resource answered at `resourceVersion` (watched caches' list wrapper). */
  listed(channel: Channel, resourceVersion: string | undefined): void {
    const rv = rvOf(resourceVersion);
    if (rv !== undefined) this.#channels[channel].history.listed(rv);
  }

  /** A Workspace was added, changed (`old`) or deleted (no longer in the cache). */
  workspaceChanged(ws: Workspace, old?: Workspace): void {
    const { namespace = "", name = "" } = ws.metadata;
    const op: Op = old ? "MODIFIED" : this.#d.workspaces.get(name, namespace) ? "ADDED" : "DELETED";
    const access = accessOf(ws);
    const entry = this.#record("workspaces", op, ws, () => workspaceItem(ws, this.#d.syncAnnotation), {
      now: access,
      before: op === "ADDED" ? undefined : old ? accessOf(old) : access,
    });
    if (op === "MODIFIED" && old && !sameAccess(accessOf(old), access)) {
      if (entry.rv > this.#accessChangedAt) this.#accessChangedAt = entry.rv;
      this.#revisit(namespace, name, access);
    }
  }

  podChanged(pod: TrimmedPod, old?: TrimmedPod): void {
    const { namespace, name } = pod.metadata;
    const op: Op = old ? "MODIFIED" : this.#d.pods.get(name, namespace) ? "ADDED" : "DELETED";
    const access = this.#accessOfWorkspace(namespace, pod.item.workspace);
    this.#record("pods", op, pod, () => pod.item, {
      now: access,
      before: op === "ADDED" ? undefined : access,
    });
  }

  eventChanged(ev: TrimmedEvent, old?: TrimmedEvent): void {
    const { namespace, name } = ev.metadata;
    if (!this.#resolveEvent(ev)) return;
    const op: Op = old ? "MODIFIED" : this.#d.events.get(name, namespace) ? "ADDED" : "DELETED";
    const access = this.#accessOfWorkspace(namespace, ev.item.workspace);
    this.#record("events", op, ev, () => ev.item, {
      now: access,
      before: op === "ADDED" ? undefined : access,
    });
  }

  /**
   * Opens a subscription: a resume when `resourceVersion` is within what this proxy's history
   * covers (the missed changes, possibly none), else a snapshot (`reset` when a resume was asked).
   * `owed` is called whenever the subscription has a frame to send.
   */
  open(
    who: Identity,
    o: { id: string; channel: Channel; namespace?: string; resourceVersion?: string },
    owed: () => void,
  ): { sub: Subscription; first: string } {
    const ch = this.#channels[o.channel];
    const may = this.viewer(who);
    const asked = rvOf(o.resourceVersion);
    const missed =
      asked !== undefined && (o.channel === "workspaces" || asked >= this.#accessChangedAt)
        ? ch.history.since(asked)
        : undefined;
    const base = { id: o.id, channel: o.channel, ...(o.namespace ? { namespace: o.namespace } : {}) };
    const visible = this.#visible(o.channel, may, o.namespace);
    let sub: Subscription;
    let first: string;
    if (missed && asked !== undefined) {
      sub = new Subscription({ ...base, position: asked });
      sub.replay(
        missed,
        may,
        visible.map(([k]) => k),
      );
      first = sub.frame()!;
    } else {
      const high = ch.history.high;
      sub = new Subscription({ ...base, position: high });
      for (const [k] of visible) sub.known.add(k);
      first =
        `{"type":"snapshot","id":${JSON.stringify(o.id)},"items":[${visible.map(([, j]) => j).join(",")}],` +
        `"resourceVersion":"${high}","reset":${o.resourceVersion !== undefined}}`;
    }
    ch.subs.set(sub, { may, owed });
    return { sub, first };
  }

  close(sub: Subscription): void {
    this.#channels[sub.channel].subs.delete(sub);
  }

  /** Subscriptions open, per channel (metrics, tests). */
  counts(): Record<Channel, number> {
    return Object.fromEntries(CHANNELS.map((c) => [c, this.#channels[c].subs.size])) as Record<
      Channel,
      number
    >;
  }

  historySize(channel: Channel): number {
    return this.#channels[channel].history.size;
  }

  #record(
    channel: Channel,
    op: Op,
    obj: Meta,
    item: () => unknown,
    access: { now: Access | undefined; before: Access | undefined },
  ): Entry {
    const ch = this.#channels[channel];
    const meta = obj.metadata ?? {};
    const namespace = meta.namespace ?? "";
    const entry: Entry = {
      rv: ch.history.positionOf(rvOf(meta.resourceVersion)),
      op,
      namespace,
      key: `${namespace}/${meta.name ?? ""}`,
      json: this.#jsonOf(obj, item),
      now: op === "DELETED" ? undefined : access.now,
      before: access.before,
    };
    ch.history.record(entry);
    this.#offerAll(ch, entry, false);
    return entry;
  }

  #offerAll(ch: ChannelState, entry: Entry, force: boolean): void {
    for (const [sub, { may, owed }] of ch.subs) {
      const before = sub.owed;
      sub.offer(entry, may, force);
      if (!before && sub.owed) owed();
    }
  }

  /** A workspace's access changed: its pods and events appear or vanish for live subscribers. */
  #revisit(namespace: string, workspace: string, access: Access): void {
    const revisitOne = (channel: "pods" | "events", objs: (TrimmedPod | TrimmedEvent)[]) => {
      const ch = this.#channels[channel];
      for (const obj of objs) {
        if (obj.item.workspace !== workspace) continue;
        const entry: Entry = {
          rv: ch.history.high,
          op: "MODIFIED",
          namespace,
          key: `${namespace}/${obj.metadata.name}`,
          json: this.#jsonOf(obj, () => obj.item),
          now: access,
          before: undefined,
        };
        this.#offerAll(ch, entry, true);
      }
    };
    revisitOne("pods", this.#d.pods.list(namespace));
    revisitOne("events", this.#d.events.list(namespace));
  }

  /** `[key, item JSON]` of every object of `channel` the caller may see (in `namespace`). */
  #visible(channel: Channel, may: Viewer, namespace: string | undefined): [string, string][] {
    const out: [string, string][] = [];
    const add = (obj: Meta, access: Access | undefined, item: () => unknown) => {
      if (!may(access)) return;
      out.push([`${obj.metadata?.namespace ?? ""}/${obj.metadata?.name ?? ""}`, this.#jsonOf(obj, item)]);
    };
    if (channel === "workspaces")
      for (const ws of this.#d.workspaces.list(namespace))
        add(ws, accessOf(ws), () => workspaceItem(ws, this.#d.syncAnnotation));
    if (channel === "pods")
      for (const p of this.#d.pods.list(namespace))
        add(p, this.#accessOfWorkspace(p.metadata.namespace, p.item.workspace), () => p.item);
    if (channel === "events")
      for (const e of this.#d.events.list(namespace))
        if (this.#resolveEvent(e))
          add(e, this.#accessOfWorkspace(e.metadata.namespace, e.item.workspace), () => e.item);
    return out;
  }

  #accessOfWorkspace(namespace: string, name: string): Access | undefined {
    const ws = name ? this.#d.workspaces.get(name, namespace) : undefined;
    return ws ? accessOf(ws) : undefined;
  }

  /**
   * Whether an Event concerns a workspace, resolving a pod's workspace (the pod cache, else the
   * workspaces whose pod or sync pod has that name) the first time it is known.
   */
  #resolveEvent(ev: TrimmedEvent): boolean {
    const it = ev.item;
    if (it.workspace) return true;
    if (it.involved.kind !== "Pod" || !it.involved.name) return false;
    const ns = ev.metadata.namespace;
    const pod = this.#d.pods.get(it.involved.name, ns);
    const ws =
      pod?.item.workspace ||
      this.#d.workspaces.list(ns).find((w) => {
        const names = childNames(w);
        return names.pod === it.involved.name || names.sync === it.involved.name;
      })?.metadata.name;
    if (ws) it.workspace = ws;
    return !!ws;
  }

  #jsonOf(obj: object, item: () => unknown): string {
    let json = this.#json.get(obj);
    if (json === undefined) this.#json.set(obj, (json = JSON.stringify(item())));
    return json;
  }
}
