import { test } from "node:test";
import assert from "node:assert/strict";
import type { Workspace } from "../../crds/types.ts";
import { claimOwners, firstDifference, isSubset, type Cache } from "./reconcile.ts";

test("firstDifference ignores server defaults and names the first differing path", () => {
  const want = { ports: [{ port: 80, targetPort: "http" }], selector: { a: "1" } };
  const have = {
    ports: [{ port: 80, targetPort: "http", protocol: "TCP" }],
    selector: { a: "1" },
    clusterIP: "198.19.0.9",
  };
  assert.equal(firstDifference(want, have), undefined);
  assert.equal(firstDifference({ ...want, selector: { a: "2" } }, have, "spec"), "spec.selector.a");
  assert.equal(firstDifference({ ports: [] }, have), ".ports.length");
  assert.equal(isSubset(undefined, have), true);
});

test("client-node's _from is compared with the wire's from", () => {
  const want = { ingress: [{ _from: [{ podSelector: { matchLabels: { a: "b" } } }] }] };
  const wire = { ingress: [{ from: [{ podSelector: { matchLabels: { a: "b" } } }] }] };
  assert.equal(firstDifference(want, wire), undefined);
  assert.equal(firstDifference(want, { ingress: [{ from: [] }] }), ".ingress[0].from.length");
});

const ws = (
  name: string,
  reclaimPolicy: "Retain" | "Delete",
  scope: "user" | "workspace" = "user",
): Workspace => ({
  apiVersion: "portico.dev/v1alpha1",
  kind: "Workspace",
  metadata: { name, namespace: "team", uid: `uid-${name}` },
  spec: { owner: "carol", className: "x", storage: { scope, reclaimPolicy } },
});
const cacheOf = (items: Workspace[]): Cache<Workspace> => ({ get: () => undefined, list: () => items });
const claim = { metadata: { name: "home-carol", ownerReferences: [] } };

test("a shared per-user claim is owned by every sharer only when all of them say Delete", () => {
  const a = ws("a", "Delete");
  const b = ws("b", "Delete");
  assert.deepEqual(
    claimOwners(a, claim, cacheOf([a, b])).map((r) => [r.name, r.controller]),
    [
      ["a", false],
      ["b", false],
    ],
  );
  assert.deepEqual(claimOwners(a, claim, cacheOf([a, ws("b", "Retain")])), [], "one Retain keeps the data");
});

test("a per-workspace claim takes the builder's owner references as they are", () => {
  const w = ws("solo", "Delete", "workspace");
  const refs = [
    {
      apiVersion: "portico.dev/v1alpha1",
      kind: "Workspace",
      name: "solo",
      uid: "uid-solo",
      controller: true,
    },
  ];
  assert.deepEqual(
    claimOwners(w, { metadata: { name: "ws-solo-home", ownerReferences: refs } }, cacheOf([w])),
    refs,
  );
});
