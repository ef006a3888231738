/**
 * pods/log and pods/exec through the real API server: kubectl (and @kubernetes/client-node) ask
 * kube-apiserver, which reaches kwok's server on the node's kubelet endpoint over TLS; kwok answers
 * from the runner's CRI log files and runs the command as a local process in the pod's volume.
 * Runs inside the cluster's network namespace (npm run test:e2e).
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import * as k8s from "@kubernetes/client-node";
import { apiErrorCode, clients, eventually, withNamespace, type Clients } from "../lib/kube.ts";

let c: Clients;
let ns: { name: string; drop: () => Promise<void> };
let other: { name: string; drop: () => Promise<void> };

/** kubectl's stdout, or its stderr and exit code when it fails. */
function kubectl(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile("kubectl", args, { env: process.env }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/**
 * A pod whose process prints five lines, then waits for a file named `go` in its volume (made
 * through exec below) and prints two more. busybox maps to the local /bin/sh; /data is rewritten
 * to the volume's local directory.
 */
function talker(namespace: string, lines: string): k8s.V1Pod {
  const script = [
    `for i in 1 2 3 4 5; do echo "${lines} $i"; done`,
    "while [ ! -f /data/go ]; do sleep 0.1; done",
    `echo "${lines} after 1"; echo "${lines} after 2"; echo "${lines} on stderr" >&2`,
    "exec sleep 3600",
  ].join("\n");
  return {
    metadata: { name: "talker", namespace },
    spec: {
      containers: [
        {
          name: "main",
          image: "busybox:1.36",
          command: ["/bin/sh", "-c", script],
          volumeMounts: [{ name: "data", mountPath: "/data" }],
        },
      ],
      volumes: [{ name: "data", persistentVolumeClaim: { claimName: "data" } }],
    },
  };
}

async function startTalker(namespace: string, lines: string): Promise<string> {
  await c.core.createNamespacedPersistentVolumeClaim({
    namespace,
    body: {
      metadata: { name: "data" },
      spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } },
    },
  });
  await c.core.createNamespacedPod({ namespace, body: talker(namespace, lines) });
  await eventually(`talker in ${namespace} Running`, async () => {
    const p = await c.core.readNamespacedPod({ name: "talker", namespace });
    return p.status?.phase === "Running" ? p : undefined;
  });
  const pvc = await c.core.readNamespacedPersistentVolumeClaim({ name: "data", namespace });
  const pv = await c.core.readPersistentVolume({ name: pvc.spec!.volumeName! });
  return pv.spec!.hostPath!.path;
}

let volume: string;

/** Prints the pod's identity and whether the harness's own environment leaked into the exec. */
const ENV_PROBE = 'echo "$POD_NAMESPACE/$POD_NAME ${PORTICO_CLUSTER_STATE:-none}"';

before(async () => {
  c = clients();
  ns = await withNamespace(c, "logs");
  other = await withNamespace(c, "logs-other");
  volume = await startTalker(ns.name, "line");
  await startTalker(other.name, "other");
  // All five lines are out before the tail is read (the process then waits for `go`).
  const lastLines: [string, string][] = [
    [ns.name, "line 5\n"],
    [other.name, "other 5\n"],
  ];
  for (const [namespace, last] of lastLines) {
    await eventually(`five lines logged in ${namespace}`, async () => {
      const r = await kubectl("-n", namespace, "logs", "talker");
      return r.stdout.includes(last) ? true : undefined;
    });
  }
});
after(async () => {
  await Promise.all([ns.drop(), other.drop()]);
});

test("kubectl logs --tail=N returns exactly the last N lines the process printed", async () => {
  const all = await kubectl("-n", ns.name, "logs", "talker");
  assert.equal(all.code, 0, all.stderr);
  assert.equal(all.stdout, "line 1\nline 2\nline 3\nline 4\nline 5\n");
  const tail = await kubectl("-n", ns.name, "logs", "talker", "--tail=2");
  assert.equal(tail.stdout, "line 4\nline 5\n");
  const stamped = await kubectl("-n", ns.name, "logs", "talker", "--tail=1", "--timestamps");
  assert.match(
    stamped.stdout,
    /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z line 5\n$/,
    "timestamps from the log file",
  );
});

test("@kubernetes/client-node reads pods/log through the API server", async () => {
  const text = await c.core.readNamespacedPodLog({ name: "talker", namespace: ns.name, tailLines: 3 });
  assert.equal(text, "line 3\nline 4\nline 5\n");
});

test("a pod is read by its own namespace and name only: no other pod's lines, 404 for a name it lacks", async () => {
  const theirs = await kubectl("-n", other.name, "logs", "talker", "--tail=1");
  assert.equal(theirs.stdout, "other 5\n", "the same pod name in another namespace is another pod");
  const missing = await kubectl("-n", other.name, "logs", "no-such-pod");
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, /NotFound|not found/);
  await assert.rejects(
    c.core.readNamespacedPodLog({ name: "no-such-pod", namespace: ns.name }),
    (err) => apiErrorCode(err) === 404,
  );
  const exec = await kubectl("-n", other.name, "exec", "no-such-pod", "--", "true");
  assert.match(exec.stderr, /NotFound|not found/);
});

test("kubectl exec runs in the pod's volume directory; kubectl logs -f follows new lines", async () => {
  const follow = spawn("kubectl", ["-n", ns.name, "logs", "-f", "talker"], { env: process.env });
  let seen = "";
  const exited = new Promise<never>((_, reject) =>
    follow.once("exit", (code) => reject(new Error(`kubectl logs -f exited (${code}): ${seen}`))),
  );
  exited.catch(() => undefined);
  let waiters: (() => void)[] = [];
  follow.stdout.on("data", (d: Buffer) => {
    seen += d.toString();
    for (const w of waiters) w();
  });
  /** Resolves once the followed output contains `text`: new lines arrive as they are written. */
  const saw = (text: string) =>
    Promise.race([
      exited,
      new Promise<void>((resolve) => {
        const check = () => {
          if (!seen.includes(text)) return;
          waiters = waiters.filter((w) => w !== check);
          resolve();
        };
        waiters.push(check);
        check();
      }),
    ]);
  try {
    await saw("line 5\n");
    const r = await kubectl("-n", ns.name, "exec", "talker", "--", "sh", "-c", "pwd; echo hi > f; cat f");
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${volume}\nhi\n`, "runs in the volume's local directory");
    assert.equal(await readFile(join(volume, "f"), "utf8"), "hi\n", "and writes there");
    const env = await kubectl("-n", ns.name, "exec", "talker", "--", "sh", "-c", ENV_PROBE);
    assert.equal(env.stdout, `${ns.name}/talker none\n`, "the pod's identity, not the harness's env");
    // The pod prints two more lines once `go` is in its volume.
    assert.equal((await kubectl("-n", ns.name, "exec", "talker", "--", "touch", "go")).code, 0);
    await Promise.all([saw("line after 2\n"), saw("line on stderr\n")]);
    // stdout in order; stderr, a pipe of its own, lands anywhere after the wait.
    const lines = seen.split("\n").filter(Boolean);
    assert.deepEqual(
      lines.filter((l) => l !== "line on stderr"),
      ["line 1", "line 2", "line 3", "line 4", "line 5", "line after 1", "line after 2"],
    );
    assert.equal(lines.filter((l) => l === "line on stderr").length, 1);
  } finally {
    follow.kill();
  }
});

test("exec with a TTY: a terminal, its size from the client, and resizes", async () => {
  const stdin = new PassThrough();
  const stdout = Object.assign(new PassThrough(), { rows: 40, columns: 100 });
  let out = "";
  stdout.on("data", (d: Buffer) => (out += d.toString()));
  const status = new Promise<k8s.V1Status>((resolve) => {
    void new k8s.Exec(c.kc).exec(
      ns.name,
      "talker",
      "main",
      ["sh", "-c", 'while read -r l; do [ "$l" = q ] && exit 0; [ -t 0 ] && echo "tty $(stty size)"; done'],
      stdout,
      null,
      stdin,
      true,
      resolve,
    );
  });
  // The size travels on its own channel: ask until the shell sees it, not once.
  const size = (want: string) =>
    eventually(`terminal size ${want}`, async () => {
      stdin.write("s\n");
      return out.includes(`tty ${want}`) ? true : undefined;
    });
  await size("40 100");
  Object.assign(stdout, { rows: 50, columns: 120 }).emit("resize");
  await size("50 120");
  stdin.write("q\n");
  assert.equal((await status).status, "Success");
});

test("after a restart, kubectl logs shows the new run and --previous the one before", async () => {
  // Counts its runs in an emptyDir (it lives as long as the pod): the first run fails, the second stays.
  const script = [
    "n=$(cat /scratch/n 2>/dev/null || echo 0); n=$((n + 1)); echo $n > /scratch/n",
    'echo "run $n"',
    '[ "$n" -ge 2 ] && exec sleep 3600',
    "exit 1",
  ].join("\n");
  await c.core.createNamespacedPod({
    namespace: ns.name,
    body: {
      metadata: { name: "restarter" },
      spec: {
        containers: [
          {
            name: "main",
            image: "busybox:1.36",
            command: ["/bin/sh", "-c", script],
            volumeMounts: [{ name: "scratch", mountPath: "/scratch" }],
          },
        ],
        volumes: [{ name: "scratch", emptyDir: {} }],
      },
    },
  });
  await eventually("restarter running after one restart", async () => {
    const p = await c.core.readNamespacedPod({ name: "restarter", namespace: ns.name });
    const s = p.status?.containerStatuses?.[0];
    return s?.restartCount === 1 && s.state?.running ? true : undefined;
  });
  const now = await eventually("the second run's line", async () => {
    const r = await kubectl("-n", ns.name, "logs", "restarter");
    return r.stdout ? r : undefined;
  });
  assert.equal(now.stdout, "run 2\n");
  const previous = await kubectl("-n", ns.name, "logs", "restarter", "--previous");
  assert.equal(previous.stdout, "run 1\n", previous.stderr);
});
