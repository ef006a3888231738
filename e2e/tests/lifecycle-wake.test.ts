/**
 * Wake on access (issue 15, docs/lifecycle.md "Waking up") against the real cluster, the real
 * operator, the real proxy (host mode, logged in through the real OpenID provider) and a small real
 * backend (e2e/fixtures/http-echo.ts) whose readiness waits on a file in its volume, so the wake's
 * "starting" lasts exactly until the test writes that file:
 *
 * - the owner's browser navigation to an idle-stopped workspace gets the waiting page, and the
 *   workspace comes back: the idle stop lifted, `portico.dev/woken` set, a new pod Ready;
 * - a plain HTTP request and a WebSocket upgrade sent while it starts wait, and are answered by the
 *   backend (relayed) once it is ready — not a 503;
 * - a workspace stopped by its user (spec.running false) visited stays stopped and offers Start.
 *
 * The idle stop is made as the operator makes it (the annotation, written as an admin); the suite's
 * operator keeps the pod away while it is there.
 */
import { before, test } from "node:test";
import assert from "node:assert/strict";
import { request } from "node:http";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { WebSocket } from "ws";
import { IDLE_STOPPED_ANNOTATION, WOKEN_ANNOTATION } from "../../common/model/workspace/lifecycle.ts";
import type { Workspace } from "../../crds/types.ts";
import { writeToVolume } from "../ide/checks.ts";
import { sessionCookie } from "../lib/api-client.ts";
import { eventually } from "../lib/kube.ts";
import { startOidcProxy, type OidcProvider } from "../lib/oidc.ts";
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

const PROVIDER = "198.18.0.230";
const PROXY = "198.18.0.231";
const PUBLIC = "http://portico.test:8080";
const GATE = "gate.txt";

/** http-echo serving its volume at /files/: Ready only once the gate file is there. */
const gatedEcho = (name: string) =>
  echoClass(name, {
    readinessPath: `/files/${GATE}`,
    storage: { size: "1Gi", mountPath: "/data" },
    env: [{ name: "DATA_DIR", value: "/data" }],
  } as never);

const suite = clusterSuite("lifecycle-wake", {
  classes: { echo: gatedEcho },
});
const c = suite.c;
let idp: OidcProvider;
let px: ProxyProcess;
let alice: string;

before(async () => {
  await suite.ready();
  ({ idp, px } = await startOidcProxy(suite, {
    name: "lifecycle-wake",
    provider: PROVIDER,
    proxy: PROXY,
    publicUrl: PUBLIC,
    // A loaded CI machine may take long to start a pod: the bound is generous, never reached here.
    flags: ["--rate-limit-ip=0", "--rate-limit-user=0", "--wake-wait=5m"],
  }));
  alice = await sessionCookie(px, idp, "alice");
});

const hostOf = (name: string) => `${name}--${suite.ns}.portico.test:8080`;

/** One request to a workspace's host through the proxy. */
function send(
  name: string,
  path: string,
  headers: Record<string, string>,
): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${px.url}${path}`,
      { headers: { host: hostOf(name), ...headers }, agent: false },
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

const NAV = {
  accept: "text/html,application/xhtml+xml",
  "sec-fetch-site": "none",
  "sec-fetch-mode": "navigate",
  "sec-fetch-dest": "document",
};

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

/** A running workspace of alice's, Ready (its gate written). */
async function running(name: string): Promise<Workspace> {
  await createWorkspace(
    c,
    workspace(suite.ns, name, { className: suite.cls.echo, sharedWith: { users: ["bob"] } }),
  );
  await waitWorkspace(c, suite.ns, name, "its volume", (w) => !!w.status?.children?.pvc, 120_000);
  await eventually(
    "the volume bound",
    async () => {
      try {
        await writeToVolume(c, suite.ns, name, GATE, "open\n");
        return true;
      } catch {
        return undefined;
      }
    },
    120_000,
    500,
  );
  return waitWorkspace(c, suite.ns, name, "Ready", isReady, 180_000);
}

/** The operator's idle stop, as it writes it (an admin here): the annotation; then no pod. */
async function idleStop(name: string): Promise<void> {
  const at = new Date().toISOString().replace(/\.\d+Z$/, "Z");
  await kubectl("-n", suite.ns, "annotate", "workspace", name, `${IDLE_STOPPED_ANNOTATION}=${at}`);
  await eventually(
    "the idle-stopped workspace's pod gone",
    async () => ((await podOf(name)) ? undefined : true),
    120_000,
    500,
  );
}

/** The volume's gate file removed: the next pod is not Ready until the test writes it again. */
async function closeGate(name: string): Promise<void> {
  const ws = await getWorkspace(c, suite.ns, name);
  const pvc = await c.core.readNamespacedPersistentVolumeClaim({
    name: ws.status!.children!.pvc!,
    namespace: suite.ns,
  });
  const pv = await c.core.readPersistentVolume({ name: pvc.spec!.volumeName! });
  await rm(join(pv.spec!.hostPath!.path, GATE), { force: true });
}

test("the owner's visit wakes an idle-stopped workspace; requests and a WebSocket sent meanwhile are answered once it is ready", async () => {
  const name = "sleepy";
  await running(name);
  await closeGate(name);
  await idleStop(name);
  const stopped = await send(name, "/", { cookie: alice, ...NAV });
  // Before the wake: nothing. The visit: the waiting page at once, with its steps.
  assert.equal(stopped.status, 503, stopped.body.slice(0, 300));
  assert.match(stopped.body, /<body data-state="starting"/);
  assert.match(stopped.body, /<ol id="steps"/);
  const woken = await waitWorkspace(
    c,
    suite.ns,
    name,
    "woken",
    (w) => !w.metadata.annotations?.[IDLE_STOPPED_ANNOTATION] && !!w.metadata.annotations?.[WOKEN_ANNOTATION],
    60_000,
  );
  assert.ok(Date.parse(woken.metadata.annotations![WOKEN_ANNOTATION]!) > 0);

  // While it starts (its gate is closed): a plain request and a WebSocket, both held.
  const plain = send(name, "/during-the-wake", { cookie: alice, accept: "application/json" });
  const ws = new WebSocket(`ws://${PROXY}:8080/socket`, {
    headers: { host: hostOf(name), cookie: alice, origin: `http://${hostOf(name)}` },
  });
  const opened = new Promise<void>((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("unexpected-response", (_req, res) => reject(new Error(`upgrade answered ${res.statusCode}`)));
    ws.once("error", reject);
  });
  await eventually("the new pod", async () => ((await podOf(name)) ? true : undefined), 120_000, 500);
  const starting = await getWorkspace(c, suite.ns, name);
  assert.notEqual(
    starting.status?.conditions?.find((x) => x.type === "Ready")?.status,
    "True",
    "gate closed",
  );
  await writeToVolume(c, suite.ns, name, GATE, "open\n");
  const answer = await plain;
  assert.equal(answer.status, 200, answer.body.slice(0, 300));
  const echoed = JSON.parse(answer.body) as { server: string; url: string };
  assert.deepEqual([echoed.server, echoed.url], ["http-echo", "/during-the-wake"]);
  await opened;
  ws.send("still there?");
  const reply = await new Promise<string>((r) => ws.once("message", (d) => r(String(d))));
  assert.equal(reply, "echo:still there?");
  ws.close();
  await waitWorkspace(c, suite.ns, name, "Ready again", isReady, 60_000);
  assert.ok(await podOf(name), "a pod runs again");
});

test("a workspace its user stopped is not woken by a visit: the stopped page offers Start", async () => {
  const name = "paused";
  await createWorkspace(c, workspace(suite.ns, name, { className: suite.cls.echo, running: false }));
  await waitWorkspace(c, suite.ns, name, "Stopped", (w) => w.status?.phase === "Stopped", 60_000);
  const before = (await getWorkspace(c, suite.ns, name)).metadata.resourceVersion;
  const page = await send(name, "/", { cookie: alice, ...NAV });
  assert.equal(page.status, 404);
  assert.match(page.body, /<body data-state="stopped"/);
  assert.match(page.body, /<button id="start"/);
  assert.doesNotMatch(page.body, /idleness/);
  const json = await send(name, "/api", { cookie: alice, accept: "application/json" });
  assert.equal(json.status, 404);
  const after = await getWorkspace(c, suite.ns, name);
  assert.equal(after.metadata.resourceVersion, before, "nothing written");
  assert.equal(after.spec.running, false);
  assert.equal(await podOf(name), undefined);
});
