import { test } from "node:test";
import assert from "node:assert/strict";
import { ACTIVITY_PROXY_ANNOTATION, rfc3339 } from "../../common/model/workspace/lifecycle.ts";
import { ActivityFlusher, type FlusherOptions, type ReportResult } from "./flusher.ts";
import { ActivityTracker } from "./tracker.ts";

const T = Date.parse("2026-12-05T10:00:00Z");
const quiet = { warn: () => undefined };

/** A shared "cluster": the annotations every replica's cache holds, updated by each write. */
function cluster(names: string[]) {
  const annotations = new Map<string, Record<string, string>>(names.map((n) => [n, {}]));
  const patches: { name: string; patch: object }[] = [];
  return {
    annotations,
    patches,
    read: (_ns: string, name: string) => annotations.get(name),
    write: async (_ns: string, name: string, patch: object) => {
      patches.push({ name, patch });
      Object.assign(
        annotations.get(name)!,
        (patch as { metadata: { annotations: object } }).metadata.annotations,
      );
    },
  };
}

/** One replica on cluster `c`: its own tracker and a flusher with the tests' defaults, `o` on top. */
function replica(c: ReturnType<typeof cluster>, now: () => number, o: Partial<FlusherOptions> = {}) {
  const tracker = new ActivityTracker(now);
  const flusher = new ActivityFlusher({
    tracker,
    annotations: c.read,
    write: c.write,
    log: quiet,
    writesPerSecond: 10,
    now,
    sleep: async () => undefined,
    ...o,
  });
  return { tracker, flusher };
}

test("a round writes a merge patch of only the activity key; a second round writes nothing new", async () => {
  let now = T;
  const c = cluster(["a"]);
  const results: ReportResult[] = [];
  const { tracker, flusher: f } = replica(c, () => now, { onResult: (r) => results.push(r) });
  tracker.touch("ns", "a", "proxy");
  await f.flush();
  assert.deepEqual(c.patches, [
    { name: "a", patch: { metadata: { annotations: { [ACTIVITY_PROXY_ANNOTATION]: rfc3339(T) } } } },
  ]);
  now += 30_000;
  tracker.touch("ns", "a", "proxy");
  await f.flush();
  assert.equal(c.patches.length, 1, "30 s newer than the annotation is not a report");
  now += 30_000;
  tracker.touch("ns", "a", "proxy");
  await f.flush();
  assert.equal(c.patches.length, 2);
  assert.deepEqual(results, ["written", "written"]);
});

test("two replicas sharing a workspace write about once per interval, not twice", async () => {
  let now = T;
  const c = cluster(["a"]);
  const replicas = [0, 1].map(() => replica(c, () => now));
  // Ten minutes of traffic through both replicas, each flushing every 5 s a little apart.
  for (let s = 0; s < 600; s += 5) {
    now = T + s * 1000;
    for (const r of replicas) r.tracker.touch("ns", "a", "proxy");
    await replicas[0]!.flusher.flush();
    now += 2000;
    await replicas[1]!.flusher.flush();
  }
  assert.ok(c.patches.length >= 9 && c.patches.length <= 11, `${c.patches.length} writes in 10 minutes`);
});

test("writes are paced at the budget, the rest deferred; a failed write is retried next round", async () => {
  let now = T;
  const names = Array.from({ length: 30 }, (_, i) => `w${i}`);
  const c = cluster(names);
  let fail = true;
  const sleeps: number[] = [];
  const results: string[] = [];
  const { tracker, flusher: f } = replica(c, () => now, {
    write: async (ns, name, patch) => {
      if (name === "w0" && fail) throw new Error("conflict");
      await c.write(ns, name, patch);
    },
    tickMs: 1000,
    sleep: async (ms) => void sleeps.push(ms),
    onResult: (r, n) => results.push(n ? `${r}:${n}` : r),
  });
  for (const n of names) tracker.touch("ns", n, "proxy");
  await f.flush();
  assert.equal(
    results.filter((r) => r === "written").length + results.filter((r) => r === "failed").length,
    10,
  );
  assert.ok(results.includes("deferred:20"));
  assert.deepEqual(sleeps, Array(9).fill(100), "10 writes a second: one every 100 ms");
  fail = false;
  now += 1000;
  await f.flush();
  await f.flush();
  await f.flush();
  assert.ok(c.annotations.get("w0")![ACTIVITY_PROXY_ANNOTATION], "the failed write was retried");
  assert.equal(c.patches.length, 30);
});

test("a workspace gone from the cache is forgotten", async () => {
  const c = cluster(["a"]);
  const { tracker, flusher: f } = replica(c, () => T);
  tracker.touch("ns", "gone", "proxy");
  await f.flush();
  assert.equal(tracker.size, 0);
  assert.equal(c.patches.length, 0);
});

test("a report another replica wrote while this round waited its turn is skipped (superseded)", async () => {
  const now = T;
  const c = cluster(["a", "b"]);
  const results: ReportResult[] = [];
  const mk = (sleep: (ms: number) => Promise<void>) => {
    const { tracker, flusher } = replica(c, () => now, { sleep, onResult: (r) => results.push(r) });
    tracker.touch("ns", "a", "proxy");
    tracker.touch("ns", "b", "proxy");
    return flusher;
  };
  const other = mk(async () => undefined);
  // While this replica waits between its two writes, the other replica writes both keys.
  const mine = mk(async () => void (await other.flush()));
  await mine.flush();
  // Each replica writes in its own random order: whichever key this one wrote first, the other
  // replica wrote the second meanwhile, and nobody wrote a key twice.
  assert.deepEqual(
    c.patches.map((p) => p.name).sort(),
    ["a", "b"],
    "one write of each key in all (the second key by the other replica), never one twice",
  );
  assert.ok(results.includes("superseded"));
});
