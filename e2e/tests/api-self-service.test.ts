/**
 * The self-service API end to end, as its users would use it (issue 13's "Done when"): a real
 * cluster and operator, the real OpenID provider (tokens and a browser session), a real git server
 * (git http-backend behind the Gitea stand-in, e2e/fixtures/git-server.ts, which checks the
 * provider's real tokens), real code-server, real Chromium.
 *
 * - alice provisions her private repository through GraphQL with her own access token; provisioning
 *   again returns the same instance; the URL opens in Chromium with the repository cloned; she edits
 *   files, stops and starts (the edits are kept); upstream gets a commit and `syncRepository` brings
 *   it in while her uncommitted edit survives; `deleteCodeServer` removes the workspace and its volume.
 * - The same through REST (`POST /api/v1/provision`, start/stop/sync with 202 + Location, ETags,
 *   logs, DELETE ?deleteVolume=true).
 * - bob sees none of alice's workspaces through any route or query and gets 404 for her ids; an
 *   admin's `instanceStats` counts both; bob's third workspace past a limit of 2 gets 429 with the
 *   candidates to delete.
 */
import { before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { addCommit, createRepository, startGitServer, type GitServer } from "../fixtures/git-server.ts";
import { demoClass } from "../../scripts/demo-objects.ts";
import { checkVSCodeOpensClone, INSTALL_CODE_SERVER, vscodeClass, writeToVolume } from "../ide/checks.ts";
import { api, apiProxyFlags, gql, sessionCookie } from "../lib/api-client.ts";
import { launchBrowser, type TestBrowser } from "../lib/browser.ts";
import { eventually, uniqueName } from "../lib/kube.ts";
import { startOidcProvider, type OidcProvider } from "../lib/oidc.ts";
import { stateDir } from "../lib/operator.ts";
import { startProxy, type ProxyProcess } from "../lib/proxy.ts";
import { clusterSuite } from "../lib/suite.ts";
import { createClass, deleteClass, getWorkspace, tinyClass } from "../lib/workspaces.ts";

const PROVIDER = "198.18.0.110";
const GIT = "198.18.0.111";
const PROXY = "198.18.0.112";
const PUBLIC = "http://portico.test:8080";

// Workspace URLs carry the proxy's port (8080 here), as a browser reaches it.
const suite = clusterSuite("api", { classes: { tiny: tinyClass }, operator: ["--url-port=8080"] });
const c = suite.c;
const vscode = uniqueName("api-vscode");
/** Users' namespaces: the proxy maps `{user}` into `{prefix}-{user}` (--api-namespace). */
const prefix = uniqueName("api-u");
const nsOf = (user: string) => `${prefix}-${user}`;
let idp: OidcProvider;
let git: GitServer;
let px: ProxyProcess;
let browser: TestBrowser;

before(async () => {
  await promisify(execFile)("bash", [INSTALL_CODE_SERVER], { timeout: 20 * 60_000 });
  await suite.ready();
  for (const user of ["alice", "bob", "admin"]) {
    await c.core.createNamespace({ body: { metadata: { name: nsOf(user) } } });
    // The clone credentials provisioned workspaces use (--git-secret): the git server's machine account.
    await c.core.createNamespacedSecret({
      namespace: nsOf(user),
      body: {
        metadata: { name: "git-clone" },
        stringData: { username: "portico-bot", password: "bot-secret" },
      },
    });
  }
  suite.onTeardown(async () => {
    for (const user of ["alice", "bob", "admin"])
      await c.core.deleteNamespace({ name: nsOf(user) }).catch(() => undefined);
  });
  // The demo's way of opening a clone (scripts/demo-objects.ts): VS Code opens the folder of alice's
  // `analysis` clone, trusted, and the class lets git speak plain HTTP (the test's git server).
  await createClass(c, demoClass(await vscodeClass(vscode), `http://${GIT}:3000/alice/analysis.git`));
  suite.onTeardown(() => deleteClass(c, vscode));

  idp = await startOidcProvider({
    address: PROVIDER,
    port: 9000,
    redirectUris: [`${PUBLIC}/__portico/auth/callback`],
    name: "api-oidc",
  });
  suite.onTeardown(() => idp.stop());
  const root = join(stateDir(), uniqueName("api-git"));
  await createRepository(root, "alice", "analysis", {
    "README.md": "# Analysis\n\nfirst version\n",
    "data.py": "rows = [1, 2, 3]\n",
  });
  await createRepository(root, "alice", "second", { "README.md": "# Second\n" });
  git = await startGitServer({
    root,
    issuer: idp.issuer,
    host: GIT,
    port: 3000,
    machine: { user: "portico-bot", password: "bot-secret" },
    repos: [
      { owner: "alice", name: "analysis", private: true },
      { owner: "alice", name: "second", private: true },
    ],
  });
  suite.onTeardown(() => git.close());
  px = await startProxy({
    address: PROXY,
    port: 8080,
    name: "api-proxy",
    flags: apiProxyFlags(idp, PUBLIC, prefix, git, [
      "--api-max-workspaces=2",
      "--git-secret=git-clone",
      `--git-class=${vscode}`,
    ]),
  });
  suite.onTeardown(() => px.stop());
  browser = await launchBrowser({ parentDir: stateDir(), hostMap: { "portico.test": PROXY } });
  suite.onTeardown(() => browser.close());
});

const token = async (user: string) => (await idp.tokensFor(user)).accessToken;

const INSTANCE = "id userId repoName repoOwner url status createdAt lastAccessedAt storageUsed";

/** A GraphQL operation as `user`; its data (asserting no errors). */
async function op(user: string, query: string, variables?: Record<string, unknown>) {
  const a = await gql(px, await token(user), query, variables);
  assert.equal(a.status, 200, a.body);
  assert.equal(a.json.errors, undefined, a.body);
  return a.json.data;
}

/** Polls codeServerStatus until it is `want`. */
const statusIs = (user: string, id: string, want: string, ms = 180_000) =>
  eventually(
    `${id} ${want}`,
    async () =>
      (await op(user, "query($id: ID!) { codeServerStatus(id: $id) }", { id })).codeServerStatus === want
        ? true
        : undefined,
    ms,
    500,
  );

/** The local directory behind a workspace's volume (the pod runner's hostPath). */
async function volumeDir(namespace: string, name: string): Promise<string> {
  const ws = await getWorkspace(c, namespace, name);
  const pvc = await c.core.readNamespacedPersistentVolumeClaim({
    name: ws.status!.children!.pvc!,
    namespace,
  });
  const pv = await c.core.readPersistentVolume({ name: pvc.spec!.volumeName! });
  return pv.spec!.hostPath!.path;
}

/** A browser page logged in as `user` (the session cookie a login gives, on the base domain). */
async function loginBrowser(user: string): Promise<void> {
  const cookie = await sessionCookie(px, idp, user);
  const [name, value] = [cookie.slice(0, cookie.indexOf("=")), cookie.slice(cookie.indexOf("=") + 1)];
  await browser.context.addCookies([{ name, value, domain: ".portico.test", path: "/", httpOnly: true }]);
}

const goneFromCluster = (namespace: string, name: string, pvc: string) =>
  eventually(
    `${namespace}/${name} and its volume gone`,
    async () => {
      const ws = await getWorkspace(c, namespace, name).then(
        () => true,
        () => false,
      );
      const claim = await c.core.readNamespacedPersistentVolumeClaim({ name: pvc, namespace }).then(
        () => true,
        () => false,
      );
      return !ws && !claim ? true : undefined;
    },
    120_000,
  );

test("GraphQL: alice provisions her repository with her own token, opens it in Chromium, edits, stops and starts, syncs upstream, deletes", async () => {
  const provision = `mutation($o: String!, $r: String!) { provisionCodeServer(repoOwner: $o, repoName: $r) { isNew message instance { ${INSTANCE} } } }`;
  const first = (await op("alice", provision, { o: "alice", r: "analysis" })).provisionCodeServer;
  assert.equal(first.isNew, true);
  const inst = first.instance;
  assert.equal(inst.userId, "alice");
  assert.equal(inst.repoOwner, "alice");
  assert.equal(inst.repoName, "analysis");
  // The git server was asked with alice's own token before anything was made.
  assert.ok(
    git.requests.some(
      (r) => r.url === "/api/v1/repos/alice/analysis" && r.user === "alice" && r.status === 200,
    ),
  );
  const again = (await op("alice", provision, { o: "alice", r: "analysis" })).provisionCodeServer;
  assert.equal(again.isNew, false, "the same repository again: the same instance");
  assert.equal(again.instance.id, inst.id);

  await statusIs("alice", inst.id, "RUNNING");
  const [namespace, name] = inst.id.split("/");
  assert.equal(namespace, nsOf("alice"));
  const url = (await op("alice", `query($id: ID!) { codeServer(id: $id) { url } }`, { id: inst.id }))
    .codeServer.url;
  assert.match(url, /^http:\/\/.*\.portico\.test/);
  // Cloned with the machine account: the private repository came through git.
  assert.ok(
    git.requests.some(
      (r) => r.url.startsWith("/alice/analysis.git/info/refs") && r.user === "machine:portico-bot",
    ),
  );

  await loginBrowser("alice");
  await checkVSCodeOpensClone(
    browser,
    url,
    "analysis",
    { name: "data.py", content: "rows = [1, 2, 3]" },
    "api-vscode-provisioned",
  );

  // Her edits: a tracked file changed (not committed) and a new file.
  const dir = join(await volumeDir(namespace!, name!), "analysis");
  await writeToVolume(c, namespace!, name!, "analysis/data.py", "rows = [1, 2, 3, 4]  # alice\n");
  await writeToVolume(c, namespace!, name!, "analysis/notes.txt", "alice's notes\n");

  await op("alice", `mutation($id: ID!) { stopCodeServer(id: $id) { status } }`, { id: inst.id });
  await statusIs("alice", inst.id, "STOPPED");
  await op("alice", `mutation($id: ID!) { startCodeServer(id: $id) { status } }`, { id: inst.id });
  await statusIs("alice", inst.id, "RUNNING");
  assert.equal(
    await readFile(join(dir, "data.py"), "utf8"),
    "rows = [1, 2, 3, 4]  # alice\n",
    "the edit survived stop and start",
  );
  assert.equal(await readFile(join(dir, "notes.txt"), "utf8"), "alice's notes\n");

  const upstream = await addCommit(git.root, "alice", "analysis", {
    "README.md": "# Analysis\n\nsecond version\n",
  });
  await op("alice", `mutation($id: ID!) { syncRepository(id: $id) { id } }`, { id: inst.id });
  const synced = await eventually(
    "the sync done",
    async () => {
      const ws = await getWorkspace(c, namespace!, name!);
      const s = (ws.status as { sync?: { state: string; commit?: string } }).sync;
      return s && (s.state === "Succeeded" || s.state === "Failed") ? s : undefined;
    },
    120_000,
  );
  assert.equal(synced.state, "Succeeded", JSON.stringify(synced));
  assert.equal(
    await readFile(join(dir, "README.md"), "utf8"),
    "# Analysis\n\nsecond version\n",
    "upstream's change came in",
  );
  assert.equal(
    await readFile(join(dir, "data.py"), "utf8"),
    "rows = [1, 2, 3, 4]  # alice\n",
    "her uncommitted edit survived",
  );
  assert.equal(await readFile(join(dir, "notes.txt"), "utf8"), "alice's notes\n");
  assert.ok(synced.commit === upstream || (synced.commit ?? "").length > 0, "the sync names the commit");

  const logs = (await op("alice", `query($id: ID!) { codeServerLogs(id: $id, lines: 50) }`, { id: inst.id }))
    .codeServerLogs;
  assert.ok(typeof logs === "string" && logs.length > 0, "the IDE's log");

  const pvc = (await getWorkspace(c, namespace!, name!)).status!.children!.pvc!;
  assert.equal(
    (await op("alice", `mutation($id: ID!) { deleteCodeServer(id: $id) }`, { id: inst.id })).deleteCodeServer,
    true,
  );
  await goneFromCluster(namespace!, name!, pvc);
});

test("REST: the same through /api/v1 — provision, ETag and If-Match, stop/start/sync with 202 and Location, logs, delete with the volume", async () => {
  const t = await token("alice");
  const made = await api(px, {
    method: "POST",
    path: "/api/v1/provision",
    token: t,
    body: { repoOwner: "alice", repoName: "second" },
  });
  assert.equal(made.status, 201, made.body);
  const { namespace, name } = made.json.workspace;
  const self = `/api/v1/workspaces/${namespace}/${name}`;
  const again = await api(px, {
    method: "POST",
    path: "/api/v1/provision",
    token: t,
    body: { repoOwner: "alice", repoName: "second" },
  });
  assert.equal(again.status, 200, again.body);
  assert.equal(again.json.isNew, false);

  const ready = await eventually(
    "ready through REST",
    async () => {
      const a = await api(px, { path: self, token: await token("alice") });
      return a.status === 200 && a.json.status === "RUNNING" ? a : undefined;
    },
    180_000,
    500,
  );
  assert.equal(ready.headers.etag, `"${ready.json.resourceVersion}"`);
  // The IDE answers through the proxy at the URL the API gave.
  const page = await api(px, {
    path: "/",
    host: new URL(ready.json.url).host,
    token: t,
    headers: { accept: "text/html" },
  });
  assert.ok([200, 302].includes(page.status), `the IDE at ${ready.json.url}: ${page.status}`);

  await writeToVolume(c, namespace, name, "second/mine.txt", "kept\n");
  const stale = await api(px, {
    method: "PATCH",
    path: self,
    token: t,
    body: { running: false },
    headers: { "if-match": '"1"' },
  });
  assert.equal(stale.status, 412, stale.body);
  const stop = await api(px, { method: "POST", path: `${self}/stop`, token: t });
  assert.equal(stop.status, 202, stop.body);
  assert.equal(stop.headers.location, self);
  await eventually(
    "stopped",
    async () => ((await api(px, { path: self, token: t })).json.status === "STOPPED" ? true : undefined),
    120_000,
    500,
  );
  const start = await api(px, { method: "POST", path: `${self}/start`, token: t });
  assert.equal(start.status, 202, start.body);
  await eventually(
    "running",
    async () =>
      (await api(px, { path: self, token: await token("alice") })).json.status === "RUNNING"
        ? true
        : undefined,
    180_000,
    500,
  );
  const dir = join(await volumeDir(namespace, name), "second");
  assert.equal(await readFile(join(dir, "mine.txt"), "utf8"), "kept\n");

  await addCommit(git.root, "alice", "second", { "NEW.md": "from upstream\n" });
  const sync = await api(px, { method: "POST", path: `${self}/sync`, token: await token("alice") });
  assert.equal(sync.status, 202, sync.body);
  const done = await eventually(
    "synced",
    async () => {
      const s = (await api(px, { path: self, token: await token("alice") })).json.sync;
      return s && s.state !== "Pending" && s.state !== "Running" ? s : undefined;
    },
    120_000,
    500,
  );
  assert.equal(done.state, "Succeeded", JSON.stringify(done));
  assert.equal(await readFile(join(dir, "NEW.md"), "utf8"), "from upstream\n");
  assert.equal(await readFile(join(dir, "mine.txt"), "utf8"), "kept\n");

  const logs = await api(px, {
    path: `${self}/logs?lines=20`,
    token: await token("alice"),
    headers: { accept: "text/plain" },
  });
  assert.equal(logs.status, 200, logs.body);
  assert.ok(logs.body.split("\n").filter(Boolean).length <= 20);

  const pvc = (await getWorkspace(c, namespace, name)).status!.children!.pvc!;
  const del = await api(px, {
    method: "DELETE",
    path: `${self}?deleteVolume=true`,
    token: await token("alice"),
  });
  assert.ok([200, 202, 204].includes(del.status), del.body);
  await goneFromCluster(namespace, name, pvc);
});

test("bob sees none of alice's workspaces and gets 404 for her ids; admin's instanceStats counts both; bob's third workspace gets 429 with candidates", async () => {
  const alice = await token("alice");
  const mine = await api(px, {
    method: "POST",
    path: "/api/v1/workspaces",
    token: alice,
    body: { className: suite.cls.tiny, name: "alices", running: false },
  });
  assert.equal(mine.status, 201, mine.body);
  const id = `${nsOf("alice")}/alices`;
  const bob = await token("bob");
  for (const b of [
    { className: suite.cls.tiny, name: "b1", running: false },
    { className: suite.cls.tiny, name: "b2", running: false },
  ]) {
    const a = await api(px, { method: "POST", path: "/api/v1/workspaces", token: bob, body: b });
    assert.equal(a.status, 201, a.body);
  }
  // Nothing of alice's through any route or query.
  const list = await api(px, { path: "/api/v1/workspaces", token: bob });
  assert.deepEqual(list.json.items.map((w: { name: string }) => w.name).sort(), ["b1", "b2"]);
  assert.equal((await api(px, { path: `/api/v1/workspaces/${id}`, token: bob })).status, 404);
  assert.equal(
    (await api(px, { method: "POST", path: `/api/v1/workspaces/${id}/start`, token: bob })).status,
    404,
  );
  assert.equal(
    (await api(px, { method: "DELETE", path: `/api/v1/workspaces/${id}`, token: bob })).status,
    404,
  );
  assert.equal((await api(px, { path: `/api/v1/workspaces/${id}/logs?lines=5`, token: bob })).status, 404);
  assert.equal((await api(px, { path: "/api/v1/analysis", token: bob })).status, 404);
  const mineQ = await gql(px, bob, `{ myCodeServers { id } }`);
  assert.deepEqual(mineQ.json.data.myCodeServers.map((i: { id: string }) => i.id).sort(), [
    `${nsOf("bob")}/b1`,
    `${nsOf("bob")}/b2`,
  ]);
  for (const q of [
    `{ codeServer(id: "${id}") { id } }`,
    `{ codeServerStatus(id: "${id}") }`,
    `{ codeServerLogs(id: "${id}", lines: 5) }`,
    `mutation { stopCodeServer(id: "${id}") { id } }`,
    `mutation { deleteCodeServer(id: "${id}") }`,
  ]) {
    const a = await gql(px, bob, q);
    assert.equal(a.json.errors?.[0]?.extensions?.code, "NOT_FOUND", `${q}: ${a.body}`);
  }
  assert.equal(
    (await getWorkspace(c, nsOf("alice"), "alices")).spec.running,
    false,
    "alice's workspace untouched",
  );

  // Both users' workspaces (and any other e2e file's: the cluster is shared), once the caches saw them.
  const stats = await eventually(
    "instanceStats counts alice's and bob's workspaces",
    async () => {
      const a = await gql(
        px,
        await token("admin"),
        `{ instanceStats { totalInstances runningInstances stoppedInstances totalStorageUsed } }`,
      );
      assert.equal(a.json.errors, undefined, a.body);
      const s = a.json.data.instanceStats;
      return s.totalInstances >= 3 && s.stoppedInstances >= 3 ? s : undefined;
    },
    30_000,
  );
  assert.ok(stats.totalStorageUsed >= 3 * 2 ** 30, JSON.stringify(stats));
  const denied = await gql(px, bob, `{ instanceStats { totalInstances } }`);
  assert.equal(denied.json.errors?.[0]?.extensions?.code, "FORBIDDEN");

  const third = await api(px, {
    method: "POST",
    path: "/api/v1/workspaces",
    token: bob,
    body: { className: suite.cls.tiny, name: "b3", running: false },
  });
  assert.equal(third.status, 429, third.body);
  assert.equal(third.json.limit, 2);
  assert.equal(third.json.current, 2);
  assert.deepEqual(third.json.candidates.map((w: { name: string }) => w.name).sort(), ["b1", "b2"]);
  await assert.rejects(getWorkspace(c, nsOf("bob"), "b3"), "nothing created");
});

test("metrics: provisions timed to Ready, workspaces by status, API requests by route template and code", async () => {
  // Both provisions above were observed from call to Ready by this proxy.
  assert.ok((await px.metric("portico_api_provision_duration_seconds_count")) >= 2);
  const text = await px.metrics();
  assert.match(text, /portico_api_instances\{status="STOPPED"\} [1-9]/);
  assert.ok(
    (await px.metric("portico_proxy_requests_total", { route: "api:POST /api/v1/provision", code: "201" })) >=
      1,
  );
  assert.ok(
    (await px.metric("portico_proxy_requests_total", { route: "api:POST /graphql", code: "200" })) >= 1,
  );
  // An API request's raw path (with a namespace and name) never becomes a label: one series per route
  // template. (Workspace traffic is labelled by workspace, by design: proxy/metrics.ts.)
  assert.doesNotMatch(text, new RegExp(`route="api:[^"]*${nsOf("alice")}`));
});
