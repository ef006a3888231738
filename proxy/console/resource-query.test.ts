import assert from "node:assert/strict";
import { test } from "node:test";
import { apiPath, kindOf, resourceLabel } from "./kinds.ts";
import { isNamespaceName, isObjectName, parseResourceQuery, type ResourceQuery } from "./resource-query.ts";

const parse = (path: string, query = "") =>
  parseResourceQuery(path.split("/").slice(1), new URLSearchParams(query)) as ResourceQuery & {
    error?: string;
    message?: string;
  };

test("kinds: plurals, singulars and aliases; paths to the API server; RBAC labels", () => {
  assert.equal(kindOf("pods")?.resource, "pods");
  assert.equal(kindOf("pod")?.name, "pods");
  assert.equal(kindOf("customresourcedefinitions")?.name, "crds");
  assert.equal(kindOf("nodes"), undefined);
  assert.equal(kindOf("__proto__"), undefined);
  assert.equal(kindOf("constructor"), undefined);
  assert.equal(apiPath(kindOf("pods")!, "a"), "/api/v1/namespaces/a/pods");
  assert.equal(apiPath(kindOf("pods")!), "/api/v1/pods");
  assert.equal(apiPath(kindOf("deployments")!, "a", "web"), "/apis/apps/v1/namespaces/a/deployments/web");
  assert.equal(
    apiPath(kindOf("crds")!, "ignored", "x.y"),
    "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/x.y",
  );
  assert.equal(resourceLabel(kindOf("deployments")!), "deployments.apps");
  assert.equal(resourceLabel(kindOf("secrets")!), "secrets");
});

test("names: DNS labels for namespaces, DNS subdomains for objects", () => {
  for (const ok of ["a", "team-a", "a1", "x".repeat(63)]) assert.ok(isNamespaceName(ok), ok);
  for (const no of ["", "A", "-a", "a-", "a.b", "..", "a/b", "a,b", "a=b", "x".repeat(64), "a b", "a%2Fb"])
    assert.ok(!isNamespaceName(no), no);
  for (const ok of ["web", "web.v1", "workspaces.portico.dev"]) assert.ok(isObjectName(ok), ok);
  for (const no of ["", ".", "..", "a..b", ".a", "a/b", "A", "x".repeat(254)])
    assert.ok(!isObjectName(no), no);
});

test("routes: cluster, counts, lists and one object", () => {
  assert.deepEqual(parse("/api/cluster"), { op: "cluster" });
  assert.deepEqual(parse("/api/resources"), { op: "counts" });
  assert.deepEqual(parse("/api/resources/"), { op: "counts" });
  assert.deepEqual(parse("/api/resources", "ns=a"), { op: "counts", namespace: "a" });
  assert.deepEqual(parse("/api/resources", "ns="), { op: "counts" });
  assert.deepEqual(parse("/api/resources/pods", "ns=a"), {
    op: "list",
    kind: kindOf("pods"),
    namespace: "a",
  });
  assert.deepEqual(parse("/api/resources/namespaces"), { op: "list", kind: kindOf("namespaces") });
  assert.deepEqual(parse("/api/resource/secret/db", "ns=a&reveal=true"), {
    op: "get",
    kind: kindOf("secrets"),
    name: "db",
    namespace: "a",
    reveal: true,
  });
  assert.deepEqual(parse("/api/resource/crds/workspaces.portico.dev"), {
    op: "get",
    kind: kindOf("crds"),
    name: "workspaces.portico.dev",
    reveal: false,
  });
});

test("refusals: 400 with what to fix, before anything is asked", () => {
  const cases: [string, string, string][] = [
    ["/api/resources/nodes", "", "bad_kind"],
    ["/api/resources/pods", "ns=..", "bad_namespace"],
    ["/api/resources/pods", "ns=a/b", "bad_namespace"],
    ["/api/resources/pods", "ns=a%2Fb", "bad_namespace"],
    ["/api/resources/pods", "ns=a,b", "bad_namespace"],
    ["/api/resources/pods", "ns=app%3Dweb", "bad_namespace"],
    ["/api/resources/pods", `ns=${"a".repeat(64)}`, "bad_namespace"],
    ["/api/resources/pods", "ns=a&ns=b", "bad_parameter"],
    ["/api/resources/pods", "labelSelector=a", "bad_parameter"],
    ["/api/resources/pods", "ns=a&reveal=true", "bad_parameter"],
    ["/api/resources/namespaces", "ns=a", "bad_namespace"],
    ["/api/resource/pods/web", "", "bad_namespace"],
    ["/api/resource/pods/web", "ns=a&reveal=true", "bad_parameter"],
    ["/api/resource/secrets/db", "ns=a&reveal=yes", "bad_parameter"],
    ["/api/resource/pods/We b", "ns=a", "bad_name"],
    ["/api/resource/pods/a..b", "ns=a", "bad_name"],
    ["/api/resource/pods", "ns=a", "bad_path"],
    ["/api/resources/pods/web", "ns=a", "bad_path"],
    ["/api/resource/pods/a/b", "ns=a", "bad_path"],
    ["/api/cluster", "ns=a", "bad_parameter"],
    ["/api/other", "", "bad_path"],
  ];
  for (const [path, query, error] of cases) {
    const r = parse(path, query);
    assert.equal(r.error, error, `${path}?${query}: ${JSON.stringify(r)}`);
    assert.ok(r.message && r.message.length > 10, r.message);
  }
  // A long refused value is not echoed in full.
  const long = parse("/api/resources/pods", `ns=${"z".repeat(5000)}`);
  assert.ok(long.message!.length < 300, long.message);
});
