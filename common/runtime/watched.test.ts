import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Informer, KubernetesListObject, V1ConfigMap } from "@kubernetes/client-node";
import {
  Watched,
  diffList,
  isUnchanged,
  type CacheMap,
  type ListFn,
  type WatchedOptions,
} from "./watched.ts";
import { FakeClock, flush } from "./fake-clock.ts";

const cm = (name: string, rv: string, ns = "demo"): V1ConfigMap => ({
  metadata: { name, namespace: ns, resourceVersion: rv },
  data: { v: rv },
});

describe("pure helpers", () => {
  test("isUnchanged: same resourceVersion only", () => {
    assert.equal(isUnchanged(cm("a", "1"), cm("a", "1")), true);
    assert.equal(isUnchanged(cm("a", "1"), cm("a", "2")), false);
    assert.equal(
      isUnchanged({ metadata: { name: "a" } }, { metadata: { name: "a" } }),
      false,
      "no RV: assume changed",
    );
  });

  test("diffList: added, updated (RV moved), deleted; unchanged nowhere", () => {
    const cache: CacheMap<V1ConfigMap> = new Map([
      [
        "demo",
        new Map([
          ["same", cm("same", "1")],
          ["moved", cm("moved", "1")],
          ["gone", cm("gone", "1")],
        ]),
      ],
      ["other", new Map([["gone2", cm("gone2", "1", "other")]])],
    ]);
    const d = diffList(cache, [cm("same", "1"), cm("moved", "2"), cm("new", "3")]);
    assert.deepEqual(
      d.added.map((o) => o.metadata?.name),
      ["new"],
    );
    assert.deepEqual(
      d.updated.map((u) => [u.obj.metadata?.resourceVersion, u.old.metadata?.resourceVersion]),
      [["2", "1"]],
    );
    assert.deepEqual(d.deleted.map((o) => o.metadata?.name).sort(), ["gone", "gone2"]);
  });
});

/**
 * Stands in for client-node's ListWatch: on start it calls the list function and emits "add" for
 * every item (as ListWatch does), then the test drives it with emit()/error().
 */
class FakeInformer implements Informer<V1ConfigMap> {
  private handlers = new Map<string, ((arg: never) => void)[]>();
  stopped = false;
  private readonly listFn: ListFn<V1ConfigMap>;
  constructor(listFn: ListFn<V1ConfigMap>) {
    this.listFn = listFn;
  }
  on(verb: string, cb: (arg: never) => void): void {
    this.handlers.set(verb, [...(this.handlers.get(verb) ?? []), cb]);
  }
  off(): void {}
  emit(verb: "add" | "update" | "delete" | "error", arg: unknown): void {
    for (const cb of this.handlers.get(verb) ?? []) (cb as (a: unknown) => void)(arg);
  }
  async start(): Promise<void> {
    let list: KubernetesListObject<V1ConfigMap>;
    try {
      list = await this.listFn();
    } catch (err) {
      this.emit("error", err);
      return;
    }
    for (const item of list.items) this.emit("add", item);
  }
  async stop(): Promise<void> {
    this.stopped = true;
  }
}

/** A list endpoint the test controls: current objects, an optional failure, an optional hang. */
function harness(extra: Partial<WatchedOptions<V1ConfigMap>> = {}) {
  const clock = new FakeClock();
  const server = {
    objects: [] as V1ConfigMap[],
    down: false,
    hold: undefined as Promise<void> | undefined,
    lists: 0,
  };
  const informers: FakeInformer[] = [];
  const events: string[] = [];
  const restarts: { reason: string; failures: number; delayMs: number }[] = [];
  const w = new Watched<V1ConfigMap>({
    name: "configmaps",
    path: "/api/v1/namespaces/demo/configmaps",
    list: async () => {
      server.lists++;
      if (server.hold) await server.hold;
      if (server.down) throw Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
      return { metadata: {}, items: server.objects.map((o) => structuredClone(o)) };
    },
    silenceMs: 60_000,
    backoffBaseMs: 1000,
    backoffMaxMs: 4000,
    informerFactory: (list) => {
      const i = new FakeInformer(list);
      informers.push(i);
      return i;
    },
    onAdd: (o) => events.push(`add ${o.metadata?.name}@${o.metadata?.resourceVersion}`),
    onUpdate: (o, old) =>
      events.push(
        `update ${o.metadata?.name}@${old.metadata?.resourceVersion}->${o.metadata?.resourceVersion}`,
      ),
    onDelete: (o) => events.push(`delete ${o.metadata?.name}`),
    onRestart: (reason, failures, delayMs) => restarts.push({ reason, failures, delayMs }),
    clock,
    ...extra,
  });
  const current = () => informers.at(-1)!;
  return { w, clock, server, informers, current, events, restarts };
}

// The tests come in three sections (each a function, so none grows past the length limit); their
// names are as they always were, under one "Watched".
describe("Watched", () => {
  seedingAndEvents();
  restartsAndWatchdog();
  resyncStopAndMisuse();
});

/** The first list seeds the cache before start resolves; watch events then keep it current. */
function seedingAndEvents(): void {
  test("start resolves only once the first list is in, after its adds", async () => {
    const h = harness();
    h.server.objects = [cm("a", "1"), cm("b", "2")];
    let release!: () => void;
    h.server.hold = new Promise((r) => (release = r));
    let started = false;
    const starting = h.w.start().then(() => (started = true));
    await flush();
    assert.equal(started, false);
    assert.equal(h.w.synced(), false);
    release();
    await starting;
    assert.equal(h.w.synced(), true);
    assert.deepEqual(
      h.events,
      ["add a@1", "add b@2"],
      "each object added once (the informer's own adds skipped)",
    );
    assert.deepEqual(
      h.w
        .list()
        .map((o) => o.metadata?.name)
        .sort(),
      ["a", "b"],
    );
    assert.equal(h.w.get("a", "demo")?.metadata?.resourceVersion, "1");
    assert.equal(h.w.lastEventAt(), h.clock.now());
    await h.w.stop();
  });

  test("watch events: add, update with the old object, delete; unchanged updates skipped", async () => {
    const h = harness();
    h.server.objects = [cm("a", "1")];
    await h.w.start();
    h.current().emit("add", cm("b", "5"));
    h.current().emit("update", cm("a", "6"));
    h.current().emit("update", cm("a", "6"));
    h.current().emit("delete", cm("b", "7"));
    h.current().emit("delete", cm("never-seen", "8"));
    assert.deepEqual(h.events, ["add a@1", "add b@5", "update a@1->6", "delete b"]);
    assert.deepEqual(
      h.w.list("demo").map((o) => o.metadata?.name),
      ["a"],
    );
    assert.deepEqual(h.w.list("elsewhere"), []);
    await h.w.stop();
  });
}

/** Failed lists and watches restart with backoff and relist; a silent or hung watch is restarted too. */
function restartsAndWatchdog(): void {
  test("a failed first list is retried with backoff; start resolves when it succeeds", async () => {
    const h = harness();
    h.server.down = true;
    let started = false;
    const starting = h.w.start().then(() => (started = true));
    await flush();
    assert.equal(h.server.lists, 1);
    await h.clock.advance(999);
    assert.equal(h.server.lists, 1, "not before the backoff");
    await h.clock.advance(1);
    assert.equal(h.server.lists, 2);
    await h.clock.advance(2000);
    assert.equal(h.server.lists, 3, "then after 2 s");
    assert.equal(started, false);
    h.server.down = false;
    h.server.objects = [cm("a", "1")];
    await h.clock.advance(4000);
    await starting;
    assert.equal(h.server.lists, 4);
    assert.deepEqual(
      h.restarts.map((r) => r.delayMs),
      [1000, 2000, 4000],
    );
    await h.w.stop();
  });

  test("a watch error restarts with capped, doubling backoff and a relist; success resets it", async () => {
    const h = harness();
    h.server.objects = [cm("a", "1")];
    await h.w.start();
    h.server.down = true;
    h.current().emit("error", new Error("socket hang up"));
    assert.equal(h.informers[0]!.stopped, true, "the failed informer is stopped");
    await h.clock.advance(999);
    assert.equal(h.informers.length, 1, "no restart before the backoff");
    await h.clock.advance(1 + 2000 + 4000);
    assert.deepEqual(
      h.restarts.map((r) => [r.reason, r.failures, r.delayMs]),
      [
        ["error", 1, 1000],
        ["error", 2, 2000],
        ["error", 3, 4000],
        ["error", 4, 4000],
      ],
      "failed relists count too; capped at 4 s",
    );
    h.server.down = false;
    await h.clock.advance(4000);
    assert.equal(h.informers.length, 5);
    h.current().emit("error", new Error("socket hang up"));
    assert.equal(h.restarts.at(-1)!.delayMs, 1000, "a successful restart reset the backoff");
    await h.w.stop();
  });

  test("the relist after a restart emits only what changed meanwhile; the old informer is ignored", async () => {
    const h = harness();
    h.server.objects = [cm("same", "1"), cm("changed", "1"), cm("deleted", "1")];
    await h.w.start();
    const old = h.current();
    h.events.length = 0;
    old.emit("error", new Error("connection reset"));
    assert.equal(old.stopped, true);
    h.server.objects = [cm("same", "1"), cm("changed", "2"), cm("created", "3")];
    await h.clock.advance(1000);
    assert.equal(h.informers.length, 2);
    assert.deepEqual(h.events, ["delete deleted", "add created@3", "update changed@1->2"]);
    old.emit("add", cm("ghost", "9"));
    old.emit("delete", cm("same", "9"));
    assert.equal(h.w.get("ghost", "demo"), undefined, "events from a stopped informer are ignored");
    assert.ok(h.w.get("same", "demo"));
    await h.w.stop();
  });

  test("the watchdog relists after silenceMs without events, emitting nothing for unchanged objects", async () => {
    const h = harness();
    h.server.objects = [cm("a", "1")];
    await h.w.start();
    h.events.length = 0;
    await h.clock.advance(30_000);
    h.server.objects = [cm("a", "2")];
    h.current().emit("update", cm("a", "2"));
    await h.clock.advance(59_999);
    assert.equal(h.informers.length, 1, "an event 30 s in postponed the watchdog");
    await h.clock.advance(1);
    assert.equal(h.informers.length, 2, "relisted after 60 s of silence");
    assert.deepEqual(h.restarts, [{ reason: "silence", failures: 0, delayMs: 0 }]);
    assert.equal(h.server.lists, 2);
    assert.deepEqual(h.events, ["update a@1->2"], "the relist of an unchanged object emitted nothing");
    await h.clock.advance(60_000);
    assert.equal(h.informers.length, 3, "a quiet watch keeps being relisted every silenceMs");
    await h.w.stop();
  });

  test("the watchdog also restarts a list that hangs", async () => {
    const h = harness();
    h.server.hold = new Promise(() => undefined);
    void h.w.start().catch(() => undefined);
    await h.clock.advance(60_000);
    assert.equal(h.informers.length, 2);
    await h.w.stop();
  });
}

/** Resync on schedule, stop at any time, a buggy handler, and a missing client. */
function resyncStopAndMisuse(): void {
  test("resync hands every cached object to onResync on schedule, without listing", async () => {
    const resynced: string[] = [];
    const h = harness({ resyncMs: 10_000, onResync: (o) => resynced.push(o.metadata!.name!) });
    h.server.objects = [cm("a", "1"), cm("b", "1", "other")];
    await h.w.start();
    await h.clock.advance(9_999);
    assert.deepEqual(resynced, []);
    await h.clock.advance(1);
    assert.deepEqual(resynced.sort(), ["a", "b"]);
    await h.clock.advance(10_000);
    assert.equal(resynced.length, 4);
    assert.equal(h.server.lists, 1);
    await h.w.stop();
  });

  test("stop before seeding rejects start; stop clears every timer", async () => {
    const h = harness({ resyncMs: 1000, onResync: () => undefined });
    h.server.down = true;
    const starting = h.w.start();
    await flush();
    await h.w.stop();
    await assert.rejects(starting, /stopped before the cache was seeded/);
    assert.equal(h.clock.pending(), 0);
    assert.equal(h.current().stopped, true);

    const h2 = harness({ resyncMs: 1000, onResync: () => undefined });
    await h2.w.start();
    await h2.w.stop();
    assert.equal(h2.clock.pending(), 0);
  });

  test("a throwing handler does not corrupt the cache", async () => {
    const h = harness({
      onAdd: () => {
        throw new Error("handler bug");
      },
    });
    h.server.objects = [cm("a", "1")];
    await h.w.start();
    h.current().emit("add", cm("b", "1"));
    assert.equal(h.w.list().length, 2);
    await h.w.stop();
  });

  test("needs a kubeConfig or an informer factory", () => {
    assert.throws(
      () => new Watched({ name: "x", path: "/x", list: async () => ({ items: [] }), silenceMs: 1 }),
      /pass kubeConfig/,
    );
  });
}
