/**
 * What the proxy's /metrics says about its traffic, on real sockets (loopback, no cluster) with the
 * real registry: long-lived connections (status streams, WebSockets) are counted and their held time
 * recorded, but never enter the request-latency histogram; a GatewayRoute endpoint's series go when
 * the endpoint leaves its rule, and a rule's when the rule goes.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, get, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { WebSocket, WebSocketServer } from "ws";
import type { GatewayRoute, Workspace } from "../crds/types.ts";
import { noopLogger } from "../common/runtime/types.ts";
import type { Logger } from "../common/runtime/log.ts";
import { loadConfig } from "./config.ts";
import { EventHub } from "./events.ts";
import { createMetrics, type ProxyMetrics } from "./metrics.ts";
import { RouteTable } from "./routing/table.ts";
import type { ProxyServer } from "./server.ts";
import { listenTestProxy } from "./server-fixture.ts";

const log: Logger = { ...noopLogger, child: () => log };
const backends: Server[] = [];
let wss: WebSocketServer;
let proxy: ProxyServer;
let base: string;
let metrics: ProxyMetrics;
let events: EventHub;
const ports: number[] = [];

/** The sum of the samples of `name` whose labels include `labels`. */
async function sample(name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await metrics.registry.metrics();
  let total = 0;
  for (const m of text.matchAll(/^([a-z_:]+)(?:\{([^}]*)\})? (\S+)$/gm)) {
    if (m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? "").matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) total += Number(m[3]);
  }
  return total;
}

/** Waits until `name` (with `labels`) reads `want`: the metric is recorded when a socket's close is seen. */
async function until(name: string, labels: Record<string, string>, want: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if ((await sample(name, labels)) === want) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.equal(await sample(name, labels), want, `${name} ${JSON.stringify(labels)}`);
}

const workspace: Workspace = {
  apiVersion: "portico.dev/v1alpha1",
  kind: "Workspace",
  metadata: { name: "a", namespace: "ns", resourceVersion: "1" },
  spec: { owner: "alice", className: "echo" },
  status: { phase: "Running", conditions: [] },
};

before(async () => {
  for (let i = 0; i < 2; i++) {
    const b = createServer((req, res) => res.writeHead(200).end(`backend ${i}`));
    await new Promise<void>((r) => b.listen(0, "127.0.0.1", r));
    backends.push(b);
    ports.push((b.address() as AddressInfo).port);
  }
  wss = new WebSocketServer({ server: backends[0] });
  wss.on("connection", (ws) => ws.send("hello"));
  const table = new RouteTable({ routing: "path", baseDomain: "portico.test" });
  table.upsert({
    namespace: "ns",
    name: "a",
    owner: "alice",
    className: "echo",
    created: "",
    state: "ready",
    message: "",
    upstream: { host: "127.0.0.1", port: ports[0]! },
    idePrefix: "/w/ns/a",
    stripPrefix: false,
    requestHeaders: [],
    rewriteLocation: false,
    rewriteCookiePath: false,
  });
  metrics = createMetrics(() => ({ ready: table.size }));
  events = new EventHub({ heartbeatMs: 60_000 });
  events.update(workspace, true);
  const config = loadConfig(["--auth=none", "--routing=path", "--gateway-url-allow=127.0.0.1"], {});
  let port: number;
  ({ proxy, port } = await listenTestProxy(config, table, log, { metrics, events }));
  base = `http://127.0.0.1:${port}`;
});

after(async () => {
  await proxy.close();
  wss.close();
  for (const b of backends) await new Promise((r) => b.close(r));
});

/** Opens the stream at `path`, reads its first status event, and closes it. */
async function holdStream(path: string): Promise<void> {
  const abort = new AbortController();
  const res = await fetch(`${base}${path}`, { signal: abort.signal });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "text/event-stream; charset=utf-8");
  const reader = res.body!.getReader();
  let text = "";
  while (!text.includes("event: status")) text += new TextDecoder().decode((await reader.read()).value);
  abort.abort();
}

test("status streams are counted with their status and held time, never timed as requests", async () => {
  assert.equal((await fetch(`${base}/w/ns/a/x`)).status, 200);
  assert.equal(await sample("portico_proxy_request_duration_seconds_count", { kind: "workspace" }), 1);
  // A short answer on the status surface (unknown workspace: 404) is a timed request.
  assert.equal((await fetch(`${base}/api/v1/workspaces/ns/nope/events`)).status, 404);
  assert.equal(await sample("portico_proxy_request_duration_seconds_count", { kind: "api" }), 1);

  await holdStream("/api/v1/workspaces/ns/a/events");
  await holdStream("/w/ns/a/__portico/events");
  await until("portico_proxy_stream_duration_seconds_count", { kind: "sse" }, 2);
  assert.equal(await sample("portico_proxy_requests_total", { route: "api", code: "200" }), 1);
  assert.equal(await sample("portico_proxy_requests_total", { route: "ns/a", code: "200" }), 2);
  assert.equal(await sample("portico_proxy_request_duration_seconds_count", { kind: "api" }), 1);
  assert.equal(await sample("portico_proxy_request_duration_seconds_count", { kind: "workspace" }), 1);
  assert.equal(await sample("portico_proxy_sse_streams_active"), 0);
});

test("an accepted WebSocket is counted (101) and its held time recorded; a refused one is timed", async () => {
  const before = await sample("portico_proxy_request_duration_seconds_count");
  const ws = new WebSocket(`${base.replace("http", "ws")}/w/ns/a/ws`);
  await new Promise((r) => ws.once("message", r));
  assert.equal(await sample("portico_proxy_requests_total", { route: "ns/a", code: "101" }), 1);
  assert.equal(await sample("portico_proxy_websockets_active"), 1);
  ws.close();
  await until("portico_proxy_stream_duration_seconds_count", { kind: "websocket" }, 1);
  assert.equal(await sample("portico_proxy_request_duration_seconds_count"), before);

  const refused = new WebSocket(`${base.replace("http", "ws")}/w/ns/nope/ws`);
  await new Promise((r) => refused.once("error", r));
  await until("portico_proxy_request_duration_seconds_count", { kind: "none" }, 1);
});

/** A GatewayRoute on host api.test whose one rule has a url backend per port. */
const gatewayRoute = (backendPorts: number[]): GatewayRoute => ({
  apiVersion: "portico.dev/v1alpha1",
  kind: "GatewayRoute",
  metadata: { name: "r", namespace: "ns", generation: 1 },
  spec: {
    hosts: ["api.test"],
    rules: [{ backends: backendPorts.map((p) => ({ url: `http://127.0.0.1:${p}` })) }],
  },
});
const noCluster = { service: () => undefined, slices: () => [] };

/** GET `path` on the GatewayRoute's host (fetch would not send a Host of our choosing): the status. */
const onApiHost = (path: string) =>
  new Promise<number>((resolve, reject) =>
    get(`${base}${path}`, { headers: { host: "api.test" } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    }).on("error", reject),
  );

test("GatewayRoute series: an endpoint's go when it leaves the rule, the rule's when it goes", async () => {
  const [a, b] = ports.map((p) => `http://127.0.0.1:${p}`);
  const rule = "ns/r#0";
  proxy.gateway.update([gatewayRoute(ports)], noCluster);
  for (let i = 0; i < 2; i++) assert.equal(await onApiHost("/x"), 200);
  assert.equal(await sample("portico_gateway_requests_total", { rule, endpoint: a! }), 1);
  assert.equal(await sample("portico_gateway_requests_total", { rule, endpoint: b! }), 1);

  proxy.gateway.update([gatewayRoute([ports[0]!])], noCluster);
  assert.equal(await sample("portico_gateway_requests_total", { rule, endpoint: a! }), 1);
  assert.doesNotMatch(await metrics.registry.metrics(), new RegExp(`endpoint="${b}"`));

  proxy.gateway.update([], noCluster);
  const text = await metrics.registry.metrics();
  assert.doesNotMatch(text, /rule="ns\/r#0"/, "no series of the removed rule is left");
  assert.match(text, /# TYPE portico_gateway_requests_total counter/, "the families stay declared");
});
