/**
 * The pod runner: the kubelet of the kwok node. kwok keeps the node alive; the runner runs its pods.
 *
 * For each pod scheduled to the node it allocates a pod IP (198.18.128.0/17), then starts, inside
 * the cluster's network namespace, the local executable that images.yaml maps each container image
 * to, with the container's args and env, bound to the pod IP and port. Init containers run first,
 * to completion, in order. It reports pod status as a kubelet would, from the real processes:
 * waiting reasons (ContainerCreating, PodInitializing, ErrImagePull/ImagePullBackOff for an image
 * it cannot map, CreateContainerConfigError for a missing Secret or ConfigMap key), running,
 * terminated with exit code, restarts with capped backoff (CrashLoopBackOff), and readiness from
 * the container's readiness probe. Volumes are local directories: a claim's volume (from the
 * local-dir provisioner in provisioner.ts) outlives the pod; emptyDir, Secret and ConfigMap volumes
 * live and die with it. When a pod is deleted, its processes' whole process groups are stopped
 * (TERM, then KILL after the grace period) and the deletion is confirmed.
 *
 * Logs and exec: each container's stdout and stderr go to a CRI-format log file (crilog.ts), and
 * each pod gets kwok Logs and Exec objects (kwok.ts) naming those files and the container's
 * working directory and environment. kwok's server, the node's kubelet endpoint, answers the API
 * server's pods/log and pods/exec from them: `kubectl logs` and `kubectl exec` take the real path.
 *
 * Where it is a fake: there is no container runtime and no image, just a process per container,
 * running as the runner's user, with no resource limits; exec probes pass.
 */
import * as k8s from "@kubernetes/client-node";
import { PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, readFileSync } from "node:fs";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { join, resolve, sep } from "node:path";
import { parseArgs } from "node:util";
import { parse as parseYaml } from "yaml";
import { PooledKubeConfig } from "../../common/runtime/pooled-kubeconfig.ts";
import { containerMounts, processFor, translatePaths, workDirFor, type ImageRule } from "./images.ts";
import { criText, flushCriRecord, toCriRecords, type LogStream } from "./crilog.ts";
import {
  containerLogFiles,
  execEnv,
  execFor,
  logsFor,
  podLogDir,
  KWOK_API_VERSION,
  type ExecTarget,
  type KwokObject,
} from "./kwok.ts";
import { IpPool } from "./ipam.ts";
import {
  DEFAULT_TERMINATION_MESSAGE_PATH,
  computePodStatus,
  statusKey,
  terminationMessage,
  withTransitionTimes,
  type ContainerRuntime,
  type PodRuntime,
} from "./podstatus.ts";
import { buildVolume, shouldDelete, volumeNameFor, wantsVolume, PROVISIONER } from "./provisioner.ts";

const { values: flags } = parseArgs({
  options: {
    kubeconfig: { type: "string" },
    node: { type: "string" },
    images: { type: "string" },
    volumes: { type: "string" },
    state: { type: "string" },
    "node-ip": { type: "string" },
    "pod-ips": { type: "string" },
  },
});
for (const f of ["kubeconfig", "node", "images", "volumes", "state", "node-ip", "pod-ips"] as const) {
  if (!flags[f]) {
    console.error(`runner: --${f} is required`);
    process.exit(2);
  }
}
const NODE_NAME = flags.node!;
const NODE_IP = flags["node-ip"]!;
const [POD_FIRST_IP, POD_LAST_IP] = flags["pod-ips"]!.split("-") as [string, string];
const VOLUMES_DIR = resolve(flags.volumes!);
const STATE_DIR = resolve(flags.state!);
const REPO = resolve(import.meta.dirname, "../..");
const rules = (parseYaml(readFileSync(flags.images!, "utf8")) as { images: ImageRule[] }).images;

// One connection pool, as a kubelet keeps one: client-node alone opens a TLS connection per request,
// and under bench:operator with 1,000 pods this runner held about 800 connections to the API server,
// whose TLS handshakes took 12% of its CPU (a kube-apiserver profile: docs/benchmarks.md, operator notes).
const kc = new PooledKubeConfig();
kc.loadFromFile(flags.kubeconfig!);
const core = kc.makeApiClient(k8s.CoreV1Api);
const storage = kc.makeApiClient(k8s.StorageV1Api);
const objects = k8s.KubernetesObjectApi.makeApiClient(kc);
const LOGS_ROOT = join(STATE_DIR, "logs");

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

// ---------------------------------------------------------------- pods → processes (the kubelet part)

interface ContainerRun extends ContainerRuntime {
  spec: k8s.V1Container;
  child?: ChildProcess;
  /** Resolves when the current run's output is all in its log file. */
  logged?: Promise<void>;
}

interface PodRun {
  key: string;
  uid: string;
  pod: k8s.V1Pod;
  stopping: boolean;
  dir: string;
  /** Its containers' CRI log files (logs/<ns>_<name>_<uid>/), read by kwok for pods/log. */
  logDir: string;
  rt: PodRuntime & { init: ContainerRun[]; main: ContainerRun[] };
  /** Its volumes' local directories, once they are all there. */
  vols?: Map<string, string>;
  /** Whether its kwok Logs and Exec objects are written (retried by the resync until they are). */
  kwokWritten: boolean;
  lastWritten?: string;
  lastStatus?: k8s.V1PodStatus;
  writing: Promise<void>;
}
const runs = new Map<string, PodRun>();
const pool = new IpPool(POD_FIRST_IP, POD_LAST_IP);

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
        source: { component: "kubelet", host: NODE_NAME },
        firstTimestamp: new Date(),
        lastTimestamp: new Date(),
        count: 1,
      },
    })
    .catch((err) => log("could not record event", { error: String(err) }));
}

/** Writes the pod's status when it differs from what was last written; one write at a time per pod. */
function publish(run: PodRun): Promise<void> {
  run.writing = run.writing.then(async () => {
    if (run.stopping) return;
    const next = withTransitionTimes(computePodStatus(run.pod, run.rt), run.lastStatus, new Date());
    const key = statusKey(next);
    if (key === run.lastWritten) return;
    try {
      await core.patchNamespacedPodStatus(
        { name: run.pod.metadata!.name!, namespace: run.pod.metadata!.namespace!, body: { status: next } },
        setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
      );
      run.lastWritten = key;
      run.lastStatus = next;
    } catch (err) {
      if ((err as { code?: number }).code === 404) return;
      log("status write failed", { pod: run.key, error: String(err) });
      setTimeout(() => void publish(run), 1000);
    }
  });
  return run.writing;
}

/** Local directories for the pod's volumes, or why not yet (a claim not bound, a missing secret). */
async function podVolumes(pod: k8s.V1Pod, run: PodRun): Promise<Map<string, string> | string> {
  const byName = new Map<string, string>();
  const ns = pod.metadata!.namespace!;
  for (const v of pod.spec?.volumes ?? []) {
    if (v.persistentVolumeClaim) {
      const pvc = claims.get(v.persistentVolumeClaim.claimName, ns);
      const pv = pvc?.spec?.volumeName ? volumes.get(pvc.spec.volumeName) : undefined;
      const dir = pv?.spec?.hostPath?.path;
      if (!dir || pvc?.status?.phase !== "Bound")
        return `persistentvolumeclaim "${v.persistentVolumeClaim.claimName}" is not bound`;
      byName.set(v.name, dir);
    } else if (v.secret || v.configMap) {
      const dir = join(run.dir, "volumes", v.name);
      await mkdir(dir, { recursive: true });
      let data: Record<string, Buffer>;
      try {
        data = v.secret
          ? Object.fromEntries(
              Object.entries(
                (await core.readNamespacedSecret({ name: v.secret.secretName!, namespace: ns })).data ?? {},
              ).map(([k, b64]) => [k, Buffer.from(b64, "base64")]),
            )
          : Object.fromEntries(
              Object.entries(
                (await core.readNamespacedConfigMap({ name: v.configMap!.name!, namespace: ns })).data ?? {},
              ).map(([k, s]) => [k, Buffer.from(s)]),
            );
      } catch (err) {
        if ((err as { code?: number }).code !== 404) throw err;
        if (v.secret?.optional || v.configMap?.optional) data = {};
        else
          return v.secret
            ? `secret "${v.secret.secretName}" not found`
            : `configmap "${v.configMap!.name}" not found`;
      }
      const mode = v.secret?.defaultMode ?? v.configMap?.defaultMode ?? (v.secret ? 0o600 : 0o644);
      for (const [k, buf] of Object.entries(data)) await writeFile(join(dir, k), buf, { mode });
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

class ConfigError extends Error {}

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
  const read = async <T>(what: string, name: string, f: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await f();
    } catch (err) {
      if ((err as { code?: number }).code === 404) return undefined;
      throw err;
    }
  };
  for (const e of c.env ?? []) {
    if (e.value !== undefined) env[e.name] = e.value;
    else if (e.valueFrom?.fieldRef) env[e.name] = fields[e.valueFrom.fieldRef.fieldPath] ?? "";
    else if (e.valueFrom?.secretKeyRef) {
      const ref = e.valueFrom.secretKeyRef;
      const s = await read("secret", ref.name!, () =>
        core.readNamespacedSecret({ name: ref.name!, namespace: ns }),
      );
      const b64 = s?.data?.[ref.key];
      if (b64 === undefined && !ref.optional) {
        throw new ConfigError(
          s ? `couldn't find key ${ref.key} in Secret ${ns}/${ref.name}` : `secret "${ref.name}" not found`,
        );
      }
      if (b64 !== undefined) env[e.name] = Buffer.from(b64, "base64").toString();
    } else if (e.valueFrom?.configMapKeyRef) {
      const ref = e.valueFrom.configMapKeyRef;
      const cm = await read("configmap", ref.name!, () =>
        core.readNamespacedConfigMap({ name: ref.name!, namespace: ns }),
      );
      const v = cm?.data?.[ref.key];
      if (v === undefined && !ref.optional) {
        throw new ConfigError(
          cm
            ? `couldn't find key ${ref.key} in ConfigMap ${ns}/${ref.name}`
            : `configmap "${ref.name}" not found`,
        );
      }
      if (v !== undefined) env[e.name] = v;
    }
  }
  return env;
}

/** Starts one container's process in its own process group; or sets its waiting reason and returns undefined. */
async function spawnContainer(
  run: PodRun,
  c: ContainerRun,
  vols: Map<string, string>,
): Promise<ChildProcess | undefined> {
  const pod = run.pod;
  const mounts = containerMounts(c.spec, vols);
  for (const dir of mounts.values()) await mkdir(dir, { recursive: true });
  // The termination message path is one more translated path: to a per-container file the runner
  // reads when the container ends (a fresh one per run, as the kubelet gives each container).
  const termination = terminationFile(run, c);
  await rm(termination, { force: true });
  const paths = new Map([
    ...mounts,
    [c.spec.terminationMessagePath ?? DEFAULT_TERMINATION_MESSAGE_PATH, termination],
  ]);
  const port = String(c.spec.ports?.[0]?.containerPort ?? 8080);
  const spec = processFor(c.spec, rules, { podIP: run.rt.podIP, port, repo: REPO }, paths);
  if ("error" in spec) {
    Object.assign(c, {
      state: "waiting",
      reason: c.reason === "ErrImagePull" ? "ImagePullBackOff" : "ErrImagePull",
      message: spec.error,
    });
    await event(pod, "Warning", "Failed", `Failed to pull image "${c.image}": ${spec.error}`);
    return undefined;
  }
  let env: Record<string, string>;
  try {
    env = await containerEnv(pod, c.spec);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    Object.assign(c, { state: "waiting", reason: "CreateContainerConfigError", message: err.message });
    await event(pod, "Warning", "Failed", `Error: ${err.message}`);
    return undefined;
  }
  for (const k of Object.keys(env)) env[k] = translatePaths(env[k]!, paths);
  const logFile = await freshLogFile(run, c);
  const cwd = workDirFor(c.spec, mounts, run.dir);
  await mkdir(cwd, { recursive: true });
  const child = spawn(spec.file, spec.args, {
    cwd,
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: process.env.HOME ?? "/root",
      ...env,
      ...spec.env,
    },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true, // its own process group, so stopping the pod stops every child it forks
  });
  c.logged = recordOutput(child, logFile);
  Object.assign(c, { state: "running", reason: undefined, message: undefined, startedAt: new Date(), child });
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

/**
 * The container's log file for a new run: the last run's file becomes its previous log (what
 * `kubectl logs --previous` reads), as the kubelet keeps a restarted container's last log.
 */
async function freshLogFile(run: PodRun, c: ContainerRun): Promise<string> {
  const files = containerLogFiles(run.logDir, c.name);
  await mkdir(run.logDir, { recursive: true });
  await rename(files.current, files.previous).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== "ENOENT") throw err;
  });
  return files.current;
}

/**
 * Copies what the process writes to stdout and stderr into its log file as CRI records, each
 * stamped with the time it was read. Resolves once both streams have ended and all is written.
 */
function recordOutput(child: ChildProcess, file: string): Promise<void> {
  const out = createWriteStream(file, { flags: "a" });
  const done = new Promise<void>((res) => {
    out.once("close", res);
    out.once("error", (err) => {
      log("could not write a container log", { file, error: String(err) });
      res();
    });
  });
  let open = 2;
  const pipe = (stream: LogStream, src: NodeJS.ReadableStream) => {
    let rest: Buffer = Buffer.alloc(0);
    src.on("data", (chunk: Buffer) => {
      const r = toCriRecords(stream, rest, chunk, new Date());
      rest = r.rest;
      if (r.records.length) out.write(r.records);
    });
    src.once("close", () => {
      const last = flushCriRecord(stream, rest, new Date());
      if (last.length) out.write(last);
      if (--open === 0) out.end();
    });
  };
  pipe("stdout", child.stdout!);
  pipe("stderr", child.stderr!);
  return done;
}

/**
 * After a container's process exits: its process group's stragglers go too (a container's
 * processes end with its main one), then its output is all in the log file. Something that left
 * the group and still holds the output open is not waited for past a few seconds.
 */
async function afterExit(c: ContainerRun, pgid: number | undefined): Promise<void> {
  if (pgid !== undefined && groupAlive(pgid)) {
    try {
      process.kill(-pgid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  await Promise.race([c.logged, sleep(3000)]);
}

/** Where a container's termination message path is, locally. */
function terminationFile(run: PodRun, c: ContainerRun): string {
  return join(run.dir, "termination", c.name);
}

/** The terminated state's message: the termination message file, else the log's tail (`fallback`). */
async function finalMessage(run: PodRun, c: ContainerRun, fallback: boolean): Promise<string | undefined> {
  const file = await readFile(terminationFile(run, c)).catch(() => undefined);
  return terminationMessage(file, fallback ? await tail(run, c) : undefined);
}

/** The last lines a container printed, as the message of its terminated state. */
async function tail(run: PodRun, c: ContainerRun): Promise<string> {
  const file = await readFile(containerLogFiles(run.logDir, c.name).current, "utf8").catch(() => "");
  return criText(file).trim().split("\n").slice(-3).join("\n").slice(-1000);
}

// ---------------------------------------------------------------- logs and exec (kwok's server)

/** kwok object writes and deletes, one at a time per pod name: a new pod may reuse an old one's. */
const kwokWork = new Map<string, Promise<void>>();

function serialPerPod(key: string, f: () => Promise<void>): Promise<void> {
  const next = (kwokWork.get(key) ?? Promise.resolve()).then(f);
  const settled = next.catch(() => undefined);
  kwokWork.set(key, settled);
  void settled.then(() => kwokWork.get(key) === settled && kwokWork.delete(key));
  return next;
}

/** What `kubectl exec` runs with in each of the pod's containers (init containers too). */
function execTargets(run: PodRun, vols: Map<string, string>): ExecTarget[] {
  const values = { podIP: run.rt.podIP, repo: REPO };
  return [...run.rt.init, ...run.rt.main].map((c) => {
    const mounts = containerMounts(c.spec, vols);
    const port = String(c.spec.ports?.[0]?.containerPort ?? 8080);
    const spec = processFor(c.spec, rules, { ...values, port }, mounts);
    const imageEnv = "error" in spec ? {} : spec.env;
    const workDir = workDirFor(c.spec, mounts, run.dir);
    // kwok runs the command with its own environment beneath: without a HOME of the pod's, an
    // interactive shell (the console's terminal) would read and write the machine's own home.
    return {
      container: c.name,
      workDir,
      env: { HOME: workDir, ...execEnv(run.pod, c.spec, imageEnv, mounts) },
    };
  });
}

/**
 * Writes the pod's kwok Logs and Exec objects (server-side apply, so a rewrite is a no-op). A
 * failure is logged and left to the resync: logs and exec are not worth failing a pod for.
 */
async function writeKwok(run: PodRun): Promise<void> {
  const vols = run.vols;
  if (!vols || run.stopping) return;
  const targets = execTargets(run, vols);
  for (const t of targets) await mkdir(t.workDir, { recursive: true });
  const apply = (o: KwokObject) =>
    objects.patch(o, undefined, undefined, "portico-runner", true, PatchStrategy.ServerSideApply);
  await serialPerPod(run.key, async () => {
    await Promise.all([apply(logsFor(run.pod, run.logDir)), apply(execFor(run.pod, targets))]);
  })
    .then(() => (run.kwokWritten = true))
    .catch((err) => log("could not write kwok logs/exec", { pod: run.key, error: String(err) }));
}

/** Deletes the pod's kwok objects, but only while they still belong to it (not to a successor). */
async function deleteKwok(run: PodRun): Promise<void> {
  const [namespace, name] = [run.pod.metadata!.namespace!, run.pod.metadata!.name!];
  await serialPerPod(run.key, async () => {
    for (const kind of ["Logs", "Exec"]) {
      const ref = { apiVersion: KWOK_API_VERSION, kind, metadata: { name, namespace } };
      const found = await objects.read(ref).catch((err: { code?: number }) => {
        if (err.code === 404) return undefined;
        throw err;
      });
      if (!found?.metadata?.ownerReferences?.some((o) => o.uid === run.uid)) continue;
      const preconditions = { uid: found.metadata.uid, resourceVersion: found.metadata.resourceVersion };
      await objects.delete(ref, undefined, undefined, undefined, undefined, undefined, { preconditions });
    }
  }).catch((err: { code?: number }) => {
    if (err.code !== 404 && err.code !== 409)
      log("could not delete kwok logs/exec", { pod: run.key, error: String(err) });
  });
}

const backoff = (attempt: number) => Math.min(30_000, 1000 * 2 ** attempt);

async function startPod(pod: k8s.V1Pod): Promise<void> {
  const uid = pod.metadata!.uid!;
  const fresh = (c: k8s.V1Container, reason: string): ContainerRun => ({
    spec: c,
    name: c.name,
    image: c.image ?? "",
    state: "waiting",
    reason,
    restartCount: 0,
    ready: false,
  });
  const run: PodRun = {
    key: keyOf(pod),
    uid,
    pod,
    stopping: false,
    dir: join(STATE_DIR, "pods", uid),
    logDir: podLogDir(LOGS_ROOT, pod),
    kwokWritten: false,
    rt: {
      podIP: pod.status?.podIP ?? pool.allocate(uid),
      hostIP: NODE_IP,
      startTime: pod.status?.startTime ?? new Date(),
      init: (pod.spec?.initContainers ?? []).map((c) => fresh(c, "PodInitializing")),
      main: (pod.spec?.containers ?? []).map((c) =>
        fresh(c, pod.spec?.initContainers?.length ? "PodInitializing" : "ContainerCreating"),
      ),
    },
    writing: Promise.resolve(),
  };
  if (pod.status?.podIP) pool.reserve(uid, pod.status.podIP);
  runs.set(uid, run);
  run.pod = { ...pod, status: { ...pod.status, podIP: run.rt.podIP } };
  await mkdir(join(run.dir, "termination"), { recursive: true });
  await publish(run);

  let vols: Map<string, string> | string;
  for (let attempt = 0; ; attempt++) {
    if (run.stopping) return;
    vols = await podVolumes(run.pod, run);
    if (typeof vols !== "string") break;
    if (attempt === 0 || attempt % 20 === 0)
      await event(pod, "Warning", "FailedMount", `MountVolume.SetUp failed: ${vols}`);
    await sleep(500);
  }
  run.vols = vols;
  // Before any container runs, so a pod seen running has its logs and exec (kwok sees them a
  // watch event later).
  await writeKwok(run);
  for (const c of run.rt.init) {
    for (let attempt = 0; !run.stopping; attempt++) {
      const child = await spawnContainer(run, c, vols);
      await publish(run);
      if (!child) {
        await sleep(backoff(attempt));
        continue;
      }
      const code = await exited(child);
      if (run.stopping) return;
      await afterExit(c, child.pid);
      Object.assign(c, {
        state: "terminated",
        exitCode: code,
        finishedAt: new Date(),
        child: undefined,
        message: await finalMessage(run, c, code !== 0),
      });
      if (code === 0) break;
      c.restartCount++;
      await publish(run);
      await event(
        pod,
        "Warning",
        "BackOff",
        `Back-off restarting failed container ${c.name} (exit code ${code})`,
      );
      await sleep(backoff(attempt));
    }
  }
  for (const c of run.rt.main) void superviseContainer(run, c, vols);
}

/** Runs a main container, probes its readiness, and restarts it with capped backoff per restartPolicy. */
async function superviseContainer(run: PodRun, c: ContainerRun, vols: Map<string, string>): Promise<void> {
  const policy = run.pod.spec?.restartPolicy ?? "Always";
  for (let attempt = 0; !run.stopping; attempt++) {
    const child = await spawnContainer(run, c, vols);
    await publish(run);
    if (child) {
      const stopProbe = probeReadiness(run, c);
      const code = await exited(child);
      stopProbe();
      if (run.stopping) return;
      await afterExit(c, child.pid);
      log("container exited", { pod: run.key, container: c.name, code });
      Object.assign(c, {
        state: "terminated",
        exitCode: code,
        finishedAt: new Date(),
        ready: false,
        child: undefined,
        message: await finalMessage(run, c, true),
      });
      await publish(run);
      if (policy === "Never" || (policy === "OnFailure" && code === 0)) return;
      c.restartCount++;
      Object.assign(c, {
        state: "waiting",
        reason: "CrashLoopBackOff",
        message: `back-off restarting failed container ${c.name}`,
      });
      await publish(run);
    }
    await sleep(backoff(attempt));
  }
}

/**
 * Runs the container's readiness probe (httpGet or tcpSocket; none: ready once running) and
 * publishes changes. Probes at most every 2 s whatever periodSeconds says, to keep tests quick.
 */
function probeReadiness(run: PodRun, c: ContainerRun): () => void {
  const probe = c.spec.readinessProbe;
  if (!probe) {
    c.ready = true;
    void publish(run);
    return () => undefined;
  }
  const portOf = (p: number | string | undefined) =>
    typeof p === "number" ? p : (c.spec.ports?.find((x) => x.name === p)?.containerPort ?? Number(p));
  const periodMs = Math.min(probe.periodSeconds ?? 10, 2) * 1000;
  const timeoutMs = (probe.timeoutSeconds ?? 1) * 1000;
  const failureThreshold = probe.failureThreshold ?? 3;
  let failures = 0;
  let stopped = false;
  const once = async (): Promise<boolean> => {
    try {
      if (probe.httpGet) {
        const scheme = (probe.httpGet.scheme ?? "HTTP").toLowerCase();
        const url = `${scheme}://${run.rt.podIP}:${portOf(probe.httpGet.port)}${probe.httpGet.path ?? "/"}`;
        const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: "manual" });
        await res.body?.cancel();
        return res.status >= 200 && res.status < 400;
      }
      if (probe.tcpSocket) {
        await new Promise<void>((ok, fail) => {
          const s = connect(
            { host: run.rt.podIP, port: portOf(probe.tcpSocket!.port), timeout: timeoutMs },
            () => {
              s.destroy();
              ok();
            },
          );
          s.once("error", fail);
          s.once("timeout", () => fail(new Error("timeout")));
        });
        return true;
      }
      return true; // exec probes: no container to exec in; treated as passing
    } catch {
      return false;
    }
  };
  const loop = async () => {
    await sleep((probe.initialDelaySeconds ?? 0) * 1000);
    while (!stopped && !run.stopping) {
      const ok = await once();
      failures = ok ? 0 : failures + 1;
      const ready = ok ? true : failures >= failureThreshold ? false : c.ready;
      if (ready !== c.ready && !stopped) {
        c.ready = ready;
        await publish(run);
      }
      await sleep(periodMs);
    }
  };
  void loop();
  return () => {
    stopped = true;
  };
}

async function stopPod(uid: string, graceSeconds: number, confirm: k8s.V1Pod | undefined): Promise<void> {
  const run = runs.get(uid);
  if (run && !run.stopping) {
    run.stopping = true;
    const groups = [...run.rt.init, ...run.rt.main]
      .map((c) => c.child?.pid)
      .filter((p): p is number => p !== undefined);
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
    if (!shuttingDown) await deleteKwok(run);
    await rm(run.dir, { recursive: true, force: true });
    runs.delete(uid);
    log("stopped pod", { pod: run.key, groups });
  }
  pool.release(uid);
  // As the kubelet does: once the containers are gone, finish the deletion the API server began.
  if (confirm) {
    await core
      .deleteNamespacedPod({
        name: confirm.metadata!.name!,
        namespace: confirm.metadata!.namespace!,
        // In the body: when a body is sent, the API server takes the options from it, not the query.
        body: { gracePeriodSeconds: 0, preconditions: { uid } },
      })
      .catch((err) => {
        if ((err as { code?: number }).code !== 404 && (err as { code?: number }).code !== 409)
          log("confirm delete failed", { error: String(err) });
      });
  }
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
  const run = runs.get(uid);
  if (run) {
    run.pod = { ...pod, status: { ...pod.status, podIP: run.rt.podIP } };
    // Someone else changed the status (the node controller marking pods not ready, say): as a
    // kubelet does, put back what the processes say.
    const seen = statusKey(pod.status ?? {});
    if (run.lastWritten && seen !== run.lastWritten && !run.stopping) {
      run.lastWritten = seen;
      void publish(run);
    }
  }
  if (pod.metadata?.deletionTimestamp) {
    void stopPod(uid, pod.metadata.deletionGracePeriodSeconds ?? 5, pod);
    return;
  }
  if (run || pod.status?.phase === "Succeeded" || pod.status?.phase === "Failed") return;
  startPod(pod).catch((err) => log("pod start failed", { pod: keyOf(pod), error: String(err) }));
}

// ---------------------------------------------------------------- wiring

async function main(): Promise<void> {
  await mkdir(join(STATE_DIR, "logs"), { recursive: true });
  await mkdir(VOLUMES_DIR, { recursive: true });
  pods.on("add", onPod);
  pods.on("update", onPod);
  pods.on("delete", (pod) => void stopPod(pod.metadata!.uid!, 0, undefined));
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
    for (const run of runs.values()) if (!run.kwokWritten) void writeKwok(run);
  }, 5000).unref();
  await writeFile(join(STATE_DIR, "ready"), String(process.pid));
  log("runner ready", { node: NODE_NAME, provisioner: PROVISIONER, volumes: VOLUMES_DIR });
}

let shuttingDown = false;
async function shutdown(): Promise<void> {
  shuttingDown = true;
  await Promise.all([...runs.keys()].map((uid) => stopPod(uid, 2, undefined)));
  process.exit(0);
}
process.on("SIGTERM", () => void shutdown());
process.on("SIGINT", () => void shutdown());

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
