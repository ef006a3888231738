/**
 * Benchmark (not a test): what one endless WebSocket message costs the proxy, and whether other
 * users stay served meanwhile (issue 11: "a 200 MiB unfinished WebSocket message raises proxy RSS
 * by ≤ 16 MiB and other users stay served").
 *
 *   npm run bench:wsmem                        (200 MiB, 3,000 victim requests per phase)
 *   npm run bench:wsmem -- --mib=64 --requests=1000
 *   npm run bench:wsmem -- --main=/path/to/other/tree/proxy/main.ts   (another relay, same bench)
 *
 * Runs inside a fresh cluster's network namespace (e2e/run-bench.sh). The backend is the proxy
 * benchmark's real workspace (e2e/fixtures/bench-backend.ts); its `/sink` WebSocket reads and drops
 * everything, so only the proxy can hold the message. Portico's proxy (proxy/main.ts, host mode,
 * `--auth=none`, default limits: messages up to 256 MiB) sits in front. Phases:
 *   1. baseline: the proxy's RSS (median of 5 samples) and a victim's request latency (p50/p99 of
 *      sequential keep-alive GETs through the proxy to the same workspace, e2e/bench/proxy-client.ts,
 *      its own process);
 *   2. attack: one client sends a message of `--mib` MiB in 1 MiB fragments and never sends the
 *      last one, as fast as the proxy takes it, while the victim's requests run; the proxy's RSS is
 *      sampled every 20 ms (peak), and a victim WebSocket echo is timed once the attack is sent;
 *   3. held: the unfinished message stays open (RSS median);
 *   4. after: the attacker leaves; RSS median 3 s later.
 * Prints one JSON object and a markdown table for docs/benchmarks.md.
 */
import { execFile } from "node:child_process";
import { connect } from "node:net";
import { join, resolve } from "node:path";
import { parseArgs, promisify } from "node:util";
import { WebSocket } from "ws";
import { stateDir } from "../lib/operator.ts";
import { benchNetns, startBackend } from "./backend.ts";
import { rssKiB } from "./proxy-peers.ts";
import { startPortico } from "./proxy-portico.ts";

const { values: opt } = parseArgs({
  options: {
    mib: { type: "string", default: "200" },
    requests: { type: "string", default: "3000" },
    main: { type: "string" },
  },
});
const MIB = Number(opt.mib);
const REQUESTS = Number(opt.requests);
const REPO = resolve(import.meta.dirname, "../..");
const run = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (s: string) => process.stderr.write(`[bench:wsmem] ${s}\n`);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

benchNetns("bench:wsmem");
const { ready } = await startBackend("bench-wsmem");
const portico = await startPortico(ready, "198.18.0.64", 8000, join(stateDir(), "logs"), {
  name: "portico-wsmem",
  healthPort: 18291,
  ...(opt.main ? { main: opt.main } : {}),
});
const { url, host } = portico.peer;
const pid = portico.peer.pids()[0]!;
const { hostname, port } = new URL(url);
log(`proxy pid ${pid}${opt.main ? ` (${opt.main})` : ""} at ${url}, workspace host ${host}`);

/** Median RSS of the proxy over 5 samples 0.5 s apart (a GC moves it), KiB. */
async function steadyRss(): Promise<number> {
  const xs: number[] = [];
  for (let i = 0; i < 5; i++) {
    xs.push(rssKiB(pid));
    await sleep(500);
  }
  return median(xs);
}

async function victim(count: number): Promise<{ n: number; p50Us: number; p99Us: number; errors?: number }> {
  const { stdout } = await run(process.execPath, [
    join(REPO, "e2e/bench/proxy-client.ts"),
    JSON.stringify({ mode: "closed", url, host, count, warmup: 100 }),
  ]);
  return JSON.parse(stdout) as { n: number; p50Us: number; p99Us: number; errors?: number };
}

/** One echo over a new WebSocket through the proxy (the victim's): milliseconds, or -1 when refused. */
function wsEcho(): Promise<number> {
  return new Promise((done) => {
    const t0 = performance.now();
    const ws = new WebSocket(`ws://${hostname}:${port}/`, { headers: { host }, perMessageDeflate: false });
    ws.once("open", () => ws.send("ping"));
    ws.once("message", () => {
      done(performance.now() - t0);
      ws.close();
    });
    ws.once("error", () => done(-1));
  });
}

/** A client frame header, masked with a zero key (the payload goes as it is). */
function header(opcode: number, len: number): Buffer {
  const h = Buffer.alloc(2 + 8 + 4);
  h[0] = opcode; // FIN never set: the message never ends
  h[1] = 0x80 | 127;
  h.writeUInt32BE(Math.floor(len / 2 ** 32), 2);
  h.writeUInt32BE(len >>> 0, 6);
  return h;
}

/** The attacker: opens /sink through the proxy, sends `mib` MiB of one message without its end. */
async function attack(mib: number): Promise<{ close: () => void; seconds: number }> {
  const s = connect(Number(port), hostname);
  s.on("error", () => undefined);
  s.write(
    `GET /sink HTTP/1.1\r\nHost: ${host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
      `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`,
  );
  const answer = await new Promise<string>((r) => s.once("data", (d) => r(String(d))));
  if (!answer.startsWith("HTTP/1.1 101")) throw new Error(`the proxy refused the WebSocket: ${answer}`);
  const chunk = Buffer.alloc(1 << 20, 0x61);
  const t0 = performance.now();
  for (let i = 0; i < mib; i++) {
    const ok = s.write(Buffer.concat([header(i === 0 ? 0x2 : 0x0, chunk.length), chunk]));
    if (!ok) await new Promise((r) => s.once("drain", r));
  }
  await new Promise<void>((r) => s.write(Buffer.alloc(0), () => r()));
  return { close: () => s.destroy(), seconds: (performance.now() - t0) / 1000 };
}

await victim(500); // warm-up: connections, JIT
const rssBefore = await steadyRss();
const base = await victim(REQUESTS);
const baseEcho = median([await wsEcho(), await wsEcho(), await wsEcho()]);
log(
  `baseline: RSS ${(rssBefore / 1024).toFixed(1)} MiB; victim p50 ${base.p50Us} µs p99 ${base.p99Us} µs; WS echo ${baseEcho.toFixed(1)} ms`,
);

let peak = rssKiB(pid);
const sampler = setInterval(() => (peak = Math.max(peak, rssKiB(pid))), 20);
const [during, attacker] = await Promise.all([victim(REQUESTS), attack(MIB)]);
const attackEcho = median([await wsEcho(), await wsEcho(), await wsEcho()]);
clearInterval(sampler);
peak = Math.max(peak, rssKiB(pid));
const rssHeld = await steadyRss();
log(
  `attack: ${MIB} MiB sent in ${attacker.seconds.toFixed(1)} s; RSS peak ${(peak / 1024).toFixed(1)} MiB, held ${(rssHeld / 1024).toFixed(1)} MiB; victim p50 ${during.p50Us} µs p99 ${during.p99Us} µs; WS echo ${attackEcho.toFixed(1)} ms`,
);
attacker.close();
await sleep(3000);
const rssAfter = await steadyRss();
await portico.peer.stop();

const us = (x: number) => Math.round(x);
const mib = (k: number) => Math.round((k / 1024) * 10) / 10;
const result = {
  messageMiB: MIB,
  proxy: opt.main ?? "proxy/main.ts",
  rssMiB: { before: mib(rssBefore), peak: mib(peak), held: mib(rssHeld), after: mib(rssAfter) },
  rssRiseMiB: {
    peak: mib(peak - rssBefore),
    held: mib(rssHeld - rssBefore),
    after: mib(rssAfter - rssBefore),
  },
  target: "peak rise <= 16 MiB",
  victim: {
    baseline: { p50Us: us(base.p50Us), p99Us: us(base.p99Us), errors: base.errors ?? 0 },
    during: { p50Us: us(during.p50Us), p99Us: us(during.p99Us), errors: during.errors ?? 0 },
    p50Ratio: Math.round((during.p50Us / base.p50Us) * 100) / 100,
    p99Ratio: Math.round((during.p99Us / base.p99Us) * 100) / 100,
    wsEchoMs: { baseline: Math.round(baseEcho * 10) / 10, during: Math.round(attackEcho * 10) / 10 },
  },
  attackSeconds: Math.round(attacker.seconds * 10) / 10,
};
process.stdout.write(JSON.stringify(result, null, 2) + "\n");
process.stdout.write(
  [
    "",
    "| proxy | RSS before | peak (rise) | held open (rise) | after it left (rise) | victim p50 / p99 baseline | during | ratio p50 / p99 | victim WS echo baseline / during |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    `| ${result.proxy} | ${result.rssMiB.before} MiB | ${result.rssMiB.peak} MiB (+${result.rssRiseMiB.peak}) | ${result.rssMiB.held} MiB (+${result.rssRiseMiB.held}) | ${result.rssMiB.after} MiB (+${result.rssRiseMiB.after}) | ${us(base.p50Us)} / ${us(base.p99Us)} µs | ${us(during.p50Us)} / ${us(during.p99Us)} µs | ${result.victim.p50Ratio} / ${result.victim.p99Ratio} | ${result.victim.wsEchoMs.baseline} / ${result.victim.wsEchoMs.during} ms |`,
    "",
  ].join("\n"),
);
process.exit(0);
