/**
 * Leak check: rounds of opening and killing proxied connections, four kinds in turn:
 *   0. clients that abort mid-request (headers promise a body that never comes);
 *   1. clients that half-close (FIN) without reading the answer;
 *   2. connections that never send a byte;
 *   3. backends that die mid-answer (http-echo's GET /die-mid-answer resets its connection after
 *      half a body), which the proxy must pass on by cutting its client off within 5 s.
 * The proxy's open file descriptors return to their baseline after each round. Then the
 * workspace's backend process itself is killed (SIGKILL) under 200 requests in flight: each client
 * is cut off or answered 502/503, the fds come back, and the proxy still answers.
 */
import { before, test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { eventually } from "../lib/kube.ts";
import { startProxy, type ProxyProcess } from "../lib/proxy.ts";
import { clusterSuite } from "../lib/suite.ts";
import { echoClass } from "../lib/workspaces.ts";

const ROUNDS = 10;
const PER_ROUND = 2000;
const BATCH = 500;

const suite = clusterSuite("proxy-leak", {
  classes: { echo: echoClass },
  workspaces: [{ name: "echo", class: "echo", readyTimeoutMs: 60_000 }],
});
let px: ProxyProcess;

before(async () => {
  await suite.ready();
  // Keep-alive sockets (client and upstream) idle for 1 s are closed, so the baseline comes back quickly.
  px = await startProxy({
    address: "198.18.0.23",
    port: 8080,
    name: "proxy-leak",
    flags: ["--idle-timeout=1s", "--keep-alive-timeout=1s", "--log-level=warn"],
  });
  suite.onTeardown(() => px?.stop());
});

const fds = () => readdirSync(`/proc/${px.proc.pid}/fd`).length;

/** How the backend-kill connections (kind 3) of a round ended on the client's side. */
interface Ends {
  /** A 200 whose body stopped short: the proxy closed the connection. */
  cutOff: number;
  /** Closed by the proxy without a 200 first (the backend reset before its headers went through). */
  other: number;
  /** Still open 5 s later: the proxy never closed it (we did). Must stay 0. */
  lingering: number;
}

/** Closes a socket the proxy should have closed already: a stuck connection fails, never hangs. */
const LINGER_MS = 5000;

/** One connection, killed in one of four ways; resolves once the socket is gone on our side. */
function oneConnection(kind: number, host: string, ends: Ends): Promise<void> {
  return new Promise((resolve) => {
    const s: Socket = connect(px.port, px.address);
    s.on("error", () => undefined);
    s.on("close", () => resolve());
    s.once("connect", () => {
      if (kind === 0) {
        // Abort mid-request: headers promise a body that never comes.
        s.write(`POST /upload HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 100000\r\n\r\n0123456789`);
        setTimeout(() => s.destroy(), 20);
      } else if (kind === 1) {
        // Half-open: a whole request, then FIN, and never read the answer.
        s.pause();
        s.end(`GET /half HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
        setTimeout(() => s.destroy(), 50);
      } else if (kind === 2) {
        // Connect and say nothing, then vanish.
        setTimeout(() => s.destroy(), 20);
      } else {
        // The backend dies mid-answer: a whole GET, then read until the proxy closes the connection.
        let head = "";
        s.on("data", (d: Buffer) => {
          if (head.length < 12) head += String(d);
        });
        let lingered = false;
        const linger = setTimeout(() => {
          lingered = true;
          ends.lingering++;
          s.destroy();
        }, LINGER_MS);
        s.once("close", () => {
          clearTimeout(linger);
          if (lingered) return;
          if (head.startsWith("HTTP/1.1 200")) ends.cutOff++;
          else ends.other++;
        });
        s.write(`GET /die-mid-answer HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
      }
    });
  });
}

test(`${ROUNDS} rounds of ${PER_ROUND} killed connections: open fds return to baseline`, async (t) => {
  const host = px.hostFor(suite.ns, "echo");
  // Warm up (the upstream agent, the logger), then let idle sockets expire for the baseline.
  assert.equal(await rawGet(host, "/warm-up"), 200);
  await new Promise((r) => setTimeout(r, 3000));
  const baseline = fds();
  for (let round = 0; round < ROUNDS; round++) {
    const ends: Ends = { cutOff: 0, other: 0, lingering: 0 };
    for (let i = 0; i < PER_ROUND; i += BATCH)
      await Promise.all(Array.from({ length: BATCH }, (_, j) => oneConnection((i + j) % 4, host, ends)));
    assert.equal(
      ends.lingering,
      0,
      `round ${round}: the proxy left ${ends.lingering} clients of a dead backend connected for ${LINGER_MS} ms (${JSON.stringify(ends)})`,
    );
    if (round === 0) t.diagnostic(`round 0, backend-kill connections: ${JSON.stringify(ends)}`);
    await eventually(
      `round ${round}: proxy fds back to baseline ${baseline} (now ${fds()})`,
      async () => (fds() <= baseline + 2 ? true : undefined),
      15_000,
      250,
    );
  }
  assert.equal(await rawGet(host, "/after"), 200, "still serving");
});

test("the backend process is killed under 200 requests in flight: clients cut off, fds back, proxy alive", async (t) => {
  const host = px.hostFor(suite.ns, "echo");
  const pid = backendPid(await rawBody(host, "/who"));
  await new Promise((r) => setTimeout(r, 2000));
  const baseline = fds();
  // Each /slow answer is a 200 trickling a byte every 200 ms: resolve with what the client saw.
  let started = 0;
  const inFlight = Array.from(
    { length: 200 },
    () =>
      new Promise<string>((resolve) => {
        const s = connect(px.port, px.address);
        let head = "";
        let lingered = false;
        s.on("error", () => undefined);
        s.on("data", (d: Buffer) => {
          if (head.length === 0) started++;
          if (head.length < 12) head += String(d);
        });
        s.once("close", () => {
          clearTimeout(linger);
          resolve(lingered ? "lingering" : head.slice(9, 12) || "closed");
        });
        const linger = setTimeout(() => {
          lingered = true;
          s.destroy();
        }, 20_000);
        s.write(`GET /slow?ms=60000 HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
      }),
  );
  await eventually(
    "200 slow answers under way",
    async () => (started === 200 ? true : undefined),
    10_000,
    50,
  );
  process.kill(pid, "SIGKILL");
  const outcomes = await Promise.all(inFlight);
  const tally: Record<string, number> = {};
  for (const o of outcomes) tally[o] = (tally[o] ?? 0) + 1;
  t.diagnostic(`clients of the killed backend: ${JSON.stringify(tally)}`);
  // A 200 whose body stopped short, or (had the backend died before its headers) an error answer.
  const bad = outcomes.filter((o) => !["200", "502", "503"].includes(o));
  assert.equal(bad.length, 0, `clients of the killed backend: ${JSON.stringify(tally)}`);
  await eventually(
    `after the kill: proxy fds back to baseline ${baseline} (now ${fds()})`,
    async () => (fds() <= baseline + 2 ? true : undefined),
    15_000,
    250,
  );
  assert.ok(px.proc.exitCode === null && px.proc.signalCode === null, "proxy process alive");
  // The first request after the kill meets a pooled connection to the dead process: the proxy sends a
  // GET once more on a fresh connection (refused: 503, or the restarted pod: 200), never a raw 502.
  const status = await rawGet(host, "/after-kill");
  const tail = readFileSync(px.logFile, "utf8").trimEnd().split("\n").slice(-2).join("\n");
  t.diagnostic(`after the kill the proxy answered ${status}; its log ends:\n${tail}`);
  assert.ok([200, 503].includes(status), `answered ${status} after the kill`);
});

/** The pid in http-echo's answer, checked to be an http-echo process on this machine. */
function backendPid(body: string): number {
  // The proxy may re-frame the answer (chunked), so read the pid out of the text, not parse it.
  const pid = Number(/"pid":(\d+)/.exec(body)?.[1]);
  const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
  assert.ok(cmdline.includes("http-echo.ts"), `pid ${pid} is http-echo (${cmdline})`);
  return pid;
}

/** GET on a fresh connection with `Connection: close`; resolves with the body once it is all in. */
function rawBody(host: string, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(px.port, px.address);
    const chunks: Buffer[] = [];
    s.on("error", reject);
    s.on("data", (d: Buffer) => chunks.push(d));
    s.on("end", () => {
      const text = Buffer.concat(chunks).toString();
      resolve(text.slice(text.indexOf("\r\n\r\n") + 4));
    });
    s.write(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
  });
}

/** GET on a fresh connection with a chosen Host; resolves with the status code. */
function rawGet(host: string, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = connect(px.port, px.address);
    s.on("error", reject);
    s.on("data", (d) => {
      resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(String(d))?.[1] ?? 0));
      s.destroy();
    });
    // Closed without an answer: status 0, which every assertion refuses (not a test that hangs).
    s.once("close", () => resolve(0));
    s.write(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
  });
}
