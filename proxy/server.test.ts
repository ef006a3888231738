/**
 * The data path on real sockets (loopback, no cluster): a local backend that echoes what it saw, a
 * route table filled by hand, and the proxy server in between.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, request, type Server } from "node:http";
import { connect } from "node:net";
import type { AddressInfo } from "node:net";
import { WebSocket, WebSocketServer } from "ws";
import { noopLogger } from "../common/runtime/types.ts";
import type { Logger } from "../common/runtime/log.ts";
import { loadConfig } from "./config.ts";
import { RouteTable, type Route } from "./routing/table.ts";
import type { ProxyServer } from "./server.ts";
import { listenTestProxy } from "./server-fixture.ts";

let backend: Server;
let wss: WebSocketServer;
let proxy: ProxyServer;
let base: string;
let backendPort: number;
/** How often the backend saw each `/reset-once` request. */
const resets = new Map<string, number>();
const table = new RouteTable({ routing: "path", baseDomain: "portico.test" });
const log: Logger = { ...noopLogger, child: () => log };

const route = (name: string, over: Partial<Route> = {}): Route => ({
  namespace: "ns",
  name,
  owner: "alice",
  className: "echo",
  created: "",
  state: "ready",
  message: "",
  upstream: { host: "127.0.0.1", port: backendPort },
  idePrefix: `/w/ns/${name}`,
  stripPrefix: false,
  requestHeaders: [{ name: "X-Forwarded-Prefix", value: "{prefix}" }],
  rewriteLocation: false,
  rewriteCookiePath: false,
  ...over,
});

before(async () => {
  backend = createServer((req, res) => {
    if (req.url?.endsWith("/partial")) {
      // The IDE dies half-way through an answer.
      res.writeHead(200, { "content-length": "100" });
      res.write("abc", () => setTimeout(() => req.socket.destroy(), 20));
      return;
    }
    if (req.url?.includes("/reset-once")) {
      // The IDE's connection dies before any answer (a killed pod), once per key.
      const key = `${req.method} ${req.url}`;
      resets.set(key, (resets.get(key) ?? 0) + 1);
      if (resets.get(key) === 1) return void req.socket.resetAndDestroy();
    }
    if (req.url?.endsWith("/redirect")) {
      res.writeHead(302, { location: "/login", "set-cookie": "s=1; Path=/" }).end();
      return;
    }
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () =>
      res
        .writeHead(200, { "content-type": "application/json", "x-frame-options": "ALLOW-FROM x" })
        .end(JSON.stringify({ url: req.url, headers: req.headers, body: Buffer.concat(chunks).length })),
    );
  });
  wss = new WebSocketServer({ server: backend });
  wss.on("connection", (ws, req) => {
    ws.send(JSON.stringify({ url: req.url, origin: req.headers.origin, host: req.headers.host }));
    ws.on("message", (d) => {
      if (String(d) === "close-4001") ws.close(4001, "bye");
      else if (String(d) === "die") ws.terminate();
      else ws.send(`echo:${String(d)}`);
    });
  });
  await new Promise<void>((r) => backend.listen(0, "127.0.0.1", r));
  backendPort = (backend.address() as AddressInfo).port;
  table.upsert(route("a"));
  table.upsert(
    route("strip", {
      stripPrefix: true,
      idePrefix: "/w/ns/strip",
      rewriteLocation: true,
      rewriteCookiePath: true,
    }),
  );
  table.upsert(route("starting", { state: "starting", upstream: undefined, message: "pulling" }));
  table.upsert(route("stopped", { state: "stopped", upstream: undefined }));
  table.upsert(route("dead", { upstream: { host: "127.0.0.1", port: 1 } }));
  const config = loadConfig(
    [
      "--auth=none",
      "--routing=path",
      "--max-header-bytes=4Ki",
      "--max-body-bytes=1Ki",
      "--headers-timeout=1s",
      "--ws-ping-interval=100ms",
      // Requests to a starting workspace answer at once here; holding them: server-wake.test.ts.
      "--wake-wait=0s",
    ],
    {},
  );
  let port: number;
  ({ proxy, port } = await listenTestProxy(config, table, log));
  base = `http://127.0.0.1:${port}`;
});

after(async () => {
  await proxy.close();
  wss.close();
  backend.closeAllConnections();
  await new Promise((r) => backend.close(r));
});

test("a ready route forwards with Host kept, forwarded headers set and gateway credentials gone", async () => {
  const res = await fetch(`${base}/w/ns/a/api/x?y=1`, {
    headers: { authorization: "Bearer secret", cookie: "portico_session=s; _xsrf=k" },
  });
  assert.equal(res.status, 200);
  const body = (await res.json()) as { url: string; headers: Record<string, string> };
  assert.equal(body.url, "/w/ns/a/api/x?y=1");
  assert.equal(body.headers.host, new URL(base).host);
  assert.equal(body.headers.authorization, undefined);
  assert.equal(body.headers.cookie, "_xsrf=k");
  assert.equal(body.headers["x-forwarded-prefix"], "/w/ns/a");
  assert.equal(body.headers["x-forwarded-for"], "127.0.0.1");
  assert.equal(res.headers.get("x-frame-options"), "SAMEORIGIN");
  assert.match(res.headers.get("content-security-policy") ?? "", /frame-ancestors 'self'/);
});

test("strip mode: prefix removed upstream, Location and cookie paths put back under it", async () => {
  const res = await fetch(`${base}/w/ns/strip/redirect`, { redirect: "manual" });
  assert.equal(res.status, 302);
  assert.equal(res.headers.get("location"), "/w/ns/strip/login");
  assert.equal(res.headers.get("set-cookie"), "s=1; Path=/w/ns/strip/");
});

test("refusals: 404 JSON, 405 TRACE, 400 traversal, 413 body, 308 to the trailing slash", async () => {
  const nf = await fetch(`${base}/w/ns/nope/`);
  assert.equal(nf.status, 404);
  assert.equal(((await nf.json()) as { error: string }).error, "not_found");
  assert.match(await rawRequest(`TRACE /w/ns/a/ HTTP/1.1\r\nHost: x\r\n\r\n`), /^HTTP\/1.1 405/);
  const trav = await rawRequest(`GET /w/ns/a/%2e%2e/b/ HTTP/1.1\r\nHost: x\r\n\r\n`);
  assert.match(trav, /^HTTP\/1.1 400/);
  assert.equal((await fetch(`${base}/w/ns/a/up`, { method: "POST", body: "x".repeat(2048) })).status, 413);
  const redirect = await fetch(`${base}/w/ns/a`, { redirect: "manual" });
  assert.equal(redirect.status, 308);
  assert.equal(redirect.headers.get("location"), "/w/ns/a/");
});

test("bodies within the limit reach the IDE whole, declared or chunked, and the proxy keeps serving", async () => {
  const declared = await fetch(`${base}/w/ns/a/api/kernels`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ name: "python3", pad: "p".repeat(500) }),
  });
  assert.equal(declared.status, 200);
  const seen = (await declared.json()) as { body: number; headers: Record<string, string> };
  assert.equal(seen.body, JSON.stringify({ name: "python3", pad: "p".repeat(500) }).length);
  assert.equal(seen.headers["content-type"], "application/json");
  const chunked = await new Promise<{ body: number }>((resolve, reject) => {
    const req = request(`${base}/w/ns/a/up`, { method: "PUT" }, (res) => {
      let text = "";
      res.on("data", (d: Buffer) => (text += String(d)));
      res.on("end", () => resolve(JSON.parse(text) as { body: number }));
    });
    req.on("error", reject);
    req.write("x".repeat(300));
    req.end("y".repeat(300));
  });
  assert.equal(chunked.body, 600);
  for (let i = 0; i < 3; i++) assert.equal((await fetch(`${base}/w/ns/a/`)).status, 200);
});

test("a dead upstream connection: GET goes once more on a fresh one, a request with a body never does", async () => {
  const get = await fetch(`${base}/w/ns/a/reset-once/1`);
  assert.equal(get.status, 200);
  assert.equal(resets.get("GET /w/ns/a/reset-once/1"), 2, "sent twice: the reset, then the retry");
  const post = await fetch(`${base}/w/ns/a/reset-once/2`, { method: "POST", body: "payload" });
  assert.equal(post.status, 502);
  assert.equal(((await post.json()) as { error: string }).error, "upstream_error");
  assert.equal(resets.get("POST /w/ns/a/reset-once/2"), 1, "a request with a body is never sent again");
});

test("chunked bodies past the limit get 413 too", async () => {
  const status = await new Promise<number>((resolve, reject) => {
    const req = request(`${base}/w/ns/a/up`, { method: "POST" }, (res) => resolve(res.statusCode ?? 0));
    req.on("error", reject);
    req.write("x".repeat(800));
    req.end("y".repeat(800));
  });
  assert.equal(status, 413);
});

test("huge headers get 431, slow headers are cut off, CONNECT gets 405", async () => {
  assert.match(
    await rawRequest(`GET /w/ns/a/ HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(8000)}\r\n\r\n`),
    /^HTTP\/1.1 431/,
  );
  const t0 = Date.now();
  const slow = await rawRequest(`GET /w/ns/a/ HTTP/1.1\r\nHost: x\r\n`);
  assert.ok(Date.now() - t0 < 5000, "cut off within a few seconds");
  assert.match(slow, /^HTTP\/1.1 408/);
  assert.match(
    await rawRequest(`CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n`),
    /^HTTP\/1.1 405/,
  );
  assert.match(await rawRequest(`GET /w/ns/a/ HTTP/1.1\r\nHost: a b\r\n\r\n`), /^HTTP\/1.1 400/);
});

test("starting: waiting page for browsers, 503 JSON with Retry-After otherwise; stopped: 404", async () => {
  const html = await fetch(`${base}/w/ns/starting/`, { headers: { accept: "text/html" } });
  assert.equal(html.status, 503);
  const page = await html.text();
  assert.match(page, /data-events="\/w\/ns\/starting\/__portico\/events"/);
  assert.match(page, /<script src="\/w\/ns\/starting\/__portico\/page\.js\?v=[0-9a-f]+" defer>/);
  assert.match(html.headers.get("content-security-policy") ?? "", /script-src 'self'/);
  const js = await fetch(`${base}/w/ns/starting/__portico/page.js`);
  assert.equal(js.status, 200);
  assert.match(js.headers.get("content-type") ?? "", /^text\/javascript/);
  assert.match(await js.text(), /new EventSource\(body\.dataset\.events\)/);
  const json = await fetch(`${base}/w/ns/starting/api`);
  assert.equal(json.status, 503);
  assert.equal(json.headers.get("retry-after"), "2");
  assert.equal(((await json.json()) as { error: string }).error, "workspace_starting");
  const stopped = await fetch(`${base}/w/ns/stopped/`);
  assert.equal(stopped.status, 404);
  assert.equal(((await stopped.json()) as { error: string }).error, "workspace_stopped");
});

test("an upstream that dies mid-answer cuts the client off; the proxy lives on", async () => {
  await assert.rejects(async () => (await fetch(`${base}/w/ns/a/partial`)).text());
  assert.equal((await fetch(`${base}/w/ns/a/after`)).status, 200);
});

test("an upstream that refuses gets 503 JSON with a message, not a stack", async () => {
  const res = await fetch(`${base}/w/ns/dead/`);
  assert.equal(res.status, 503);
  const body = (await res.json()) as { error: string; message: string };
  assert.equal(body.error, "upstream_unavailable");
  assert.match(body.message, /ECONNREFUSED/);
});

test("WebSockets relay both ways with Origin and Host kept, and close codes passed through", async () => {
  const ws = new WebSocket(`${base.replace("http", "ws")}/w/ns/a/chan?x=1`, { origin: base });
  const first = await new Promise<string>((resolve, reject) => {
    ws.once("message", (d) => resolve(String(d)));
    ws.once("error", reject);
  });
  const hello = JSON.parse(first) as { url: string; origin: string; host: string };
  assert.equal(hello.url, "/w/ns/a/chan?x=1");
  assert.equal(hello.origin, base);
  assert.equal(hello.host, new URL(base).host);
  ws.send("hi");
  assert.equal(await new Promise((r) => ws.once("message", (d) => r(String(d)))), "echo:hi");
  ws.send("close-4001");
  const [code, reason] = await new Promise<[number, string]>((r) =>
    ws.once("close", (c, why) => r([c, String(why)])),
  );
  assert.equal(code, 4001);
  assert.equal(reason, "bye", "the close frame passes as the IDE sent it, reason included");
  assert.equal(proxy.websockets(), 0);
});

test("WebSockets: both sides are pinged, and an IDE that vanishes closes the client with 1014", async () => {
  const ws = new WebSocket(`${base.replace("http", "ws")}/w/ns/a/chan`);
  await new Promise((r) => ws.once("message", r));
  await new Promise((r) => ws.once("ping", r));
  ws.send("die");
  const code = await new Promise<number>((r) => ws.once("close", (c) => r(c)));
  assert.equal(code, 1014);
});

test("upgrades to unknown routes, not-ready routes and invalid handshakes are refused", async () => {
  const key = "dGhlIHNhbXBsZSBub25jZQ==";
  const up = (path: string, extra = "") =>
    rawRequest(
      `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`,
    );
  assert.match(await up("/w/ns/nope/ws", `Sec-WebSocket-Key: ${key}\r\n`), /^HTTP\/1.1 404/);
  assert.match(await up("/w/ns/starting/ws", `Sec-WebSocket-Key: ${key}\r\n`), /^HTTP\/1.1 503/);
  assert.match(await up("/w/ns/a/ws", `Sec-WebSocket-Key: nope\r\n`), /^HTTP\/1.1 400/);
  assert.match(await up("/w/ns/dead/ws", `Sec-WebSocket-Key: ${key}\r\n`), /^HTTP\/1.1 503/);
});

/** Sends raw bytes, returns everything the server answered until it closed (or 4 s passed). */
function rawRequest(text: string): Promise<string> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve) => {
    const s = connect(Number(port), hostname);
    let out = "";
    s.on("data", (d) => (out += String(d)));
    s.on("error", () => resolve(out));
    s.on("close", () => resolve(out));
    // Ask for the connection to end with the answer (upgrades say Connection: Upgrade themselves).
    s.write(/\r\nConnection:/i.test(text) ? text : text.replace("\r\n", "\r\nConnection: close\r\n"));
    setTimeout(() => s.destroy(), 4000).unref();
  });
}
