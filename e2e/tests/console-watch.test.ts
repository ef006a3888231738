/**
 * The console's /ws/watch end to end (issue 14, item 2): a real cluster and operator, real users from
 * the OpenID provider (bearer tokens), two real proxy replicas on the same cluster with no sticky
 * sessions, each serving the socket under the chart's RBAC (pods and events read for the channels).
 *
 * - alice subscribes to her workspaces, pods and events, creates a workspace through the API and
 *   sees it ADDED, then MODIFIED until Running, its pod and its events; bob, watching the same
 *   channels at the same time, gets nothing of hers (and does get his own); an admin sees both.
 * - alice's tab watches through replica A and keeps the resourceVersion of its last frame; A is
 *   killed (SIGKILL); her workspaces change meanwhile (stopped, another created and deleted, through
 *   replica B); the tab reconnects to B with that resourceVersion and receives exactly the changes
 *   it missed: the sequence it saw over both replicas equals the one an independent Kubernetes watch
 *   saw, none missing, none repeated.
 */
import { before, test } from "node:test";
import assert from "node:assert/strict";
import * as k8s from "@kubernetes/client-node";
import { GROUP, VERSION, WORKSPACE, type Workspace } from "../../crds/types.ts";
import type { WatchChange } from "../../proxy/console/protocol.ts";
import { api, userNamespaces } from "../lib/api-client.ts";
import { loadKubeConfig, uniqueName } from "../lib/kube.ts";
import { startOidcProvider, type OidcProvider } from "../lib/oidc.ts";
import { startProxy, type ProxyProcess } from "../lib/proxy.ts";
import { clusterSuite } from "../lib/suite.ts";
import { consoleProxyFlags, openWatch, type WatchClient } from "../lib/watch-client.ts";
import { tinyClass } from "../lib/workspaces.ts";

const PROVIDER = "198.18.0.176";
const PROXY_A = "198.18.0.177";
const PROXY_B = "198.18.0.178";
const PUBLIC = "http://portico.test:8080";

const suite = clusterSuite("console-watch", { classes: { tiny: tinyClass } });
const prefix = uniqueName("cw");
const nsOf = (user: string) => `${prefix}-${user}`;
let idp: OidcProvider;
let pxA: ProxyProcess;
let pxB: ProxyProcess;
const tokens = new Map<string, string>();

before(async () => {
  await suite.ready();
  await userNamespaces(suite, prefix, ["alice", "bob"]);
  idp = await startOidcProvider({
    address: PROVIDER,
    port: 9000,
    redirectUris: [`${PUBLIC}/__portico/auth/callback`],
    name: "console-watch-oidc",
  });
  suite.onTeardown(() => idp.stop());
  // Two replicas, started before any client: both watch the same cluster from then on.
  for (const [address, name] of [
    [PROXY_A, "console-watch-a"],
    [PROXY_B, "console-watch-b"],
  ] as const) {
    const px = await startProxy({ address, port: 8080, name, flags: consoleProxyFlags(idp, PUBLIC, prefix) });
    suite.onTeardown(() => px.stop());
    if (address === PROXY_A) pxA = px;
    else pxB = px;
  }
  for (const user of ["alice", "bob", "admin"]) tokens.set(user, (await idp.tokensFor(user)).accessToken);
});

const as = (user: string) => tokens.get(user)!;
const watchAs = (px: ProxyProcess, user: string) => openWatch(px, { token: as(user) });
const phaseOf = (ch: WatchChange) => (ch.object.kind === "Workspace" ? String(ch.object.view.phase) : "");
const namesIn = (w: WatchClient) =>
  new Set(
    w.frames.flatMap((f) =>
      f.type === "snapshot"
        ? f.items.map((i) => i.name)
        : f.type === "changes"
          ? f.changes.map((ch) => ch.object.name)
          : [],
    ),
  );

async function createWorkspace(px: ProxyProcess, user: string, name: string, running = true): Promise<void> {
  const made = await api(px, {
    method: "POST",
    path: "/api/v1/workspaces",
    token: as(user),
    body: { className: suite.cls.tiny, name, running },
  });
  assert.equal(made.status, 201, made.body);
}

test("alice sees her new workspace ADDED, then MODIFIED to Running, with its pod and events; bob sees none of it", async () => {
  const alice = await watchAs(pxA, "alice");
  const bob = await watchAs(pxA, "bob");
  for (const w of [alice, bob])
    for (const channel of ["workspaces", "pods", "events"])
      w.send({ type: "subscribe", id: channel, channel });
  for (const w of [alice, bob])
    await w.until("three snapshots", () => w.frames.filter((f) => f.type === "snapshot").length === 3);
  await createWorkspace(pxA, "alice", "first");
  await alice.until("first Running", () =>
    alice.changes("workspaces").some((ch) => phaseOf(ch) === "Running"),
  );
  const ops = alice.changes("workspaces").filter((ch) => ch.object.name === "first");
  assert.equal(ops[0]!.op, "ADDED");
  assert.ok(
    ops.slice(1).every((ch) => ch.op === "MODIFIED"),
    JSON.stringify(ops.map((ch) => ch.op)),
  );
  const lastSeen = ops.at(-1)!.object;
  const view = lastSeen.kind === "Workspace" ? lastSeen.view : {};
  assert.equal(view.owner, "alice");
  assert.equal(view.namespace, nsOf("alice"));
  // The workspace's pod and the operator's events about it, on their channels.
  await alice.until("her pod", () =>
    alice.changes("pods").some((ch) => ch.object.kind === "Pod" && ch.object.workspace === "first"),
  );
  await alice.until("events about it", () =>
    alice.changes("events").some((ch) => ch.object.kind === "Event" && ch.object.workspace === "first"),
  );
  // No pod spec, env or managedFields travel: only the view.
  assert.doesNotMatch(JSON.stringify(alice.frames), /managedFields|"env"|"spec"/);

  // bob's socket is live (his own workspace reaches him) and never carried anything of alice's.
  await createWorkspace(pxA, "bob", "bobs", false);
  await bob.until("his own workspace", () =>
    bob.changes("workspaces").some((ch) => ch.object.name === "bobs"),
  );
  const bobSaw = JSON.stringify(bob.frames);
  assert.ok(!namesIn(bob).has("first"), bobSaw);
  assert.doesNotMatch(bobSaw, new RegExp(nsOf("alice")));
  // An admin sees both users' workspaces.
  const admin = await watchAs(pxB, "admin");
  admin.send({ type: "subscribe", id: "all", channel: "workspaces" });
  await admin.until(
    "both users' workspaces",
    () => namesIn(admin).has("first") && namesIn(admin).has("bobs"),
  );
  for (const w of [alice, bob, admin]) w.close();
});

/** Every event of an independent Kubernetes watch of alice's workspaces: `op name@rv`, in order. */
async function independentWatch(): Promise<{ seen: string[]; stop: () => void }> {
  const seen: string[] = [];
  const controller = await new k8s.Watch(loadKubeConfig()).watch(
    `/apis/${GROUP}/${VERSION}/namespaces/${nsOf("alice")}/${WORKSPACE.plural}`,
    {},
    (phase, obj: Workspace) => seen.push(`${phase} ${obj.metadata.name}@${obj.metadata.resourceVersion}`),
    () => undefined,
  );
  return { seen, stop: () => controller.abort() };
}

const rvOf = (entry: string) => BigInt(entry.split("@")[1]!);
const entriesOf = (changes: WatchChange[]) =>
  changes.map((ch) => `${ch.op} ${ch.object.name}@${ch.object.resourceVersion}`);

test("a replica is killed; the tab resumes on the other from its resourceVersion: no change missed, none repeated", async () => {
  const truth = await independentWatch();
  try {
    const tabA = await watchAs(pxA, "alice");
    tabA.send({ type: "subscribe", id: "mine", channel: "workspaces", namespace: nsOf("alice") });
    const snap = await tabA.until("the snapshot", () => tabA.frames.find((f) => f.type === "snapshot"));
    const from = BigInt(snap.type === "snapshot" ? snap.resourceVersion : "0");
    await createWorkspace(pxA, "alice", "second");
    await tabA.until("second Running", () =>
      tabA.changes("mine").some((ch) => ch.object.name === "second" && phaseOf(ch) === "Running"),
    );
    const last = tabA.frames.filter((f) => f.type === "changes").at(-1)!;
    const resumeAt = last.type === "changes" ? last.resourceVersion : "";
    const seenOnA = entriesOf(tabA.changes("mine"));
    await pxA.kill();
    await tabA.closed;

    // Meanwhile, through B: second is stopped, a third is created and deleted.
    const stop = await api(pxB, {
      method: "POST",
      path: `/api/v1/workspaces/${nsOf("alice")}/second/stop`,
      token: as("alice"),
    });
    assert.equal(stop.status, 202, stop.body);
    await createWorkspace(pxB, "alice", "third", false);
    const gone = await api(pxB, {
      method: "DELETE",
      path: `/api/v1/workspaces/${nsOf("alice")}/third`,
      token: as("alice"),
    });
    assert.ok([200, 202, 204].includes(gone.status), gone.body);
    await waitFor(() => truth.seen.some((e) => e.startsWith("DELETED third@")));

    const tabB = await watchAs(pxB, "alice");
    tabB.send({
      type: "subscribe",
      id: "mine",
      channel: "workspaces",
      namespace: nsOf("alice"),
      resourceVersion: resumeAt,
    });
    const first = await tabB.until("the answer to the resume", () => tabB.frames[0]);
    assert.equal(
      first.type,
      "changes",
      `a resume within B's history is served as changes, not a snapshot: ${JSON.stringify(first)}`,
    );
    // Wait until the tab has caught up with everything the independent watch has seen of these.
    const until = truth.seen.filter((e) => /^(ADDED|MODIFIED|DELETED) (second|third)@/.test(e)).map(rvOf);
    const target = until.reduce((a, b) => (a > b ? a : b));
    await tabB.until("everything the independent watch saw", () =>
      tabB.changes("mine").some((ch) => BigInt(ch.object.resourceVersion) >= target),
    );
    const window = (e: string) => rvOf(e) > from && rvOf(e) <= target;
    const got = [...seenOnA, ...entriesOf(tabB.changes("mine"))].filter(window);
    const want = truth.seen.filter(window);
    assert.deepEqual(got, want);
    assert.equal(new Set(got).size, got.length, "no change repeated");
    assert.ok(want.some((e) => e.startsWith("DELETED third@")) && want.length > seenOnA.length);
    tabB.close();
  } finally {
    truth.stop();
  }
});

/** Waits on a condition the test cannot be told about (the independent watch's array). */
async function waitFor(check: () => boolean, ms = 120_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 50));
  }
}
