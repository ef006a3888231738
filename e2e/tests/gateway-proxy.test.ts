/**
 * GatewayRoutes through the real proxy, to real backend processes on pod IPs (http-echo pods behind
 * real Services and the EndpointSlices the controller manager writes): each load-balancing strategy's
 * distribution, health checks and chaos (a backend killed under load), the circuit breaker, retries,
 * rewrites and header changes, per-route limits, WebSocket on/off, and invalid routes next to valid ones;
 * an endpoint that leaves takes its metric series with it.
 */
import assert from "node:assert/strict";
import { request } from "node:http";
import { after, before, test } from "node:test";
import { WebSocket } from "ws";
import {
  API_VERSION,
  GATEWAY_ROUTE,
  GROUP,
  VERSION,
  type GatewayRoute,
  type RouteRule,
} from "../../crds/types.ts";
import { clients, eventually, withNamespace } from "../lib/kube.ts";
import { startProxy, type ProxyProcess } from "../lib/proxy.ts";

const c = clients();
let ns: { name: string; drop: () => Promise<void> };
let px: ProxyProcess;
const HOST = "api.gw.test";

interface Answer {
  status: number;
  pod: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One request through the proxy, from `localAddress` (any 198.18.x.y is local in the namespace). */
function call(
  path: string,
  o: {
    method?: string;
    headers?: Record<string, string>;
    body?: string;
    localAddress?: string;
    host?: string;
  } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${px.url}${path}`,
      {
        method: o.method ?? "GET",
        headers: { host: o.host ?? HOST, ...o.headers },
        ...(o.localAddress ? { localAddress: o.localAddress } : {}),
        agent: false,
      },
      (res) => {
        let body = "";
        res.on("data", (d) => (body += String(d)));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            pod: String(res.headers["x-echo-pod"] ?? ""),
            headers: res.headers,
            body,
          }),
        );
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(o.body);
  });
}

/** `n` requests, `parallel` at a time; the answering pods counted. */
async function spread(path: string, n: number, parallel = 16, o: Parameters<typeof call>[1] = {}) {
  const counts: Record<string, number> = {};
  const statuses: Record<number, number> = {};
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < n) {
        next++;
        const a = await call(path, o);
        statuses[a.status] = (statuses[a.status] ?? 0) + 1;
        if (a.status === 200) counts[a.pod] = (counts[a.pod] ?? 0) + 1;
      }
    }),
  );
  return { counts, statuses };
}

function echoPod(name: string, app: string, image = "portico.dev/test/http-echo:1") {
  return {
    metadata: { name, labels: { app } },
    spec: {
      containers: [
        {
          name: "echo",
          image,
          ports: [{ containerPort: 8080 }],
          env: [{ name: "POD_NAME", value: name }],
        },
      ],
    },
  };
}

async function service(name: string, app: string) {
  await c.core.createNamespacedService({
    namespace: ns.name,
    body: {
      metadata: { name },
      spec: { selector: { app }, ports: [{ name: "http", port: 80, targetPort: 8080 }] },
    },
  });
}

/** Waits until the proxy routes `path` to exactly `pods` (the EndpointSlices caught up). */
async function routedTo(path: string, pods: string[], o: Parameters<typeof call>[1] = {}) {
  await eventually(
    `${path} reaches ${pods.join(", ")}`,
    async () => {
      const { counts } = await spread(path, pods.length * 6, 4, o);
      const seen = Object.keys(counts).sort();
      return JSON.stringify(seen) === JSON.stringify([...pods].sort()) ? true : undefined;
    },
    60_000,
    300,
  );
}

function route(name: string, rules: RouteRule[], hosts: string[] = [HOST]): GatewayRoute {
  return {
    apiVersion: API_VERSION,
    kind: GATEWAY_ROUTE.kind,
    metadata: { name, namespace: ns.name },
    spec: { hosts, rules },
  };
}

async function apply(r: GatewayRoute) {
  await c.custom.createNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    namespace: ns.name,
    plural: GATEWAY_ROUTE.plural,
    body: r,
  });
}

const backend = (svc: string, weight?: number) => ({
  service: { name: svc, port: 80 },
  ...(weight !== undefined ? { weight } : {}),
});
const prefix = (value: string) => [{ path: { type: "PathPrefix" as const, value } }];

before(async () => {
  ns = await withNamespace(c, "gateway");
  // Three pods behind `echo`, one each behind `one` and `three` (weights), none behind `empty`.
  for (const p of ["e1", "e2", "e3"])
    await c.core.createNamespacedPod({ namespace: ns.name, body: echoPod(p, "echo") });
  await c.core.createNamespacedPod({ namespace: ns.name, body: echoPod("w1", "one") });
  await c.core.createNamespacedPod({ namespace: ns.name, body: echoPod("w3", "three") });
  await c.core.createNamespacedPod({
    namespace: ns.name,
    body: echoPod("ws1", "ws", "portico.dev/test/bench-backend:1"),
  });
  const services: [string, string][] = [
    ["echo", "echo"],
    ["one", "one"],
    ["three", "three"],
    ["empty", "nothing"],
    ["ws", "ws"],
  ];
  for (const [svc, app] of services) await service(svc, app);
  px = await startProxy({ address: "198.18.0.75", name: "gateway-proxy" });
});

after(async () => {
  await px?.stop();
  await ns?.drop();
});

test("round robin spreads evenly; weighted round robin 1:3 within ±5% over 4,000 requests", async () => {
  await apply(
    route("split", [
      { name: "rr", matches: prefix("/rr"), backends: [backend("echo")] },
      {
        name: "weighted",
        matches: prefix("/weighted"),
        backends: [backend("one", 1), backend("three", 3)],
        loadBalancer: { strategy: "WeightedRoundRobin" },
      },
    ]),
  );
  await routedTo("/rr", ["e1", "e2", "e3"]);
  await routedTo("/weighted", ["w1", "w3"]);
  const rr = await spread("/rr", 3000);
  for (const p of ["e1", "e2", "e3"])
    assert.ok(Math.abs(rr.counts[p]! - 1000) <= 50, JSON.stringify(rr.counts));
  const w = await spread("/weighted", 4000);
  assert.deepEqual(w.statuses, { 200: 4000 });
  const share = w.counts.w3! / 4000;
  assert.ok(Math.abs(share - 0.75) <= 0.05, `w3 share ${share} (${JSON.stringify(w.counts)})`);
});

test("IP hash keeps each client on one backend, and when a backend leaves only its clients move", async () => {
  await apply(
    route("sticky", [
      { matches: prefix("/sticky"), backends: [backend("echo")], loadBalancer: { strategy: "IPHash" } },
    ]),
  );
  await eventually("sticky route served", async () =>
    (await call("/sticky")).status === 200 ? true : undefined,
  );
  const clientsIps = Array.from({ length: 120 }, (_, i) => `198.18.60.${i + 1}`);
  const where = async () => {
    const m = new Map<string, string>();
    for (const ip of clientsIps) m.set(ip, (await call("/sticky", { localAddress: ip })).pod);
    return m;
  };
  const first = await where();
  const again = await where();
  assert.deepEqual([...again], [...first], "every client stays where it was");
  const used = new Set(first.values());
  assert.equal(used.size, 3, "all three backends get clients");

  // e3 leaves (its pod is deleted: its endpoint goes from the EndpointSlice), and its series with it.
  const e3 = (await c.core.readNamespacedPod({ name: "e3", namespace: ns.name })).status!.podIP!;
  const e3Series = new RegExp(
    `^portico_gateway_requests_total\\{rule="${ns.name}/sticky#0",endpoint="${e3}:`,
    "m",
  );
  assert.match(await px.metrics(), e3Series, "e3 served sticky clients: it has a series");
  await c.core.deleteNamespacedPod({ name: "e3", namespace: ns.name, gracePeriodSeconds: 0 });
  await routedTo("/rr", ["e1", "e2"]);
  assert.doesNotMatch(await px.metrics(), e3Series, "the endpoint's series went with it");
  const afterLeave = await where();
  for (const ip of clientsIps) {
    if (first.get(ip) === "e3") assert.notEqual(afterLeave.get(ip), "e3");
    else assert.equal(afterLeave.get(ip), first.get(ip), `${ip} stayed on ${first.get(ip)}`);
  }
  // Put e3 back for the tests that follow.
  await c.core.createNamespacedPod({ namespace: ns.name, body: echoPod("e3", "echo") });
  await routedTo("/rr", ["e1", "e2", "e3"]);
});

test("consistent hash on a header keeps each value on one backend", async () => {
  await apply(
    route("hashed", [
      {
        matches: prefix("/hashed"),
        backends: [backend("echo")],
        loadBalancer: { strategy: "ConsistentHash", hashOn: { header: "X-Session" } },
      },
    ]),
  );
  await eventually("hashed route served", async () =>
    (await call("/hashed")).status === 200 ? true : undefined,
  );
  const seen = new Map<string, Set<string>>();
  for (let round = 0; round < 3; round++)
    for (let i = 0; i < 40; i++) {
      const a = await call("/hashed", { headers: { "x-session": `s-${i}` } });
      seen.set(`s-${i}`, (seen.get(`s-${i}`) ?? new Set()).add(a.pod));
    }
  for (const [k, pods] of seen) assert.equal(pods.size, 1, `${k} went to ${[...pods].join(", ")}`);
  assert.equal(new Set([...seen.values()].map((p) => [...p][0])).size, 3, "the values spread over all three");
});

test("least connections sends new requests to the idle backend", async () => {
  await apply(
    route("least", [
      {
        matches: prefix("/least"),
        backends: [backend("one"), backend("three")],
        loadBalancer: { strategy: "LeastConnections" },
        rewrite: { stripPrefix: true },
      },
    ]),
  );
  await routedTo("/least/x", ["w1", "w3"]);
  // One long request holds one backend; the next 20 short ones all go to the other.
  const busy = await new Promise<{ pod: string; done: Promise<void> }>((resolve, reject) => {
    const req = request(`${px.url}/least/slow?ms=4000`, { headers: { host: HOST }, agent: false }, (res) => {
      const done = new Promise<void>((r) => res.on("end", () => r()).resume());
      resolve({ pod: String(res.headers["x-echo-pod"]), done });
    });
    req.on("error", reject);
    req.end();
  });
  const idle = busy.pod === "w1" ? "w3" : "w1";
  const { counts } = await spread("/least/x", 20, 1);
  assert.deepEqual(counts, { [idle]: 20 }, `all to ${idle} while ${busy.pod} is busy`);
  await busy.done;
});

test("rewrites and header changes: prefix stripped or replaced, request and response headers set, added, removed", async () => {
  await apply(
    route("transform", [
      {
        name: "strip",
        matches: prefix("/strip/"),
        backends: [backend("one")],
        rewrite: { stripPrefix: true },
        requestHeaders: {
          set: [{ name: "X-Tenant", value: "blue" }],
          add: [{ name: "X-Trace", value: "gw" }],
          remove: ["X-Secret"],
        },
        responseHeaders: { set: [{ name: "X-Served-By", value: "portico" }], remove: ["X-Echo-Pod"] },
      },
      {
        name: "replace",
        matches: prefix("/old"),
        backends: [backend("one")],
        rewrite: { replacePrefix: "/new" },
      },
    ]),
  );
  await eventually("transform route served", async () =>
    (await call("/old/x")).status === 200 ? true : undefined,
  );
  const a = await call("/strip/users?id=7", {
    headers: { "x-secret": "s3cret", "x-trace": "client", "x-tenant": "red" },
  });
  assert.equal(a.status, 200);
  const seen = JSON.parse(a.body) as { url: string; headers: Record<string, string> };
  assert.equal(seen.url, "/users?id=7");
  assert.equal(seen.headers["x-tenant"], "blue");
  assert.equal(seen.headers["x-trace"], "client, gw");
  assert.equal(seen.headers["x-secret"], undefined);
  assert.equal(seen.headers["x-forwarded-prefix"], "/strip");
  assert.equal(seen.headers.host, HOST, "the client's Host reaches a Service backend");
  assert.equal(a.headers["x-served-by"], "portico");
  assert.equal(a.headers["x-echo-pod"], undefined);
  const b = JSON.parse((await call("/old/deeper/path")).body) as { url: string };
  assert.equal(b.url, "/new/deeper/path");
});

test("a route's own /api/v1 and /graphql reach its backends; on Portico's own host they are the API", async () => {
  await apply(
    route("own-api", [
      { name: "rest", matches: prefix("/api/v1"), backends: [backend("one")] },
      {
        name: "graphql",
        matches: [{ path: { type: "Exact", value: "/graphql" } }],
        backends: [backend("one")],
      },
    ]),
  );
  await eventually("own-api route served", async () =>
    (await call("/api/v1/workspaces")).pod === "w1" ? true : undefined,
  );
  const rest = await call("/api/v1/workspaces?x=1");
  assert.equal(rest.status, 200);
  assert.equal((JSON.parse(rest.body) as { url: string }).url, "/api/v1/workspaces?x=1");
  const graphql = await call("/graphql", {
    method: "POST",
    body: "{}",
    headers: { "content-type": "application/json" },
  });
  assert.equal(graphql.pod, "w1", "the route's backend answered the GraphQL path");
  // The base domain is Portico's own: the API answers there, whatever a route claims elsewhere.
  const api = await call("/api/v1/workspaces", { host: "portico.test" });
  assert.equal(api.status, 200);
  assert.equal(api.pod, "", "no backend saw the API's request");
  assert.ok(Array.isArray((JSON.parse(api.body) as { items?: unknown }).items), api.body);
});

test("per-route limits: rate limit per client IP with 429 and Retry-After; body size; WebSocket on and off", async () => {
  await apply(
    route("limits", [
      {
        name: "rate",
        matches: prefix("/rate"),
        backends: [backend("one")],
        rateLimit: { requestsPerSecond: 1, burst: 2, key: "ClientIP" },
      },
      { name: "small", matches: prefix("/small"), backends: [backend("one")], maxBodyBytes: 100 },
      { name: "nows", matches: prefix("/nows"), backends: [backend("ws")], websocket: false },
      { name: "ws", matches: prefix("/ws"), backends: [backend("ws")] },
    ]),
  );
  await eventually("limits route served", async () =>
    (await call("/small")).status === 200 ? true : undefined,
  );
  const from = "198.18.61.1";
  const codes = [];
  for (let i = 0; i < 4; i++) codes.push((await call("/rate", { localAddress: from })).status);
  assert.deepEqual(codes.slice(0, 2), [200, 200], "the burst");
  const limited = await call("/rate", { localAddress: from });
  assert.equal(limited.status, 429);
  assert.ok(Number(limited.headers["retry-after"]) >= 1);
  assert.equal(
    (await call("/rate", { localAddress: "198.18.61.2" })).status,
    200,
    "another client is served",
  );

  assert.equal((await call("/small", { method: "POST", body: "x".repeat(50) })).status, 200);
  const big = await call("/small", { method: "POST", body: "x".repeat(200) });
  assert.equal(big.status, 413);
  assert.match(big.body, /body_too_large/);

  const open = (path: string) =>
    new Promise<{ ok: boolean; status?: number; echo?: string }>((resolve) => {
      const ws = new WebSocket(`${px.url.replace("http", "ws")}${path}`, { headers: { host: HOST } });
      ws.on("open", () => ws.send("ping through the gateway"));
      ws.on("message", (m) => {
        resolve({ ok: true, echo: String(m) });
        ws.close();
      });
      ws.on("unexpected-response", (_req, res) => resolve({ ok: false, status: res.statusCode }));
      ws.on("error", () => resolve({ ok: false }));
    });
  await eventually("ws route served", async () => ((await open("/ws")).ok ? true : undefined));
  assert.deepEqual(await open("/ws"), { ok: true, echo: "ping through the gateway" });
  assert.deepEqual(await open("/nows"), { ok: false, status: 403 });
});

test("no healthy backend: 503 JSON; an invalid route is not served while valid ones are", async () => {
  await apply(route("nobody", [{ matches: prefix("/nobody"), backends: [backend("empty")] }]));
  // A regular expression the API accepts but no engine can compile: this route is refused whole.
  await apply(
    route("broken", [
      {
        matches: [
          { path: { value: "/broken" }, headers: [{ name: "x-v", value: "a(", type: "RegularExpression" }] },
        ],
        backends: [backend("one")],
      },
    ]),
  );
  const nobody = await eventually("nobody route", async () => {
    const a = await call("/nobody");
    return a.status === 503 ? a : undefined;
  });
  assert.equal((JSON.parse(nobody.body) as { error: string }).error, "no_healthy_backend");
  assert.equal((await call("/broken", { headers: { "x-v": "a(" } })).status, 404);
  assert.equal((await call("/rr")).status, 200, "the valid routes go on");
});

test("circuit breaker: consecutive failures open it, it half-opens after openDuration, a success closes it", async () => {
  await apply(
    route("breaker", [
      {
        matches: prefix("/cb"),
        backends: [backend("one")],
        rewrite: { stripPrefix: true },
        circuitBreaker: { consecutiveFailures: 3, openDuration: "2s", halfOpenRequests: 1 },
      },
    ]),
  );
  await eventually("breaker route", async () => ((await call("/cb/x")).status === 200 ? true : undefined));
  const state = async () => {
    for (const s of ["closed", "open", "half-open"])
      if (
        (await px.metric("portico_gateway_circuit_state", { state: s, rule: `${ns.name}/breaker#0` })) === 1
      )
        return s;
    return "none";
  };
  assert.equal(await state(), "closed");
  for (let i = 0; i < 3; i++)
    assert.equal((await call("/cb/status/500")).status, 500, "failures pass through");
  const open = await call("/cb/x");
  assert.equal(open.status, 503);
  assert.match(open.body, /circuit_open/);
  assert.equal(open.pod, "", "the backend was not asked");
  assert.equal(await state(), "open");
  await new Promise((r) => setTimeout(r, 2_100));
  // Half-open: one trial request; a failure opens it again at once.
  assert.equal((await call("/cb/status/500")).status, 500);
  assert.equal((await call("/cb/x")).status, 503, "open again after a failed trial");
  await new Promise((r) => setTimeout(r, 2_100));
  assert.equal((await call("/cb/x")).status, 200, "the trial succeeds");
  assert.equal(await state(), "closed");
  assert.equal((await call("/cb/x")).status, 200);
});

test("retries: idempotent requests go to another backend; a POST with a body is never sent twice", async () => {
  await apply(
    route("retry", [
      {
        matches: prefix("/retry"),
        backends: [backend("echo")],
        rewrite: { stripPrefix: true },
        retries: { attempts: 2, retryOn: ["ServerError"] },
      },
    ]),
  );
  await routedTo("/retry/x", ["e1", "e2", "e3"]);
  const retries = () => px.metric("portico_gateway_retries_total", { rule: `${ns.name}/retry#0` });
  const before = await retries();
  // Every backend answers 500 here: a GET is tried on three different backends (1 + 2 retries).
  const get = await call("/retry/status/500");
  assert.equal(get.status, 500, "the last answer passes through");
  assert.equal((await retries()) - before, 2);
  const mid = await retries();
  const post = await call("/retry/status/500", { method: "POST", body: "do not repeat me" });
  assert.equal(post.status, 500);
  assert.equal((await retries()) - mid, 0, "a POST with a body is not retried");
  const put = await call("/retry/status/500", { method: "PUT", body: "nor a PUT with one" });
  assert.equal(put.status, 500);
  assert.equal((await retries()) - mid, 0);
});

test("chaos: a backend killed under load costs only its in-flight requests; it rejoins once healthy", async (t) => {
  await apply(
    route("chaos", [
      {
        matches: prefix("/chaos"),
        backends: [backend("echo")],
        rewrite: { stripPrefix: true },
        healthCheck: {
          active: {
            path: "/healthz",
            interval: "500ms",
            timeout: "400ms",
            healthyThreshold: 2,
            unhealthyThreshold: 2,
          },
          passive: { consecutiveErrors: 2, ejectionTime: "3s" },
        },
      },
    ]),
  );
  await routedTo("/chaos/x", ["e1", "e2", "e3"]);
  const pod = await c.core.readNamespacedPod({ name: "e2", namespace: ns.name });
  const pid = (JSON.parse(await (await fetch(`http://${pod.status!.podIP}:8080/`)).text()) as { pid: number })
    .pid;

  const PARALLEL = 12;
  let stop = false;
  const failures: number[] = [];
  const served: Record<string, number> = {};
  const load = Promise.all(
    Array.from({ length: PARALLEL }, async () => {
      while (!stop) {
        const a = await call("/chaos/x").catch(() => ({ status: 0, pod: "" }));
        if (a.status === 200) served[a.pod] = (served[a.pod] ?? 0) + 1;
        else failures.push(a.status);
      }
    }),
  );
  await new Promise((r) => setTimeout(r, 1_000));
  process.kill(pid, "SIGKILL");
  const killedAt = { ...served };
  await new Promise((r) => setTimeout(r, 3_000));
  const afterKill = { ...served };
  stop = true;
  await load;
  t.diagnostic(
    `served before the kill ${JSON.stringify(killedAt)}, 3 s after ${JSON.stringify(afterKill)}, failed ${failures.length}`,
  );
  // At most the requests in flight at the moment of the kill fail; the rest went to e1 and e3.
  assert.ok(failures.length <= PARALLEL, `failures ${JSON.stringify(failures)}`);
  assert.ok((afterKill.e1 ?? 0) > (killedAt.e1 ?? 0) && (afterKill.e3 ?? 0) > (killedAt.e3 ?? 0));

  // The runner restarts the process (restartPolicy Always); active checks bring it back.
  await routedTo("/chaos/x", ["e1", "e2", "e3"]);
});
