/**
 * The real helm (built from Go modules with the local cluster, e2e/cluster/build.sh) run against the
 * chart in charts/portico: render it, lint it, install it.
 *
 *   const objects = await renderChart({ "proxy.auth.mode": "none" });
 *   const deploy = objects.find((o) => o.kind === "Deployment" && o.metadata.name === "portico-proxy");
 */
import { execFile, execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { parseAllDocuments } from "yaml";

const run = promisify(execFile);
export const REPO = resolve(import.meta.dirname, "../..");
export const CHART = join(REPO, "charts/portico");

let binDir: string | undefined;
/** Directory of the cluster binaries (helm, kubectl): the cluster's own, else the cached build. */
export function clusterBinDir(): string {
  if (binDir) return binDir;
  const state = process.env.PORTICO_CLUSTER_STATE;
  const fromState = state && join(state, "bin-dir");
  if (fromState && existsSync(fromState)) {
    binDir = execFileSync("cat", [fromState], { encoding: "utf8" }).trim();
  } else {
    // Cached after the first build: no network is needed then (deps.sh builds it ahead of tests).
    const out = execFileSync("bash", [join(REPO, "e2e/cluster/build.sh")], { encoding: "utf8" });
    binDir = out.trim().split("\n").at(-1)!;
  }
  return binDir;
}

/** The Kubernetes version the local cluster runs, for `helm template --kube-version`. */
export function kubeVersion(): string {
  const out = execFileSync(join(clusterBinDir(), "kubectl"), ["version", "--client", "-o", "json"], {
    encoding: "utf8",
  });
  return (JSON.parse(out) as { clientVersion: { gitVersion: string } }).clientVersion.gitVersion;
}

export interface HelmResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs helm with `args`; never throws on a non-zero exit (callers assert on it). */
export async function helm(args: string[], opts: { timeoutMs?: number } = {}): Promise<HelmResult> {
  try {
    const { stdout, stderr } = await run(join(clusterBinDir(), "helm"), args, {
      timeout: opts.timeoutMs ?? 120_000,
      maxBuffer: 64 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === "number" ? e.code : 1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

/** A string helm must take as is: passed with --set-json (--set reads `{…}` as a list and splits on commas). */
export class LiteralString {
  readonly value: string;
  constructor(value: string) {
    this.value = value;
  }
  toJSON(): string {
    return this.value;
  }
}

/** `--set` flags from a map of dotted keys to values (lists and objects as JSON, via --set-json). */
export function setFlags(values: Record<string, unknown>): string[] {
  return Object.entries(values).flatMap(([k, v]) =>
    typeof v === "string" ? ["--set-string", `${k}=${v}`] : ["--set-json", `${k}=${JSON.stringify(v)}`],
  );
}

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [key: string]: unknown;
}

/** `helm template` of the chart with `values`; throws with helm's message when it refuses them. */
export async function renderChart(
  values: Record<string, unknown> = {},
  opts: { release?: string; namespace?: string } = {},
): Promise<K8sObject[]> {
  const r = await helm([
    "template",
    opts.release ?? "portico",
    CHART,
    "--namespace",
    opts.namespace ?? "portico-system",
    "--kube-version",
    kubeVersion(),
    ...setFlags(values),
  ]);
  if (r.code !== 0) throw new Error(r.stderr.trim() || `helm template exited ${r.code}`);
  return parseAllDocuments(r.stdout)
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => !!o && typeof o === "object" && "kind" in o);
}
