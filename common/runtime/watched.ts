/**
 * A watched cache of one resource, built on client-node's `makeInformer` (ListWatch) plus what it
 * lacks for an operator:
 *
 * - `start()` resolves only once the cache is seeded by a first successful list;
 * - a watch that fails (ListWatch emits "error" and stops) is restarted with capped backoff, with
 *   a fresh list, until the API server answers again; 410 Gone relists (ListWatch does that itself);
 * - a watchdog relists when no event has arrived for `silenceMs`. A quiet watch and a dead one look
 *   the same from here, so it relists in both cases: a relist only reads, and emits nothing for
 *   objects whose resourceVersion did not change;
 * - a periodic resync hands every cached object to `onResync` (from the cache, no API call).
 *
 * The cache is ours, not the informer's: each restart uses a new informer (ListWatch keeps its last
 * resourceVersion across stop/start, so it would not relist), and our cache diffs each list against
 * what we had, emitting add/update/delete only for real changes.
 */
import {
  ListWatch,
  Watch,
  type Informer,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
} from "@kubernetes/client-node";
import { backoffDelayMs } from "./backoff.ts";
import { noopLogger, realClock, type Clock, type Logger } from "./types.ts";

/** Lists the resource (e.g. `() => core.listNamespacedConfigMap({ namespace })`). */
export type ListFn<T extends KubernetesObject> = () => Promise<KubernetesListObject<T>>;

/**
 * Makes the informer for one (re)start; the default is client-node's ListWatch (what `makeInformer`
 * makes) over a watch whose events pass through `trim` before the informer sees them.
 */
export type InformerFactory<T extends KubernetesObject> = (list: ListFn<T>, trim?: Trim<T>) => Informer<T>;

/** What a cache keeps of an object: a copy with the fields nobody reads left out (or the object). */
export type Trim<T> = (obj: T) => T;

/**
 * client-node's Watch with every event's object trimmed before anyone sees it, so that neither
 * the informer's own cache nor ours keeps what was left out.
 */
export class TrimmingWatch<T> extends Watch {
  private readonly trim: Trim<T>;
  constructor(kc: KubeConfig, trim: Trim<T>) {
    super(kc);
    this.trim = trim;
  }
  override watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, apiObj: unknown, watchObj?: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    // ERROR carries a Status and BOOKMARK only a resourceVersion: nothing to trim.
    const objectEvent = (phase: string) => phase === "ADDED" || phase === "MODIFIED" || phase === "DELETED";
    return super.watch(
      path,
      queryParams,
      (phase, obj) => callback(phase, objectEvent(phase) ? this.trim(obj as T) : obj),
      done,
    );
  }
}

/** Why the watch was restarted. */
export type RestartReason = "error" | "silence";

export interface WatchedOptions<T extends KubernetesObject> {
  /** For logs, e.g. "configmaps". */
  name: string;
  /** The watch path, e.g. `/api/v1/namespaces/demo/configmaps` or `/apis/portico.dev/v1alpha1/workspaces`. */
  path: string;
  /** Lists the same objects the path watches. */
  list: ListFn<T>;
  /** Needed unless `informerFactory` is given. */
  kubeConfig?: KubeConfig;
  labelSelector?: string;
  /** Relist when no event has arrived for this long. */
  silenceMs: number;
  /** Hand every cached object to `onResync` this often (0 or absent: never). */
  resyncMs?: number;
  /** Watch restart backoff after errors (default 1 s doubling up to 30 s, like ListWatch's). */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  onAdd?: (obj: T) => void;
  onUpdate?: (obj: T, old: T) => void;
  onDelete?: (obj: T) => void;
  onResync?: (obj: T) => void;
  /** For metrics: called on every restart with the consecutive error count and the delay. */
  onRestart?: (reason: RestartReason, failures: number, delayMs: number) => void;
  /**
   * Applied to every object as it enters the cache (listed or watched); what it leaves out is never
   * kept, by the informer either. Default: keep objects whole.
   */
  trim?: Trim<T>;
  /** For tests: replaces the default informer. */
  informerFactory?: InformerFactory<T>;
  clock?: Clock;
  logger?: Logger;
}

/** `namespace` ("" when cluster-scoped) → name → object, as in client-node's cache. */
export type CacheMap<T> = Map<string, Map<string, T>>;

/** An event is news only if the resourceVersion moved (relists and reconnects replay old ones). */
export const isUnchanged = (old: KubernetesObject, next: KubernetesObject): boolean =>
  old.metadata?.resourceVersion !== undefined &&
  old.metadata.resourceVersion === next.metadata?.resourceVersion;

/** Namespace and name of an object ("" for a missing namespace: cluster-scoped). */
export const keyOf = (obj: KubernetesObject): [string, string] => [
  obj.metadata?.namespace ?? "",
  obj.metadata?.name ?? "",
];

/**
 * What a fresh list means for a cache: objects to add, to update (resourceVersion moved) and to
 * delete (gone from the list). Objects with an unchanged resourceVersion appear nowhere.
 */
export function diffList<T extends KubernetesObject>(
  cache: CacheMap<T>,
  items: readonly T[],
): { added: T[]; updated: { obj: T; old: T }[]; deleted: T[] } {
  const added: T[] = [];
  const updated: { obj: T; old: T }[] = [];
  const listed = new Set<string>();
  for (const obj of items) {
    const [ns, name] = keyOf(obj);
    listed.add(`${ns}/${name}`);
    const old = cache.get(ns)?.get(name);
    if (!old) added.push(obj);
    else if (!isUnchanged(old, obj)) updated.push({ obj, old });
  }
  const deleted: T[] = [];
  for (const [ns, byName] of cache) {
    for (const [name, old] of byName) if (!listed.has(`${ns}/${name}`)) deleted.push(old);
  }
  return { added, updated, deleted };
}

/** A self-healing watched cache of one resource. See the module comment. */
export class Watched<T extends KubernetesObject> {
  private readonly o: WatchedOptions<T> & {
    clock: Clock;
    logger: Logger;
    backoffBaseMs: number;
    backoffMaxMs: number;
  };
  private readonly factory: InformerFactory<T>;
  private readonly cache: CacheMap<T> = new Map();
  private state: "new" | "running" | "stopped" = "new";
  /** Bumped on every (re)start: callbacks from an older informer are ignored. */
  private generation = 0;
  private informer: Informer<T> | undefined;
  private launchedAt = 0;
  private lastEvent: number | undefined;
  private isSynced = false;
  private failures = 0;
  private seeded: { resolve: () => void; reject: (err: Error) => void } | undefined;
  private restartTimer: unknown;
  private watchdogTimer: unknown;
  private resyncTimer: unknown;

  constructor(options: WatchedOptions<T>) {
    if (!(options.silenceMs > 0)) throw new Error(`Watched(${options.name}): silenceMs must be > 0`);
    const kc = options.kubeConfig;
    const factory =
      options.informerFactory ??
      (kc &&
        ((list: ListFn<T>, trim?: Trim<T>) =>
          new ListWatch<T>(
            options.path,
            trim ? new TrimmingWatch(kc, trim) : new Watch(kc),
            list,
            false,
            options.labelSelector,
          )));
    if (!factory) throw new Error(`Watched(${options.name}): pass kubeConfig (or informerFactory)`);
    this.factory = factory;
    this.o = {
      ...options,
      clock: options.clock ?? realClock,
      logger: options.logger ?? noopLogger,
      backoffBaseMs: options.backoffBaseMs ?? 1000,
      backoffMaxMs: options.backoffMaxMs ?? 30_000,
    };
  }

  /**
   * Lists and starts watching. Resolves once the cache is seeded (the first list is in and its
   * `onAdd` calls are done), retrying with backoff until then; rejects if `stop()` comes first.
   */
  start(): Promise<void> {
    if (this.state !== "new") throw new Error(`Watched(${this.o.name}): start() may be called once`);
    this.state = "running";
    const seeded = new Promise<void>((resolve, reject) => (this.seeded = { resolve, reject }));
    this.launch();
    return seeded;
  }

  /** Stops watching and every timer. The cache keeps its last contents. */
  async stop(): Promise<void> {
    if (this.state === "stopped") return;
    this.state = "stopped";
    this.generation++;
    const { clock } = this.o;
    for (const t of [this.restartTimer, this.watchdogTimer, this.resyncTimer]) clock.clearTimeout(t);
    this.seeded?.reject(new Error(`Watched(${this.o.name}): stopped before the cache was seeded`));
    this.seeded = undefined;
    const informer = this.informer;
    this.informer = undefined;
    await informer?.stop().catch(() => undefined);
  }

  /** Cached objects, of one namespace or all. */
  list(namespace?: string): T[] {
    if (namespace !== undefined) return [...(this.cache.get(namespace)?.values() ?? [])];
    return [...this.cache.values()].flatMap((byName) => [...byName.values()]);
  }

  /** A cached object; leave out the namespace for cluster-scoped objects. */
  get(name: string, namespace?: string): T | undefined {
    return this.cache.get(namespace ?? "")?.get(name);
  }

  /** True once the first list has seeded the cache. */
  synced(): boolean {
    return this.isSynced;
  }

  /** When the last list completed or watch event arrived (clock ms), if ever. */
  lastEventAt(): number | undefined {
    return this.lastEvent;
  }

  private live(generation: number): boolean {
    return generation === this.generation && this.state === "running";
  }

  private launch(): void {
    const g = ++this.generation;
    const { clock, logger, name } = this.o;
    this.launchedAt = clock.now();
    let listed = false;
    let failed = false;
    // Our list wrapper applies the list to our cache, so a relist emits only real changes; the
    // informer's own "add" calls for the same objects are then no-ops.
    const { trim } = this.o;
    const informer = this.factory(async () => {
      const list = await this.o.list();
      if (trim) list.items = list.items.map(trim);
      if (this.live(g)) {
        this.applyList(list.items);
        listed = true;
      }
      return list;
    }, trim);
    informer.on("add", (obj) => this.live(g) && this.upsert(obj));
    informer.on("update", (obj) => this.live(g) && this.upsert(obj));
    informer.on("delete", (obj) => this.live(g) && this.remove(obj));
    informer.on("error", (err) => {
      if (!this.live(g)) return;
      failed = true;
      this.fail(err);
    });
    this.informer = informer;
    this.armWatchdog();
    logger.debug("watch starting", { resource: name, path: this.o.path });
    informer.start().then(
      () => {
        // ListWatch.start resolves once the watch request is answered; an error before that has
        // already been reported through "error" (and set failed).
        if (this.live(g) && listed && !failed) this.failures = 0;
      },
      (err: unknown) => this.live(g) && this.fail(err),
    );
  }

  private fail(err: unknown): void {
    this.failures++;
    const delayMs = backoffDelayMs(this.failures, this.o.backoffBaseMs, this.o.backoffMaxMs);
    this.o.logger.warn("watch failed: restarting with a fresh list", {
      resource: this.o.name,
      failures: this.failures,
      delayMs,
      err: describe(err),
    });
    this.restart("error", delayMs);
  }

  private restart(reason: RestartReason, delayMs: number): void {
    const { clock } = this.o;
    this.generation++;
    const old = this.informer;
    this.informer = undefined;
    old?.stop().catch(() => undefined);
    clock.clearTimeout(this.watchdogTimer);
    clock.clearTimeout(this.restartTimer);
    this.callback("onRestart", () => this.o.onRestart?.(reason, this.failures, delayMs));
    if (delayMs <= 0) return this.launch();
    this.restartTimer = clock.setTimeout(() => {
      this.restartTimer = undefined;
      if (this.state === "running") this.launch();
    }, delayMs);
  }

  /** Fires `silenceMs` after the last sign of life; relists if nothing came since. */
  private armWatchdog(): void {
    const { clock, silenceMs } = this.o;
    clock.clearTimeout(this.watchdogTimer);
    const lastActivity = Math.max(this.lastEvent ?? 0, this.launchedAt);
    this.watchdogTimer = clock.setTimeout(
      () => {
        if (this.state !== "running" || !this.informer) return;
        const quietFor = clock.now() - Math.max(this.lastEvent ?? 0, this.launchedAt);
        if (quietFor < silenceMs) return this.armWatchdog();
        this.o.logger.info("watch silent: relisting", { resource: this.o.name, quietForMs: quietFor });
        this.restart("silence", 0);
      },
      Math.max(0, lastActivity + silenceMs - clock.now()),
    );
  }

  private applyList(items: readonly T[]): void {
    const { added, updated, deleted } = diffList(this.cache, items);
    for (const obj of deleted) this.remove(obj);
    for (const obj of added) this.upsert(obj);
    for (const { obj } of updated) this.upsert(obj);
    this.noteEvent();
    if (!this.isSynced) {
      this.isSynced = true;
      this.o.logger.info("watch cache seeded", { resource: this.o.name, objects: items.length });
      this.scheduleResync();
      this.seeded?.resolve();
      this.seeded = undefined;
    }
  }

  private upsert(obj: T): void {
    this.noteEvent();
    const [ns, name] = keyOf(obj);
    let byName = this.cache.get(ns);
    const old = byName?.get(name);
    if (old && isUnchanged(old, obj)) return;
    if (!byName) this.cache.set(ns, (byName = new Map()));
    byName.set(name, obj);
    if (old) this.callback("onUpdate", () => this.o.onUpdate?.(obj, old));
    else this.callback("onAdd", () => this.o.onAdd?.(obj));
  }

  private remove(obj: T): void {
    this.noteEvent();
    const [ns, name] = keyOf(obj);
    const byName = this.cache.get(ns);
    if (!byName?.delete(name)) return;
    if (byName.size === 0) this.cache.delete(ns);
    this.callback("onDelete", () => this.o.onDelete?.(obj));
  }

  private noteEvent(): void {
    this.lastEvent = this.o.clock.now();
  }

  private scheduleResync(): void {
    const { resyncMs, onResync, clock } = this.o;
    if (!resyncMs || resyncMs <= 0 || !onResync) return;
    this.resyncTimer = clock.setTimeout(() => {
      if (this.state !== "running") return;
      for (const obj of this.list()) this.callback("onResync", () => onResync(obj));
      this.scheduleResync();
    }, resyncMs);
  }

  /** A throwing handler is the handler's bug; the cache must stay consistent regardless. */
  private callback(name: string, call: () => void): void {
    try {
      call();
    } catch (err) {
      this.o.logger.error(`watch ${name} handler threw`, { resource: this.o.name, err: describe(err) });
    }
  }
}

function describe(err: unknown): string {
  const e = err as { code?: unknown; statusCode?: unknown; message?: unknown; name?: unknown } | undefined;
  const status = e?.code ?? e?.statusCode;
  const msg = typeof e?.message === "string" ? e.message : String(err);
  return typeof status === "number" ? `${status} ${msg}` : msg;
}
