import assert from "node:assert/strict";
import test from "node:test";
import type { Workspace } from "../../crds/types.ts";
import type { Identity } from "../auth/identity.ts";
import { WatchHub, type HubCache } from "./watch-hub.ts";
import { trimEvent, trimPod, type TrimmedEvent, type TrimmedPod } from "./watch-views.ts";

/** A cache as the watched caches keep it: namespace → name → object. */
class Cache<T extends { metadata?: { name?: string; namespace?: string } }> implements HubCache<T> {
  readonly m = new Map<string, T>();
  get = (name: string, ns?: string) => this.m.get(`${ns}/${name}`);
  list = (ns?: string) =>
    [...this.m.values()].filter((o) => ns === undefined || o.metadata?.namespace === ns);
  put = (o: T) => this.m.set(`${o.metadata!.namespace}/${o.metadata!.name}`, o);
  drop = (o: T) => this.m.delete(`${o.metadata!.namespace}/${o.metadata!.name}`);
}

const who = (user: string, roles: string[] = [], groups: string[] = []): Identity => ({
  user,
  groups,
  roles,
  via: "bearer",
});
const alice = who("alice");
const bob = who("bob");
const admin = who("root", ["portico-admin"]);

const ws = (name: string, rv: number, extra: Partial<Workspace["spec"]> = {}, phase = "Pending"): Workspace =>
  ({
    apiVersion: "portico.dev/v1alpha1",
    kind: "Workspace",
    metadata: { namespace: "ns", name, resourceVersion: String(rv) },
    spec: { owner: "alice", className: "tiny", ...extra },
    status: { phase },
  }) as unknown as Workspace;

/** One replica: its caches fed the way Watched feeds them (cache first, then the callback). */
function replica(listRv: number, initial: Workspace[] = []) {
  const workspaces = new Cache<Workspace>();
  const pods = new Cache<TrimmedPod>();
  const events = new Cache<TrimmedEvent>();
  const hub = new WatchHub({
    adminRoles: ["portico-admin"],
    syncAnnotation: "x/sync",
    workspaces,
    pods,
    events,
  });
  for (const c of ["workspaces", "pods", "events"] as const) hub.listed(c, String(listRv));
  for (const w of initial) {
    workspaces.put(w);
    hub.workspaceChanged(w);
  }
  return {
    hub,
    workspaces,
    pods,
    events,
    upsert(w: Workspace) {
      const old = workspaces.get(w.metadata.name!, "ns");
      workspaces.put(w);
      hub.workspaceChanged(w, old);
    },
    remove(w: Workspace) {
      workspaces.drop(w);
      hub.workspaceChanged(w);
    },
    pod(raw: object) {
      const p = trimPod(raw);
      const old = pods.get(p.metadata.name, p.metadata.namespace);
      pods.put(p);
      hub.podChanged(p, old);
    },
  };
}

interface Frame {
  type: string;
  items?: { name: string }[];
  changes?: { op: string; object: { name: string; resourceVersion: string } }[];
  resourceVersion: string;
  reset?: boolean;
}

/** A subscriber collecting every frame (flushing at once, as a socket's batch timer would). */
function subscribe(
  hub: WatchHub,
  caller: Identity,
  o: { channel?: "workspaces" | "pods" | "events"; rv?: string; namespace?: string } = {},
) {
  const frames: Frame[] = [];
  const holder: { sub?: ReturnType<WatchHub["open"]>["sub"] } = {};
  const opened = hub.open(
    caller,
    {
      id: "s",
      channel: o.channel ?? "workspaces",
      ...(o.rv ? { resourceVersion: o.rv } : {}),
      ...(o.namespace ? { namespace: o.namespace } : {}),
    },
    () => undefined,
  );
  holder.sub = opened.sub;
  frames.push(JSON.parse(opened.first) as Frame);
  const drain = () => {
    const f = holder.sub!.frame();
    if (f) frames.push(JSON.parse(f) as Frame);
    return frames;
  };
  const ops = () =>
    drain().flatMap((f) =>
      (f.changes ?? []).map((c) => `${c.op} ${c.object.name}@${c.object.resourceVersion}`),
    );
  return { frames, drain, ops, sub: opened.sub };
}

test("a user sees their own and shared workspaces, an admin all, others nothing", () => {
  const r = replica(10, [
    ws("mine", 5),
    ws("bobs", 6, { owner: "bob" }),
    ws("shared", 7, { owner: "bob", sharedWith: { users: ["alice"] } }),
  ]);
  const names = (caller: Identity) =>
    subscribe(r.hub, caller)
      .frames[0]!.items!.map((i) => i.name)
      .sort();
  assert.deepEqual(names(alice), ["mine", "shared"]);
  assert.deepEqual(names(bob), ["bobs", "shared"]);
  assert.deepEqual(names(admin), ["bobs", "mine", "shared"]);
  assert.deepEqual(names(who("carol")), []);
  assert.deepEqual(subscribe(r.hub, bob, { namespace: "other" }).frames[0]!.items, []);
});

test("live changes: ADDED then MODIFIED to the owner, nothing to anyone else", () => {
  const r = replica(10);
  const a = subscribe(r.hub, alice);
  const b = subscribe(r.hub, bob);
  r.upsert(ws("new", 11));
  r.upsert(ws("new", 12, {}, "Running"));
  assert.deepEqual(a.ops(), ["ADDED new@11", "MODIFIED new@12"]);
  assert.equal(a.frames.at(-1)!.resourceVersion, "12");
  assert.deepEqual(b.ops(), []);
});

test("sharing withdrawn is a DELETED to the sharee; sharing granted an ADDED", () => {
  const r = replica(10, [ws("w", 5, { owner: "bob", sharedWith: { users: ["alice"] } })]);
  const a = subscribe(r.hub, alice);
  r.upsert(ws("w", 11, { owner: "bob" }));
  r.upsert(ws("w", 12, { owner: "bob" }, "Running"));
  r.upsert(ws("w", 13, { owner: "bob", sharedWith: { users: ["alice"] } }));
  assert.deepEqual(a.ops(), ["DELETED w@11", "ADDED w@13"]);
});

test("a resume replays exactly what was missed, judged by visibility then and now", () => {
  const r = replica(10);
  const a = subscribe(r.hub, alice);
  r.upsert(ws("w", 11));
  const last = a.drain().at(-1)!.resourceVersion;
  assert.equal(last, "11");
  r.upsert(ws("w", 12, { sharedWith: { users: ["bob"] } }));
  r.upsert(ws("x", 13, { owner: "bob" }));
  r.remove(ws("w", 14));
  const again = subscribe(r.hub, alice, { rv: last });
  assert.equal(again.frames[0]!.type, "changes");
  assert.deepEqual(again.ops(), ["MODIFIED w@12", "DELETED w@14"]);
  assert.equal(again.frames[0]!.resourceVersion, "14");
  // A resume from the newest version: an empty answer that says so.
  const idle = subscribe(r.hub, alice, { rv: "14" });
  assert.deepEqual(idle.frames[0], { type: "changes", id: "s", changes: [], resourceVersion: "14" });
});

test("across replicas: the resume on another replica is exact, even when that replica lags behind", () => {
  // Both replicas' watches deliver the same global sequence; B started earlier and runs behind A.
  const sequence = [
    ws("w", 11),
    ws("w", 12, {}, "Starting"),
    ws("w", 13, {}, "Running"),
    ws("v", 14),
    ws("w", 15, {}, "Stopped"),
  ];
  const a = replica(5);
  const b = replica(3);
  const onA = subscribe(a.hub, alice);
  for (const w of sequence.slice(0, 3)) a.upsert(w);
  const seen = onA.ops();
  const last = onA.frames.at(-1)!.resourceVersion;
  // A dies. B has so far seen only the first change.
  b.upsert(sequence[0]!);
  const onB = subscribe(b.hub, alice, { rv: last });
  for (const w of sequence.slice(1)) b.upsert(w);
  const resumed = onB.ops();
  assert.deepEqual(
    [...seen, ...resumed],
    ["ADDED w@11", "MODIFIED w@12", "MODIFIED w@13", "ADDED v@14", "MODIFIED w@15"],
  );
});

test("a version older than the replica's list, or a relist since, gets a reset snapshot", () => {
  const r = replica(50, [ws("w", 40)]);
  const old = subscribe(r.hub, alice, { rv: "20" });
  assert.equal(old.frames[0]!.type, "snapshot");
  assert.equal(old.frames[0]!.reset, true);
  assert.deepEqual(
    old.frames[0]!.items!.map((i) => i.name),
    ["w"],
  );
  r.upsert(ws("w", 51));
  r.hub.listed("workspaces", "60");
  const afterRelist = subscribe(r.hub, alice, { rv: "51" });
  assert.equal(afterRelist.frames[0]!.reset, true);
  assert.equal(afterRelist.frames[0]!.resourceVersion, "60");
  const fresh = subscribe(r.hub, alice);
  assert.equal(fresh.frames[0]!.reset, false);
});

test("pods follow their workspace's visibility, and a sharing change re-evaluates them", () => {
  const r = replica(10, [ws("w", 5, { owner: "bob" })]);
  const pod = (rv: number, phase: string) => ({
    metadata: {
      namespace: "ns",
      name: "ws-w",
      resourceVersion: String(rv),
      annotations: { "portico.dev/workspace": "w" },
    },
    status: {
      phase,
      containerStatuses: [
        { name: "ide", ready: false, restartCount: 0, state: { waiting: { reason: "ContainerCreating" } } },
      ],
    },
    spec: { containers: [{ name: "ide", env: [{ name: "SECRET", value: "s3cr3t" }] }] },
  });
  const a = subscribe(r.hub, alice, { channel: "pods" });
  const b = subscribe(r.hub, bob, { channel: "pods" });
  r.pod(pod(11, "Pending"));
  assert.deepEqual(a.ops(), []);
  assert.deepEqual(b.ops(), ["ADDED ws-w@11"]);
  assert.doesNotMatch(JSON.stringify(b.frames), /s3cr3t|env/);
  const resumeAt = a.frames.at(-1)!.resourceVersion;
  r.upsert(ws("w", 12, { owner: "bob", sharedWith: { users: ["alice"] } }));
  assert.deepEqual(a.ops(), ["ADDED ws-w@11"]);
  // Alice's old pods position predates the sharing change: a reset, not a replay judged by old rules.
  const resumed = subscribe(r.hub, alice, { channel: "pods", rv: resumeAt });
  assert.equal(resumed.frames[0]!.reset, true);
});

test("events of a workspace and of its pods reach those who may see it; others never", () => {
  const r = replica(10, [ws("w", 5)]);
  const a = subscribe(r.hub, alice, { channel: "events" });
  const b = subscribe(r.hub, bob, { channel: "events" });
  const event = (name: string, rv: number, kind: string, involved: string) =>
    trimEvent({
      metadata: { namespace: "ns", name, resourceVersion: String(rv) },
      involvedObject: { kind, name: involved, namespace: "ns" },
      type: "Normal",
      reason: "Started",
      message: "m",
    } as never);
  for (const e of [
    event("e1", 11, "Workspace", "w"),
    event("e2", 12, "Pod", "ws-w"),
    event("e3", 13, "Pod", "unrelated"),
    event("e4", 14, "Node", "n"),
  ]) {
    r.events.put(e);
    r.hub.eventChanged(e);
  }
  assert.deepEqual(a.ops(), ["ADDED e1@11", "ADDED e2@12"]);
  assert.deepEqual(b.ops(), []);
});
