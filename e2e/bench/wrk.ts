/**
 * What the wrk-based benchmarks share: one max-load round with wrk (throughput, latency, errors and
 * the proxy's CPU per request), the median, and writing a marked section of docs/benchmarks.md.
 */
import { execFile, execFileSync } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { resolve } from "node:path";
import { parseArgs, promisify } from "node:util";
import { cpuTicks, sum } from "./proxy-peers.ts";

const run = promisify(execFile);
const CLK_TCK = Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim());
const DOC = resolve(import.meta.dirname, "../../docs/benchmarks.md");

export const median = (xs: number[]): number =>
  [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

export interface WrkTarget {
  url: string;
  /** The Host header. */
  host: string;
  headers?: Record<string, string>;
  /** Processes whose CPU time is charged to the path (the proxy's); none for the direct path. */
  pids: () => number[];
}

export interface WrkRound {
  rps: number;
  /** CPU of `pids` per request, µs (0 without pids). */
  cpuUs: number;
  /** Non-2xx/3xx answers plus socket timeouts. */
  errors: number;
  p50: string;
  p99: string;
}

/** One round of `wrk -t1 -c{connections} -d{seconds}s --latency` against `t`. */
export async function wrkRound(t: WrkTarget, connections: number, seconds: number): Promise<WrkRound> {
  const args = [
    "-t1",
    `-c${connections}`,
    `-d${seconds}s`,
    "--timeout",
    "5s",
    "--latency",
    "-H",
    `Host: ${t.host}`,
  ];
  for (const [k, v] of Object.entries(t.headers ?? {})) args.push("-H", `${k}: ${v}`);
  const t0 = sum(t.pids(), cpuTicks);
  const { stdout } = await run("wrk", [...args, t.url], { maxBuffer: 1 << 20 });
  const ticks = sum(t.pids(), cpuTicks) - t0;
  const requests = Number(/(\d+) requests in/.exec(stdout)?.[1] ?? 0);
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1] ?? 0),
    cpuUs: ((ticks / CLK_TCK) * 1e6) / Math.max(1, requests),
    errors:
      Number(/Non-2xx or 3xx responses: (\d+)/.exec(stdout)?.[1] ?? 0) +
      Number(/Socket errors:.*timeout (\d+)/.exec(stdout)?.[1] ?? 0),
    p50: /\s50%\s+(\S+)/.exec(stdout)?.[1] ?? "?",
    p99: /\s99%\s+(\S+)/.exec(stdout)?.[1] ?? "?",
  };
}

/** Replaces (or appends) the `<!-- name:start -->…<!-- name:end -->` section of docs/benchmarks.md. */
export async function writeSection(name: string, section: string): Promise<string> {
  const marked = new RegExp(`<!-- ${name}:start -->[\\s\\S]*<!-- ${name}:end -->`);
  const doc = await readFile(DOC, "utf8");
  await writeFile(
    DOC,
    marked.test(doc) ? doc.replace(marked, () => section) : `${doc.trimEnd()}\n\n${section}\n`,
  );
  return DOC;
}

/** `--seconds`, `--rounds` and `--connections` from the command line (defaults 6, 5, 32). */
export function roundOptions(argv = process.argv.slice(2)): {
  seconds: number;
  rounds: number;
  connections: number;
} {
  const { values } = parseArgs({
    args: argv,
    options: {
      seconds: { type: "string", default: "6" },
      rounds: { type: "string", default: "5" },
      connections: { type: "string", default: "32" },
    },
  });
  return {
    seconds: Number(values.seconds),
    rounds: Number(values.rounds),
    connections: Number(values.connections),
  };
}
