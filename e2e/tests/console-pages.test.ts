/**
 * The pages a browser meets on a workspace URL (issue 14, item 6), in real Chromium, logged in
 * through the real OpenID provider's form, the proxy in host mode:
 *
 * - a sharee on a stopped workspace's URL sees it is stopped and whom to ask, and no Start button;
 * - its owner sees Start; pressing it turns the page into the waiting page: the steps advance
 *   (storage done, the repository cloned, the IDE starting) with their elapsed time counting, the
 *   status line says what happens (aria-live), and a second tab opened meanwhile gets the waiting
 *   page with the same steps from the server. The workspace's readiness waits on a file the test
 *   writes into its volume, so "starting" lasts exactly until the test says so; then the page opens
 *   the workspace by itself;
 * - the same with a real IDE: Start on a stopped Jupyter workspace's page, the steps, and then
 *   Jupyter itself loads in that tab and runs `1+1` on a kernel;
 * - two proxy replicas sharing only their session keys (no sticky sessions): the page from one, the
 *   Start through the other, the first one's stream resumed from its last event id shows the start,
 *   and the other's page becomes the waiting page; both serve the same script URL.
 *
 * Real parts: cluster, operator, proxy, OpenID provider, git server (git http-backend), Jupyter
 * Server, Chromium.
 */
import { before, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { request } from "node:http";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { createRepository, startGitServer, type GitServer } from "../fixtures/git-server.ts";
import { checkJupyter, screenshot, writeToVolume } from "../ide/checks.ts";
import { api, sessionCookie } from "../lib/api-client.ts";
import { launchBrowser, type TestBrowser } from "../lib/browser.ts";
import { eventually, uniqueName } from "../lib/kube.ts";
import { proxyOidcFlags, startOidcProvider, type OidcProvider } from "../lib/oidc.ts";
import { stateDir } from "../lib/operator.ts";
import { startProxy, type ProxyProcess } from "../lib/proxy.ts";
import { clusterSuite } from "../lib/suite.ts";
import { createWorkspace, getWorkspace, jupyterClass, tinyClass, workspace } from "../lib/workspaces.ts";

const PROVIDER = "198.18.0.190";
const GIT = "198.18.0.191";
const PROXY = "198.18.0.192";
/** A second replica: same flags and session keys, no sticky sessions between the two. */
const PROXY_B = "198.18.0.193";
const PUBLIC = "http://portico.test:8080";

const suite = clusterSuite("console-pages", {
  classes: {
    jupyter: jupyterClass,
    // Python's http.server in the volume; ready only once gate.txt is there (the test writes it).
    gated: (name: string) => {
      const cls = tinyClass(name);
      return {
        ...cls,
        spec: { ...cls.spec, readinessPath: "/gate.txt", git: { allowedProtocols: ["http"] } },
      };
    },
  },
});
const c = suite.c;
let idp: OidcProvider;
let git: GitServer;
let px: ProxyProcess;
let pxB: ProxyProcess;
const browsers: TestBrowser[] = [];

before(async () => {
  await suite.ready();
  idp = await startOidcProvider({
    address: PROVIDER,
    port: 9000,
    redirectUris: [`${PUBLIC}/__portico/auth/callback`],
    name: "console-pages-oidc",
  });
  suite.onTeardown(() => idp.stop());
  const root = join(stateDir(), uniqueName("console-pages-git"));
  await createRepository(root, "alice", "notes", { "README.md": "# notes\n" });
  git = await startGitServer({
    root,
    issuer: idp.issuer,
    host: GIT,
    port: 3000,
    repos: [{ owner: "alice", name: "notes", private: false }],
  });
  suite.onTeardown(() => git.close());
  const keysFile = join(stateDir(), uniqueName("console-pages-keys"));
  const k = randomBytes(32).toString("base64url");
  writeFileSync(keysFile, JSON.stringify({ keys: [{ kty: "oct", kid: "pages", alg: "A256GCM", k }] }), {
    mode: 0o600,
  });
  const flags = [
    ...proxyOidcFlags(idp, PUBLIC),
    `--session-keys-file=${keysFile}`,
    "--rate-limit-ip=0",
    "--rate-limit-user=0",
  ];
  px = await startProxy({ address: PROXY, port: 8080, name: "console-pages-proxy", flags });
  suite.onTeardown(() => px.stop());
  pxB = await startProxy({ address: PROXY_B, port: 8080, name: "console-pages-proxy-b", flags });
  suite.onTeardown(() => pxB.stop());
  suite.onTeardown(async () => {
    for (const b of browsers) await b.close();
  });
  const ns = suite.ns;
  await createWorkspace(
    c,
    workspace(ns, "nb", { className: suite.cls.jupyter, running: false, sharedWith: { users: ["bob"] } }),
  );
  await createWorkspace(c, workspace(ns, "twin", { className: suite.cls.gated, running: false }));
  await createWorkspace(
    c,
    workspace(ns, "gated", {
      className: suite.cls.gated,
      running: false,
      repository: { url: git.cloneUrl("alice", "notes") },
    }),
  );
});

async function browser(): Promise<TestBrowser> {
  const b = await launchBrowser({ parentDir: stateDir(), hostMap: { "portico.test": PROXY } });
  browsers.push(b);
  return b;
}

const urlOf = (name: string, path = "") => `http://${px.hostFor(suite.ns, name)}/${path}`;

/** A page of a new browser, logged in at the provider's form as `user` on the way to `url`; its status. */
async function loggedIn(user: string, url: string) {
  const b = await browser();
  const { page } = await b.newPage();
  await page.goto(url, { waitUntil: "domcontentloaded" });
  assert.match(page.url(), new RegExp(`^${idp.issuer}/`), "sent to the provider to log in");
  await page.fill('input[name="login"]', user);
  await page.fill('input[name="password"]', "any");
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.url() === url && r.request().method() === "GET"),
    page.click('button[type="submit"]'),
  ]);
  await page.waitForLoadState("load");
  return { b, page, status: response.status() };
}

/**
 * Records every step state the page shows (`key:state`, in order) through a MutationObserver the
 * browser installs in each document it loads, so transitions are seen as they happen, not polled.
 */
async function recordSteps(page: Page): Promise<string[]> {
  const seen: string[] = [];
  await page.exposeBinding("portico_step", (_src, s: string) => void seen.push(s));
  await page.addInitScript(`
    addEventListener("DOMContentLoaded", () => {
      const note = (li) => window.portico_step(li.dataset.key + ":" + li.dataset.state);
      document.querySelectorAll("li[data-key]").forEach(note);
      new MutationObserver((ms) => ms.forEach((m) => m.attributeName === "data-state" && note(m.target)))
        .observe(document.body, { subtree: true, attributes: true, attributeFilter: ["data-state"] });
    });`);
  return seen;
}

test("a sharee on a stopped workspace sees that it is stopped and whom to ask, and no Start", async () => {
  const { page, status } = await loggedIn("bob", urlOf("nb"));
  assert.equal(status, 404, "stopped");
  assert.equal(await page.locator("h1").textContent(), `${suite.ns}/nb`);
  assert.equal(await page.locator("#phase").textContent(), "Stopped");
  assert.equal(await page.locator("#start").count(), 0, "no Start button for a sharee");
  assert.match((await page.locator("#stopped").textContent()) ?? "", /ask alice/);
  assert.equal(await page.locator("a", { hasText: "Open the console" }).getAttribute("href"), `${PUBLIC}/`);
  assert.equal((await getWorkspace(c, suite.ns, "nb")).spec.running, false);
});

test("the owner presses Start: the steps advance with their elapsed time, then the workspace opens", async () => {
  const { b, page, status } = await loggedIn("alice", urlOf("gated"));
  assert.equal(status, 404);
  const seen = await recordSteps(page);
  await page.reload({ waitUntil: "load" }); // the recorder is in from here on
  await screenshot({ page, sockets: [] }, "console-pages-stopped");
  const start = page.getByRole("button", { name: "Start" });
  await start.click();
  // The IDE waits on gate.txt: the pod step stays active until the test writes it. The statuses on
  // the way can arrive out of step with each other (CI once read the clone active again right after
  // the pod step showed active), so wait for the state that holds until the gate opens.
  await page.locator('li[data-key="clone"][data-state="done"]').waitFor({ timeout: 120_000 });
  await page.locator('li[data-key="pod"][data-state="active"]').waitFor({ timeout: 120_000 });
  assert.equal(await page.locator('li[data-key="storage"]').getAttribute("data-state"), "done");
  assert.equal(await page.locator('li[data-key="clone"]').getAttribute("data-state"), "done", "cloned");
  assert.equal(await page.locator('li[data-key="ready"]').getAttribute("data-state"), "pending");
  assert.equal(await page.locator('li[data-key="pod"]').getAttribute("aria-current"), "step");
  assert.equal(await page.getByRole("status").textContent(), "Start the IDE…", "said to assistive tech");
  const elapsed = page.locator('li[data-key="pod"] .elapsed');
  const first = (await elapsed.textContent()) ?? "";
  assert.match(first, /^\d+ s$|^\d+ min \d+ s$/);
  // The elapsed time counts on by itself (the page's clock), with no new status in between. (Not
  // through page.waitForFunction: the page's CSP forbids the eval it needs, as it should.)
  const escaped = first.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  await elapsed.filter({ hasNotText: new RegExp(`^${escaped}$`) }).waitFor({ timeout: 30_000 });
  await screenshot({ page, sockets: [] }, "console-pages-waiting");

  // A second tab now gets the waiting page from the server, steps and elapsed time included.
  const other = await b.newPage();
  const res = await other.page.goto(urlOf("gated"), { waitUntil: "domcontentloaded" });
  assert.equal(res?.status(), 503);
  const html = await res!.text();
  assert.match(html, /<li data-key="pod" data-state="active" aria-current="step">/);
  assert.match(html, /<li data-key="storage" data-state="done">[\s\S]*?class="elapsed">\d+ (s|min)/);

  await writeToVolume(c, suite.ns, "gated", "gate.txt", "open\n");
  await page.getByText("Directory listing for /").waitFor({ timeout: 120_000 });
  assert.ok(await page.getByRole("link", { name: "gate.txt" }).isVisible(), "the workspace itself");
  assert.equal(page.url(), urlOf("gated"), "opened in place");
  const order = (key: string) => seen.filter((s) => s.startsWith(`${key}:`)).map((s) => s.split(":")[1]);
  assert.deepEqual(
    order("pod")
      .filter((s, i, a) => a[i - 1] !== s)
      .slice(0, 2),
    ["pending", "active"],
  );
  assert.ok(order("storage").includes("done"), seen.join(" "));
});

test("Start on a stopped Jupyter workspace: the steps, then Jupyter loads in that tab and runs 1+1", async () => {
  const { b, page, status } = await loggedIn("alice", urlOf("nb", "tree"));
  assert.equal(status, 404);
  const seen = await recordSteps(page);
  await page.reload({ waitUntil: "load" });
  await page.getByRole("button", { name: "Start" }).click();
  await page.locator("#steps").waitFor({ state: "visible" });
  // The page reloads by itself once the proxy can route to the IDE: Jupyter's file browser.
  await page.locator("#notebook_list").waitFor({ timeout: 180_000 });
  assert.equal(page.url(), urlOf("nb", "tree"));
  assert.ok(seen.includes("pod:active") || seen.includes("storage:active"), `steps seen: ${seen.join(" ")}`);
  assert.ok(seen.includes("clone:skipped"), "no repository: no clone step");
  await checkJupyter(b, urlOf("nb"), "console-pages-jupyter");
});

type StatusData = { phase: string; steps: { key: string; state: string }[] };

/**
 * The first `status` event of the workspace at `host`, on replica `via`'s stream, that `want`
 * accepts: its id and data. (node:http, not fetch: fetch cannot set Host.)
 */
function statusEvent(
  via: ProxyProcess,
  host: string,
  cookie: string,
  want: (s: StatusData) => boolean,
  lastEventId?: string,
): Promise<{ id: string; data: StatusData }> {
  return new Promise((resolve, reject) => {
    const headers = {
      host,
      cookie,
      accept: "text/event-stream",
      ...(lastEventId ? { "last-event-id": lastEventId } : {}),
    };
    const req = request(`${via.url}/__portico/events`, { headers, agent: false }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`the stream answered ${res.statusCode}`));
      let buf = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        buf += chunk;
        let end: number;
        while ((end = buf.indexOf("\n\n")) >= 0) {
          const block = buf.slice(0, end);
          buf = buf.slice(end + 2);
          const id = /^id: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (!/^event: status$/m.test(block) || !data || !id) continue;
          const s = JSON.parse(data) as StatusData;
          if (want(s)) {
            req.destroy();
            return resolve({ id, data: s });
          }
        }
      });
      res.on("end", () => reject(new Error("the stream ended")));
    });
    req.on("error", reject);
    req.setTimeout(120_000, () => req.destroy(new Error("no matching status event within 120 s")));
    req.end();
  });
}

test("two replicas, no sticky sessions: the page from one, Start and the stream from the other", async () => {
  const cookie = await sessionCookie(px, idp, "alice");
  const host = px.hostFor(suite.ns, "twin");
  const page = (via: ProxyProcess) => api(via, { path: "/", host, cookie, headers: { accept: "text/html" } });
  const a = await page(px);
  const b = await page(pxB);
  assert.deepEqual([a.status, b.status], [404, 404], "stopped on both");
  assert.match(a.body, /<button id="start"/);
  const asset = (html: string) => /src="([^"]+page\.js[^"]*)"/.exec(html)?.[1];
  assert.equal(asset(a.body), asset(b.body), "the same script URL (content hash) on every replica");
  const seen = await statusEvent(px, host, cookie, (s) => s.phase === "Stopped");

  // Start through replica B, from the page replica A served (same origin: the workspace's host).
  const started = await api(pxB, {
    method: "POST",
    path: "/__portico/start",
    host,
    cookie,
    headers: { origin: `http://${host}`, "sec-fetch-site": "same-origin", referer: `http://${host}/` },
  });
  assert.equal(started.status, 202, started.body);
  // Replica A's stream, resumed from the event it gave before: the start shows up with its steps.
  const next = await statusEvent(
    px,
    host,
    cookie,
    (s) => s.phase !== "Stopped" && s.steps.some((x) => x.state === "active"),
    seen.id,
  );
  assert.notEqual(next.id, seen.id);
  assert.equal(next.data.steps.length, 4);
  // Replica B's page is the waiting page now (its own informer saw the change).
  const waiting = await eventually(
    "the waiting page on replica B",
    async () => {
      const w = await page(pxB);
      return w.status === 503 ? w : undefined;
    },
    60_000,
    200,
  );
  assert.match(waiting.body, /<li data-key="storage"|<li data-key="pod"/);
  assert.match(waiting.body, /data-state="active" aria-current="step"/);
});
