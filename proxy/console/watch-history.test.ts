import assert from "node:assert/strict";
import test from "node:test";
import { ChannelHistory, rvOf, type Entry } from "./watch-history.ts";

const entry = (rv: number, name = `w${rv}`): Entry => ({
  rv: BigInt(rv),
  op: "MODIFIED",
  namespace: "ns",
  key: `ns/${name}`,
  json: `{"name":"${name}"}`,
  now: { owner: "alice" },
  before: { owner: "alice" },
});
const rvs = (es: Entry[] | undefined) => es?.map((e) => Number(e.rv));

test("resourceVersions compare as integers, and only integers are resumable", () => {
  assert.equal(rvOf("10"), 10n);
  assert.ok(rvOf("10")! > rvOf("9")!);
  for (const bad of [undefined, "", "abc", "1e3", "-1", " 12", "12/34"])
    assert.equal(rvOf(bad), undefined, bad);
});

test("nothing is resumable before the first list", () => {
  const h = new ChannelHistory(10);
  assert.equal(h.since(0n), undefined);
});

test("replays exactly the changes after the client's version, none missed, none repeated", () => {
  const h = new ChannelHistory(10);
  h.listed(100n);
  for (const rv of [101, 105, 109, 120]) h.record(entry(rv));
  assert.deepEqual(rvs(h.since(100n)), [101, 105, 109, 120]);
  assert.deepEqual(rvs(h.since(105n)), [109, 120]);
  // A version between entries (another resource's change, another replica's snapshot) works too.
  assert.deepEqual(rvs(h.since(107n)), [109, 120]);
  assert.deepEqual(rvs(h.since(120n)), []);
  // Ahead of this replica (another replica saw more): nothing yet; the rest comes live.
  assert.deepEqual(rvs(h.since(500n)), []);
  assert.equal(h.high, 120n);
});

test("a version from before this replica's list cannot be served (another replica that started earlier)", () => {
  const h = new ChannelHistory(10);
  h.listed(100n);
  h.record(entry(101));
  assert.equal(h.since(99n), undefined);
  assert.deepEqual(rvs(h.since(100n)), [101]);
});

test("a relist restarts coverage at its version; its diff is not history", () => {
  const h = new ChannelHistory(10);
  h.listed(100n);
  h.record(entry(101));
  h.record(entry(102));
  h.listed(200n);
  // The diff of the relist: objects whose own versions are older than the list.
  assert.equal(h.positionOf(150n), 200n);
  h.record({ ...entry(150), rv: h.positionOf(150n) });
  assert.equal(h.positionOf(201n), 201n);
  h.record(entry(201));
  assert.equal(h.since(101n), undefined);
  assert.equal(h.since(199n), undefined);
  assert.deepEqual(rvs(h.since(200n)), [201]);
});

test("the history is bounded: evicting raises coverage to the evicted version", () => {
  const h = new ChannelHistory(3);
  h.listed(0n);
  for (let rv = 1; rv <= 10; rv++) h.record(entry(rv));
  assert.equal(h.size, 3);
  assert.equal(h.since(6n), undefined);
  assert.deepEqual(rvs(h.since(7n)), [8, 9, 10]);
  assert.deepEqual(rvs(h.since(9n)), [10]);
});
