/**
 * The Helm chart against the real local cluster with the real helm: lint, install (every object
 * accepted by the API server), least-privilege RBAC as `kubectl auth can-i --list` sees it,
 * upgrade with changed values, and uninstall that keeps user data (Workspaces, PVCs, CRDs and the
 * classes workspaces refer to).
 *
 * Deployments' pods do not run here (no registry: the pod runner knows only test images); the
 * components' behaviour under the chart's identities is what every other e2e file checks, since
 * the harness runs the operator and the proxy as the chart's ServiceAccounts (e2e/cluster/cluster.sh).
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import { parseAllDocuments } from "yaml";
import { CHART, helm, LiteralString, renderChart, REPO, setFlags, type K8sObject } from "../lib/helm.ts";
import { clients, eventually, uniqueName, withNamespace } from "../lib/kube.ts";
import { startOperator, stateDir, type OperatorProcess } from "../lib/operator.ts";
import { createWorkspace, getWorkspace, isReady, kubectl, workspace } from "../lib/workspaces.ts";

const run = promisify(execFile);
const c = clients();
const RELEASE = "chart-e2e";
const NS = uniqueName("portico-chart");
const FULLNAME = `${RELEASE}-portico`;
const CLASSES = ["vscode", "jupyterlab", "rstudio"];

/** Session keys given as a value (one of the three ways; the hook's Job cannot run here: no proxy image). */
const JWKS = JSON.stringify({
  keys: [
    {
      kty: "oct",
      kid: "chart-e2e",
      alg: "A256GCM",
      use: "enc",
      k: Buffer.alloc(32, 3).toString("base64url"),
    },
  ],
});

/**
 * Install values: OIDC with its secrets, Istio and a ServiceMonitor, so every optional object is made.
 * The admission policies are cluster-wide (one release per cluster): the harness's release `portico`
 * has them (checked below), and a second set naming this release's ServiceAccounts would refuse the
 * harness operator's pods in every other suite running meanwhile.
 */
const INSTALL_VALUES = {
  "routing.baseDomain": "ide.example.com",
  "proxy.auth.mode": "oidc",
  "proxy.auth.oidc.issuer": "https://id.example.com/realms/portico",
  "proxy.auth.oidc.clientSecret": "not-a-real-secret",
  "proxy.auth.publicUrl": "https://ide.example.com",
  "proxy.auth.sessionKeys.jwks": new LiteralString(JWKS),
  "istio.enabled": true,
  "serviceMonitor.enabled": true,
  "admissionPolicies.enabled": false,
};

let op: OperatorProcess | undefined;
let userNs: { name: string; drop: () => Promise<void> } | undefined;

before(async () => {
  // Stand-ins for Istio's Gateway and the Prometheus Operator's ServiceMonitor CRDs (VirtualService's is
  // installed with the cluster), so the chart's optional objects are real API objects.
  await kubectl(
    "apply",
    "--server-side",
    "-f",
    join(REPO, "e2e/fixtures/gateway-crd.yaml"),
    "-f",
    join(REPO, "e2e/fixtures/servicemonitor-crd.yaml"),
  );
  await kubectl(
    "wait",
    "--for=condition=Established",
    "--timeout=60s",
    "crd/gateways.networking.istio.io",
    "crd/servicemonitors.monitoring.coreos.com",
  );
});

after(async () => {
  await op?.stop();
  await helm(["uninstall", RELEASE, "-n", NS, "--wait"]);
  // The classes outlive an uninstall by design; this file's run ends with them gone.
  await kubectl("delete", "workspaceclasses", ...CLASSES, "--ignore-not-found");
  await userNs?.drop();
  await kubectl("delete", "namespace", NS, "--ignore-not-found", "--wait=true");
});

/** `kubectl get -f` of a manifest: the live objects, and the kind/name of any that are missing. */
async function getManifest(manifest: string): Promise<{ found: K8sObject[]; missing: string[] }> {
  const file = join(stateDir(), `helm-manifest-${process.pid}.yaml`);
  await writeFile(file, manifest);
  const r = await run("kubectl", ["get", "-f", file, "-o", "json", "--ignore-not-found"], {
    env: process.env,
    maxBuffer: 16 << 20,
  });
  const text = r.stdout.trim();
  const parsed = text ? (JSON.parse(text) as K8sObject & { items?: K8sObject[] }) : undefined;
  const found = parsed ? (parsed.items ?? [parsed]) : [];
  const key = (o: K8sObject) => `${o.kind}/${o.metadata.name}`;
  const have = new Set(found.map(key));
  return {
    found,
    missing: objectsOf(manifest)
      .map(key)
      .filter((k) => !have.has(k)),
  };
}

function objectsOf(manifest: string): K8sObject[] {
  return parseAllDocuments(manifest)
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => !!o && typeof o === "object" && "kind" in o);
}

const kinds = (objs: K8sObject[]) =>
  objs
    .map((o) => o.kind)
    .sort()
    .join(",");

test("helm lint --strict is clean, with the defaults and with every optional part on", async () => {
  for (const values of [
    {},
    { ...INSTALL_VALUES, "proxy.autoscaling.enabled": true, "routing.mode": "path" },
    { "proxy.auth.mode": "none", "networkPolicy.enabled": false, "proxy.podDisruptionBudget.enabled": false },
  ]) {
    const r = await helm(["lint", "--strict", CHART, ...setFlags(values)]);
    const out = r.stdout + r.stderr;
    assert.equal(r.code, 0, out);
    assert.match(out, /1 chart\(s\) linted, 0 chart\(s\) failed/);
    assert.doesNotMatch(out, /\[(WARNING|ERROR)\]/, out);
  }
});

test("helm install creates every object and the API server accepts them all", async () => {
  const r = await helm([
    "install",
    RELEASE,
    CHART,
    "-n",
    NS,
    "--create-namespace",
    ...setFlags(INSTALL_VALUES),
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /STATUS: deployed/);
  assert.match(r.stdout, new RegExp(`Portico .* is installed in namespace ${NS}`), "NOTES.txt is shown");

  const manifest = (await helm(["get", "manifest", RELEASE, "-n", NS])).stdout;
  const want = objectsOf(manifest);
  assert.equal(
    kinds(want),
    [
      // operator, proxy, and the console's /ws/watch (console.enabled, the default)
      "ClusterRole",
      "ClusterRole",
      "ClusterRole",
      "ClusterRoleBinding",
      "ClusterRoleBinding",
      "ClusterRoleBinding",
      "Deployment",
      "Deployment",
      "Gateway",
      "NetworkPolicy",
      "NetworkPolicy",
      "PodDisruptionBudget",
      "Role",
      "Role",
      "RoleBinding",
      "RoleBinding",
      "Secret",
      "Secret",
      "Service",
      "Service",
      "Service",
      // The proxy's in-workspace keep-alive listener (issue 15; proxy.workspaceListener, the default).
      "Service",
      "ServiceAccount",
      "ServiceAccount",
      "ServiceMonitor",
      "VirtualService",
      "WorkspaceClass",
      "WorkspaceClass",
      "WorkspaceClass",
    ].join(","),
  );
  const { found, missing } = await getManifest(manifest);
  assert.deepEqual(missing, [], "every object of the release exists in the API server");
  assert.equal(found.length, want.length);
  for (const o of found)
    assert.equal(o.metadata.labels?.["app.kubernetes.io/managed-by"], "Helm", `${o.kind} ${o.metadata.name}`);

  // The operator: two replicas, one leading through a Lease in the release's namespace.
  const operator = found.find(
    (o) => o.kind === "Deployment" && o.metadata.name === `${FULLNAME}-operator`,
  ) as
    | (K8sObject & { spec: { replicas: number; template: { spec: { containers: { args: string[] }[] } } } })
    | undefined;
  assert.equal(operator?.spec.replicas, 2);
  assert.ok(operator?.spec.template.spec.containers[0]!.args.includes("--leader-elect=true"));
  // The CRDs came from the chart's crds/ (or were there already) and are served.
  for (const crd of ["workspaces", "workspaceclasses", "gatewayroutes"])
    assert.match(await kubectl("get", "crd", `${crd}.portico.dev`, "-o", "name"), /customresourcedefinition/);
  // The default classes are the chart's files, accepted by the API's schema and CEL rules.
  for (const name of CLASSES) {
    const file = parseAllDocuments(
      await readFile(join(CHART, "files/workspaceclasses", `${name}.yaml`), "utf8"),
    )[0]!.toJS() as {
      spec: unknown;
    };
    const live = JSON.parse(await kubectl("get", "workspaceclass", name, "-o", "json")) as { spec: unknown };
    // As the chart ships it, plus what the API server's schema defaults.
    assert.partialDeepStrictEqual(live.spec, file.spec, `class ${name} as the chart ships it`);
  }
});

/** `kubectl auth can-i --list` as `user` in `namespace`: resource rows as "resource [names] [verbs]". */
async function canIList(user: string, namespace: string): Promise<Set<string>> {
  const out = await kubectl("auth", "can-i", "--list", `--as=${user}`, "-n", namespace);
  const rows = new Set<string>();
  for (const line of out.split("\n").slice(1)) {
    const m = /^(\S+)\s+\[\]\s+\[(.*?)\]\s+\[(.*?)\]\s*$/.exec(line);
    if (m) rows.add(`${m[1]} [${m[2]}] [${m[3]}]`);
  }
  return rows;
}

/**
 * What the chart grants a ServiceAccount: its rows minus those every ServiceAccount has (an unbound
 * name in the same namespace: impersonating a ServiceAccount name brings its groups, bound or not).
 */
/**
 * Rows in one order, each with its verbs in one order: kubectl prints the verbs of merged rules in the
 * order it merged them, which varies from run to run (CI saw "get create … list watch" once).
 */
const rules = (rows: Iterable<string>): string[] =>
  [...rows]
    .map((r) => r.replace(/\[([^\]]*)\]$/, (_, verbs: string) => `[${verbs.split(" ").sort().join(" ")}]`))
    .sort();

async function granted(sa: string, saNamespace: string, namespace: string): Promise<string[]> {
  const [rows, baseline] = await Promise.all([
    canIList(`system:serviceaccount:${saNamespace}:${sa}`, namespace),
    canIList(`system:serviceaccount:${saNamespace}:nobody-${RELEASE}`, namespace),
  ]);
  return rules([...rows].filter((r) => !baseline.has(r)));
}

// Exactly what each component uses (operator/main.ts, operator/kube-api.ts, proxy/main.ts).
const OPERATOR_RULES = [
  "endpointslices.discovery.k8s.io [] [list watch]",
  "events [] [create]",
  "gatewayroutes.portico.dev [] [list watch]",
  "gatewayroutes.portico.dev/status [] [update]",
  "networkpolicies.networking.k8s.io [] [list watch create patch delete]",
  "persistentvolumeclaims [] [list watch create patch delete]",
  "pods [] [list watch create patch delete]",
  "secrets [] [get]",
  "services [] [list watch create patch delete]",
  "virtualservices.networking.istio.io [] [list watch create patch delete]",
  "workspaceclasses.portico.dev [] [list watch]",
  // Issue 15: the idle stop's merge patch of the portico.dev/idle-stopped annotation (never spec).
  "workspaces.portico.dev [] [list watch patch]",
  "workspaces.portico.dev/finalizers [] [update]",
  "workspaces.portico.dev/status [] [update]",
];
const LEASES = "leases.coordination.k8s.io [] [get create update]";
// The session-keys hook: create Secrets (create cannot name one), read and annotate only its own.
const SESSION_KEYS_RULES = (secret: string) => ["secrets [] [create]", `secrets [${secret}] [get patch]`];
const PROXY_RULES = [
  "endpointslices.discovery.k8s.io [] [list watch]",
  // The console's /ws/watch (console.enabled, the default): its pods and events caches.
  "events [] [list watch]",
  "gatewayroutes.portico.dev [] [list watch]",
  "pods [] [list watch]",
  "services [] [list watch]",
  "workspaceclasses.portico.dev [] [list watch]",
  // Issue 15: activity reports and the in-workspace keep-alive (merge patches of its annotations).
  "workspaces.portico.dev [] [list watch patch]",
];

/**
 * The proxy where the self-service API writes (proxy/api/store.ts): its reads plus the API's rules,
 * which `kubectl auth can-i --list` shows merged into one row per resource. The chart's default
 * `api.namespace` is `default`, a fixed namespace: a Role there.
 */
const API_NAMESPACE = "default";
const PROXY_API_RULES = [
  ...PROXY_RULES.filter((r) => !r.startsWith("workspaces.portico.dev ") && !r.startsWith("pods ")),
  "persistentvolumeclaims [] [get delete]",
  "pods/log [] [get]",
  // The console: /ws/watch's pod cache (list, watch) and /ws/logs and /ws/shell reading the pod they
  // reach (get; console.enabled, console.shell: the defaults).
  "pods [] [list watch get]",
  "pods/exec [] [get create]",
  "workspaces.portico.dev [] [list watch get create patch delete]",
];

/** The values e2e/cluster/cluster.sh renders the harness's RBAC with. */
const HARNESS_VALUES = {
  "api.namespace": "ws-{user}",
  "console.resources.enabled": true,
  "console.resources.revealSecrets": true,
};
/**
 * The harness's proxy: the API's rules and the console resource views' (proxy/console/resources.ts:
 * SubjectAccessReviews as the user, then get and list on the kinds it shows, Secrets included since
 * revealSecrets is on), merged per resource as `kubectl auth can-i --list` shows them.
 */
const PROXY_API_CONSOLE_RULES = [
  "configmaps [] [get list]",
  "customresourcedefinitions.apiextensions.k8s.io [] [get list]",
  "deployments.apps [] [get list]",
  "endpointslices.discovery.k8s.io [] [list watch]",
  "gatewayroutes.portico.dev [] [list watch]",
  "namespaces [] [get list]",
  "persistentvolumeclaims [] [get delete]",
  "events [] [list watch]",
  "pods [] [get list watch]",
  "pods/exec [] [get create]",
  "pods/log [] [get]",
  "secrets [] [get list]",
  "services [] [get list watch]",
  "subjectaccessreviews.authorization.k8s.io [] [create]",
  "workspaceclasses.portico.dev [] [list watch]",
  "workspaces.portico.dev [] [list watch get create patch delete]",
];

test("each ServiceAccount can do exactly what its component uses (kubectl auth can-i --list)", async () => {
  userNs ??= await withNamespace(c, "chart-user");
  // In a user's namespace, and in the release's own (where the operator's Lease lives).
  assert.deepEqual(await granted(`${FULLNAME}-operator`, NS, userNs.name), rules(OPERATOR_RULES));
  assert.deepEqual(await granted(`${FULLNAME}-operator`, NS, NS), rules([...OPERATOR_RULES, LEASES]));
  assert.deepEqual(await granted(`${FULLNAME}-proxy`, NS, userNs.name), rules(PROXY_RULES));
  assert.deepEqual(await granted(`${FULLNAME}-proxy`, NS, NS), rules(PROXY_RULES));
  assert.deepEqual(await granted(`${FULLNAME}-proxy`, NS, API_NAMESPACE), rules(PROXY_API_RULES));
  // Nothing cluster-admin-like slips in through another binding.
  for (const sa of [`${FULLNAME}-operator`, `${FULLNAME}-proxy`])
    for (const [verb, resource] of [
      // Both patch Workspaces' lifecycle annotations (issue 15; the admission policy keeps everyone
      // else off them); neither creates one outside the API's namespace.
      ["create", "workspaces.portico.dev"],
      ["list", "secrets"],
      ["create", "clusterrolebindings"],
      ["delete", "customresourcedefinitions"],
    ] as const) {
      const r = await run(
        "kubectl",
        ["auth", "can-i", verb, resource, `--as=system:serviceaccount:${NS}:${sa}`, "-A"],
        {
          env: process.env,
        },
      ).catch((e: { stdout: string }) => ({ stdout: e.stdout }));
      assert.equal(r.stdout.trim(), "no", `${sa} must not ${verb} ${resource}`);
    }
});

test("the e2e suites' operator and proxy run as the chart's ServiceAccounts, under exactly its rules", async () => {
  // e2e/cluster/cluster.sh rendered the chart's RBAC (release portico in portico-system) and gave
  // the operator and the proxy tokens of its ServiceAccounts; every other e2e file runs them so.
  for (const who of ["operator", "proxy"]) {
    const out = await kubectl(
      "auth",
      "whoami",
      "--kubeconfig",
      join(stateDir(), `kubeconfig.${who}`),
      "-o",
      "json",
    );
    const user = (JSON.parse(out) as { status: { userInfo: { username: string; groups: string[] } } }).status
      .userInfo;
    assert.equal(user.username, `system:serviceaccount:portico-system:portico-${who}`);
    assert.ok(!user.groups.includes("system:masters"), `${who} is not a cluster admin`);
  }
  // The same rules as this release's, since both come from the same templates.
  const rendered = await renderChart(HARNESS_VALUES, { release: "portico", namespace: "portico-system" });
  for (const name of ["portico-operator", "portico-proxy", "portico-proxy-console-resources"]) {
    const want = rendered.find((o) => o.kind === "ClusterRole" && o.metadata.name === name) as K8sObject & {
      rules: unknown;
    };
    const live = JSON.parse(await kubectl("get", "clusterrole", name, "-o", "json")) as { rules: unknown };
    assert.deepEqual(live.rules, want.rules, `${name} as the chart renders it`);
  }
  assert.deepEqual(
    await granted("portico-operator", "portico-system", "portico-system"),
    rules([...OPERATOR_RULES, LEASES]),
  );
  // The harness renders the API's namespace as a template (ws-{user}): its rules span namespaces.
  assert.deepEqual(
    await granted("portico-proxy", "portico-system", "default"),
    rules(PROXY_API_CONSOLE_RULES),
  );
  // The session-keys hook's ServiceAccount (its Job is not run here): its own namespace only.
  assert.deepEqual(
    await granted("portico-session-keys", "portico-system", "portico-system"),
    rules(SESSION_KEYS_RULES("portico-proxy-session-keys")),
  );
  assert.deepEqual(await granted("portico-session-keys", "portico-system", "default"), []);
  // The admission policies every suite runs under are the chart's, as it renders them.
  for (const o of rendered.filter((x) => x.kind.startsWith("ValidatingAdmissionPolicy"))) {
    const live = JSON.parse(await kubectl("get", o.kind.toLowerCase(), o.metadata.name, "-o", "json")) as {
      spec: Record<string, unknown>;
    };
    assert.partialDeepStrictEqual(live.spec, o.spec, `${o.kind} ${o.metadata.name} as the chart renders it`);
  }
  assert.deepEqual(
    rendered
      .filter((x) => x.kind.startsWith("ValidatingAdmissionPolicy"))
      .map((x) => x.metadata.name)
      .sort(),
    [
      "portico-workspace-children",
      "portico-workspace-children",
      "portico-workspace-lifecycle",
      "portico-workspace-lifecycle",
      "portico-workspace-owner",
      "portico-workspace-owner",
    ],
  );
});

interface Deployment extends K8sObject {
  spec: { replicas?: number; template: { spec: { containers: { args: string[] }[] } } };
}
const getJson = async <T>(...args: string[]): Promise<T> =>
  JSON.parse(await kubectl("get", ...args, "-o", "json")) as T;
const exists = async (...args: string[]) =>
  (await kubectl("get", ...args, "--ignore-not-found", "-o", "name")).trim() !== "";

test("helm upgrade with changed values changes exactly those objects, keeping the session keys", async () => {
  const sessionKeys = `${FULLNAME}-proxy-session-keys`;
  const keysBefore = (await getJson<{ data: Record<string, string> }>("secret", sessionKeys, "-n", NS)).data;
  const r = await helm([
    "upgrade",
    RELEASE,
    CHART,
    "-n",
    NS,
    "--reuse-values",
    ...setFlags({
      "operator.replicas": 3,
      "operator.logLevel": "debug",
      "proxy.podDisruptionBudget.enabled": false,
      "proxy.autoscaling.enabled": true,
      "proxy.autoscaling.maxReplicas": 6,
      "workspaceClasses.vscode.overrides": { image: "registry.example.com/code-server:4.104.2" },
    }),
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /REVISION: 2/);

  const operator = await getJson<Deployment>("deployment", `${FULLNAME}-operator`, "-n", NS);
  assert.equal(operator.spec.replicas, 3);
  assert.ok(operator.spec.template.spec.containers[0]!.args.includes("--log-level=debug"));
  assert.equal(await exists("poddisruptionbudget", `${FULLNAME}-proxy`, "-n", NS), false, "the PDB went");
  const hpa = await getJson<{ spec: { maxReplicas: number; scaleTargetRef: { name: string } } }>(
    "hpa",
    `${FULLNAME}-proxy`,
    "-n",
    NS,
  );
  assert.equal(hpa.spec.maxReplicas, 6);
  assert.equal(hpa.spec.scaleTargetRef.name, `${FULLNAME}-proxy`);
  const vscode = await getJson<{ spec: { image: string; port: number } }>("workspaceclass", "vscode");
  assert.equal(vscode.spec.image, "registry.example.com/code-server:4.104.2", "the override is merged");
  assert.equal(vscode.spec.port, 8080, "the rest of the class is as shipped");
  // Given as a value: the same on every render, so an upgrade (or a GitOps sync) logs nobody out.
  const keysAfter = (await getJson<{ data: Record<string, string> }>("secret", sessionKeys, "-n", NS)).data;
  assert.deepEqual(keysAfter, keysBefore);
  // Unchanged values leave objects as they were: the proxy's Service, for one.
  assert.ok(await exists("service", `${FULLNAME}-proxy`, "-n", NS));
});

test("helm uninstall removes the release and keeps user data: Workspaces, PVCs, CRDs and the classes", async () => {
  userNs ??= await withNamespace(c, "chart-user");
  // The e2e operator (the chart's ServiceAccount in portico-system) runs a workspace of the chart's
  // jupyterlab class: the runner starts Debian's Jupyter Server for it.
  op = await startOperator(["--lease-name=helm-chart"], "helm-chart-operator");
  const name = "notebook";
  await createWorkspace(c, workspace(userNs.name, name, { className: "jupyterlab" }));
  const ready = await eventually(
    "the workspace is Ready",
    async () => {
      const ws = await getWorkspace(c, userNs!.name, name);
      return isReady(ws) ? ws : undefined;
    },
    120_000,
  );
  const claim = ready.status!.children?.pvc;
  assert.ok(claim, "status names the claim");
  const manifest = (await helm(["get", "manifest", RELEASE, "-n", NS])).stdout;

  const r = await helm(["uninstall", RELEASE, "-n", NS, "--wait"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stdout + r.stderr,
    /These resources were kept due to the resource policy:[\s\S]*WorkspaceClass/,
  );

  const { found } = await getManifest(manifest);
  assert.deepEqual(
    found.map((o) => `${o.kind}/${o.metadata.name}`).sort(),
    CLASSES.map((n) => `WorkspaceClass/${n}`).sort(),
    "only the classes (resource-policy keep) outlive the release",
  );
  for (const crd of ["workspaces", "workspaceclasses", "gatewayroutes"])
    assert.ok(await exists("crd", `${crd}.portico.dev`), `CRD ${crd} is kept`);
  const pvc = await getJson<{ status: { phase: string } }>("pvc", String(claim), "-n", userNs.name);
  assert.equal(pvc.status.phase, "Bound", "the user's volume is still there");
  const after = await getWorkspace(c, userNs.name, name);
  assert.ok(isReady(after), "the workspace goes on working");
});

test("`portico-proxy session-keys` (the hook), as the chart's hook ServiceAccount: makes the keys once, keeps them, never replaces a user's", async () => {
  // The hook's identity as the harness applied it from the chart (release portico in portico-system).
  const ns = "portico-system";
  const secret = "portico-proxy-session-keys";
  const token = (await kubectl("-n", ns, "create", "token", "portico-session-keys", "--duration=10m")).trim();
  const admin = parseAllDocuments(await readFile(process.env.KUBECONFIG!, "utf8"))[0]!.toJS() as {
    users: { user: Record<string, unknown> }[];
  };
  admin.users[0]!.user = { token };
  const kubeconfig = join(stateDir(), `kubeconfig.session-keys-${process.pid}`);
  await writeFile(kubeconfig, JSON.stringify(admin), { mode: 0o600 });
  /** The subcommand as the chart's Job runs it: the proxy's entry point, the Job's args. */
  const hook = () =>
    run(process.execPath, [
      join(REPO, "proxy/main.ts"),
      "session-keys",
      `--kubeconfig=${kubeconfig}`,
      `--namespace=${ns}`,
      `--secret=${secret}`,
      "--key=session-keys.json",
      "--labels=app.kubernetes.io/name=portico,app.kubernetes.io/instance=portico,app.kubernetes.io/component=proxy",
    ]).then(
      (r) => ({ code: 0, out: r.stdout + r.stderr }),
      (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, out: e.stdout + e.stderr }),
    );
  type SecretJson = {
    metadata: { resourceVersion: string; labels?: Record<string, string> };
    data: Record<string, string>;
  };
  const read = () => getJson<SecretJson>("secret", secret, "-n", ns);
  await kubectl("-n", ns, "delete", "secret", secret, "--ignore-not-found");

  // First run: made, with a usable JWKS, labelled as the chart's proxy's (not Helm's: never pruned).
  let r = await hook();
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /created with new session keys/);
  const made = await read();
  const jwks = JSON.parse(Buffer.from(made.data["session-keys.json"]!, "base64").toString("utf8")) as {
    keys: { k: string }[];
  };
  assert.equal(Buffer.from(jwks.keys[0]!.k, "base64url").length, 32);
  assert.equal(made.metadata.labels?.["app.kubernetes.io/managed-by"], undefined);
  assert.ok(!r.out.includes(jwks.keys[0]!.k), "the keys are never logged");

  // Second run (the next upgrade or sync): the same keys, no write at all.
  r = await hook();
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /kept as they are/);
  const again = await read();
  assert.deepEqual(again.data, made.data);
  assert.equal(again.metadata.resourceVersion, made.metadata.resourceVersion, "not even rewritten");

  // A user's own Secret without usable keys under the key: refused, left exactly as it was.
  await kubectl("-n", ns, "delete", "secret", secret);
  await kubectl("-n", ns, "create", "secret", "generic", secret, '--from-literal=jwks.json={"keys":[]}');
  const mine = await read();
  r = await hook();
  assert.equal(r.code, 1, r.out);
  assert.match(r.out, /has no key \\?"session-keys\.json\\?".*left as it is/);
  const still = await read();
  assert.deepEqual(still.data, mine.data);
  assert.equal(still.metadata.resourceVersion, mine.metadata.resourceVersion);

  // A user's own usable keys: kept as they are.
  await kubectl("-n", ns, "delete", "secret", secret);
  await kubectl("-n", ns, "create", "secret", "generic", secret, `--from-literal=session-keys.json=${JWKS}`);
  const theirs = await read();
  r = await hook();
  assert.equal(r.code, 0, r.out);
  const kept = await read();
  assert.deepEqual(kept.data, theirs.data);
  assert.equal(kept.metadata.resourceVersion, theirs.metadata.resourceVersion);

  // The Secret an older chart made with `lookup` (Helm's, so an upgrade that no longer renders it would
  // delete it): kept, and marked helm.sh/resource-policy=keep so Helm leaves it; the keys unchanged.
  await kubectl("-n", ns, "annotate", "secret", secret, "meta.helm.sh/release-name=portico");
  r = await hook();
  assert.equal(r.code, 0, r.out);
  const adopted = JSON.parse(await kubectl("-n", ns, "get", "secret", secret, "-o", "json")) as SecretJson & {
    metadata: { annotations?: Record<string, string> };
  };
  assert.equal(adopted.metadata.annotations?.["helm.sh/resource-policy"], "keep");
  assert.deepEqual(adopted.data, theirs.data);

  // Least privilege: the hook's identity reads no other Secret.
  const other = await run("kubectl", ["--kubeconfig", kubeconfig, "-n", ns, "get", "secrets"], {
    env: process.env,
  }).then(
    () => "allowed",
    (e: { stderr: string }) => e.stderr,
  );
  assert.match(other, /forbidden/);
  await kubectl("-n", ns, "delete", "secret", secret);
});
