import { test } from "node:test";
import assert from "node:assert/strict";
import { canonicalIp, clientAddress, limitKey, parseForwardedEntry } from "./client.ts";

const LB = "10.0.0.5";

/** [name, peer, X-Forwarded-For, hops, expected address, expected X-Forwarded-For upstream] */
const ROWS: [string, string | undefined, string | string[] | undefined, number, string, string][] = [
  ["hops 0: the peer, whatever the header says", LB, "6.6.6.6", 0, LB, LB],
  ["hops 0, no header", "203.0.113.7", undefined, 0, "203.0.113.7", "203.0.113.7"],
  ["hops 0, IPv4-mapped peer", "::ffff:203.0.113.7", "6.6.6.6", 0, "203.0.113.7", "203.0.113.7"],
  ["hops 1: what the balancer appended", LB, "203.0.113.7", 1, "203.0.113.7", `203.0.113.7, ${LB}`],
  [
    "hops 1: entries the client wrote itself are dropped",
    LB,
    "6.6.6.6, 7.7.7.7,203.0.113.7",
    1,
    "203.0.113.7",
    `203.0.113.7, ${LB}`,
  ],
  [
    "hops 2 (CDN + ingress)",
    LB,
    "1.1.1.1, 203.0.113.7, 198.51.100.2",
    2,
    "203.0.113.7",
    `203.0.113.7, 198.51.100.2, ${LB}`,
  ],
  [
    "hops 1, no header (came around the balancer): the peer",
    "198.18.0.9",
    undefined,
    1,
    "198.18.0.9",
    "198.18.0.9",
  ],
  ["hops 1, empty header: the peer", "198.18.0.9", "", 1, "198.18.0.9", "198.18.0.9"],
  ["hops 2, too few entries: the peer", LB, "203.0.113.7", 2, LB, LB],
  ["hops 1, malformed entry where the client should be: the peer", LB, "6.6.6.6, not-an-ip", 1, LB, LB],
  ["hops 1, `unknown` (RFC 7239 obfuscation): the peer", LB, "unknown", 1, LB, LB],
  ["hops 1, trailing comma (an empty entry): the peer", LB, "203.0.113.7,", 1, LB, LB],
  ["hops 1, an out-of-range octet: the peer", LB, "203.0.113.256", 1, LB, LB],
  ["hops 1, IPv4 with a port", LB, "203.0.113.7:51234", 1, "203.0.113.7", `203.0.113.7, ${LB}`],
  [
    "hops 1, IPv6 spelled long and upper case",
    LB,
    "2001:DB8:0:0:0:0:0:1",
    1,
    "2001:db8::1",
    `2001:db8::1, ${LB}`,
  ],
  ["hops 1, bracketed IPv6 with a port", LB, "[2001:db8::7]:443", 1, "2001:db8::7", `2001:db8::7, ${LB}`],
  ["hops 1, bracketed IPv6 without a port", LB, "[2001:db8::7]", 1, "2001:db8::7", `2001:db8::7, ${LB}`],
  ["hops 1, a broken bracket: the peer", LB, "[2001:db8::7", 1, LB, LB],
  ["hops 1, IPv4-mapped IPv6 entry", LB, "::ffff:203.0.113.7", 1, "203.0.113.7", `203.0.113.7, ${LB}`],
  [
    "hops 1, two header lines: the last entry of the last line",
    LB,
    ["6.6.6.6", "203.0.113.7"],
    1,
    "203.0.113.7",
    `203.0.113.7, ${LB}`,
  ],
  [
    "hops 2 across two header lines",
    LB,
    ["6.6.6.6, 203.0.113.7", "198.51.100.2"],
    2,
    "203.0.113.7",
    `203.0.113.7, 198.51.100.2, ${LB}`,
  ],
  ["IPv6 peer, hops 0", "2001:db8::5", "6.6.6.6", 0, "2001:db8::5", "2001:db8::5"],
  ["no peer at all (a socket already gone)", undefined, undefined, 0, "unknown", "unknown"],
];

for (const [name, peer, xff, hops, address, forwardedFor] of ROWS)
  test(`client address: ${name}`, () => {
    assert.deepEqual(clientAddress(peer, xff, hops), { address, forwardedFor });
  });

test("a client cannot choose its address by adding entries: every spoof gives the same address", () => {
  const real = "203.0.113.7";
  const seen = new Set<string>();
  for (const spoof of ["", "1.1.1.1", "1.1.1.1, 2.2.2.2", "::1", "garbage, , ,", "9.9.9.9:80"])
    seen.add(clientAddress(LB, spoof ? `${spoof}, ${real}` : real, 1).address);
  assert.deepEqual([...seen], [real]);
});

test("a huge header with thousands of entries costs only the last few", () => {
  const xff = `${"6.6.6.6, ".repeat(2000)}203.0.113.7`;
  assert.equal(clientAddress(LB, xff, 1).address, "203.0.113.7");
});

test("entries: only addresses pass", () => {
  assert.equal(parseForwardedEntry(" 192.0.2.1 "), "192.0.2.1");
  assert.equal(parseForwardedEntry("example.com"), undefined);
  assert.equal(parseForwardedEntry("192.0.2.1:99999999"), undefined);
  assert.equal(parseForwardedEntry("[192.0.2.1]"), undefined, "brackets are for IPv6");
  assert.equal(parseForwardedEntry("_hidden"), undefined);
  assert.equal(canonicalIp("fe80::1%eth0"), "fe80::1%eth0");
  assert.equal(canonicalIp("nope"), undefined);
});

test("rate-limit keys: IPv4 per address, IPv6 per /64", () => {
  assert.equal(limitKey("203.0.113.7"), "203.0.113.7");
  assert.equal(limitKey("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
  assert.equal(limitKey("2001:db8:1:2:bbbb:cccc:dddd:eeee"), "2001:db8:1:2::/64");
  assert.equal(limitKey("2001:db8::1"), "2001:db8:0:0::/64");
  assert.equal(limitKey("::1"), "0:0:0:0::/64");
  assert.equal(limitKey("64:ff9b::192.0.2.1"), "64:ff9b:0:0::/64");
  assert.equal(limitKey("unknown"), "unknown");
});
