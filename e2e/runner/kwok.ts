/**
 * kwok's per-pod `Logs` and `Exec` objects (kwok.x-k8s.io/v1alpha1), built from a pod the runner
 * runs. kwok's server is the node's kubelet endpoint: the API server sends it pods/log and
 * pods/exec, and it answers from the file a `Logs` object names and by running the command
 * locally as an `Exec` object says. Both are matched to a pod by its name and namespace, so each
 * pod gets its own pair, owned by the pod. Pure builders, no I/O.
 */
import type { V1Container, V1Pod } from "@kubernetes/client-node";
import { join } from "node:path";
import { translatePaths } from "./images.ts";

export const KWOK_API_VERSION = "kwok.x-k8s.io/v1alpha1";

export interface KwokObject {
  apiVersion: typeof KWOK_API_VERSION;
  kind: "Logs" | "Exec";
  metadata: {
    name: string;
    namespace: string;
    labels: Record<string, string>;
    ownerReferences: { apiVersion: "v1"; kind: "Pod"; name: string; uid: string }[];
  };
  spec: Record<string, unknown>;
}

/** What `kubectl exec` into one container runs with. */
export interface ExecTarget {
  container: string;
  workDir: string;
  env: Record<string, string>;
}

/** The label on every kwok object the runner makes, to find them. */
export const RUNNER_LABEL = "portico.dev/pod-runner";

/**
 * The directory of one pod's container logs: its namespace, name and uid, as the kubelet's
 * /var/log/pods/<ns>_<name>_<uid>, so a new pod of the same name never shows an old one's output.
 */
export function podLogDir(logsRoot: string, pod: V1Pod): string {
  const m = pod.metadata!;
  return join(logsRoot, `${m.namespace}_${m.name}_${m.uid}`);
}

/** A container's current log file, and the one of its run before the last restart. */
export function containerLogFiles(podDir: string, container: string): { current: string; previous: string } {
  return { current: join(podDir, `${container}.log`), previous: join(podDir, `${container}.previous.log`) };
}

function meta(pod: V1Pod): KwokObject["metadata"] {
  const m = pod.metadata!;
  return {
    name: m.name!,
    namespace: m.namespace!,
    labels: { [RUNNER_LABEL]: "true" },
    ownerReferences: [{ apiVersion: "v1", kind: "Pod", name: m.name!, uid: m.uid! }],
  };
}

const allContainers = (pod: V1Pod): V1Container[] => [
  ...(pod.spec?.initContainers ?? []),
  ...(pod.spec?.containers ?? []),
];

/** The pod's `Logs`: every container's log file and previous log file. */
export function logsFor(pod: V1Pod, podDir: string): KwokObject {
  return {
    apiVersion: KWOK_API_VERSION,
    kind: "Logs",
    metadata: meta(pod),
    spec: {
      logs: allContainers(pod).map((c) => {
        const files = containerLogFiles(podDir, c.name);
        return { containers: [c.name], logsFile: files.current, previousLogsFile: files.previous };
      }),
    },
  };
}

/** The pod's `Exec`: per container, a local process in its working directory with its environment. */
export function execFor(pod: V1Pod, targets: readonly ExecTarget[]): KwokObject {
  return {
    apiVersion: KWOK_API_VERSION,
    kind: "Exec",
    metadata: meta(pod),
    spec: {
      execs: targets.map((t) => ({
        containers: [t.container],
        local: {
          workDir: t.workDir,
          envs: Object.entries(t.env).map(([name, value]) => ({ name, value })),
        },
      })),
    },
  };
}

/**
 * The environment `kubectl exec` gets in a container: the pod's identity, the image rule's env, and
 * the container's literal and field values, container paths rewritten to their local directories.
 * Values from Secrets and ConfigMaps are left out: an Exec object is an API object, readable by
 * whoever may read kwok's objects, and a Secret's value must not be copied into one.
 */
export function execEnv(
  pod: V1Pod,
  container: V1Container,
  imageEnv: Readonly<Record<string, string>>,
  mounts: ReadonlyMap<string, string>,
): Record<string, string> {
  const fields: Record<string, string | undefined> = {
    "metadata.name": pod.metadata?.name,
    "metadata.namespace": pod.metadata?.namespace,
    "status.podIP": pod.status?.podIP,
    "spec.nodeName": pod.spec?.nodeName,
    "spec.serviceAccountName": pod.spec?.serviceAccountName,
  };
  const env: Record<string, string> = {
    POD_NAME: pod.metadata?.name ?? "",
    POD_NAMESPACE: pod.metadata?.namespace ?? "",
    POD_IP: pod.status?.podIP ?? "",
  };
  for (const e of container.env ?? []) {
    if (e.value !== undefined) env[e.name] = translatePaths(e.value, mounts);
    else if (e.valueFrom?.fieldRef) env[e.name] = fields[e.valueFrom.fieldRef.fieldPath] ?? "";
  }
  return { ...env, ...imageEnv };
}
