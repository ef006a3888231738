import assert from "node:assert/strict";
import { test } from "node:test";
import { newerVersion } from "../../common/runtime/recent-writes.ts";
import { withMutations } from "./mutation-cache.ts";

interface Obj {
  metadata: { name: string; namespace: string; resourceVersion?: string };
  v: string;
}
const obj = (rv: string | undefined, v: string, name = "a"): Obj => ({
  metadata: { name, namespace: "ns", ...(rv ? { resourceVersion: rv } : {}) },
  v,
});

function setup() {
  const items = new Map<string, Obj>();
  let now = 0;
  const cache = withMutations<Obj>(
    { get: (name) => items.get(name), list: () => [...items.values()] },
    { ttlMs: 1_000, now: () => now },
  );
  return { items, cache, tick: (ms: number) => (now += ms) };
}

test("resourceVersions compare as integers; anything else is no answer", () => {
  assert.equal(newerVersion("10", "9"), true);
  assert.equal(newerVersion("9", "10"), false);
  assert.equal(newerVersion("10", "10"), false);
  assert.equal(newerVersion("abc", "9"), undefined);
  assert.equal(newerVersion(undefined, "9"), undefined);
});

test("a written object wins until the watch delivers it (or something newer)", () => {
  const { items, cache } = setup();
  items.set("a", obj("9", "cached"));
  cache.mutated(obj("10", "written"));
  assert.equal(cache.get("a", "ns")?.v, "written");
  assert.deepEqual(
    cache.list().map((o) => o.v),
    ["written"],
  );
  items.set("a", obj("10", "delivered"));
  assert.equal(cache.get("a", "ns")?.v, "delivered");
  // Dropped: an older cache entry later (a relist in progress) no longer brings it back.
  items.set("a", obj("9", "cached"));
  assert.equal(cache.get("a", "ns")?.v, "cached");
  cache.mutated(obj("11", "written again"));
  items.set("a", obj("12", "someone else's change"));
  assert.equal(cache.get("a", "ns")?.v, "someone else's change");
});

test("an entry expires, and never stands for an object the cache no longer has or cannot compare", () => {
  const { items, cache, tick } = setup();
  items.set("a", obj("9", "cached"));
  cache.mutated(obj("10", "written"));
  tick(1_001);
  assert.equal(cache.get("a", "ns")?.v, "cached", "expired");

  cache.mutated(obj("11", "written"));
  items.delete("a");
  assert.equal(cache.get("a", "ns"), undefined, "deleted meanwhile");

  items.set("a", obj("x9", "cached"));
  cache.mutated(obj("x10", "written"));
  assert.equal(cache.get("a", "ns")?.v, "cached", "versions that are not integers");
});
