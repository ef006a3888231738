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
 *   Jupyter itself loads in that tab and runs `1+1` on a kernel.
 *
 * Real parts: cluster, operator, proxy, OpenID provider, git server (git http-backend), Jupyter
 * Server, Chromium.
 */
import { before, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { createRepository, startGitServer, type GitServer } from "../fixtures/git-server.ts";
import { checkJupyter, screenshot, writeToVolume } from "../ide/checks.ts";
import { launchBrowser, type TestBrowser } from "../lib/browser.ts";
import { uniqueName } from "../lib/kube.ts";
import { startOidcProvider, type OidcProvider } from "../lib/oidc.ts";
import { stateDir } from "../lib/operator.ts";
import { startProxy, type ProxyProcess } from "../lib/proxy.ts";
import { clusterSuite } from "../lib/suite.ts";
import { createWorkspace, getWorkspace, jupyterClass, tinyClass, workspace } from "../lib/workspaces.ts";

const PROVIDER = "198.18.0.190";
const GIT = "198.18.0.191";
const PROXY = "198.18.0.192";
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
  px = await startProxy({
    address: PROXY,
    port: 8080,
    name: "console-pages-proxy",
    flags: [
      "--auth=oidc",
      `--oidc-issuer=${idp.issuer}`,
      `--oidc-client-id=${idp.clientId}`,
      `--oidc-client-secret=${idp.clientSecret}`,
      "--oidc-audiences=portico",
      `--public-url=${PUBLIC}`,
      "--rate-limit-ip=0",
      "--rate-limit-user=0",
    ],
  });
  suite.onTeardown(() => px.stop());
  suite.onTeardown(async () => {
    for (const b of browsers) await b.close();
  });
  const ns = suite.ns;
  await createWorkspace(
    c,
    workspace(ns, "nb", { className: suite.cls.jupyter, running: false, sharedWith: { users: ["bob"] } }),
  );
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
  const start = page.getByRole("button", { name: "Start" });
  await start.click();
  // The IDE waits on gate.txt: the pod step stays active until the test writes it.
  await page.locator('li[data-key="pod"][data-state="active"]').waitFor({ timeout: 120_000 });
  assert.equal(await page.locator('li[data-key="storage"]').getAttribute("data-state"), "done");
  assert.equal(await page.locator('li[data-key="clone"]').getAttribute("data-state"), "done", "cloned");
  assert.equal(await page.locator('li[data-key="ready"]').getAttribute("data-state"), "pending");
  assert.equal(await page.locator('li[data-key="pod"]').getAttribute("aria-current"), "step");
  assert.equal(await page.getByRole("status").textContent(), "Start the IDE…", "said to assistive tech");
  const elapsed = page.locator('li[data-key="pod"] .elapsed');
  const first = (await elapsed.textContent()) ?? "";
  assert.match(first, /^\d+ s$|^\d+ min \d+ s$/);
  // The elapsed time counts on by itself (the page's clock), with no new status in between.
  await page.waitForFunction(
    `document.querySelector('li[data-key="pod"] .elapsed')?.textContent !== ${JSON.stringify(first)}`,
  );
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
