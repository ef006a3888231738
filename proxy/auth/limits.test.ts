import { test } from "node:test";
import assert from "node:assert/strict";
import { ConnectionCounts, KeyedBuckets } from "./limits.ts";

test("a burst passes, then the key waits; other keys are not affected; tokens come back with time", () => {
  let now = 0;
  const b = new KeyedBuckets({ ratePerSecond: 2, burst: 3, maxKeys: 100, now: () => now });
  for (let i = 0; i < 3; i++) assert.deepEqual(b.take("alice"), { ok: true });
  assert.deepEqual(b.take("alice"), { ok: false, retryAfterSeconds: 1 });
  assert.deepEqual(b.take("bob"), { ok: true }, "bob has his own bucket");
  now += 500; // one token at 2/s
  assert.deepEqual(b.take("alice"), { ok: true });
  assert.equal(b.take("alice").ok, false);
  now += 10_000;
  for (let i = 0; i < 3; i++) assert.equal(b.take("alice").ok, true, "refilled to the burst, not beyond");
  assert.equal(b.take("alice").ok, false);
});

test("Retry-After grows with a slow rate", () => {
  const b = new KeyedBuckets({ ratePerSecond: 0.1, burst: 1, maxKeys: 10, now: () => 0 });
  assert.equal(b.take("k").ok, true);
  assert.deepEqual(b.take("k"), { ok: false, retryAfterSeconds: 10 });
});

test("memory stays bounded under a flood of keys", () => {
  let now = 0;
  const b = new KeyedBuckets({ ratePerSecond: 1, burst: 5, maxKeys: 1000, now: () => now });
  for (let i = 0; i < 50_000; i++) {
    b.take(`10.0.${i >> 8}.${i & 255}`);
    now += 0.01;
  }
  assert.ok(b.size <= 1000, `${b.size} keys kept`);
});

test("connection counts: a ceiling per key, released exactly once", () => {
  const c = new ConnectionCounts(2);
  const a1 = c.acquire("alice")!;
  const a2 = c.acquire("alice")!;
  assert.equal(c.acquire("alice"), undefined);
  assert.ok(c.acquire("bob"));
  a1();
  a1();
  assert.equal(c.open("alice"), 1, "a second release of the same slot changes nothing");
  assert.ok(c.acquire("alice"));
  a2();
});
