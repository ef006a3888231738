/**
 * The chart's network settings, rendered by the real helm: the operator's and the proxy's metrics and
 * health ports admit only the monitoring namespace the values name (the proxy's /metrics lists every
 * workspace), the proxy's data port stays as proxyIngressFrom says, and `network.*` reaches the
 * operator as the workspace egress configuration its NetworkPolicies are built from.
 *
 * These are objects, not enforcement: no CNI runs in the tests, and a cluster whose CNI does not
 * implement NetworkPolicy ignores them (docs/security.md says so).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { renderChart, type K8sObject } from "../e2e/lib/helm.ts";
import { loadConfig } from "../operator/config.ts";
import { DEFAULT_EGRESS_DENY } from "../operator/workspace/egress.ts";

interface Rule {
  ports?: { port: number; protocol: string }[];
  from?: Record<string, unknown>[];
}
type Policy = K8sObject & { spec: { policyTypes: string[]; ingress?: Rule[] | null } };

async function policies(values: Record<string, unknown> = {}) {
  const objects = await renderChart(values, { release: "acme", namespace: "ide" });
  const np = (component: string) =>
    objects.find(
      (o) => o.kind === "NetworkPolicy" && o.metadata.labels?.["app.kubernetes.io/component"] === component,
    ) as Policy;
  return { objects, operator: np("operator"), proxy: np("proxy") };
}

/** The rules that open `port`. */
const rulesFor = (p: Policy, port: number) =>
  (p.spec.ingress ?? []).filter((r) => r.ports?.some((x) => x.port === port));

const fromNamespace = (ns: string) => ({
  namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": ns } },
});

describe("chart NetworkPolicies: metrics ports", () => {
  it("admit only the monitoring namespace (default `monitoring`) to 8081 and 8082; the data port as before", async () => {
    const { operator, proxy } = await policies();
    assert.deepEqual(operator.spec.policyTypes, ["Ingress"]);
    assert.deepEqual(rulesFor(operator, 8081), [
      { ports: [{ port: 8081, protocol: "TCP" }], from: [fromNamespace("monitoring")] },
    ]);
    assert.deepEqual(operator.spec.ingress!.length, 1, "nothing else reaches the operator");
    assert.deepEqual(rulesFor(proxy, 8082), [
      { ports: [{ port: 8082, protocol: "TCP" }], from: [fromNamespace("monitoring")] },
    ]);
    assert.deepEqual(rulesFor(proxy, 8080), [{ ports: [{ port: 8080, protocol: "TCP" }] }]);
    // Issue 15: the in-workspace keep-alive listener, from workspace pods only.
    assert.deepEqual(rulesFor(proxy, 8083), [
      {
        ports: [{ port: 8083, protocol: "TCP" }],
        from: [
          {
            namespaceSelector: {},
            podSelector: { matchExpressions: [{ key: "portico.dev/workspace", operator: "Exists" }] },
          },
        ],
      },
    ]);
    assert.equal(proxy.spec.ingress!.length, 3);
  });

  it("narrow to labelled pods of the named namespace", async () => {
    const { operator, proxy } = await policies({
      "networkPolicy.metricsFrom": {
        namespace: "observability",
        labels: { "app.kubernetes.io/name": "prometheus" },
      },
    });
    const want = {
      ...fromNamespace("observability"),
      podSelector: { matchLabels: { "app.kubernetes.io/name": "prometheus" } },
    };
    assert.deepEqual(rulesFor(operator, 8081)[0]!.from, [want]);
    assert.deepEqual(rulesFor(proxy, 8082)[0]!.from, [want]);
  });

  it("no namespace: no pod reaches the metrics ports at all", async () => {
    const { operator, proxy } = await policies({ "networkPolicy.metricsFrom.namespace": "" });
    assert.deepEqual(rulesFor(operator, 8081), []);
    assert.ok(!operator.spec.ingress?.length, "an Ingress policy without rules admits nothing");
    assert.deepEqual(rulesFor(proxy, 8082), []);
    assert.equal(rulesFor(proxy, 8080).length, 1);
  });

  it("the values schema refuses a namespace that is not a name", async () => {
    await assert.rejects(policies({ "networkPolicy.metricsFrom.namespace": "Not A Namespace" }), /namespace/);
  });
});

const PROXY_LABELS = {
  "app.kubernetes.io/component": "proxy",
  "app.kubernetes.io/instance": "acme",
  "app.kubernetes.io/name": "portico",
};

describe("chart network values reach the operator's workspace egress", () => {
  const operatorArgs = (objects: K8sObject[]) => {
    const d = objects.find(
      (o) => o.kind === "Deployment" && o.metadata.labels?.["app.kubernetes.io/component"] === "operator",
    ) as K8sObject & { spec: { template: { spec: { containers: { args: string[] }[] } } } };
    return d.spec.template.spec.containers[0]!.args;
  };

  it("defaults: restricted, kubeadm's CIDRs, the private and link-local deny list", async () => {
    const { objects } = await policies();
    const c = loadConfig(operatorArgs(objects), {});
    assert.deepEqual(c.builder.workspaceEgress, {
      mode: "restricted",
      podCidrs: ["10.244.0.0/16"],
      serviceCidrs: ["10.96.0.0/12"],
      apiServerCidrs: [],
      deny: [...DEFAULT_EGRESS_DENY],
      allow: [],
      keepAlive: { namespace: "ide", podLabels: PROXY_LABELS, port: 8083 },
    });
  });

  it("issue 15: without the keep-alive listener, no keep-alive egress and no PORTICO_KEEP_ALIVE_URL", async () => {
    const { objects } = await policies({ "proxy.workspaceListener.enabled": false });
    const c = loadConfig(operatorArgs(objects), {});
    assert.equal(c.builder.workspaceEgress.keepAlive, undefined);
    assert.equal(c.builder.keepAliveUrl, undefined);
    const on = loadConfig(operatorArgs((await policies()).objects), {});
    assert.equal(
      on.builder.keepAliveUrl,
      "http://acme-portico-proxy-keepalive.ide.svc.cluster.local:8083/keep-alive",
    );
  });

  it("every network value is passed through", async () => {
    const { objects } = await policies({
      "network.podCidrs": ["198.18.0.0/16"],
      "network.serviceCidrs": ["198.19.0.0/16", "fd10::/108"],
      "network.apiServerCidrs": ["203.0.113.10/32"],
      "network.workspaceEgress": { mode: "allow-list", deny: ["10.0.0.0/8"], allow: ["140.82.112.0/20"] },
    });
    const c = loadConfig(operatorArgs(objects), {});
    assert.deepEqual(c.builder.workspaceEgress, {
      mode: "allow-list",
      podCidrs: ["198.18.0.0/16"],
      serviceCidrs: ["198.19.0.0/16", "fd10::/108"],
      apiServerCidrs: ["203.0.113.10/32"],
      deny: ["10.0.0.0/8"],
      allow: ["140.82.112.0/20"],
      keepAlive: { namespace: "ide", podLabels: PROXY_LABELS, port: 8083 },
    });
  });

  it("the values schema refuses an unknown mode and a malformed CIDR", async () => {
    await assert.rejects(policies({ "network.workspaceEgress.mode": "closed" }), /mode/);
    await assert.rejects(policies({ "network.workspaceEgress.deny": ["10.0.0.0/99"] }), /deny/);
  });
});
