/**
 * Attacks on identity at the edge, against the real cluster: real proxies, a real OpenID provider
 * (npm `oidc-provider`), a real load balancer (Debian's nginx, appending to X-Forwarded-For), and real
 * backends — the echo workspace, which records every request it gets (GET /__requests, read at the
 * pod's own address, never through the proxy), and a real Jupyter Server.
 *
 * - trusted-headers: identity headers count only from a sender holding the gateway's shared secret
 *   (--trusted-header-secret-file); a pod inside the trusted range is not proof. The secret never
 *   reaches a backend nor a log line.
 * - forwardToken: only the owner's own access token reaches the IDE; a sharee's or an admin's never.
 * - rate limits behind a balancer: the client address comes through --trusted-proxy-hops; entries a
 *   client wrote itself into X-Forwarded-For mint no new buckets and never reach the backend.
 *
 * Each row: the attack, the expected answer (status and JSON `error`), and proof at the backend.
 */
import { before, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { WebSocket } from "ws";
import { startBalancer, type Balancer } from "../lib/balancer.ts";
import { createGatewayRoute, errorCode, jwtFlags } from "../lib/auth-stack.ts";
import { stateDir } from "../lib/component.ts";
import { startOidcProvider, type OidcProvider } from "../lib/oidc.ts";
import { jupyterExecute, startProxy, type ProxyProcess } from "../lib/proxy.ts";
import { clusterSuite } from "../lib/suite.ts";
import { eventually } from "../lib/kube.ts";
import { echoClass, getWorkspace, jupyterClass } from "../lib/workspaces.ts";

const PROVIDER = "198.18.0.111";
const HEADERS_PROXY = "198.18.0.112";
const FWD_PROXY = "198.18.0.113";
const HOPS1_PROXY = "198.18.0.114";
const HOPS1_LB = "198.18.0.115";
const HOPS0_PROXY = "198.18.0.116";
const HOPS0_LB = "198.18.0.117";
const FWD_LB = "198.18.0.118";
/** Client addresses (the test binds its connections to them: the whole range is local here). */
const CLIENT_A = "198.18.0.121";
const CLIENT_B = "198.18.0.122";
const CLIENT_C = "198.18.0.123";
const CLIENT_D = "198.18.0.124";
const CLIENT_E = "198.18.0.125";
const CLIENT_F = "198.18.0.126";
const AUDIENCE = "portico";
const SECRET_HEADER = "x-portico-gateway-secret";
const BURST = 5;

const suite = clusterSuite("attacks-identity", {
  classes: {
    echo: echoClass,
    echoFwd: (name: string) => echoClass(name, { forwardToken: true }),
    jupyter: jupyterClass,
  },
  workspaces: [
    { name: "echo", class: "echo", owner: "alice", spec: { sharedWith: { users: ["bob"] } } },
    { name: "fwd", class: "echoFwd", owner: "alice", spec: { sharedWith: { users: ["bob"] } } },
    { name: "nb", class: "jupyter", owner: "alice" },
  ],
});
const c = suite.c;
const secret = randomBytes(32).toString("hex");
let headersPx: ProxyProcess;
let fwdPx: ProxyProcess;
let hops1: ProxyProcess;
let hops0: ProxyProcess;
let lb1: Balancer;
let lb0: Balancer;
let lb2: Balancer;
let idp: OidcProvider;
const tokens: Record<string, string> = {};
/** Pod address of each workspace (the backend, asked directly). */
const pods: Record<string, string> = {};

before(async () => {
  await suite.ready();
  suite.onTeardown(async () => {
    for (const p of [lb1, lb0, lb2, headersPx, fwdPx, hops1, hops0, idp]) await p?.stop();
  });
  for (const name of ["echo", "fwd", "nb"]) {
    const ws = await getWorkspace(c, suite.ns, name);
    const pod = await c.core.readNamespacedPod({ namespace: suite.ns, name: ws.status!.children!.pod! });
    pods[name] = pod.status!.podIP!;
  }
  const secretFile = join(stateDir(), "attacks-identity-gateway-secret");
  writeFileSync(secretFile, `${secret}\n`, { mode: 0o600 });
  idp = await startOidcProvider({
    address: PROVIDER,
    port: 9000,
    redirectUris: ["http://portico.test/__portico/auth/callback"],
  });
  const jwt = jwtFlags(idp, AUDIENCE);
  const limited = ["--rate-limit-ip=1", `--rate-limit-burst=${BURST}`, "--rate-limit-user=0"];
  [headersPx, fwdPx, hops1, hops0] = await Promise.all([
    startProxy({
      address: HEADERS_PROXY,
      port: 8080,
      name: "attacks-headers",
      // The range holds every address here, the attacker's too: only the secret proves the gateway.
      flags: [
        "--auth=trusted-headers",
        `--trusted-header-secret-file=${secretFile}`,
        "--trusted-header-cidrs=198.18.0.0/16",
        "--rate-limit-ip=0",
      ],
    }),
    startProxy({
      address: FWD_PROXY,
      port: 8080,
      name: "attacks-fwd",
      flags: [...jwt, "--rate-limit-ip=0", "--trusted-proxy-hops=1"],
    }),
    startProxy({
      address: HOPS1_PROXY,
      port: 8080,
      name: "attacks-hops1",
      flags: [...jwt, ...limited, "--trusted-proxy-hops=1"],
    }),
    startProxy({ address: HOPS0_PROXY, port: 8080, name: "attacks-hops0", flags: [...jwt, ...limited] }),
  ]);
  [lb1, lb0, lb2] = await Promise.all([
    startBalancer({ address: HOPS1_LB, port: 8080, backend: `${HOPS1_PROXY}:8080`, name: "attacks-lb1" }),
    startBalancer({ address: HOPS0_LB, port: 8080, backend: `${HOPS0_PROXY}:8080`, name: "attacks-lb0" }),
    startBalancer({ address: FWD_LB, port: 8080, backend: `${FWD_PROXY}:8080`, name: "attacks-lb2" }),
  ]);
  for (const user of ["alice", "bob", "admin"]) tokens[user] = (await idp.tokensFor(user)).accessToken;
});

interface Answer {
  status: number;
  body: string;
  error?: string;
  /** Which backend process answered (the echo's `x-echo-pod`). */
  pod?: string;
}

/** One HTTP request to `url` (a proxy or balancer), from `from` (a local source address). */
function send(
  url: string,
  path: string,
  host: string,
  headers: Record<string, string> = {},
  o: { method?: string; from?: string } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${url}${path}`,
      {
        method: o.method ?? "GET",
        headers: { ...headers, host },
        ...(o.from ? { localAddress: o.from } : {}),
        agent: false,
      },
      (res) => {
        let body = "";
        res.on("data", (d) => (body += String(d)));
        res.on("end", () => {
          const error = errorCode(body);
          const pod = res.headers["x-echo-pod"];
          resolve({
            status: res.statusCode ?? 0,
            body,
            ...(error ? { error } : {}),
            ...(typeof pod === "string" ? { pod } : {}),
          });
        });
      },
    );
    req.on("error", reject);
    req.end(o.method === "POST" ? "{}" : undefined);
  });
}

/** A WebSocket handshake through `px`; the refusal's status and body (or 101). */
function upgrade(
  px: ProxyProcess,
  path: string,
  host: string,
  headers: Record<string, string>,
): Promise<Answer> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://${px.address}:${px.port}${path}`, {
      headers: { ...headers, host },
      origin: `http://${host}`,
    });
    ws.once("open", () => {
      ws.close();
      resolve({ status: 101, body: "" });
    });
    ws.once("unexpected-response", (_req, res) => {
      let body = "";
      res.on("data", (d: Buffer) => (body += String(d)));
      res.on("end", () => {
        const error = errorCode(body);
        resolve({ status: res.statusCode ?? 0, body, ...(error ? { error } : {}) });
      });
    });
    // A refusal arrives as `unexpected-response`; anything else (the socket closed) is status 0.
    ws.once("error", (err) => {
      if (!/Unexpected server response/.test(err.message)) resolve({ status: 0, body: err.message });
    });
  });
}

interface Seen {
  method: string;
  url: string;
  headers: Record<string, string | undefined>;
}

/** Every request the echo backend `name` got, asked at its pod's own address. */
async function seenBy(name: "echo" | "fwd"): Promise<Seen[]> {
  const res = await fetch(`http://${pods[name]}:8080/__requests`, { signal: AbortSignal.timeout(5000) });
  return (await res.json()) as Seen[];
}
const at = (seen: Seen[], path: string) => seen.filter((r) => r.url.split("?")[0] === path);
/** A path no other request uses: what the backend recorded for it is this row's and only this row's. */
const marker = (row: string) => `/attack/${row}-${randomBytes(4).toString("hex")}`;

/** Kernel ids at the Jupyter pod itself. */
async function kernels(): Promise<string[]> {
  const res = await fetch(`http://${pods.nb}:8888/api/kernels`, { signal: AbortSignal.timeout(5000) });
  return ((await res.json()) as { id: string }[]).map((k) => k.id).sort();
}

const bearer = (user: string) => ({ authorization: `Bearer ${tokens[user]}` });

// ---------------------------------------------------------------------------------------------
// trusted-headers: forged identities from inside the trusted range.

interface HeaderRow {
  attack: string;
  headers: () => Record<string, string>;
  via: "http" | "ws" | "kernel";
}
const HEADER_ROWS: HeaderRow[] = [
  {
    attack: "forged X-Forwarded-User from inside the trusted range, no gateway secret",
    headers: () => ({ "x-forwarded-user": "alice" }),
    via: "http",
  },
  {
    attack: "forged X-Forwarded-User with a wrong gateway secret",
    headers: () => ({ "x-forwarded-user": "alice", [SECRET_HEADER]: randomBytes(32).toString("hex") }),
    via: "http",
  },
  {
    attack: "forged X-Forwarded-User with the secret's first half",
    headers: () => ({ "x-forwarded-user": "alice", [SECRET_HEADER]: secret.slice(0, 32) }),
    via: "http",
  },
  {
    attack: "forged X-Forwarded-User and admin groups, the secret in another header",
    headers: () => ({
      "x-forwarded-user": "alice",
      "x-forwarded-groups": "portico-admin",
      "x-gateway-secret": secret.slice(0, 8),
    }),
    via: "http",
  },
  {
    attack: "forged X-Forwarded-User on a WebSocket handshake, no secret",
    headers: () => ({ "x-forwarded-user": "alice" }),
    via: "ws",
  },
  {
    attack: "forged X-Forwarded-User creating a Jupyter kernel (code execution), no secret",
    headers: () => ({ "x-forwarded-user": "alice" }),
    via: "kernel",
  },
];

for (const row of HEADER_ROWS)
  test(`attack: trusted-headers: ${row.attack} → 401 unauthenticated, nothing reaches the backend`, async () => {
    if (row.via === "kernel") {
      const before = await kernels();
      const res = await send(
        headersPx.url,
        "/api/kernels",
        headersPx.hostFor(suite.ns, "nb"),
        { ...row.headers(), "content-type": "application/json" },
        { method: "POST" },
      );
      assert.equal(res.status, 401, res.body);
      assert.equal(res.error, "unauthenticated");
      assert.deepEqual(await kernels(), before, "no kernel was started");
      return;
    }
    const path = marker("headers");
    const host = headersPx.hostFor(suite.ns, "echo");
    const res =
      row.via === "ws"
        ? await upgrade(headersPx, path, host, row.headers())
        : await send(headersPx.url, path, host, row.headers());
    assert.equal(res.status, 401, res.body);
    assert.equal(res.error, "unauthenticated");
    assert.deepEqual(at(await seenBy("echo"), path), [], "the backend saw nothing");
  });

test("attack: trusted-headers: the gateway's secret is stripped — the backend and the log never see it (positive control: the gateway is served)", async () => {
  const path = marker("secret-stripped");
  const host = headersPx.hostFor(suite.ns, "echo");
  const res = await send(headersPx.url, path, host, { [SECRET_HEADER]: secret, "x-forwarded-user": "bob" });
  assert.equal(res.status, 200, "the gateway, with the secret, is believed: bob is a sharee");
  const seen = at(await seenBy("echo"), path);
  assert.equal(seen.length, 1);
  assert.equal(seen[0]!.headers[SECRET_HEADER], undefined, "no secret header at the backend");
  assert.equal(seen[0]!.headers["x-forwarded-user"], undefined, "no identity header at the backend");
  assert.ok(!JSON.stringify(await seenBy("echo")).includes(secret), "the secret is nowhere at the backend");
  // Over WebSocket too: the relay's handshake to the backend is built from the same headers.
  const ws = marker("secret-stripped-ws");
  const up = await upgrade(headersPx, ws, host, { [SECRET_HEADER]: secret, "x-forwarded-user": "bob" });
  assert.notEqual(up.status, 401, "past the gate");
  const wsSeen = at(await seenBy("echo"), ws);
  assert.equal(wsSeen.length, 1, "the handshake reached the backend");
  assert.equal(wsSeen[0]!.headers[SECRET_HEADER], undefined);
  assert.ok(
    !readFileSync(headersPx.logFile, "utf8").includes(secret),
    "the proxy's log never holds the secret",
  );
  // The owner's Jupyter works through the gateway (kernel over WebSocket): the secret is all it takes.
  assert.equal(
    await jupyterExecute(headersPx, "", "6*7", headersPx.hostFor(suite.ns, "nb"), {
      [SECRET_HEADER]: secret,
      "x-forwarded-user": "alice",
    }),
    "42",
  );
});

// ---------------------------------------------------------------------------------------------
// forwardToken: whose token reaches the IDE.

const FWD_ROWS: { attack: string; visitor: string; gets: "none" | "own" }[] = [
  { attack: "a sharee opens a forwardToken workspace", visitor: "bob", gets: "none" },
  { attack: "an admin opens a forwardToken workspace", visitor: "admin", gets: "none" },
  { attack: "(positive control) the owner opens her forwardToken workspace", visitor: "alice", gets: "own" },
];
for (const row of FWD_ROWS)
  test(`attack: forwardToken: ${row.attack} → 200, ${row.gets === "none" ? "the IDE sees no Authorization" : "the owner's own token"}`, async () => {
    const path = marker(`fwd-${row.visitor}`);
    const res = await send(fwdPx.url, path, fwdPx.hostFor(suite.ns, "fwd"), {
      ...bearer(row.visitor),
      cookie: "portico_session=not-for-the-ide",
    });
    assert.equal(res.status, 200, res.body);
    const seen = at(await seenBy("fwd"), path);
    assert.equal(seen.length, 1);
    if (row.gets === "none") {
      assert.equal(seen[0]!.headers.authorization, undefined, "no Authorization at the IDE");
      assert.ok(
        !JSON.stringify(await seenBy("fwd")).includes(tokens[row.visitor]!),
        `${row.visitor}'s token is nowhere the IDE could read it`,
      );
    } else assert.equal(seen[0]!.headers.authorization, `Bearer ${tokens.alice}`);
    assert.equal(seen[0]!.headers.cookie, undefined, "never the session cookie");
  });

// ---------------------------------------------------------------------------------------------
// X-Forwarded-For and the per-IP limit.

/** `n` requests at once, each with its own spoofed X-Forwarded-For; the answers. */
async function burst(
  url: string,
  path: string,
  host: string,
  from: string,
  user: string,
  n = 20,
): Promise<Answer[]> {
  return Promise.all(
    Array.from({ length: n }, (_, i) =>
      send(url, path, host, { ...bearer(user), "x-forwarded-for": `10.66.${i}.${i + 1}` }, { from }),
    ),
  );
}

/** Statuses: each 200 or 429 (rate_limited), and at most the burst plus what refilled (1/s) passed. */
function assertLimited(answers: Answer[], started: number): number {
  const served = answers.filter((a) => a.status === 200).length;
  const limited = answers.filter((a) => a.status === 429 && a.error === "rate_limited").length;
  assert.equal(served + limited, answers.length, answers.map((a) => a.status).join(","));
  const refilled = Math.ceil((Date.now() - started) / 1000);
  assert.ok(served >= 1 && served <= BURST + refilled, `served ${served} of ${answers.length}`);
  assert.ok(limited >= answers.length - BURST - refilled, `429s: ${limited}`);
  return served;
}

test("attack: --trusted-proxy-hops=1: spoofed X-Forwarded-For entries through the balancer mint no new buckets → 429 rate_limited; another client behind the same balancer is served", async () => {
  const host = hops1.hostFor(suite.ns, "echo");
  const path = marker("hops1-burst");
  const started = Date.now();
  const answers = await burst(lb1.url, path, host, CLIENT_A, "alice");
  const served = assertLimited(answers, started);
  const seen = at(await seenBy("echo"), path);
  assert.equal(seen.length, served, "nothing past the limit reached the backend");
  for (const r of seen) {
    const xff = r.headers["x-forwarded-for"] ?? "";
    assert.match(
      xff,
      new RegExp(`^${CLIENT_A.replace(/\./g, "\\.")}, `),
      `the client's address first: ${xff}`,
    );
    assert.doesNotMatch(xff, /10\.66\./, "what the client wrote itself never goes on");
  }
  // Another client behind the same balancer has a bucket of its own.
  const other = marker("hops1-other");
  const b = await send(lb1.url, other, host, bearer("bob"), { from: CLIENT_B });
  assert.equal(b.status, 200, b.body);
  assert.equal(at(await seenBy("echo"), other).length, 1, "served by the backend");
});

test("attack: --trusted-proxy-hops=0: X-Forwarded-For is ignored → one bucket per TCP peer, 429 rate_limited; the backend sees the peer, not the spoof", async () => {
  const host = hops0.hostFor(suite.ns, "echo");
  const path = marker("hops0-direct");
  const started = Date.now();
  const answers = await burst(hops0.url, path, host, CLIENT_C, "alice");
  const served = assertLimited(answers, started);
  const seen = at(await seenBy("echo"), path);
  assert.equal(seen.length, served, "nothing past the limit reached the backend");
  for (const r of seen) assert.equal(r.headers["x-forwarded-for"], CLIENT_C, "only the TCP peer");
});

test("behind a balancer, --trusted-proxy-hops=0 makes the balancer everyone's one bucket (why the flag exists)", async () => {
  const host = hops0.hostFor(suite.ns, "echo");
  const started = Date.now();
  // Two clients at once, 20 requests each: together they get what one bucket holds.
  const [d, e] = await Promise.all([
    burst(lb0.url, marker("hops0-lb-d"), host, CLIENT_D, "alice"),
    burst(lb0.url, marker("hops0-lb-e"), host, CLIENT_E, "bob"),
  ]);
  assertLimited([...d, ...e], started);
});

test("attack: --trusted-proxy-hops=1: spoofed X-Forwarded-For entries cannot steer a GatewayRoute's IP-hash balancing → every request of one client on one backend", async () => {
  // Two backends (the two echo workspaces' Services) behind one IPHash rule.
  await createGatewayRoute(c, suite.ns, "sticky", {
    hosts: ["sticky.attacks.test"],
    rules: [
      {
        name: "sticky",
        matches: [{ path: { type: "PathPrefix", value: "/" } }],
        backends: [{ service: { name: "ws-echo", port: 80 } }, { service: { name: "ws-fwd", port: 80 } }],
        loadBalancer: { strategy: "IPHash" },
      },
    ],
  });
  const host = "sticky.attacks.test";
  // Both backends serve (different client addresses land on both), so a spread would show.
  await eventually(
    "the route is served by both backends",
    async () => {
      const pods = new Set<string>();
      for (let i = 1; i <= 40; i++) {
        const a = await send(fwdPx.url, "/", host, bearer("alice"), { from: `198.18.61.${i}` });
        if (a.status === 200 && a.pod) pods.add(a.pod);
      }
      return pods.size === 2 ? true : undefined;
    },
    // A bound, not a timing: the proxy serves the new route once its watch brings the route and both
    // Services' EndpointSlices; on a loaded CI machine that once took longer than 30 s.
    120_000,
    500,
  );
  const path = marker("iphash");
  const answers = await Promise.all(
    Array.from({ length: 20 }, (_, i) =>
      send(
        lb2.url,
        path,
        host,
        { ...bearer("alice"), "x-forwarded-for": `10.77.${i}.${i + 1}` },
        { from: CLIENT_F },
      ),
    ),
  );
  assert.deepEqual(
    answers.map((a) => a.status),
    answers.map(() => 200),
  );
  const pods = new Set(answers.map((a) => a.pod));
  assert.equal(pods.size, 1, `one client, one backend, whatever it wrote: ${[...pods].join(", ")}`);
  const seen = [...at(await seenBy("echo"), path), ...at(await seenBy("fwd"), path)];
  assert.equal(seen.length, 20);
  for (const r of seen)
    assert.match(r.headers["x-forwarded-for"] ?? "", new RegExp(`^${CLIENT_F.replace(/\./g, "\\.")}, `));
});
