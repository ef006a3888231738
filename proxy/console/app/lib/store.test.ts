import { test } from "node:test";
import assert from "node:assert/strict";
import type { WorkspaceItem } from "../../protocol.ts";
import { FakeClock } from "./fakes.test-util.ts";
import { POLL_MS, WorkspaceStore } from "./store.ts";
import type { WatchListener } from "./watch-client.ts";
import type { Workspace } from "./workspace.ts";

const w = (name: string, phase: string) => ({ namespace: "ns", name, phase }) as unknown as Workspace;
const settle = () => new Promise((r) => setImmediate(r));

function setup() {
  const clock = new FakeClock();
  let listener: WatchListener<WorkspaceItem> | undefined;
  let rest: Workspace[] = [w("a", "Pending")];
  let calls = 0;
  const store = new WorkspaceStore({
    watch: {
      subscribe: ((_c: string, _n: string | undefined, l: WatchListener<WorkspaceItem>) => {
        listener = l;
        return () => undefined;
      }) as never,
    },
    list: async () => (calls++, rest),
    clock,
  });
  return {
    clock,
    store,
    watch: () => listener!,
    setRest: (r: Workspace[]) => (rest = r),
    calls: () => calls,
  };
}

test("REST until the watch delivers, then the watch alone; REST again when the socket drops", async () => {
  const t = setup();
  t.store.start();
  await settle();
  assert.deepEqual(
    t.store.items.map((i) => i.phase),
    ["Pending"],
  );
  assert.equal(t.store.source, "rest");
  t.setRest([w("a", "Running")]);
  t.clock.advance(POLL_MS);
  await settle();
  assert.deepEqual(
    t.store.items.map((i) => i.phase),
    ["Running"],
    "polled without a reload",
  );

  const item = (name: string, phase: string): WorkspaceItem => ({
    kind: "Workspace",
    namespace: "ns",
    name,
    resourceVersion: "1",
    view: { namespace: "ns", name, phase },
  });
  t.watch().update([item("b", "Stopped"), item("a", "Running")]);
  assert.equal(t.store.source, "watch");
  assert.deepEqual(
    t.store.items.map((i) => i.name),
    ["a", "b"],
  );
  const before = t.calls();
  t.clock.advance(POLL_MS * 5);
  await settle();
  assert.ok(t.calls() <= before + 1, "polling stops once the watch is live");

  t.store.connection("offline");
  await settle();
  t.clock.advance(POLL_MS);
  await settle();
  assert.equal(t.store.source, "rest");
});

test("an error frame on the channel falls back to REST", async () => {
  const t = setup();
  t.store.start();
  await settle();
  t.watch().update([]);
  t.watch().error?.({ type: "error", code: "unknown_channel", message: "x" });
  t.clock.advance(POLL_MS);
  await settle();
  assert.equal(t.store.source, "rest");
});
