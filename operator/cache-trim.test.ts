import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { V1ContainerStatus, V1ManagedFieldsEntry, V1Pod, V1PodStatus } from "@kubernetes/client-node";
import { resolveServiceBackend, type ClusterView } from "../common/model/gateway/endpoints.ts";
import { buildChildren, POD_SPEC_HASH_ANNOTATION } from "./workspace/build.ts";
import { testClass, testConfig, testWorkspace } from "./workspace/fixtures.ts";
import { firstDifference } from "./workspace/reconcile.ts";
import { computeStatus } from "./workspace/status.ts";
import {
  LAST_APPLIED_ANNOTATION,
  trimEndpointSlice,
  trimMetadata,
  trimObject,
  trimPod,
  type EndpointSliceWire,
} from "./cache-trim.ts";

const managedFields: V1ManagedFieldsEntry[] = [
  { manager: "portico-operator", operation: "Apply", apiVersion: "v1", fieldsType: "FieldsV1", fieldsV1: {} },
];
const config = testConfig();
const cls = testClass();
const children = () => buildChildren(testWorkspace(), cls, config, { virtualService: false });

/** A child as the API server returns it: server fields added, managedFields and all. */
function served<T extends { metadata?: object }>(obj: T, extra: object = {}): T {
  return {
    ...obj,
    metadata: {
      ...obj.metadata,
      uid: "u-1",
      resourceVersion: "42",
      creationTimestamp: "2026-03-01T10:00:00Z",
      managedFields,
    },
    ...extra,
  };
}

const container = (
  name: string,
  state: V1ContainerStatus["state"],
  lastState?: V1ContainerStatus["lastState"],
) => ({
  name,
  image: "quay.io/jupyter/minimal-notebook:2025-10-20",
  imageID: "quay.io/jupyter/minimal-notebook@sha256:0123",
  containerID: "containerd://abc",
  ready: false,
  restartCount: 3,
  started: false,
  state,
  ...(lastState ? { lastState } : {}),
  volumeMounts: [{ name: "home", mountPath: "/home/jovyan" }],
});

/** Pod statuses status.ts tells apart, with the fields a kubelet fills in besides. */
const statuses: Record<string, V1PodStatus> = {
  ready: { phase: "Running", conditions: [{ type: "Ready", status: "True" }], podIP: "10.0.0.9" },
  unschedulable: {
    phase: "Pending",
    conditions: [{ type: "PodScheduled", status: "False", reason: "Unschedulable", message: "0/3 nodes" }],
  },
  imagePull: {
    phase: "Pending",
    conditions: [{ type: "PodScheduled", status: "True" }],
    containerStatuses: [container("ide", { waiting: { reason: "ImagePullBackOff", message: "not found" } })],
  },
  crashLoop: {
    phase: "Running",
    conditions: [{ type: "PodScheduled", status: "True" }],
    containerStatuses: [
      container(
        "ide",
        { waiting: { reason: "CrashLoopBackOff" } },
        { terminated: { exitCode: 2, reason: "Error", message: "bad flag" } },
      ),
    ],
  },
  initFailed: {
    phase: "Pending",
    conditions: [{ type: "PodScheduled", status: "True" }],
    initContainerStatuses: [
      container("git-clone", {
        terminated: { exitCode: 128, reason: "Error", message: "repository not found" },
      }),
    ],
  },
  failed: { phase: "Failed", reason: "Evicted", message: "The node was low on memory." },
  starting: { phase: "Pending", conditions: [{ type: "PodScheduled", status: "True" }], hostIP: "10.1.1.1" },
};

describe("trimMetadata", () => {
  test("drops managedFields and kubectl's last-applied annotation, keeps the rest, changes nothing in place", () => {
    const meta = {
      name: "w",
      namespace: "team",
      uid: "u",
      resourceVersion: "7",
      generation: 3,
      deletionTimestamp: new Date("2026-03-01T10:00:00Z"),
      labels: { a: "b" },
      annotations: { [LAST_APPLIED_ANNOTATION]: "{...}", [POD_SPEC_HASH_ANNOTATION]: "h" },
      ownerReferences: [{ apiVersion: "v1", kind: "Workspace", name: "w", uid: "u", controller: true }],
      finalizers: ["f"],
      managedFields,
    };
    const before = structuredClone(meta);
    const { managedFields: _m, ...expected } = meta;
    assert.deepEqual(trimMetadata(meta), {
      ...expected,
      annotations: { [POD_SPEC_HASH_ANNOTATION]: "h" },
    });
    assert.deepEqual(meta, before);
    assert.equal(trimMetadata({ annotations: { [LAST_APPLIED_ANNOTATION]: "{}" } })?.annotations, undefined);
    assert.equal(trimMetadata(undefined), undefined);
  });
});

describe("trimPod", () => {
  const pod = (status: V1PodStatus): V1Pod => served(children().pod, { status });

  for (const [name, status] of Object.entries(statuses)) {
    test(`status.ts computes the same workspace status from the trimmed pod: ${name}`, () => {
      const full = pod(status);
      const observed = { ws: testWorkspace(), cls, config, virtualServiceWanted: false };
      const at = new Date("2026-03-01T10:05:00Z");
      assert.deepEqual(
        computeStatus({ ...observed, pod: trimPod(full) }, at),
        computeStatus({ ...observed, pod: full }, at),
      );
    });
  }

  test("keeps what the reconciler reads of the pod (annotations, uid, deletion) and drops the spec", () => {
    const full = pod(statuses.ready!);
    const trimmed = trimPod(full);
    assert.equal(trimmed.spec, undefined);
    assert.equal(trimmed.metadata?.managedFields, undefined);
    assert.deepEqual(trimmed.metadata?.annotations, full.metadata?.annotations);
    assert.equal(trimmed.metadata?.uid, "u-1");
    assert.equal(trimmed.metadata?.resourceVersion, "42");
    assert.deepEqual(trimmed.metadata?.ownerReferences, full.metadata?.ownerReferences);
    assert.equal(trimmed.kind, "Pod");
    assert.ok(JSON.stringify(trimmed).length < JSON.stringify(full).length / 2);
  });

  test("keeps what the idle decision and the IDE probe read: creationTimestamp and the pod IP", () => {
    const full = pod(statuses.ready!);
    full.metadata = { ...full.metadata, creationTimestamp: "2026-12-05T12:00:00Z" as unknown as Date };
    full.status = { ...full.status, podIP: "10.0.0.7", podIPs: [{ ip: "10.0.0.7" }], hostIP: "192.0.2.1" };
    const trimmed = trimPod(full);
    assert.equal(trimmed.metadata?.creationTimestamp, full.metadata.creationTimestamp);
    assert.equal(trimmed.status?.podIP, "10.0.0.7");
    assert.equal(trimmed.status?.hostIP, undefined);
  });
});

describe("trimObject", () => {
  test("the drift check sees no difference between a child and its trimmed copy as served", () => {
    const { service, networkPolicy, pvc } = children();
    for (const desired of [service, networkPolicy, pvc]) {
      // As the API server sends it: client-node's `_from` is `from` on the wire.
      const wire = JSON.parse(
        JSON.stringify(served(desired)).replaceAll('"_from":', '"from":'),
      ) as typeof desired;
      const trimmed = trimObject(wire);
      assert.equal(trimmed.metadata?.managedFields, undefined);
      assert.equal(firstDifference(desired.metadata?.labels, trimmed.metadata?.labels), undefined);
      assert.equal(firstDifference(desired.spec, trimmed.spec), undefined);
      assert.deepEqual(trimmed.metadata?.ownerReferences, desired.metadata?.ownerReferences);
    }
  });
});

describe("trimEndpointSlice", () => {
  const slice: EndpointSliceWire = {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: {
      name: "web-abc",
      namespace: "team",
      labels: { "kubernetes.io/service-name": "web" },
      managedFields,
    },
    addressType: "IPv4",
    ports: [{ name: "http", port: 8080, protocol: "TCP" }],
    endpoints: [
      {
        addresses: ["10.0.0.1"],
        conditions: { ready: true, serving: true, terminating: false },
        nodeName: "node-1",
        zone: "a",
        targetRef: { kind: "Pod", name: "web-1", namespace: "team", uid: "p1" },
      },
      { addresses: ["10.0.0.2"], conditions: { ready: false }, nodeName: "node-2" },
    ] as unknown as EndpointSliceWire["endpoints"],
  };
  const view = (s: EndpointSliceWire): ClusterView => ({
    service: () => ({ spec: { ports: [{ name: "http", port: 80 }] } }),
    slices: () => [s as never],
  });

  test("endpoints resolve the same from the trimmed slice", () => {
    const ref = { name: "web", port: 80 };
    const full = resolveServiceBackend("team", ref, view(slice));
    assert.deepEqual(full, { ok: true, ready: ["10.0.0.1:8080"], total: 2 });
    assert.deepEqual(resolveServiceBackend("team", ref, view(trimEndpointSlice(slice))), full);
  });

  test("drops node, zone, target reference and managedFields", () => {
    const trimmed = trimEndpointSlice(slice);
    assert.deepEqual(trimmed.endpoints?.[0], {
      addresses: ["10.0.0.1"],
      conditions: { ready: true, serving: true, terminating: false },
    });
    assert.equal(trimmed.metadata?.managedFields, undefined);
    assert.deepEqual(trimmed.metadata?.labels, slice.metadata?.labels);
  });
});
