import { test } from "node:test";
import assert from "node:assert/strict";
import type { V1Pod } from "@kubernetes/client-node";
import { containerLogFiles, execEnv, execFor, logsFor, podLogDir } from "./kwok.ts";
import { containerMounts, workDirFor } from "./images.ts";

const pod: V1Pod = {
  metadata: { name: "ws-1", namespace: "team-a", uid: "u-1" },
  spec: {
    nodeName: "kwok-node-0",
    initContainers: [{ name: "clone", image: "alpine/git:2" }],
    containers: [
      {
        name: "ide",
        image: "codercom/code-server:4",
        workingDir: "/home/coder/project",
        volumeMounts: [
          { name: "home", mountPath: "/home/coder" },
          { name: "cache", mountPath: "/cache", subPath: "ide" },
        ],
        env: [
          { name: "PROJECT", value: "/home/coder/project" },
          { name: "ME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
          { name: "TOKEN", valueFrom: { secretKeyRef: { name: "s", key: "token" } } },
          { name: "COLOR", valueFrom: { configMapKeyRef: { name: "c", key: "color" } } },
        ],
      },
    ],
  },
  status: { podIP: "198.18.128.9" },
};

test("a pod's logs live under its namespace, name and uid; a restart keeps the run before", () => {
  const dir = podLogDir("/s/logs", pod);
  assert.equal(dir, "/s/logs/team-a_ws-1_u-1");
  assert.deepEqual(containerLogFiles(dir, "ide"), {
    current: "/s/logs/team-a_ws-1_u-1/ide.log",
    previous: "/s/logs/team-a_ws-1_u-1/ide.previous.log",
  });
});

test("Logs names the pod, is owned by it, and maps every container (init too) to its files", () => {
  const logs = logsFor(pod, "/d");
  assert.equal(logs.kind, "Logs");
  assert.equal(logs.metadata.name, "ws-1", "kwok finds it by the pod's name");
  assert.equal(logs.metadata.namespace, "team-a", "and namespace");
  assert.deepEqual(logs.metadata.ownerReferences, [
    { apiVersion: "v1", kind: "Pod", name: "ws-1", uid: "u-1" },
  ]);
  assert.deepEqual(logs.spec.logs, [
    { containers: ["clone"], logsFile: "/d/clone.log", previousLogsFile: "/d/clone.previous.log" },
    { containers: ["ide"], logsFile: "/d/ide.log", previousLogsFile: "/d/ide.previous.log" },
  ]);
});

test("Exec runs per container in its directory with its environment", () => {
  const exec = execFor(pod, [{ container: "ide", workDir: "/v/home", env: { A: "1" } }]);
  assert.equal(exec.kind, "Exec");
  assert.deepEqual(exec.spec.execs, [
    { containers: ["ide"], local: { workDir: "/v/home", envs: [{ name: "A", value: "1" }] } },
  ]);
});

test("mounts and the working directory are the local directories behind the container's paths", () => {
  const c = pod.spec!.containers[0]!;
  const mounts = containerMounts(
    c,
    new Map([
      ["home", "/v/pvc-1"],
      ["cache", "/p/cache"],
    ]),
  );
  assert.deepEqual(
    [...mounts],
    [
      ["/home/coder", "/v/pvc-1"],
      ["/cache", "/p/cache/ide"],
    ],
  );
  assert.equal(workDirFor(c, mounts, "/p"), "/v/pvc-1/project", "workingDir, rewritten");
  const token = { name: "token", mountPath: "/var/run/secrets/kubernetes.io/serviceaccount", readOnly: true };
  const noDir = { ...c, workingDir: undefined };
  assert.equal(workDirFor(noDir, mounts, "/p"), "/v/pvc-1", "else the first volume");
  const tokenFirst = { name: "x", volumeMounts: [token, ...c.volumeMounts!] };
  const withToken = containerMounts(
    tokenFirst,
    new Map([
      ["home", "/v/pvc-1"],
      ["token", "/p/token"],
    ]),
  );
  assert.equal(workDirFor(tokenFirst, withToken, "/p"), "/v/pvc-1", "the first writable one");
  const onlyToken = { name: "x", volumeMounts: [token] };
  const tokenMounts = containerMounts(onlyToken, new Map([["token", "/p/token"]]));
  assert.equal(workDirFor(onlyToken, tokenMounts, "/p"), "/p", "else the pod's own directory");
});

test("exec env: the pod's identity, literal and field values, image env; never a Secret's value", () => {
  const c = pod.spec!.containers[0]!;
  const env = execEnv(pod, c, { PORT: "8080" }, new Map([["/home/coder", "/v/pvc-1"]]));
  assert.deepEqual(env, {
    POD_NAME: "ws-1",
    POD_NAMESPACE: "team-a",
    POD_IP: "198.18.128.9",
    PROJECT: "/v/pvc-1/project",
    ME: "ws-1",
    PORT: "8080",
  });
});
