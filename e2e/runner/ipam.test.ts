import { test } from "node:test";
import assert from "node:assert/strict";
import { IpPool, intToIp, ipToInt } from "./ipam.ts";

test("ip conversions round-trip", () => {
  assert.equal(intToIp(ipToInt("198.18.255.254")), "198.18.255.254");
  assert.throws(() => ipToInt("198.18.1"), /not an IPv4/);
});

test("the pool hands out the lowest free address, stable per key, reused after release", () => {
  const pool = new IpPool("198.18.128.1", "198.18.128.3");
  pool.reserve("kept", "198.18.128.2");
  assert.equal(pool.allocate("a"), "198.18.128.1");
  assert.equal(pool.allocate("a"), "198.18.128.1", "same key, same address");
  assert.equal(pool.allocate("b"), "198.18.128.3", "reserved address skipped");
  assert.throws(() => pool.allocate("c"), /exhausted/);
  pool.release("a");
  assert.equal(pool.allocate("c"), "198.18.128.1");
});
