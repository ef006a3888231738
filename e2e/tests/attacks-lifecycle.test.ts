/**
 * Attacks on the lifecycle's surfaces (issue 15): waking a workspace by visiting it, the requests
 * held while it starts, and the lifecycle annotations on the Workspace — against the real cluster,
 * the real operator, the real proxy (host mode, sessions from the real OpenID provider) and the
 * chart's ValidatingAdmissionPolicies (applied by the harness for every suite).
 *
 * The victim: alice's workspace `victim` (shared with bob), idle-stopped as the operator stops it
 * (the annotation; its pod gone). Each row: what the attacker sends, the refusal, and the proof that
 * nothing reached the victim — its lifecycle annotations and generation as they were, still no pod,
 * and no write to it by the proxy's ServiceAccount in the API server's audit log (a wake is one).
 *
 * The hostile-page rows send what Chromium sends for a page on another workspace's host (same site
 * in host mode: the session cookie comes along): its Origin and Sec-Fetch-* headers.
 */
import { before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { request } from "node:http";
import { WebSocket } from "ws";
import {
  ACTIVITY_PROXY_ANNOTATION,
  IDLE_STOPPED_ANNOTATION,
  KEEP_ALIVE_ANNOTATION,
  LIFECYCLE_ANNOTATIONS,
  WOKEN_ANNOTATION,
} from "../../common/model/workspace/lifecycle.ts";
import type { Workspace } from "../../crds/types.ts";
import { writeToVolume } from "../ide/checks.ts";
import { sessionCookie } from "../lib/api-client.ts";
import { eventually } from "../lib/kube.ts";
import { startOidcProxy, type OidcProvider } from "../lib/oidc.ts";
import { auditWrites } from "../lib/operator.ts";
import type { ProxyProcess } from "../lib/proxy.ts";
import { clusterSuite } from "../lib/suite.ts";
import {
  createWorkspace,
  echoClass,
  getWorkspace,
  isReady,
  kubectl,
  waitWorkspace,
  workspace,
} from "../lib/workspaces.ts";

const PROVIDER = "198.18.0.232";
const PROXY = "198.18.0.233";
const PUBLIC = "http://portico.test:8080";
const PROXY_USER = "system:serviceaccount:portico-system:portico-proxy";
const USERS_GROUP = "portico-test-users";
const MAX_HELD = 4;

/** http-echo, Ready only once gate.txt is in its volume (the `slow` workspace never gets one). */
const gatedEcho = (name: string) =>
  echoClass(name, {
    readinessPath: "/files/gate.txt",
    storage: { size: "1Gi", mountPath: "/data" },
    env: [{ name: "DATA_DIR", value: "/data" }],
  } as never);

const suite = clusterSuite("attacks-lifecycle", { classes: { echo: gatedEcho } });
const c = suite.c;
let idp: OidcProvider;
let px: ProxyProcess;
const cookies = new Map<string, string>();
const hostOf = (name: string) => `${name}--${suite.ns}.portico.test:8080`;
/** The origin of a page in another workspace (carol's), same site as the victim's in host mode. */
const HOSTILE = () => `http://hostile--${suite.ns}.portico.test:8080`;

interface Answer {
  status: number;
  body: string;
  headers: Record<string, unknown>;
}

/** One request to a workspace's host through the proxy; `signal` aborts it. */
function send(
  name: string,
  path: string,
  headers: Record<string, string>,
  method = "GET",
  signal?: AbortSignal,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${px.url}${path}`,
      { method, headers: { host: hostOf(name), ...headers }, agent: false, ...(signal ? { signal } : {}) },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => (body += d));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
      },
    );
    req.on("error", reject);
    req.end();
  });
}

/** A WebSocket upgrade's answer: 101, or the refusal's status. */
function upgrade(name: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://${PROXY}:8080/socket`, { headers: { host: hostOf(name), ...headers } });
    ws.once("open", () => (ws.close(), resolve(101)));
    ws.once("unexpected-response", (_req, res) => (res.resume(), resolve(res.statusCode ?? 0)));
    ws.once("error", reject);
  });
}

/** kubectl as `user` of the team group (impersonated by the admin); never throws. */
function kubectlAs(user: string, args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn("kubectl", [`--as=${user}`, `--as-group=${USERS_GROUP}`, "-n", suite.ns, ...args]);
    let stderr = "";
    p.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    p.on("error", reject);
    p.on("close", (code) => resolve({ code: code ?? 1, stderr }));
  });
}

async function podOf(name: string): Promise<string | undefined> {
  const out = await kubectl(
    "-n",
    suite.ns,
    "get",
    "pods",
    "-o",
    "name",
    "-l",
    `portico.dev/workspace=${name}`,
  );
  return out.trim() || undefined;
}

/** What of `name` an attack could have changed: its lifecycle annotations and generation, its pod. */
async function state(name: string) {
  const w: Workspace = await getWorkspace(c, suite.ns, name);
  const a = w.metadata.annotations ?? {};
  return {
    lifecycle: Object.fromEntries(LIFECYCLE_ANNOTATIONS.filter((k) => k in a).map((k) => [k, a[k]])),
    generation: w.metadata.generation,
    pod: await podOf(name),
  };
}

before(async () => {
  await suite.ready();
  // A team namespace: the users may edit Workspaces here, RBAC-wise; admission is what stops them.
  await kubectl(
    "-n",
    suite.ns,
    "create",
    "role",
    "ws-editor",
    "--verb=get,list,patch,update",
    "--resource=workspaces.portico.dev",
  );
  await kubectl(
    "-n",
    suite.ns,
    "create",
    "rolebinding",
    "team-ws-editor",
    "--role=ws-editor",
    `--group=${USERS_GROUP}`,
  );
  await eventually("the team's edit rights apply", async () => {
    const r = spawn("kubectl", [
      "--as=alice",
      `--as-group=${USERS_GROUP}`,
      "-n",
      suite.ns,
      "auth",
      "can-i",
      "patch",
      "workspaces.portico.dev",
    ]);
    let out = "";
    r.stdout.on("data", (d: Buffer) => (out += d.toString()));
    await new Promise((res) => r.on("close", res));
    return out.trim() === "yes" ? true : undefined;
  });
  ({ idp, px } = await startOidcProxy(suite, {
    name: "attacks-lifecycle",
    provider: PROVIDER,
    proxy: PROXY,
    publicUrl: PUBLIC,
    flags: [
      "--rate-limit-ip=0",
      "--rate-limit-user=0",
      `--max-connections-per-user=${MAX_HELD}`,
      "--wake-wait=5m",
    ],
  }));
  for (const user of ["alice", "bob", "carol"]) cookies.set(user, await sessionCookie(px, idp, user));
  // The victim: running, Ready, then idle-stopped as the operator does it (an admin writes it here).
  await createWorkspace(
    c,
    workspace(suite.ns, "victim", { className: suite.cls.echo, sharedWith: { users: ["bob"] } }),
  );
  await eventually(
    "the victim's volume",
    async () => {
      try {
        return (await writeToVolume(c, suite.ns, "victim", "gate.txt", "open\n")) && true;
      } catch {
        return undefined;
      }
    },
    120_000,
    500,
  );
  await waitWorkspace(c, suite.ns, "victim", "Ready", isReady, 180_000);
  await kubectl(
    "-n",
    suite.ns,
    "annotate",
    "workspace",
    "victim",
    `${IDLE_STOPPED_ANNOTATION}=2026-12-05T06:00:00Z`,
  );
  await eventually(
    "the victim's pod gone",
    async () => ((await podOf("victim")) ? undefined : true),
    120_000,
    500,
  );
  // carol's workspace that never gets Ready (no gate): requests to it are held.
  await createWorkspace(c, workspace(suite.ns, "slow", { owner: "carol", className: suite.cls.echo }));
  await eventually("carol's pod", async () => ((await podOf("slow")) ? true : undefined), 120_000, 500);
});

const NAV = {
  accept: "text/html",
  "sec-fetch-site": "none",
  "sec-fetch-mode": "navigate",
  "sec-fetch-dest": "document",
};
const from = (user: string) => ({ cookie: cookies.get(user)! });
/** What a page on the hostile workspace's host sends along with alice's cookie. */
const hostile = (mode: string, dest: string) => ({
  ...from("alice"),
  origin: HOSTILE(),
  referer: `${HOSTILE()}/`,
  "sec-fetch-site": "same-site",
  "sec-fetch-mode": mode,
  "sec-fetch-dest": dest,
});

interface Row {
  name: string;
  send: () => Promise<Answer | number | { code: number; stderr: string }>;
  /** The expected refusal: a status (and a message), or kubectl's exit and the API server's message. */
  status?: number | number[];
  message?: RegExp;
}

const kubectlRow = (who: string, target: string, args: string[], names: string): Row => ({
  name: `${who} kubectl-annotates ${args.join(" ")} on ${target}`,
  send: () => kubectlAs(who, ["annotate", "--overwrite", "workspace", target, ...args]),
  message: new RegExp(`metadata\\.annotations\\[${names.replace(/[.]/g, "\\.")}\\]: only Portico`),
});

const ROWS: Row[] = [
  { name: "an unauthenticated browser visit", send: () => send("victim", "/", NAV), status: [302, 303, 401] },
  {
    name: "an unauthenticated script request",
    send: () => send("victim", "/api", { accept: "application/json" }),
    status: 401,
  },
  {
    name: "a stranger's visit (carol)",
    send: () => send("victim", "/", { ...from("carol"), ...NAV }),
    status: 403,
  },
  {
    name: "a sharee's visit (bob): the stopped page says it stopped for idleness and only alice can start it",
    send: () => send("victim", "/", { ...from("bob"), ...NAV }),
    status: 404,
    message: /Stopped for idleness[\s\S]*Only its owner can start it: ask <strong>alice<\/strong>/,
  },
  {
    name: "a sharee's script request (bob)",
    send: () => send("victim", "/api/contents", { ...from("bob"), accept: "application/json" }),
    status: 404,
    message: /stopped for idleness; only its owner/,
  },
  {
    name: "a cross-site POST to {prefix}/__portico/start with alice's cookie",
    send: () =>
      send(
        "victim",
        "/__portico/start",
        { ...from("alice"), origin: "http://evil.example", "sec-fetch-site": "cross-site" },
        "POST",
      ),
    status: 403,
    message: /cross_origin/,
  },
  {
    name: "a hostile page's POST to {prefix}/__portico/start (same site, another workspace)",
    send: () => send("victim", "/__portico/start", hostile("cors", "empty"), "POST"),
    status: 403,
    message: /cross_origin/,
  },
  {
    name: "a hostile page's fetch() of the victim's URL (same site, cors)",
    send: () => send("victim", "/api/status", hostile("cors", "empty")),
    status: 404,
    message: /stopped for idleness/,
  },
  {
    name: "a hostile page's <img> of the victim's URL (no-cors)",
    send: () => send("victim", "/favicon.ico", hostile("no-cors", "image")),
    status: 404,
  },
  {
    name: "a hostile page's <iframe> of the victim's URL",
    send: () => send("victim", "/", { ...hostile("navigate", "iframe"), accept: "text/html" }),
    status: 404,
    message: /Stopped for idleness/,
  },
  {
    name: "a hostile page's form POST to the victim's URL",
    send: () => send("victim", "/", { ...hostile("navigate", "document"), accept: "text/html" }, "POST"),
    status: 403,
  },
  {
    name: "a hostile page's WebSocket to the victim",
    send: () => upgrade("victim", { ...from("alice"), origin: HOSTILE() }),
    status: 403,
  },
  {
    name: "keep-alive through the API on someone else's workspace (carol)",
    send: () =>
      new Promise<Answer>((resolve, reject) => {
        const req = request(
          `${px.url}/api/v1/workspaces/${suite.ns}/victim/keepalive`,
          {
            method: "POST",
            headers: {
              host: "portico.test:8080",
              ...from("carol"),
              origin: PUBLIC,
              "content-type": "application/json",
            },
            agent: false,
          },
          (res) => {
            let body = "";
            res.on("data", (d: Buffer) => (body += d.toString()));
            res.on("end", () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
          },
        );
        req.on("error", reject);
        req.end(JSON.stringify({ duration: "8h" }));
      }),
    status: 404,
  },
  kubectlRow("alice", "victim", [`${IDLE_STOPPED_ANNOTATION}-`], IDLE_STOPPED_ANNOTATION),
  kubectlRow("alice", "victim", [`${KEEP_ALIVE_ANNOTATION}=2099-01-01T00:00:00Z`], KEEP_ALIVE_ANNOTATION),
  kubectlRow(
    "alice",
    "victim",
    [`${ACTIVITY_PROXY_ANNOTATION}=2099-01-01T00:00:00Z`],
    ACTIVITY_PROXY_ANNOTATION,
  ),
  kubectlRow("alice", "victim", [`${WOKEN_ANNOTATION}=2026-12-05T07:00:00Z`], WOKEN_ANNOTATION),
  kubectlRow("bob", "victim", [`${IDLE_STOPPED_ANNOTATION}-`], IDLE_STOPPED_ANNOTATION),
  kubectlRow("bob", "slow", [`${IDLE_STOPPED_ANNOTATION}=2026-12-05T06:00:00Z`], IDLE_STOPPED_ANNOTATION),
  kubectlRow("carol", "slow", [`${KEEP_ALIVE_ANNOTATION}=2099-01-01T00:00:00Z`], KEEP_ALIVE_ANNOTATION),
];

for (const row of ROWS)
  test(`attack: ${row.name}`, async () => {
    const before = await state("victim");
    const slowBefore = await state("slow");
    const since = new Date(Date.now() - 1000);
    const got = await row.send();
    if (typeof got === "number") assert.ok([row.status].flat().includes(got), `upgrade answered ${got}`);
    else if ("code" in got) {
      assert.notEqual(got.code, 0, "kubectl succeeded");
      assert.match(got.stderr, row.message!);
    } else {
      assert.ok([row.status].flat().includes(got.status), `${got.status} ${got.body.slice(0, 300)}`);
      if (row.message) assert.match(got.body, row.message);
    }
    // Proof: nothing reached the victim (nor carol's workspace, the target of two rows).
    assert.deepEqual(await state("victim"), before);
    assert.deepEqual((await state("slow")).lifecycle, slowBefore.lifecycle);
    const writes = (await auditWrites(PROXY_USER, since)).filter(
      (e) => e.objectRef?.resource === "workspaces" && (e.responseStatus?.code ?? 0) < 400,
    );
    assert.deepEqual(writes, [], "no write by the proxy");
  });

test("allowed: alice's own annotations that are not the lifecycle's, and the admin's lifecycle ones", async () => {
  const r = await kubectlAs("alice", [
    "annotate",
    "--overwrite",
    "workspace",
    "victim",
    "example.com/note=mine",
  ]);
  assert.equal(r.code, 0, r.stderr);
  await kubectl(
    "-n",
    suite.ns,
    "annotate",
    "--overwrite",
    "workspace",
    "slow",
    `${KEEP_ALIVE_ANNOTATION}=2026-12-05T09:00:00Z`,
  );
  assert.equal(
    (await getWorkspace(c, suite.ns, "slow")).metadata.annotations?.[KEEP_ALIVE_ANNOTATION],
    "2026-12-05T09:00:00Z",
  );
});

test(`attack: a flood of held requests (carol, ${MAX_HELD + 2} at once to her starting workspace): past the cap, 429 at once`, async () => {
  const victim = await state("victim");
  const abort = new AbortController();
  const answered: Answer[] = [];
  let told!: () => void;
  const two = new Promise<void>((r) => (told = r));
  const all = Array.from({ length: MAX_HELD + 2 }, (_, i) =>
    send("slow", `/held-${i}`, { ...from("carol"), accept: "application/json" }, "GET", abort.signal).then(
      (a) => {
        answered.push(a);
        if (answered.length === 2) told();
        return "answered";
      },
      (e: Error) => e.name,
    ),
  );
  // Exactly the two past the cap are answered (429) while carol's workspace starts; the others wait.
  // Without the cap all of them would wait, and this would never resolve.
  await two;
  assert.deepEqual(
    answered.map((a) => a.status),
    [429, 429],
  );
  assert.match(answered[0]!.body, /too many open WebSockets and status streams for carol/);
  // Other users are not held back by carol's flood.
  assert.equal((await send("victim", "/", { ...from("bob"), ...NAV })).status, 404);
  assert.equal(answered.length, 2, "the held ones are still held");
  abort.abort();
  const outcomes = await Promise.all(all);
  assert.equal(outcomes.filter((o) => o === "AbortError").length, MAX_HELD);
  assert.deepEqual(await state("victim"), victim);
  const slow = await getWorkspace(c, suite.ns, "slow");
  assert.notEqual(
    slow.status?.conditions?.find((x) => x.type === "Ready")?.status,
    "True",
    "it never was ready",
  );
});
