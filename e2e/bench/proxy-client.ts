/**
 * Latency client of the proxy benchmark, run as its own process (so its CPU is never the proxy's):
 * plain keep-alive HTTP/1.1 GETs over raw sockets, timed with the monotonic clock in microseconds.
 *
 *   node e2e/bench/proxy-client.ts '{"mode":"closed","url":"http://198.18.0.41:8000/","count":3000}'
 *   node e2e/bench/proxy-client.ts '{"mode":"rate","url":"...","rate":1000,"seconds":5,"maxConns":64}'
 *
 * `closed`: one connection, one request at a time (concurrency 1). `rate`: open loop at a fixed rate
 * (sends are scheduled on a 1 ms timer). A request sent at once counts from when it was written; one
 * that had to wait for a free connection (all `maxConns` busy: the proxy is behind) counts from when
 * it was due, so a stalled proxy is not hidden by the client waiting for it (no coordinated
 * omission), while the client's own timer lag is not charged to the proxy. Prints one JSON line
 * with p50/p99 in µs.
 */
import { connect, type Socket } from "node:net";

interface Args {
  mode: "closed" | "rate";
  url: string;
  /** Host header to send (host-mode routing); the URL's host when absent. */
  host?: string;
  count?: number;
  warmup?: number;
  rate?: number;
  seconds?: number;
  maxConns?: number;
}

const args = JSON.parse(process.argv[2] ?? "{}") as Args;
const url = new URL(args.url);
const request = Buffer.from(
  `GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${args.host ?? url.host}\r\n\r\n`,
);
const now = () => Number(process.hrtime.bigint()) / 1000;

/** One keep-alive connection that carries one request at a time and knows when a response ended. */
class Conn {
  socket: Socket;
  buf: Buffer = Buffer.alloc(0);
  done: ((err?: Error) => void) | undefined;
  ready: Promise<void>;

  constructor() {
    this.socket = connect({ host: url.hostname, port: Number(url.port || 80), noDelay: true });
    this.ready = new Promise((resolve, reject) => {
      this.socket.once("connect", () => resolve());
      this.socket.once("error", reject);
    });
    this.socket.on("error", (err) => this.finish(err));
    this.socket.on("close", () => this.finish(new Error("connection closed")));
    this.socket.on("data", (chunk: Buffer) => {
      this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
      if (this.complete()) {
        this.buf = Buffer.alloc(0);
        this.finish();
      }
    });
  }

  /** True when `buf` holds one whole response (Content-Length or chunked). */
  complete(): boolean {
    const end = this.buf.indexOf("\r\n\r\n");
    if (end < 0) return false;
    const head = this.buf.subarray(0, end).toString("latin1").toLowerCase();
    const len = /\r\ncontent-length:\s*(\d+)/.exec(head);
    if (len) return this.buf.length >= end + 4 + Number(len[1]);
    if (head.includes("transfer-encoding: chunked")) return this.buf.subarray(-5).toString() === "0\r\n\r\n";
    return true;
  }

  finish(err?: Error): void {
    const cb = this.done;
    this.done = undefined;
    cb?.(err);
  }

  get(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.done = (err) => (err ? reject(err) : resolve());
      this.socket.write(request);
    });
  }
}

function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

function report(lat: number[], extra: Record<string, number>): void {
  lat.sort((a, b) => a - b);
  const out = { n: lat.length, p50Us: percentile(lat, 50), p99Us: percentile(lat, 99), ...extra };
  process.stdout.write(JSON.stringify(out) + "\n");
}

async function closed(): Promise<void> {
  const c = new Conn();
  await c.ready;
  for (let i = 0; i < (args.warmup ?? 300); i++) await c.get();
  const lat: number[] = [];
  for (let i = 0; i < (args.count ?? 3000); i++) {
    const t0 = now();
    await c.get();
    lat.push(now() - t0);
  }
  c.socket.destroy();
  report(lat, {});
}

async function rate(): Promise<void> {
  const perSec = args.rate ?? 1000;
  const total = Math.round(perSec * (args.seconds ?? 5));
  const maxConns = args.maxConns ?? 64;
  const idle: Conn[] = [];
  const all: Conn[] = [];
  const waiting: number[] = []; // due times of requests with no free connection yet
  const lat: number[] = [];
  let errors = 0;
  let finished = 0;
  let allDone: () => void = () => undefined;
  const done = new Promise<void>((r) => (allDone = r));

  /** `since`: when the request was due if it waited for a connection, else undefined (now). */
  const run = async (c: Conn, since?: number): Promise<void> => {
    let ok = true;
    const t0 = since ?? now();
    try {
      await c.get();
      lat.push(now() - t0);
    } catch {
      ok = false;
      errors++;
      all.splice(all.indexOf(c), 1);
      c.socket.destroy();
    }
    if (++finished === total) allDone();
    if (!ok) return;
    const next = waiting.shift();
    if (next !== undefined) void run(c, next);
    else idle.push(c);
  };
  const dispatch = async (due: number): Promise<void> => {
    const c = idle.pop();
    if (c) return run(c);
    if (all.length < maxConns) {
      const fresh = new Conn();
      all.push(fresh);
      try {
        await fresh.ready;
      } catch {
        errors++;
        all.splice(all.indexOf(fresh), 1);
        if (++finished === total) allDone();
        return;
      }
      return run(fresh);
    }
    waiting.push(due);
  };

  // Warm the pool up, then send on schedule.
  for (let i = 0; i < Math.min(8, maxConns); i++) {
    const c = new Conn();
    all.push(c);
    await c.ready;
    idle.push(c);
  }
  const start = now();
  const interval = 1e6 / perSec;
  let sent = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const due = Math.min(total, Math.floor((now() - start) / interval) + 1);
      while (sent < due) void dispatch(start + sent++ * interval);
      if (sent < total) setTimeout(tick, 1);
      else resolve();
    };
    tick();
  });
  await Promise.race([done, new Promise((r) => setTimeout(r, 30_000))]);
  for (const c of all) c.socket.destroy();
  report(lat, { errors, sent, achievedRate: (lat.length / (now() - start)) * 1e6, conns: all.length });
}

if (args.mode === "closed") await closed();
else await rate();
process.exit(0);
