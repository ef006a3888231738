/**
 * The operator's engine against the real API server: leader election on a real Lease (handover on
 * stop, takeover after a crash, giving up when the Lease is taken), and the watched cache on real
 * ConfigMaps (seeded on start, add/update/delete, nothing for unchanged objects, recovery after the
 * connection to the API server drops and is refused for a while).
 *
 * The connection drop goes through a TCP relay the test owns, in front of the real API server,
 * so the API server itself is never restarted here.
 */
import assert from "node:assert/strict";
import net from "node:net";
import { after, afterEach, before, describe, test } from "node:test";
import * as k8s from "@kubernetes/client-node";
import { LeaderElector } from "../../operator/engine/leader.ts";
import { Watched, type RestartReason, type WatchedOptions } from "../../common/runtime/watched.ts";
import type { Logger } from "../../common/runtime/types.ts";
import { clients, eventually, withNamespace, type Clients } from "../lib/kube.ts";

let c: Clients;
let coord: k8s.CoordinationV1Api;
let ns: { name: string; drop: () => Promise<void> };

before(async () => {
  c = clients();
  coord = c.kc.makeApiClient(k8s.CoordinationV1Api);
  ns = await withNamespace(c, "engine");
});
after(async () => ns?.drop());

/** Collects log lines, so a failing assertion can show what the engine said. */
function memoryLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const at = (level: string) => (msg: string, meta?: object) =>
    lines.push(`${level} ${msg}${meta ? " " + JSON.stringify(meta) : ""}`);
  return { lines, debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

const MICRO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("leader election on a real Lease", () => {
  const leaseDurationMs = 3000;
  const retryPeriodMs = 500;
  const electors: LeaderElector[] = [];
  const stopped: string[] = [];

  function candidate(leaseName: string, identity: string): LeaderElector {
    const e = new LeaderElector({
      api: coord,
      leaseName,
      leaseNamespace: ns.name,
      identity,
      leaseDurationMs,
      renewDeadlineMs: 2000,
      retryPeriodMs,
      logger: memoryLogger(),
    });
    electors.push(e);
    void e.run({ onStartedLeading: () => undefined, onStoppedLeading: () => stopped.push(identity) });
    return e;
  }
  const lease = (name: string) => coord.readNamespacedLease({ name, namespace: ns.name });

  afterEach(() => {
    for (const e of electors.splice(0)) e.kill();
    stopped.length = 0;
  });

  test("two candidates: exactly one leads, the Lease says so; stop() hands over at once", async () => {
    const a = candidate("handover", "replica-a");
    const b = candidate("handover", "replica-b");
    const leader = await eventually("one leader", async () =>
      a.isLeader() ? a : b.isLeader() ? b : undefined,
    );
    const [first, second] = leader === a ? [a, b] : [b, a];
    const [firstId, secondId] = leader === a ? ["replica-a", "replica-b"] : ["replica-b", "replica-a"];

    // Several renew periods: never two leaders, never a change of leader.
    for (let i = 0; i < 40; i++) {
      assert.equal(first.isLeader(), true, `sample ${i}: ${firstId} still leads`);
      assert.equal(second.isLeader(), false, `sample ${i}: ${secondId} does not`);
      await sleep(50);
    }
    const held = await lease("handover");
    assert.equal(held.spec?.holderIdentity, firstId);
    assert.equal(held.spec?.leaseDurationSeconds, 3);
    assert.equal(held.spec?.leaseTransitions, 0);
    const renewTime = held.spec?.renewTime as unknown as string;
    assert.match(renewTime, MICRO_TIME, "written as a MicroTime the API server accepts");
    assert.ok(Date.now() - Date.parse(renewTime) < 1500, `renewed recently (${renewTime})`);

    const t0 = Date.now();
    await first.stop();
    assert.equal(first.isLeader(), false);
    await eventually("the other candidate leads", async () => second.isLeader() || undefined, 10_000, 20);
    const handover = Date.now() - t0;
    assert.ok(
      handover < retryPeriodMs + 1000,
      `released Lease taken within a retry period (took ${handover} ms)`,
    );
    const taken = await lease("handover");
    assert.equal(taken.spec?.holderIdentity, secondId);
    assert.equal(taken.spec?.leaseTransitions, 1);
    assert.deepEqual(stopped, [], "a graceful stop is not a loss of leadership");
  });

  test("after a crash (no release) the other takes over once the Lease expires, not before", async () => {
    const a = candidate("crash", "replica-a");
    await eventually("a leads", async () => a.isLeader() || undefined);
    const b = candidate("crash", "replica-b");
    await sleep(2 * retryPeriodMs);
    assert.equal(b.isLeader(), false);

    const killedAt = Date.now();
    a.kill();
    await eventually("b leads", async () => b.isLeader() || undefined, 15_000, 20);
    const took = Date.now() - killedAt;
    // The last renewal was about one retry period (plus a request) before the kill at most, so the
    // Lease stayed valid for roughly leaseDuration - retryPeriod after it; 500 ms spare for a slow API.
    assert.ok(took >= leaseDurationMs - retryPeriodMs - 500, `not taken while still valid (took ${took} ms)`);
    assert.ok(
      took <= leaseDurationMs + retryPeriodMs + 1000,
      `taken within leaseDuration + retryPeriod (took ${took} ms)`,
    );
    const l = await lease("crash");
    assert.equal(l.spec?.holderIdentity, "replica-b");
    assert.equal(l.spec?.leaseTransitions, 1);
  });

  test("a leader that finds the Lease held by someone else stops leading and says so", async () => {
    const a = candidate("stolen", "replica-a");
    await eventually("a leads", async () => a.isLeader() || undefined);
    const current = await lease("stolen");
    await coord.replaceNamespacedLease({
      name: "stolen",
      namespace: ns.name,
      body: {
        ...current,
        spec: { ...current.spec, holderIdentity: "intruder", renewTime: new k8s.V1MicroTime(Date.now()) },
      },
    });
    await eventually("a stopped leading", async () => (!a.isLeader() ? true : undefined), 5000, 20);
    assert.deepEqual(stopped, ["replica-a"]);
    assert.equal((await lease("stolen")).spec?.holderIdentity, "intruder", "it did not fight back");
  });
});

describe("watched cache of real ConfigMaps", () => {
  const LABEL = "portico.dev/test-engine";

  /** A ConfigMap of one test's set (each test watches only its own set). */
  function configMap(set: string, name: string): k8s.V1ConfigMap {
    return { metadata: { name, namespace: ns.name, labels: { [LABEL]: set } }, data: { v: "1" } };
  }

  /** A Watched on one set of labelled ConfigMaps, recording events as short strings. */
  function watchConfigMaps(
    kc: k8s.KubeConfig,
    set: string,
    extra: Partial<WatchedOptions<k8s.V1ConfigMap>> = {},
  ) {
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const events: string[] = [];
    const restarts: { reason: RestartReason; failures: number; delayMs: number }[] = [];
    const logger = memoryLogger();
    const w = new Watched<k8s.V1ConfigMap>({
      name: "configmaps",
      kubeConfig: kc,
      path: `/api/v1/namespaces/${ns.name}/configmaps`,
      labelSelector: `${LABEL}=${set}`,
      list: () => core.listNamespacedConfigMap({ namespace: ns.name, labelSelector: `${LABEL}=${set}` }),
      silenceMs: 60_000,
      onAdd: (o) => events.push(`add ${o.metadata?.name}`),
      onUpdate: (o, old) =>
        events.push(
          `update ${o.metadata?.name} ${old.metadata?.resourceVersion}->${o.metadata?.resourceVersion}`,
        ),
      onDelete: (o) => events.push(`delete ${o.metadata?.name}`),
      onRestart: (reason, failures, delayMs) => restarts.push({ reason, failures, delayMs }),
      logger,
      ...extra,
    });
    return { w, events, restarts, logger };
  }
  const names = (objs: k8s.V1ConfigMap[]) => objs.map((o) => o.metadata?.name).sort();
  const create = (cm: k8s.V1ConfigMap) => c.core.createNamespacedConfigMap({ namespace: ns.name, body: cm });

  test("seeded on start; add, update, delete arrive; unchanged objects are never re-emitted", async () => {
    await create(configMap("events", "pre-1"));
    await create(configMap("events", "pre-2"));
    await create({ metadata: { name: "unlabelled", namespace: ns.name }, data: {} });
    const { w, events, restarts, logger } = watchConfigMaps(c.kc, "events", { silenceMs: 1500 });
    try {
      await w.start();
      assert.equal(w.synced(), true);
      assert.deepEqual(
        names(w.list(ns.name)),
        ["pre-1", "pre-2"],
        "start resolved with the existing objects",
      );
      assert.deepEqual([...events].sort(), ["add pre-1", "add pre-2"]);
      events.length = 0;

      await create(configMap("events", "fresh"));
      await eventually("add event", async () => (events.includes("add fresh") ? true : undefined));

      const before = w.get("fresh", ns.name)!.metadata!.resourceVersion!;
      const updated = await c.core.replaceNamespacedConfigMap({
        name: "fresh",
        namespace: ns.name,
        body: { ...w.get("fresh", ns.name)!, data: { v: "2" } },
      });
      const after = updated.metadata!.resourceVersion!;
      await eventually("update event", async () =>
        events.includes(`update fresh ${before}->${after}`) ? true : undefined,
      );
      assert.equal(w.get("fresh", ns.name)?.data?.v, "2");

      // A write that changes nothing: the API server keeps the resourceVersion and sends no event.
      const pre1 = w.get("pre-1", ns.name)!;
      const same = await c.core.replaceNamespacedConfigMap({ name: "pre-1", namespace: ns.name, body: pre1 });
      assert.equal(same.metadata?.resourceVersion, pre1.metadata?.resourceVersion);

      // Let the watchdog relist the quiet watch (twice): every object comes back with the same
      // resourceVersion, and none of them may be emitted again.
      await eventually(
        "two silence relists",
        async () => (restarts.filter((r) => r.reason === "silence").length >= 2 ? true : undefined),
        10_000,
      );
      assert.deepEqual(events, ["add fresh", `update fresh ${before}->${after}`], logger.lines.join("\n"));

      await c.core.deleteNamespacedConfigMap({ name: "fresh", namespace: ns.name });
      await eventually("delete event", async () => (events.includes("delete fresh") ? true : undefined));
      assert.equal(w.get("fresh", ns.name), undefined);
      assert.ok(Date.now() - w.lastEventAt()! < 5000, "lastEventAt is recent");
    } finally {
      await w.stop();
    }
  });

  test("recovers after the connection drops and is refused for a while, with what changed meanwhile", async () => {
    const relay = await tcpRelay(new URL(c.kc.getCurrentCluster()!.server));
    const viaRelay = new k8s.KubeConfig();
    viaRelay.loadFromOptions({
      clusters: c.kc.clusters.map((cl) => ({ ...cl, server: `https://127.0.0.1:${relay.port}` })),
      users: c.kc.users,
      contexts: c.kc.contexts,
      currentContext: c.kc.currentContext,
    });
    await create(configMap("relay", "r-keep"));
    await create(configMap("relay", "r-gone"));
    const { w, events, restarts, logger } = watchConfigMaps(viaRelay, "relay", {
      backoffBaseMs: 200,
      backoffMaxMs: 1000,
    });
    try {
      await w.start();
      assert.deepEqual(names(w.list(ns.name)), ["r-gone", "r-keep"]);
      events.length = 0;

      await relay.down();
      // Changes while the operator cannot see the API server.
      await c.core.deleteNamespacedConfigMap({ name: "r-gone", namespace: ns.name });
      await create(configMap("relay", "r-while-down"));
      await eventually(
        "repeated restart attempts while refused",
        async () => (restarts.filter((r) => r.reason === "error").length >= 3 ? true : undefined),
        15_000,
      );
      const delays = restarts.map((r) => r.delayMs);
      assert.deepEqual(delays.slice(0, 3), [200, 400, 800], "backoff doubles");
      assert.ok(
        delays.every((d) => d <= 1000),
        `capped at 1 s: ${delays.join(", ")}`,
      );
      assert.equal(events.length, 0, `nothing emitted while disconnected: ${events.join(", ")}`);

      relay.up();
      await eventually("caught up after reconnecting", async () =>
        events.includes("delete r-gone") && events.includes("add r-while-down") ? true : undefined,
      );
      assert.deepEqual(names(w.list(ns.name)), ["r-keep", "r-while-down"]);
      assert.ok(!events.some((e) => e.includes("r-keep")), "the unchanged object was not re-emitted");

      await create(configMap("relay", "r-after"));
      await eventually("the new watch delivers events", async () =>
        events.includes("add r-after") ? true : undefined,
      );
      assert.ok(relay.connections() > 1, "it really reconnected through the relay");
    } catch (err) {
      console.error(logger.lines.join("\n"));
      throw err;
    } finally {
      await w.stop();
      await relay.close();
    }
  });
});

/**
 * A TCP relay to the API server that the test can cut: `down()` closes the listener and every
 * relayed connection (clients then get ECONNREFUSED), `up()` listens on the same port again.
 * TLS passes through untouched (the server's certificate is valid for 127.0.0.1).
 */
async function tcpRelay(target: URL) {
  const sockets = new Set<net.Socket>();
  let count = 0;
  const server = net.createServer((client) => {
    count++;
    const upstream = net.connect(Number(target.port || 443), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
      s.on("error", () => s.destroy());
    }
    client.pipe(upstream).pipe(client);
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    connections: () => count,
    down: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await closed;
    },
    up: () => server.listen(port, "127.0.0.1"),
    close: async () => {
      for (const s of sockets) s.destroy();
      if (server.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
