/**
 * Wake on access (issue 15) on real sockets: an idle-stopped route, the API's service contract as a
 * test double (proxy/api/memory-api.ts) whose start the test turns into route changes as the
 * cluster adapter would, a backend that answers HTTP and WebSockets, and the proxy in between.
 * The real service layer and cluster: e2e/tests/lifecycle-wake.test.ts.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { WebSocket, WebSocketServer } from "ws";
import { noopLogger } from "../common/runtime/types.ts";
import type { Logger } from "../common/runtime/log.ts";
import { MemoryApi } from "./api/memory-api.ts";
import { loadConfig } from "./config.ts";
import { createMetrics } from "./metrics.ts";
import { RouteTable, type Route } from "./routing/table.ts";
import type { ProxyServer } from "./server.ts";
import { listenTestProxy } from "./server-fixture.ts";

const NS = "ws-anonymous"; // --auth=none: every caller is "anonymous"
const table = new RouteTable({ routing: "path", baseDomain: "portico.test" });
const log: Logger = { ...noopLogger, child: () => log };
const api = new MemoryApi();
const metrics = createMetrics(() => ({}));
let backend: Server;
let wss: WebSocketServer;
let proxy: ProxyServer;
let base: string;
let backendPort: number;

const route = (name: string, over: Partial<Route> = {}): Route => ({
  namespace: NS,
  name,
  owner: "anonymous",
  className: "echo",
  created: "",
  state: "stopped",
  idleStopped: true,
  message: "",
  idePrefix: `/w/${NS}/${name}`,
  stripPrefix: false,
  requestHeaders: [],
  rewriteLocation: false,
  rewriteCookiePath: false,
  ...over,
});
const ready = (name: string): Route => ({
  ...route(name, { state: "ready", upstream: { host: "127.0.0.1", port: backendPort } }),
  idleStopped: undefined,
});

/** Resolves once a request for `name` waits on the table (the proxy subscribed). */
async function held(name: string): Promise<void> {
  while (table.listenerCount(NS, name) === 0) await new Promise((r) => setImmediate(r));
}

before(async () => {
  backend = createServer((req, res) => res.writeHead(200).end(`backend ${req.method} ${req.url}`));
  wss = new WebSocketServer({ server: backend });
  wss.on("connection", (ws) => ws.on("message", (d) => ws.send(`echo:${String(d)}`)));
  await new Promise<void>((r) => backend.listen(0, "127.0.0.1", r));
  backendPort = (backend.address() as AddressInfo).port;
  for (const name of ["http", "page", "ws", "slow"]) {
    api.add("anonymous", name, { running: true, phase: "Stopped", idleStopped: true });
    table.upsert(route(name));
  }
  api.add("anonymous", "mine-stopped", { running: false, phase: "Stopped" });
  table.upsert(route("mine-stopped", { idleStopped: undefined }));
  const config = loadConfig(["--auth=none", "--routing=path", "--wake-wait=2s"], {});
  const started = await listenTestProxy(config, table, log, { api, metrics });
  proxy = started.proxy;
  base = `http://127.0.0.1:${started.port}`;
});

after(async () => {
  await proxy.close();
  wss.close();
  backend.closeAllConnections();
  await new Promise((r) => backend.close(r));
});

test("a plain request wakes the idle-stopped workspace and waits until it is ready, then is forwarded", async () => {
  const answer = fetch(`${base}/w/${NS}/http/api/status`);
  await held("http");
  assert.ok(api.calls.includes(`start ${NS}/http`), "woken through the service layer");
  table.upsert(route("http", { state: "starting", idleStopped: undefined }));
  table.upsert(ready("http"));
  const res = await answer;
  assert.equal(res.status, 200);
  assert.equal(await res.text(), `backend GET /w/${NS}/http/api/status`);
  const text = await metrics.registry.metrics();
  assert.match(text, /portico_wakes_total\{result="woken"\} [1-9]/);
  assert.match(text, /portico_wake_wait_seconds_count\{result="forwarded"\} [1-9]/);
  assert.doesNotMatch(text, /portico_proxy_request_duration_seconds_count\{kind="workspace"\} [1-9]/);
});

test("a browser navigation wakes it and gets the waiting page at once", async () => {
  const res = await fetch(`${base}/w/${NS}/page/`, { headers: { accept: "text/html", ...NAV } });
  assert.equal(res.status, 503);
  const html = await res.text();
  assert.match(html, /<body data-state="starting"/);
  assert.match(html, /data-events="\/w\/ws-anonymous\/page\/__portico\/events"/);
  assert.ok(api.calls.includes(`start ${NS}/page`));
});

test("a WebSocket upgrade during the wake is relayed once ready", async () => {
  const ws = new WebSocket(`${base.replace("http", "ws")}/w/${NS}/ws/socket`);
  const opened = new Promise<void>((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  await held("ws");
  table.upsert(ready("ws"));
  await opened;
  ws.send("hi");
  const echo = await new Promise<string>((r) => ws.once("message", (d) => r(String(d))));
  assert.equal(echo, "echo:hi");
  ws.close();
});

test("past --wake-wait: 503 with Retry-After; a workspace that stays stopped ends the wait", async () => {
  const res = await fetch(`${base}/w/${NS}/slow/x`);
  assert.equal(res.status, 503);
  assert.equal(res.headers.get("retry-after"), "5");
  assert.equal(((await res.json()) as { error: string }).error, "workspace_starting");
  assert.equal(table.listenerCount(NS, "slow"), 0);
  assert.match(await metrics.registry.metrics(), /portico_wake_wait_seconds_count\{result="timed_out"\} 1/);
});

test("not woken: a workspace its user stopped gets the stopped page with Start", async () => {
  const before = api.calls.length;
  const mine = await fetch(`${base}/w/${NS}/mine-stopped/`, { headers: { accept: "text/html", ...NAV } });
  assert.equal(mine.status, 404);
  const page = await mine.text();
  assert.match(page, /<body data-state="stopped"/);
  assert.match(page, /<button id="start"/);
  assert.doesNotMatch(page, /idleness/);
  // Someone else's idle-stopped workspace (no wake for a sharee): wake.test.ts and, with real
  // identities, e2e/tests/attacks-lifecycle.test.ts (--auth=none makes every caller an admin).
  assert.deepEqual(api.calls.slice(before), [], "no start asked");
});

const NAV = { "sec-fetch-site": "none", "sec-fetch-mode": "navigate", "sec-fetch-dest": "document" };

test("a held request outlives the connection's idle timeout (--idle-timeout shorter than --wake-wait)", async () => {
  // Before: the server's idle timeout closed the held client's connection without an answer.
  const own = new RouteTable({ routing: "path", baseDomain: "portico.test" });
  own.upsert(route("idle-cut", { state: "starting", idleStopped: undefined }));
  const config = loadConfig(["--auth=none", "--routing=path", "--wake-wait=5s", "--idle-timeout=200ms"], {});
  const started = await listenTestProxy(config, own, log, { api, metrics: createMetrics(() => ({})) });
  try {
    const answer = fetch(`http://127.0.0.1:${started.port}/w/${NS}/idle-cut/late`);
    while (own.listenerCount(NS, "idle-cut") === 0) await new Promise((r) => setImmediate(r));
    // Three idle timeouts pass while the proxy holds the request: what is under test is the time.
    await new Promise((r) => setTimeout(r, 600));
    own.upsert(ready("idle-cut"));
    const res = await answer;
    assert.equal(res.status, 200);
    assert.equal(await res.text(), `backend GET /w/${NS}/idle-cut/late`);
  } finally {
    await started.proxy.close();
  }
});
