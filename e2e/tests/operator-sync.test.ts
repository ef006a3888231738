/**
 * Repository sync and the per-user running limit, end to end on the real cluster with the real
 * operator and pod runner. A real git server (`git http-backend` behind e2e/fixtures/git-http.ts)
 * listens inside the cluster's network namespace; a Workspace clones from it; a user edit is
 * written into the workspace's volume (the runner's local directory behind its PersistentVolume);
 * upstream gets a commit; the `portico.dev/sync-requested` annotation makes the operator run a sync
 * pod, whose result (read from the container's termination message) lands in `status.sync`, the
 * `Synced` condition and an Event. Then an owner limited to one running workspace gets a second one
 * that waits (`UserLimitReached`) and starts by itself when the first is stopped.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Workspace } from "../../crds/types.ts";
import type { V1NetworkPolicy } from "@kubernetes/client-node";
import { SYNC_OF_LABEL, SYNC_REQUESTED_ANNOTATION } from "../../common/model/workspace/names.ts";
import { startGitHttpServer, type GitHttpServer } from "../fixtures/git-http.ts";
import { clients, eventually, uniqueName, withNamespace, type Clients } from "../lib/kube.ts";
import { startOperator, stateDir, type OperatorProcess } from "../lib/operator.ts";
import {
  condition,
  createClass,
  createWorkspace,
  deleteClass,
  isReady,
  kubectl,
  patchWorkspace,
  tinyClass,
  waitWorkspace,
  workspace,
} from "../lib/workspaces.ts";

/** An address of the cluster's network namespace (198.18.0.0/16 is local there). */
const GIT_HOST = "198.18.0.21";

let c: Clients;
let ns: { name: string; drop: () => Promise<void> };
let op: OperatorProcess;
let server: GitHttpServer;
let root = "";
const cls = uniqueName("sync");

const git = (cwd: string, ...args: string[]) =>
  execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@t", ...args], {
    cwd,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, GIT_CONFIG_NOSYSTEM: "1", HOME: root },
  }).trim();

before(async () => {
  c = clients();
  ns = await withNamespace(c, "sync");
  const k = tinyClass(cls);
  k.spec.git = { allowedProtocols: ["http"] };
  await createClass(c, k);
  root = mkdtempSync(join(stateDir(), "git-sync-"));
  server = await startGitHttpServer({ root, host: GIT_HOST });
  op = await startOperator(["--lease-name=sync", "--max-running-per-user=1"], "sync");
});

after(async () => {
  await op?.stop();
  await ns?.drop();
  await deleteClass(c, cls);
  await server?.close();
});

/** The local directory behind the workspace's volume (the runner's local-dir PersistentVolume). */
async function volumeDir(ws: Workspace): Promise<string> {
  return eventually(`volume of ${ws.metadata.name}`, async () => {
    const pvc = await c.core.readNamespacedPersistentVolumeClaim({
      name: ws.status!.children!.pvc!,
      namespace: ns.name,
    });
    if (!pvc.spec?.volumeName) return undefined;
    return (await c.core.readPersistentVolume({ name: pvc.spec.volumeName })).spec?.hostPath?.path;
  });
}

test("sync merges a new upstream commit into the running workspace and keeps the uncommitted edit", async () => {
  git(root, "init", "-q", "--bare", "-b", "main", "project.git");
  git(root, "clone", "-q", join(root, "project.git"), "work");
  const work = join(root, "work");
  writeFileSync(join(work, "README.md"), "hello\n");
  writeFileSync(join(work, "notes.md"), "upstream notes\n");
  git(work, "add", ".");
  git(work, "commit", "-qm", "first");
  git(work, "push", "-q", "origin", "main");

  await createWorkspace(
    c,
    workspace(ns.name, "synced", {
      className: cls,
      owner: "dora",
      repository: { url: `${server.url}/project.git`, ref: "main" },
    }),
  );
  const ws = await waitWorkspace(c, ns.name, "synced", "Ready", isReady, 90_000);
  const clone = join(await volumeDir(ws), "project");
  assert.equal(readFileSync(join(clone, "README.md"), "utf8"), "hello\n", "cloned at start");

  // The user's uncommitted edit, and a new upstream commit touching another file.
  writeFileSync(join(clone, "notes.md"), "upstream notes\nmy own line\n");
  writeFileSync(join(work, "README.md"), "hello, second version\n");
  git(work, "commit", "-qam", "second");
  git(work, "push", "-q", "origin", "main");
  const upstream = git(work, "rev-parse", "HEAD");

  const request = `${new Date().toISOString().replace(/\.\d+Z$/, "Z")}-e2e1`;
  await kubectl("annotate", "workspace", "synced", "-n", ns.name, `${SYNC_REQUESTED_ANNOTATION}=${request}`);
  const done = await waitWorkspace(
    c,
    ns.name,
    "synced",
    "sync finished",
    (w) => w.status?.sync?.requested === request && ["Succeeded", "Failed"].includes(w.status.sync.state),
    90_000,
  );
  assert.equal(done.status!.sync!.state, "Succeeded", done.status!.sync!.message);
  assert.equal(done.status!.sync!.commit, upstream);
  assert.deepEqual(
    [condition(done, "Synced")?.status, condition(done, "Synced")?.reason],
    ["True", "Merged"],
  );
  assert.equal(
    readFileSync(join(clone, "README.md"), "utf8"),
    "hello, second version\n",
    "upstream's change",
  );
  assert.equal(readFileSync(join(clone, "notes.md"), "utf8"), "upstream notes\nmy own line\n", "the edit");
  assert.equal(git(clone, "rev-parse", "HEAD"), upstream);
  assert.equal(git(clone, "diff", "--name-only", "HEAD"), "notes.md", "the edit is still uncommitted");
  assert.ok(isReady(done), "the workspace stayed Ready");

  // The Event, and the one-shot pod gone once its result is recorded.
  await eventually("Merged event", async () => {
    const events = await c.core.listNamespacedEvent({
      namespace: ns.name,
      fieldSelector: `involvedObject.name=synced,reason=Merged`,
    });
    return events.items.length ? events.items : undefined;
  });
  const policy = JSON.parse(
    await kubectl("get", "networkpolicy", "ws-synced-sync", "-n", ns.name, "-o", "json"),
  ) as V1NetworkPolicy;
  assert.deepEqual(
    policy.spec?.podSelector?.matchLabels,
    { [SYNC_OF_LABEL]: "synced" },
    "its own egress policy",
  );
  await eventually("sync pod deleted", async () => {
    const pods = await c.core.listNamespacedPod({ namespace: ns.name });
    return pods.items.some((p) => p.metadata?.name === "ws-synced-sync") ? undefined : true;
  });

  // A stopped workspace keeps a new request Pending; it runs once the workspace is running again.
  await patchWorkspace(c, ns.name, "synced", { running: false });
  await waitWorkspace(c, ns.name, "synced", "Stopped", (w) => w.status?.phase === "Stopped");
  await kubectl(
    "annotate",
    "--overwrite",
    "workspace",
    "synced",
    "-n",
    ns.name,
    `${SYNC_REQUESTED_ANNOTATION}=${request}-2`,
  );
  const waiting = await waitWorkspace(
    c,
    ns.name,
    "synced",
    "sync pending",
    (w) => w.status?.sync?.requested === `${request}-2`,
  );
  assert.deepEqual(
    [waiting.status!.sync!.state, condition(waiting, "Synced")?.reason],
    ["Pending", "NotRunning"],
  );
  await patchWorkspace(c, ns.name, "synced", { running: true });
  const later = await waitWorkspace(
    c,
    ns.name,
    "synced",
    "pending sync ran after the start",
    (w) => w.status?.sync?.requested === `${request}-2` && w.status.sync.state === "Succeeded",
    90_000,
  );
  assert.equal(condition(later, "Synced")?.reason, "UpToDate");
  await patchWorkspace(c, ns.name, "synced", { running: false });
});

test("one running workspace per user: the second waits with UserLimitReached and starts when the first stops", async () => {
  await createWorkspace(c, workspace(ns.name, "first", { className: cls, owner: "erin" }));
  await waitWorkspace(c, ns.name, "first", "Ready", isReady, 90_000);
  await createWorkspace(c, workspace(ns.name, "second", { className: cls, owner: "erin" }));
  const waiting = await waitWorkspace(
    c,
    ns.name,
    "second",
    "UserLimitReached",
    (w) => condition(w, "Ready")?.reason === "UserLimitReached",
  );
  assert.equal(waiting.status?.phase, "Pending");
  assert.match(condition(waiting, "Ready")!.message, /limit of 1 .*--max-running-per-user.*: [^ ]+\/first\./);
  const pods = await c.core.listNamespacedPod({ namespace: ns.name });
  assert.ok(!pods.items.some((p) => p.metadata?.name === "ws-second"), "no pod for the waiting workspace");
  assert.ok(
    isReady(await waitWorkspace(c, ns.name, "first", "still Ready", isReady)),
    "the first keeps running",
  );

  await patchWorkspace(c, ns.name, "first", { running: false });
  await waitWorkspace(c, ns.name, "second", "Ready once the first stopped", isReady, 90_000);
});
