import { test } from "node:test";
import assert from "node:assert/strict";
import { ActivityTracker } from "./tracker.ts";

test("touch records the newest time per kind; hold counts until released (once)", () => {
  let now = 1000;
  const t = new ActivityTracker(() => now);
  t.touch("ns", "a", "proxy");
  now = 2000;
  t.touch("ns", "a", "proxy");
  const release = t.hold("ns", "a", "console");
  const e = t.get("ns", "a")!;
  assert.deepEqual(e.seen, { proxy: 2000, console: 2000 });
  assert.equal(e.holds.console, 1);
  now = 5000;
  release();
  release();
  assert.equal(e.holds.console, 0);
  assert.equal(e.seen.console, 5000);
  assert.equal(t.size, 1);
  t.forget("ns", "a");
  assert.equal(t.size, 0);
  assert.equal([...t.entries()].length, 0);
});

test("touch on a known workspace reuses its entry (no allocation on the hot path)", () => {
  const t = new ActivityTracker(() => 1);
  t.touch("ns", "a", "proxy");
  const e = t.get("ns", "a");
  for (let i = 0; i < 1000; i++) t.touch("ns", "a", "proxy");
  assert.equal(t.get("ns", "a"), e);
  assert.equal(t.size, 1);
});
