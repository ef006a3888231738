import { test } from "node:test";
import assert from "node:assert/strict";
import { backoffDelayMs } from "./backoff.ts";

test("doubles from the base on each failure", () => {
  assert.deepEqual(
    [1, 2, 3, 4, 5].map((n) => backoffDelayMs(n, 100, 10_000)),
    [100, 200, 400, 800, 1600],
  );
});

test("never exceeds the cap, even for huge failure counts", () => {
  assert.equal(backoffDelayMs(8, 100, 10_000), 10_000);
  assert.equal(backoffDelayMs(5000, 100, 10_000), 10_000);
});

test("treats zero or negative failures as the first", () => {
  assert.equal(backoffDelayMs(0, 100, 10_000), 100);
  assert.equal(backoffDelayMs(-3, 100, 10_000), 100);
});

test("jitter only shortens the delay, by at most the given fraction", () => {
  assert.equal(
    backoffDelayMs(3, 100, 10_000, 0.5, () => 0),
    400,
  );
  assert.equal(
    backoffDelayMs(3, 100, 10_000, 0.5, () => 0.5),
    300,
  );
  assert.equal(
    backoffDelayMs(3, 100, 10_000, 0.5, () => 0.999999),
    200,
  );
  assert.equal(
    backoffDelayMs(20, 100, 1000, 0.1, () => 0.999999),
    900,
    "jitter applies below the cap",
  );
});
