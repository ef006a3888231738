/**
 * Activity reports and keep-alives (issue 15), end to end: real proxies (two replicas) and the real
 * API server, workspaces of the bench-backend class (HTTP 200 for any path, a WebSocket echo) run by
 * the real operator.
 *
 * - HTTP requests to a workspace through a proxy set `portico.dev/activity-proxy`.
 * - A WebSocket carrying only messages up to the class's `ignoreWebSocketMessagesUpTo` (and big
 *   pings) writes nothing — proven against a control workspace whose HTTP traffic at the same time
 *   was written by the same flush round — while one longer message is written.
 * - Two replicas serving the same workspace write about once per report interval, not twice
 *   (counted in the API server's audit log).
 * - The keep-alive API: 200 with keepAliveUntil, 422 over the class's maxKeepAlive (naming it), 404
 *   for another user's workspace.
 * - The in-workspace keep-alive listener: from the workspace's pod address it works; the attack rows
 *   (a non-workspace address, forged X-Forwarded-For, another workspace's pod naming the victim in
 *   headers) get 403 or act on the caller's own workspace only, and the victim is never written.
 *
 * The report interval is shortened with the test/tuning flag `--activity-report-interval` (the
 * production default is 60 s; flushes stay at the production 5 s); nothing here asserts a speed, only counts and values.
 */
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { request } from "node:http";
import { WebSocket } from "ws";
import { GROUP, VERSION, type Workspace, type WorkspaceClass } from "../../crds/types.ts";
import { ACTIVITY_PROXY_ANNOTATION, KEEP_ALIVE_ANNOTATION } from "../../common/model/workspace/lifecycle.ts";
import { childNames } from "../../common/model/workspace/names.ts";
import { api } from "../lib/api-client.ts";
import { jwtFlags } from "../lib/auth-stack.ts";
import { startOidcProvider, type OidcProvider } from "../lib/oidc.ts";
import { auditWrites, type AuditEntry } from "../lib/operator.ts";
import { startProxy, type ProxyProcess } from "../lib/proxy.ts";
import { clusterSuite } from "../lib/suite.ts";
import { getWorkspace, waitWorkspace } from "../lib/workspaces.ts";

const PROVIDER = "198.18.0.236";
const PROXY_A = "198.18.0.237";
const PROXY_B = "198.18.0.238";
/** An address of the test network that is no workspace's pod. */
const STRANGER = "198.18.0.239";
const KEEP_ALIVE_PORT = 8083;
const INTERVAL_S = 10;
const PROXY_USER = "system:serviceaccount:portico-system:portico-proxy";

const backendClass = (name: string): WorkspaceClass => ({
  apiVersion: `${GROUP}/${VERSION}`,
  kind: "WorkspaceClass",
  metadata: { name },
  spec: {
    image: "portico.dev/test/bench-backend:1",
    port: 8080,
    storage: { size: "1Gi" },
    readinessPath: "/",
    idle: { ignoreWebSocketMessagesUpTo: 64, maxKeepAlive: "4h" },
  } as WorkspaceClass["spec"],
});

const suite = clusterSuite("activity-reports", {
  classes: { backend: backendClass },
  operator: [`--keep-alive-url=http://${PROXY_A}:${KEEP_ALIVE_PORT}/keep-alive`],
  workspaces: [
    { name: "http", class: "backend", owner: "alice" },
    { name: "sockets", class: "backend", owner: "alice" },
    { name: "control", class: "backend", owner: "alice" },
    { name: "shared", class: "backend", owner: "alice" },
    { name: "victim", class: "backend", owner: "alice" },
    { name: "bobs", class: "backend", owner: "bob" },
  ],
});
const c = suite.c;
let idp: OidcProvider;
let pxA: ProxyProcess;
let pxB: ProxyProcess;
const tokens = new Map<string, string>();

const proxyFlags = (idp: OidcProvider) => [
  ...jwtFlags(idp),
  "--rate-limit-ip=0",
  "--rate-limit-user=0",
  `--activity-report-interval=${INTERVAL_S}s`,
];

before(async () => {
  await suite.ready();
  idp = await startOidcProvider({
    address: PROVIDER,
    port: 9000,
    redirectUris: ["http://portico.test/__portico/auth/callback"],
    name: "activity-oidc",
  });
  suite.onTeardown(() => idp.stop());
  pxA = await startProxy({
    address: PROXY_A,
    port: 8080,
    name: "activity-proxy-a",
    flags: [...proxyFlags(idp), `--workspace-listen=${PROXY_A}:${KEEP_ALIVE_PORT}`],
  });
  suite.onTeardown(() => pxA.stop());
  pxB = await startProxy({ address: PROXY_B, port: 8080, name: "activity-proxy-b", flags: proxyFlags(idp) });
  suite.onTeardown(() => pxB.stop());
  for (const user of ["alice", "bob"]) tokens.set(user, (await idp.tokensFor(user)).accessToken);
});

const annotation = (ws: Workspace, key: string) => ws.metadata.annotations?.[key];

/** A GET of the workspace's IDE through `px` (host mode), as alice. */
async function visit(px: ProxyProcess, name: string): Promise<number> {
  const a = await api(px, {
    path: "/anything",
    host: px.hostFor(suite.ns, name),
    token: tokens.get("alice")!,
  });
  return a.status;
}

/** The proxy's Workspace patches of `name` the API server recorded since `since`. */
async function patchesOf(name: string, since: Date): Promise<AuditEntry[]> {
  return (await auditWrites(PROXY_USER, since)).filter(
    (e) => e.verb === "patch" && e.objectRef?.resource === "workspaces" && e.objectRef.name === name,
  );
}

describe("activity reports", () => {
  test("HTTP requests to a workspace set portico.dev/activity-proxy", async () => {
    const before = await getWorkspace(c, suite.ns, "http");
    assert.equal(annotation(before, ACTIVITY_PROXY_ANNOTATION), undefined);
    const sentAt = Date.now();
    assert.equal(await visit(pxA, "http"), 200);
    const ws = await waitWorkspace(
      c,
      suite.ns,
      "http",
      "activity-proxy set",
      (w) => !!annotation(w, ACTIVITY_PROXY_ANNOTATION),
      60_000,
    );
    const at = Date.parse(annotation(ws, ACTIVITY_PROXY_ANNOTATION)!);
    // RFC 3339 in whole seconds: the request's second or later.
    assert.ok(
      at >= Math.floor(sentAt / 1000) * 1000,
      `${annotation(ws, ACTIVITY_PROXY_ANNOTATION)} vs ${sentAt}`,
    );
  });

  test("a WebSocket of small messages (≤ the class's limit) and big pings writes nothing; one longer message does", async () => {
    const host = pxA.hostFor(suite.ns, "sockets");
    const ws = new WebSocket(`ws://${PROXY_A}:8080/echo`, {
      headers: { host, authorization: `Bearer ${tokens.get("alice")!}` },
      origin: `http://${host}`,
    });
    let replies = 0;
    const echoed = new Promise<void>((resolve) =>
      ws.on("message", () => {
        if (++replies === 20) resolve();
      }),
    );
    await new Promise<void>((resolve, reject) => {
      ws.once("open", resolve);
      ws.once("error", reject);
    });
    for (let i = 0; i < 20; i++) ws.send("x".repeat(64));
    ws.ping(Buffer.alloc(120, 1));
    // Every small message went through the relay (echoed), so the proxy has seen them all.
    await echoed;
    // The control: HTTP traffic to another workspace now. The flush round that writes it would have
    // written `sockets` too, had any of its messages counted (the budget is far from reached).
    assert.equal(await visit(pxA, "control"), 200);
    await waitWorkspace(
      c,
      suite.ns,
      "control",
      "activity-proxy set",
      (w) => !!annotation(w, ACTIVITY_PROXY_ANNOTATION),
      60_000,
    );
    assert.equal(
      annotation(await getWorkspace(c, suite.ns, "sockets"), ACTIVITY_PROXY_ANNOTATION),
      undefined,
    );
    ws.send("y".repeat(65));
    await waitWorkspace(
      c,
      suite.ns,
      "sockets",
      "activity-proxy set",
      (w) => !!annotation(w, ACTIVITY_PROXY_ANNOTATION),
      60_000,
    );
    ws.close();
  });

  test("two replicas with traffic to the same workspace write about once per interval, not once each", async () => {
    const since = new Date();
    const seconds = 6 * INTERVAL_S;
    const t0 = Date.now();
    let requests = 0;
    while (Date.now() - t0 < seconds * 1000) {
      const [a, b] = await Promise.all([visit(pxA, "shared"), visit(pxB, "shared")]);
      assert.deepEqual([a, b], [200, 200]);
      requests += 2;
      // About ten requests a second per replica: busy, without starving the shared machine.
      await new Promise((r) => setTimeout(r, 100));
    }
    const elapsed = (Date.now() - t0) / 1000;
    // The annotation is there (some round wrote it); every write went through the API server's audit log.
    await waitWorkspace(c, suite.ns, "shared", "reported", (w) => !!annotation(w, ACTIVITY_PROXY_ANNOTATION));
    const writes = await patchesOf("shared", since);
    const perInterval = elapsed / INTERVAL_S;
    console.log(
      `shared: ${requests} requests over ${elapsed.toFixed(0)} s through 2 replicas → ${writes.length} writes (${perInterval.toFixed(1)} intervals)`,
    );
    assert.ok(writes.length >= 2, `${writes.length} writes`);
    // One replica alone writes at most once per interval, plus the first write both may race for.
    assert.ok(
      writes.length <= Math.floor(perInterval) + 2,
      `${writes.length} writes in ${perInterval.toFixed(1)} intervals`,
    );
  });
});

describe("keep-alive API", () => {
  test("POST keepalive: 200 with keepAliveUntil; over the class's 4h: 422 naming duration and the max; another user's: 404", async () => {
    const path = `/api/v1/workspaces/${suite.ns}/http/keepalive`;
    const ok = await api(pxA, {
      method: "POST",
      path,
      token: tokens.get("alice")!,
      body: { duration: "3h" },
    });
    assert.equal(ok.status, 200, ok.body);
    assert.ok(ok.json.keepAliveUntil, ok.body);
    const ws = await waitWorkspace(
      c,
      suite.ns,
      "http",
      "keep-alive set",
      (w) => !!annotation(w, KEEP_ALIVE_ANNOTATION),
    );
    assert.equal(annotation(ws, KEEP_ALIVE_ANNOTATION), ok.json.keepAliveUntil);
    const over = await api(pxA, {
      method: "POST",
      path,
      token: tokens.get("alice")!,
      body: { duration: "5h" },
    });
    assert.equal(over.status, 422, over.body);
    assert.equal(over.json.field, "duration");
    assert.match(over.json.message, /4h/);
    const bobs = `/api/v1/workspaces/${suite.ns}/bobs/keepalive`;
    const theirs = await api(pxA, {
      method: "POST",
      path: bobs,
      token: tokens.get("alice")!,
      body: { duration: "1h" },
    });
    assert.equal(theirs.status, 404, theirs.body);
    assert.equal(annotation(await getWorkspace(c, suite.ns, "bobs"), KEEP_ALIVE_ANNOTATION), undefined);
    const off = await api(pxA, {
      method: "POST",
      path,
      token: tokens.get("alice")!,
      body: { duration: "0s" },
    });
    assert.equal(off.status, 200, off.body);
    await waitWorkspace(c, suite.ns, "http", "keep-alive gone", (w) => !annotation(w, KEEP_ALIVE_ANNOTATION));
  });
});

/** The pod address of a workspace (the address its IDE listens on, and sends from). */
async function podIp(name: string): Promise<string> {
  const ws = await getWorkspace(c, suite.ns, name);
  const pod = await c.core.readNamespacedPod({ namespace: suite.ns, name: childNames(ws).pod });
  return pod.status!.podIP!;
}

/** A call to the in-workspace keep-alive listener, sent from `from`. */
function fromAddress(
  from: string,
  method: string,
  query: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; json: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: PROXY_A,
        port: KEEP_ALIVE_PORT,
        method,
        path: `/keep-alive${query}`,
        headers,
        localAddress: from,
        agent: false,
      },
      (res) => {
        let text = "";
        res.on("data", (d) => (text += d));
        res.on("end", () =>
          resolve({ status: res.statusCode!, json: JSON.parse(text) as Record<string, unknown> }),
        );
      },
    );
    req.on("error", reject);
    req.end();
  });
}

describe("in-workspace keep-alive", () => {
  test("the IDE container is given PORTICO_KEEP_ALIVE_URL", async () => {
    const ws = await getWorkspace(c, suite.ns, "victim");
    const pod = await c.core.readNamespacedPod({ namespace: suite.ns, name: childNames(ws).pod });
    const env = pod.spec!.containers[0]!.env ?? [];
    assert.equal(
      env.find((e) => e.name === "PORTICO_KEEP_ALIVE_URL")?.value,
      `http://${PROXY_A}:${KEEP_ALIVE_PORT}/keep-alive`,
    );
  });

  test("from the workspace's own pod address: POST sets it (capped by the class), GET shows it", async () => {
    const ip = await podIp("victim");
    const got = await fromAddress(ip, "POST", "?duration=1h");
    assert.equal(got.status, 200, JSON.stringify(got.json));
    assert.equal(got.json.name, "victim");
    const ws = await waitWorkspace(
      c,
      suite.ns,
      "victim",
      "keep-alive set",
      (w) => annotation(w, KEEP_ALIVE_ANNOTATION) === got.json.keepAliveUntil,
    );
    assert.ok(ws);
    assert.equal((await fromAddress(ip, "GET", "")).json.keepAliveUntil, got.json.keepAliveUntil);
    const over = await fromAddress(ip, "POST", "?duration=5h");
    assert.equal(over.status, 422);
    assert.equal(over.json.field, "duration");
  });

  test("attacks: other addresses get 403 or act on their own workspace; the victim is never written", async () => {
    const victimIp = await podIp("victim");
    const otherIp = await podIp("bobs");
    const before = annotation(await getWorkspace(c, suite.ns, "victim"), KEEP_ALIVE_ANNOTATION);
    const since = new Date();
    const rows: {
      attack: string;
      from: string;
      headers?: Record<string, string>;
      status: number;
      acts?: string;
    }[] = [
      { attack: "a non-workspace address", from: STRANGER, status: 403 },
      {
        attack:
          "a non-workspace address forging X-Forwarded-For, X-Real-IP and Forwarded of the victim's pod",
        from: STRANGER,
        headers: { "x-forwarded-for": victimIp, "x-real-ip": victimIp, forwarded: `for=${victimIp}` },
        status: 403,
      },
      { attack: "the proxy's own address", from: PROXY_A, status: 403 },
      {
        attack: "another user's workspace pod naming the victim in X-Forwarded-For",
        from: otherIp,
        headers: { "x-forwarded-for": victimIp },
        status: 200,
        acts: "bobs",
      },
    ];
    for (const r of rows) {
      const got = await fromAddress(r.from, "POST", "?duration=4h", r.headers);
      assert.equal(got.status, r.status, `${r.attack}: ${JSON.stringify(got.json)}`);
      if (r.acts) assert.equal(got.json.name, r.acts, r.attack);
    }
    // bobs' own keep-alive landed (so the rows' writes have reached the API server); the victim's did not change.
    await waitWorkspace(c, suite.ns, "bobs", "own keep-alive", (w) => !!annotation(w, KEEP_ALIVE_ANNOTATION));
    assert.equal(annotation(await getWorkspace(c, suite.ns, "victim"), KEEP_ALIVE_ANNOTATION), before);
    const victimWrites = (await patchesOf("victim", since)).filter((e) => e.verb === "patch");
    assert.deepEqual(victimWrites, [], "no write of the victim by the proxy during the attacks");
  });
});
