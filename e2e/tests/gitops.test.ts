/**
 * GitOps on the real cluster with the real operator: kstatus (the real library, the one Flux uses)
 * reads a Workspace's health from its conditions and observedGeneration; applying the same manifest
 * twice changes nothing and draws no write from the operator; a GitOps manager owns spec, the
 * operator owns status, and neither reverts nor conflicts with the other.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { V1ManagedFieldsEntry } from "@kubernetes/client-node";
import type { Workspace, WorkspaceSpec } from "../../crds/types.ts";
import { FIELD_MANAGER } from "../../operator/kube-api.ts";
import { kstatus, type KstatusResult } from "../kstatus/kstatus.ts";
import { clients, eventually, uniqueName, withNamespace, type Clients } from "../lib/kube.ts";
import {
  auditWrites,
  OPERATOR_USER,
  startOperator,
  stateDir,
  type AuditEntry,
  type OperatorProcess,
} from "../lib/operator.ts";
import {
  condition,
  createClass,
  deleteClass,
  echoClass,
  getWorkspace,
  isReady,
  waitWorkspace,
} from "../lib/workspaces.ts";

/** The field manager Argo CD's server-side sync uses; any GitOps applier behaves alike. */
const GITOPS = "argocd-controller";
/** How long "nothing happens" is watched for. */
const SETTLE_MS = 5_000;

let c: Clients;
let ns: { name: string; drop: () => Promise<void> };
let op: OperatorProcess;
let dir: string;
const echo = uniqueName("gitops-echo");

before(async () => {
  c = clients();
  ns = await withNamespace(c, "gitops");
  await createClass(c, echoClass(echo));
  dir = mkdtempSync(join(stateDir(), "gitops-"));
  op = await startOperator(["--lease-name=gitops"], "gitops");
});

after(async () => {
  await op?.stop();
  await ns?.drop();
  await deleteClass(c, echo);
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** kubectl with its exit code and both outputs (kubectl diff exits 1 when there is a difference). */
function kubectlRun(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile("kubectl", args, { env: process.env, maxBuffer: 16 << 20 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: unknown }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** Runs kubectl and fails the test, with its stderr, unless it exits 0. */
async function kubectlOk(...args: string[]): Promise<string> {
  const r = await kubectlRun(...args);
  assert.equal(r.code, 0, `kubectl ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** A Workspace manifest as it would sit in a git repository, written to a file for kubectl. */
function manifest(name: string, spec: Partial<WorkspaceSpec> = {}): string {
  const file = join(dir, `${name}.json`);
  writeFileSync(
    file,
    JSON.stringify({
      apiVersion: "portico.dev/v1alpha1",
      kind: "Workspace",
      metadata: { name, namespace: ns.name },
      spec: { owner: "alice", className: echo, ...spec },
    }),
  );
  return file;
}

/** Server-side apply as the GitOps controller does it: its own field manager, never --force-conflicts. */
const gitopsApply = (file: string) =>
  kubectlOk("apply", "--server-side", `--field-manager=${GITOPS}`, "-f", file);

async function health(name: string): Promise<{ ws: Workspace; ks: KstatusResult }> {
  const ws = await getWorkspace(c, ns.name, name);
  const [ks] = await kstatus(ws);
  return { ws, ks: ks! };
}

/** The operator's writes about one workspace: the Workspace, its children (`ws-{name}…`), its Events. */
async function operatorWrites(name: string, since: Date): Promise<AuditEntry[]> {
  return (await auditWrites(OPERATOR_USER, since)).filter((w) => {
    const o = w.objectRef;
    if (o?.namespace !== ns.name || !o.name) return false;
    return o.name === name || o.name.startsWith(`${name}.`) || o.name.startsWith(`ws-${name}`);
  });
}
const show = (ws: AuditEntry[]) =>
  ws.map((w) => `${w.verb} ${w.objectRef?.resource}${w.objectRef?.subresource ? "/status" : ""}`);

/**
 * Waits until the workspace is Ready, reading it with kstatus all along; returns what was seen.
 * Polls fast so the short Pending/Starting phases are caught.
 */
async function watchUntilReady(name: string): Promise<{ phase: string; ks: KstatusResult }[]> {
  const seen: { phase: string; ks: KstatusResult }[] = [];
  try {
    await eventually(
      `workspace ${name} Ready, read by kstatus`,
      async () => {
        const { ws, ks } = await health(name);
        seen.push({ phase: ws.status?.phase ?? "(no status yet)", ks });
        return isReady(ws) ? true : undefined;
      },
      60_000,
      50,
    );
  } catch (err) {
    const last = seen.at(-1);
    throw new Error(
      `${(err as Error).message}; last seen ${last?.phase}: ${last?.ks.status} ${last?.ks.message}`,
    );
  }
  return seen;
}

test("kstatus: InProgress while starting, Current once Ready, InProgress after a spec change until the operator catches up", async () => {
  await kubectlOk("apply", "-f", manifest("health"));
  const seen = await watchUntilReady("health");
  const progressing = seen.filter((s) => s.phase === "Pending" || s.phase === "Starting");
  console.log(`# kstatus while starting: ${[...new Set(seen.map((s) => `${s.phase}→${s.ks.status}`))]}`);
  assert.ok(progressing.length > 0, "Pending/Starting was observed");
  for (const s of progressing) {
    assert.equal(s.ks.status, "InProgress", `${s.phase}: ${s.ks.message}`);
  }
  assert.ok(!seen.some((s) => s.ks.status === "Failed"), "never Failed on the way");
  let { ws, ks } = await health("health");
  assert.equal(ks.status, "Current", ks.message);
  assert.equal(condition(ws, "Reconciling")?.status, "False");
  assert.equal(condition(ws, "Stalled")?.status, "False");
  for (const t of ["Reconciling", "Stalled"]) {
    assert.equal(condition(ws, t)?.observedGeneration, ws.metadata.generation, `${t} observedGeneration`);
  }
  // A List, as `kubectl get -o json` prints it, is read object by object.
  const list = JSON.parse(await kubectlOk("get", "workspaces", "-n", ns.name, "-o", "json")) as object;
  assert.deepEqual(
    (await kstatus(list)).map((r) => [r.name, r.status]),
    [[`${ns.name}/health`, "Current"]],
  );

  // A spec change that needs work (new resources: the pod rolls): InProgress until it is done.
  const generation = ws.metadata.generation!;
  const resources = { requests: { cpu: "100m" } };
  await kubectlOk("apply", "-f", manifest("health", { resources }));
  const rolled = await watchUntilReady("health");
  console.log(`# kstatus while rolling: ${[...new Set(rolled.map((s) => `${s.phase}→${s.ks.status}`))]}`);
  assert.ok(rolled.length > 1, "the roll was observed");
  assert.ok(
    rolled.slice(0, -1).every((s) => s.ks.status === "InProgress"),
    `InProgress until Ready: ${rolled.map((s) => `${s.phase}→${s.ks.status}`)}`,
  );
  ({ ws, ks } = await health("health"));
  assert.equal(ks.status, "Current", ks.message);
  assert.equal(ws.status?.observedGeneration, generation + 1);

  // A spec change while the operator is down: the generation moves, observedGeneration does not.
  // (sharedWith is read by the proxy, not built into the pod: the operator only has to observe it.)
  await op.stop();
  await kubectlOk("apply", "-f", manifest("health", { resources, sharedWith: { users: ["bob"] } }));
  ({ ws, ks } = await health("health"));
  assert.equal(ws.metadata.generation, generation + 2);
  assert.equal(ks.status, "InProgress", "a generation the operator has not observed is in progress");
  assert.match(
    ks.message,
    new RegExp(`generation is ${generation + 2}, but latest observed generation is ${generation + 1}`),
  );
  await sleep(1_000);
  assert.equal((await health("health")).ks.status, "InProgress", "and stays so while nobody reconciles");
  op = await startOperator(["--lease-name=gitops"], "gitops-2");
  await watchUntilReady("health");
  ({ ws, ks } = await health("health"));
  assert.equal(ks.status, "Current", ks.message);
  assert.equal(ws.status?.observedGeneration, generation + 2);
});

test("applying the same manifest twice changes nothing: client-side and server-side apply, kubectl diff, no operator write", async () => {
  const csa = manifest("twice-csa");
  const ssa = manifest("twice-ssa");
  const since = new Date();
  await kubectlOk("apply", "-f", csa);
  await gitopsApply(ssa);
  await waitWorkspace(c, ns.name, "twice-csa", "Ready", isReady);
  await waitWorkspace(c, ns.name, "twice-ssa", "Ready", isReady);
  // Non-vacuous: the audit log does name the operator's writes (children, status, events).
  assert.ok((await operatorWrites("twice-csa", since)).length > 0, `the audit log shows ${OPERATOR_USER}`);
  await sleep(2_000); // the last status write and Ready event land

  const before = await Promise.all(["twice-csa", "twice-ssa"].map((n) => getWorkspace(c, ns.name, n)));
  const quietFrom = new Date();

  const again = await kubectlOk("apply", "-f", csa);
  assert.match(again, /workspace\.portico\.dev\/twice-csa unchanged/, "kubectl says unchanged");
  const diff = await kubectlRun("diff", "-f", csa);
  assert.equal(diff.code, 0, `kubectl diff finds nothing: ${diff.stdout}${diff.stderr}`);

  // kubectl always prints "serverside-applied"; the API server's answer is what counts.
  await gitopsApply(ssa);
  const ssaDiff = await kubectlRun("diff", "--server-side", `--field-manager=${GITOPS}`, "-f", ssa);
  assert.equal(
    ssaDiff.code,
    0,
    `kubectl diff --server-side finds nothing: ${ssaDiff.stdout}${ssaDiff.stderr}`,
  );

  await sleep(SETTLE_MS);
  const now = await Promise.all(["twice-csa", "twice-ssa"].map((n) => getWorkspace(c, ns.name, n)));
  for (const [i, ws] of now.entries()) {
    assert.equal(
      ws.metadata.resourceVersion,
      before[i]!.metadata.resourceVersion,
      `${ws.metadata.name}: resourceVersion`,
    );
    assert.equal(ws.metadata.generation, before[i]!.metadata.generation, `${ws.metadata.name}: generation`);
  }
  for (const name of ["twice-csa", "twice-ssa"]) {
    assert.deepEqual(show(await operatorWrites(name, quietFrom)), [], `${name}: the operator wrote nothing`);
  }
});

/** The Workspace's managedFields (crds/types.ts's ObjectMeta leaves them out). */
const managedFields = (ws: Workspace): V1ManagedFieldsEntry[] =>
  (ws.metadata as { managedFields?: V1ManagedFieldsEntry[] }).managedFields ?? [];
/** Top-level fields (`f:spec`, `f:status`, `f:metadata`) an entry of managedFields owns. */
const owns = (e: V1ManagedFieldsEntry) => Object.keys((e.fieldsV1 ?? {}) as Record<string, unknown>).sort();
const ownerOf = (ws: Workspace, field: string) =>
  managedFields(ws)
    .filter((e) => JSON.stringify(e.fieldsV1 ?? {}).includes(`"f:${field}"`))
    .map((e) => e.manager);

test("the operator never fights GitOps over spec: it owns only status; spec changes by the GitOps manager stay and never conflict", async () => {
  const since = new Date();
  await gitopsApply(manifest("owned"));
  let ws = await waitWorkspace(c, ns.name, "owned", "Ready", isReady);

  // managedFields: the GitOps manager owns spec (as applied), the status writer only status.
  const entries = managedFields(ws);
  const mine = entries.filter((e) => e.manager === GITOPS);
  const others = entries.filter((e) => e.manager !== GITOPS);
  console.log(
    `# managedFields: ${entries.map((e) => `${e.manager} ${e.operation}${e.subresource ? ` /${e.subresource}` : ""} ${owns(e)}`).join("; ")}`,
  );
  assert.deepEqual(
    mine.map((e) => [e.operation, owns(e)]),
    [["Apply", ["f:spec"]]],
  );
  assert.ok(others.length > 0, "the operator's status write is recorded");
  assert.deepEqual(
    [...new Set(others.map((e) => e.manager))],
    [FIELD_MANAGER],
    "the status writer names its field manager",
  );
  for (const e of others) {
    assert.equal(e.subresource, "status", `${e.manager} writes only through /status`);
    assert.deepEqual(owns(e), ["f:status"], `${e.manager} owns only status`);
  }

  // Stop through git: the GitOps manager applies running: false. It stays false; the pod goes.
  await gitopsApply(manifest("owned", { running: false }));
  const generation = (await getWorkspace(c, ns.name, "owned")).metadata.generation;
  ws = await waitWorkspace(c, ns.name, "owned", "Stopped", (w) => w.status?.phase === "Stopped");
  await sleep(SETTLE_MS);
  ws = await getWorkspace(c, ns.name, "owned");
  assert.equal(ws.spec.running, false, "the operator never reverts spec.running");
  assert.equal(ws.metadata.generation, generation, "nobody else changed spec");
  assert.deepEqual(ownerOf(ws, "running"), [GITOPS], "spec.running is the GitOps manager's alone");
  // Stopped is what the spec asks for: not reconciling, not stalled. kstatus still reads it
  // InProgress because it falls back on Ready, which is False (docs/gitops.md: Flux and Argo CD).
  assert.equal(condition(ws, "Reconciling")?.status, "False");
  assert.equal(condition(ws, "Stalled")?.status, "False");
  const stopped = (await kstatus(ws))[0]!;
  assert.equal(stopped.status, "InProgress");
  assert.match(stopped.message, /stopped/);

  // Start again through git, and re-apply while the operator is busy writing status: never a conflict.
  await gitopsApply(manifest("owned", { running: true }));
  for (let i = 0; i < 5; i++) {
    await gitopsApply(manifest("owned", { running: true }));
    await sleep(200);
  }
  ws = await waitWorkspace(c, ns.name, "owned", "Ready again", isReady);
  assert.equal(ws.spec.running, true);
  assert.deepEqual(ownerOf(ws, "running"), [GITOPS]);

  // What the operator wrote to Workspaces in all this: status only, never the object itself.
  const toWorkspaces = (await operatorWrites("owned", since)).filter(
    (w) => w.objectRef?.resource === "workspaces",
  );
  assert.ok(toWorkspaces.length > 0, "the operator did write status");
  assert.deepEqual(
    [
      ...new Set(
        toWorkspaces.map((w) => `${w.verb} workspaces/${w.objectRef?.subresource ?? "(spec or metadata)"}`),
      ),
    ],
    ["update workspaces/status"],
  );
});

test("kstatus: a workspace that cannot progress reads Failed, and Current once git fixes it", async () => {
  await gitopsApply(manifest("stuck", { image: "registry.invalid/none:1" }));
  const failed = await eventually(
    "kstatus Failed",
    async () => {
      const h = await health("stuck");
      return h.ks.status === "Failed" ? h : undefined;
    },
    60_000,
    250,
  );
  assert.equal(failed.ws.status?.phase, "Failed");
  assert.equal(condition(failed.ws, "Stalled")?.status, "True");
  assert.equal(condition(failed.ws, "Reconciling")?.status, "False");
  assert.match(failed.ks.message, /registry\.invalid\/none:1/, "kstatus passes on what to fix");

  // The fix comes from git: the image line is dropped, the apply removes it, the workspace recovers.
  await gitopsApply(manifest("stuck"));
  await waitWorkspace(c, ns.name, "stuck", "Ready after the fix", isReady);
  assert.equal((await health("stuck")).ks.status, "Current");
});

// Found by this file: caches seeded from client-node's typed lists held items without kind and with
// NetworkPolicy's `from` as `_from`, so after a restart a child from the list could not be deleted
// and the policy read as drifted. Caches are now seeded from the API's own JSON (listRaw).
test("after an operator restart, a spec change that rolls a workspace created before it completes", async () => {
  const before = await getWorkspace(c, ns.name, "health");
  await kubectlOk("apply", "-f", manifest("health", { resources: { requests: { cpu: "200m" } } }));
  await eventually(
    "rolled and Ready",
    async () => {
      const ws = await getWorkspace(c, ns.name, "health");
      return isReady(ws) && ws.metadata.generation! > before.metadata.generation! ? true : undefined;
    },
    20_000,
    250,
  );
});
