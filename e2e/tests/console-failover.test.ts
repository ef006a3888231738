/**
 * The console survives losing its proxy replica (issue 14, "Done when"), in Chromium, logged in at the
 * real OpenID provider's form: two proxy replicas sharing only their session keys behind one real
 * nginx (replica A serves every connection while it is up, B is its backup), so the browser has one
 * address and a reconnect lands on the survivor.
 *
 * alice has one tab on a running workspace's logs (its detail view shows the phase, live from
 * /ws/watch) and one on its terminal. A is killed (SIGKILL). Then, in the pages:
 * - the terminal says it lost its connection, keeps what it showed before and offers Reconnect,
 *   which opens a new shell (on B) under that buffer;
 * - the logs view reconnects by itself and shows a line written after the kill, and no line twice;
 * - the workspace stopped through the API (via B, A still dead) shows Stopped in the detail view
 *   without a reload, its phases in order with none repeated.
 */
import { before, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { api, userNamespaces } from "../lib/api-client.ts";
import { startBalancer, type Balancer } from "../lib/balancer.ts";
import { launchBrowser, type TestBrowser } from "../lib/browser.ts";
import { eventually, uniqueName } from "../lib/kube.ts";
import { startOidcProvider, type OidcProvider } from "../lib/oidc.ts";
import { stateDir } from "../lib/operator.ts";
import { startProxy, type ProxyProcess } from "../lib/proxy.ts";
import { clusterSuite } from "../lib/suite.ts";
import { consoleProxyFlags } from "../lib/watch-client.ts";
import { createWorkspace, tinyClass, workspace } from "../lib/workspaces.ts";
import { childNames, IDE_CONTAINER } from "../../common/model/workspace/names.ts";
import type { Workspace } from "../../crds/types.ts";

const PROVIDER = "198.18.0.226";
const PROXY_A = "198.18.0.227";
const PROXY_B = "198.18.0.228";
const BALANCER = "198.18.0.229";
const PUBLIC = "http://portico.test:8080";

// The page's globals, as the callbacks given to page.evaluate use them: they run in Chromium, not here.
declare const document: {
  querySelector(selector: string): { textContent: string | null } | null;
  body: unknown;
};
declare const window: { phases: string[]; marker: boolean };
declare const MutationObserver: new (fn: () => void) => { observe(target: unknown, options: object): void };

const suite = clusterSuite("console-failover", {
  classes: { tiny: tinyClass },
  operator: ["--url-port=8080"],
});
const c = suite.c;
const prefix = uniqueName("cf");
const ns = `${prefix}-alice`;
let alpha: Workspace;
let idp: OidcProvider;
let pxA: ProxyProcess;
let pxB: ProxyProcess;
let lb: Balancer;
let browser: TestBrowser;
const broken: string[] = [];

before(async () => {
  await suite.ready();
  await userNamespaces(suite, prefix, ["alice"]);
  alpha = await createWorkspace(
    c,
    workspace(ns, "alpha", { className: suite.cls.tiny, owner: "alice", running: true }),
  );
  idp = await startOidcProvider({
    address: PROVIDER,
    port: 9000,
    redirectUris: [`${PUBLIC}/__portico/auth/callback`],
    name: "console-failover-oidc",
  });
  suite.onTeardown(() => idp.stop());
  const keysFile = join(stateDir(), uniqueName("console-failover-keys"));
  const k = randomBytes(32).toString("base64url");
  writeFileSync(keysFile, JSON.stringify({ keys: [{ kty: "oct", kid: "failover", alg: "A256GCM", k }] }), {
    mode: 0o600,
  });
  const flags = [...consoleProxyFlags(idp, PUBLIC, prefix), `--session-keys-file=${keysFile}`];
  pxA = await startProxy({ address: PROXY_A, port: 8080, name: "console-failover-a", flags });
  suite.onTeardown(() => pxA.stop());
  pxB = await startProxy({ address: PROXY_B, port: 8080, name: "console-failover-b", flags });
  suite.onTeardown(() => pxB.stop());
  lb = await startBalancer({
    address: BALANCER,
    port: 8080,
    backend: `${PROXY_A}:8080`,
    backup: `${PROXY_B}:8080`,
    name: "console-failover-nginx",
  });
  suite.onTeardown(() => lb.stop());
  browser = await launchBrowser({ parentDir: stateDir(), hostMap: { "portico.test": BALANCER } });
  suite.onTeardown(() => browser.close());
});

async function newTab(): Promise<Page> {
  const { page } = await browser.newPage();
  page.on("console", (m) => {
    if (/Content.Security.Policy/i.test(m.text())) broken.push(m.text());
  });
  page.on("pageerror", (e) => broken.push(e.message));
  return page;
}

/** A line in the IDE's log: python's http.server logs each request, here one to `/{mark}` through B. */
async function logLine(mark: string): Promise<void> {
  const token = (await idp.tokensFor("alice")).accessToken;
  await api(pxB, { path: `/${mark}`, token, host: pxB.hostFor(ns, "alpha") });
}

/** Whether `shown` is `real[i..i+shown.length)` for some i: a window of the log, in order, nothing repeated. */
function isRunOf(shown: string[], real: string[]): boolean {
  for (let i = 0; i + shown.length <= real.length; i++)
    if (shown.every((line, j) => line === real[i + j])) return true;
  return false;
}

const linesWith = (page: Page, mark: string) =>
  page.$$eval("pc-logs .line", (els, m) => els.filter((e) => e.textContent?.includes(m)).length, mark);

/** The terminal's rows as text (xterm.js's DOM renderer: a div per row). */
const screen = (page: Page) =>
  page.$$eval("pc-terminal .xterm-rows > div", (rows) => rows.map((r) => (r.textContent ?? "").trimEnd()));

test("replica A is killed mid-session: the terminal says so and keeps its buffer, logs resume, the watch shows the stop", async () => {
  // Logged in at the provider's form, through the balancer (so on A).
  const logs = await newTab();
  await logs.goto(`${PUBLIC}/`, { waitUntil: "domcontentloaded" });
  assert.match(logs.url(), new RegExp(`^${idp.issuer}/`), `sent to the provider (at ${logs.url()})`);
  await logs.fill('input[name="login"]', "alice");
  await logs.fill('input[name="password"]', "any");
  await Promise.all([
    logs.waitForURL((u) => u.href.startsWith(`${PUBLIC}/`), { waitUntil: "load" }),
    logs.click('button[type="submit"]'),
  ]);
  await logs.goto(`${PUBLIC}/#/w/${ns}/alpha/logs`);
  await logs.waitForSelector('pc-workspace-detail [data-phase="Running"]', { timeout: 120_000 });
  // Phases the detail view shows from here on, recorded in the page (a reload would lose them).
  await logs.evaluate(() => {
    const w = window;
    w.phases = [];
    w.marker = true;
    const record = () => {
      const phase = document.querySelector("pc-workspace-detail .phase")?.textContent;
      if (phase && w.phases.at(-1) !== phase) w.phases.push(phase);
    };
    record();
    new MutationObserver(record).observe(document.body, {
      subtree: true,
      childList: true,
      characterData: true,
    });
  });
  const before = uniqueName("before-kill");
  await logLine(before);
  await logs.waitForSelector(`pc-logs .line:has-text("${before}")`, { timeout: 60_000 });

  const term = await newTab();
  await term.goto(`${PUBLIC}/#/w/${ns}/alpha/terminal`);
  await term.waitForSelector('pc-terminal [data-state="ready"]', { timeout: 60_000 });
  await term.keyboard.type("echo kept-$((6*7))\n");
  await eventually("kept-42 in the terminal", async () =>
    (await screen(term)).includes("kept-42") ? true : undefined,
  );

  await pxA.kill();

  // The terminal: lost, said in its buffer and its status, the earlier output still there, Reconnect.
  await term.waitForSelector('pc-terminal [data-state="lost"]', { timeout: 60_000 });
  await term.waitForSelector('pc-terminal .xterm-rows:has-text("connection lost")');
  assert.ok((await screen(term)).includes("kept-42"), "the buffer before the loss is kept");
  assert.ok(await term.$('pc-terminal button:has-text("Reconnect")'), "Reconnect offered");

  // Logs: a line written after the kill appears by itself; the earlier one is not shown again.
  const after = uniqueName("after-kill");
  await logLine(after);
  await logs.waitForSelector(`pc-logs .line:has-text("${after}")`, { timeout: 120_000 });
  assert.equal(await linesWith(logs, before), 1, "the line from before the kill, once");
  assert.equal(await linesWith(logs, after), 1, "the line from after the kill, once");
  // The IDE may log the same text twice in a second (python's "code 404, message File not found"
  // has no path), so "no line twice" means: what the page shows is one unbroken run of the pod's
  // real log, with no replayed line spliced in.
  const shown = await logs.$$eval("pc-logs .line", (els) => els.map((e) => (e.textContent ?? "").trimEnd()));
  const real = (
    await c.core.readNamespacedPodLog({
      namespace: ns,
      name: childNames(alpha).pod,
      container: IDE_CONTAINER,
    })
  )
    .split("\n")
    .map((l) => l.trimEnd())
    .filter((l) => l !== "");
  assert.ok(
    isRunOf(shown, real),
    `the page shows a run of the pod's log, nothing twice:\n--- page\n${shown.join("\n")}\n--- pod\n${real.join("\n")}`,
  );

  // Reconnect opens a new shell on B, under the kept buffer.
  await term.click('pc-terminal button:has-text("Reconnect")');
  await term.waitForSelector('pc-terminal [data-state="ready"]', { timeout: 60_000 });
  assert.ok((await screen(term)).includes("kept-42"), "the buffer is still there after Reconnect");

  // The watch: the workspace stopped through B while A is dead reaches the detail view, no reload.
  const token = (await idp.tokensFor("alice")).accessToken;
  const stop = await api(pxB, { method: "POST", path: `/api/v1/workspaces/${ns}/alpha/stop`, token });
  assert.equal(stop.status, 202, stop.body);
  await logs.waitForSelector('pc-workspace-detail [data-phase="Stopped"]', { timeout: 120_000 });
  const { phases, marker } = await logs.evaluate(() => ({ phases: window.phases, marker: window.marker }));
  assert.equal(marker, true, "the same page: no reload");
  assert.equal(phases[0], "Running");
  assert.equal(phases.at(-1), "Stopped");
  // A change replayed after the resume would bring an earlier phase back.
  assert.equal(new Set(phases).size, phases.length, `each phase once, in order: ${phases.join(" → ")}`);
  await term.close();
  await logs.close();
});

test("no page broke the CSP or threw", () => {
  assert.deepEqual(broken, []);
});
