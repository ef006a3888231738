/**
 * WebSocket holder of the proxy benchmark, run as its own process so its memory is never the
 * proxy's: opens N WebSockets to a URL (at most `parallel` handshakes in flight), checks that a
 * sample of them echo, prints `{"open":N,...}` on one line, then holds them idle until stdin closes
 * or it gets SIGTERM, and closes them all.
 *
 *   node e2e/bench/proxy-ws-client.ts '{"url":"ws://198.18.0.41:8000/","count":10000}'
 */
import WebSocket from "ws";

interface Args {
  url: string;
  host?: string;
  count: number;
  parallel?: number;
}

const args = JSON.parse(process.argv[2] ?? "{}") as Args;
const sockets: WebSocket[] = [];
let failed = 0;
let firstError = "";

function open(): Promise<WebSocket | undefined> {
  return new Promise((resolve) => {
    const ws = new WebSocket(args.url, {
      perMessageDeflate: false,
      headers: args.host ? { host: args.host } : {},
      handshakeTimeout: 30_000,
    });
    ws.once("open", () => resolve(ws));
    ws.once("error", (err) => {
      failed++;
      firstError ||= err.message;
      resolve(undefined);
    });
    ws.once("unexpected-response", (_req, res) => {
      failed++;
      firstError ||= `HTTP ${res.statusCode}`;
      ws.terminate();
      resolve(undefined);
    });
  });
}

function echo(ws: WebSocket): Promise<boolean> {
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), 5000);
    ws.once("message", (data) => {
      clearTimeout(t);
      resolve(data.toString() === "ping");
    });
    ws.send("ping");
  });
}

const t0 = Date.now();
let next = 0;
await Promise.all(
  Array.from({ length: args.parallel ?? 100 }, async () => {
    while (next < args.count) {
      next++;
      const ws = await open();
      if (ws) sockets.push(ws);
    }
  }),
);
const sample = sockets.filter((_, i) => i % Math.max(1, Math.floor(sockets.length / 20)) === 0);
const echoed = (await Promise.all(sample.map(echo))).filter(Boolean).length;
let closedEarly = 0;
for (const ws of sockets) ws.once("close", () => closedEarly++);
process.stdout.write(
  JSON.stringify({
    open: sockets.length,
    failed,
    firstError,
    echoed,
    sampled: sample.length,
    seconds: (Date.now() - t0) / 1000,
  }) + "\n",
);

const finish = () => {
  process.stderr.write(`ws-client: ${closedEarly} closed while idle\n`);
  for (const ws of sockets) ws.terminate();
  process.exit(0);
};
process.stdin.on("end", finish);
process.stdin.resume();
process.on("SIGTERM", finish);
