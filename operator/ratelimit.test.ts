import { test } from "node:test";
import assert from "node:assert/strict";
import { TokenBucket } from "./ratelimit.ts";
import { FakeClock, flush } from "../common/runtime/fake-clock.ts";

test("a burst goes at once, then requests are paced at the QPS", async () => {
  const clock = new FakeClock();
  const bucket = new TokenBucket(10, 3, clock);
  let done = 0;
  for (let i = 0; i < 6; i++) void bucket.take().then(() => done++);
  await flush();
  assert.equal(done, 3, "the burst of 3 is immediate");
  assert.equal(bucket.waiting(), 3);
  await clock.advance(100);
  assert.equal(done, 4, "one more after 1/QPS");
  await clock.advance(200);
  assert.equal(done, 6);
});

test("tokens refill up to the burst only", async () => {
  const clock = new FakeClock();
  const bucket = new TokenBucket(100, 2, clock);
  await clock.advance(10_000);
  let done = 0;
  for (let i = 0; i < 4; i++) void bucket.take().then(() => done++);
  await flush();
  assert.equal(done, 2);
});
