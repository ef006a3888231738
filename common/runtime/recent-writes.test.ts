import assert from "node:assert/strict";
import test from "node:test";
import { RecentWrites, newerVersion } from "./recent-writes.ts";

interface Obj {
  metadata: { name: string; namespace: string; resourceVersion: string };
  v?: string;
}
const obj = (name: string, rv: string, v?: string): Obj => ({
  metadata: { name, namespace: "ns", resourceVersion: rv },
  ...(v ? { v } : {}),
});

test("newerVersion compares etcd revisions as integers and refuses anything else", () => {
  assert.equal(newerVersion("10", "9"), true);
  assert.equal(newerVersion("9", "10"), false);
  assert.equal(newerVersion("x", "10"), undefined);
});

test("a create is seen before the watch brings it, and the entry goes when it does", () => {
  const w = new RecentWrites<Obj>();
  w.wrote(obj("a", "5"));
  assert.deepEqual(
    w.list([obj("b", "3")]).map((o) => o.metadata.name),
    ["b", "a"],
  );
  assert.equal(w.get("ns", "a", undefined)?.metadata.resourceVersion, "5");
  w.observed(obj("a", "5"));
  assert.equal(w.size, 0);
  assert.equal(w.get("ns", "a", undefined), undefined);
});

test("an update wins over an older cached copy and loses to a newer one", () => {
  const w = new RecentWrites<Obj>();
  w.wrote(obj("a", "7", "mine"));
  assert.equal(w.get("ns", "a", obj("a", "6", "old"))?.v, "mine");
  assert.equal(w.get("ns", "a", obj("a", "8", "theirs"))?.v, "theirs");
  assert.equal(w.size, 0, "a newer cached copy drops the entry");
});

test("a deletion hides the cached copy until the watch says more", () => {
  const w = new RecentWrites<Obj>();
  w.deleted(obj("a", "7"));
  assert.deepEqual(w.list([obj("a", "7")]), []);
  assert.equal(w.get("ns", "a", obj("a", "7")), undefined);
  // Its own deletion event carries a newer version: the entry goes, the cache is the truth again.
  w.observed(obj("a", "9"));
  assert.equal(w.size, 0);
  // A recreate the watch shows with a newer version is not hidden by an old deletion.
  w.deleted(obj("b", "7"));
  assert.equal(w.get("ns", "b", obj("b", "12", "new"))?.v, "new");
});

test("entries expire, and versions that are not integers are never trusted", () => {
  let now = 0;
  const w = new RecentWrites<Obj>({ ttlMs: 1000, now: () => now });
  w.wrote(obj("a", "5"));
  w.deleted(obj("b", "5"));
  now = 1001;
  assert.deepEqual(
    w.list([obj("b", "5")]).map((o) => o.metadata.name),
    ["b"],
  );
  assert.equal(w.size, 0);
  w.wrote(obj("c", "opaque"));
  assert.equal(w.get("ns", "c", obj("c", "other", "cached"))?.v, "cached");
});
