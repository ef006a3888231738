/**
 * Pure mapping from a pod's container to the local process that stands in for it.
 * No I/O here: main.ts feeds it the parsed image map, the container and the pod's addresses.
 */
import type { V1Container } from "@kubernetes/client-node";
import { join } from "node:path";

/** One row of images.yaml. */
export interface ImageRule {
  match: string;
  command: string[];
  /** The local program is not what the image's own command names, so it replaces that too. */
  replaceCommand?: boolean;
  /** Appended after the container's args: what must win (binding to the pod IP, say). */
  argsAfter?: string[];
  /** Container args dropped (regular expressions), for programs that refuse an option twice. */
  dropArgs?: string[];
  env?: Record<string, string>;
}

/** What to exec: a file, its argv (without argv0) and extra environment. */
export interface ProcessSpec {
  file: string;
  args: string[];
  env: Record<string, string>;
}

/** Values available to templates in images.yaml. */
export interface TemplateValues {
  podIP: string;
  port: string;
  repo: string;
}

/** Glob match where `*` is any run of characters (images contain `/` and `:`, so no path semantics). */
export function globMatch(pattern: string, text: string): boolean {
  const re = new RegExp(`^${pattern.split("*").map(escapeRegExp).join(".*")}$`);
  return re.test(text);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.+?^${}()|[\]\\]/g, "\\$&");
}

/** Fills `{podIP}`, `{port}` and `{repo}`; unknown placeholders are left as they are. */
export function fillTemplate(s: string, v: TemplateValues): string {
  return s.replace(/\{(podIP|port|repo)\}/g, (_, k: keyof TemplateValues) => v[k]);
}

/**
 * Rewrites container paths to the local directories behind them, longest mount first, so that
 * `/home/coder/project` under a `/home/coder` mount lands inside that mount's directory.
 * Only whole path prefixes are rewritten: `/datafile` is not touched by a `/data` mount.
 */
export function translatePaths(s: string, mounts: ReadonlyMap<string, string>): string {
  const ordered = [...mounts.entries()].sort((a, b) => b[0].length - a[0].length);
  for (const [containerPath, localPath] of ordered) {
    const prefix = containerPath.replace(/\/+$/, "");
    if (prefix === "") continue;
    const re = new RegExp(`(^|[\\s=:'"])${escapeRegExp(prefix)}(?=$|[/\\s'":])`, "g");
    s = s.replace(re, (_m, lead: string) => `${lead}${localPath}`);
  }
  return s;
}

/**
 * Works out the process for a container. An explicit container `command` wins (as it overrides an
 * image's entrypoint in Kubernetes) unless the rule says `replaceCommand`; otherwise the image
 * rule's command is the entrypoint. Args: the container's, then the rule's `argsAfter`.
 * Returns an error string when the image is not in the map, which the runner reports on the pod.
 */
export function processFor(
  container: V1Container,
  rules: readonly ImageRule[],
  values: TemplateValues,
  mounts: ReadonlyMap<string, string>,
): ProcessSpec | { error: string } {
  const image = container.image ?? "";
  const rule = rules.find((r) => globMatch(r.match, image));
  if (!rule)
    return { error: `image ${JSON.stringify(image)} has no local executable in the runner's image map` };
  // The rule's command, argsAfter and env are local paths and values: templated, never rewritten.
  // The container's own command and args are container paths: rewritten to the local mounts.
  const local = (s: string) => fillTemplate(s, values);
  const inContainer = (s: string) => translatePaths(fillTemplate(s, values), mounts);
  const entry =
    container.command?.length && !rule.replaceCommand
      ? container.command.map(inContainer)
      : rule.command.map(local);
  const [file, ...entryArgs] = entry;
  if (!file) return { error: `image ${JSON.stringify(image)}: empty command` };
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(rule.env ?? {})) env[k] = local(v);
  const drop = (rule.dropArgs ?? []).map((r) => new RegExp(r));
  return {
    file,
    args: [
      ...entryArgs,
      ...(container.args ?? []).filter((a) => !drop.some((re) => re.test(a))).map(inContainer),
      ...(rule.argsAfter ?? []).map(local),
    ],
    env,
  };
}

/**
 * A container's mounts: container path → local directory, from the pod's volumes' local
 * directories (by volume name). A subPath is a directory inside its volume's directory.
 */
export function containerMounts(
  container: V1Container,
  volumeDirs: ReadonlyMap<string, string>,
): Map<string, string> {
  const mounts = new Map<string, string>();
  for (const m of container.volumeMounts ?? []) {
    const dir = volumeDirs.get(m.name);
    if (dir) mounts.set(m.mountPath, m.subPath ? join(dir, m.subPath) : dir);
  }
  return mounts;
}

/**
 * Where a container's process (and `kubectl exec` in it) runs: its workingDir, rewritten to the
 * local mounts; with none, its first writable volume's directory (the workspace, for an IDE; not
 * the read-only service account token every pod gets), else the pod's own scratch directory.
 */
export function workDirFor(
  container: V1Container,
  mounts: ReadonlyMap<string, string>,
  podDir: string,
): string {
  if (container.workingDir) return translatePaths(container.workingDir, mounts);
  const writable = (container.volumeMounts ?? []).find((m) => !m.readOnly && mounts.has(m.mountPath));
  return writable ? mounts.get(writable.mountPath)! : podDir;
}
