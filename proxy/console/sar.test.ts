import assert from "node:assert/strict";
import { test } from "node:test";
import { FakeClock } from "../../common/runtime/fake-clock.ts";
import { kindOf } from "./kinds.ts";
import { AUTHENTICATED, allowedIn, sarBody, sarKey, SarCache, subjectOf } from "./sar.ts";

test("subject: the user and their groups, plus system:authenticated; system: names never passed on", () => {
  assert.deepEqual(subjectOf({ user: "alice", groups: ["/team-a", "team-a", "team-a"] }), {
    user: "alice",
    groups: ["/team-a", "team-a", AUTHENTICATED],
  });
  assert.deepEqual(subjectOf({ user: "bob", groups: ["system:masters", "system:nodes", "dev"] }), {
    user: "bob",
    groups: ["dev", AUTHENTICATED],
  });
  assert.equal(subjectOf({ user: "system:kube-controller-manager", groups: [] }), undefined);
  assert.equal(subjectOf({ user: "system:serviceaccount:kube-system:default", groups: [] }), undefined);
  assert.equal(subjectOf({ user: "", groups: [] }), undefined);
  // The API server's OIDC prefixes: checked on the names as given, then put before them.
  assert.deepEqual(
    subjectOf({ user: "alice", groups: ["dev", "system:masters"] }, { user: "oidc:", group: "oidc:" }),
    {
      user: "oidc:alice",
      groups: ["oidc:dev", AUTHENTICATED],
    },
  );
  assert.equal(subjectOf({ user: "system:admin", groups: [] }, { user: "oidc:", group: "" }), undefined);
});

test("SubjectAccessReview body: verb, group, version, resource, namespace and name as asked", () => {
  const s = { user: "alice", groups: ["team-a", AUTHENTICATED] };
  assert.deepEqual(sarBody(s, { verb: "get", kind: kindOf("secrets")!, namespace: "a", name: "db" }), {
    apiVersion: "authorization.k8s.io/v1",
    kind: "SubjectAccessReview",
    spec: {
      user: "alice",
      groups: ["team-a", AUTHENTICATED],
      resourceAttributes: {
        verb: "get",
        group: "",
        version: "v1",
        resource: "secrets",
        namespace: "a",
        name: "db",
      },
    },
  });
  // Cluster-wide: no namespace; a cluster-scoped kind never carries one.
  const wide = sarBody(s, { verb: "list", kind: kindOf("deployments")! }) as {
    spec: { resourceAttributes: Record<string, string> };
  };
  assert.deepEqual(wide.spec.resourceAttributes, {
    verb: "list",
    group: "apps",
    version: "v1",
    resource: "deployments",
  });
  const crd = sarBody(s, { verb: "list", kind: kindOf("crds")!, namespace: "a" }) as typeof wide;
  assert.equal(crd.spec.resourceAttributes.namespace, undefined);
});

test("allowed only on status.allowed true and not denied", () => {
  assert.equal(allowedIn({ status: { allowed: true } }), true);
  assert.equal(allowedIn({ status: { allowed: true, denied: true } }), false);
  assert.equal(allowedIn({ status: { allowed: false } }), false);
  assert.equal(allowedIn({ status: { allowed: "true" } }), false);
  assert.equal(allowedIn(undefined), false);
  assert.equal(allowedIn(null), false);
});

test("keys differ by every field that can change an answer", () => {
  const s = { user: "alice", groups: ["a"] };
  const k = { verb: "list" as const, kind: kindOf("pods")!, namespace: "n" };
  const base = sarKey(s, k);
  for (const other of [
    sarKey({ user: "bob", groups: ["a"] }, k),
    sarKey({ user: "alice", groups: ["a", "b"] }, k),
    sarKey(s, { ...k, verb: "get" }),
    sarKey(s, { ...k, kind: kindOf("services")! }),
    sarKey(s, { ...k, kind: kindOf("deployments")! }),
    sarKey(s, { ...k, namespace: "m" }),
    sarKey(s, { ...k, namespace: undefined }),
    sarKey(s, { ...k, name: "x" }),
  ])
    assert.notEqual(other, base);
  // A user name that looks like a separator cannot collide with another user and group.
  assert.notEqual(sarKey({ user: 'a","b', groups: [] }, k), sarKey({ user: "a", groups: ["b"] }, k));
});

test("cache: answers expire after the TTL; the oldest go past the size bound; TTL 0 keeps nothing", async () => {
  const clock = new FakeClock();
  const c = new SarCache(10_000, 2, () => clock.now());
  c.set("a", true);
  c.set("b", false);
  assert.equal(c.get("a"), true);
  assert.equal(c.get("b"), false);
  await clock.advance(9_999);
  assert.equal(c.get("a"), true);
  await clock.advance(1);
  assert.equal(c.get("a"), undefined);
  c.set("c", true);
  c.set("d", true);
  c.set("e", true);
  assert.equal(c.size, 2);
  assert.equal(c.get("c"), undefined);
  const none = new SarCache(0, 10);
  none.set("a", true);
  assert.equal(none.get("a"), undefined);
});
