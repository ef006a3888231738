/**
 * charts/portico/values.schema.json, as the real helm enforces it (helm 3 checks it on install, upgrade,
 * template and lint):
 *  - the defaults pass `helm lint --strict` with no warning or error;
 *  - each bad value is refused, and helm's message names that field (`- at '/proxy/replicas': …`) and
 *    says what is wrong; no other field is blamed;
 *  - good combinations (each auth mode with what it needs, path routing, Istio, ServiceMonitor,
 *    autoscaling) render;
 *  - the schema covers values.yaml exactly, with a type and a description everywhere, and refuses unknown
 *    keys at every level the chart owns;
 *  - its shared patterns accept exactly what the components' own parsers accept;
 *  - docs/configuration.md is what scripts/values-reference.ts makes of the chart now.
 * That the rendered flags are accepted by the components is charts/chart-config.test.ts.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { CHART, helm, kubeVersion, LiteralString, setFlags, type HelmResult } from "../e2e/lib/helm.ts";
import { DOMAIN, parseBytes, parseDurationMs } from "../common/runtime/settings.ts";
import {
  COMMAND,
  OUTPUT,
  isOwnedObject,
  readChart,
  renderValuesReference,
  resolve,
  valueAt,
  valueRows,
  type ValuesSchema,
} from "../scripts/values-reference.ts";

/** `helm template` of the chart with `values` (the result, whatever the exit code). */
function template(values: Record<string, unknown>): Promise<HelmResult> {
  return helm([
    "template",
    "portico",
    CHART,
    "--namespace",
    "portico-system",
    "--kube-version",
    kubeVersion(),
    ...setFlags(values),
  ]);
}

/** The JSON pointers helm blames in a schema refusal: `- at '/proxy/replicas': …` → `/proxy/replicas`. */
const blamed = (stderr: string): string[] =>
  [...stderr.matchAll(/^- at '([^']*)': /gm)].map((m) => m[1]!).sort();

const OIDC = {
  "proxy.auth.oidc.issuer": "https://keycloak.example.com/realms/portico",
  "proxy.auth.publicUrl": "https://portico.example.com",
  "proxy.auth.oidc.existingSecret": "portico-oidc",
};

interface BadRow {
  /** What is wrong, for the test's name. */
  name: string;
  values: Record<string, unknown>;
  /** The field helm must blame, as its JSON pointer. */
  at: string;
  /** What helm must say about it. */
  says: string | RegExp;
}

const BAD: BadRow[] = [
  {
    name: "an unknown routing mode",
    values: { "routing.mode": "cube" },
    at: "/routing/mode",
    says: "value must be one of 'host', 'path'",
  },
  {
    name: "negative replicas",
    values: { "proxy.replicas": -1 },
    at: "/proxy/replicas",
    says: "minimum: got -1, want 0",
  },
  {
    name: "a typo in a key",
    values: { "proxy.replica": 3 },
    at: "/proxy",
    says: "additional properties 'replica' not allowed",
  },
  {
    name: "a typo two levels down",
    values: { "proxy.auth.oidc.issuerUrl": "https://id.example.com" },
    at: "/proxy/auth/oidc",
    says: "additional properties 'issuerUrl' not allowed",
  },
  {
    name: "an unknown top-level key",
    values: { ingress: { enabled: true } },
    at: "",
    says: "additional properties 'ingress' not allowed",
  },
  {
    name: "an unknown auth mode",
    values: { "proxy.auth.mode": "basic" },
    at: "/proxy/auth/mode",
    says: "value must be one of 'oidc', 'jwt', 'trusted-headers', 'none'",
  },
  {
    name: "a base domain that is not a DNS name",
    values: { "routing.baseDomain": "Not A Domain" },
    at: "/routing/baseDomain",
    says: "'Not A Domain' does not match pattern",
  },
  {
    name: "a duration as a bare number",
    values: { "operator.leaderElection.leaseDuration": 15 },
    at: "/operator/leaderElection/leaseDuration",
    says: "got number, want string",
  },
  {
    name: "a duration in words",
    values: { "operator.leaderElection.leaseDuration": "15 seconds" },
    at: "/operator/leaderElection/leaseDuration",
    says: "'15 seconds' does not match pattern",
  },
  {
    name: "a zero duration where the component needs a positive one",
    values: { "proxy.auth.sessionTtl": "0s" },
    at: "/proxy/auth/sessionTtl",
    says: "'0s' does not match pattern",
  },
  {
    name: "a size in decimal units",
    values: { "proxy.limits.maxBodyBytes": "10GB" },
    at: "/proxy/limits/maxBodyBytes",
    says: "'10GB' does not match pattern",
  },
  {
    name: "an address without a prefix length as a trusted range",
    values: { "proxy.auth.trustedHeaderCidrs": ["10.0.0.0/8", "10.0.0.0"] },
    at: "/proxy/auth/trustedHeaderCidrs/1",
    says: "'10.0.0.0' does not match pattern",
  },
  {
    name: "an IPv4 range with an octet above 255",
    values: { "proxy.auth.trustedHeaderCidrs": ["10.300.0.0/16"] },
    at: "/proxy/auth/trustedHeaderCidrs/0",
    says: "'10.300.0.0/16' does not match pattern",
  },
  {
    name: "a gateway secret too short to resist guessing",
    values: { "proxy.auth.trustedHeaderSecret.value": "hunter2" },
    at: "/proxy/auth/trustedHeaderSecret/value",
    says: "'hunter2' does not match pattern",
  },
  {
    name: "a negative number of trusted proxy hops",
    values: { "proxy.trustedProxyHops": -1 },
    at: "/proxy/trustedProxyHops",
    says: "minimum",
  },
  {
    name: "a Service type Kubernetes does not have",
    values: { "proxy.service.type": "Ingress" },
    at: "/proxy/service/type",
    says: "value must be one of 'ClusterIP', 'NodePort', 'LoadBalancer'",
  },
  {
    name: "a scrape interval in words",
    values: { "serviceMonitor.interval": "fast" },
    at: "/serviceMonitor/interval",
    says: "'fast' does not match pattern",
  },
  {
    name: "a digest that is not sha256:<64 hex>",
    values: { "operator.image.digest": "abc" },
    at: "/operator/image/digest",
    says: "'abc' does not match pattern",
  },
  {
    name: "an image repository with a space",
    values: { "proxy.image.repository": "ghcr.io/portico dev/proxy" },
    at: "/proxy/image/repository",
    says: "'ghcr.io/portico dev/proxy' does not match pattern",
  },
  {
    name: "a negative rate",
    values: { "proxy.rateLimit.perUser": -5 },
    at: "/proxy/rateLimit/perUser",
    says: "minimum: got -5, want 0",
  },
  {
    name: "a port above 65535",
    values: { "proxy.service.port": 70000 },
    at: "/proxy/service/port",
    says: /maximum: got 70,?000, want 65,?535/,
  },
  {
    name: "a percentage above 100",
    values: { "proxy.autoscaling.targetCPUUtilizationPercentage": 150 },
    at: "/proxy/autoscaling/targetCPUUtilizationPercentage",
    says: "maximum: got 150, want 100",
  },
  {
    name: "minAvailable as a percentage above 100%",
    values: { "proxy.podDisruptionBudget.minAvailable": "150%" },
    at: "/proxy/podDisruptionBudget/minAvailable",
    says: "'150%' does not match pattern",
  },
  {
    name: "a replica count as a string",
    values: { "operator.replicas": "2" },
    at: "/operator/replicas",
    says: "got string, want integer",
  },
  {
    name: "an unknown log level",
    values: { "operator.logLevel": "verbose" },
    at: "/operator/logLevel",
    says: "value must be one of 'error', 'warn', 'info', 'debug'",
  },
  {
    name: "an unknown virtualServices setting",
    values: { "operator.virtualServices": "yes" },
    at: "/operator/virtualServices",
    says: "value must be one of 'auto', 'enabled', 'disabled'",
  },
  {
    name: "an issuer that is not an http(s) URL",
    values: { "proxy.auth.oidc.issuer": "keycloak.example.com/realms/portico" },
    at: "/proxy/auth/oidc/issuer",
    says: "does not match pattern",
  },
  {
    name: "an audience with a comma (the flag is comma-joined)",
    values: { "proxy.auth.oidc.audiences": ["a,b"] },
    at: "/proxy/auth/oidc/audiences/0",
    says: "'a,b' does not match pattern",
  },
  {
    name: "an empty client id in oidc mode",
    values: { "proxy.auth.oidc.clientId": "" },
    at: "/proxy/auth/oidc/clientId",
    says: "minLength: got 0, want 1",
  },
  {
    name: "an existing Istio gateway without a name",
    values: { "istio.enabled": true, "istio.gateway.create": false },
    at: "/istio/gateway/name",
    says: "minLength: got 0, want 1",
  },
  {
    name: "an extra argument that is not a flag",
    values: { "proxy.extraArgs": ["debug"] },
    at: "/proxy/extraArgs/0",
    says: "'debug' does not match pattern",
  },
  {
    name: "a workspace class the chart does not ship",
    values: { "workspaceClasses.emacs.enabled": true },
    at: "/workspaceClasses",
    says: "additional properties 'emacs' not allowed",
  },
  {
    name: "a storage size that is not a quantity",
    values: { "operator.defaultStorageSize": "10 GB" },
    at: "/operator/defaultStorageSize",
    says: "'10 GB' does not match pattern",
  },
  {
    name: "session keys as a value that is not a JSON object",
    values: { "proxy.auth.sessionKeys.jwks": "base64-key" },
    at: "/proxy/auth/sessionKeys/jwks",
    says: "'base64-key' does not match pattern",
  },
  {
    name: "an admin group with a space",
    values: { "admissionPolicies.owners.adminGroups": ["platform admins"] },
    at: "/admissionPolicies/owners/adminGroups/0",
    says: "'platform admins' does not match pattern",
  },
  {
    name: "a typo in the admission policy owners",
    values: { "admissionPolicies.owners.adminGroup": ["ops"] },
    at: "/admissionPolicies/owners",
    says: "additional properties 'adminGroup' not allowed",
  },
  {
    name: "admission policies switched on with a string",
    values: { "admissionPolicies.enabled": "yes" },
    at: "/admissionPolicies/enabled",
    says: "got string, want boolean",
  },
];

const GOOD: { name: string; values: Record<string, unknown> }[] = [
  {
    name: "session keys as a value",
    values: {
      ...OIDC,
      "proxy.auth.sessionKeys.jwks": new LiteralString(
        JSON.stringify({
          keys: [{ kty: "oct", kid: "k1", alg: "A256GCM", k: Buffer.alloc(32, 7).toString("base64url") }],
        }),
      ),
    },
  },
  {
    name: "admission policies with admins, a GitOps controller and an OIDC user prefix",
    values: {
      "admissionPolicies.owners.adminGroups": [
        "system:masters",
        "system:serviceaccounts:argocd",
        "oidc:platform",
      ],
      "admissionPolicies.owners.adminUsers": ["oidc:root@example.com"],
      "admissionPolicies.owners.usernamePrefixes": ["oidc:"],
    },
  },
  { name: "no admission policies", values: { "admissionPolicies.enabled": false } },
  { name: "the defaults", values: {} },
  { name: "oidc with an existing client Secret", values: OIDC },
  {
    name: "oidc with the client secret as a value and own session keys",
    values: {
      "proxy.auth.oidc.issuer": "https://keycloak.example.com/realms/portico",
      "proxy.auth.publicUrl": "https://portico.example.com:8443",
      "proxy.auth.oidc.clientSecret": "s3cr3t with spaces & symbols",
      "proxy.auth.sessionKeys.existingSecret": "portico-session-keys",
      "proxy.auth.oidc.scopes": ["openid", "email", "groups"],
      "proxy.auth.cookieDomain": "example.com",
    },
  },
  {
    name: "jwt with audiences",
    values: {
      "proxy.auth.mode": "jwt",
      "proxy.auth.oidc.issuer": "https://login.example.com",
      "proxy.auth.oidc.audiences": ["portico", "api://portico"],
      "proxy.auth.oidc.clientId": "",
    },
  },
  {
    name: "trusted-headers with IPv4 and IPv6 ranges",
    values: {
      "proxy.auth.mode": "trusted-headers",
      "proxy.auth.trustedHeaderCidrs": ["10.0.0.0/8", "192.168.1.7/32", "fd00::/8", "::1/128"],
      "proxy.auth.trustedHeaderSecret.existingSecret": "mesh-proof",
    },
  },
  {
    name: "trusted-headers behind Istio, the secret set by the chart's VirtualService, two trusted hops",
    values: {
      "proxy.auth.mode": "trusted-headers",
      "proxy.auth.trustedHeaderSecret.value": "0123456789abcdef0123456789abcdef",
      "proxy.trustedProxyHops": 2,
      "istio.enabled": true,
    },
  },
  { name: "no authentication", values: { "proxy.auth.mode": "none" } },
  {
    name: "path routing over plain http on a port",
    values: {
      "routing.mode": "path",
      "routing.baseDomain": "localhost",
      "routing.urlScheme": "http",
      "routing.urlPort": 8080,
      "proxy.auth.mode": "none",
    },
  },
  {
    name: "Istio with a created TLS gateway",
    values: { ...OIDC, "istio.enabled": true, "istio.gateway.tlsSecretName": "portico-tls" },
  },
  {
    name: "Istio attached to an existing gateway",
    values: {
      ...OIDC,
      "istio.enabled": true,
      "istio.gateway.create": false,
      "istio.gateway.name": "istio-system/public",
      "operator.istioGateways": ["istio-system/public"],
      "operator.virtualServices": "enabled",
    },
  },
  {
    name: "ServiceMonitor, autoscaling and a percentage PDB",
    values: {
      ...OIDC,
      "serviceMonitor.enabled": true,
      "serviceMonitor.interval": "1m30s",
      "serviceMonitor.labels": { release: "prometheus" },
      "proxy.autoscaling.enabled": true,
      "proxy.autoscaling.maxReplicas": 20,
      "proxy.podDisruptionBudget.minAvailable": "50%",
    },
  },
  {
    name: "pinned digests, durations with fractions, byte sizes and free-form maps",
    values: {
      ...OIDC,
      "operator.image.digest": `sha256:${"a".repeat(64)}`,
      "proxy.image.repository": "registry.local:5000/portico/proxy",
      "proxy.image.tag": "0.1.0-rc.1",
      "operator.gitImage": `registry.local:5000/git:2.47@sha256:${"0".repeat(64)}`,
      "operator.leaderElection.leaseDuration": "1m",
      "operator.leaderElection.renewDeadline": "40.5s",
      "operator.leaderElection.retryPeriod": "500ms",
      "proxy.limits.maxBodyBytes": "1048576",
      "proxy.limits.requestTimeout": "0",
      "proxy.limits.idleTimeout": "1h30m",
      "operator.resources": { requests: { cpu: "1", memory: "1Gi" } },
      "proxy.nodeSelector": { "kubernetes.io/os": "linux" },
      "proxy.tolerations": [{ key: "dedicated", operator: "Equal", value: "ide", effect: "NoSchedule" }],
      "workspaceClasses.vscode.overrides": { image: "registry.local/code-server:4.104.2" },
      "workspaceClasses.rstudio.enabled": false,
      imagePullSecrets: [{ name: "regcred" }],
      "networkPolicy.proxyIngressFrom": [{ namespaceSelector: { matchLabels: { name: "ingress" } } }],
      "proxy.extraArgs": ["--ws-ping-interval=20s"],
    },
  },
];

describe("values.schema.json under the real helm", () => {
  it("the defaults pass helm lint --strict with no warning or error", async () => {
    const r = await helm(["lint", "--strict", CHART, "--kube-version", kubeVersion()]);
    assert.equal(r.code, 0, `helm lint failed:\n${r.stdout}\n${r.stderr}`);
    assert.doesNotMatch(r.stdout + r.stderr, /\[(WARNING|ERROR)\]/, r.stdout + r.stderr);
  });

  it(`has at least 12 bad rows (${BAD.length})`, () => assert.ok(BAD.length >= 12));

  for (const row of BAD)
    it(`refuses ${row.name}, naming ${row.at || "the top level"}`, async () => {
      const r = await template(row.values);
      assert.notEqual(r.code, 0, `helm accepted ${JSON.stringify(row.values)}`);
      assert.match(r.stderr, /values don't meet the specifications of the schema/, r.stderr);
      assert.deepEqual(blamed(r.stderr), [row.at], `helm blamed other fields:\n${r.stderr}`);
      const line = r.stderr.split("\n").find((l) => l.startsWith(`- at '${row.at}': `))!;
      if (typeof row.says === "string")
        assert.ok(line.includes(row.says), `expected "${row.says}" in: ${line}`);
      else assert.match(line, row.says);
    });

  for (const row of GOOD)
    it(`accepts ${row.name}`, async () => {
      const r = await template(row.values);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stderr.trim(), "", `helm warned:\n${r.stderr}`);
    });

  it("helm lint --strict also refuses a bad value (not only template)", async () => {
    const r = await helm([
      "lint",
      "--strict",
      CHART,
      "--kube-version",
      kubeVersion(),
      "--set",
      "proxy.replicas=-1",
    ]);
    assert.notEqual(r.code, 0);
    assert.match(r.stdout + r.stderr, /at '\/proxy\/replicas': minimum: got -1, want 0/);
  });
});

const { schema, values } = readChart();

describe("values.schema.json covers values.yaml", () => {
  const rows = valueRows(schema);
  const paths = new Set(rows.map((r) => r.path));

  /** Every leaf, list and map of values.yaml, walking into maps the schema owns. */
  const leaves = (v: unknown, node: ValuesSchema | undefined, path: string, out: string[]) => {
    const n = node && resolve(schema, node).node;
    if (path && !(n && isOwnedObject(n))) {
      out.push(path);
      return out;
    }
    for (const [k, child] of Object.entries(v as Record<string, unknown>))
      leaves(child, n?.properties?.[k], path ? `${path}.${k}` : k, out);
    return out;
  };

  it("every value in values.yaml has a schema entry", () => {
    const missing = leaves(values, schema, "", []).filter((p) => !paths.has(p));
    assert.deepEqual(missing, [], "values.yaml has values the schema does not describe");
  });

  it("every schema entry is in values.yaml (global aside: it comes from a parent chart)", () => {
    const extra = [...paths].filter((p) => p !== "global" && valueAt(values, p) === undefined);
    assert.deepEqual(extra, [], "the schema describes values that values.yaml does not set");
  });

  it("every value has a type and a description", () => {
    for (const r of rows) {
      assert.ok(r.node.type, `${r.path}: no type`);
      assert.ok(r.node.description?.trim(), `${r.path}: no description`);
    }
  });

  it("every object the chart owns refuses unknown keys; free-form maps are the listed ones", () => {
    const freeForm: string[] = [];
    const walk = (node: ValuesSchema, path: string) => {
      const n = resolve(schema, node).node;
      if (n.type !== "object") return;
      if (n.properties) {
        assert.equal(n.additionalProperties, false, `${path || "(top)"}: additionalProperties must be false`);
        for (const [k, c] of Object.entries(n.properties)) walk(c, path ? `${path}.${k}` : k);
      } else freeForm.push(path);
    };
    walk(schema, "");
    const allowed =
      /(^global|\.resources|\.nodeSelector|\.affinity|Annotations|\.annotations|\.labels|\.selector|\.overrides)$/;
    assert.deepEqual(
      freeForm.filter((p) => !allowed.test(p)),
      [],
      "free-form maps other than resources, nodeSelector, affinity, annotations, labels, selector, overrides",
    );
  });

  /** Comments in values.yaml that describe a group of values: each value's description says its own part. */
  const GROUP_COMMENTS = ["operator.qps", "proxy.rateLimit.perUser"];

  it("the values.yaml comments (# --) reappear in the schema's descriptions", () => {
    // A `# -- text` comment right above `key:` (indentation gives the path) should be its description.
    const lines = readFileSync(join(CHART, "values.yaml"), "utf8").split("\n");
    const stack: { indent: number; key: string }[] = [];
    let comment: string[] = [];
    let checked = 0;
    for (const line of lines) {
      const c = /^\s*# ?(-- )?(.*)$/.exec(line);
      if (c) {
        if (c[1]) comment = [c[2]!];
        else if (comment.length) comment.push(c[2]!);
        continue;
      }
      const m = /^(\s*)([A-Za-z][\w-]*):/.exec(line);
      if (!m) {
        comment = [];
        continue;
      }
      const indent = m[1]!.length;
      while (stack.length && stack.at(-1)!.indent >= indent) stack.pop();
      stack.push({ indent, key: m[2]! });
      const path = stack.map((s) => s.key).join(".");
      if (comment.length) {
        let node: ValuesSchema | undefined = schema;
        for (const k of path.split(".")) node = node && resolve(schema, node).node.properties?.[k];
        const description = node && resolve(schema, node).node.description;
        const said = comment.join(" ").replace(/\s+/g, " ").trim();
        if (!GROUP_COMMENTS.includes(path))
          assert.ok(
            description?.replace(/\s+/g, " ").includes(said),
            `${path}: description ${JSON.stringify(description)} does not reuse the comment ${JSON.stringify(said)}`,
          );
        checked++;
      }
      comment = [];
    }
    assert.ok(checked >= 20, `only ${checked} commented values found`);
  });
});

describe("the schema's patterns accept what the components accept", () => {
  const def = (name: string) => new RegExp(schema.definitions![name]!.pattern!);

  it("durations: exactly the positive ones parseDurationMs reads", () => {
    const re = def("duration");
    for (const s of [
      "15s",
      "5m",
      "1h30m",
      "500ms",
      "1.5s",
      "0.5m",
      "0h1s",
      "10s5ms",
      "0s",
      "0",
      "15",
      "",
      "15 s",
      "1d",
      "-1s",
      "s",
      "1.s",
      "0.0s",
      "fast",
    ]) {
      const ms = parseDurationMs(s);
      assert.equal(re.test(s), ms !== undefined && ms > 0, `duration ${JSON.stringify(s)} (parsed: ${ms})`);
    }
  });

  it("durations or zero: what parseDurationMs reads, and 0", () => {
    const re = def("durationOrZero");
    for (const s of ["0", "0s", "5m", "1h30m", "", "00", "5 m", "5x"])
      assert.equal(
        re.test(s),
        s === "0" || parseDurationMs(s) !== undefined,
        `duration ${JSON.stringify(s)}`,
      );
  });

  it("byte sizes: exactly what parseBytes reads", () => {
    const re = def("bytes");
    for (const s of ["16Ki", "256Mi", "1Gi", "1000", "0", "10GB", "1.5Mi", "1 Mi", "Mi", "1Ti", "-1", ""])
      assert.equal(re.test(s), parseBytes(s) !== undefined, `size ${JSON.stringify(s)}`);
  });

  it("domains: the components' DOMAIN expression", () => {
    assert.equal(schema.definitions!.domain!.pattern, DOMAIN.source);
    assert.equal(schema.definitions!.optionalDomain!.pattern, `^(${DOMAIN.source.slice(1, -1)})?$`);
  });

  it("CIDRs: what the proxy's BlockList can load", async () => {
    const { BlockList, isIP } = await import("node:net");
    const re = def("cidr");
    for (const s of ["10.0.0.0/8", "0.0.0.0/0", "192.168.1.7/32", "fd00::/8", "::1/128", "2001:db8::/32"]) {
      assert.ok(re.test(s), s);
      const [addr, bits] = s.split("/");
      new BlockList().addSubnet(addr!, Number(bits), isIP(addr!) === 6 ? "ipv6" : "ipv4");
    }
    for (const s of [
      "10.0.0.0",
      "10.0.0.0/33",
      "256.0.0.0/8",
      "10.0.0/8",
      "fd00::/129",
      "x/8",
      " 10.0.0.0/8",
    ])
      assert.ok(!re.test(s), s);
  });
});

describe("docs/configuration.md", () => {
  it("is what the generator makes of the chart now", () => {
    const committed = readFileSync(OUTPUT, "utf8");
    assert.ok(
      committed === renderValuesReference(schema, values),
      `docs/configuration.md is stale (values.yaml or values.schema.json changed since it was generated): run \`${COMMAND}\` and commit the result`,
    );
  });

  it("has one row per value, with its default and its allowed values", () => {
    const doc = renderValuesReference(schema, values);
    for (const r of valueRows(schema)) {
      const rows = doc.split("\n").filter((l) => l.startsWith(`| \`${r.path}\` |`));
      assert.equal(rows.length, 1, `${r.path}: ${rows.length} rows`);
      const def = valueAt(values, r.path);
      if (def !== undefined) assert.ok(rows[0]!.includes(JSON.stringify(def).replace(/\|/g, "\\|")), rows[0]);
      for (const e of r.node.enum ?? [])
        assert.ok(rows[0]!.includes(`\`${String(e)}\``), `${r.path}: enum ${e}`);
    }
  });

  it("reflects a change: a new enum value, default and description show in the row", () => {
    const changed = structuredClone(schema);
    const mode = changed.properties!.routing!.properties!.mode!;
    mode.enum = [...mode.enum!, "subpath"];
    mode.description = "Changed description.";
    const doc = renderValuesReference(changed, { ...(values as object), routing: { mode: "path" } });
    const row = doc.split("\n").find((l) => l.startsWith("| `routing.mode` |"))!;
    assert.match(row, /`subpath`/);
    assert.match(row, /`"path"`/);
    assert.match(row, /Changed description\./);
  });
});
