/**
 * Activity (issue 15) on the real data path: which traffic the proxy counts as a workspace's
 * activity. Requests forwarded to the IDE and client messages over the class's limit do; the
 * proxy's own pages, their assets, the status stream, pings and short messages do not.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
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
const touches: string[] = [];
const table = new RouteTable({ routing: "path", baseDomain: "portico.test" });
const log: Logger = { ...noopLogger, child: () => log };

before(async () => {
  backend = createServer((_req, res) => res.writeHead(200).end("ide"));
  wss = new WebSocketServer({ server: backend });
  wss.on("connection", (ws) => ws.on("message", (d) => ws.send(d)));
  await new Promise<void>((r) => backend.listen(0, "127.0.0.1", r));
  const port = (backend.address() as AddressInfo).port;
  const route = (name: string, over: Partial<Route> = {}): Route => ({
    namespace: "ns",
    name,
    owner: "alice",
    className: "c",
    created: "",
    state: "ready",
    message: "",
    upstream: { host: "127.0.0.1", port },
    idePrefix: `/w/ns/${name}`,
    stripPrefix: false,
    requestHeaders: [],
    rewriteLocation: false,
    rewriteCookiePath: false,
    ...over,
  });
  table.upsert(route("a", { ignoreWebSocketMessagesUpTo: 10 }));
  table.upsert(route("waiting", { state: "starting", upstream: undefined }));
  const config = loadConfig(["--auth=none", "--routing=path"], {});
  let p: number;
  ({ proxy, port: p } = await listenTestProxy(config, table, log, {
    activity: { touch: (ns, name, kind) => void touches.push(`${ns}/${name} ${kind}`) },
  }));
  base = `http://127.0.0.1:${p}`;
});
after(async () => {
  await proxy.close();
  wss.close();
  backend.closeAllConnections();
  await new Promise((r) => backend.close(r));
});

test("a request forwarded to the IDE is activity; the proxy's own pages, assets and status stream are not", async () => {
  touches.length = 0;
  assert.equal((await fetch(`${base}/w/ns/a/lab`)).status, 200);
  assert.deepEqual(touches, ["ns/a proxy"]);
  touches.length = 0;
  for (const path of ["/w/ns/a/__portico/page.js", "/w/ns/a/__portico/page.css", "/w/ns/waiting/"]) {
    const res = await fetch(base + path, { headers: { accept: "text/html" } });
    await res.arrayBuffer();
  }
  // The status stream is the proxy's own answer (here its 404: no snapshot), never the IDE's.
  await (await fetch(`${base}/w/ns/a/__portico/events`)).arrayBuffer();
  assert.deepEqual(touches, []);
});

test("WebSocket: messages up to the class's limit and pings are not activity; a longer message is, once", async () => {
  const ws = new WebSocket(`${base.replace("http", "ws")}/w/ns/a/socket`);
  const echoes: string[] = [];
  await new Promise((r, j) => (ws.once("open", r), ws.once("error", j)));
  touches.length = 0;
  const got = (n: number) =>
    new Promise<void>((r) => {
      const on = (d: Buffer) => {
        echoes.push(String(d));
        if (echoes.length !== n) return;
        ws.off("message", on);
        r();
      };
      ws.on("message", on);
    });
  const three = got(3);
  ws.send("0123456789");
  ws.ping(Buffer.alloc(100));
  ws.send("abc");
  ws.send(Buffer.alloc(10));
  await three;
  assert.deepEqual(touches, [], "short messages and a ping");
  const one = got(4);
  ws.send("0123456789a");
  await one;
  assert.deepEqual(touches, ["ns/a proxy"]);
  ws.close();
});
