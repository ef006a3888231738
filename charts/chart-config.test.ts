/**
 * What the chart renders is what the components accept: the operator's and the proxy's container args and
 * env (fieldRefs filled in as the kubelet would, secretKeyRefs from the rendered Secrets) go through their
 * own `loadConfig`, for every auth mode, both routings and non-default values; the parsed configuration
 * must reflect the values, and the operator must point at the chart's proxy Service and pod labels. Session
 * keys come three ways (a value that must open in `SessionCodec`, an existing Secret, or the hook Job whose
 * args the `session-keys` subcommand accepts), and `helm template` is byte-for-byte reproducible. The
 * admission policies name the chart's own ServiceAccounts and the label the workspace Service selects on.
 * NOTES.txt must say ACTION NEEDED exactly when the proxy would refuse to start.
 *
 * NOTES.txt: `helm template` leaves it out and `helm install --dry-run=client` still needs a cluster
 * (it asks the API server for its version, discovery and OpenAPI), so the notes are rendered by
 * `helm template` from a copy of the chart with one extra template that includes templates/NOTES.txt.
 */
import { LIFECYCLE_ANNOTATIONS } from "../common/model/workspace/lifecycle.ts";
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { parse } from "yaml";
import {
  CHART,
  helm,
  kubeVersion,
  LiteralString,
  renderChart,
  setFlags,
  type K8sObject,
} from "../e2e/lib/helm.ts";
import { ConfigError, loadConfig as loadOperatorConfig, type OperatorConfig } from "../operator/config.ts";
import { SessionCodec } from "../proxy/auth/session.ts";
import { loadConfig as loadProxyConfig, loadSessionKeysConfig, type ProxyConfig } from "../proxy/config.ts";
import { buildService } from "../operator/workspace/build.ts";
import { testWorkspace } from "../operator/workspace/fixtures.ts";
import { WORKSPACE_LABEL } from "../common/model/workspace/names.ts";

const NS = "ide-gateway";
const RELEASE = "acme";
const ISSUER = "https://keycloak.example.com/realms/portico";

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    fieldRef?: { fieldPath: string };
    secretKeyRef?: { name: string; key: string };
  };
}
interface Container {
  name: string;
  args?: string[];
  env?: EnvVar[];
  volumeMounts?: { name: string; mountPath: string }[];
}
interface PodTemplate {
  metadata: { labels: Record<string, string> };
  spec: { containers: Container[]; volumes?: { name: string; secret?: { secretName: string } }[] };
}
type Deployment = K8sObject & {
  spec: { replicas?: number; selector: { matchLabels: Record<string, string> }; template: PodTemplate };
};
type Service = K8sObject & {
  spec: { selector: Record<string, string>; ports: { port: number }[]; type: string };
};
type Secret = K8sObject & { data?: Record<string, string> };

/** The rendered chart, with the lookups these tests need. */
class Rendered {
  readonly objects: K8sObject[];
  constructor(objects: K8sObject[]) {
    this.objects = objects;
  }
  find<T extends K8sObject>(kind: string, name: string): T {
    const o = this.objects.find((x) => x.kind === kind && x.metadata.name === name);
    assert.ok(
      o,
      `no ${kind} ${name} rendered (have: ${this.objects.map((x) => `${x.kind}/${x.metadata.name}`)})`,
    );
    return o as T;
  }
  deployment(component: "operator" | "proxy"): Deployment {
    const d = this.objects.find(
      (o) => o.kind === "Deployment" && o.metadata.labels?.["app.kubernetes.io/component"] === component,
    );
    assert.ok(d, `no ${component} Deployment`);
    return d as Deployment;
  }
  /** The container's environment as the kubelet would give it to a pod named `podName`. */
  env(d: Deployment, podName: string): Record<string, string> {
    const c = d.spec.template.spec.containers[0]!;
    const out: Record<string, string> = {};
    for (const e of c.env ?? []) {
      if (e.value !== undefined) out[e.name] = e.value;
      else if (e.valueFrom?.fieldRef) {
        const path = e.valueFrom.fieldRef.fieldPath;
        assert.ok(path === "metadata.namespace" || path === "metadata.name", `fieldRef ${path}`);
        out[e.name] = path === "metadata.namespace" ? d.metadata.namespace! : podName;
      } else if (e.valueFrom?.secretKeyRef) {
        const { name, key } = e.valueFrom.secretKeyRef;
        const s = this.objects.find((o) => o.kind === "Secret" && o.metadata.name === name) as
          Secret | undefined;
        // A Secret of the user's own (existingSecret): stands in for it with a known value.
        out[e.name] = s ? Buffer.from(s.data?.[key] ?? "", "base64").toString("utf8") : `from ${name}/${key}`;
      } else assert.fail(`env ${e.name}: unsupported source`);
    }
    return out;
  }
}

async function render(values: Record<string, unknown>): Promise<Rendered> {
  return new Rendered(await renderChart(values, { release: RELEASE, namespace: NS }));
}

/** Both components' configurations from what the chart renders with `values`. */
async function configs(values: Record<string, unknown>) {
  const r = await render(values);
  const op = r.deployment("operator");
  const px = r.deployment("proxy");
  const opArgs = op.spec.template.spec.containers[0]!.args ?? [];
  const pxArgs = px.spec.template.spec.containers[0]!.args ?? [];
  const operator = loadOperatorConfig(opArgs, r.env(op, `${op.metadata.name}-7d4b9c-x2x9q`));
  const proxy = loadProxyConfig(pxArgs, r.env(px, `${px.metadata.name}-5f6d8b-abcde`));
  return { r, op, px, operator, proxy };
}

/** The operator must select the chart's own proxy: its Service, its port, its pods. */
function assertOperatorFindsProxy(r: Rendered, px: Deployment, operator: Readonly<OperatorConfig>) {
  const b = operator.builder;
  const svc = r.find<Service>("Service", b.proxyServiceName);
  assert.equal(svc.metadata.namespace, b.proxyNamespace);
  assert.equal(px.metadata.namespace, b.proxyNamespace);
  assert.deepEqual(
    svc.spec.ports.map((p) => p.port),
    [b.proxyServicePort],
  );
  assert.deepEqual(
    { ...b.proxyPodLabels },
    px.spec.selector.matchLabels,
    "--proxy-pod-labels ≠ proxy selector",
  );
  assert.deepEqual({ ...b.proxyPodLabels }, svc.spec.selector, "--proxy-pod-labels ≠ proxy Service selector");
  for (const [k, v] of Object.entries(b.proxyPodLabels))
    assert.equal(px.spec.template.metadata.labels[k], v, `proxy pods lack ${k}=${v}`);
  // Leader election: the Lease is in the operator's namespace, where its Role grants leases.
  const role = r.find<K8sObject>("Role", `${operator.leaderElection.leaseName}-leader`);
  assert.equal(role.metadata.namespace, operator.leaderElection.leaseNamespace);
  assert.equal(operator.leaderElection.enabled, true);
}

/** The proxy's routing must agree with the operator's: same mode, same base domain. */
function assertSameRouting(operator: Readonly<OperatorConfig>, proxy: Readonly<ProxyConfig>) {
  assert.equal(proxy.routingConfig.routing, operator.builder.routing);
  assert.equal(proxy.routingConfig.baseDomain, operator.builder.baseDomain);
}

const OIDC = {
  "proxy.auth.oidc.issuer": ISSUER,
  "proxy.auth.publicUrl": "https://portico.example.com",
  "proxy.auth.oidc.clientSecret": "s3cr3t: with spaces & symbols",
};

describe("the chart's flags are accepted by the components", () => {
  it("oidc with the client secret as a value: from the chart's Secret into the proxy's env", async () => {
    const { r, px, operator, proxy } = await configs(OIDC);
    assertOperatorFindsProxy(r, px, operator);
    assertSameRouting(operator, proxy);
    assert.equal(proxy.auth, "oidc");
    assert.equal(proxy.identity.issuer, ISSUER);
    assert.equal(proxy.identity.clientId, "portico");
    assert.equal(proxy.identity.clientSecret, "s3cr3t: with spaces & symbols");
    assert.equal(proxy.identity.publicUrl, "https://portico.example.com");
    assert.deepEqual(proxy.identity.audiences, ["portico"]);
    assert.deepEqual(proxy.identity.adminRoles, ["portico-admin"]);
    assert.equal(proxy.identity.cookieDomain, "portico.example.com");
    assert.equal(proxy.identity.sessionTtlMs, 8 * 3_600_000);
    // The secret never appears in the args.
    assert.ok(!px.spec.template.spec.containers[0]!.args!.some((a) => a.includes("s3cr3t")));
    // The session keys file is the mounted Secret's key.
    const c = px.spec.template.spec.containers[0]!;
    const mount = c.volumeMounts!.find((m) => proxy.identity.sessionKeysFile!.startsWith(`${m.mountPath}/`))!;
    assert.ok(mount, `no volume mounted at ${proxy.identity.sessionKeysFile}`);
    const volume = px.spec.template.spec.volumes!.find((v) => v.name === mount.name)!;
    assert.equal(volume.secret?.secretName, `${RELEASE}-portico-proxy-session-keys`);
    // Neither a value nor an existing Secret: the hook Job makes that Secret, under that key.
    const hook = sessionKeysHook(r);
    assert.equal(hook.secret, volume.secret!.secretName);
    assert.equal(`/etc/portico/session/${hook.key}`, proxy.identity.sessionKeysFile);
  });

  it("oidc with an existing client Secret and own session keys, non-default values", async () => {
    const { r, px, operator, proxy } = await configs({
      ...OIDC,
      "proxy.auth.oidc.clientSecret": "",
      "proxy.auth.oidc.existingSecret": "keycloak-client",
      "proxy.auth.oidc.clientSecretKey": "secret",
      "proxy.auth.oidc.clientId": "ide-gateway",
      "proxy.auth.oidc.scopes": ["openid", "email"],
      "proxy.auth.oidc.offlineAccess": true,
      "proxy.auth.sessionKeys.existingSecret": "my-keys",
      "proxy.auth.sessionKeys.key": "jwks.json",
      "proxy.auth.sessionTtl": "12h",
      "proxy.auth.cookieDomain": "example.com",
      "proxy.auth.adminRoles": ["admins", "ops"],
    });
    assertOperatorFindsProxy(r, px, operator);
    const env = px.spec.template.spec.containers[0]!.env!.find(
      (e) => e.name === "PORTICO_OIDC_CLIENT_SECRET",
    )!;
    assert.deepEqual(env.valueFrom?.secretKeyRef, { name: "keycloak-client", key: "secret" });
    assert.ok(!r.objects.some((o) => o.kind === "Secret"), "no Secret is rendered when both are the user's");
    assert.equal(proxy.identity.clientId, "ide-gateway");
    assert.deepEqual(proxy.identity.scopes, ["openid", "email", "offline_access"]);
    assert.equal(proxy.identity.sessionKeysFile, "/etc/portico/session/jwks.json");
    assert.equal(px.spec.template.spec.volumes![0]!.secret!.secretName, "my-keys");
    assert.equal(proxy.identity.sessionTtlMs, 12 * 3_600_000);
    assert.equal(proxy.identity.cookieDomain, "example.com");
    assert.deepEqual(proxy.identity.adminRoles, ["admins", "ops"]);
  });

  it("jwt: bearer tokens from the issuer, for the audiences given", async () => {
    const { r, px, operator, proxy } = await configs({
      "proxy.auth.mode": "jwt",
      "proxy.auth.oidc.issuer": ISSUER,
      "proxy.auth.oidc.audiences": ["portico", "api://portico"],
    });
    assertOperatorFindsProxy(r, px, operator);
    assert.equal(proxy.auth, "jwt");
    assert.equal(proxy.identity.issuer, ISSUER);
    assert.deepEqual(proxy.identity.audiences, ["portico", "api://portico"]);
    assert.equal(proxy.identity.clientSecret, undefined);
    assert.equal(px.spec.template.spec.containers[0]!.env, undefined, "no client secret in jwt mode");
    assert.ok(!r.objects.some((o) => o.kind === "Secret"), "no Secrets in jwt mode");
  });

  it("trusted-headers: the gateway secret mounted as a file, the trusted ranges and admin roles", async () => {
    const gatewaySecret = "g".repeat(48);
    const { r, px, operator, proxy } = await configs({
      "proxy.auth.mode": "trusted-headers",
      "proxy.auth.trustedHeaderCidrs": ["10.0.0.0/8", "fd00::/8"],
      "proxy.auth.trustedHeaderSecret.value": gatewaySecret,
      "proxy.auth.trustedHeaderSecret.header": "X-Mesh-Proof",
      "proxy.auth.adminRoles": ["platform"],
    });
    assertOperatorFindsProxy(r, px, operator);
    assert.equal(proxy.auth, "trusted-headers");
    assert.deepEqual(proxy.identity.trustedHeaderCidrs, ["10.0.0.0/8", "fd00::/8"]);
    assert.deepEqual(proxy.identity.adminRoles, ["platform"]);
    assert.equal(proxy.identity.trustedHeaderSecretName, "x-mesh-proof");
    // The secret: in a Secret, mounted where the flag points, never in args or env.
    const file = proxy.identity.trustedHeaderSecretFile!;
    const mount = px.spec.template.spec.containers[0]!.volumeMounts!.find((m) =>
      file.startsWith(`${m.mountPath}/`),
    )!;
    const volume = px.spec.template.spec.volumes!.find((v) => v.name === mount.name)!;
    const stored = r.find<Secret>("Secret", volume.secret!.secretName);
    const key = file.slice(mount.mountPath.length + 1);
    assert.equal(Buffer.from(stored.data![key]!, "base64").toString(), gatewaySecret);
    assert.ok(!JSON.stringify(px.spec.template.spec.containers).includes(gatewaySecret));
  });

  it("trusted-headers: an existing Secret for the gateway secret, no ranges; none made by the chart", async () => {
    const { r, px, proxy } = await configs({
      "proxy.auth.mode": "trusted-headers",
      "proxy.auth.trustedHeaderSecret.existingSecret": "mesh-proof",
    });
    assert.deepEqual(proxy.identity.trustedHeaderCidrs, []);
    assert.ok(proxy.identity.trustedHeaderSecretFile);
    assert.equal(px.spec.template.spec.volumes![0]!.secret!.secretName, "mesh-proof");
    assert.ok(!r.objects.some((o) => o.kind === "Secret"), "no Secret rendered");
  });

  it("none, path routing over http on a port, and non-default limits, workers and extra flags", async () => {
    const { r, px, operator, proxy } = await configs({
      "proxy.auth.mode": "none",
      fullnameOverride: "ide",
      "routing.mode": "path",
      "routing.baseDomain": "ide.corp.example",
      "routing.urlScheme": "http",
      "routing.urlPort": 8443,
      "proxy.service.port": 8080,
      "proxy.clusterDomain": "cluster.corp",
      "proxy.rateLimit.perUser": 5,
      "proxy.rateLimit.perIp": 0,
      "proxy.rateLimit.burst": 20,
      "proxy.rateLimit.maxConnectionsPerUser": 16,
      "proxy.limits.maxHeaderBytes": "32Ki",
      "proxy.limits.maxBodyBytes": "1Gi",
      "proxy.limits.headersTimeout": "20s",
      "proxy.limits.requestTimeout": "0",
      "proxy.limits.idleTimeout": "1h30m",
      "proxy.limits.keepAliveTimeout": "500ms",
      "proxy.limits.wakeWait": "0s",
      "proxy.frameAncestors": "'self' https://portal.example.com",
      "proxy.trustForwarded": true,
      "proxy.logLevel": "debug",
      "proxy.extraArgs": ["--ws-ping-interval=20s"],
      "operator.workers": 8,
      "operator.qps": 20.5,
      "operator.burst": 40,
      "operator.leaderElection.leaseDuration": "30s",
      "operator.leaderElection.renewDeadline": "20s",
      "operator.leaderElection.retryPeriod": "2.5s",
      "operator.gitImage": "registry.local:5000/git:2.47",
      "operator.defaultStorageSize": "20Gi",
      "operator.virtualServices": "enabled",
      "operator.istioGateways": ["istio-system/public", "mesh-gw/internal"],
      "operator.logLevel": "warn",
      "operator.extraArgs": ["--resync-period=5m"],
    });
    assertOperatorFindsProxy(r, px, operator);
    assertSameRouting(operator, proxy);
    assert.equal(operator.builder.proxyServiceName, "ide-proxy");
    assert.equal(operator.builder.proxyServicePort, 8080);
    assert.equal(operator.builder.proxyNamespace, NS);
    assert.equal(operator.builder.routing, "path");
    assert.equal(operator.builder.baseDomain, "ide.corp.example");
    assert.equal(operator.builder.urlScheme, "http");
    assert.equal(operator.builder.urlPort, 8443);
    assert.equal(operator.builder.gitImage, "registry.local:5000/git:2.47");
    assert.equal(operator.builder.defaultStorageSize, "20Gi");
    assert.deepEqual(operator.builder.istioGateways, ["istio-system/public", "mesh-gw/internal"]);
    assert.equal(operator.virtualServices, "enabled");
    assert.equal(operator.workers, 8);
    assert.equal(operator.qps, 20.5);
    assert.equal(operator.burst, 40);
    assert.deepEqual(
      [
        operator.leaderElection.leaseDurationMs,
        operator.leaderElection.renewDeadlineMs,
        operator.leaderElection.retryPeriodMs,
      ],
      [30_000, 20_000, 2_500],
    );
    assert.equal(operator.leaderElection.leaseName, "ide-operator");
    assert.equal(operator.leaderElection.identity, "ide-operator-7d4b9c-x2x9q");
    assert.equal(operator.resyncPeriodMs, 5 * 60_000);
    assert.equal(operator.logLevel, "warn");

    assert.equal(proxy.auth, "none");
    assert.equal(proxy.routingConfig.clusterDomain, "cluster.corp");
    assert.deepEqual(proxy.identity.rateLimit, {
      perUser: 5,
      perIp: 0,
      burst: 20,
      maxConnectionsPerUser: 16,
    });
    assert.deepEqual(
      { ...proxy.limits },
      {
        maxHeaderBytes: 32 * 1024,
        maxBodyBytes: 1024 ** 3,
        headersTimeoutMs: 20_000,
        requestTimeoutMs: 0,
        idleTimeoutMs: 90 * 60_000,
        keepAliveTimeoutMs: 500,
        wsPingIntervalMs: 20_000,
        wsBufferBytes: 1024 * 1024,
        sseHeartbeatMs: 15_000,
        wakeWaitMs: 0,
      },
    );
    assert.equal(proxy.frameAncestors, "'self' https://portal.example.com");
    assert.equal(proxy.trustForwarded, true);
    assert.equal(proxy.trustedProxyHops, 1, "trustForwarded (deprecated) is one trusted hop");
    assert.equal(proxy.logLevel, "debug");
    assert.equal(proxy.identity.cookieDomain, undefined, "path routing sets no cookie domain");
    assert.equal(proxy.port, 8080);
    assert.equal(proxy.healthPort, 8082);
  });

  it("the default install, before the oidc values are given, is refused by the proxy with what to set", async () => {
    const r = await render({});
    const px = r.deployment("proxy");
    assert.throws(
      () => loadProxyConfig(px.spec.template.spec.containers[0]!.args!, r.env(px, "p")),
      (e: Error) =>
        e instanceof ConfigError &&
        /--oidc-issuer/.test(e.message) &&
        /--public-url/.test(e.message) &&
        /PORTICO_OIDC_CLIENT_SECRET/.test(e.message),
    );
  });
});

describe("the console's resource views: flags and RBAC from console.resources", () => {
  const secretRules = (r: Rendered) => {
    const role = r.objects.find(
      (o) => o.kind === "ClusterRole" && o.metadata.name === `${RELEASE}-portico-proxy-console-resources`,
    ) as Role | undefined;
    return role && role.rules.filter((x) => x.resources.includes("secrets"));
  };
  it("off by default: no flag on, no ClusterRole", async () => {
    const { r, proxy } = await configs({ "proxy.auth.mode": "none" });
    assert.equal(proxy.console.resources, false);
    assert.equal(secretRules(r), undefined);
  });
  it("on without secrets: no read of Secrets; with secrets or revealSecrets: get and list on them", async () => {
    const on = await configs({ "proxy.auth.mode": "none", "console.resources.enabled": true });
    assert.deepEqual(
      [on.proxy.console.resources, on.proxy.console.secrets, on.proxy.console.revealSecrets],
      [true, false, false],
    );
    assert.deepEqual(secretRules(on.r), []);
    for (const [key, reveal] of [
      ["console.resources.secrets", false],
      ["console.resources.revealSecrets", true],
    ] as const) {
      const c = await configs({ "proxy.auth.mode": "none", "console.resources.enabled": true, [key]: true });
      assert.deepEqual([c.proxy.console.secrets, c.proxy.console.revealSecrets], [true, reveal], key);
      assert.deepEqual(
        secretRules(c.r)?.map((x) => x.verbs),
        [["get", "list"]],
        key,
      );
    }
  });
  it("the API server's OIDC prefixes reach the reviews' names", async () => {
    const { proxy } = await configs({
      "proxy.auth.mode": "none",
      "console.resources.enabled": true,
      "console.resources.rbacUsernamePrefix": "oidc:",
      "console.resources.rbacGroupsPrefix": "oidc-group:",
    });
    assert.deepEqual([proxy.console.rbacUserPrefix, proxy.console.rbacGroupPrefix], ["oidc:", "oidc-group:"]);
  });
});

type Job = K8sObject & {
  spec: {
    template: {
      spec: {
        serviceAccountName: string;
        restartPolicy: string;
        containers: (Container & { image: string })[];
      };
    };
  };
};
type Role = K8sObject & {
  rules: { apiGroups: string[]; resources: string[]; resourceNames?: string[]; verbs: string[] }[];
};

/** The session-keys hook Job's settings, through the subcommand's own loader. */
function sessionKeysHook(r: Rendered) {
  const job = r.find<Job>("Job", `${RELEASE}-portico-session-keys`);
  const [cmd, ...args] = job.spec.template.spec.containers[0]!.args!;
  assert.equal(cmd, "session-keys");
  return { job, ...loadSessionKeysConfig(args, {}) };
}

const JWKS = JSON.stringify({
  keys: [
    { kty: "oct", kid: "ops-2026", alg: "A256GCM", use: "enc", k: Buffer.alloc(32, 9).toString("base64url") },
  ],
});

describe("session keys, three ways, nothing random", () => {
  it("neither given: a hook Job runs `portico-proxy session-keys` before install and upgrade, with its own least privilege", async () => {
    const r = await render(OIDC);
    assert.ok(
      !r.objects.some((o) => o.kind === "Secret" && o.metadata.name.endsWith("session-keys")),
      "no keys rendered",
    );
    const hook = sessionKeysHook(r);
    assert.equal(hook.namespace, NS);
    assert.equal(hook.secret, `${RELEASE}-portico-proxy-session-keys`);
    assert.equal(hook.key, "session-keys.json");
    assert.equal(hook.labels["app.kubernetes.io/instance"], RELEASE);
    assert.equal(
      hook.labels["app.kubernetes.io/managed-by"],
      undefined,
      "the Secret is not Helm's: never deleted by it",
    );
    const job: Job = hook.job;
    assert.equal(job.metadata.annotations?.["helm.sh/hook"], "pre-install,pre-upgrade");
    assert.equal(
      job.spec.template.spec.containers[0]!.image,
      (r.deployment("proxy").spec.template.spec.containers[0] as Container & { image: string }).image,
    );
    const sa = job.spec.template.spec.serviceAccountName;
    assert.equal(sa, `${RELEASE}-portico-session-keys`);
    // SA, Role and RoleBinding are hooks too, made before the Job (lower weight).
    for (const kind of ["ServiceAccount", "Role", "RoleBinding"]) {
      const o: K8sObject = r.find<K8sObject>(kind, sa);
      assert.equal(o.metadata.annotations?.["helm.sh/hook"], "pre-install,pre-upgrade", kind);
      assert.ok(
        Number(o.metadata.annotations?.["helm.sh/hook-weight"]) <
          Number(job.metadata.annotations?.["helm.sh/hook-weight"]),
        kind,
      );
    }
    assert.deepEqual(r.find<Role>("Role", sa).rules, [
      { apiGroups: [""], resources: ["secrets"], verbs: ["create"] },
      { apiGroups: [""], resources: ["secrets"], resourceNames: [hook.secret], verbs: ["get", "patch"] },
    ]);
    const rb = r.find<
      K8sObject & { subjects: { name: string; namespace: string }[]; roleRef: { name: string } }
    >("RoleBinding", sa);
    assert.deepEqual(
      rb.subjects.map((x) => `${x.namespace}/${x.name}`),
      [`${NS}/${sa}`],
    );
    assert.equal(rb.roleRef.name, sa);
  });

  it("as a value: the chart's Secret holds exactly that JWKS, which SessionCodec opens; no hook", async () => {
    const r = await render({ ...OIDC, "proxy.auth.sessionKeys.jwks": new LiteralString(JWKS) });
    const secret = r.find<Secret>("Secret", `${RELEASE}-portico-proxy-session-keys`);
    const raw = Buffer.from(secret.data!["session-keys.json"]!, "base64").toString("utf8");
    assert.equal(raw, JWKS);
    const codec = await SessionCodec.create(JSON.parse(raw));
    const now = Date.now();
    const session = {
      sub: "u1",
      user: "alice",
      groups: [],
      roles: [],
      exp: now + 60_000,
      tokenExp: now + 60_000,
    };
    assert.deepEqual(await codec.openSession(await codec.seal(session), now), session);
    assert.ok(!r.objects.some((o) => o.kind === "Job"), "no hook when the keys are given");
  });

  it("an existing Secret: nothing rendered, no hook", async () => {
    const r = await render({ ...OIDC, "proxy.auth.sessionKeys.existingSecret": "mine" });
    assert.ok(!r.objects.some((o) => o.metadata.name.includes("session-keys")));
  });

  it("a value that is not a JWKS is refused by helm, saying what it must be", async () => {
    await assert.rejects(
      render({ ...OIDC, "proxy.auth.sessionKeys.jwks": new LiteralString('{"k": "abc"}') }),
      /sessionKeys\.jwks must be a JWKS/,
    );
  });

  for (const [name, values] of [
    ["the defaults", {}],
    ["oidc, keys made by the hook", OIDC],
    ["oidc, keys as a value", { ...OIDC, "proxy.auth.sessionKeys.jwks": new LiteralString(JWKS) }],
  ] as const)
    it(`helm template twice gives byte-identical output (GitOps syncs change nothing): ${name}`, async () => {
      const args = [
        "template",
        RELEASE,
        CHART,
        "--namespace",
        NS,
        "--kube-version",
        kubeVersion(),
        ...setFlags(values),
      ];
      const [a, b] = await Promise.all([helm(args), helm(args)]);
      assert.equal(a.code, 0, a.stderr);
      assert.ok(a.stdout.length > 1000);
      assert.equal(a.stdout, b.stdout);
    });
});

type Policy = K8sObject & {
  spec: {
    matchConstraints: { resourceRules: { apiGroups: string[]; resources: string[]; operations: string[] }[] };
    matchConditions?: { expression: string }[];
    variables: { name: string; expression: string }[];
    validations: { expression: string }[];
  };
};

describe("the admission policies name the chart's own identities and the operator's label", () => {
  it("owners: the proxy's ServiceAccount and the admin values; children: the operator's ServiceAccount and the Service's selector label", async () => {
    const r = await render({
      ...OIDC,
      "admissionPolicies.owners.adminGroups": ["system:masters", "system:serviceaccounts:argocd"],
      "admissionPolicies.owners.usernamePrefixes": ["oidc:"],
    });
    const sa = (c: "operator" | "proxy") =>
      `system:serviceaccount:${NS}:${(r.deployment(c).spec.template.spec as { serviceAccountName?: string }).serviceAccountName}`;
    const owner = r.find<Policy>("ValidatingAdmissionPolicy", `${RELEASE}-portico-workspace-owner`);
    const v = Object.fromEntries(owner.spec.variables.map((x) => [x.name, x.expression]));
    assert.ok(v.privileged!.includes(JSON.stringify(sa("proxy"))), v.privileged);
    assert.ok(v.privileged!.includes('["system:masters","system:serviceaccounts:argocd"]'), v.privileged);
    assert.equal(v.prefixes, '["oidc:"]');
    assert.deepEqual(owner.spec.matchConstraints.resourceRules[0]!.resources, ["workspaces"]);
    const children = r.find<Policy>("ValidatingAdmissionPolicy", `${RELEASE}-portico-workspace-children`);
    assert.equal(
      children.spec.matchConditions![0]!.expression,
      `request.userInfo.username != ${JSON.stringify(sa("operator"))}`,
    );
    // Every key the workspace Service selects on is the one label the policy guards.
    const selector = buildService(testWorkspace()).spec!.selector!;
    assert.deepEqual(Object.keys(selector), [WORKSPACE_LABEL]);
    const label = children.spec.variables.find((x) => x.name === "label")!.expression;
    assert.equal(label, JSON.stringify(WORKSPACE_LABEL));
    for (const kind of ["ValidatingAdmissionPolicyBinding"])
      for (const name of [owner.metadata.name, children.metadata.name])
        assert.deepEqual(r.find<K8sObject & { spec: unknown }>(kind, name).spec, {
          policyName: name,
          validationActions: ["Deny"],
        });
  });

  // Wake (issue 15): the lifecycle annotations are the proxy's, the operator's and the admins' only.
  it("lifecycle: guards exactly LIFECYCLE_ANNOTATIONS, for everyone but the two ServiceAccounts and the admins", async () => {
    const r = await render({ ...OIDC, "admissionPolicies.owners.adminGroups": ["ops"] });
    const sa = (c: "operator" | "proxy") =>
      `system:serviceaccount:${NS}:${(r.deployment(c).spec.template.spec as { serviceAccountName?: string }).serviceAccountName}`;
    const lifecycle = r.find<Policy>("ValidatingAdmissionPolicy", `${RELEASE}-portico-workspace-lifecycle`);
    const keys = lifecycle.spec.variables.find((x) => x.name === "keys")!.expression;
    assert.deepEqual(JSON.parse(keys), [...LIFECYCLE_ANNOTATIONS]);
    const who = lifecycle.spec.matchConditions![0]!.expression;
    for (const id of [sa("proxy"), sa("operator")]) assert.ok(who.includes(JSON.stringify(id)), who);
    assert.ok(who.includes('["ops"]'), who);
    assert.deepEqual(lifecycle.spec.matchConstraints.resourceRules[0]!.resources, ["workspaces"]);
    assert.deepEqual(
      r.find<K8sObject & { spec: unknown }>("ValidatingAdmissionPolicyBinding", lifecycle.metadata.name).spec,
      { policyName: lifecycle.metadata.name, validationActions: ["Deny"] },
    );
  });

  it("admissionPolicies.enabled=false renders none", async () => {
    const r = await render({ ...OIDC, "admissionPolicies.enabled": false });
    assert.ok(!r.objects.some((o) => o.kind.startsWith("ValidatingAdmissionPolicy")));
  });
});

describe("NOTES.txt", () => {
  const dir = mkdtempSync(join(tmpdir(), "portico-notes-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const chart = join(dir, "portico");
  cpSync(CHART, chart, { recursive: true });
  // Go templates name each file by its path: this template renders NOTES.txt into a ConfigMap.
  writeFileSync(
    join(chart, "templates", "zz-notes-probe.yaml"),
    'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: notes }\ndata:\n  notes: {{ include (print .Template.BasePath "/NOTES.txt") . | quote }}\n',
  );

  async function notes(values: Record<string, unknown>): Promise<string> {
    const r = await helm([
      "template",
      RELEASE,
      chart,
      "--namespace",
      NS,
      "--kube-version",
      kubeVersion(),
      "--show-only",
      "templates/zz-notes-probe.yaml",
      ...setFlags(values),
    ]);
    assert.equal(r.code, 0, r.stderr);
    return (parse(r.stdout) as { data: { notes: string } }).data.notes;
  }

  /** Whether the proxy would start with these values (its loader accepts what the chart renders). */
  async function proxyStarts(values: Record<string, unknown>): Promise<boolean> {
    const r = await render(values);
    const px = r.deployment("proxy");
    try {
      loadProxyConfig(px.spec.template.spec.containers[0]!.args!, r.env(px, "p"));
      return true;
    } catch (e) {
      if (e instanceof ConfigError) return false;
      throw e;
    }
  }

  it("lists every missing oidc value under ACTION NEEDED", async () => {
    const text = await notes({});
    assert.match(text, /ACTION NEEDED/);
    assert.match(text, /- proxy\.auth\.oidc\.issuer is empty/);
    assert.match(text, /- proxy\.auth\.publicUrl is empty/);
    assert.match(text, /- no OIDC client secret: set proxy\.auth\.oidc\.existingSecret/);
    assert.match(text, new RegExp(`installed in namespace ${NS} as release ${RELEASE}`));
  });

  it("says nothing is needed once the oidc values are given", async () => {
    assert.doesNotMatch(await notes(OIDC), /ACTION NEEDED/);
  });

  it("warns about auth mode none", async () => {
    assert.match(await notes({ "proxy.auth.mode": "none" }), /WARNING: proxy\.auth\.mode=none/);
  });

  it("explains where the session keys come from, each of the three ways", async () => {
    assert.match(
      await notes(OIDC),
      /made once by the session-keys hook Job in Secret acme-portico-proxy-session-keys/,
    );
    assert.match(
      await notes({ ...OIDC, "proxy.auth.sessionKeys.jwks": new LiteralString(JWKS) }),
      /from proxy\.auth\.sessionKeys\.jwks, stored in Secret acme-portico-proxy-session-keys/,
    );
    assert.match(
      await notes({ ...OIDC, "proxy.auth.sessionKeys.existingSecret": "ours" }),
      /from your Secret ours \(key session-keys\.json\)/,
    );
    assert.doesNotMatch(
      await notes({ "proxy.auth.mode": "jwt", "proxy.auth.oidc.issuer": ISSUER }),
      /Session keys/,
    );
  });

  it("names who may create workspaces for others, and warns when the admission policies are off", async () => {
    assert.match(await notes(OIDC), /admin \(groups: system:masters; users: none\)/);
    assert.match(
      await notes({ ...OIDC, "admissionPolicies.enabled": false }),
      /WARNING: admissionPolicies\.enabled=false/,
    );
  });

  const CASES: Record<string, Record<string, unknown>> = {
    "oidc, nothing given": {},
    "oidc, complete": OIDC,
    "oidc, no public URL": { ...OIDC, "proxy.auth.publicUrl": "" },
    "oidc, no client secret": { ...OIDC, "proxy.auth.oidc.clientSecret": "" },
    "oidc, an existing client Secret": {
      ...OIDC,
      "proxy.auth.oidc.existingSecret": "kc",
      "proxy.auth.oidc.clientSecret": "",
    },
    "jwt, no issuer": { "proxy.auth.mode": "jwt" },
    "jwt, complete": { "proxy.auth.mode": "jwt", "proxy.auth.oidc.issuer": ISSUER },
    "trusted-headers, no secret": { "proxy.auth.mode": "trusted-headers" },
    "trusted-headers, ranges but no secret": {
      "proxy.auth.mode": "trusted-headers",
      "proxy.auth.trustedHeaderCidrs": ["10.0.0.0/8"],
    },
    "trusted-headers, complete": {
      "proxy.auth.mode": "trusted-headers",
      "proxy.auth.trustedHeaderCidrs": ["10.0.0.0/8"],
      "proxy.auth.trustedHeaderSecret.value": "s".repeat(40),
    },
    "trusted-headers, an existing secret": {
      "proxy.auth.mode": "trusted-headers",
      "proxy.auth.trustedHeaderSecret.existingSecret": "mesh-proof",
    },
    none: { "proxy.auth.mode": "none" },
  };
  for (const [name, values] of Object.entries(CASES))
    it(`says ACTION NEEDED exactly when the proxy would not start: ${name}`, async () => {
      const [text, starts] = await Promise.all([notes(values), proxyStarts(values)]);
      assert.equal(/ACTION NEEDED/.test(text), !starts, `notes:\n${text}`);
    });
});
