import { test } from "node:test";
import assert from "node:assert/strict";
import type { PodItem, WatchChange } from "../../protocol.ts";
import { applyChanges, applySnapshot, emptyState, newer, sortedItems } from "./watch-state.ts";

const pod = (name: string, rv: string, phase = "Running"): PodItem => ({
  kind: "Pod",
  namespace: "ns",
  name,
  resourceVersion: rv,
  workspace: name,
  phase,
  ready: true,
  containers: [],
  initContainers: [],
});

test("a snapshot replaces everything and keeps its resourceVersion", () => {
  let s = applySnapshot([pod("a", "1"), pod("b", "2")], "2");
  s = applySnapshot([pod("c", "5")], "5");
  assert.deepEqual([...s.items.keys()], ["ns/c"]);
  assert.equal(s.resourceVersion, "5");
  assert.equal(emptyState().resourceVersion, undefined);
});

test("changes add, modify and delete in order", () => {
  let s = applySnapshot([pod("a", "1"), pod("b", "2")], "2");
  const changes: WatchChange[] = [
    { op: "ADDED", object: pod("c", "3") },
    { op: "MODIFIED", object: pod("a", "4", "Succeeded") },
    { op: "DELETED", object: pod("b", "5") },
  ];
  s = applyChanges(s, changes, "5");
  assert.deepEqual(
    sortedItems(s).map((p) => [p.name, p.phase]),
    [
      ["a", "Succeeded"],
      ["c", "Running"],
    ],
  );
  assert.equal(s.resourceVersion, "5");
});

test("a change repeated after a resume is not applied twice, an older one never wins", () => {
  let s = applySnapshot([pod("a", "7", "Running")], "7");
  s = applyChanges(s, [{ op: "MODIFIED", object: pod("a", "6", "Pending") }], "8");
  assert.equal(s.items.get("ns/a")?.phase, "Running");
  assert.equal(s.resourceVersion, "8");
});

test("the state is not changed in place", () => {
  const s = applySnapshot([pod("a", "1")], "1");
  applyChanges(s, [{ op: "DELETED", object: pod("a", "2") }], "2");
  assert.equal(s.items.size, 1);
});

test("resourceVersions compare as integers when they are, else by difference", () => {
  assert.equal(newer("10", "9"), true);
  assert.equal(newer("9", "10"), false);
  assert.equal(newer("x", "y"), true);
  assert.equal(newer("x", "x"), false);
});
