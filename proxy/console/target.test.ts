import assert from "node:assert/strict";
import test from "node:test";
import type { Workspace } from "../../crds/types.ts";
import {
  CHILD_SELECTOR,
  SYNC_OF_LABEL,
  WORKSPACE_ANNOTATION,
  WORKSPACE_LABEL,
} from "../../common/model/workspace/names.ts";
import type { Identity } from "../auth/identity.ts";
import { ApiError } from "../api/types.ts";
import { parseTarget, podRole, resolveTarget, type PodLike, type ResolveDeps } from "./target.ts";

const q = (s: string) => new URLSearchParams(s);
const status = (x: unknown) => (x as { status?: number }).status;

test("parseTarget: the two forms, each name as Kubernetes spells it", () => {
  assert.deepEqual(parseTarget(q("workspace=ws-alice/proj"), "logs"), {
    namespace: "ws-alice",
    workspace: "proj",
  });
  assert.deepEqual(parseTarget(q("ns=ws-alice&pod=ws-proj&container=git-clone"), "logs"), {
    namespace: "ws-alice",
    pod: "ws-proj",
    container: "git-clone",
  });
  assert.deepEqual(parseTarget(q("workspace=a/b.c"), "shell"), { namespace: "a", workspace: "b.c" });
});

test("parseTarget: injection, traversal, unicode, over-long, duplicates and unknown parameters are 400", () => {
  const bad = [
    "workspace=../kube-system/x",
    "workspace=a/b/c",
    "workspace=a%2Fb%2Fc",
    "workspace=kube-system",
    "workspace=a/",
    "ns=a&pod=../b",
    "ns=a/b&pod=c",
    "ns=a%2F..&pod=c",
    "ns=a&pod=b%2Fexec",
    "ns=a&pod=b&container=../x",
    "ns=a&pod=b&container=ide%00",
    "ns=Ä&pod=b",
    "ns=a&pod=pöd",
    `ns=${"a".repeat(64)}&pod=b`,
    `ns=a&pod=${"b".repeat(254)}`,
    "ns=a",
    "pod=b",
    "",
    "workspace=a/b&ns=a&pod=b",
    "ns=a&ns=b&pod=c",
    "ns=a&pod=b&command=rm",
    "ns=a&pod=b&tail=5",
  ];
  for (const s of bad) {
    const use = s.includes("tail") ? "shell" : "logs";
    const r = parseTarget(q(s), use);
    assert.equal(status(r), 400, s);
    assert.equal((r as { body: { error: string } }).body.error, "invalid", s);
  }
  assert.equal(status(parseTarget(q("ns=a&pod=b&tail=5"), "logs")), undefined, "tail is a logs parameter");
});

const uid = "uid-1";
const ws = (over: Partial<Workspace["metadata"]> = {}): Workspace =>
  ({
    apiVersion: "portico.dev/v1alpha1",
    kind: "Workspace",
    metadata: { name: "proj", namespace: "ns1", uid, ...over },
    spec: { owner: "alice", className: "tiny" },
  }) as unknown as Workspace;

const pod = (name: string, labels: Record<string, string>, over: Partial<PodLike> = {}): PodLike => ({
  metadata: {
    name,
    namespace: "ns1",
    labels: { ...CHILD_SELECTOR, ...labels },
    annotations: { [WORKSPACE_ANNOTATION]: "proj" },
    ownerReferences: [{ kind: "Workspace", uid }],
  },
  spec: { initContainers: [{ name: "git-clone" }], containers: [{ name: "ide" }] },
  status: { phase: "Running" },
  ...over,
});

const ide = pod("ws-proj", { [WORKSPACE_LABEL]: "proj" });
const sync = pod("ws-proj-sync", { [SYNC_OF_LABEL]: "proj" });

test("podRole: the IDE pod and the sync pod; an impostor with the labels but another owner, name or namespace is neither", () => {
  assert.equal(podRole(ide, ws()), "ide");
  assert.equal(podRole(sync, ws()), "sync");
  assert.equal(
    podRole(
      { ...ide, metadata: { ...ide.metadata, ownerReferences: [{ kind: "Workspace", uid: "other" }] } },
      ws(),
    ),
    undefined,
  );
  assert.equal(podRole({ ...ide, metadata: { ...ide.metadata, ownerReferences: [] } }, ws()), undefined);
  assert.equal(podRole({ ...ide, metadata: { ...ide.metadata, name: "ws-other" } }, ws()), undefined);
  assert.equal(podRole({ ...ide, metadata: { ...ide.metadata, namespace: "ns2" } }, ws()), undefined);
  assert.equal(
    podRole({ ...ide, metadata: { ...ide.metadata, labels: { [WORKSPACE_LABEL]: "proj" } } }, ws()),
    undefined,
  );
  assert.equal(podRole(ide, ws({ uid: undefined })), undefined, "no uid to compare: never trusted");
});

const alice: Identity = { user: "alice", groups: [], roles: [], via: "bearer" };
const bob: Identity = { user: "bob", groups: [], roles: [], via: "bearer" };
const carol: Identity = { user: "carol", groups: [], roles: [], via: "bearer" };

function deps(pods: Record<string, PodLike>): ResolveDeps & { reads: string[] } {
  const reads: string[] = [];
  return {
    reads,
    workspace(who, namespace, name) {
      if (namespace !== "ns1" || name !== "proj" || who.user === "bob")
        throw new ApiError(404, "not_found", `workspace ${namespace}/${name} not found`);
      if (who.user === "carol") throw new ApiError(403, "forbidden", "shared with you");
      return ws();
    },
    async readPod(namespace, name) {
      reads.push(`${namespace}/${name}`);
      return pods[`${namespace}/${name}`];
    },
  };
}

test("resolveTarget: the owner reaches the IDE pod (both forms), the sync pod's log, and the init container's", async () => {
  const d = deps({ "ns1/ws-proj": ide, "ns1/ws-proj-sync": sync });
  assert.deepEqual(await resolveTarget(d, alice, { namespace: "ns1", workspace: "proj" }, "shell"), {
    namespace: "ns1",
    workspace: "proj",
    pod: "ws-proj",
    container: "ide",
    role: "ide",
    exists: true,
  });
  const init = await resolveTarget(
    d,
    alice,
    { namespace: "ns1", pod: "ws-proj", container: "git-clone" },
    "logs",
  );
  assert.equal((init as { container: string }).container, "git-clone");
  const s = await resolveTarget(d, alice, { namespace: "ns1", pod: "ws-proj-sync" }, "logs");
  assert.equal((s as { role: string }).role, "sync");
});

test("resolveTarget: refusals — stranger 404 (same words as a missing pod), sharee 403, sync pod never a shell, init container never a shell", async () => {
  const other = pod("postgres", {}, { metadata: { name: "postgres", namespace: "ns1", labels: {} } });
  const d = deps({ "ns1/ws-proj": ide, "ns1/ws-proj-sync": sync, "ns1/postgres": other });
  const missing = await resolveTarget(d, alice, { namespace: "ns1", pod: "nope" }, "logs");
  const notWs = await resolveTarget(d, alice, { namespace: "ns1", pod: "postgres" }, "logs");
  assert.equal(status(missing), 404);
  assert.equal(status(notWs), 404);
  assert.equal(
    (missing as { body: { message: string } }).body.message.replace("nope", "X"),
    (notWs as { body: { message: string } }).body.message.replace("postgres", "X"),
  );
  const stranger = await resolveTarget(d, bob, { namespace: "ns1", pod: "ws-proj" }, "logs");
  assert.equal(status(stranger), 404);
  assert.equal(status(await resolveTarget(d, bob, { namespace: "ns1", workspace: "proj" }, "logs")), 404);
  assert.equal(status(await resolveTarget(d, carol, { namespace: "ns1", workspace: "proj" }, "shell")), 403);
  assert.equal(
    status(await resolveTarget(d, alice, { namespace: "ns1", pod: "ws-proj-sync" }, "shell")),
    404,
  );
  assert.equal(
    status(
      await resolveTarget(d, alice, { namespace: "ns1", pod: "ws-proj", container: "git-clone" }, "shell"),
    ),
    404,
  );
  assert.equal(
    status(await resolveTarget(d, alice, { namespace: "ns1", pod: "ws-proj", container: "nope" }, "logs")),
    404,
  );
});

test("resolveTarget: no pod yet — logs wait for it, a shell is 409", async () => {
  const d = deps({});
  const r = await resolveTarget(d, alice, { namespace: "ns1", workspace: "proj" }, "logs");
  assert.equal((r as { exists: boolean }).exists, false);
  assert.equal(status(await resolveTarget(d, alice, { namespace: "ns1", workspace: "proj" }, "shell")), 409);
  const stopped = deps({ "ns1/ws-proj": { ...ide, status: { phase: "Pending" } } });
  assert.equal(
    status(await resolveTarget(stopped, alice, { namespace: "ns1", workspace: "proj" }, "shell")),
    409,
  );
});
