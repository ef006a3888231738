import { test } from "node:test";
import assert from "node:assert/strict";
import { RECONNECT_FIRST_MS, RECONNECT_MAX_MS } from "../../protocol.ts";
import { backoffDelay } from "./backoff.ts";

test("doubles from the first delay and stops at the cap", () => {
  const top = (n: number) => backoffDelay(n, 1);
  assert.equal(top(0), RECONNECT_FIRST_MS);
  assert.equal(top(1), RECONNECT_FIRST_MS * 2);
  assert.equal(top(2), RECONNECT_FIRST_MS * 4);
  assert.equal(top(20), RECONNECT_MAX_MS);
  assert.equal(top(10_000), RECONNECT_MAX_MS, "a huge attempt count neither overflows nor passes the cap");
});

test("jitter keeps the delay between half and all of the step", () => {
  for (const attempt of [0, 3, 12]) {
    const step = Math.min(RECONNECT_MAX_MS, RECONNECT_FIRST_MS * 2 ** attempt);
    assert.equal(backoffDelay(attempt, 0), step / 2);
    const mid = backoffDelay(attempt, 0.5);
    assert.ok(mid > step / 2 && mid < step, `${mid} within (${step / 2}, ${step})`);
  }
});
