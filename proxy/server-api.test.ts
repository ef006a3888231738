/**
 * One scenario on real sockets (loopback, no cluster): the whole proxy server in host mode, the API
 * surface serving a test double of the service contract (proxy/api/memory-api.ts), and a workspace
 * backend that records every request it gets. The API claims `/api/v1/...` and `/graphql` on the base
 * host and on any host that is not a workspace's, never on a workspace host (those paths go to the
 * IDE), and never the status streams or the seed-compatible connect path; a cookie POST from a
 * foreign origin is refused 403 before anything reaches the service; API requests are counted by
 * route template and code. With `--api=false`, or no service, the API is not there (404).
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { noopLogger } from "../common/runtime/types.ts";
import type { Logger } from "../common/runtime/log.ts";
import { MemoryApi } from "./api/memory-api.ts";
import { loadConfig } from "./config.ts";
import { createMetrics } from "./metrics.ts";
import { RouteTable } from "./routing/table.ts";
import type { ProxyServer } from "./server.ts";
import { listenTestProxy } from "./server-fixture.ts";

const log: Logger = { ...noopLogger, child: () => log };
const seen: string[] = [];
const api = new MemoryApi();
const metrics = createMetrics(() => ({}));
let backend: Server;
const proxies: ProxyServer[] = [];
let port: number;
/** What POST /graphql answered (the placeholder's 501, or the real handler's). */
let gqlStatus = 0;

function table(): RouteTable {
  const t = new RouteTable({ routing: "host", baseDomain: "portico.test" });
  t.upsert({
    namespace: "ns",
    name: "a",
    className: "jupyterlab",
    owner: "alice",
    created: "",
    state: "ready",
    message: "",
    upstream: { host: "127.0.0.1", port: (backend.address() as AddressInfo).port },
    idePrefix: "",
    stripPrefix: false,
    requestHeaders: [],
    rewriteLocation: false,
    rewriteCookiePath: false,
  });
  return t;
}

before(async () => {
  backend = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    res.writeHead(200, { "content-type": "text/plain" }).end("backend");
  });
  await new Promise<void>((r) => backend.listen(0, "127.0.0.1", r));
  const config = loadConfig(["--auth=none", "--routing=host"], {});
  const started = await listenTestProxy(config, table(), log, { api, metrics });
  proxies.push(started.proxy);
  port = started.port;
});

after(async () => {
  await Promise.all(proxies.map((p) => p.close()));
  backend.closeAllConnections();
  await new Promise((r) => backend.close(r));
});

interface Got {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function send(
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: string,
  to = port,
): Promise<Got> {
  // A declared length: Node sends a DELETE's body without one (nor chunked), which no server reads.
  if (body !== undefined) headers = { ...headers, "content-length": String(Buffer.byteLength(body)) };
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port: to, method, path, headers, agent: false }, (res) => {
      let text = "";
      res.on("data", (d) => (text += String(d)));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

const json = { "content-type": "application/json" };
const create = JSON.stringify({ className: "jupyterlab" });

test("the API answers /api/v1 and /graphql on the base host (and any host not a workspace's)", async () => {
  seen.length = 0;
  const classes = await send("GET", "/api/v1/classes", { host: "portico.test" });
  assert.equal(classes.status, 200, classes.body);
  assert.equal((JSON.parse(classes.body) as { items: unknown[] }).items.length, 2);
  const other = await send("GET", "/api/v1/openapi.json", { host: "proxy.internal:8080" });
  assert.equal(other.status, 200);
  assert.equal((JSON.parse(other.body) as { openapi: string }).openapi, "3.1.0");
  const unknown = await send("GET", "/api/v1/nothing", { host: "portico.test" });
  assert.equal(unknown.status, 404);
  assert.match(unknown.body, /openapi\.json lists them/, "the API's 404, not the dispatcher's");
  // GraphQL is mounted (the placeholder answers 501 until the real handler is merged): the API
  // answered, not the dispatcher's 404.
  const gql = await send("POST", "/graphql", { host: "portico.test", ...json }, '{"query":"{ health }"}');
  assert.notEqual(gql.status, 404, gql.body);
  gqlStatus = gql.status;
  // GraphQL runs over POST only: any other method is the API's 405 (a mutation over GET never runs).
  const gqlGet = await send("GET", "/graphql?query=mutation%20%7B%20x%20%7D", { host: "portico.test" });
  assert.equal(gqlGet.status, 405);
  assert.equal(gqlGet.headers.allow, "POST, OPTIONS");
  assert.equal((JSON.parse(gqlGet.body) as { error: string }).error, "method_not_allowed");
  assert.deepEqual(seen, [], "nothing reached the workspace");
});

test("on a workspace host the same paths belong to the workspace's IDE", async () => {
  seen.length = 0;
  const before = api.calls.length;
  const host = "a--ns.portico.test";
  assert.equal((await send("GET", "/api/v1/classes", { host })).body, "backend");
  assert.equal((await send("POST", "/graphql", { host, ...json }, "{}")).body, "backend");
  assert.equal((await send("POST", "/api/v1/workspaces", { host, ...json }, create)).body, "backend");
  assert.deepEqual(seen, ["GET /api/v1/classes", "POST /graphql", "POST /api/v1/workspaces"]);
  assert.equal(api.calls.length, before, "the API saw none of them");
});

test("the status streams and the connect path stay with their surfaces", async () => {
  // The status surface (before the API) answers its path with its own 405 (Allow: GET).
  const events = await send("POST", "/api/v1/workspaces/ns/a/events", { host: "portico.test" });
  assert.equal(events.status, 405);
  assert.equal(events.headers.allow, "GET");
  // The connect path on the base host: the workspace surface's redirect to the workspace's own host.
  const connect = await send("GET", "/api/v1/connect/ns/alice/jupyterlab/lab", { host: "portico.test" });
  assert.equal(connect.status, 308);
  assert.equal(connect.headers.location, "http://a--ns.portico.test/lab");
});

test("a cookie POST from a foreign origin is refused 403 before anything reaches the service", async () => {
  const before = api.calls.length;
  const cookie = { host: "portico.test", cookie: "portico_session=abc", ...json };
  for (const origin of ["http://evil.example", "http://a--ns.portico.test", "null"]) {
    for (const [method, path] of [
      ["POST", "/api/v1/workspaces"],
      ["DELETE", "/api/v1/analysis"],
      ["POST", "/graphql"],
    ] as const) {
      const got = await send(method, path, { ...cookie, origin }, create);
      assert.equal(got.status, 403, `${method} ${path} from ${origin}: ${got.body}`);
      const body = JSON.parse(got.body) as { error: string; message: string };
      assert.equal(body.error, "cross_origin");
      assert.match(
        body.message,
        /only pages of http:\/\/portico\.test itself may change things through the API/,
      );
    }
  }
  // A browser's cross-site mark without an Origin is refused too.
  const marked = await send(
    "POST",
    "/api/v1/workspaces",
    { ...cookie, "sec-fetch-site": "cross-site" },
    create,
  );
  assert.equal(marked.status, 403);
  assert.equal(api.calls.length, before, "the service saw none of them");
  // Its own origin, and a client that sends no Origin (curl), pass.
  const own = await send("POST", "/api/v1/workspaces", { ...cookie, origin: "http://portico.test" }, create);
  assert.equal(own.status, 201, own.body);
  const curl = await send("POST", "/api/v1/workspaces", { host: "portico.test", ...json }, create);
  assert.equal(curl.status, 201, curl.body);
  assert.equal(api.calls.length, before + 2);
});

test("API requests are counted by route template and code, timed as kind api", async () => {
  const ws = JSON.parse(
    (
      await send(
        "POST",
        "/api/v1/workspaces",
        { host: "portico.test", ...json },
        JSON.stringify({ className: "vscode", running: false }),
      )
    ).body,
  ) as { namespace: string; name: string };
  const start = await send("POST", `/api/v1/workspaces/${ws.namespace}/${ws.name}/start`, {
    host: "portico.test",
  });
  assert.equal(start.status, 202);
  const text = await metrics.registry.metrics();
  const count = (route: string, code: number) =>
    new RegExp(
      `portico_proxy_requests_total\\{route="${route.replace(/[{}/]/g, "\\$&")}",code="${code}"\\} (\\d+)`,
    ).exec(text)?.[1];
  assert.equal(count("api:POST /api/v1/workspaces/{ns}/{name}/start", 202), "1");
  assert.equal(count("api:GET /api/v1/classes", 200), "1");
  assert.ok(count("api:POST /graphql", gqlStatus), "GraphQL requests are counted as api:POST /graphql");
  assert.equal(count("api:origin", 403), "10");
  assert.equal(count("api:unknown", 404), "1");
  assert.doesNotMatch(text, new RegExp(`route="[^"]*${ws.name}`), "no workspace name in any label");
  assert.match(text, /portico_proxy_request_duration_seconds_count\{kind="api"\} \d+/);
});

test("--api=false, or no service: the API is not there (the dispatcher's 404)", async () => {
  const off = await listenTestProxy(
    loadConfig(["--auth=none", "--routing=host", "--api=false"], {}),
    table(),
    log,
    { api },
  );
  const none = await listenTestProxy(loadConfig(["--auth=none", "--routing=host"], {}), table(), log);
  proxies.push(off.proxy, none.proxy);
  for (const to of [off.port, none.port]) {
    const got = await send("GET", "/api/v1/classes", { host: "portico.test" }, undefined, to);
    assert.equal(got.status, 404);
    assert.match(got.body, /no workspace is routed at portico\.test\/api\/v1\/classes/);
    const gql = await send("POST", "/graphql", { host: "portico.test", ...json }, "{}", to);
    assert.equal(gql.status, 404);
  }
});
