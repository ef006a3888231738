/**
 * Attacks on ownership, refused by the API server itself: the chart's ValidatingAdmissionPolicies
 * (charts/portico/templates/admission-policies.yaml), which the harness applies for every e2e suite.
 *
 * The actors are impersonated with the admin kubeconfig (`kubectl --as alice --as-group …`), as the
 * API server would see a user its authenticator named: alice and bob share one namespace in which both
 * may create and edit Workspaces, Pods, Services and Deployments (a team namespace with edit rights),
 * so what stops alice is admission, not RBAC. bob's workspace (user-scoped storage: his home volume
 * `home-bob`) runs under the real operator, which makes its pod and Service.
 *
 * Each attack row: what alice sends, the refusal (the API server's message naming the field), and the
 * proof that nothing reached bob: no object was made in his name, his Workspace, pod and Service are as
 * they were, his Service's endpoints are still his pod alone, his home volume is mounted by his pod
 * alone. The allowed rows show the policies refuse only what they should.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, test } from "node:test";
import type { Workspace } from "../../crds/types.ts";
import { GROUP, VERSION } from "../../crds/types.ts";
import { OPERATOR_USER, stateDir, type AuditEntry } from "../lib/operator.ts";
import { renderChart, type K8sObject } from "../lib/helm.ts";
import { eventually, withNamespace } from "../lib/kube.ts";
import { clusterSuite } from "../lib/suite.ts";
import { echoClass, getWorkspace, kubectl } from "../lib/workspaces.ts";

const PROXY_USER = "system:serviceaccount:portico-system:portico-proxy";
const USERS_GROUP = "portico-test-users";

const suite = clusterSuite("attacks-admission", {
  classes: { echo: echoClass },
  workspaces: [{ name: "bobs", class: "echo", owner: "bob", spec: { storage: { scope: "user" } } }],
});

interface Actor {
  user: string;
  groups?: string[];
}
const alice: Actor = { user: "alice", groups: [USERS_GROUP] };

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** kubectl as `who` (impersonated by the admin), `input` on stdin; never throws. */
function kubectlAs(who: Actor, args: string[], input?: unknown): Promise<Result> {
  const as = [`--as=${who.user}`, ...(who.groups ?? []).map((g) => `--as-group=${g}`)];
  return new Promise((resolve, reject) => {
    const p = spawn("kubectl", [...as, "-n", suite.ns, ...args], { env: process.env });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    p.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    p.on("error", reject);
    p.on("close", (code) => resolve({ code: code ?? 1, stdout, stderr }));
    p.stdin.end(input === undefined ? "" : JSON.stringify(input));
  });
}

const ws = (name: string, spec: Record<string, unknown>) => ({
  apiVersion: `${GROUP}/${VERSION}`,
  kind: "Workspace",
  metadata: { name, namespace: suite.ns },
  spec: { className: suite.cls.echo, ...spec },
});

const pod = (name: string, labels: Record<string, string> = {}, image = "portico.dev/test/http-echo:1") => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name, namespace: suite.ns, labels: { app: name, ...labels } },
  spec: { containers: [{ name: "web", image, ports: [{ name: "http", containerPort: 8080 }] }] },
});

const json = async <T>(...args: string[]): Promise<T> =>
  JSON.parse(await kubectl("-n", suite.ns, "get", ...args, "-o", "json")) as T;
const names = async (kind: string, selector?: string): Promise<string[]> =>
  (await kubectl("-n", suite.ns, "get", kind, "-o", "name", ...(selector ? ["-l", selector] : [])))
    .split("\n")
    .filter(Boolean)
    .sort();

interface PodJson {
  metadata: { name: string; labels?: Record<string, string> };
  spec: { containers: { image: string }[]; volumes?: { persistentVolumeClaim?: { claimName: string } }[] };
  status?: { podIP?: string };
}
interface ServiceJson {
  spec: { selector: Record<string, string> };
}

/** bob's workspace, its children and who reaches them, as the API server has them now. */
async function victim() {
  const w = await getWorkspace(suite.c, suite.ns, "bobs");
  const children = w.status!.children!;
  const p = await json<PodJson>("pod", String(children.pod));
  const svc = await json<ServiceJson>("service", String(children.service));
  const slices = await json<{ items: { endpoints?: { addresses: string[] }[] }[] }>(
    "endpointslices",
    "-l",
    `kubernetes.io/service-name=${children.service}`,
  );
  const pods = await json<{ items: PodJson[] }>("pods");
  return {
    spec: JSON.stringify(w.spec),
    generation: w.metadata.generation,
    podImage: p.spec.containers[0]!.image,
    podLabels: JSON.stringify(p.metadata.labels),
    selector: JSON.stringify(svc.spec.selector),
    /** The addresses bob's Service sends traffic to. */
    endpoints: slices.items
      .flatMap((s) => s.endpoints ?? [])
      .flatMap((e) => e.addresses)
      .sort(),
    podIP: p.status?.podIP,
    /** Every pod mounting bob's home claim. */
    homeMounts: pods.items
      .filter((x) => x.spec.volumes?.some((v) => v.persistentVolumeClaim?.claimName === children.pvc))
      .map((x) => x.metadata.name),
    podName: String(children.pod),
    workspaces: await names("workspaces"),
  };
}
type Victim = Awaited<ReturnType<typeof victim>>;

before(async () => {
  await suite.ready();
  // A team namespace: alice and bob may edit what is in it (the built-in edit role, plus Workspaces,
  // which that role does not aggregate), RBAC-wise.
  await kubectl(
    "-n",
    suite.ns,
    "create",
    "rolebinding",
    "team-edit",
    "--clusterrole=edit",
    `--group=${USERS_GROUP}`,
  );
  await kubectl(
    "-n",
    suite.ns,
    "create",
    "role",
    "ws-writer",
    "--verb=create,update,patch,get,list",
    "--resource=workspaces.portico.dev",
  );
  await kubectl(
    "-n",
    suite.ns,
    "create",
    "rolebinding",
    "team-ws-writer",
    "--role=ws-writer",
    `--group=${USERS_GROUP}`,
  );
  // The proxy's API writes Workspaces as the proxy's ServiceAccount; create is granted here so that
  // the policy, not RBAC, is what is tested.
  await kubectl(
    "-n",
    suite.ns,
    "create",
    "rolebinding",
    "proxy-ws-writer",
    "--role=ws-writer",
    "--serviceaccount=portico-system:portico-proxy",
  );
  // RBAC is cached by the authorizer only briefly: wait until alice may create pods here.
  await eventually("alice's edit rights apply", async () => {
    const r = await kubectlAs(alice, ["auth", "can-i", "create", "workspaces.portico.dev"]);
    return r.stdout.trim() === "yes" ? true : undefined;
  });
  // alice's own unlabelled pod (for the relabelling attack) and her own workspace (made as alice).
  let r = await kubectlAs(alice, ["create", "-f", "-"], pod("alices-pod"));
  assert.equal(r.code, 0, r.stderr);
  r = await kubectlAs(alice, ["create", "-f", "-"], ws("alices", { owner: "alice", running: false }));
  assert.equal(r.code, 0, r.stderr);
  const v = await victim();
  assert.ok(v.podIP && v.endpoints.includes(v.podIP), "bob's Service sends to his pod");
  assert.deepEqual(v.homeMounts, [v.podName], "bob's home volume is mounted by his pod");
});

interface AttackRow {
  name: string;
  /** What alice sends. */
  send: () => Promise<Result>;
  /** The refusal: the API server's message, naming the field. */
  refused: RegExp;
  /** Beyond the common proof (bob's objects unchanged): what else must hold afterwards. */
  proof?: (before: Victim, after: Victim) => Promise<void> | void;
}

const ATTACKS: AttackRow[] = [
  {
    name: "alice creates a Workspace whose spec.owner is bob (bob's name on her workspace)",
    send: () => kubectlAs(alice, ["create", "-f", "-"], ws("for-bob", { owner: "bob" })),
    refused: /spec\.owner must be your own user name \(alice\), not bob/,
    proof: (b, a) => assert.ok(!a.workspaces.includes("workspace.portico.dev/for-bob")),
  },
  {
    name: "alice creates a user-scope Workspace owned by bob, to mount his home volume home-bob",
    send: () =>
      kubectlAs(alice, ["create", "-f", "-"], ws("bobs-home", { owner: "bob", storage: { scope: "user" } })),
    refused: /spec\.owner must be your own user name \(alice\), not bob/,
    proof: (b, a) => assert.deepEqual(a.homeMounts, [a.podName], "home-bob is mounted by bob's pod alone"),
  },
  {
    name: "alice, in a group that is not an admin group, creates a Workspace for bob",
    send: () =>
      kubectlAs(
        { user: "alice", groups: [USERS_GROUP, "portico-admins-lookalike", "system:authenticated"] },
        ["create", "-f", "-"],
        ws("for-bob-2", { owner: "bob" }),
      ),
    refused: /spec\.owner must be your own user name \(alice\)/,
  },
  {
    name: "alice changes spec.owner of her own workspace to bob",
    send: () =>
      kubectlAs(alice, ["patch", "workspace", "alices", "--type=merge", "-p", '{"spec":{"owner":"bob"}}']),
    // The CRD makes owner immutable (checked first); the owner policy refuses it behind that.
    refused: /spec\.owner: Invalid value.*owner is immutable/,
    proof: async () =>
      assert.equal((await getWorkspace(suite.c, suite.ns, "alices")).spec.owner, "alice", "still alice's"),
  },
  {
    name: "alice adds herself to sharedWith on bob's workspace",
    send: () =>
      kubectlAs(alice, [
        "patch",
        "workspace",
        "bobs",
        "--type=merge",
        "-p",
        '{"spec":{"sharedWith":{"users":["alice"]}}}',
      ]),
    refused: /only the workspace's owner \(spec\.owner: bob\) or an admin may change its spec/,
  },
  {
    name: "alice swaps the image of bob's workspace for her own",
    send: () =>
      kubectlAs(alice, [
        "patch",
        "workspace",
        "bobs",
        "--type=merge",
        "-p",
        '{"spec":{"image":"evil.example/ide:1"}}',
      ]),
    refused: /only the workspace's owner \(spec\.owner: bob\) or an admin may change its spec/,
  },
  {
    name: "alice creates a pod carrying bob's workspace label (to join his Service)",
    send: () => kubectlAs(alice, ["create", "-f", "-"], pod("impostor", { "portico.dev/workspace": "bobs" })),
    refused:
      /metadata\.labels\[portico\.dev\/workspace\]: only the Portico operator may create pods carrying this label/,
    proof: async () => assert.deepEqual(await names("pods", "app=impostor"), []),
  },
  {
    name: "alice puts bob's workspace label on her own running pod",
    send: () => kubectlAs(alice, ["label", "pod", "alices-pod", "portico.dev/workspace=bobs"]),
    refused:
      /metadata\.labels\[portico\.dev\/workspace\]: only the Portico operator may set, change or remove this label/,
    proof: async () =>
      assert.equal(
        (await json<PodJson>("pod", "alices-pod")).metadata.labels?.["portico.dev/workspace"],
        undefined,
      ),
  },
  {
    name: "alice creates a Deployment whose pods carry bob's workspace label (the ReplicaSet controller makes them)",
    send: () =>
      kubectlAs(alice, ["create", "-f", "-"], {
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: { name: "impostors", namespace: suite.ns },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: "impostors" } },
          template: {
            metadata: { labels: { app: "impostors", "portico.dev/workspace": "bobs" } },
            spec: pod("x").spec,
          },
        },
      }).then(async (r) => {
        // The Deployment itself is alice's to make; its pods are refused when the controller creates them.
        assert.equal(r.code, 0, r.stderr);
        const message = await eventually(
          "the ReplicaSet reports its pods refused",
          async () => {
            const rs = await json<{
              items: { status?: { conditions?: { type: string; message: string }[] } }[];
            }>("replicasets", "-l", "app=impostors");
            return rs.items
              .flatMap((x) => x.status?.conditions ?? [])
              .find((c) => c.type === "ReplicaFailure")?.message;
          },
          60_000,
        );
        return { code: 1, stdout: "", stderr: message };
      }),
    refused:
      /portico-workspace-children.*metadata\.labels\[portico\.dev\/workspace\]: only the Portico operator may create pods/,
    proof: async () => assert.deepEqual(await names("pods", "app=impostors"), []),
  },
  {
    name: "alice changes the image of bob's workspace pod",
    send: async () =>
      kubectlAs(alice, [
        "patch",
        "pod",
        (await victim()).podName,
        "--type=json",
        "-p",
        '[{"op":"replace","path":"/spec/containers/0/image","value":"evil.example/ide:1"}]',
      ]),
    refused: /spec: only the Portico operator may change a workspace's pod or Service/,
  },
  {
    name: "alice points bob's workspace Service at her own pod",
    send: async () =>
      kubectlAs(alice, [
        "patch",
        "service",
        (await getWorkspace(suite.c, suite.ns, "bobs")).status!.children!.service!,
        "--type=merge",
        "-p",
        '{"spec":{"selector":{"portico.dev/workspace":null,"app":"alices-pod"}}}',
      ]),
    refused: /spec: only the Portico operator may change a workspace's pod or Service/,
  },
];

for (const row of ATTACKS)
  test(`attack: ${row.name}`, async () => {
    const before = await victim();
    const r = await row.send();
    assert.notEqual(r.code, 0, `the API server must refuse it; it answered:\n${r.stdout}`);
    assert.match(r.stderr, row.refused);
    assert.match(r.stderr, /denied request|is invalid|forbidden/i);
    if (!/immutable/.test(row.refused.source))
      assert.match(r.stderr, /portico-workspace-(owner|children)/, "refused by the chart's policy");
    // Nothing reached bob: his objects are as they were, his Service sends to his pod alone, his
    // home volume is mounted by his pod alone, and no object was made in his name.
    const after = await victim();
    assert.equal(after.spec, before.spec, "bob's Workspace spec");
    assert.equal(after.generation, before.generation, "bob's Workspace generation");
    assert.equal(after.podImage, before.podImage, "bob's pod image");
    assert.equal(after.podLabels, before.podLabels, "bob's pod labels");
    assert.equal(after.selector, before.selector, "bob's Service selector");
    assert.deepEqual(after.endpoints, [after.podIP], "bob's Service sends to his pod alone");
    assert.deepEqual(after.homeMounts, [after.podName], "bob's home volume is mounted by his pod alone");
    await row.proof?.(before, after);
  });

// What the policies let through: without these, a policy that refused everything would pass the table.
const ALLOWED: { name: string; who: Actor; spec: Record<string, unknown> }[] = [
  {
    name: "alice creates her own workspace (owner alice)",
    who: alice,
    spec: { owner: "alice", running: false },
  },
  {
    name: "alice creates her own user-scope workspace (her own home volume)",
    who: alice,
    spec: { owner: "alice", running: false, storage: { scope: "user" } },
  },
  {
    name: "the proxy's ServiceAccount creates a workspace for carol",
    who: { user: PROXY_USER },
    spec: { owner: "carol", running: false },
  },
  {
    name: "a member of an admin group (system:masters) creates a workspace for dave",
    who: { user: "ops-erin", groups: ["system:masters"] },
    spec: { owner: "dave", running: false },
  },
];

for (const [i, row] of ALLOWED.entries())
  test(`allowed: ${row.name}`, async () => {
    const name = `allowed-${i}`;
    const r = await kubectlAs(row.who, ["create", "-f", "-"], ws(name, row.spec));
    assert.equal(r.code, 0, r.stderr);
    const w: Workspace = await getWorkspace(suite.c, suite.ns, name);
    assert.equal(w.spec.owner, row.spec.owner);
  });

test("allowed: alice changes her own workspace; an admin changes bob's; the operator's own pods and Services exist", async () => {
  let r = await kubectlAs(alice, [
    "patch",
    "workspace",
    "alices",
    "--type=merge",
    "-p",
    '{"spec":{"idleTimeout":"2h"}}',
  ]);
  assert.equal(r.code, 0, r.stderr);
  r = await kubectlAs(alice, ["label", "workspace", "bobs", "team=blue"]);
  assert.equal(r.code, 0, `metadata only, spec unchanged: ${r.stderr}`);
  r = await kubectlAs({ user: "ops-erin", groups: ["system:masters"] }, [
    "patch",
    "workspace",
    "bobs",
    "--type=merge",
    "-p",
    '{"spec":{"idleTimeout":"3h"}}',
  ]);
  assert.equal(r.code, 0, r.stderr);
  // bob's pod and Service carry the label: the operator's ServiceAccount made them, as the policy admits.
  const v = await victim();
  assert.ok(v.podIP && v.endpoints.includes(v.podIP));
  // Who wrote bob's pod (create or patch, not its status), by the API server's audit log.
  const writers = new Set<string>();
  for (const line of (await readFile(join(stateDir(), "audit.log"), "utf8")).split("\n")) {
    if (!line.includes(v.podName)) continue;
    const e = JSON.parse(line) as AuditEntry;
    const o = e.objectRef;
    if (o?.resource === "pods" && o.namespace === suite.ns && o.name === v.podName && !o.subresource)
      if (e.verb !== "delete" && (e.responseStatus?.code ?? 0) < 300) writers.add(e.user.username);
  }
  assert.deepEqual([...writers], [OPERATOR_USER], "only the operator wrote bob's pod");
});

test("the policies type-check against the API's schemas, without warnings", async () => {
  interface PolicyJson {
    metadata: { generation: number };
    status?: { observedGeneration?: number; typeChecking?: { expressionWarnings?: unknown[] } };
  }
  for (const name of ["portico-workspace-owner", "portico-workspace-children"]) {
    const status = await eventually(`${name} is type-checked`, async () => {
      const q = JSON.parse(
        await kubectl("get", "validatingadmissionpolicy", name, "-o", "json"),
      ) as PolicyJson;
      return q.status?.observedGeneration === q.metadata.generation ? q.status : undefined;
    });
    assert.deepEqual(status.typeChecking?.expressionWarnings ?? [], [], name);
  }
});

// ---------------------------------------------------------------------------------------------------------
// The username mapping: an API server whose OIDC authenticator prefixes user names (`oidc:alice`).
// A second owner policy, rendered by the chart with `usernamePrefixes: [oidc:]` and bound to a
// namespace of its own (so it touches no other suite), judges these rows; the harness's policy lets
// them through (the actors are in system:masters there), so what refuses is the prefix rule alone.

const PREFIX_RELEASE = "prefix-test";
let prefixNs: { name: string; drop: () => Promise<void> } | undefined;
const prefixed = (user: string): Actor => ({ user, groups: ["system:masters"] });

before(async () => {
  await suite.ready();
  prefixNs = await withNamespace(suite.c, "attacks-prefix");
  const objects = (
    await renderChart(
      { "admissionPolicies.owners.usernamePrefixes": ["oidc:"], "admissionPolicies.owners.adminGroups": [] },
      { release: PREFIX_RELEASE, namespace: "portico-system" },
    )
  ).filter((o) => o.metadata.name === `${PREFIX_RELEASE}-portico-workspace-owner`);
  assert.deepEqual(objects.map((o) => o.kind).sort(), [
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
  ]);
  const binding = objects.find((o) => o.kind === "ValidatingAdmissionPolicyBinding") as K8sObject & {
    spec: Record<string, unknown>;
  };
  binding.spec.matchResources = {
    namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": prefixNs.name } },
  };
  const file = join(stateDir(), `prefix-policy-${process.pid}.json`);
  await writeFile(file, JSON.stringify({ apiVersion: "v1", kind: "List", items: objects }));
  await kubectl("apply", "-f", file);
  // Enforced once a prefix-less user is refused there (a dry run: nothing is stored).
  await eventually(
    "the prefix policy is enforced",
    async () => {
      const r = await kubectlAs(
        prefixed("alice"),
        ["-n", prefixNs!.name, "create", "--dry-run=server", "-f", "-"],
        {
          ...ws("probe", { owner: "alice" }),
          metadata: { name: "probe", namespace: prefixNs!.name },
        },
      );
      return /have none of the prefixes oidc:/.test(r.stderr) ? true : undefined;
    },
    60_000,
  );
});

after(async () => {
  await kubectl(
    "delete",
    "validatingadmissionpolicybinding,validatingadmissionpolicy",
    `${PREFIX_RELEASE}-portico-workspace-owner`,
    "--ignore-not-found",
  );
  await prefixNs?.drop();
});

const inPrefixNs = (name: string, owner: string, scope?: "user") => ({
  ...ws(name, { owner, running: false, ...(scope ? { storage: { scope } } : {}) }),
  metadata: { name, namespace: prefixNs!.name },
});
const prefixWorkspaces = async () =>
  (await kubectl("-n", prefixNs!.name, "get", "workspaces", "-o", "name")).split("\n").filter(Boolean);

const PREFIX_ATTACKS: { name: string; who: Actor; owner: string; scope?: "user"; refused: RegExp }[] = [
  {
    name: "oidc:alice (prefix oidc: stripped: alice) creates a Workspace owned by bob",
    who: prefixed("oidc:alice"),
    owner: "bob",
    refused: /spec\.owner must be your own user name \(alice\), not bob/,
  },
  {
    name: "oidc:alice creates a user-scope Workspace owned by bob (his home volume)",
    who: prefixed("oidc:alice"),
    owner: "bob",
    scope: "user",
    refused: /spec\.owner must be your own user name \(alice\), not bob/,
  },
  {
    name: "a user named alice without the oidc: prefix (another authenticator) creates a Workspace owned by alice",
    who: prefixed("alice"),
    owner: "alice",
    refused: /spec\.owner must be your own user name \(you, alice, have none of the prefixes oidc:\)/,
  },
];

for (const [i, row] of PREFIX_ATTACKS.entries())
  test(`attack: ${row.name}`, async () => {
    const before = await prefixWorkspaces();
    const r = await kubectlAs(
      row.who,
      ["-n", prefixNs!.name, "create", "-f", "-"],
      inPrefixNs(`p-${i}`, row.owner, row.scope),
    );
    assert.notEqual(r.code, 0, r.stdout);
    assert.match(r.stderr, row.refused);
    assert.match(
      r.stderr,
      new RegExp(`ValidatingAdmissionPolicy '${PREFIX_RELEASE}-portico-workspace-owner'`),
    );
    // Nothing was made in the victim's name.
    assert.deepEqual(await prefixWorkspaces(), before);
  });

test("allowed: oidc:alice creates her own workspace (owner alice, the prefix stripped)", async () => {
  const r = await kubectlAs(
    prefixed("oidc:alice"),
    ["-n", prefixNs!.name, "create", "-f", "-"],
    inPrefixNs("mine", "alice"),
  );
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(await prefixWorkspaces(), ["workspace.portico.dev/mine"]);
});
