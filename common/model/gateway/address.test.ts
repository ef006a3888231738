import assert from "node:assert/strict";
import { test } from "node:test";
import { compileUrlPolicy, parseAddress, parseCidr } from "./address.ts";

const policy = compileUrlPolicy({
  podCidrs: ["198.18.0.0/16", "fd10::/48"],
  serviceCidrs: ["198.19.0.0/16"],
  clusterDomain: "cluster.local",
  allow: [],
});

/** url → a fragment of the refusal, or undefined when it is allowed. */
const URLS: [string, string | undefined][] = [
  // allowed: public names and addresses
  ["https://api.example.com", undefined],
  ["http://api.example.com:8080/v1", undefined],
  ["http://93.184.216.34/", undefined],
  ["http://[2606:2800:220:1:248:1893:25c8:1946]/", undefined],
  ["http://10.1.2.3/", undefined], // private but not the cluster's: a company's own network
  // the cluster's own networks
  ["http://198.18.128.1:8080", "in the pod CIDR"],
  ["http://198.19.0.10/", "in the service CIDR"],
  ["http://[fd10::5]/", "in the pod CIDR"],
  // loopback, all spellings the URL parser accepts
  ["http://127.0.0.1/", "loopback"],
  ["http://127.1.2.3:9/", "loopback"],
  ["http://[::1]/", "loopback"],
  ["http://2130706433/", "loopback"], // decimal
  ["http://0x7f000001/", "loopback"], // hex
  ["http://0177.0.0.1/", "loopback"], // octal
  ["http://0x7f.1/", "loopback"], // mixed short form
  ["http://127.1/", "loopback"],
  ["http://[::ffff:127.0.0.1]/", "loopback"], // IPv4-mapped IPv6
  ["http://[::ffff:7f00:1]/", "loopback"],
  ["http://[64:ff9b::127.0.0.1]/", "loopback"], // NAT64
  ["http://localhost:8080/", "loopback (localhost)"],
  ["http://LOCALHOST./", "loopback (localhost)"],
  ["http://app.localhost/", "loopback (localhost)"],
  // link-local and metadata
  ["http://169.254.169.254/latest/meta-data", "metadata"],
  ["http://[::ffff:169.254.169.254]/", "metadata"],
  ["http://2852039166/", "metadata"], // 169.254.169.254 in decimal
  ["http://[fd00:ec2::254]/", "metadata"],
  ["http://100.100.100.200/", "metadata"],
  ["http://169.254.1.1/", "link-local"],
  ["http://[fe80::1]/", "link-local"],
  ["http://[febf::1]/", "link-local"],
  ["http://metadata.google.internal/computeMetadata/v1/", "metadata name"],
  ["http://metadata/", "metadata name"],
  ["http://instance-data.ec2.internal/", "metadata name"],
  // unspecified
  ["http://0.0.0.0:8080/", "unspecified"],
  ["http://0/", "unspecified"],
  ["http://[::]/", "unspecified"],
  // cluster-internal names
  ["http://echo.victim.svc/", "cluster-internal"],
  ["http://echo.victim.svc.cluster.local/", "cluster-internal"],
  ["http://echo.victim.svc.cluster.local./", "cluster-internal"],
  ["http://10-0-0-1.victim.pod.cluster.local/", "cluster-internal"],
  ["http://kubernetes/", "single-label"],
  ["http://echo:8080/", "single-label"],
];

for (const [url, want] of URLS)
  test(`url backend ${url}: ${want ? `refused (${want})` : "allowed"}`, () => {
    const why = policy.checkUrl(url);
    if (want === undefined) assert.equal(why, undefined);
    else assert.ok(why?.includes(want), `${url}: ${why}`);
  });

test("resolved addresses: the same ranges; an allowed CIDR or host lets them through", () => {
  assert.match(policy.checkAddress("127.0.0.1", "evil.example.com") ?? "", /loopback/);
  assert.match(policy.checkAddress("::ffff:198.18.128.1", "evil.example.com") ?? "", /pod CIDR/);
  assert.equal(policy.checkAddress("93.184.216.34", "example.com"), undefined);
  const allowing = compileUrlPolicy({
    podCidrs: ["198.18.0.0/16"],
    serviceCidrs: ["198.19.0.0/16"],
    clusterDomain: "cluster.local",
    allow: ["198.18.7.0/24", "metrics.internal.example", "*.corp.example", "127.0.0.5"],
  });
  assert.equal(allowing.checkUrl("http://198.18.7.9/"), undefined);
  assert.match(allowing.checkUrl("http://198.18.8.9/") ?? "", /pod CIDR/);
  assert.equal(allowing.checkUrl("http://127.0.0.5/"), undefined, "a bare address is a /32");
  assert.match(allowing.checkUrl("http://127.0.0.6/") ?? "", /loopback/);
  assert.equal(allowing.checkAddress("198.19.0.1", "metrics.internal.example"), undefined, "an allowed host");
  assert.equal(allowing.checkAddress("198.19.0.1", "a.b.corp.example"), undefined, "a wildcard host");
  assert.match(allowing.checkAddress("198.19.0.1", "corp.example") ?? "", /service CIDR/);
  assert.equal(allowing.checkUrl("http://svc.corp.example/"), undefined);
});

test("parseAddress: IPv4 inside IPv6 is judged as IPv4; parseCidr refuses what is not a CIDR", () => {
  assert.deepEqual(parseAddress("::ffff:10.0.0.1"), { v6: false, value: 0x0a000001n });
  assert.deepEqual(parseAddress("[::ffff:a00:1]"), { v6: false, value: 0x0a000001n });
  assert.deepEqual(parseAddress("::1"), { v6: true, value: 1n });
  assert.equal(parseAddress("example.com"), undefined);
  for (const bad of ["10.0.0.0/33", "10.0.0.0/", "nope/8", "1.2.3.4/8/9", "::/129"])
    assert.equal(parseCidr(bad), undefined, bad);
  assert.equal(parseCidr("10.1.2.3/8")?.base, 0x0a000000n, "host bits are masked");
});
