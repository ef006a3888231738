/**
 * The operator end to end on the real cluster: a Workspace becomes a running Jupyter Server with
 * its children, stops and starts without losing files, clones its repository from a real git
 * server, rolls when its class changes, reports what is wrong in conditions, and leaves user data
 * alone on deletion unless the reclaim policy says otherwise.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { V1OwnerReference } from "@kubernetes/client-node";
import { clients, eventually, uniqueName, withNamespace, type Clients } from "../lib/kube.ts";
import { startOperator, stateDir, type OperatorProcess } from "../lib/operator.ts";
import {
  condition,
  createClass,
  createWorkspace,
  deleteClass,
  deleteWorkspace,
  getWorkspace,
  isReady,
  jupyterClass,
  kubectl,
  patchWorkspace,
  tinyClass,
  waitWorkspace,
  workspace,
} from "../lib/workspaces.ts";

let c: Clients;
let ns: { name: string; drop: () => Promise<void> };
let op: OperatorProcess;
const jupyter = uniqueName("jupyter");
const tiny = uniqueName("tiny");

before(async () => {
  c = clients();
  ns = await withNamespace(c, "lifecycle");
  // The clone test serves its repository with a real git daemon (git://), which classes refuse by
  // default (https and ssh only): this class allows it.
  const cls = jupyterClass(jupyter);
  cls.spec.git = { allowedProtocols: ["https", "ssh", "git"] };
  await createClass(c, cls);
  await createClass(c, tinyClass(tiny));
  op = await startOperator(["--lease-name=lifecycle"], "lifecycle");
});

after(async () => {
  await op?.stop();
  await ns?.drop();
  await deleteClass(c, jupyter);
  await deleteClass(c, tiny);
});

const controllerRef = (refs: V1OwnerReference[] | undefined, uid: string) =>
  refs?.find((r) => r.kind === "Workspace" && r.uid === uid && r.controller === true);

async function podIP(name: string): Promise<string> {
  return eventually(
    `pod ${name} IP`,
    async () => (await c.core.readNamespacedPod({ name, namespace: ns.name })).status?.podIP,
  );
}

/** Jupyter's contents API: the real IDE reading and writing files in the workspace volume. */
async function jupyterPut(ip: string, path: string, content: string): Promise<void> {
  const res = await fetch(`http://${ip}:8888/api/contents/${path}`, {
    method: "PUT",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ type: "file", format: "text", content }),
  });
  assert.ok(res.ok, `PUT ${path}: ${res.status} ${await res.text()}`);
}
async function jupyterGet(
  ip: string,
  path: string,
): Promise<{ status: number; content?: string; type?: string }> {
  const res = await fetch(`http://${ip}:8888/api/contents/${path}?content=1`);
  if (!res.ok) return { status: res.status };
  const body = (await res.json()) as { content: string; type: string };
  return { status: res.status, content: body.content, type: body.type };
}

test("kubectl apply of a Workspace → children with owner references, a real Jupyter Server, Ready with a URL", async () => {
  const manifest = join(mkdtempSync(join(stateDir(), "m-")), "ws.yaml");
  writeFileSync(
    manifest,
    `apiVersion: portico.dev/v1alpha1
kind: Workspace
metadata: {name: nb, namespace: ${ns.name}}
spec: {owner: alice, className: ${jupyter}, storage: {reclaimPolicy: Delete}}
`,
  );
  await kubectl("apply", "-f", manifest);
  // kubectl wait is how users and pipelines wait: it must return once the workspace is Ready.
  await kubectl("wait", "--for=condition=Ready", "--timeout=90s", "-n", ns.name, "workspace/nb");

  const ws = await getWorkspace(c, ns.name, "nb");
  const uid = ws.metadata.uid!;
  assert.equal(ws.status?.phase, "Running");
  assert.equal(ws.status?.url, `http://nb--${ns.name}.portico.test/`);
  assert.equal(ws.status?.observedGeneration, ws.metadata.generation);
  for (const t of ["Ready", "StorageReady", "PodReady", "Routed"]) {
    assert.equal(condition(ws, t)?.status, "True", `${t} is True`);
    assert.equal(condition(ws, t)?.observedGeneration, ws.metadata.generation, `${t} has observedGeneration`);
  }
  const names = ws.status!.children!;
  const pod = await c.core.readNamespacedPod({ name: names.pod!, namespace: ns.name });
  const pvc = await c.core.readNamespacedPersistentVolumeClaim({ name: names.pvc!, namespace: ns.name });
  const svc = await c.core.readNamespacedService({ name: names.service!, namespace: ns.name });
  const np = await c.kc
    .makeApiClient((await import("@kubernetes/client-node")).NetworkingV1Api)
    .readNamespacedNetworkPolicy({ name: names.networkPolicy!, namespace: ns.name });
  const vs = (await c.custom.getNamespacedCustomObject({
    group: "networking.istio.io",
    version: "v1",
    plural: "virtualservices",
    namespace: ns.name,
    name: names.virtualService!,
  })) as { metadata: { ownerReferences?: V1OwnerReference[] }; spec: { hosts: string[] } };
  for (const [what, refs] of [
    ["pod", pod.metadata?.ownerReferences],
    ["pvc (reclaimPolicy Delete)", pvc.metadata?.ownerReferences],
    ["service", svc.metadata?.ownerReferences],
    ["networkpolicy", np.metadata?.ownerReferences],
    ["virtualservice", vs.metadata.ownerReferences],
  ] as const) {
    assert.ok(
      controllerRef(refs as V1OwnerReference[] | undefined, uid) ||
        (what.startsWith("pvc") && refs?.some((r) => r.uid === uid)),
      `${what} is owned by the workspace`,
    );
  }
  assert.deepEqual(vs.spec.hosts, [`nb--${ns.name}.portico.test`]);
  assert.equal(pod.status?.phase, "Running");
  assert.match(pod.status!.podIP!, /^198\.18\./);

  // The real IDE answers on the pod IP.
  const api = await fetch(`http://${pod.status!.podIP}:8888/api`);
  assert.equal(api.status, 200);
  assert.match(((await api.json()) as { version: string }).version, /^\d+\./);

  // The columns users see.
  const table = await kubectl("get", "workspaces", "-n", ns.name);
  assert.match(table.split("\n")[0]!, /^NAME\s+OWNER\s+CLASS\s+PHASE\s+READY\s+URL\s+AGE/);
  assert.match(
    table,
    new RegExp(`nb\\s+alice\\s+${jupyter}\\s+Running\\s+True\\s+http://nb--${ns.name}\\.portico\\.test/`),
  );
});

test("stop keeps the volume and the Service; start again finds the files written before", async () => {
  await createWorkspace(c, workspace(ns.name, "keep", { className: jupyter }));
  let ws = await waitWorkspace(c, ns.name, "keep", "Ready", isReady, 90_000);
  const names = ws.status!.children!;
  await jupyterPut(await podIP(names.pod!), "notes.txt", "written before the stop");

  await patchWorkspace(c, ns.name, "keep", { running: false });
  ws = await waitWorkspace(c, ns.name, "keep", "Stopped", (w) => w.status?.phase === "Stopped");
  assert.equal(condition(ws, "Ready")?.status, "False");
  assert.equal(condition(ws, "Ready")?.reason, "Stopped");
  await eventually("pod gone", async () =>
    c.core.readNamespacedPod({ name: names.pod!, namespace: ns.name }).then(
      () => undefined,
      (err: { code?: number }) => (err.code === 404 ? true : undefined),
    ),
  );
  const pvc = await c.core.readNamespacedPersistentVolumeClaim({ name: names.pvc!, namespace: ns.name });
  assert.equal(pvc.status?.phase, "Bound", "the claim is kept while stopped");
  await c.core.readNamespacedService({ name: names.service!, namespace: ns.name });
  assert.equal(
    (await getWorkspace(c, ns.name, "keep")).spec.running,
    false,
    "the operator never rewrites spec",
  );

  await patchWorkspace(c, ns.name, "keep", { running: true });
  ws = await waitWorkspace(c, ns.name, "keep", "Ready again", isReady, 90_000);
  assert.equal(ws.status?.children?.pvc, names.pvc, "same claim");
  const file = await jupyterGet(await podIP(names.pod!), "notes.txt");
  assert.deepEqual(file, { status: 200, content: "written before the stop", type: "file" });
});

test("deleting a workspace keeps its volume with Retain (the default) and removes it with Delete", async () => {
  await createWorkspace(c, workspace(ns.name, "retained", { className: tiny }));
  await createWorkspace(
    c,
    workspace(ns.name, "deleted", { className: tiny, storage: { reclaimPolicy: "Delete" } }),
  );
  const retained = await waitWorkspace(c, ns.name, "retained", "Ready", isReady);
  const deleted = await waitWorkspace(c, ns.name, "deleted", "Ready", isReady);
  assert.equal(retained.spec.storage?.reclaimPolicy, "Retain", "Retain is the default");

  await deleteWorkspace(c, ns.name, "retained");
  await deleteWorkspace(c, ns.name, "deleted");
  const gone = (read: () => Promise<unknown>) =>
    read().then(
      () => undefined,
      (err: { code?: number }) => (err.code === 404 ? true : undefined),
    );
  await eventually("children of the Delete workspace gone, its claim included", async () =>
    (await gone(() =>
      c.core.readNamespacedPersistentVolumeClaim({
        name: deleted.status!.children!.pvc!,
        namespace: ns.name,
      }),
    )) &&
    (await gone(() => c.core.readNamespacedPod({ name: deleted.status!.children!.pod!, namespace: ns.name })))
      ? true
      : undefined,
  );
  await eventually("pod and service of the Retain workspace gone", async () =>
    (await gone(() =>
      c.core.readNamespacedPod({ name: retained.status!.children!.pod!, namespace: ns.name }),
    )) &&
    (await gone(() =>
      c.core.readNamespacedService({ name: retained.status!.children!.service!, namespace: ns.name }),
    ))
      ? true
      : undefined,
  );
  const kept = await c.core.readNamespacedPersistentVolumeClaim({
    name: retained.status!.children!.pvc!,
    namespace: ns.name,
  });
  assert.equal(kept.status?.phase, "Bound", "the Retain claim survives its workspace");
  assert.equal(kept.metadata?.deletionTimestamp, undefined);
});

test("the repository is cloned by the init container from a real git server; local changes survive a restart", async () => {
  // A real git server (git daemon) inside the cluster's network namespace.
  const root = mkdtempSync(join(stateDir(), "git-"));
  const git = (...args: string[]) =>
    execFileSync("git", args, {
      cwd: root,
      env: {
        ...process.env,
        GIT_AUTHOR_NAME: "t",
        GIT_AUTHOR_EMAIL: "t@t",
        GIT_COMMITTER_NAME: "t",
        GIT_COMMITTER_EMAIL: "t@t",
      },
    });
  git("init", "-q", "--bare", "-b", "main", "project.git");
  git("clone", "-q", join(root, "project.git"), "work");
  writeFileSync(join(root, "work", "README.md"), "hello from git\n");
  execFileSync("git", ["-C", join(root, "work"), "add", "."]);
  execFileSync("git", [
    "-C",
    join(root, "work"),
    "-c",
    "user.name=t",
    "-c",
    "user.email=t@t",
    "commit",
    "-qm",
    "first",
  ]);
  execFileSync("git", ["-C", join(root, "work"), "push", "-q", "origin", "main"]);
  const daemon: ChildProcess = spawn(
    "git",
    [
      "daemon",
      "--reuseaddr",
      `--base-path=${root}`,
      "--export-all",
      "--listen=198.18.0.20",
      "--port=9418",
      root,
    ],
    { stdio: "ignore", detached: true },
  );
  try {
    await eventually("git daemon", async () => {
      execFileSync("git", ["ls-remote", "git://198.18.0.20/project.git"], { stdio: "ignore" });
      return true;
    });
    await createWorkspace(
      c,
      workspace(ns.name, "cloned", {
        className: jupyter,
        repository: { url: "git://198.18.0.20/project.git", ref: "main" },
      }),
    );
    let ws = await waitWorkspace(c, ns.name, "cloned", "Ready", isReady, 90_000);
    const ip = await podIP(ws.status!.children!.pod!);
    assert.deepEqual(await jupyterGet(ip, "project/README.md"), {
      status: 200,
      content: "hello from git\n",
      type: "file",
    });

    // A local edit, a new upstream commit, and a restart: fast-forwarded, the edit kept.
    await jupyterPut(ip, "project/mine.txt", "local work");
    writeFileSync(join(root, "work", "CHANGELOG.md"), "second\n");
    execFileSync("git", ["-C", join(root, "work"), "add", "."]);
    execFileSync("git", [
      "-C",
      join(root, "work"),
      "-c",
      "user.name=t",
      "-c",
      "user.email=t@t",
      "commit",
      "-qm",
      "second",
    ]);
    execFileSync("git", ["-C", join(root, "work"), "push", "-q", "origin", "main"]);
    await patchWorkspace(c, ns.name, "cloned", { running: false });
    await waitWorkspace(c, ns.name, "cloned", "Stopped", (w) => w.status?.phase === "Stopped");
    await patchWorkspace(c, ns.name, "cloned", { running: true });
    ws = await waitWorkspace(c, ns.name, "cloned", "Ready again", isReady, 90_000);
    const ip2 = await podIP(ws.status!.children!.pod!);
    assert.equal(
      (await jupyterGet(ip2, "project/CHANGELOG.md")).content,
      "second\n",
      "fast-forwarded to the new commit",
    );
    assert.equal((await jupyterGet(ip2, "project/mine.txt")).content, "local work", "local changes kept");
  } finally {
    if (daemon.pid) process.kill(-daemon.pid, "SIGKILL");
  }
});

test("changing the WorkspaceClass rolls the workspaces that use it", async () => {
  const cls = uniqueName("rolling");
  await createClass(c, tinyClass(cls));
  try {
    await createWorkspace(c, workspace(ns.name, "rolls", { className: cls }));
    const before = await waitWorkspace(c, ns.name, "rolls", "Ready", isReady);
    const podName = before.status!.children!.pod!;
    const oldUid = (await c.core.readNamespacedPod({ name: podName, namespace: ns.name })).metadata!.uid;
    await kubectl(
      "patch",
      "workspaceclass",
      cls,
      "--type",
      "merge",
      "-p",
      JSON.stringify({ spec: { env: [{ name: "ROLLED", value: "yes" }] } }),
    );
    const pod = await eventually("a new pod with the class change", async () => {
      const p = await c.core.readNamespacedPod({ name: podName, namespace: ns.name }).catch(() => undefined);
      return p && p.metadata!.uid !== oldUid && p.spec?.containers[0]?.env?.some((e) => e.name === "ROLLED")
        ? p
        : undefined;
    });
    assert.ok(pod);
    await waitWorkspace(c, ns.name, "rolls", "Ready after the roll", isReady);
    const events = await c.core.listNamespacedEvent({
      namespace: ns.name,
      fieldSelector: "involvedObject.name=rolls",
    });
    assert.ok(
      events.items.some((e) => e.reason === "Rolling"),
      `a Rolling event says why the pod was replaced: ${events.items.map((e) => e.reason).join(",")}`,
    );
  } finally {
    await deleteClass(c, cls);
  }
});

test("unknown class, missing secret and unpullable image: a condition says what is wrong, without a hot loop", async () => {
  const broken = uniqueName("broken");
  await createClass(c, {
    ...tinyClass(broken),
    spec: { ...tinyClass(broken).spec, image: "registry.invalid/none:1" },
  });
  try {
    await createWorkspace(c, workspace(ns.name, "no-class", { className: "does-not-exist" }));
    await createWorkspace(
      c,
      workspace(ns.name, "no-secret", {
        className: tiny,
        repository: { url: "https://git.invalid/x.git", secretRef: { name: "absent" } },
      }),
    );
    await createWorkspace(c, workspace(ns.name, "no-image", { className: broken }));

    const noClass = await waitWorkspace(
      c,
      ns.name,
      "no-class",
      "ClassNotFound",
      (w) => condition(w, "Ready")?.reason === "ClassNotFound",
    );
    assert.match(noClass.status?.message ?? "", /does-not-exist/);
    const noSecret = await waitWorkspace(
      c,
      ns.name,
      "no-secret",
      "SecretNotFound",
      (w) => condition(w, "Ready")?.reason === "SecretNotFound",
    );
    assert.match(noSecret.status?.message ?? "", /absent/);
    assert.match(noSecret.status?.message ?? "", /spec\.repository\.secretRef/);
    const noImage = await waitWorkspace(c, ns.name, "no-image", "an image pull failure", (w) =>
      /ImagePull|ErrImagePull/.test(condition(w, "Ready")?.reason ?? ""),
    );
    assert.match(noImage.status?.message ?? "", /registry\.invalid\/none:1/);
    for (const w of [noClass, noSecret, noImage])
      assert.equal(w.status?.phase, "Failed", `${w.metadata.name} is Failed`);

    // Bounded: over 10 s the operator reconciles these three only a handful of times.
    const before = await op.metric("portico_operator_reconciles_total");
    await new Promise((r) => setTimeout(r, 10_000));
    const rate = ((await op.metric("portico_operator_reconciles_total")) - before) / 10;
    assert.ok(rate < 3, `reconcile rate stays bounded while broken: ${rate}/s`);
    console.log(`# reconcile rate with 3 broken workspaces: ${rate.toFixed(2)}/s`);

    // Fixing the cause heals it: the class appears → the workspace starts.
    await createClass(c, tinyClass("does-not-exist"));
    await waitWorkspace(c, ns.name, "no-class", "Ready once its class exists", isReady);
  } finally {
    await deleteClass(c, broken);
    await deleteClass(c, "does-not-exist");
  }
});

test("two workspaces of one user with scope user share one claim, co-located by pod affinity", async () => {
  const spec = { className: tiny, storage: { scope: "user" as const } };
  await createWorkspace(c, {
    ...workspace(ns.name, "home-a", spec),
    spec: { ...workspace(ns.name, "home-a", spec).spec, owner: "carol" },
  });
  await createWorkspace(c, {
    ...workspace(ns.name, "home-b", spec),
    spec: { ...workspace(ns.name, "home-b", spec).spec, owner: "carol" },
  });
  const a = await waitWorkspace(c, ns.name, "home-a", "Ready", isReady);
  const b = await waitWorkspace(c, ns.name, "home-b", "Ready", isReady);
  assert.equal(a.status?.children?.pvc, b.status?.children?.pvc, "one claim for both");
  const claims = (await c.core.listNamespacedPersistentVolumeClaim({ namespace: ns.name })).items.filter(
    (p) => p.metadata?.name === a.status?.children?.pvc,
  );
  assert.equal(claims.length, 1);
  assert.equal(
    claims[0]!.metadata?.ownerReferences?.length ?? 0,
    0,
    "Retain (default): the shared claim has no owner",
  );
  const pods = await Promise.all(
    [a, b].map((w) => c.core.readNamespacedPod({ name: w.status!.children!.pod!, namespace: ns.name })),
  );
  for (const p of pods) {
    const term = p.spec?.affinity?.podAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.[0];
    assert.equal(
      term?.topologyKey,
      "kubernetes.io/hostname",
      "required affinity to the claim's other pods, per node",
    );
    assert.ok(Object.values(term?.labelSelector?.matchLabels ?? {}).includes(a.status!.children!.pvc!));
  }
  assert.equal(pods[0]!.spec?.nodeName, pods[1]!.spec?.nodeName, "on one node");
});
