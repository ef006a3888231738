import assert from "node:assert/strict";
import { test } from "node:test";
import { revealedSecret, viewOf, type RawObject } from "./views.ts";

const meta = (name: string, extra: object = {}) => ({
  name,
  namespace: "a",
  uid: "u1",
  creationTimestamp: "2026-01-01T00:00:00Z",
  labels: { app: "web" },
  annotations: {
    "kubectl.kubernetes.io/last-applied-configuration": '{"data":{"password":"c2VjcmV0"}}',
    note: "kept",
  },
  managedFields: [{ manager: "kubectl", fieldsV1: { "f:data": {} } }],
  ...extra,
});

const SECRET: RawObject = {
  kind: "Secret",
  metadata: meta("db"),
  type: "kubernetes.io/basic-auth",
  data: {
    password: Buffer.from("hunter2").toString("base64"),
    blob: Buffer.from([0xff, 0xfe]).toString("base64"),
  },
};

test("metadata: no managedFields, no last-applied copy; labels, other annotations and owners kept", () => {
  const v = viewOf("configmaps", {
    metadata: meta("c", { ownerReferences: [{ kind: "Deployment", name: "d", uid: "x" }] }),
  });
  assert.deepEqual(Object.keys(v).sort(), [
    "annotations",
    "binaryKeys",
    "created",
    "data",
    "labels",
    "name",
    "namespace",
    "owners",
    "uid",
  ]);
  assert.deepEqual(v.annotations, { note: "kept" });
  assert.deepEqual(v.owners, [{ kind: "Deployment", name: "d" }]);
  assert.ok(!JSON.stringify(v).includes("managedFields"));
  assert.ok(!JSON.stringify(v).includes("last-applied"));
});

test("a Secret's view: type and key names, no value in any form", () => {
  const v = viewOf("secrets", SECRET);
  assert.equal(v.type, "kubernetes.io/basic-auth");
  assert.deepEqual(v.keys, ["blob", "password"]);
  const text = JSON.stringify(v);
  assert.ok(!text.includes("hunter2"));
  assert.ok(!text.includes(Buffer.from("hunter2").toString("base64")));
  assert.ok(!text.includes("c2VjcmV0"), "the last-applied copy's value");
});

test("a revealed Secret: values decoded, bytes that are not UTF-8 kept as base64", () => {
  const v = revealedSecret(SECRET);
  assert.deepEqual(v.values, {
    password: { encoding: "utf-8", value: "hunter2" },
    blob: { encoding: "base64", value: "//4=" },
  });
  assert.deepEqual(v.keys, ["blob", "password"]);
});

test("ConfigMaps show data; pods, deployments, services, namespaces and CRDs their summaries", () => {
  const cm = viewOf("configmaps", { metadata: meta("c"), data: { k: "v" }, binaryData: { b: "AA==" } });
  assert.deepEqual([cm.data, cm.binaryKeys], [{ k: "v" }, ["b"]]);
  const pod = viewOf("pods", {
    metadata: meta("p"),
    spec: {
      nodeName: "n1",
      containers: [{ name: "ide", image: "code:1", env: [{ name: "TOKEN", value: "t0p" }] }],
    },
    status: {
      phase: "Running",
      podIP: "10.0.0.1",
      containerStatuses: [{ name: "ide", ready: true, restartCount: 2, state: { running: {} } }],
      conditions: [{ type: "Ready", status: "True" }],
    },
  });
  assert.deepEqual(pod.containers, [
    { name: "ide", image: "code:1", ready: true, restarts: 2, state: "running" },
  ]);
  assert.equal(pod.phase, "Running");
  assert.ok(!JSON.stringify(pod).includes("t0p"), "a pod's env is not part of its view");
  const dep = viewOf("deployments", {
    metadata: meta("d"),
    spec: { replicas: 3, template: { spec: { containers: [{ image: "web:2" }] } } },
    status: { readyReplicas: 2, updatedReplicas: 3, availableReplicas: 2 },
  });
  assert.deepEqual([dep.replicas, dep.ready, dep.images], [3, 2, ["web:2"]]);
  const svc = viewOf("services", {
    metadata: meta("s"),
    spec: { clusterIP: "10.96.0.1", ports: [{ port: 80, targetPort: 8080 }], selector: { app: "web" } },
  });
  assert.deepEqual(svc.ports, [{ port: 80, protocol: "TCP", targetPort: 8080 }]);
  assert.equal(
    viewOf("namespaces", { metadata: { name: "a" }, status: { phase: "Terminating" } }).phase,
    "Terminating",
  );
  const crd = viewOf("crds", {
    metadata: { name: "workspaces.portico.dev" },
    spec: {
      group: "portico.dev",
      scope: "Namespaced",
      names: { kind: "Workspace", plural: "workspaces" },
      versions: [{ name: "v1alpha1", served: true, storage: true, schema: { huge: true } }],
    },
  });
  assert.deepEqual(crd.versions, [{ name: "v1alpha1", served: true, storage: true }]);
  assert.equal(crd.kind, "Workspace");
});
