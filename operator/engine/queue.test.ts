import { test } from "node:test";
import assert from "node:assert/strict";
import { WorkQueue, type Outcome, type ProcessResult, type WorkQueueOptions } from "./queue.ts";
import { FakeClock, flush } from "../../common/runtime/fake-clock.ts";

/** A process function whose runs the test finishes by hand, recording what ran and how often at once. */
function controlled() {
  const calls: string[] = [];
  const open = new Map<string, { resolve: (r?: ProcessResult) => void; reject: (e: unknown) => void }[]>();
  const running = new Map<string, number>();
  let maxPerKey = 0;
  const process = (key: string) =>
    new Promise<ProcessResult>((resolve, reject) => {
      calls.push(key);
      const n = (running.get(key) ?? 0) + 1;
      running.set(key, n);
      maxPerKey = Math.max(maxPerKey, n);
      const done = () => running.set(key, (running.get(key) ?? 1) - 1);
      const list = open.get(key) ?? [];
      list.push({
        resolve: (r) => (done(), resolve(r)),
        reject: (e) => (done(), reject(e)),
      });
      open.set(key, list);
    });
  const next = (key: string) => {
    const run = open.get(key)?.shift();
    assert.ok(run, `a run of ${key} is in flight`);
    return run;
  };
  return {
    calls,
    process,
    maxPerKey: () => maxPerKey,
    succeed: async (key: string, r?: ProcessResult) => (next(key).resolve(r), flush()),
    fail: async (key: string, err: unknown = new Error("boom")) => (next(key).reject(err), flush()),
  };
}

function makeQueue(extra: Partial<WorkQueueOptions> & Pick<WorkQueueOptions, "process">) {
  const clock = new FakeClock();
  const errors: { key: string; failures: number; delayMs: number }[] = [];
  const processed: { key: string; durationMs: number; outcome: Outcome }[] = [];
  const q = new WorkQueue({
    clock,
    backoffBaseMs: 100,
    backoffMaxMs: 400,
    onError: (key, _err, failures, delayMs) => errors.push({ key, failures, delayMs }),
    onProcessed: (key, durationMs, outcome) => processed.push({ key, durationMs, outcome }),
    ...extra,
  });
  return { q, clock, errors, processed };
}

test("adds of a waiting key are deduplicated", async () => {
  const p = controlled();
  const { q } = makeQueue({ process: p.process, workers: 4 });
  q.add("a");
  q.add("a");
  q.add("b");
  q.add("a");
  assert.equal(q.depth(), 2);
  q.start();
  await flush();
  assert.deepEqual(p.calls, ["a", "b"]);
  assert.equal(q.inFlight(), 2);
  assert.equal(q.depth(), 0);
});

test("runs at most `workers` keys at once; the rest wait in order", async () => {
  const p = controlled();
  const { q } = makeQueue({ process: p.process, workers: 2 });
  q.start();
  for (const k of ["a", "b", "c", "d"]) q.add(k);
  await flush();
  assert.deepEqual(p.calls, ["a", "b"]);
  assert.equal(q.inFlight(), 2);
  assert.equal(q.depth(), 2);
  await p.succeed("b");
  assert.deepEqual(p.calls, ["a", "b", "c"]);
});

test("a key added while it runs is not run concurrently, but once more afterwards", async () => {
  const p = controlled();
  const { q } = makeQueue({ process: p.process, workers: 4 });
  q.start();
  q.add("a");
  await flush();
  q.add("a");
  q.add("a");
  await flush();
  assert.deepEqual(p.calls, ["a"], "not started again while in flight");
  assert.equal(q.depth(), 0, "a dirty key is not waiting in the queue");
  await p.succeed("a");
  assert.deepEqual(p.calls, ["a", "a"], "dirty key ran exactly once more");
  await p.succeed("a");
  assert.deepEqual(p.calls, ["a", "a"], "and not a third time");
  assert.equal(p.maxPerKey(), 1);
});

test("failures retry after a doubling backoff, capped", async () => {
  const p = controlled();
  const { q, clock, errors, processed } = makeQueue({ process: p.process });
  q.start();
  q.add("a");
  await flush();
  await p.fail("a");
  assert.deepEqual(errors.at(-1), { key: "a", failures: 1, delayMs: 100 });
  assert.equal(q.delayedCount(), 1);
  await clock.advance(99);
  assert.equal(p.calls.length, 1, "not retried before the delay");
  await clock.advance(1);
  assert.equal(p.calls.length, 2, "retried at the delay");
  for (const expected of [200, 400, 400, 400]) {
    await p.fail("a");
    assert.equal(errors.at(-1)!.delayMs, expected);
    await clock.advance(expected);
  }
  assert.deepEqual(
    errors.map((e) => e.failures),
    [1, 2, 3, 4, 5],
  );
  assert.equal(q.failureCount("a"), 5);
  assert.ok(processed.every((r) => r.outcome === "error"));
});

test("a success resets the failure count", async () => {
  const p = controlled();
  const { q, clock, errors } = makeQueue({ process: p.process });
  q.start();
  q.add("a");
  await flush();
  await p.fail("a");
  await clock.advance(100);
  await p.fail("a");
  await clock.advance(200);
  await p.succeed("a");
  assert.equal(q.failureCount("a"), 0);
  q.add("a");
  await flush();
  await p.fail("a");
  assert.equal(errors.at(-1)!.delayMs, 100, "backoff starts from the base again");
});

test("requeueAfterMs runs the key again after that delay and not before", async () => {
  const p = controlled();
  const { q, clock, processed } = makeQueue({ process: p.process });
  q.start();
  q.add("a");
  await flush();
  await clock.advance(30);
  await p.succeed("a", { requeueAfterMs: 1000 });
  assert.deepEqual(processed, [{ key: "a", durationMs: 30, outcome: "requeue" }]);
  await clock.advance(999);
  assert.equal(p.calls.length, 1);
  await clock.advance(1);
  assert.equal(p.calls.length, 2);
  await p.succeed("a");
  assert.equal(processed.at(-1)!.outcome, "success");
  await clock.advance(10_000);
  assert.equal(p.calls.length, 2, "no requeue after a plain success");
});

test("a run supersedes a pending retry: an event during backoff runs now, and success cancels the retry", async () => {
  const p = controlled();
  const { q, clock } = makeQueue({ process: p.process });
  q.start();
  q.add("a");
  await flush();
  await p.fail("a");
  assert.equal(q.delayedCount(), 1);
  q.add("a");
  await flush();
  assert.equal(p.calls.length, 2, "ran at once on the new add");
  assert.equal(q.delayedCount(), 0, "pending retry dropped");
  await p.succeed("a");
  await clock.advance(1000);
  assert.equal(p.calls.length, 2, "the old retry did not fire");
});

test("addAfter keeps the earliest due time", async () => {
  const p = controlled();
  const { q, clock } = makeQueue({ process: p.process, workers: 2 });
  q.start();
  q.addAfter("a", 500);
  q.addAfter("a", 900);
  q.addAfter("b", 900);
  q.addAfter("b", 200);
  await clock.advance(200);
  assert.deepEqual(p.calls, ["b"]);
  await clock.advance(300);
  assert.deepEqual(p.calls, ["b", "a"]);
  await p.succeed("a");
  await clock.advance(1000);
  assert.deepEqual(p.calls, ["b", "a"], "the later addAfter of a was merged");
});

test("stop stops taking work and resolves only once in-flight runs end", async () => {
  const p = controlled();
  const { q, clock } = makeQueue({ process: p.process, workers: 1 });
  q.start();
  q.add("a");
  q.add("b");
  q.addAfter("c", 100);
  await flush();
  let stopped = false;
  const stopping = q.stop().then(() => (stopped = true));
  await flush();
  assert.equal(stopped, false, "still waiting for a");
  assert.equal(clock.pending(), 0, "delayed adds cancelled");
  q.add("d");
  await p.succeed("a");
  await stopping;
  assert.equal(stopped, true);
  await clock.advance(1000);
  assert.deepEqual(p.calls, ["a"], "b, c and d never ran");
});

test("stop resolves at once when idle", async () => {
  const { q } = makeQueue({ process: async () => undefined });
  q.start();
  await q.stop();
});

test("a throwing metrics hook does not break the queue", async () => {
  const p = controlled();
  const logged: string[] = [];
  const { q } = makeQueue({
    process: p.process,
    onProcessed: () => {
      throw new Error("metrics bug");
    },
    logger: { debug() {}, info() {}, warn() {}, error: (m) => logged.push(m) },
  });
  q.start();
  q.add("a");
  await flush();
  await p.succeed("a");
  q.add("a");
  await flush();
  assert.equal(p.calls.length, 2);
  assert.equal(logged.length, 1);
});

test("jitter shortens retry delays when enabled", async () => {
  const p = controlled();
  const { q, errors } = makeQueue({ process: p.process, jitter: 0.5, random: () => 0.5 });
  q.start();
  q.add("a");
  await flush();
  await p.fail("a");
  assert.equal(errors[0]!.delayMs, 75);
});

test("rejects a worker count below one", () => {
  assert.throws(() => new WorkQueue({ process: async () => undefined, workers: 0 }), /workers must be ≥ 1/);
});
