/**
 * Runs one of Portico's own processes (the operator, the proxy) for a test as a real child
 * process: logs to the cluster's state directory, waits for its /readyz, and reads its metrics.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream } from "node:fs";
import { join, resolve } from "node:path";
import { eventually } from "./kube.ts";

export const REPO = resolve(import.meta.dirname, "../..");

export function stateDir(): string {
  const dir = process.env.PORTICO_CLUSTER_STATE;
  if (!dir) throw new Error("PORTICO_CLUSTER_STATE is not set: run through npm run test:e2e");
  return dir;
}

export interface Component {
  proc: ChildProcess;
  healthUrl: string;
  logFile: string;
  /** SIGTERM and wait for the exit (graceful shutdown). */
  stop(): Promise<void>;
  /** SIGKILL: a crash, no cleanup. */
  kill(): Promise<void>;
  metrics(): Promise<string>;
  /** The value of one sample in the metrics text (summed over matching labels), 0 when absent. */
  metric(name: string, labels?: Record<string, string>): Promise<number>;
}

/**
 * Starts `node {script} ...args` (health and metrics on 127.0.0.1:{healthPort}) and resolves once
 * its /readyz answers 200; fails early, naming the log, if it exits first.
 */
export async function startComponent(o: {
  script: string;
  args: string[];
  name: string;
  healthPort: number;
  /** Node's own flags, before the script (V8 heap sizing, say). */
  nodeArgs?: readonly string[];
}): Promise<Component> {
  const logFile = join(stateDir(), "logs", `${o.name}-${o.healthPort}.log`);
  const out = createWriteStream(logFile, { flags: "a" });
  const proc = spawn(process.execPath, [...(o.nodeArgs ?? []), join(REPO, o.script), ...o.args], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  proc.stdout!.pipe(out);
  proc.stderr!.pipe(out);
  const healthUrl = `http://127.0.0.1:${o.healthPort}`;
  const exited = new Promise<void>((r) => proc.once("exit", () => r()));
  const signal = async (sig: NodeJS.Signals) => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill(sig);
    await exited;
  };
  const c: Component = {
    proc,
    healthUrl,
    logFile,
    stop: () => signal("SIGTERM"),
    kill: () => signal("SIGKILL"),
    async metrics() {
      const res = await fetch(`${healthUrl}/metrics`, { signal: AbortSignal.timeout(5000) });
      return res.text();
    },
    async metric(name, labels = {}) {
      return sumSamples(await c.metrics(), name, labels);
    },
  };
  await eventually(
    `${o.name} ready on ${healthUrl}/readyz (log: ${logFile})`,
    async () => {
      if (proc.exitCode !== null) throw new Error(`${o.name} exited with ${proc.exitCode}: see ${logFile}`);
      const res = await fetch(`${healthUrl}/readyz`, { signal: AbortSignal.timeout(1000) });
      return res.status === 200 ? true : undefined;
    },
    60_000,
    100,
  );
  return c;
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
