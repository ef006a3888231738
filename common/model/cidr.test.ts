import assert from "node:assert/strict";
import { test } from "node:test";
import { canonicalCidr, cidrContains, cidrHas, parseCidr, parseIp } from "./cidr.ts";

test("canonicalCidr: IPv4 and IPv6, bare addresses, host bits refused with a suggestion", () => {
  const ok: [string, string][] = [
    ["10.0.0.0/8", "10.0.0.0/8"],
    ["203.0.113.10", "203.0.113.10/32"],
    ["fd00:ec2::254", "fd00:ec2::254/128"],
    ["FC00::/7", "fc00::/7"],
    ["2001:db8:0:0:0:0:0:0/32", "2001:db8::/32"],
    ["::/0", "::/0"],
    ["::ffff:10.0.0.0/104", "::ffff:a00:0/104"],
    ["1:0:0:1:0:0:0:1/128", "1:0:0:1::1/128"],
  ];
  for (const [input, want] of ok) assert.deepEqual(canonicalCidr(input), { cidr: want }, input);
  assert.match(JSON.stringify(canonicalCidr("10.1.2.3/8")), /did you mean 10\.0\.0\.0\/8/);
  for (const bad of [
    "",
    "10.0.0.0/33",
    "10.0.0/8",
    "300.1.1.1",
    "01.2.3.4",
    "fe80::1::2",
    "a/b/c",
    "x::y",
    "10.0.0.0/08",
  ])
    assert.ok("problem" in canonicalCidr(bad), bad);
});

test("cidrContains and cidrHas: same family, prefix inside", () => {
  assert.ok(cidrContains(parseCidr("10.0.0.0/8")!, parseCidr("10.96.0.0/12")!));
  assert.ok(!cidrContains(parseCidr("10.96.0.0/12")!, parseCidr("10.0.0.0/8")!));
  assert.ok(!cidrContains(parseCidr("10.0.0.0/8")!, parseCidr("fc00::/7")!));
  assert.ok(cidrHas(parseCidr("10.96.0.0/12")!, parseIp("10.100.1.2")!));
  assert.ok(!cidrHas(parseCidr("10.96.0.0/12")!, parseIp("10.112.0.0")!));
  assert.ok(!cidrHas(parseCidr("0.0.0.0/0")!, parseIp("::1")!));
  assert.equal(parseIp("fe80::1%eth0"), undefined, "a zone is not part of a CIDR");
});
