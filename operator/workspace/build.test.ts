import assert from "node:assert/strict";
import { test } from "node:test";
import type { V1Container, V1OwnerReference, V1Pod } from "@kubernetes/client-node";
// The typed client's serializer (not re-exported by the package): what goes on the wire.
import { ObjectSerializer } from "@kubernetes/client-node/dist/gen/models/ObjectSerializer.js";
import type { ReclaimPolicy, StorageScope } from "../../crds/types.ts";
import {
  GIT_CHECKOUT_SCRIPT,
  GIT_CLONE_SCRIPT,
  GIT_CREDENTIAL_HELPER,
  POD_SPEC_HASH_ANNOTATION,
  buildChildren,
  buildGitCloneContainer,
  credentialHost,
  buildNetworkPolicy,
  buildPod,
  buildPvc,
  buildService,
  buildVirtualService,
  canonicalJson,
  compareQuantities,
  isSshUrl,
  mergeOwnerRefs,
  mergeResources,
  parseQuantity,
  podSpecHash,
  repoDirName,
} from "./build.ts";
import { testClass, testConfig, testWorkspace } from "./fixtures.ts";

const config = testConfig();
const cls = testClass();
const UID = testWorkspace().metadata.uid;
const ownerRef = (controller: boolean): V1OwnerReference => ({
  apiVersion: "portico.dev/v1alpha1",
  kind: "Workspace",
  name: "alice-notebook",
  uid: UID!,
  controller,
  blockOwnerDeletion: true,
});

const ide = (pod: V1Pod): V1Container => pod.spec!.containers.find((c) => c.name === "ide")!;
const envOf = (c: V1Container) =>
  Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value ?? e.valueFrom]));

test("buildChildren: complete objects in the workspace's namespace", () => {
  const all = buildChildren(testWorkspace(), cls, config, { virtualService: true });
  const want = {
    pvc: ["v1", "PersistentVolumeClaim", "ws-alice-notebook-home"],
    pod: ["v1", "Pod", "ws-alice-notebook"],
    service: ["v1", "Service", "ws-alice-notebook"],
    networkPolicy: ["networking.k8s.io/v1", "NetworkPolicy", "ws-alice-notebook"],
    virtualService: ["networking.istio.io/v1", "VirtualService", "ws-alice-notebook"],
  };
  for (const [key, [apiVersion, kind, name]] of Object.entries(want)) {
    const obj = all[key as keyof typeof all]!;
    assert.equal(obj.apiVersion, apiVersion, key);
    assert.equal(obj.kind, kind, key);
    assert.equal(obj.metadata!.name, name, key);
    assert.equal(obj.metadata!.namespace, "team-a", key);
    assert.equal(obj.metadata!.labels!["app.kubernetes.io/managed-by"], "portico-operator", key);
  }
  assert.equal(
    buildChildren(testWorkspace(), cls, config, { virtualService: false }).virtualService,
    undefined,
  );
});

test("owner references per storage scope × reclaim policy", () => {
  const cases: {
    scope: StorageScope;
    policy: ReclaimPolicy;
    pvc: V1OwnerReference[] | undefined;
    name: string;
  }[] = [
    { scope: "workspace", policy: "Delete", pvc: [ownerRef(true)], name: "ws-alice-notebook-home" },
    { scope: "workspace", policy: "Retain", pvc: undefined, name: "ws-alice-notebook-home" },
    { scope: "user", policy: "Delete", pvc: [ownerRef(false)], name: "home-alice" },
    { scope: "user", policy: "Retain", pvc: undefined, name: "home-alice" },
  ];
  for (const c of cases) {
    const ws = testWorkspace({ storage: { scope: c.scope, reclaimPolicy: c.policy } });
    const all = buildChildren(ws, cls, config, { virtualService: true });
    const label = `${c.scope}/${c.policy}`;
    assert.equal(all.pvc.metadata!.name, c.name, label);
    assert.deepEqual(all.pvc.metadata!.ownerReferences, c.pvc, label);
    for (const obj of [all.pod, all.service, all.networkPolicy, all.virtualService!]) {
      assert.deepEqual(obj.metadata!.ownerReferences, [ownerRef(true)], `${label} ${obj.kind}`);
    }
  }
  // Default policy (absent) is Retain.
  assert.equal(buildPvc(testWorkspace({ storage: {} }), cls, config).metadata!.ownerReferences, undefined);
  assert.throws(() => buildPod(testWorkspace({}, { uid: undefined }), cls, config), /metadata.uid/);
});

test("mergeOwnerRefs adds ours once, keeps the others", () => {
  const other: V1OwnerReference = { ...ownerRef(false), name: "alice-other", uid: "other-uid" };
  const cases: [V1OwnerReference[] | undefined, V1OwnerReference[], V1OwnerReference[]][] = [
    [undefined, [ownerRef(false)], [ownerRef(false)]],
    [[], [ownerRef(false)], [ownerRef(false)]],
    [[other], [ownerRef(false)], [other, ownerRef(false)]],
    [[other, ownerRef(false)], [ownerRef(false)], [other, ownerRef(false)]],
    [[other], [], [other]],
  ];
  for (const [existing, ours, want] of cases) assert.deepEqual(mergeOwnerRefs(existing, ours), want);
  const existing = [other];
  mergeOwnerRefs(existing, [ownerRef(false)]);
  assert.deepEqual(existing, [other], "input not mutated");
});

test("PVC: size and storage class from workspace, then class, then config", () => {
  const cases: { ws?: object; cls?: object; size: string; sc: string | undefined }[] = [
    {
      ws: { size: "20Gi", storageClassName: "fast" },
      cls: { size: "5Gi", storageClassName: "slow" },
      size: "20Gi",
      sc: "fast",
    },
    { ws: {}, cls: { size: "5Gi", storageClassName: "slow" }, size: "5Gi", sc: "slow" },
    { ws: {}, cls: {}, size: "10Gi", sc: undefined },
    { ws: { size: 1073741824 }, cls: {}, size: "1073741824", sc: undefined },
  ];
  for (const c of cases) {
    const pvc = buildPvc(
      testWorkspace({ storage: c.ws }),
      testClass({ storage: c.cls }),
      testConfig({ defaultStorageSize: "10Gi" }),
    );
    assert.equal(pvc.spec!.resources!.requests!.storage, c.size);
    assert.equal(pvc.spec!.storageClassName, c.sc);
    assert.equal("storageClassName" in pvc.spec!, c.sc !== undefined, "omitted: cluster default");
    assert.deepEqual(pvc.spec!.accessModes, ["ReadWriteOnce"]);
  }
});

test("PVC labels: the workspace's own claim has its labels; a shared claim only the owner's", () => {
  const own = buildPvc(testWorkspace(), cls, config);
  assert.equal(own.metadata!.labels!["portico.dev/workspace"], "alice-notebook");
  assert.equal(own.metadata!.labels!["portico.dev/claim"], "ws-alice-notebook-home");
  const shared = buildPvc(testWorkspace({ storage: { scope: "user" } }), cls, config);
  assert.equal(shared.metadata!.labels!["portico.dev/workspace"], undefined);
  assert.equal(shared.metadata!.labels!["portico.dev/owner"], "alice");
  assert.equal(shared.metadata!.annotations!["portico.dev/workspace"], undefined);
  // Two workspaces of one owner build the same shared claim (so the reconciler never flaps).
  const a = buildPvc(testWorkspace({ storage: { scope: "user", reclaimPolicy: "Retain" } }), cls, config);
  const b = buildPvc(
    testWorkspace({ storage: { scope: "user", reclaimPolicy: "Retain" } }, { name: "b", uid: "u2" }),
    cls,
    config,
  );
  assert.deepEqual(a, b);
});

test("pod: IDE container from class and workspace, templated per routing mode", () => {
  const cases = [
    { routing: "host" as const, prefix: "", probe: "/api", arg: "--ServerApp.base_url=" },
    {
      routing: "path" as const,
      prefix: "/w/team-a/alice-notebook",
      probe: "/w/team-a/alice-notebook/api",
      arg: "--ServerApp.base_url=/w/team-a/alice-notebook",
    },
  ];
  for (const c of cases) {
    const pod = buildPod(testWorkspace(), cls, testConfig({ routing: c.routing }));
    const ctr = ide(pod);
    assert.equal(ctr.image, "quay.io/jupyter/minimal-notebook:2025-10-20");
    assert.equal(ctr.imagePullPolicy, "IfNotPresent");
    assert.deepEqual(ctr.command, ["jupyter", "lab"]);
    assert.deepEqual(ctr.args, [c.arg, "--ServerApp.ip=0.0.0.0"]);
    assert.deepEqual(envOf(ctr), {
      JUPYTER_ENABLE_LAB: "yes",
      BASE: `${c.prefix}/lab`,
      PORTICO_WORKSPACE: "alice-notebook",
      PORTICO_OWNER: "alice",
      PORTICO_BASE_PATH: c.prefix,
    });
    assert.deepEqual(ctr.ports, [{ name: "http", containerPort: 8888, protocol: "TCP" }]);
    assert.equal(ctr.readinessProbe!.httpGet!.path, c.probe);
    assert.equal(ctr.readinessProbe!.httpGet!.port, 8888);
    assert.ok(ctr.readinessProbe!.periodSeconds! <= 5 && ctr.readinessProbe!.timeoutSeconds! >= 1);
    assert.deepEqual(ctr.volumeMounts, [{ name: "home", mountPath: "/home/jovyan" }]);
  }
});

test("pod: PORTICO_KEEP_ALIVE_URL from --keep-alive-url (issue 15), and a class cannot set it", () => {
  const c = testClass({ env: [{ name: "PORTICO_KEEP_ALIVE_URL", value: "http://evil.example/" }] });
  const without = envOf(ide(buildPod(testWorkspace(), c, testConfig())));
  assert.equal(without.PORTICO_KEEP_ALIVE_URL, undefined);
  const url = "http://portico-proxy-keepalive.portico-system.svc:8083/keep-alive";
  const env = envOf(ide(buildPod(testWorkspace(), c, { ...testConfig(), keepAliveUrl: url })));
  assert.equal(env.PORTICO_KEEP_ALIVE_URL, url);
});

test("pod: workspace image wins; readiness default {prefix}/; mount default /home/coder; reserved env", () => {
  const c = testClass({
    readinessPath: undefined,
    storage: {},
    imagePullPolicy: undefined,
    command: undefined,
    args: undefined,
    env: [{ name: "PORTICO_OWNER", value: "spoofed" }, { name: "EMPTY" }],
  });
  const pod = buildPod(
    testWorkspace({ image: "registry.example.com/custom:1" }),
    c,
    testConfig({ routing: "path" }),
  );
  const ctr = ide(pod);
  assert.equal(ctr.image, "registry.example.com/custom:1");
  assert.equal(ctr.readinessProbe!.httpGet!.path, "/w/team-a/alice-notebook/");
  assert.deepEqual(ctr.volumeMounts, [{ name: "home", mountPath: "/home/coder" }]);
  assert.ok(!("imagePullPolicy" in ctr) && !("command" in ctr) && !("args" in ctr));
  assert.deepEqual(
    ctr.env!.filter((e) => e.name === "PORTICO_OWNER"),
    [{ name: "PORTICO_OWNER", value: "alice" }],
  );
  assert.deepEqual(
    ctr.env!.find((e) => e.name === "EMPTY"),
    { name: "EMPTY" },
  );
});

test("pod: resources merge key by key, workspace wins, and stay valid", () => {
  const cases: { ws?: object; want: object | undefined }[] = [
    { ws: undefined, want: { requests: { cpu: "500m", memory: "1Gi" }, limits: { memory: "4Gi" } } },
    {
      ws: { requests: { cpu: "1" }, limits: { cpu: 2 } },
      want: { requests: { cpu: "1", memory: "1Gi" }, limits: { memory: "4Gi", cpu: "2" } },
    },
    // A workspace request above the class limit raises the limit.
    {
      ws: { requests: { memory: "8Gi" } },
      want: { requests: { cpu: "500m", memory: "8Gi" }, limits: { memory: "8Gi" } },
    },
    // A workspace limit below the class request lowers the request.
    {
      ws: { limits: { memory: "512Mi" } },
      want: { requests: { cpu: "500m", memory: "512Mi" }, limits: { memory: "512Mi" } },
    },
  ];
  for (const c of cases) {
    const pod = buildPod(testWorkspace({ resources: c.ws }), cls, config);
    assert.deepEqual(ide(pod).resources, c.want, JSON.stringify(c.ws));
  }
  assert.equal(mergeResources(undefined, undefined), undefined);
  assert.equal(
    ide(buildPod(testWorkspace(), testClass({ resources: undefined }), config)).resources,
    undefined,
  );
});

test("pod: non-root, locked down, no token, no service links", () => {
  const pod = buildPod(
    testWorkspace({ repository: { url: "https://git.example.com/a/analysis.git" } }),
    cls,
    config,
  );
  const spec = pod.spec!;
  assert.equal(spec.restartPolicy, "Always");
  assert.equal(spec.automountServiceAccountToken, false);
  assert.equal(spec.enableServiceLinks, false);
  assert.equal(spec.securityContext!.fsGroup, 1000);
  assert.equal(spec.securityContext!.runAsNonRoot, true);
  for (const c of [...spec.containers, ...spec.initContainers!]) {
    assert.deepEqual(
      c.securityContext,
      {
        runAsNonRoot: true,
        runAsUser: 1000,
        runAsGroup: 1000,
        allowPrivilegeEscalation: false,
        capabilities: { drop: ["ALL"] },
        seccompProfile: { type: "RuntimeDefault" },
      },
      c.name,
    );
  }
  assert.deepEqual(spec.volumes, [
    { name: "home", persistentVolumeClaim: { claimName: "ws-alice-notebook-home" } },
    { name: "git-work", emptyDir: {} },
  ]);
  assert.equal(pod.metadata!.labels!["portico.dev/claim"], "ws-alice-notebook-home");
});

test("pod affinity only for user-scope storage", () => {
  assert.equal(buildPod(testWorkspace(), cls, config).spec!.affinity, undefined);
  const pod = buildPod(testWorkspace({ storage: { scope: "user" } }), cls, config);
  assert.equal(pod.metadata!.labels!["portico.dev/claim"], "home-alice");
  assert.deepEqual(pod.spec!.affinity, {
    podAffinity: {
      requiredDuringSchedulingIgnoredDuringExecution: [
        {
          labelSelector: { matchLabels: { "portico.dev/claim": "home-alice" } },
          topologyKey: "kubernetes.io/hostname",
        },
      ],
    },
  });
  // The pod matches its own affinity term, so the first of them can schedule.
  const term = pod.spec!.affinity!.podAffinity!.requiredDuringSchedulingIgnoredDuringExecution![0]!;
  for (const [k, v] of Object.entries(term.labelSelector!.matchLabels!))
    assert.equal(pod.metadata!.labels![k], v);
});

test("git init containers: only with a repository; URL, ref and target as env; clone then checkout", () => {
  assert.equal(buildPod(testWorkspace(), cls, config).spec!.initContainers, undefined);
  const ws = testWorkspace({
    repository: { url: "https://git.example.com/data-science/analysis.git", ref: "main" },
  });
  const [init, checkout, ...rest] = buildPod(ws, cls, config).spec!.initContainers!;
  assert.equal(rest.length, 0);
  assert.equal(init!.name, "git-clone");
  assert.equal(checkout!.name, "git-checkout");
  for (const c of [init!, checkout!]) {
    assert.equal(c.image, "docker.io/alpine/git:2.47.2");
    assert.equal(c.args, undefined);
    assert.deepEqual(c.resources, ide(buildPod(ws, cls, config)).resources);
  }
  assert.deepEqual(init!.command, ["/bin/sh", "-c", GIT_CLONE_SCRIPT]);
  assert.deepEqual(checkout!.command, ["/bin/sh", "-c", GIT_CHECKOUT_SCRIPT]);
  const shared = {
    GIT_URL: "https://git.example.com/data-science/analysis.git",
    GIT_REF: "main",
    GIT_TARGET: "/home/jovyan/analysis",
    GIT_WORK: "/var/portico/git",
    HOME: "/var/portico/git/home",
    GIT_TERMINAL_PROMPT: "0",
  };
  assert.deepEqual(envOf(init!), { ...shared, GIT_PROTOCOLS: "https:ssh" });
  assert.deepEqual(envOf(checkout!), shared);
  assert.deepEqual(init!.volumeMounts, [
    { name: "home", mountPath: "/home/jovyan", readOnly: true },
    { name: "git-work", mountPath: "/var/portico/git" },
  ]);
  assert.deepEqual(checkout!.volumeMounts, [
    { name: "home", mountPath: "/home/jovyan" },
    { name: "git-work", mountPath: "/var/portico/git" },
  ]);
  // The class's protocols reach git.
  const http = buildGitCloneContainer(
    ws,
    testClass({ git: { allowedProtocols: ["https", "git"] } }),
    config,
  )!;
  assert.equal(envOf(http).GIT_PROTOCOLS, "https:git");
  // Without a ref, no GIT_REF at all.
  const noRef = buildGitCloneContainer(
    testWorkspace({ repository: { url: "https://h/x/y.git" } }),
    cls,
    config,
  )!;
  assert.equal(envOf(noRef).GIT_REF, undefined);
});

test("git scripts: no system or global config, empty HOME, no templates, hooks and fsmonitor off", () => {
  for (const script of [GIT_CLONE_SCRIPT, GIT_CHECKOUT_SCRIPT]) {
    assert.ok(script.startsWith("set -eu\n"));
    for (const want of [
      "GIT_CONFIG_NOSYSTEM=1",
      "GIT_CONFIG_GLOBAL=/dev/null",
      "GIT_CONFIG_SYSTEM=/dev/null",
      'HOME="$work/home"',
      "core.hooksPath=/dev/null",
      "core.fsmonitor=false",
      "protocol.allow=never",
      "GIT_ALLOW_PROTOCOL=",
    ])
      assert.ok(script.includes(want), want);
    assert.match(script, /--template= /);
  }
  assert.ok(GIT_CHECKOUT_SCRIPT.includes("export GIT_ALLOW_PROTOCOL=file\n"));
  assert.ok(!GIT_CHECKOUT_SCRIPT.includes("GIT_PASSWORD"), "the checkout step has no credentials to use");
  assert.ok(!GIT_CHECKOUT_SCRIPT.includes('credential.helper="$helper"'));
});

test("credentialHost is the URL's host[:port]", () => {
  assert.equal(credentialHost("https://git.example.com/a/b.git"), "git.example.com");
  assert.equal(credentialHost("http://198.18.0.21:8080/a.git"), "198.18.0.21:8080");
  assert.equal(credentialHost("https://user@git.example.com:8443/x"), "git.example.com:8443");
  assert.equal(credentialHost("git@git.example.com:a/b.git"), "");
});

test("git clone: hostile URL and ref never reach the script or argv", () => {
  const url = "https://git.example.com/$(touch /tmp/pwned)`id`;'\"/repo.git";
  const ref = "main;$(reboot)";
  const init = buildGitCloneContainer(testWorkspace({ repository: { url, ref } }), cls, config)!;
  assert.deepEqual(init.command, ["/bin/sh", "-c", GIT_CLONE_SCRIPT]);
  for (const arg of init.command!) assert.ok(!arg.includes("pwned") && !arg.includes("reboot"));
  assert.equal(envOf(init).GIT_URL, url);
  assert.equal(envOf(init).GIT_REF, ref);
});

test("git clone over https: credentials only as secretKeyRef env, never values or argv", () => {
  const ws = testWorkspace({
    repository: { url: "https://git.example.com/a/analysis.git", secretRef: { name: "alice-git" } },
  });
  const pod = buildPod(ws, cls, config);
  const init = pod.spec!.initContainers![0]!;
  const env = Object.fromEntries(init.env!.map((e) => [e.name, e]));
  assert.deepEqual(env.GIT_CREDENTIAL_HOST, { name: "GIT_CREDENTIAL_HOST", value: "git.example.com" });
  assert.deepEqual(env.GIT_USERNAME, {
    name: "GIT_USERNAME",
    valueFrom: { secretKeyRef: { name: "alice-git", key: "username", optional: true } },
  });
  assert.deepEqual(env.GIT_PASSWORD, {
    name: "GIT_PASSWORD",
    valueFrom: { secretKeyRef: { name: "alice-git", key: "password", optional: true } },
  });
  assert.equal(env.GIT_SSH_COMMAND, undefined);
  assert.ok(!pod.spec!.volumes!.some((v) => v.secret), "no secret volume for https");
  // Neither the IDE container nor the checkout step ever sees the credentials.
  assert.ok(!JSON.stringify(ide(pod)).includes("alice-git"));
  assert.ok(!JSON.stringify(pod.spec!.initContainers![1]).includes("alice-git"));
  // The script never enables tracing and never writes credentials anywhere.
  assert.doesNotMatch(GIT_CLONE_SCRIPT, /set -[a-z]*x|set -o xtrace|GIT_TRACE/);
  // Only the credential helper (whose stdout goes to git, not to a log) mentions the password.
  assert.doesNotMatch(
    GIT_CLONE_SCRIPT.replace(GIT_CREDENTIAL_HELPER, ""),
    /echo[^\n]*GIT_PASSWORD|printf[^\n]*GIT_PASSWORD/,
  );
  assert.doesNotMatch(GIT_CLONE_SCRIPT, /credential\.helper[= ]*store|git-credentials/);
  assert.ok(GIT_CLONE_SCRIPT.includes(GIT_CREDENTIAL_HELPER));
});

test("git clone over ssh: key from a secret volume (0400), no ssh config, known_hosts off the user's volume", () => {
  for (const url of [
    "git@git.example.com:platform/tools.git",
    "ssh://git@git.example.com:2222/platform/tools.git",
  ]) {
    const ws = testWorkspace({ repository: { url, secretRef: { name: "bob-ssh" } } });
    const pod = buildPod(ws, cls, config);
    const init = pod.spec!.initContainers![0]!;
    const env = envOf(init);
    assert.equal(env.GIT_TARGET, "/home/jovyan/tools");
    assert.equal(env.GIT_USERNAME, undefined);
    assert.match(
      String(env.GIT_SSH_COMMAND),
      /^ssh -F \/dev\/null -i '\/etc\/portico\/git-secret\/ssh-privatekey' /,
    );
    assert.match(String(env.GIT_SSH_COMMAND), /StrictHostKeyChecking=accept-new/);
    assert.match(String(env.GIT_SSH_COMMAND), /UserKnownHostsFile='\/var\/portico\/git\/known_hosts'/);
    assert.equal(env.GIT_CREDENTIAL_HOST, undefined);
    assert.deepEqual(init.volumeMounts![2], {
      name: "git-secret",
      mountPath: "/etc/portico/git-secret",
      readOnly: true,
    });
    const vol = pod.spec!.volumes!.find((v) => v.name === "git-secret")!;
    assert.equal(vol.secret!.secretName, "bob-ssh");
    assert.equal(vol.secret!.defaultMode, 0o400);
    assert.equal(vol.secret!.optional, true);
    assert.ok(vol.secret!.items!.some((i) => i.key === "ssh-privatekey"));
    // Neither the IDE nor the checkout step mounts the key.
    assert.ok(!ide(pod).volumeMounts!.some((m) => m.name === "git-secret"));
    assert.ok(!pod.spec!.initContainers![1]!.volumeMounts!.some((m) => m.name === "git-secret"));
  }
});

test("repoDirName and isSshUrl", () => {
  const cases: [string, string, boolean][] = [
    ["https://git.example.com/data-science/analysis.git", "analysis", false],
    ["https://git.example.com/data-science/analysis", "analysis", false],
    ["https://git.example.com/data-science/analysis.git/", "analysis", false],
    ["git@git.example.com:platform/tools.git", "tools", true],
    ["git@git.example.com:tools.git", "tools", true],
    ["ssh://git@git.example.com:2222/platform/tools.git", "tools", true],
    ["git://git.example.com/x/my%20repo.git", "my-20repo", false],
    ["https://git.example.com", "git.example.com", false],
    ["https://git.example.com/..", "repo", false],
    ["https://git.example.com/a/b.git?ref=x#frag", "b", false],
  ];
  for (const [url, dir, ssh] of cases) {
    assert.equal(repoDirName(url), dir, url);
    assert.equal(isSshUrl(url), ssh, url);
  }
});

test("pod spec hash: 16 hex, stable, follows the spec, ignores metadata", () => {
  const pod = buildPod(testWorkspace(), cls, config);
  const hash = pod.metadata!.annotations![POD_SPEC_HASH_ANNOTATION]!;
  assert.match(hash, /^[0-9a-f]{16}$/);
  assert.equal(hash, podSpecHash(pod));
  assert.equal(buildPod(testWorkspace(), cls, config).metadata!.annotations![POD_SPEC_HASH_ANNOTATION], hash);
  // Key order does not matter.
  const reordered: V1Pod = { spec: JSON.parse(canonicalJson(pod.spec)) };
  assert.equal(podSpecHash(reordered), hash);
  const changes: [string, V1Pod][] = [
    ["class image", buildPod(testWorkspace(), testClass({ image: "other:1" }), config)],
    ["class args", buildPod(testWorkspace(), testClass({ args: ["--x"] }), config)],
    ["workspace image", buildPod(testWorkspace({ image: "mine:1" }), cls, config)],
    ["resources", buildPod(testWorkspace({ resources: { limits: { cpu: "3" } } }), cls, config)],
    ["repository", buildPod(testWorkspace({ repository: { url: "https://h/a/b.git" } }), cls, config)],
    ["routing", buildPod(testWorkspace(), cls, testConfig({ routing: "path" }))],
  ];
  for (const [what, other] of changes)
    assert.notEqual(other.metadata!.annotations![POD_SPEC_HASH_ANNOTATION], hash, what);
  // Metadata-only differences (a new generation, a sharedWith change) keep the pod.
  const same = buildPod(testWorkspace({ sharedWith: { users: ["bob"] } }, { generation: 9 }), cls, config);
  assert.equal(same.metadata!.annotations![POD_SPEC_HASH_ANNOTATION], hash);
});

test("canonicalJson sorts keys and drops undefined", () => {
  assert.equal(
    canonicalJson({ b: 1, a: { d: undefined, c: [2, { z: 1, y: 2 }] } }),
    '{"a":{"c":[2,{"y":2,"z":1}]},"b":1}',
  );
});

test("service: ClusterIP port 80 to the named IDE port, selecting the workspace label", () => {
  const svc = buildService(testWorkspace());
  assert.deepEqual(svc.spec, {
    type: "ClusterIP",
    selector: { "portico.dev/workspace": "alice-notebook" },
    ports: [{ name: "http", port: 80, targetPort: "http", protocol: "TCP" }],
  });
  const pod = buildPod(testWorkspace(), cls, config);
  for (const [k, v] of Object.entries(svc.spec!.selector!)) assert.equal(pod.metadata!.labels![k], v);
});

test("network policy: only the proxy pods in the proxy namespace, only the IDE port", () => {
  const np = buildNetworkPolicy(
    testWorkspace(),
    cls,
    testConfig({ proxyPodLabels: { app: "proxy", tier: "edge" } }),
  );
  assert.deepEqual(np.spec!.podSelector, { matchLabels: { "portico.dev/workspace": "alice-notebook" } });
  assert.deepEqual(np.spec!.policyTypes, ["Ingress", "Egress"]);
  // As the API server receives it from the typed client (`_from` is client-node's spelling of `from`).
  const wire = JSON.parse(JSON.stringify(ObjectSerializer.serialize(np, "V1NetworkPolicy", ""))) as {
    spec: { ingress: unknown };
  };
  assert.deepEqual(wire.spec.ingress, [
    {
      from: [
        {
          namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "portico-system" } },
          podSelector: { matchLabels: { app: "proxy", tier: "edge" } },
        },
      ],
      ports: [{ protocol: "TCP", port: 8888 }],
    },
  ]);
});

test("network policy egress: DNS and the internet; never pods, services, private, link-local or metadata", () => {
  const np = buildNetworkPolicy(testWorkspace(), cls, testConfig());
  const wire = JSON.parse(JSON.stringify(ObjectSerializer.serialize(np, "V1NetworkPolicy", ""))) as {
    spec: { egress: unknown };
  };
  // The pod (10.244/16) and service (10.96/12) CIDRs sit inside 10/8 and are not repeated.
  assert.deepEqual(wire.spec.egress, [
    {
      ports: [
        { protocol: "UDP", port: 53 },
        { protocol: "TCP", port: 53 },
      ],
    },
    {
      to: [
        {
          ipBlock: {
            cidr: "0.0.0.0/0",
            except: ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16"],
          },
        },
        { ipBlock: { cidr: "::/0", except: ["fc00::/7", "fe80::/10"] } },
      ],
    },
  ]);
  // Open: ingress only, as before.
  const open = buildNetworkPolicy(
    testWorkspace(),
    cls,
    testConfig({ workspaceEgress: { ...testConfig().workspaceEgress, mode: "open" } }),
  );
  assert.deepEqual(open.spec!.policyTypes, ["Ingress"]);
  assert.equal(open.spec!.egress, undefined);
});

test("virtual service: the workspace's host (or path) to the proxy, no timeout", () => {
  const hostVs = buildVirtualService(testWorkspace(), testConfig());
  assert.deepEqual(hostVs.spec, {
    hosts: ["alice-notebook--team-a.portico.test"],
    http: [
      {
        name: "portico-proxy",
        route: [
          { destination: { host: "portico-proxy.portico-system.svc.cluster.local", port: { number: 80 } } },
        ],
        timeout: "0s",
      },
    ],
  });
  const pathVs = buildVirtualService(
    testWorkspace(),
    testConfig({ routing: "path", istioGateways: ["istio-system/public"], proxyServicePort: 8080 }),
  );
  assert.deepEqual(pathVs.spec.hosts, ["portico.test"]);
  assert.deepEqual(pathVs.spec.gateways, ["istio-system/public"]);
  assert.deepEqual(pathVs.spec.http[0]!.match, [
    { uri: { prefix: "/w/team-a/alice-notebook/" } },
    { uri: { exact: "/w/team-a/alice-notebook" } },
  ]);
  assert.equal(pathVs.spec.http[0]!.route[0]!.destination.port.number, 8080);
});

test("quantities", () => {
  const cases: [string | number, number | undefined][] = [
    ["1Gi", 2 ** 30],
    ["500m", 0.5],
    ["2", 2],
    [3, 3],
    ["1.5G", 1.5e9],
    ["1e3", 1000],
    ["+1k", 1000],
    ["lots", undefined],
    ["1Gb", undefined],
  ];
  for (const [q, want] of cases) assert.equal(parseQuantity(q), want, String(q));
  assert.equal(compareQuantities("1Gi", "1024Mi"), 0);
  assert.equal(compareQuantities("1G", "1Gi"), -1);
  assert.equal(compareQuantities("2", "1500m"), 1);
  assert.equal(compareQuantities("x", "1"), undefined);
});

test("network policy ingress: the operator's pods too, on the IDE port only, when the class has an idle probe", () => {
  const ingress = (c: typeof cls) => {
    const np = buildNetworkPolicy(testWorkspace(), c, testConfig());
    return (
      JSON.parse(JSON.stringify(ObjectSerializer.serialize(np, "V1NetworkPolicy", ""))) as {
        spec: { ingress: { from: unknown[]; ports: unknown[] }[] };
      }
    ).spec.ingress;
  };
  const proxy = {
    namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "portico-system" } },
    podSelector: { matchLabels: { "app.kubernetes.io/name": "portico-proxy" } },
  };
  assert.deepEqual(ingress(cls), [{ from: [proxy], ports: [{ protocol: "TCP", port: 8888 }] }]);
  const probed = testClass({
    idle: { probe: { path: "{prefix}/api/status", lastActivityField: "last_activity" } },
  });
  assert.deepEqual(ingress(probed), [
    {
      from: [
        proxy,
        {
          namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "portico-system" } },
          podSelector: { matchLabels: { "app.kubernetes.io/name": "portico-operator" } },
        },
      ],
      ports: [{ protocol: "TCP", port: 8888 }],
    },
  ]);
});
