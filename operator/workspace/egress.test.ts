import assert from "node:assert/strict";
import { test } from "node:test";
import { cidrContains, parseCidr } from "../../common/model/cidr.ts";
import {
  DEFAULT_EGRESS_DENY,
  egressDenyList,
  minimalCidrs,
  workspaceEgressRules,
  type WorkspaceEgressConfig,
} from "./egress.ts";

const base: WorkspaceEgressConfig = {
  mode: "restricted",
  podCidrs: ["198.18.0.0/16"],
  serviceCidrs: ["198.19.0.0/16"],
  apiServerCidrs: ["198.18.0.1/32", "203.0.113.10/32"],
  deny: [...DEFAULT_EGRESS_DENY],
  allow: [],
};

test("minimalCidrs drops ranges another entry holds", () => {
  assert.deepEqual(minimalCidrs(["198.18.0.1/32", "198.18.0.0/16", "198.18.0.0/16", "fe80::/10"]), [
    "198.18.0.0/16",
    "fe80::/10",
  ]);
});

test("restricted: pod, service, API server and metadata always denied, whatever the deny list says", () => {
  const deny = egressDenyList({ ...base, deny: [] });
  assert.deepEqual(deny, [
    "198.18.0.0/16",
    "198.19.0.0/16",
    "203.0.113.10/32",
    "169.254.169.254/32",
    "fd00:ec2::254/128",
  ]);
  const rules = workspaceEgressRules({ ...base, allow: ["10.20.30.40/32"] })!;
  assert.equal(rules.length, 3);
  assert.deepEqual(rules[2], { to: [{ ipBlock: { cidr: "10.20.30.40/32" } }] });
  const v4 = rules[1]!.to![0]!.ipBlock!;
  assert.equal(v4.cidr, "0.0.0.0/0");
  for (const must of ["198.18.0.0/16", "198.19.0.0/16", "169.254.0.0/16", "10.0.0.0/8", "203.0.113.10/32"])
    assert.ok(v4.except!.includes(must), must);
  // Every except lies inside its block (the API server refuses one that does not).
  for (const peer of rules[1]!.to!)
    for (const e of peer.ipBlock!.except ?? [])
      assert.ok(cidrContains(parseCidr(peer.ipBlock!.cidr)!, parseCidr(e)!), e);
});

test("allow-list: DNS and the named ranges only; open: no egress rules", () => {
  assert.deepEqual(workspaceEgressRules({ ...base, mode: "allow-list", allow: ["140.82.112.0/20"] }), [
    {
      ports: [
        { protocol: "UDP", port: 53 },
        { protocol: "TCP", port: 53 },
      ],
    },
    { to: [{ ipBlock: { cidr: "140.82.112.0/20" } }] },
  ]);
  assert.equal(workspaceEgressRules({ ...base, mode: "allow-list" })!.length, 1, "DNS only");
  assert.equal(workspaceEgressRules({ ...base, mode: "open" }), undefined);
});

test("keep-alive (issue 15): the proxy pods on the listener's port only, in restricted and allow-list; nothing in open", () => {
  const keepAlive = {
    namespace: "portico-system",
    podLabels: { "app.kubernetes.io/name": "portico-proxy" },
    port: 8083,
  };
  const rule = {
    to: [
      {
        namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "portico-system" } },
        podSelector: { matchLabels: { "app.kubernetes.io/name": "portico-proxy" } },
      },
    ],
    ports: [{ protocol: "TCP", port: 8083 }],
  };
  const without = workspaceEgressRules(base)!;
  const withIt = workspaceEgressRules({ ...base, keepAlive })!;
  assert.deepEqual(withIt, [...without, rule], "one rule more, nothing else changed");
  assert.deepEqual(workspaceEgressRules({ ...base, mode: "allow-list", keepAlive })!.at(-1), rule);
  assert.equal(workspaceEgressRules({ ...base, mode: "open", keepAlive }), undefined);
});
