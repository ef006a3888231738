import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { ApiException, type V1Lease, type V1LeaseSpec } from "@kubernetes/client-node";
import {
  LeaderElector,
  decide,
  leaseExpiresAtMs,
  microTime,
  parseTimeMs,
  releasedSpec,
  type Decision,
  type LeaseApi,
} from "./leader.ts";
import { FakeClock, flush } from "../../common/runtime/fake-clock.ts";

const T0 = Date.parse("2026-11-22T10:00:00.000Z");
const me = { identity: "me", leaseDurationMs: 15_000 };

/** A Lease as the client returns it: times are JSON strings, not Dates. */
function lease(spec: Record<string, unknown>, rv = "7"): V1Lease {
  return { metadata: { name: "l", namespace: "ns", resourceVersion: rv }, spec } as V1Lease;
}
const iso = (ms: number) => new Date(ms).toISOString().replace("Z", "000Z");

/** The spec a decision writes, failing unless its action is the one expected. */
function written(d: Decision, action: "acquire" | "renew"): V1LeaseSpec {
  if (d.action === "wait") assert.fail(`expected ${action}, got wait for ${d.holder}`);
  assert.equal(d.action, action);
  return d.spec;
}

describe("decide", () => {
  test("no Lease: acquire with transitions 0 and both times now", () => {
    const spec = written(decide(undefined, me, T0), "acquire");
    assert.equal(spec.holderIdentity, "me");
    assert.equal(spec.leaseDurationSeconds, 15);
    assert.equal(spec.leaseTransitions, 0);
    assert.equal(parseTimeMs(spec.acquireTime), T0);
    assert.equal(parseTimeMs(spec.renewTime), T0);
  });

  test("held by someone else and fresh: wait, with the holder and when it expires", () => {
    const d = decide(
      lease({ holderIdentity: "other", leaseDurationSeconds: 15, renewTime: iso(T0 - 5000) }),
      me,
      T0,
    );
    assert.deepEqual(d, { action: "wait", holder: "other", expiresAtMs: T0 + 10_000 });
  });

  test("held by someone else, exactly at expiry: still wait (expired means strictly past)", () => {
    const d = decide(
      lease({ holderIdentity: "other", leaseDurationSeconds: 15, renewTime: iso(T0 - 15_000) }),
      me,
      T0,
    );
    assert.equal(d.action, "wait");
  });

  test("held by someone else and expired: acquire, counting a transition, keeping other fields", () => {
    const spec = written(
      decide(
        lease({
          holderIdentity: "other",
          leaseDurationSeconds: 15,
          renewTime: iso(T0 - 15_001),
          acquireTime: iso(T0 - 60_000),
          leaseTransitions: 4,
        }),
        me,
        T0,
      ),
      "acquire",
    );
    assert.equal(spec.holderIdentity, "me");
    assert.equal(spec.leaseTransitions, 5);
    assert.equal(parseTimeMs(spec.acquireTime), T0, "a new holder has a new acquireTime");
    assert.equal(parseTimeMs(spec.renewTime), T0);
  });

  test("expiry uses the Lease's own duration, not ours", () => {
    const spec = { holderIdentity: "other", leaseDurationSeconds: 60, renewTime: iso(T0 - 30_000) };
    assert.equal(decide(lease(spec), me, T0).action, "wait", "30 s old, valid for 60 s");
  });

  test("released (empty holder): acquire at once, counting a transition", () => {
    for (const holder of [undefined, ""]) {
      const d = decide(
        lease({ holderIdentity: holder, leaseDurationSeconds: 1, renewTime: iso(T0), leaseTransitions: 2 }),
        me,
        T0,
      );
      assert.equal(written(d, "acquire").leaseTransitions, 3, `holder ${JSON.stringify(holder)}`);
    }
  });

  test("held by us: renew, moving renewTime only", () => {
    const spec = written(
      decide(
        lease({
          holderIdentity: "me",
          leaseDurationSeconds: 15,
          acquireTime: iso(T0 - 60_000),
          renewTime: iso(T0 - 2000),
          leaseTransitions: 3,
        }),
        me,
        T0,
      ),
      "renew",
    );
    assert.equal(spec.leaseTransitions, 3, "renewing is not a transition");
    assert.equal(parseTimeMs(spec.acquireTime), T0 - 60_000);
    assert.equal(parseTimeMs(spec.renewTime), T0);
  });

  test("held by us but expired (e.g. we restarted with the same identity): renew, no transition", () => {
    const d = decide(
      lease({
        holderIdentity: "me",
        leaseDurationSeconds: 15,
        renewTime: iso(T0 - 99_000),
        leaseTransitions: 1,
      }),
      me,
      T0,
    );
    assert.equal(written(d, "renew").leaseTransitions, 1);
  });

  test("a holder with no times at all is treated as expired", () => {
    assert.equal(decide(lease({ holderIdentity: "other" }), me, T0).action, "acquire");
  });

  test("writes times as MicroTime strings (six fractional digits, UTC)", () => {
    const spec = written(decide(undefined, me, T0 + 123), "acquire");
    const json = JSON.parse(JSON.stringify(spec)) as { renewTime: string; acquireTime: string };
    assert.equal(json.renewTime, "2026-11-22T10:00:00.123000Z");
    assert.match(json.acquireTime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
  });

  test("rounds a sub-second duration up to a whole second", () => {
    const d = decide(undefined, { identity: "me", leaseDurationMs: 2500 }, T0);
    assert.equal(written(d, "acquire").leaseDurationSeconds, 3);
  });
});

test("leaseExpiresAtMs falls back to acquireTime and to our duration", () => {
  assert.equal(leaseExpiresAtMs({ acquireTime: iso(T0) as never }, 5000), T0 + 5000);
  assert.equal(leaseExpiresAtMs({}, 5000), Number.NEGATIVE_INFINITY);
});

test("releasedSpec clears the holder and keeps the transition count", () => {
  const spec = releasedSpec(
    { holderIdentity: "me", leaseTransitions: 4, leaseDurationSeconds: 15, acquireTime: microTime(T0) },
    T0 + 1000,
  );
  assert.equal(spec.holderIdentity, undefined);
  assert.equal(spec.leaseTransitions, 4);
  assert.equal(spec.leaseDurationSeconds, 1);
  assert.equal(parseTimeMs(spec.renewTime), T0 + 1000);
  assert.equal(decide({ spec }, me, T0 + 1000).action, "acquire", "anyone may take a released Lease");
});

test("parseTimeMs reads strings with microseconds, Dates, and nothing", () => {
  assert.equal(parseTimeMs("2026-11-22T10:00:00.123456Z" as never), T0 + 123);
  assert.equal(parseTimeMs(new Date(T0)), T0);
  assert.equal(parseTimeMs(undefined), undefined);
  assert.equal(parseTimeMs("nonsense" as never), undefined);
});

/** An in-memory Lease endpoint with resourceVersion checks, like the API server's. */
class FakeLeaseApi {
  stored: V1Lease | undefined;
  rv = 0;
  down = false;
  writes: { identity: string | undefined; op: "create" | "replace" }[] = [];

  private check(): void {
    if (this.down) throw new ApiException(503, "unavailable", "{}", {});
  }
  private save(body: V1Lease): V1Lease {
    // A JSON round trip, as over the wire: times come back as strings.
    const copy = JSON.parse(JSON.stringify(body)) as V1Lease;
    copy.metadata = { ...copy.metadata, resourceVersion: String(++this.rv) };
    this.stored = copy;
    return JSON.parse(JSON.stringify(copy)) as V1Lease;
  }
  readNamespacedLease = async (): Promise<V1Lease> => {
    this.check();
    if (!this.stored) throw new ApiException(404, "not found", "{}", {});
    return JSON.parse(JSON.stringify(this.stored)) as V1Lease;
  };
  createNamespacedLease = async (p: { body: V1Lease }): Promise<V1Lease> => {
    this.check();
    if (this.stored) throw new ApiException(409, "exists", "{}", {});
    this.writes.push({ identity: p.body.spec?.holderIdentity, op: "create" });
    return this.save(p.body);
  };
  replaceNamespacedLease = async (p: { body: V1Lease }): Promise<V1Lease> => {
    this.check();
    if (p.body.metadata?.resourceVersion !== this.stored?.metadata?.resourceVersion) {
      throw new ApiException(409, "conflict", "{}", {});
    }
    this.writes.push({ identity: p.body.spec?.holderIdentity, op: "replace" });
    return this.save(p.body);
  };
}

function elector(api: FakeLeaseApi, clock: FakeClock, identity: string) {
  return new LeaderElector({
    api: api as unknown as LeaseApi,
    leaseName: "l",
    leaseNamespace: "ns",
    identity,
    leaseDurationMs: 3000,
    renewDeadlineMs: 2000,
    retryPeriodMs: 500,
    clock,
  });
}

function track() {
  const events: string[] = [];
  return {
    events,
    callbacks: (name: string) => ({
      onStartedLeading: () => events.push(`${name} started`),
      onStoppedLeading: () => events.push(`${name} stopped`),
    }),
  };
}

/** A fresh Lease API and clock at T0, an event log, and candidate "a" on them (not yet running). */
function setup() {
  const api = new FakeLeaseApi();
  const clock = new FakeClock(T0);
  const t = track();
  return { api, clock, t, a: elector(api, clock, "a") };
}

describe("LeaderElector", () => {
  test("creates the Lease, leads, and renews every retryPeriod", async () => {
    const { api, clock, t, a } = setup();
    const done = a.run(t.callbacks("a"));
    await flush();
    assert.equal(a.isLeader(), true);
    assert.deepEqual(t.events, ["a started"]);
    assert.equal(api.stored?.spec?.holderIdentity, "a");
    await clock.advance(2000);
    assert.equal(api.writes.length, 5, "create + 4 renewals in 2 s");
    assert.equal(parseTimeMs(api.stored?.spec?.renewTime), T0 + 2000);
    await a.stop();
    await done;
  });

  test("a second candidate waits while the Lease is held, and takes it once released", async () => {
    const { api, clock, t, a } = setup();
    const b = elector(api, clock, "b");
    void a.run(t.callbacks("a"));
    await flush();
    const bDone = b.run(t.callbacks("b"));
    await clock.advance(10_000);
    assert.equal(a.isLeader(), true);
    assert.equal(b.isLeader(), false);
    await a.stop();
    assert.equal(api.stored?.spec?.holderIdentity, undefined, "released on stop");
    await clock.advance(500);
    assert.equal(b.isLeader(), true, "b took over within one retryPeriod");
    assert.equal(api.stored?.spec?.leaseTransitions, 1);
    assert.deepEqual(t.events, ["a started", "b started"], "stop() does not call onStoppedLeading");
    await b.stop();
    await bDone;
  });

  test("after a crash (no release) the other takes over only once the Lease has expired", async () => {
    const { api, clock, t, a } = setup();
    const b = elector(api, clock, "b");
    void a.run(t.callbacks("a"));
    await flush();
    void b.run(t.callbacks("b"));
    await flush();
    a.kill();
    const lastRenew = parseTimeMs(api.stored?.spec?.renewTime)!;
    await clock.advance(2900);
    assert.equal(b.isLeader(), false, "lease (3 s) not expired yet");
    await clock.advance(3000 + 500 - 2900);
    assert.equal(b.isLeader(), true, "taken within leaseDuration + retryPeriod");
    assert.ok(parseTimeMs(api.stored?.spec?.acquireTime)! > lastRenew + 3000);
    await b.stop();
  });

  test("gives up and calls onStoppedLeading when it cannot renew within renewDeadline", async () => {
    const { api, clock, t, a } = setup();
    const done = a.run(t.callbacks("a"));
    await flush();
    await clock.advance(1000);
    api.down = true;
    await clock.advance(1999);
    assert.equal(a.isLeader(), true, "still within the deadline from the last renewal");
    await clock.advance(1);
    assert.equal(a.isLeader(), false);
    assert.deepEqual(t.events, ["a started", "a stopped"]);
    await done;
    api.down = false;
    await clock.advance(5000);
    assert.equal(a.isLeader(), false, "does not campaign again after a loss");
  });

  test("a write that beats ours (409) is re-read: a harmless one is renewed over", async () => {
    const { api, clock, a } = setup();
    void a.run(track().callbacks("a"));
    await flush();
    // Someone (say, kubectl annotate) writes between our read and our replace.
    const realRead = api.readNamespacedLease;
    api.readNamespacedLease = async () => {
      const got = await realRead();
      api.stored = {
        ...api.stored!,
        metadata: { ...api.stored!.metadata, resourceVersion: String(++api.rv) },
      };
      api.readNamespacedLease = realRead;
      return got;
    };
    await clock.advance(500);
    assert.equal(a.isLeader(), true);
    assert.equal(parseTimeMs(api.stored?.spec?.renewTime), T0 + 500, "renewed after re-reading");
    await a.stop();
  });

  test("loses at once when the Lease is seen held by another", async () => {
    const { api, clock, t, a } = setup();
    void a.run(t.callbacks("a"));
    await flush();
    api.stored = { ...api.stored!, spec: { ...api.stored!.spec, holderIdentity: "intruder" } };
    await clock.advance(500);
    assert.equal(a.isLeader(), false);
    assert.deepEqual(t.events, ["a started", "a stopped"]);
  });

  test("refuses inconsistent timings", () => {
    assert.throws(
      () =>
        new LeaderElector({
          api: new FakeLeaseApi() as unknown as LeaseApi,
          leaseName: "l",
          leaseNamespace: "ns",
          identity: "a",
          leaseDurationMs: 3000,
          renewDeadlineMs: 3000,
          retryPeriodMs: 500,
        }),
      /renewDeadlineMs \(3000\) < leaseDurationMs/,
    );
  });
});
