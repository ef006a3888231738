/**
 * The harness itself: pods on the kwok node become real processes on their pod IP, and a claim's
 * directory outlives the pod. Runs inside the cluster's network namespace (npm run test:e2e).
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import type * as k8s from "@kubernetes/client-node";
import { clients, eventually, withNamespace, type Clients } from "../lib/kube.ts";

let c: Clients;
let ns: { name: string; drop: () => Promise<void> };

before(async () => {
  c = clients();
  ns = await withNamespace(c, "harness");
});
after(async () => ns.drop());

function echoPod(
  name: string,
  extra: Partial<k8s.V1PodSpec> = {},
  container: Partial<k8s.V1Container> = {},
): k8s.V1Pod {
  return {
    metadata: { name, namespace: ns.name, labels: { app: name } },
    spec: {
      containers: [
        {
          name: "web",
          image: "portico.dev/test/http-echo:1",
          args: ["--hello", name],
          ports: [{ containerPort: 8080 }],
          ...container,
        },
      ],
      ...extra,
    },
  };
}

async function runningPod(name: string): Promise<k8s.V1Pod> {
  return eventually(`pod ${name} Running with an IP`, async () => {
    const p = await c.core.readNamespacedPod({ name, namespace: ns.name });
    return p.status?.phase === "Running" && p.status.podIP ? p : undefined;
  });
}

async function get(url: string, init?: RequestInit): Promise<Response> {
  return eventually(`answer from ${url}`, async () => {
    const res = await fetch(url, { ...init, signal: AbortSignal.timeout(2000) });
    return res;
  });
}

test("a pod becomes Running with a 198.18.0.0/16 IP and its real process answers there", async () => {
  await c.core.createNamespacedPod({ namespace: ns.name, body: echoPod("echo") });
  const pod = await runningPod("echo");
  const ip = pod.status!.podIP!;
  assert.match(ip, /^198\.18\.\d{1,3}\.\d{1,3}$/, `pod IP ${ip} is in 198.18.0.0/16`);

  const res = await get(`http://${ip}:8080/hello?x=1`);
  assert.equal(res.status, 200);
  const body = (await res.json()) as {
    server: string;
    pod: string;
    bound: string;
    url: string;
    args: string[];
    pid: number;
  };
  assert.equal(body.server, "http-echo");
  assert.equal(body.pod, "echo", "the process knows which pod it is");
  assert.equal(body.bound, `${ip}:8080`, "bound to the pod IP and the container port");
  assert.equal(body.url, "/hello?x=1");
  assert.deepEqual(body.args, ["--hello", "echo"], "container args are passed through");

  // The pod goes → its process goes: the address stops answering.
  await c.core.deleteNamespacedPod({ name: "echo", namespace: ns.name });
  await eventually("process stopped after pod deletion", async () => {
    try {
      await fetch(`http://${ip}:8080/`, { signal: AbortSignal.timeout(1000) });
      return undefined;
    } catch {
      return true;
    }
  });
  await eventually("the container's process is gone", async () => {
    try {
      process.kill(body.pid, 0);
      return undefined;
    } catch {
      return true;
    }
  });
});

test("a claim gets a local volume that outlives the pod, and container paths point at it", async () => {
  await c.core.createNamespacedPersistentVolumeClaim({
    namespace: ns.name,
    body: {
      metadata: { name: "home" },
      spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } },
    },
  });
  await eventually("claim Bound", async () => {
    const pvc = await c.core.readNamespacedPersistentVolumeClaim({ name: "home", namespace: ns.name });
    return pvc.status?.phase === "Bound" ? pvc : undefined;
  });
  const withVolume = (name: string) =>
    echoPod(
      name,
      { volumes: [{ name: "home", persistentVolumeClaim: { claimName: "home" } }] },
      {
        env: [{ name: "DATA_DIR", value: "/home/coder/data" }],
        volumeMounts: [{ name: "home", mountPath: "/home/coder" }],
      },
    );

  await c.core.createNamespacedPod({ namespace: ns.name, body: withVolume("writer") });
  const first = await runningPod("writer");
  const put = await get(`http://${first.status!.podIP}:8080/files/note.txt`, {
    method: "PUT",
    body: "kept across restarts",
  });
  assert.equal(put.status, 201);
  await c.core.deleteNamespacedPod({ name: "writer", namespace: ns.name, gracePeriodSeconds: 0 });
  await eventually("writer gone", async () =>
    c.core.readNamespacedPod({ name: "writer", namespace: ns.name }).then(
      () => undefined,
      () => true,
    ),
  );

  await c.core.createNamespacedPod({ namespace: ns.name, body: withVolume("reader") });
  const second = await runningPod("reader");
  const res = await get(`http://${second.status!.podIP}:8080/files/note.txt`);
  assert.equal(res.status, 200);
  assert.equal(await res.text(), "kept across restarts");
});

test("an image the runner cannot run shows ErrImagePull in the pod status and a Warning event", async () => {
  await c.core.createNamespacedPod({
    namespace: ns.name,
    body: {
      metadata: { name: "unknown-image" },
      spec: { containers: [{ name: "x", image: "example.invalid/nope:1" }] },
    },
  });
  const waiting = await eventually("an image pull failure in the status", async () => {
    const p = await c.core.readNamespacedPod({ name: "unknown-image", namespace: ns.name });
    const w = p.status?.containerStatuses?.[0]?.state?.waiting;
    return w && /ImagePull/.test(w.reason ?? "") ? { phase: p.status?.phase, ...w } : undefined;
  });
  assert.equal(waiting.phase, "Pending");
  assert.match(waiting.message ?? "", /example\.invalid\/nope:1/);
  const ev = await eventually("a Failed event", async () => {
    const list = await c.core.listNamespacedEvent({
      namespace: ns.name,
      fieldSelector: "involvedObject.name=unknown-image",
    });
    return list.items.find((e) => e.reason === "Failed" && e.type === "Warning");
  });
  assert.match(ev.message ?? "", /example\.invalid\/nope:1/);
});

test("a missing secret key is CreateContainerConfigError, as a kubelet reports it", async () => {
  await c.core.createNamespacedPod({
    namespace: ns.name,
    body: echoPod(
      "no-secret",
      {},
      { env: [{ name: "TOKEN", valueFrom: { secretKeyRef: { name: "absent", key: "token" } } }] },
    ),
  });
  const w = await eventually("CreateContainerConfigError", async () => {
    const p = await c.core.readNamespacedPod({ name: "no-secret", namespace: ns.name });
    const w = p.status?.containerStatuses?.[0]?.state?.waiting;
    return w?.reason === "CreateContainerConfigError" ? w : undefined;
  });
  assert.match(w.message ?? "", /secret "absent" not found/);
});

test("init containers run to completion first; Ready follows the real readiness probe", async () => {
  await c.core.createNamespacedPod({
    namespace: ns.name,
    body: {
      metadata: { name: "staged" },
      spec: {
        volumes: [{ name: "work", emptyDir: {} }],
        initContainers: [
          {
            name: "prepare",
            image: "busybox:1.36",
            command: ["/bin/sh", "-c", "sleep 2; echo prepared > /work/marker"],
            volumeMounts: [{ name: "work", mountPath: "/work" }],
          },
        ],
        containers: [
          {
            name: "web",
            image: "portico.dev/test/http-echo:1",
            ports: [{ containerPort: 8080, name: "http" }],
            env: [{ name: "DATA_DIR", value: "/work" }],
            volumeMounts: [{ name: "work", mountPath: "/work" }],
            readinessProbe: { httpGet: { path: "/files/marker", port: "http" }, periodSeconds: 1 },
          },
        ],
      },
    },
  });
  const initializing = await eventually("init container running", async () => {
    const p = await c.core.readNamespacedPod({ name: "staged", namespace: ns.name });
    return p.status?.initContainerStatuses?.[0]?.state?.running ? p : undefined;
  });
  assert.equal(initializing.status?.phase, "Pending");
  assert.equal(initializing.status?.conditions?.find((x) => x.type === "Ready")?.status, "False");
  assert.equal(initializing.status?.containerStatuses?.[0]?.state?.waiting?.reason, "PodInitializing");

  const ready = await eventually("pod Ready", async () => {
    const p = await c.core.readNamespacedPod({ name: "staged", namespace: ns.name });
    return p.status?.conditions?.find((x) => x.type === "Ready")?.status === "True" ? p : undefined;
  });
  assert.equal(ready.status?.phase, "Running");
  assert.equal(ready.status?.initContainerStatuses?.[0]?.state?.terminated?.exitCode, 0);
  const res = await get(`http://${ready.status!.podIP}:8080/files/marker`);
  assert.equal((await res.text()).trim(), "prepared", "the init container's output is what the probe found");
});
