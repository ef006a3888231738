/**
 * One scenario on real sockets (loopback, no cluster): host mode, a backend that counts every request
 * and handshake it gets, and the proxy in between. The compatible path on a host that is not the
 * workspace's own answers 308 to that host (scheme, port, rest and query kept), and requests from
 * other origins are refused with 403 before a byte reaches the backend.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { WebSocket, WebSocketServer } from "ws";
import { noopLogger } from "../common/runtime/types.ts";
import type { Logger } from "../common/runtime/log.ts";
import { loadConfig } from "./config.ts";
import { RouteTable } from "./routing/table.ts";
import type { ProxyServer } from "./server.ts";
import { listenTestProxy } from "./server-fixture.ts";

const log: Logger = { ...noopLogger, child: () => log };
const seen: string[] = [];
let backend: Server;
let wss: WebSocketServer;
let proxy: ProxyServer;
let port: number;

before(async () => {
  backend = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    res.writeHead(200, { "content-type": "text/plain" }).end("backend");
  });
  wss = new WebSocketServer({ server: backend });
  wss.on("connection", (ws, req) => {
    seen.push(`WS ${req.url}`);
    ws.close();
  });
  await new Promise<void>((r) => backend.listen(0, "127.0.0.1", r));
  const table = new RouteTable({ routing: "host", baseDomain: "portico.test" });
  const upstream = { host: "127.0.0.1", port: (backend.address() as AddressInfo).port };
  const common = { owner: "alice", created: "", state: "ready" as const, message: "", upstream };
  const ide = { idePrefix: "", stripPrefix: false, requestHeaders: [], rewriteLocation: false };
  table.upsert({
    namespace: "ns",
    name: "a",
    className: "jupyterlab",
    ...common,
    ...ide,
    rewriteCookiePath: false,
  });
  table.upsert({
    namespace: "ns",
    name: "portal",
    className: "portal",
    ...common,
    ...ide,
    rewriteCookiePath: false,
    allowedOrigins: ["https://portal.example.com"],
  });
  const config = loadConfig(["--auth=none", "--routing=host", "--trust-forwarded=true"], {});
  ({ proxy, port } = await listenTestProxy(config, table, log));
});

after(async () => {
  await proxy.close();
  wss.close();
  backend.closeAllConnections();
  await new Promise((r) => backend.close(r));
});

function send(
  method: string,
  path: string,
  headers: Record<string, string>,
): Promise<{ status: number; location?: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, method, path, headers, agent: false }, (res) => {
      let body = "";
      res.on("data", (d) => (body += String(d)));
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          body,
          ...(res.headers.location ? { location: res.headers.location } : {}),
        }),
      );
    });
    req.on("error", reject);
    req.end(method === "POST" ? "{}" : undefined);
  });
}

function upgrade(path: string, headers: Record<string, string>, origin?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, { headers, ...(origin ? { origin } : {}) });
    ws.once("open", () => {
      ws.close();
      resolve(101);
    });
    ws.once("unexpected-response", (_req, res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    ws.once("error", reject);
  });
}

test("the compatible path on the base domain redirects to the workspace's own host, keeping scheme, port, rest and query", async () => {
  seen.length = 0;
  const compat = "/api/v1/connect/ns/alice/jupyterlab";
  const cases: [Record<string, string>, string, string][] = [
    [
      { host: "portico.test:8080" },
      `${compat}/api/kernels?x=1`,
      "http://a--ns.portico.test:8080/api/kernels?x=1",
    ],
    [{ host: "portico.test" }, compat, "http://a--ns.portico.test/"],
    [
      { host: "evil.example:81" },
      `${compat}/lab/tree/a%20b?q`,
      "http://a--ns.portico.test:81/lab/tree/a%20b?q",
    ],
    [
      { host: "portico.test", "x-forwarded-proto": "https" },
      `${compat}/lab`,
      "https://a--ns.portico.test/lab",
    ],
  ];
  for (const [headers, path, location] of cases) {
    const res = await send("POST", path, { ...headers, origin: `http://${headers.host}` });
    assert.equal(res.status, 308, path);
    assert.equal(res.location, location);
    assert.equal((JSON.parse(res.body) as { error: string }).error, "own_host");
  }
  assert.equal(await upgrade(`${compat}/api/kernels/k/channels`, { host: "portico.test:8080" }), 308);
  assert.deepEqual(seen, [], "nothing reached the workspace");
});

test("unsafe methods and upgrades from other origins get 403 before the backend sees them; its own origin passes", async () => {
  seen.length = 0;
  const host = "a--ns.portico.test:8080";
  for (const [method, headers] of [
    ["POST", { origin: "http://b--ns.portico.test:8080", "sec-fetch-site": "same-site" }],
    ["PUT", { origin: "null" }],
    ["DELETE", { "sec-fetch-site": "cross-site" }],
    ["POST", { origin: "https://a--ns.portico.test:8080" }],
  ] as [string, Record<string, string>][]) {
    const res = await send(method, "/api/kernels", { host, ...headers });
    assert.equal(res.status, 403, `${method} ${JSON.stringify(headers)}`);
    assert.equal((JSON.parse(res.body) as { error: string }).error, "cross_origin");
  }
  assert.equal(await upgrade("/api/kernels/k/channels", { host }, "http://evil.example"), 403);
  assert.deepEqual(seen, [], "nothing reached the workspace");

  assert.equal((await send("POST", "/api/kernels", { host, origin: `http://${host}` })).status, 200);
  assert.equal((await send("GET", "/x", { host, origin: "http://evil.example" })).status, 200, "reads pass");
  assert.equal(await upgrade("/api/kernels/k/channels", { host }, `http://${host}`), 101);
  // Behind a load balancer that ends TLS (--trust-forwarded), the page's origin is https.
  const https = { host, "x-forwarded-proto": "https" };
  assert.equal((await send("POST", "/api/kernels", { ...https, origin: `https://${host}` })).status, 200);
  assert.equal((await send("POST", "/api/kernels", { ...https, origin: `http://${host}` })).status, 403);
  // The class's allow-list.
  const portal = "portal--ns.portico.test";
  assert.equal(
    (await send("POST", "/api/x", { host: portal, origin: "https://portal.example.com" })).status,
    200,
  );
  assert.equal(
    (await send("POST", "/api/x", { host: portal, origin: "https://other.example.com" })).status,
    403,
  );
  assert.equal(seen.length, 5, seen.join(", "));
});
