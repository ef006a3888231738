import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { FakeClock } from "../../common/runtime/fake-clock.ts";
import { realClock, type Clock } from "../../common/runtime/types.ts";
import {
  ActiveProber,
  activeSettings,
  CircuitBreaker,
  EndpointHealth,
  httpProbe,
  isExpectedStatus,
  passiveSettings,
  probeUrl,
  type Probe,
} from "./health.ts";

const T0 = 1_000_000;
const times = (n: number, f: () => void) => {
  for (let i = 0; i < n; i++) f();
};

test("isExpectedStatus: any 2xx/3xx by default, else exactly the listed ones", () => {
  for (const s of [200, 204, 299, 301, 304, 399]) assert.equal(isExpectedStatus(s), true, String(s));
  for (const s of [0, 101, 199, 400, 404, 500, 503]) assert.equal(isExpectedStatus(s), false, String(s));
  assert.equal(isExpectedStatus(418, [200, 418]), true);
  assert.equal(isExpectedStatus(204, [200, 418]), false);
  assert.equal(isExpectedStatus(302, []), true);
});

test("activeSettings and passiveSettings fill the CRD's defaults and parse durations", () => {
  assert.deepEqual(activeSettings({}), {
    path: "/",
    intervalMs: 10_000,
    timeoutMs: 2_000,
    healthyThreshold: 2,
    unhealthyThreshold: 3,
    expectedStatuses: undefined,
  });
  assert.deepEqual(
    activeSettings({
      path: "/healthz",
      interval: "1m30s",
      timeout: "1.5s",
      healthyThreshold: 4,
      unhealthyThreshold: 1,
      expectedStatuses: [204],
    }),
    {
      path: "/healthz",
      intervalMs: 90_000,
      timeoutMs: 1_500,
      healthyThreshold: 4,
      unhealthyThreshold: 1,
      expectedStatuses: [204],
    },
  );
  // A timeout above the interval is cut to it.
  assert.equal(activeSettings({ interval: "500ms", timeout: "2s" }).timeoutMs, 500);
  assert.deepEqual(passiveSettings({}), { consecutiveErrors: 5, ejectionTimeMs: 30_000 });
  assert.deepEqual(passiveSettings({ consecutiveErrors: 2, ejectionTime: "2m" }), {
    consecutiveErrors: 2,
    ejectionTimeMs: 120_000,
  });
});

test("EndpointHealth starts healthy; active defaults: 3 failures down, 2 successes up", () => {
  const h = new EndpointHealth({ active: {} });
  assert.equal(h.state(T0), "healthy");
  h.activeResult(false);
  h.activeResult(false);
  assert.equal(h.healthy(T0), true);
  h.activeResult(false);
  assert.equal(h.healthy(T0), false);
  assert.equal(h.state(T0), "unhealthy");
  h.activeResult(true);
  assert.equal(h.state(T0), "unhealthy");
  h.activeResult(true);
  assert.equal(h.state(T0), "healthy");
  assert.equal(h.healthy(T0), true);
});

test("EndpointHealth: only consecutive active results count", () => {
  const h = new EndpointHealth({ active: {} });
  h.activeResult(false);
  h.activeResult(false);
  h.activeResult(true); // breaks the failure streak
  h.activeResult(false);
  h.activeResult(false);
  assert.equal(h.state(T0), "healthy");
  h.activeResult(false);
  assert.equal(h.state(T0), "unhealthy");
  h.activeResult(true);
  h.activeResult(false); // breaks the success streak
  h.activeResult(true);
  assert.equal(h.state(T0), "unhealthy");
  h.activeResult(true);
  assert.equal(h.state(T0), "healthy");
});

test("EndpointHealth honours custom active thresholds", () => {
  const h = new EndpointHealth({ active: { unhealthyThreshold: 1, healthyThreshold: 3 } });
  h.activeResult(false);
  assert.equal(h.state(T0), "unhealthy");
  h.activeResult(true);
  h.activeResult(true);
  assert.equal(h.state(T0), "unhealthy");
  h.activeResult(true);
  assert.equal(h.state(T0), "healthy");
});

test("EndpointHealth passive defaults: 5 consecutive errors eject for 30s, then it is back", () => {
  const h = new EndpointHealth({ passive: {} });
  times(4, () => h.passiveResult(false, T0));
  assert.equal(h.state(T0), "healthy");
  h.passiveResult(false, T0 + 100);
  assert.equal(h.state(T0 + 100), "ejected");
  assert.equal(h.healthy(T0 + 100), false);
  assert.equal(h.healthy(T0 + 100 + 29_999), false);
  assert.equal(h.state(T0 + 100 + 30_000), "healthy");
  assert.equal(h.healthy(T0 + 100 + 30_000), true);
});

test("EndpointHealth passive: a success resets the count; results during ejection are ignored", () => {
  const h = new EndpointHealth({ passive: { consecutiveErrors: 3, ejectionTime: "10s" } });
  h.passiveResult(false, T0);
  h.passiveResult(false, T0);
  h.passiveResult(true, T0);
  h.passiveResult(false, T0);
  h.passiveResult(false, T0);
  assert.equal(h.state(T0), "healthy");
  h.passiveResult(false, T0);
  assert.equal(h.state(T0), "ejected");
  // Stragglers neither extend the ejection nor count towards the next one.
  times(5, () => h.passiveResult(false, T0 + 5_000));
  h.passiveResult(true, T0 + 5_000);
  assert.equal(h.state(T0 + 10_000), "healthy");
  // Back with a clean count: it takes 3 fresh errors to eject again, from their time on.
  h.passiveResult(false, T0 + 11_000);
  h.passiveResult(false, T0 + 11_000);
  assert.equal(h.state(T0 + 11_000), "healthy");
  h.passiveResult(false, T0 + 12_000);
  assert.equal(h.state(T0 + 12_000), "ejected");
  assert.equal(h.state(T0 + 21_999), "ejected");
  assert.equal(h.state(T0 + 22_000), "healthy");
});

test("EndpointHealth: after an ejection it is back only if active checks say healthy", () => {
  const h = new EndpointHealth({ active: { unhealthyThreshold: 1, healthyThreshold: 1 }, passive: {} });
  times(5, () => h.passiveResult(false, T0));
  assert.equal(h.state(T0), "ejected");
  h.activeResult(false);
  // Failing probes outrank the temporary ejection in what metrics show.
  assert.equal(h.state(T0), "unhealthy");
  assert.equal(h.state(T0 + 30_000), "unhealthy");
  assert.equal(h.healthy(T0 + 30_000), false);
  h.activeResult(true);
  assert.equal(h.state(T0 + 30_000), "healthy");
  // Probes recovering during an ejection do not end it early.
  times(5, () => h.passiveResult(false, T0 + 40_000));
  h.activeResult(true);
  assert.equal(h.state(T0 + 40_001), "ejected");
});

test("EndpointHealth ignores the kind of result its healthCheck does not configure", () => {
  const none = new EndpointHealth(undefined);
  times(10, () => none.activeResult(false));
  times(10, () => none.passiveResult(false, T0));
  assert.equal(none.state(T0), "healthy");
  const activeOnly = new EndpointHealth({ active: {} });
  times(10, () => activeOnly.passiveResult(false, T0));
  assert.equal(activeOnly.state(T0), "healthy");
  const passiveOnly = new EndpointHealth({ passive: {} });
  times(10, () => passiveOnly.activeResult(false));
  assert.equal(passiveOnly.state(T0), "healthy");
});

test("CircuitBreaker defaults: 5 consecutive failures open it for 30s, then 1 trial closes it", () => {
  const cb = new CircuitBreaker(undefined);
  assert.equal(cb.state(T0), "closed");
  times(4, () => {
    assert.equal(cb.tryAcquire(T0), true);
    cb.onResult(false, T0);
  });
  assert.equal(cb.state(T0), "closed");
  cb.onResult(false, T0 + 10);
  assert.equal(cb.state(T0 + 10), "open");
  assert.equal(cb.tryAcquire(T0 + 10), false);
  assert.equal(cb.tryAcquire(T0 + 10 + 29_999), false);
  assert.equal(cb.state(T0 + 10 + 29_999), "open");
  assert.equal(cb.state(T0 + 10 + 30_000), "half-open");
  assert.equal(cb.tryAcquire(T0 + 10 + 30_000), true);
  // One trial at a time by default.
  assert.equal(cb.tryAcquire(T0 + 10 + 30_001), false);
  cb.onResult(true, T0 + 10 + 30_002);
  assert.equal(cb.state(T0 + 10 + 30_002), "closed");
  assert.equal(cb.tryAcquire(T0 + 10 + 30_002), true);
});

test("CircuitBreaker: a success while closed resets the failure count", () => {
  const cb = new CircuitBreaker({ consecutiveFailures: 3 });
  cb.onResult(false, T0);
  cb.onResult(false, T0);
  cb.onResult(true, T0);
  cb.onResult(false, T0);
  cb.onResult(false, T0);
  assert.equal(cb.state(T0), "closed");
  cb.onResult(false, T0);
  assert.equal(cb.state(T0), "open");
});

test("CircuitBreaker: a half-open failure opens it again for a fresh openDuration", () => {
  const cb = new CircuitBreaker({ consecutiveFailures: 1, openDuration: "500ms" });
  cb.onResult(false, T0);
  assert.equal(cb.state(T0 + 499), "open");
  assert.equal(cb.tryAcquire(T0 + 500), true);
  cb.onResult(false, T0 + 700);
  assert.equal(cb.state(T0 + 700), "open");
  // Counted from the trial's failure, not from the first opening.
  assert.equal(cb.tryAcquire(T0 + 1_199), false);
  assert.equal(cb.state(T0 + 1_200), "half-open");
  // And the closed count starts afresh after the circuit closes.
  assert.equal(cb.tryAcquire(T0 + 1_200), true);
  cb.onResult(true, T0 + 1_201);
  assert.equal(cb.state(T0 + 1_201), "closed");
});

test("CircuitBreaker: halfOpenRequests limits trials in flight and that many successes close it", () => {
  const cb = new CircuitBreaker({ consecutiveFailures: 1, openDuration: "1s", halfOpenRequests: 3 });
  cb.onResult(false, T0);
  const t = T0 + 1_000;
  assert.equal(cb.tryAcquire(t), true);
  assert.equal(cb.tryAcquire(t), true);
  assert.equal(cb.tryAcquire(t), true);
  assert.equal(cb.tryAcquire(t), false);
  cb.onResult(true, t);
  assert.equal(cb.state(t), "half-open");
  // The finished trial freed its slot.
  assert.equal(cb.tryAcquire(t), true);
  assert.equal(cb.tryAcquire(t), false);
  cb.onResult(true, t);
  assert.equal(cb.state(t), "half-open");
  cb.onResult(true, t);
  assert.equal(cb.state(t), "closed");
});

test("CircuitBreaker: release frees a trial slot without a verdict", () => {
  const cb = new CircuitBreaker({ consecutiveFailures: 1, openDuration: "1s" });
  cb.onResult(false, T0);
  assert.equal(cb.tryAcquire(T0 + 1_000), true);
  assert.equal(cb.tryAcquire(T0 + 1_000), false);
  cb.release(T0 + 1_001);
  assert.equal(cb.state(T0 + 1_001), "half-open");
  assert.equal(cb.tryAcquire(T0 + 1_002), true);
});

test("CircuitBreaker ignores results while open (requests sent before it opened)", () => {
  const cb = new CircuitBreaker({ consecutiveFailures: 2, openDuration: "10s" });
  cb.onResult(false, T0);
  cb.onResult(false, T0);
  // A straggler's failure does not extend the open time, its success does not close it.
  cb.onResult(false, T0 + 5_000);
  cb.onResult(true, T0 + 6_000);
  assert.equal(cb.state(T0 + 9_999), "open");
  assert.equal(cb.state(T0 + 10_000), "half-open");
});

test("probeUrl joins origin, basePath and path with one slash", () => {
  assert.equal(probeUrl({ id: "x", origin: "http://10.0.0.1:80", basePath: "" }, "/"), "http://10.0.0.1:80/");
  assert.equal(
    probeUrl({ id: "x", origin: "https://api.example.com", basePath: "/v1" }, "/healthz"),
    "https://api.example.com/v1/healthz",
  );
  assert.equal(
    probeUrl({ id: "x", origin: "https://api.example.com", basePath: "/v1/" }, "healthz"),
    "https://api.example.com/v1/healthz",
  );
});

/** A probe stub: records calls; each call waits for the test to settle it. */
function stubProbe() {
  const calls: { url: string; signal: AbortSignal; settle: (status: number | Error) => void }[] = [];
  const probe: Probe = (url, signal) =>
    new Promise((resolve, reject) => {
      const settle = (s: number | Error) => (typeof s === "number" ? resolve(s) : reject(s));
      signal.addEventListener("abort", () => reject(new Error("aborted")));
      calls.push({ url, signal, settle });
    });
  return { probe, calls };
}

test("ActiveProber probes at once and then every interval, and reports each result", async () => {
  const clock = new FakeClock(T0);
  const { probe, calls } = stubProbe();
  const results: [string, boolean][] = [];
  const prober = new ActiveProber(
    { path: "/healthz", expectedStatuses: [204] },
    { onResult: (id, ok) => results.push([id, ok]), probe, clock },
  );
  prober.update([{ id: "a", origin: "http://10.0.0.1:80", basePath: "" }]);
  assert.deepEqual(
    calls.map((c) => c.url),
    ["http://10.0.0.1:80/healthz"],
  );
  calls[0]!.settle(204);
  await clock.advance(0);
  assert.deepEqual(results, [["a", true]]);
  await clock.advance(9_999);
  assert.equal(calls.length, 1);
  await clock.advance(1);
  assert.equal(calls.length, 2);
  calls[1]!.settle(200); // not in expectedStatuses
  await clock.advance(10_000);
  calls[2]!.settle(new Error("ECONNREFUSED"));
  await clock.advance(0);
  assert.deepEqual(results, [
    ["a", true],
    ["a", false],
    ["a", false],
  ]);
  prober.stop();
});

test("ActiveProber: a probe that outlives its timeout fails, and a tick skips a probe still running", async () => {
  const clock = new FakeClock(T0);
  const results: boolean[] = [];
  let started = 0;
  // Ignores its abort signal: never settles.
  const stuck: Probe = () => {
    started++;
    return new Promise(() => undefined);
  };
  const prober = new ActiveProber(
    { interval: "10s", timeout: "3s" },
    { onResult: (_, ok) => results.push(ok), probe: stuck, clock },
  );
  prober.update([{ id: "a", origin: "http://a", basePath: "" }]);
  await clock.advance(30_000);
  // The first probe never ended, so no later tick started another; nothing was reported either.
  assert.equal(started, 1);
  assert.equal(results.length, 0);
  prober.stop();

  // A probe that honours its signal is aborted at the timeout and reported as a failure.
  const { probe, calls } = stubProbe();
  const p2 = new ActiveProber(
    { interval: "10s", timeout: "3s" },
    { onResult: (_, ok) => results.push(ok), probe, clock },
  );
  p2.update([{ id: "b", origin: "http://b", basePath: "" }]);
  await clock.advance(2_999);
  assert.equal(calls[0]!.signal.aborted, false);
  await clock.advance(1);
  assert.equal(calls[0]!.signal.aborted, true);
  assert.deepEqual(results, [false]);
  p2.stop();
});

test("ActiveProber.update starts and stops probes as endpoints come and go; stop clears every timer", async () => {
  const clock = new FakeClock(T0);
  const { probe, calls } = stubProbe();
  const results: string[] = [];
  const prober = new ActiveProber({}, { onResult: (id) => results.push(id), probe, clock });
  const a = { id: "a", origin: "http://a", basePath: "" };
  const b = { id: "b", origin: "http://b", basePath: "" };
  prober.update([a, b]);
  assert.deepEqual(prober.ids, ["a", "b"]);
  assert.deepEqual(
    calls.map((c) => c.url),
    ["http://a/", "http://b/"],
  );
  // b leaves with its probe in flight: the probe is aborted and its result never reported.
  prober.update([a]);
  assert.deepEqual(prober.ids, ["a"]);
  assert.equal(calls[1]!.signal.aborted, true);
  calls[0]!.settle(200);
  calls[1]!.settle(200);
  await clock.advance(0);
  assert.deepEqual(results, ["a"]);
  // The same endpoints again: no restart, no extra probe.
  prober.update([a]);
  assert.equal(calls.length, 2);
  // An endpoint whose URL changed is probed anew at its new URL.
  prober.update([{ ...a, basePath: "/v2" }]);
  assert.deepEqual(calls.at(-1)!.url, "http://a/v2/");
  // Its first probe times out (reported), the next tick probes again.
  await clock.advance(10_000);
  assert.deepEqual(
    calls.slice(2).map((c) => c.url),
    ["http://a/v2/", "http://a/v2/"],
  );
  assert.deepEqual(results, ["a", "a"]);
  prober.stop();
  assert.deepEqual(prober.ids, []);
  assert.equal(clock.pending(), 0);
  const before = calls.length;
  await clock.advance(60_000);
  assert.equal(calls.length, before);
});

/** A local server answering `status` (or never, for "hang"), recording the paths it was asked for. */
async function server(status: number | "hang"): Promise<{ srv: Server; origin: string; paths: string[] }> {
  const paths: string[] = [];
  const srv = createServer((req, res) => {
    paths.push(`${req.method} ${req.url}`);
    if (status === "hang") return;
    res.writeHead(status).end("x".repeat(100));
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  return { srv, origin: `http://127.0.0.1:${(srv.address() as AddressInfo).port}`, paths };
}
const close = (srv: Server) =>
  new Promise<void>((r) => {
    srv.closeAllConnections();
    srv.close(() => r());
  });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("ActiveProber against real servers: 200 is healthy, 500, a closed port and a hang are not", async () => {
  const ok = await server(200);
  const bad = await server(500);
  const hang = await server("hang");
  const gone = await server(200);
  await close(gone.srv); // its port is now closed
  // undici compiles its HTTP parser on first use: keep that out of the probes' short timeouts.
  assert.equal(await httpProbe(`${ok.origin}/warm-up`, AbortSignal.timeout(5_000)), 200);
  ok.paths.length = 0;
  const handles: unknown[] = [];
  const clock: Clock = {
    ...realClock,
    setTimeout: (fn, ms) => {
      const h = realClock.setTimeout(fn, ms);
      handles.push(h);
      return h;
    },
  };
  const results = new Map<string, boolean[]>();
  const reported = () => [...results.values()].reduce((n, r) => n + r.length, 0);
  const onResult = (id: string, r: boolean) => results.set(id, [...(results.get(id) ?? []), r]);
  // A generous timeout where a slow answer would make the test flaky; a short one for the hang.
  const prober = new ActiveProber(
    { path: "/healthz", interval: "250ms", timeout: "250ms" },
    { onResult, clock },
  );
  const hangProber = new ActiveProber({ interval: "100ms", timeout: "50ms" }, { onResult, clock });
  const ids = ["ok", "bad", "hang", "gone"];
  try {
    prober.update([
      { id: "ok", origin: ok.origin, basePath: "/svc" },
      { id: "bad", origin: bad.origin, basePath: "" },
      { id: "gone", origin: gone.origin, basePath: "" },
    ]);
    hangProber.update([{ id: "hang", origin: hang.origin, basePath: "" }]);
    await waitFor(() => ids.every((id) => (results.get(id)?.length ?? 0) >= 2), 5_000);
    assert.ok(results.get("ok")!.every((r) => r));
    for (const id of ["bad", "hang", "gone"])
      assert.ok(
        results.get(id)!.every((r) => !r),
        id,
      );
    assert.ok(ok.paths.length >= 2);
    assert.ok(ok.paths.every((p) => p === "GET /svc/healthz"));
    // Timers never hold the process open.
    assert.ok(handles.length > 0);
    for (const h of handles) assert.equal((h as NodeJS.Timeout).hasRef(), false);

    // "bad" leaves: after a request already on its way, it is asked nothing more.
    prober.update([{ id: "ok", origin: ok.origin, basePath: "/svc" }]);
    await sleep(50);
    const badAsked = bad.paths.length;
    await sleep(600);
    assert.equal(bad.paths.length, badAsked);
    // stop() ends the rest: nothing is reported from then on, nothing more is asked.
    prober.stop();
    hangProber.stop();
    const before = reported();
    await sleep(50);
    const okAsked = ok.paths.length;
    await sleep(600);
    assert.equal(ok.paths.length, okAsked);
    assert.equal(reported(), before);
  } finally {
    prober.stop();
    hangProber.stop();
    await Promise.all([ok, bad, hang].map((s) => close(s.srv)));
  }
});

/** Polls `cond` until it holds; fails after `ms`. */
async function waitFor(cond: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`condition not met within ${ms}ms`);
    await sleep(10);
  }
}
