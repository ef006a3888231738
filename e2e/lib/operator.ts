/**
 * Runs the real operator process for a test (inside the cluster's network namespace, as tests
 * are) under its own API identity, and reads what it did: its metrics, and its writes as the API
 * server's audit log recorded them.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream } from "node:fs";
import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { eventually } from "./kube.ts";

const REPO = resolve(import.meta.dirname, "../..");
let nextPort = 18081;

export interface OperatorProcess {
  proc: ChildProcess;
  healthUrl: string;
  logFile: string;
  /** SIGTERM and wait for the exit (graceful shutdown). */
  stop(): Promise<void>;
  /** SIGKILL: a crash, no cleanup. */
  kill(): Promise<void>;
  metrics(): Promise<string>;
  /** The value of one sample in the metrics text, 0 when absent. */
  metric(name: string, labels?: Record<string, string>): Promise<number>;
}

export function stateDir(): string {
  const dir = process.env.PORTICO_CLUSTER_STATE;
  if (!dir) throw new Error("PORTICO_CLUSTER_STATE is not set: run through npm run test:e2e");
  return dir;
}

/** Starts `operator/main.ts` with the operator's kubeconfig and the given extra flags; waits for /readyz. */
export async function startOperator(flags: string[] = [], name = "operator"): Promise<OperatorProcess> {
  const port = nextPort++;
  const logFile = join(stateDir(), "logs", `${name}-${port}.log`);
  const out = createWriteStream(logFile, { flags: "a" });
  const proc = spawn(
    process.execPath,
    [
      join(REPO, "operator/main.ts"),
      `--kubeconfig=${join(stateDir(), "kubeconfig.operator")}`,
      `--health-port=${port}`,
      "--health-host=127.0.0.1",
      "--lease-namespace=default",
      ...flags,
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  proc.stdout!.pipe(out);
  proc.stderr!.pipe(out);
  const healthUrl = `http://127.0.0.1:${port}`;
  const exited = new Promise<void>((r) => proc.once("exit", () => r()));
  const op: OperatorProcess = {
    proc,
    healthUrl,
    logFile,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGTERM");
      await exited;
    },
    async kill() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
      await exited;
    },
    async metrics() {
      const res = await fetch(`${healthUrl}/metrics`, { signal: AbortSignal.timeout(5000) });
      return res.text();
    },
    async metric(metricName, labels = {}) {
      return sumSamples(await op.metrics(), metricName, labels);
    },
  };
  await eventually(
    `operator ${name} ready on ${healthUrl}/readyz (log: ${logFile})`,
    async () => {
      if (proc.exitCode !== null) throw new Error(`operator exited with ${proc.exitCode}: see ${logFile}`);
      const res = await fetch(`${healthUrl}/readyz`, { signal: AbortSignal.timeout(1000) });
      return res.status === 200 ? true : undefined;
    },
    60_000,
  );
  return op;
}

/** Sums the samples of `name` whose labels include `labels`, in Prometheus text format. */
export function sumSamples(text: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries(
      [...(m[3] ?? "").matchAll(/([a-zA-Z_]+)="([^"]*)"/g)].map((x) => [x[1], x[2]]),
    );
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) total += Number(m[4]);
  }
  return total;
}

export interface AuditEntry {
  verb: string;
  user: { username: string };
  objectRef?: { resource?: string; namespace?: string; name?: string; subresource?: string };
  requestReceivedTimestamp: string;
  responseStatus?: { code?: number };
}

/** Writes (create/update/patch/delete) the API server recorded for `username` since `since`. */
export async function auditWrites(
  username: string,
  since: Date,
  until = new Date(8.64e15),
): Promise<AuditEntry[]> {
  const text = await readFile(join(stateDir(), "audit.log"), "utf8");
  const out: AuditEntry[] = [];
  for (const line of text.split("\n")) {
    if (!line.includes(username)) continue;
    const e = JSON.parse(line) as AuditEntry;
    const at = new Date(e.requestReceivedTimestamp);
    if (e.user.username === username && at >= since && at <= until) out.push(e);
  }
  return out;
}
