import { test } from "node:test";
import assert from "node:assert/strict";
import type { LoadBalancerStrategy } from "../../crds/types.ts";
import type { Balancer, Endpoint, PickContext } from "../../common/model/gateway/model.ts";
import { candidates, createBalancer, hashPrefix, unitHash } from "./balancer.ts";

const ep = (id: string, weight = 1, backend = 0): Endpoint => ({
  id,
  origin: `http://${id}`,
  basePath: "",
  backend,
  weight,
});
const four = ["a", "b", "c", "d"].map((id) => ep(id));
const ctx = (over: Partial<PickContext> = {}): PickContext => ({ clientIp: "10.0.0.1", ...over });
const noLoad = () => 0;

/** Picks `n` times and returns the ids in order. */
const run = (b: Balancer, list: readonly Endpoint[], n: number, c: PickContext = ctx()): string[] =>
  Array.from({ length: n }, () => b.pick(list, c)!.id);
const counts = (ids: readonly string[]): Record<string, number> => {
  const out: Record<string, number> = {};
  for (const id of ids) out[id] = (out[id] ?? 0) + 1;
  return out;
};

/** A seeded PRNG (mulberry32), so the random-looking inputs are the same on every run. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const randomIps = (n: number, seed = 1): string[] => {
  const r = rng(seed);
  return Array.from({ length: n }, () => [0, 0, 0, 0].map(() => Math.floor(r() * 256)).join("."));
};

const STRATEGIES: (LoadBalancerStrategy | undefined)[] = [
  undefined,
  "RoundRobin",
  "WeightedRoundRobin",
  "LeastConnections",
  "IPHash",
  "ConsistentHash",
];

test("every strategy answers undefined for an empty list and the only endpoint for one", () => {
  for (const s of STRATEGIES) {
    const b = createBalancer(s, noLoad);
    assert.equal(b.pick([], ctx()), undefined, String(s));
    assert.equal(b.pick([ep("x")], ctx())?.id, "x", String(s));
    // Even when that one was already tried: a retry still has somewhere to go.
    assert.equal(b.pick([ep("x")], ctx({ exclude: new Set(["x"]) }))?.id, "x", String(s));
  }
});

test("candidates: weight 0 is out unless all are 0; excluded ones are out unless all are", () => {
  const list = [ep("a", 1), ep("z", 0), ep("b", 2)];
  assert.deepEqual(
    candidates(list, undefined)!.list.map((e) => e.id),
    ["a", "b"],
  );
  assert.deepEqual(
    candidates(list, new Set(["a"]))!.list.map((e) => e.id),
    ["b"],
  );
  // Every positive one tried: back to them, never to the weight-0 one.
  assert.deepEqual(
    candidates(list, new Set(["a", "b"]))!.list.map((e) => e.id),
    ["a", "b"],
  );
  const zeros = [ep("a", 0), ep("b", 0)];
  assert.deepEqual(candidates(zeros, undefined), { list: zeros, weighted: false });
  assert.equal(candidates([], undefined), undefined);
});

test("RoundRobin (the default) cycles in list order, ignoring weights", () => {
  const list = [ep("a", 1), ep("b", 5), ep("c", 0.2)];
  assert.deepEqual(run(createBalancer(undefined, noLoad), list, 7), ["a", "b", "c", "a", "b", "c", "a"]);
  assert.deepEqual(run(createBalancer("RoundRobin", noLoad), list, 3), ["a", "b", "c"]);
  // A fresh copy of the same list each call (as a caller rebuilding it would pass) changes nothing.
  const b = createBalancer("RoundRobin", noLoad);
  assert.deepEqual(
    Array.from({ length: 4 }, () => b.pick([...list], ctx())!.id),
    ["a", "b", "c", "a"],
  );
});

test("RoundRobin skips weight 0 unless every weight is 0", () => {
  assert.deepEqual(run(createBalancer("RoundRobin", noLoad), [ep("a"), ep("z", 0), ep("b")], 4), [
    "a",
    "b",
    "a",
    "b",
  ]);
  assert.deepEqual(run(createBalancer("RoundRobin", noLoad), [ep("a", 0), ep("b", 0)], 3), ["a", "b", "a"]);
});

test("RoundRobin keeps its place when endpoints come and go", () => {
  const [a, b, c, d] = four as [Endpoint, Endpoint, Endpoint, Endpoint];
  const e = ep("e");
  const rr = createBalancer("RoundRobin", noLoad);
  assert.deepEqual(run(rr, [a, b, c, d], 2), ["a", "b"]);
  // b (the last one taken) leaves: c is next, not d.
  assert.deepEqual(run(rr, [a, c, d], 2), ["c", "d"]);
  // b comes back and e joins after d: e is next, then the cycle goes on from the start.
  assert.deepEqual(run(rr, [a, b, c, d, e], 3), ["e", "a", "b"]);
  // b (last taken) and c (next) both leave: d, not a repeat of a.
  assert.deepEqual(run(rr, [a, d, e], 2), ["d", "e"]);
  // The last one taken is now at another position: the turn after it still follows it.
  assert.deepEqual(run(rr, [e, d, a], 1), ["d"]);
  // Everything taken so far is gone: start at the beginning.
  assert.deepEqual(run(rr, [b, c], 2), ["b", "c"]);
});

test("RoundRobin sends a retry to the next endpoint not yet tried", () => {
  const rr = createBalancer("RoundRobin", noLoad);
  assert.equal(rr.pick(four, ctx())!.id, "a");
  // The request that got "a" retries: b is next in turn and not excluded.
  assert.equal(rr.pick(four, ctx({ exclude: new Set(["a"]) }))!.id, "b");
  // c and d were tried: the turn skips them to a.
  assert.equal(rr.pick(four, ctx({ exclude: new Set(["c", "d"]) }))!.id, "a");
  // All tried: any of them, still in turn.
  assert.equal(rr.pick(four, ctx({ exclude: new Set(["a", "b", "c", "d"]) }))!.id, "b");
});

test("WeightedRoundRobin: weights 1:3 give exactly 25%/75% over 4,000 picks, interleaved", () => {
  const wrr = createBalancer("WeightedRoundRobin", noLoad);
  const ids = run(wrr, [ep("a", 1), ep("b", 3)], 4000);
  assert.deepEqual(counts(ids), { a: 1000, b: 3000 });
  // Smooth: every window of 4 picks holds exactly one "a" (never "a" twice in a row, never bursts of b).
  for (let i = 0; i < ids.length; i += 4)
    assert.equal(ids.slice(i, i + 4).filter((x) => x === "a").length, 1);
  assert.deepEqual(ids.slice(0, 8), ["b", "a", "b", "b", "b", "a", "b", "b"]);
});

test("WeightedRoundRobin: a backend's weight divided among its endpoints stays exact", () => {
  // Backend 0 (weight 1) has three pods, backend 1 (weight 1) one: half the traffic each.
  const list = [ep("p1", 1 / 3, 0), ep("p2", 1 / 3, 0), ep("p3", 1 / 3, 0), ep("q", 1, 1)];
  assert.deepEqual(counts(run(createBalancer("WeightedRoundRobin", noLoad), list, 6000)), {
    p1: 1000,
    p2: 1000,
    p3: 1000,
    q: 3000,
  });
  // Weights 5, 2.5, 0.5 (sum 8): 80 picks give 50/25/5.
  const mixed = [ep("x", 5), ep("y", 2.5), ep("z", 0.5)];
  assert.deepEqual(counts(run(createBalancer("WeightedRoundRobin", noLoad), mixed, 80)), {
    x: 50,
    y: 25,
    z: 5,
  });
});

test("WeightedRoundRobin never picks weight 0 unless all are 0, then goes evenly", () => {
  const some = run(createBalancer("WeightedRoundRobin", noLoad), [ep("a", 2), ep("z", 0), ep("b", 1)], 300);
  assert.deepEqual(counts(some), { a: 200, b: 100 });
  const none = run(createBalancer("WeightedRoundRobin", noLoad), [ep("a", 0), ep("b", 0)], 100);
  assert.deepEqual(counts(none), { a: 50, b: 50 });
});

test("WeightedRoundRobin honours exclude and keeps exact shares among the rest", () => {
  const wrr = createBalancer("WeightedRoundRobin", noLoad);
  const list = [ep("a", 1), ep("b", 1), ep("c", 2)];
  const ids = run(wrr, list, 300, ctx({ exclude: new Set(["c"]) }));
  assert.deepEqual(counts(ids), { a: 150, b: 150 });
  assert.equal(wrr.pick(list, ctx({ exclude: new Set(["a", "b", "c"]) })) !== undefined, true);
});

test("WeightedRoundRobin adapts at once when endpoints come and go", () => {
  const wrr = createBalancer("WeightedRoundRobin", noLoad);
  run(wrr, [ep("a", 1), ep("b", 1)], 7);
  // c joins with weight 2: already the first cycle after the join follows 1:1:2.
  const joined = [ep("a", 1), ep("b", 1), ep("c", 2)];
  assert.deepEqual(counts(run(wrr, joined, 4)), { a: 1, b: 1, c: 2 });
  assert.deepEqual(counts(run(wrr, joined, 4000)), { a: 1000, b: 1000, c: 2000 });
  // a leaves: b and c share 1:2 from the next cycle on.
  const left = [ep("b", 1), ep("c", 2)];
  assert.deepEqual(counts(run(wrr, left, 3)), { b: 1, c: 2 });
  assert.deepEqual(counts(run(wrr, left, 300)), { b: 100, c: 200 });
});

test("LeastConnections prefers the endpoint with the fewest open requests per weight", () => {
  const open: Record<string, number> = { a: 3, b: 0, c: 2 };
  const lc = createBalancer("LeastConnections", (id) => open[id] ?? 0);
  const list = [ep("a"), ep("b"), ep("c")];
  assert.equal(lc.pick(list, ctx())!.id, "b");
  assert.equal(lc.pick(list, ctx())!.id, "b");
  open.b = 5;
  assert.equal(lc.pick(list, ctx())!.id, "c");
  // Per weight: a has 4 open with weight 4 (1 each), c 2 with weight 1 (2 each).
  open.a = 4;
  assert.equal(lc.pick([ep("a", 4), ep("b", 1), ep("c", 1)], ctx())!.id, "a");
  // Weight 0 is never chosen, however idle it is.
  open.z = 0;
  assert.equal(lc.pick([ep("a", 4), ep("z", 0), ep("c", 1)], ctx())!.id, "a");
});

test("LeastConnections spreads ties round-robin and evens out load", () => {
  const lc = createBalancer("LeastConnections", noLoad);
  assert.deepEqual(run(lc, four, 6), ["a", "b", "c", "d", "a", "b"]);
  // With picks adding load (requests that stay open), load spreads evenly.
  const open = new Map<string, number>();
  const lc2 = createBalancer("LeastConnections", (id) => open.get(id) ?? 0);
  for (let i = 0; i < 40; i++) {
    const id = lc2.pick(four, ctx())!.id;
    open.set(id, (open.get(id) ?? 0) + 1);
  }
  assert.deepEqual([...open.values()], [10, 10, 10, 10]);
  // Ties among some only: a is busy, the others take turns.
  const busy = createBalancer("LeastConnections", (id) => (id === "a" ? 1 : 0));
  assert.deepEqual(run(busy, four, 4), ["b", "c", "d", "b"]);
});

test("LeastConnections honours exclude unless everything was tried", () => {
  const lc = createBalancer("LeastConnections", (id) => (id === "a" ? 0 : 5));
  assert.equal(lc.pick(four, ctx({ exclude: new Set(["a"]) }))!.id !== "a", true);
  assert.equal(lc.pick(four, ctx({ exclude: new Set(["a", "b", "c", "d"]) }))!.id, "a");
});

test("unitHash is uniform in (0,1)", () => {
  const buckets = new Array<number>(10).fill(0);
  const ips = randomIps(20_000, 7);
  for (const ip of ips) {
    const h = unitHash(hashPrefix(ip), "10.1.0.1:8080");
    assert.ok(h > 0 && h < 1);
    buckets[Math.floor(h * 10)]!++;
  }
  // 2,000 expected per bucket; 4 standard deviations is about ±170.
  for (const n of buckets) assert.ok(Math.abs(n - 2000) < 170, `bucket ${n}`);
  // The key and the id are kept apart: "ab"+"c" is not "a"+"bc".
  assert.notEqual(unitHash(hashPrefix("ab"), "c"), unitHash(hashPrefix("a"), "bc"));
});

test("IPHash: shares follow weights over 10,000 random client IPs (±3%)", () => {
  const ih = createBalancer("IPHash", noLoad);
  const list = [ep("10.1.0.1:80", 1), ep("10.1.0.2:80", 2), ep("10.1.0.3:80", 3), ep("10.1.0.4:80", 4)];
  const n = counts(randomIps(10_000).map((ip) => ih.pick(list, ctx({ clientIp: ip }))!.id));
  list.forEach((e, i) => {
    const share = (n[e.id] ?? 0) / 10_000;
    assert.ok(Math.abs(share - (i + 1) / 10) < 0.03, `${e.id}: ${share}`);
  });
  // Equal weights: equal shares.
  const even = counts(randomIps(10_000, 3).map((ip) => ih.pick(four, ctx({ clientIp: ip }))!.id));
  for (const id of ["a", "b", "c", "d"]) assert.ok(Math.abs(even[id]! / 10_000 - 0.25) < 0.03, `${id}`);
  // Weight 0 gets nobody.
  const zero = randomIps(1000).map((ip) => ih.pick([ep("a"), ep("z", 0)], ctx({ clientIp: ip }))!.id);
  assert.deepEqual(counts(zero), { a: 1000 });
});

test("IPHash is stable per client IP, across calls, instances and list order", () => {
  const b1 = createBalancer("IPHash", noLoad);
  const b2 = createBalancer("IPHash", noLoad);
  const reversed = [...four].reverse();
  const seen = new Set<string>();
  for (const ip of randomIps(500, 11)) {
    const first = b1.pick(four, ctx({ clientIp: ip }))!.id;
    seen.add(first);
    for (let i = 0; i < 3; i++) assert.equal(b1.pick(four, ctx({ clientIp: ip }))!.id, first);
    assert.equal(b2.pick(reversed, ctx({ clientIp: ip }))!.id, first);
  }
  assert.equal(seen.size, 4);
});

test("IPHash: removing an endpoint moves only its keys, spread over the rest; adding it back restores all", () => {
  const ih = createBalancer("IPHash", noLoad);
  const ips = randomIps(4000, 5);
  const before = ips.map((ip) => ih.pick(four, ctx({ clientIp: ip }))!.id);
  const without = four.filter((e) => e.id !== "c");
  const after = ips.map((ip) => ih.pick(without, ctx({ clientIp: ip }))!.id);
  const movedTo: string[] = [];
  ips.forEach((_, i) => {
    if (before[i] === "c") movedTo.push(after[i]!);
    else assert.equal(after[i], before[i], "a key not on c moved");
  });
  assert.ok(movedTo.length > 800);
  // The moved keys go to each remaining endpoint alike, not all to one.
  for (const id of ["a", "b", "d"]) {
    const share = movedTo.filter((x) => x === id).length / movedTo.length;
    assert.ok(Math.abs(share - 1 / 3) < 0.06, `${id}: ${share}`);
  }
  const back = ips.map((ip) => ih.pick(four, ctx({ clientIp: ip }))!.id);
  assert.deepEqual(back, before);
});

test("IPHash sends a retry to the key's stable second choice", () => {
  const ih = createBalancer("IPHash", noLoad);
  for (const ip of randomIps(200, 13)) {
    const first = ih.pick(four, ctx({ clientIp: ip }))!.id;
    const second = ih.pick(four, ctx({ clientIp: ip, exclude: new Set([first]) }))!.id;
    assert.notEqual(second, first);
    // The second choice is where the key goes when the first is gone.
    assert.equal(
      ih.pick(
        four.filter((e) => e.id !== first),
        ctx({ clientIp: ip }),
      )!.id,
      second,
    );
    assert.equal(ih.pick(four, ctx({ clientIp: ip, exclude: new Set(["a", "b", "c", "d"]) }))!.id, first);
  }
});

test("ConsistentHash hashes hashKey and falls back to the client IP", () => {
  const ch = createBalancer("ConsistentHash", noLoad);
  const ih = createBalancer("IPHash", noLoad);
  const ips = randomIps(300, 17);
  const keys = ips.map((_, i) => `session-${i}`);
  let differsFromIp = 0;
  keys.forEach((k, i) => {
    const byKey = ch.pick(four, ctx({ clientIp: ips[i]!, hashKey: k }))!.id;
    // The same key from another address stays put.
    assert.equal(ch.pick(four, ctx({ clientIp: "192.0.2.1", hashKey: k }))!.id, byKey);
    if (byKey !== ih.pick(four, ctx({ clientIp: ips[i]! }))!.id) differsFromIp++;
    // No key: the client IP decides, exactly as IPHash.
    assert.equal(
      ch.pick(four, ctx({ clientIp: ips[i]! }))!.id,
      ih.pick(four, ctx({ clientIp: ips[i]! }))!.id,
    );
  });
  // The key, not the address, decided (about 3/4 of them land elsewhere than the IP would).
  assert.ok(differsFromIp > 150, String(differsFromIp));
  const n = counts(keys.map((k) => ch.pick(four, ctx({ hashKey: k }))!.id));
  assert.equal(Object.keys(n).length, 4);
});
