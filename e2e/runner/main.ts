/**
 * The pod runner: turns pods that kwok "runs" on a fake node into real local processes.
 *
 * kwok gives each pod on its node the phase Running and an IP from the pod CIDR. The runner then
 * starts, inside the cluster's network namespace, the local executable that images.yaml maps the
 * container image to, with the container's args and env, bound to the pod IP and port. Init
 * containers run first, to completion, in order. Volumes are local directories: a claim's volume
 * (from the local-dir provisioner in provisioner.ts) outlives the pod; emptyDir, Secret and
 * ConfigMap volumes live and die with it. When the pod goes, its processes' whole process groups
 * are stopped (TERM, then KILL after the grace period).
 *
 * A fake only in one respect: there is no container runtime and no image, just a process per
 * container. Readiness and phase come from kwok, not from the process.
 */
import * as k8s from "@kubernetes/client-node";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdir, open, rm, writeFile } from "node:fs/promises";
import { readFileSync } from "node:fs";
import { join, resolve, sep } from "node:path";
import { parseArgs } from "node:util";
import { parse as parseYaml } from "yaml";
import { processFor, translatePaths, type ImageRule } from "./images.ts";
import { buildVolume, shouldDelete, volumeNameFor, wantsVolume, PROVISIONER } from "./provisioner.ts";

const { values: flags } = parseArgs({
  options: {
    kubeconfig: { type: "string" },
    node: { type: "string" },
    images: { type: "string" },
    volumes: { type: "string" },
    state: { type: "string" },
  },
});
for (const f of ["kubeconfig", "node", "images", "volumes", "state"] as const) {
  if (!flags[f]) {
    console.error(`runner: --${f} is required`);
    process.exit(2);
  }
}
const NODE_NAME = flags.node!;
const VOLUMES_DIR = resolve(flags.volumes!);
const STATE_DIR = resolve(flags.state!);
const REPO = resolve(import.meta.dirname, "../..");
const rules = (parseYaml(readFileSync(flags.images!, "utf8")) as { images: ImageRule[] }).images;

const kc = new k8s.KubeConfig();
kc.loadFromFile(flags.kubeconfig!);
const core = kc.makeApiClient(k8s.CoreV1Api);
const storage = kc.makeApiClient(k8s.StorageV1Api);

function log(msg: string, extra: Record<string, unknown> = {}): void {
  console.log(JSON.stringify({ time: new Date().toISOString(), msg, ...extra }));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const keyOf = (o: k8s.KubernetesObject) => `${o.metadata?.namespace}/${o.metadata?.name}`;

// ---------------------------------------------------------------- informers

function informer<T extends k8s.KubernetesObject>(
  path: string,
  list: () => Promise<k8s.KubernetesListObject<T>>,
) {
  const inf = k8s.makeInformer<T>(kc, path, list);
  inf.on("error", (err) => {
    log("watch error, restarting", { path, error: String(err) });
    setTimeout(() => void inf.start().catch(() => undefined), 1000);
  });
  return inf;
}

const pods = informer<k8s.V1Pod>("/api/v1/pods", () => core.listPodForAllNamespaces());
const claims = informer<k8s.V1PersistentVolumeClaim>("/api/v1/persistentvolumeclaims", () =>
  core.listPersistentVolumeClaimForAllNamespaces(),
);
const volumes = informer<k8s.V1PersistentVolume>("/api/v1/persistentvolumes", () =>
  core.listPersistentVolume(),
);
const classes = informer<k8s.V1StorageClass>("/apis/storage.k8s.io/v1/storageclasses", () =>
  storage.listStorageClass(),
);

// ---------------------------------------------------------------- volume provisioning

const provisionerOfClass = (name: string) => classes.get(name)?.provisioner;

async function provision(pvc: k8s.V1PersistentVolumeClaim): Promise<void> {
  if (!wantsVolume(pvc, provisionerOfClass)) return;
  const dir = join(VOLUMES_DIR, volumeNameFor(pvc));
  await mkdir(dir, { recursive: true, mode: 0o777 });
  const cls = pvc.spec?.storageClassName ? classes.get(pvc.spec.storageClassName) : undefined;
  const pv = buildVolume(pvc, dir, cls?.reclaimPolicy ?? "Delete");
  try {
    await core.createPersistentVolume({ body: pv });
    log("provisioned volume", { claim: keyOf(pvc), volume: pv.metadata?.name, dir });
  } catch (err) {
    if ((err as { code?: number }).code !== 409) throw err;
  }
}

async function reclaim(pv: k8s.V1PersistentVolume): Promise<void> {
  if (!shouldDelete(pv)) return;
  const dir = pv.spec?.hostPath?.path;
  // Never remove anything outside our own volumes directory, whatever a PV says.
  if (dir && resolve(dir).startsWith(VOLUMES_DIR + sep)) await rm(dir, { recursive: true, force: true });
  await core.deletePersistentVolume({ name: pv.metadata!.name! }).catch(() => undefined);
  log("deleted released volume", { volume: pv.metadata?.name, dir });
}

// ---------------------------------------------------------------- pods → processes

interface PodRun {
  key: string;
  stopping: boolean;
  children: Set<ChildProcess>;
  dir: string;
}
const runs = new Map<string, PodRun>();

function isOurs(pod: k8s.V1Pod): boolean {
  return pod.spec?.nodeName === NODE_NAME;
}

async function event(
  pod: k8s.V1Pod,
  type: "Normal" | "Warning",
  reason: string,
  message: string,
): Promise<void> {
  const ns = pod.metadata!.namespace!;
  await core
    .createNamespacedEvent({
      namespace: ns,
      body: {
        metadata: { generateName: `${pod.metadata!.name}.`, namespace: ns },
        involvedObject: {
          kind: "Pod",
          apiVersion: "v1",
          namespace: ns,
          name: pod.metadata!.name,
          uid: pod.metadata!.uid,
        },
        reason,
        message,
        type,
        source: { component: "portico-pod-runner", host: NODE_NAME },
        firstTimestamp: new Date(),
        lastTimestamp: new Date(),
        count: 1,
      },
    })
    .catch((err) => log("could not record event", { error: String(err) }));
}

/** Local directories for the pod's volumes, or a reason to wait (a claim not bound yet). */
async function podVolumes(pod: k8s.V1Pod, run: PodRun): Promise<Map<string, string> | string> {
  const byName = new Map<string, string>();
  for (const v of pod.spec?.volumes ?? []) {
    if (v.persistentVolumeClaim) {
      const pvc = claims.get(v.persistentVolumeClaim.claimName, pod.metadata!.namespace);
      const pv = pvc?.spec?.volumeName ? volumes.get(pvc.spec.volumeName) : undefined;
      const dir = pv?.spec?.hostPath?.path;
      if (!dir || pvc?.status?.phase !== "Bound")
        return `claim ${v.persistentVolumeClaim.claimName} is not bound yet`;
      byName.set(v.name, dir);
    } else if (v.secret || v.configMap) {
      const dir = join(run.dir, "volumes", v.name);
      await mkdir(dir, { recursive: true });
      const data = v.secret
        ? Object.fromEntries(
            Object.entries(
              (
                await core.readNamespacedSecret({
                  name: v.secret.secretName!,
                  namespace: pod.metadata!.namespace!,
                })
              ).data ?? {},
            ).map(([k, b64]) => [k, Buffer.from(b64, "base64")]),
          )
        : Object.fromEntries(
            Object.entries(
              (
                await core.readNamespacedConfigMap({
                  name: v.configMap!.name!,
                  namespace: pod.metadata!.namespace!,
                })
              ).data ?? {},
            ).map(([k, s]) => [k, Buffer.from(s)]),
          );
      for (const [k, buf] of Object.entries(data))
        await writeFile(join(dir, k), buf, { mode: v.secret ? 0o600 : 0o644 });
      byName.set(v.name, dir);
    } else {
      // emptyDir and anything else: scratch space that goes with the pod.
      const dir = join(run.dir, "volumes", v.name);
      await mkdir(dir, { recursive: true });
      byName.set(v.name, dir);
    }
  }
  return byName;
}

async function containerEnv(pod: k8s.V1Pod, c: k8s.V1Container): Promise<Record<string, string>> {
  const ns = pod.metadata!.namespace!;
  const env: Record<string, string> = {
    POD_NAME: pod.metadata!.name!,
    POD_NAMESPACE: ns,
    POD_IP: pod.status?.podIP ?? "",
  };
  const fields: Record<string, string | undefined> = {
    "metadata.name": pod.metadata?.name,
    "metadata.namespace": ns,
    "status.podIP": pod.status?.podIP,
    "spec.nodeName": pod.spec?.nodeName,
    "spec.serviceAccountName": pod.spec?.serviceAccountName,
  };
  for (const e of c.env ?? []) {
    if (e.value !== undefined) env[e.name] = e.value;
    else if (e.valueFrom?.fieldRef) env[e.name] = fields[e.valueFrom.fieldRef.fieldPath] ?? "";
    else if (e.valueFrom?.secretKeyRef) {
      const ref = e.valueFrom.secretKeyRef;
      const s = await core.readNamespacedSecret({ name: ref.name!, namespace: ns });
      const b64 = s.data?.[ref.key];
      if (b64 === undefined && !ref.optional) throw new Error(`secret ${ref.name} has no key ${ref.key}`);
      if (b64 !== undefined) env[e.name] = Buffer.from(b64, "base64").toString();
    } else if (e.valueFrom?.configMapKeyRef) {
      const ref = e.valueFrom.configMapKeyRef;
      const cm = await core.readNamespacedConfigMap({ name: ref.name!, namespace: ns });
      const v = cm.data?.[ref.key];
      if (v === undefined && !ref.optional) throw new Error(`configmap ${ref.name} has no key ${ref.key}`);
      if (v !== undefined) env[e.name] = v;
    }
  }
  return env;
}

/** Starts one container's process in its own process group; resolves with it, or an error text. */
async function spawnContainer(
  pod: k8s.V1Pod,
  run: PodRun,
  c: k8s.V1Container,
  vols: Map<string, string>,
): Promise<ChildProcess | string> {
  const mounts = new Map<string, string>();
  for (const m of c.volumeMounts ?? []) {
    const dir = vols.get(m.name);
    if (dir) mounts.set(m.mountPath, m.subPath ? join(dir, m.subPath) : dir);
  }
  for (const dir of mounts.values()) await mkdir(dir, { recursive: true });
  const port = String(c.ports?.[0]?.containerPort ?? 8080);
  const spec = processFor(c, rules, { podIP: pod.status!.podIP!, port, repo: REPO }, mounts);
  if ("error" in spec) return spec.error;
  let env: Record<string, string>;
  try {
    env = await containerEnv(pod, c);
  } catch (err) {
    return String((err as Error).message ?? err);
  }
  for (const k of Object.keys(env)) env[k] = translatePaths(env[k]!, mounts);
  const logFile = await open(
    join(STATE_DIR, "logs", `${pod.metadata!.namespace}_${pod.metadata!.name}_${c.name}.log`),
    "a",
  );
  const cwd = c.workingDir ? translatePaths(c.workingDir, mounts) : ([...mounts.values()][0] ?? run.dir);
  await mkdir(cwd, { recursive: true });
  const child = spawn(spec.file, spec.args, {
    cwd,
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: process.env.HOME ?? "/root",
      ...env,
      ...spec.env,
    },
    stdio: ["ignore", logFile.fd, logFile.fd],
    detached: true, // its own process group, so stopping the pod stops every child it forks
  });
  child.on("exit", () => void logFile.close().catch(() => undefined));
  child.on("error", () => void logFile.close().catch(() => undefined));
  run.children.add(child);
  log("started container", {
    pod: run.key,
    container: c.name,
    pid: child.pid,
    file: spec.file,
    args: spec.args,
  });
  return child;
}

const exited = (child: ChildProcess) =>
  new Promise<number>((res) => {
    if (child.exitCode !== null) return res(child.exitCode);
    child.once("exit", (code, signal) => res(code ?? (signal ? 128 : 1)));
    child.once("error", () => res(127));
  });

async function startPod(pod: k8s.V1Pod): Promise<void> {
  const uid = pod.metadata!.uid!;
  const run: PodRun = {
    key: keyOf(pod),
    stopping: false,
    children: new Set(),
    dir: join(STATE_DIR, "pods", uid),
  };
  runs.set(uid, run);
  await mkdir(run.dir, { recursive: true });

  let vols: Map<string, string> | string;
  for (;;) {
    if (run.stopping) return;
    vols = await podVolumes(pods.get(pod.metadata!.name!, pod.metadata!.namespace) ?? pod, run);
    if (typeof vols !== "string") break;
    await sleep(500);
  }
  for (const c of pod.spec?.initContainers ?? []) {
    for (let attempt = 0; !run.stopping; attempt++) {
      const child = await spawnContainer(pod, run, c, vols);
      if (typeof child === "string") {
        await event(pod, "Warning", "Failed", `init container ${c.name}: ${child}`);
        await sleep(Math.min(30_000, 1000 * 2 ** attempt));
        continue;
      }
      const code = await exited(child);
      run.children.delete(child);
      if (code === 0) break;
      await event(pod, "Warning", "BackOff", `init container ${c.name} exited with code ${code}`);
      await sleep(Math.min(30_000, 1000 * 2 ** attempt));
    }
  }
  for (const c of pod.spec?.containers ?? []) void superviseContainer(pod, run, c, vols);
}

/** Runs a main container and restarts it with capped backoff, as restartPolicy Always would. */
async function superviseContainer(
  pod: k8s.V1Pod,
  run: PodRun,
  c: k8s.V1Container,
  vols: Map<string, string>,
) {
  const policy = pod.spec?.restartPolicy ?? "Always";
  for (let attempt = 0; !run.stopping; attempt++) {
    const child = await spawnContainer(pod, run, c, vols);
    if (typeof child === "string") {
      await event(pod, "Warning", "Failed", `container ${c.name}: ${child}`);
    } else {
      if (attempt === 0)
        await event(pod, "Normal", "Started", `started container ${c.name} as pid ${child.pid}`);
      const code = await exited(child);
      run.children.delete(child);
      if (run.stopping) return;
      log("container exited", { pod: run.key, container: c.name, code });
      if (policy === "Never" || (policy === "OnFailure" && code === 0)) return;
    }
    await sleep(Math.min(30_000, 500 * 2 ** attempt));
  }
}

async function stopPod(uid: string, graceSeconds = 5): Promise<void> {
  const run = runs.get(uid);
  if (!run || run.stopping) return;
  run.stopping = true;
  const groups = [...run.children].map((c) => c.pid).filter((p): p is number => p !== undefined);
  const signal = (sig: NodeJS.Signals) => {
    for (const pgid of groups) {
      try {
        process.kill(-pgid, sig);
      } catch {
        // already gone
      }
    }
  };
  signal("SIGTERM");
  const deadline = Date.now() + Math.min(graceSeconds, 10) * 1000;
  while (Date.now() < deadline && groups.some(groupAlive)) await sleep(100);
  signal("SIGKILL");
  await rm(run.dir, { recursive: true, force: true });
  runs.delete(uid);
  log("stopped pod", { pod: run.key, groups });
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

function onPod(pod: k8s.V1Pod): void {
  if (!isOurs(pod)) return;
  const uid = pod.metadata!.uid!;
  if (pod.metadata?.deletionTimestamp) {
    void stopPod(uid, pod.metadata.deletionGracePeriodSeconds ?? 5);
    return;
  }
  if (runs.has(uid) || !pod.status?.podIP || pod.status.phase !== "Running") return;
  startPod(pod).catch((err) => log("pod start failed", { pod: keyOf(pod), error: String(err) }));
}

// ---------------------------------------------------------------- wiring

async function main(): Promise<void> {
  await mkdir(join(STATE_DIR, "logs"), { recursive: true });
  await mkdir(VOLUMES_DIR, { recursive: true });
  pods.on("add", onPod);
  pods.on("update", onPod);
  pods.on("delete", (pod) => void stopPod(pod.metadata!.uid!, 0));
  const safely = (what: string, f: () => Promise<void>) =>
    f().catch((err) => log(`${what} failed`, { error: String((err as Error).message ?? err) }));
  claims.on("add", (c) => void safely("provision", () => provision(c)));
  claims.on("update", (c) => void safely("provision", () => provision(c)));
  volumes.on("add", (v) => void safely("reclaim", () => reclaim(v)));
  volumes.on("update", (v) => void safely("reclaim", () => reclaim(v)));
  await classes.start();
  await volumes.start();
  await claims.start();
  await pods.start();
  // A slow resync: a claim that arrived before its StorageClass, or a missed event, is picked up.
  setInterval(() => {
    for (const c of claims.list()) void safely("provision", () => provision(c));
    for (const p of pods.list()) onPod(p);
  }, 5000).unref();
  await writeFile(join(STATE_DIR, "ready"), String(process.pid));
  log("runner ready", { node: NODE_NAME, provisioner: PROVISIONER, volumes: VOLUMES_DIR });
}

async function shutdown(): Promise<void> {
  await Promise.all([...runs.keys()].map((uid) => stopPod(uid, 2)));
  process.exit(0);
}
process.on("SIGTERM", () => void shutdown());
process.on("SIGINT", () => void shutdown());

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
