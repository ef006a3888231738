/**
 * Load client of the API benchmark (e2e/bench/api.ts), run as its own process so its CPU is never the
 * measured server's: the same HTTP/1.1 keep-alive client (undici) for the proxy's API and for the API
 * server's own LIST, over plain HTTP or TLS, timed with the monotonic clock in microseconds. Every
 * answer is read to its end and must be 200 (anything else counts as an error, not as a latency).
 *
 *   echo '{"origin":"http://198.18.0.122:8080","path":"/api/v1/workspaces","headers":{…},
 *          "warmup":20,"count":300,"connections":8,"seconds":5}' | node e2e/bench/api-load.ts
 *
 * Two phases on one pool: closed loop at concurrency 1 (`count` requests: p50/p99), then
 * `connections` clients back to back for `seconds` (throughput, and p50/p99 under that load). The
 * request (and any credential in it) comes on stdin, not argv, so it is not visible to `ps`. Prints
 * one JSON line.
 */
import { Pool } from "undici";

interface Args {
  origin: string;
  path: string;
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  /** PEM of the CA to trust (the API server's). */
  ca?: string;
  warmup?: number;
  /** The sequential phase: at most `count` requests and `seqSeconds` seconds (at least 20 requests). */
  count?: number;
  seqSeconds?: number;
  connections?: number;
  seconds?: number;
}

let input = "";
for await (const chunk of process.stdin) input += String(chunk);
const args = JSON.parse(input) as Args;
const now = () => Number(process.hrtime.bigint()) / 1000;
const CONNS = args.connections ?? 8;
const pool = new Pool(args.origin, {
  connections: CONNS,
  pipelining: 1,
  ...(args.ca ? { connect: { ca: args.ca } } : {}),
});

let errors = 0;
/** Every request sent (warm-up included): the denominator of the server's CPU per request. */
let total = 0;
let lastError = "";
let bytes = 0;

/** One request; its latency in µs, or undefined when it was not a 200. */
async function once(): Promise<number | undefined> {
  const t0 = now();
  total++;
  try {
    const res = await pool.request({
      path: args.path,
      method: (args.method ?? "GET") as "GET",
      headers: args.headers ?? {},
      ...(args.body !== undefined ? { body: args.body } : {}),
    });
    let n = 0;
    for await (const chunk of res.body) n += (chunk as Buffer).length;
    if (res.statusCode !== 200) {
      errors++;
      lastError = `status ${res.statusCode}`;
      return undefined;
    }
    bytes = n;
    return now() - t0;
  } catch (err) {
    errors++;
    lastError = (err as Error).message;
    return undefined;
  }
}

function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

const stats = (lat: number[]) => {
  const s = [...lat].sort((a, b) => a - b);
  return { n: s.length, p50Us: percentile(s, 50), p99Us: percentile(s, 99) };
};

for (let i = 0; i < (args.warmup ?? 20); i++) await once();
const seq: number[] = [];
const seqEnd = now() + (args.seqSeconds ?? Infinity) * 1e6;
for (let i = 0; i < (args.count ?? 300) && (i < 20 || now() < seqEnd); i++) {
  const l = await once();
  if (l !== undefined) seq.push(l);
}

const conc: number[] = [];
const start = now();
const end = start + (args.seconds ?? 5) * 1e6;
await Promise.all(
  Array.from({ length: CONNS }, async () => {
    while (now() < end) {
      const l = await once();
      if (l !== undefined) conc.push(l);
    }
  }),
);
const elapsed = (now() - start) / 1e6;
await pool.close();

process.stdout.write(
  JSON.stringify({
    sequential: stats(seq),
    concurrent: { ...stats(conc), connections: CONNS, rps: conc.length / elapsed },
    bytes,
    total,
    errors,
    ...(lastError ? { lastError } : {}),
  }) + "\n",
);
process.exit(0);
