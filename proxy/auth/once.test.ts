import { test } from "node:test";
import assert from "node:assert/strict";
import { UsedOnce } from "./once.ts";

test("a value is usable once until it expires; then it is forgotten", () => {
  let now = 0;
  const once = new UsedOnce({ maxKeys: 100, now: () => now });
  assert.equal(once.use("state-1", 600_000), true);
  assert.equal(once.use("state-1", 600_000), false, "replayed");
  assert.equal(once.use("state-2", 600_000), true, "another login");
  now = 600_000;
  assert.equal(once.use("state-1", 1_200_000), true, "past its life the login cookie is refused anyway");
});

test("memory is bounded: the oldest go first", () => {
  const once = new UsedOnce({ maxKeys: 3, now: () => 0 });
  for (const k of ["a", "b", "c", "d"]) assert.equal(once.use(k, 1000), true);
  assert.equal(once.size, 3);
  assert.equal(once.use("d", 1000), false);
  assert.equal(once.use("a", 1000), true, "forgotten (the provider's single-use code still refuses it)");
});
