/**
 * Attacks on GatewayRoutes, against the real cluster: the real operator judges each route (status),
 * the real proxy (`--auth=jwt`, tokens from the real OpenID provider) serves or refuses it, and the
 * victims are real processes — an http-echo pod behind a real Service (its GET /__seen lists every
 * request it received), a trap server on the namespace's loopback (where the proxy's own health port
 * lives), and a real DNS server that makes a public-looking name resolve to loopback.
 *
 * Each row: what the attacker does, the refusal (API status naming the field, HTTP status + JSON
 * `error`), and proof that nothing reached the victim. Controls (`control:`) show that the same
 * routes and fixtures do serve what is allowed, so no refusal row passes for a wrong reason.
 */
import assert from "node:assert/strict";
import { createServer, request, type Server } from "node:http";
import { after, before, test } from "node:test";
import { WebSocket } from "ws";
import {
  API_VERSION,
  GATEWAY_ROUTE,
  GROUP,
  VERSION,
  type GatewayRoute,
  type GatewayRouteSpec,
  type RouteRule,
} from "../../crds/types.ts";
import { startDnsServer, type DnsServer } from "../lib/dns.ts";
import { clients, eventually, withNamespace } from "../lib/kube.ts";
import { startOidcProvider, type OidcProvider } from "../lib/oidc.ts";
import { startOperator, type OperatorProcess } from "../lib/operator.ts";
import { startProxy, type ProxyProcess } from "../lib/proxy.ts";

const PROXY = "198.18.0.93";
const PROVIDER = "198.18.0.94";
/** The trap's port on 127.0.0.1 and ::1 (the proxy's own loopback: its health port lives there). */
const TRAP = 18_777;
/** A name that looks public; the test's DNS server resolves it to loopback. */
const REBIND = "loop.attacker.example";
/** The same trick, but allowed by --gateway-url-allow: the control that the DNS fixture works. */
const ALLOWED = "allowed.attacker.example";

const c = clients();
let ns: { name: string; drop: () => Promise<void> };
let px: ProxyProcess;
let op: OperatorProcess;
let idp: OidcProvider;
let dns: DnsServer;
let victimIp = "";
let victimSvcIp = "";
const trapSeen: string[] = [];
const traps: Server[] = [];
const tokens = new Map<string, string>();

// ------------------------------------------------------------------------------------------ helpers

interface Answer {
  status: number;
  body: string;
  error?: string;
}

function call(path: string, host: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(`${px.url}${path}`, { headers: { ...headers, host }, agent: false }, (res) => {
      let body = "";
      res.on("data", (d) => (body += String(d)));
      res.on("end", () => {
        let error: string | undefined;
        try {
          error = (JSON.parse(body) as { error?: string }).error;
        } catch {
          error = undefined;
        }
        resolve({ status: res.statusCode ?? 0, body, ...(error ? { error } : {}) });
      });
    });
    req.on("error", reject);
    req.end();
  });
}

/** A WebSocket upgrade through the proxy: the HTTP status it was refused with, or 101. */
function upgrade(path: string, host: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://${PROXY}:${px.port}${path}`, { headers: { ...headers, host } });
    ws.once("unexpected-response", (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.once("open", () => {
      resolve(101);
      ws.terminate();
    });
    ws.once("error", reject);
  });
}

const token = async (user: string): Promise<string> => {
  let t = tokens.get(user);
  if (!t) {
    t = (await idp.tokensFor(user)).accessToken;
    tokens.set(user, t);
  }
  return t;
};
const as = async (user: string) => ({ authorization: `Bearer ${await token(user)}` });

/** What the victim pod's echo server received (asked directly, not through the proxy). */
async function victimSaw(marker: string): Promise<string[]> {
  const res = await fetch(`http://${victimIp}:8080/__seen`);
  const seen = (await res.json()) as { url?: string }[];
  return seen.map((s) => s.url ?? "").filter((u) => u.includes(marker));
}
const trapSaw = (marker: string) => trapSeen.filter((u) => u.includes(marker));

/** Nothing with `marker` reached the victim pod or the loopback trap. */
async function nothingReached(marker: string): Promise<void> {
  assert.deepEqual(await victimSaw(marker), [], `the victim pod saw ${marker}`);
  assert.deepEqual(trapSaw(marker), [], `the loopback trap saw ${marker}`);
}

function route(name: string, spec: GatewayRouteSpec): GatewayRoute {
  return { apiVersion: API_VERSION, kind: GATEWAY_ROUTE.kind, metadata: { name, namespace: ns.name }, spec };
}

async function apply(name: string, spec: GatewayRouteSpec): Promise<void> {
  await c.custom.createNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    namespace: ns.name,
    plural: GATEWAY_ROUTE.plural,
    body: route(name, spec),
  });
}

/** The route's Accepted condition once the operator judged its current generation. */
async function accepted(name: string): Promise<{ status: string; reason: string; message: string }> {
  return eventually(`${name} judged by the operator`, async () => {
    const r = (await c.custom.getNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: ns.name,
      plural: GATEWAY_ROUTE.plural,
      name,
    })) as GatewayRoute;
    if (r.status?.observedGeneration !== r.metadata.generation) return undefined;
    return r.status?.conditions?.find((x) => x.type === "Accepted");
  });
}

const toVictim = (): RouteRule["backends"] => [{ service: { name: "victim", port: 80 } }];

/** Waits until the proxy serves `path` on `host` to alice (its caches caught up with the route). */
async function served(host: string, path: string, headers: Record<string, string> = {}): Promise<void> {
  await eventually(`${host}${path} served`, async () =>
    (await call(path, host, { ...(await as("alice")), ...headers })).status === 200 ? true : undefined,
  );
}

function echoPod(name: string, app: string) {
  return {
    metadata: { name, labels: { app } },
    spec: {
      containers: [
        {
          name: "echo",
          image: "portico.dev/test/http-echo:1",
          ports: [{ containerPort: 8080 }],
          env: [{ name: "POD_NAME", value: name }],
        },
      ],
    },
  };
}

// ------------------------------------------------------------------------------------------ set-up

before(async () => {
  ns = await withNamespace(c, "attacks-gw");
  for (const [pod, app] of [
    ["victim", "victim"],
    ["other", "other"],
  ] as const) {
    await c.core.createNamespacedPod({ namespace: ns.name, body: echoPod(pod, app) });
    const svc = await c.core.createNamespacedService({
      namespace: ns.name,
      body: {
        metadata: { name: app },
        spec: { selector: { app }, ports: [{ name: "http", port: 80, targetPort: 8080 }] },
      },
    });
    if (app === "victim") victimSvcIp = svc.spec?.clusterIP ?? "";
  }
  victimIp = await eventually("victim pod running", async () => {
    const p = await c.core.readNamespacedPod({ name: "victim", namespace: ns.name });
    return p.status?.phase === "Running" && p.status.podIP ? p.status.podIP : undefined;
  });
  // The loopback trap: whatever reaches it is recorded.
  for (const host of ["127.0.0.1", "::1"]) {
    const s = createServer((req, res) => {
      trapSeen.push(req.url ?? "");
      res.writeHead(200, { "content-type": "text/plain" }).end("trap\n");
    });
    const up = await new Promise<boolean>((resolve, reject) => {
      s.once("error", (err: NodeJS.ErrnoException) =>
        // ::1 may be off in the namespace; then nothing can reach it there either.
        host === "::1" && err.code === "EADDRNOTAVAIL" ? resolve(false) : reject(err),
      );
      s.listen(TRAP, host, () => resolve(true));
    });
    if (up) traps.push(s);
  }
  dns = await startDnsServer({ [REBIND]: "127.0.0.1", [ALLOWED]: "127.0.0.1" });
  idp = await startOidcProvider({
    address: PROVIDER,
    port: 9000,
    redirectUris: ["http://portico.test/__portico/auth/callback"],
    accessTokenTtl: 900,
    name: "attacks-gw-oidc",
  });
  const allow = `--gateway-url-allow=${ALLOWED}`;
  op = await startOperator(["--lease-name=attacks-gw", allow], "attacks-gw-operator");
  px = await startProxy({
    address: PROXY,
    port: 8080,
    name: "attacks-gw-proxy",
    flags: [
      "--auth=jwt",
      `--oidc-issuer=${idp.issuer}`,
      "--oidc-audiences=portico",
      `--oidc-client-id=${idp.clientId}`,
      // The ReDoS stream is many requests: the limits are not what this file tests.
      "--rate-limit-ip=0",
      "--rate-limit-user=0",
      allow,
    ],
  });
});

after(async () => {
  await px?.stop();
  await op?.stop();
  await idp?.stop();
  await dns?.stop();
  for (const s of traps) await new Promise<void>((resolve) => s.close(() => resolve()));
  await ns?.drop();
});

// ------------------------------------------------------------------------------------------ ReDoS

/** Patterns a backtracking engine needs 2^n steps for, and a 10 KiB value that does not match. */
const REDOS: { pattern: string; miss: string; hit: string }[] = [
  { pattern: "(a+)+", miss: `${"a".repeat(10_240)}!`, hit: "a".repeat(10_240) },
  { pattern: "(a|aa)+", miss: `${"a".repeat(10_240)}b`, hit: "a".repeat(10_240) },
  { pattern: "(a*)*b", miss: "a".repeat(10_240), hit: `${"a".repeat(10_240)}b` },
];

REDOS.forEach((row, i) =>
  test(`attack: ReDoS header regex ${row.pattern} and a 10 KiB header: 404 in linear time, another user served meanwhile`, async () => {
    const host = `redos${i}.attack.test`;
    await apply(`redos-${i}`, {
      hosts: [host],
      rules: [
        {
          matches: [{ headers: [{ name: "X-Probe", value: row.pattern, type: "RegularExpression" }] }],
          backends: toVictim(),
        },
      ],
    });
    await apply(`plain-${i}`, {
      hosts: [`plain${i}.attack.test`],
      rules: [{ backends: [{ service: { name: "other", port: 80 } }] }],
    });
    assert.equal((await accepted(`redos-${i}`)).status, "True", "the pattern is RE2: accepted");
    await served(host, `/hit-${i}`, { "x-probe": row.hit });
    await served(`plain${i}.attack.test`, `/warm-${i}`);

    // bob streams the pathological header, one request after another, until told to stop.
    const bob = await as("bob");
    let sent = 0;
    let stop = false;
    const statuses = new Set<number>();
    const stream = (async () => {
      while (!stop) {
        statuses.add((await call(`/miss-${i}/${sent}`, host, { ...bob, "x-probe": row.miss })).status);
        sent++;
      }
    })();
    await eventually("bob's stream under way", async () => (sent >= 3 ? true : undefined));
    // alice's request on another route is answered while bob's stream is still going: the event loop
    // was never held (a backtracking engine would hold it for longer than the universe has existed).
    const before = sent;
    const alice = await call(`/victim-${i}`, `plain${i}.attack.test`, await as("alice"));
    const stillGoing = !stop;
    await eventually("bob's stream goes on after alice was served", async () =>
      sent >= before + 3 ? true : undefined,
    );
    stop = true;
    await stream;
    assert.equal(alice.status, 200, "alice is served");
    assert.ok(stillGoing, "alice was answered while the attack was running");
    assert.deepEqual([...statuses], [404], "the pathological header matches nothing: 404");
    assert.deepEqual(await victimSaw(`/miss-${i}/`), [], "no pathological request reached the backend");
    assert.equal((await victimSaw(`/hit-${i}`)).length > 0, true, "control: a matching header is served");
  }),
);

/** Patterns JavaScript runs (with backtracking) but RE2 refuses: never served. */
const REFUSED_REGEX: { pattern: string; header: string }[] = [
  { pattern: "(a+)\\1", header: "aaaa" },
  { pattern: "a(?=b).*", header: "ab" },
  { pattern: "(?<!x)b", header: "b" },
];

REFUSED_REGEX.forEach((row, i) =>
  test(`attack: header regex ${row.pattern} (backreference/lookaround): Accepted=False naming the field, not served`, async () => {
    const host = `lookaround${i}.attack.test`;
    await apply(`lookaround-${i}`, {
      hosts: [host],
      rules: [
        {
          matches: [{ headers: [{ name: "X-Probe", value: row.pattern, type: "RegularExpression" }] }],
          backends: toVictim(),
        },
      ],
    });
    const cond = await accepted(`lookaround-${i}`);
    assert.equal(cond.status, "False");
    assert.equal(cond.reason, "Invalid");
    assert.match(
      cond.message,
      /spec\.rules\[0\]\.matches\[0\]\.headers\[0\]\.value: Invalid regular expression \(RE2 syntax: backreferences and lookaround are not supported\)/,
    );
    const a = await call(`/regex-${i}`, host, { ...(await as("alice")), "x-probe": row.header });
    assert.equal(a.status, 404);
    assert.equal(a.error, "not_found");
    await nothingReached(`/regex-${i}`);
  }),
);

// ------------------------------------------------------------------------------------------ url backends

/** url backends the operator refuses (Accepted=False naming the field) and the proxy never serves. */
const URL_ROWS: { what: string; url: () => string; says: RegExp }[] = [
  { what: "a pod IP", url: () => `http://${victimIp}:8080/url-pod`, says: /in the pod CIDR/ },
  { what: "a Service IP", url: () => `http://${victimSvcIp}/url-svcip`, says: /in the service CIDR/ },
  { what: "127.0.0.1", url: () => `http://127.0.0.1:${TRAP}/url-lo`, says: /loopback/ },
  { what: "[::1]", url: () => `http://[::1]:${TRAP}/url-lo6`, says: /loopback/ },
  { what: "169.254.169.254 (metadata)", url: () => "http://169.254.169.254/url-metadata", says: /metadata/ },
  { what: "0.0.0.0", url: () => `http://0.0.0.0:${TRAP}/url-zero`, says: /unspecified/ },
  { what: "decimal 2130706433", url: () => `http://2130706433:${TRAP}/url-decimal`, says: /loopback/ },
  { what: "localhost", url: () => `http://localhost:${TRAP}/url-localhost`, says: /loopback \(localhost\)/ },
  {
    what: "IPv4-mapped IPv6 of a pod",
    url: () => `http://[::ffff:${victimIp}]:8080/url-mapped`,
    says: /pod CIDR/,
  },
  { what: "a *.svc name", url: () => `http://victim.${ns.name}.svc/url-svcname`, says: /cluster-internal/ },
  {
    what: "metadata.google.internal",
    url: () => "http://metadata.google.internal/url-gce",
    says: /metadata name/,
  },
];

URL_ROWS.forEach((row, i) =>
  test(`attack: url backend to ${row.what}: Accepted=False naming the field, not served, nothing sent`, async () => {
    const host = `url${i}.attack.test`;
    const marker = new URL(row.url()).pathname;
    await apply(`url-${i}`, { hosts: [host], rules: [{ backends: [{ url: row.url() }] }] });
    const cond = await accepted(`url-${i}`);
    assert.equal(cond.status, "False", cond.message);
    assert.equal(cond.reason, "Invalid");
    assert.match(cond.message, /spec\.rules\[0\]\.backends\[0\]\.url: /);
    assert.match(cond.message, row.says);
    const a = await call(`/x`, host, await as("alice"));
    assert.equal(a.status, 404, a.body);
    assert.equal(a.error, "not_found");
    await nothingReached(marker);
  }),
);

test("attack: url backend whose public-looking NAME resolves to loopback: 403 backend_address_refused at connect, nothing sent", async () => {
  const host = "rebind.attack.test";
  await apply("rebind", {
    hosts: [host],
    rules: [{ backends: [{ url: `http://${REBIND}:${TRAP}/url-rebind` }] }],
  });
  // The name passes the operator's check: only the resolved address can tell.
  assert.equal((await accepted("rebind")).status, "True");
  const before = dns.queries.filter((q) => q === REBIND).length;
  const a = await eventually("the proxy serves the rebind route", async () => {
    const r = await call("/x", host, await as("alice"));
    return r.status === 404 ? undefined : r;
  });
  assert.equal(a.status, 403, a.body);
  assert.equal(a.error, "backend_address_refused");
  assert.match(a.body, /loop\.attacker\.example resolves to a refused address: 127\.0\.0\.1 is loopback/);
  assert.ok(dns.queries.filter((q) => q === REBIND).length > before, "the proxy did resolve the name");
  await nothingReached("/url-rebind");
});

test("control: an allowed name (--gateway-url-allow) resolving to loopback is served: the DNS fixture and the trap work", async () => {
  const host = "allowed.attack.test";
  await apply("allowed", {
    hosts: [host],
    rules: [{ backends: [{ url: `http://${ALLOWED}:${TRAP}/url-allowed` }] }],
  });
  assert.equal((await accepted("allowed")).status, "True");
  await served(host, "/x");
  assert.ok(trapSaw("/url-allowed").length > 0, "the trap saw the allowed request");
});

// ------------------------------------------------------------------------------------------ per-rule authorization

const AUTHZ_HOST = "authz.attack.test";
let authzReady: Promise<void> | undefined;
/** One route: an alice-only rule, a team-a rule, a public rule and a default rule, all to the victim. */
function authzRoute(): Promise<void> {
  authzReady ??= (async () => {
    const prefix = (value: string) => [{ path: { type: "PathPrefix" as const, value } }];
    await apply("authz", {
      hosts: [AUTHZ_HOST],
      rules: [
        { name: "alice-only", matches: prefix("/alice"), users: ["alice"], backends: toVictim() },
        { name: "team-a", matches: prefix("/team"), groups: ["team-a"], backends: toVictim() },
        { name: "open", matches: prefix("/public"), public: true, backends: toVictim() },
        { name: "default", matches: prefix("/any"), backends: toVictim() },
      ],
    });
    assert.equal((await accepted("authz")).status, "True");
    await served(AUTHZ_HOST, "/alice/warm");
  })();
  return authzReady;
}

const AUTHZ_ROWS: {
  attack: string;
  who: string | undefined | "bad-token";
  path: string;
  ws?: boolean;
  status: number;
  error: string;
}[] = [
  { attack: "bob on an alice-only rule", who: "bob", path: "/alice/r1", status: 403, error: "forbidden" },
  {
    attack: "carol (team-b) on a team-a rule",
    who: "carol",
    path: "/team/r2",
    status: 403,
    error: "forbidden",
  },
  {
    attack: "anonymous on an alice-only rule",
    who: undefined,
    path: "/alice/r3",
    status: 401,
    error: "unauthenticated",
  },
  {
    attack: "anonymous on a default (non-public) rule",
    who: undefined,
    path: "/any/r4",
    status: 401,
    error: "unauthenticated",
  },
  {
    attack: "a forged token on an alice-only rule",
    who: "bad-token",
    path: "/alice/r5",
    status: 401,
    error: "unauthenticated",
  },
  {
    attack: "bob's WebSocket upgrade on an alice-only rule",
    who: "bob",
    path: "/alice/r6",
    ws: true,
    status: 403,
    error: "",
  },
  {
    attack: "anonymous WebSocket upgrade on a default rule",
    who: undefined,
    path: "/any/r7",
    ws: true,
    status: 401,
    error: "",
  },
];

for (const row of AUTHZ_ROWS)
  test(`attack: ${row.attack}: ${row.status}, the backend saw nothing`, async () => {
    await authzRoute();
    const headers =
      row.who === undefined
        ? {}
        : row.who === "bad-token"
          ? { authorization: `Bearer ${(await token("alice")).slice(0, -4)}AAAA` }
          : await as(row.who);
    if (row.ws) assert.equal(await upgrade(row.path, AUTHZ_HOST, headers), row.status);
    else {
      const a = await call(row.path, AUTHZ_HOST, headers);
      assert.equal(a.status, row.status, a.body);
      assert.equal(a.error, row.error);
    }
    await nothingReached(row.path);
  });

const CONTROLS: { what: string; who: string | undefined; path: string }[] = [
  { what: "alice on her alice-only rule", who: "alice", path: "/alice/c1" },
  { what: "alice (group /team-a) on the team-a rule: group match", who: "alice", path: "/team/c2" },
  { what: "anonymous on the public rule", who: undefined, path: "/public/c3" },
  { what: "bob (authenticated) on the public rule", who: "bob", path: "/public/c4" },
  { what: "bob on the default rule: any authenticated user", who: "bob", path: "/any/c5" },
];

for (const row of CONTROLS)
  test(`control: ${row.what} is served and reaches the backend`, async () => {
    await authzRoute();
    const a = await call(row.path, AUTHZ_HOST, row.who ? await as(row.who) : {});
    assert.equal(a.status, 200, a.body);
    assert.deepEqual(await victimSaw(row.path), [row.path]);
  });
