/**
 * Browser login (OIDC authorization code + PKCE) against a REAL OpenID provider (npm
 * `oidc-provider`, e2e/fixtures/oidc-provider.ts), in real Chromium, through the proxy in
 * `--auth=oidc` and host routing: a logged-out visit to a workspace URL goes to the provider's login
 * form and, once logged in, back to the workspace, where Jupyter runs `1+1` on a kernel (the session
 * cookie, set on the base domain, reaches the workspace's own host and its WebSocket). Another
 * user gets 403 on the same URL, over HTTP and WebSocket, until the workspace is shared with them. When the provider's tokens expire, the session goes on through
 * its refresh token. Logging out clears the session.
 */
import { before, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { checkJupyter } from "../ide/checks.ts";
import { launchBrowser, type TestBrowser } from "../lib/browser.ts";
import { eventually } from "../lib/kube.ts";
import { startOidcProvider, type OidcProvider } from "../lib/oidc.ts";
import { stateDir } from "../lib/operator.ts";
import { startProxy, type ProxyProcess } from "../lib/proxy.ts";
import { clusterSuite } from "../lib/suite.ts";
import { jupyterClass, patchWorkspace } from "../lib/workspaces.ts";

const PROVIDER = "198.18.0.30";
const PROXY = "198.18.0.25";
const PUBLIC = "http://portico.test:8080";

const suite = clusterSuite("identity-browser", {
  classes: { jupyter: jupyterClass },
  workspaces: [{ name: "nb", class: "jupyter", owner: "alice" }],
});
const c = suite.c;
let px: ProxyProcess;
let idp: OidcProvider;
const browsers: TestBrowser[] = [];

before(async () => {
  await suite.ready();
  suite.onTeardown(async () => {
    for (const b of browsers) await b.close();
    await px?.stop();
    await idp?.stop();
  });
  idp = await startOidcProvider({
    address: PROVIDER,
    port: 9000,
    redirectUris: [`${PUBLIC}/__portico/auth/callback`],
    postLogoutRedirectUris: [`${PUBLIC}/`],
    // ID tokens live 8 s: a session outlives them only through its refresh token.
    idTokenTtl: 8,
  });
  px = await startProxy({
    address: PROXY,
    port: 8080,
    name: "identity-browser-proxy",
    flags: [
      "--auth=oidc",
      `--oidc-issuer=${idp.issuer}`,
      `--oidc-client-id=${idp.clientId}`,
      `--oidc-client-secret=${idp.clientSecret}`,
      `--oidc-audiences=portico`,
      `--public-url=${PUBLIC}`,
    ],
  });
});

async function browser(): Promise<TestBrowser> {
  const b = await launchBrowser({ parentDir: stateDir(), hostMap: { "portico.test": PROXY } });
  browsers.push(b);
  return b;
}

/** Opens `url` logged out, logs in at the provider's form as `user`, and returns the page's final status. */
async function loginThrough(b: TestBrowser, url: string, user: string): Promise<number> {
  const { page } = await b.newPage();
  await page.goto(url, { waitUntil: "domcontentloaded" });
  assert.match(
    page.url(),
    new RegExp(`^${idp.issuer}/`),
    `sent to the provider to log in (at ${page.url()})`,
  );
  await page.fill('input[name="login"]', user);
  await page.fill('input[name="password"]', "any");
  const back = page.waitForURL((u) => u.href.startsWith(url), { waitUntil: "domcontentloaded" });
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.url() === url || r.url().startsWith(url)),
    page.click('button[type="submit"]'),
  ]);
  await back;
  return response.status();
}

test("logged out, a workspace URL goes to login; after login Jupyter loads and runs 1+1", async () => {
  const b = await browser();
  const base = `http://${px.hostFor(suite.ns, "nb")}/`;
  assert.equal(await loginThrough(b, `${base}tree`, "alice"), 200);
  const cookies = await b.context.cookies(base);
  const session = cookies.find((k) => k.name === "portico_session");
  assert.ok(session, "a session cookie");
  assert.equal(
    session.domain.replace(/^\./, ""),
    "portico.test",
    "on the base domain: every workspace host gets it",
  );
  assert.equal(session.httpOnly, true);
  assert.equal(session.sameSite, "Lax");
  assert.doesNotMatch(session.value, /alice/, "sealed, not readable");
  // The ID token kept for logout (id_token_hint) is sealed in a cookie only the auth routes get.
  assert.equal(
    cookies.find((k) => k.name === "portico_logout"),
    undefined,
    "the workspace host never gets it",
  );
  const hint = (await b.context.cookies(`${PUBLIC}/__portico/auth/logout`)).find(
    (k) => k.name === "portico_logout",
  );
  assert.ok(hint, "the public host's auth routes get it");
  assert.equal(hint.domain, "portico.test", "host-only");
  assert.equal(hint.path, "/__portico/auth/");
  await checkJupyter(b, base, "identity-jupyter-after-login");
});

test("another user gets 403 over HTTP and over WebSocket, and gets in once it is shared with them", async () => {
  const b = await browser();
  const base = `http://${px.hostFor(suite.ns, "nb")}/`;
  assert.equal(await loginThrough(b, `${base}api`, "bob"), 403);
  // A WebSocket from bob's page, with his session cookie: refused before the upgrade completes.
  const route = { route: `${suite.ns}/nb`, code: "403" };
  const { page } = await b.newPage();
  await page.goto(`${base}api`, { waitUntil: "load" }); // same site, so the cookie goes with the socket
  await page.waitForTimeout(500); // the page's own requests (favicon) are done
  const before = await px.metric("portico_proxy_requests_total", route);
  const outcome = await page.evaluate(
    (url) =>
      new Promise<string>((resolve) => {
        const ws = new WebSocket(url);
        ws.onopen = () => resolve("open");
        ws.onclose = (e) => resolve(`closed ${e.code}`);
      }),
    `ws://${px.hostFor(suite.ns, "nb")}/api/kernels/none/channels`,
  );
  assert.equal(outcome, "closed 1006", "the browser never got a WebSocket");
  assert.equal(await px.metric("portico_proxy_requests_total", route), before + 1, "the upgrade got 403");

  // Alice shares it with bob: the same browser, the same session, now gets in.
  await patchWorkspace(c, suite.ns, "nb", { sharedWith: { users: ["bob"] } });
  await eventually(
    "bob's page loads once shared",
    async () =>
      (await page.goto(`${base}api`, { waitUntil: "domcontentloaded" }))?.status() === 200 ? true : undefined,
    10_000,
    250,
  );
});

test("logout clears the session and goes to the provider's end-session page; the next visit goes to login again", async () => {
  const b = await browser();
  const base = `http://${px.hostFor(suite.ns, "nb")}/`;
  assert.equal(await loginThrough(b, `${base}api`, "alice"), 200);
  const { page } = await b.newPage();
  const ended = page.waitForResponse((r) => r.url().startsWith(`${idp.issuer}/session/end`));
  await page.goto(`${PUBLIC}/__portico/auth/logout`, { waitUntil: "domcontentloaded" });
  const endSession = new URL((await ended).url());
  assert.ok(endSession.searchParams.get("id_token_hint"), "RP-initiated logout with id_token_hint");
  assert.equal((await ended).status(), 200, "the provider accepts it (its sign-out page)");
  const left = (await b.context.cookies(base)).find((k) => k.name === "portico_session");
  assert.equal(left, undefined, "the session cookie is gone");
  // The next visit is sent to log in again (the provider may then let the browser straight back in:
  // its own session is its business).
  const first = page.waitForResponse((r) => r.url() === `${base}api`);
  await page.goto(`${base}api`, { waitUntil: "domcontentloaded" });
  const res = await first;
  assert.equal(res.status(), 302);
  assert.match((await res.allHeaders()).location ?? "", /\/__portico\/auth\/login\?rd=/);
});

test("when the provider's tokens expire the session is refreshed, not ended", async () => {
  const b = await browser();
  const base = `http://${px.hostFor(suite.ns, "nb")}/`;
  assert.equal(await loginThrough(b, `${base}api`, "alice"), 200);
  const sealed = async () => (await b.context.cookies(base)).find((k) => k.name === "portico_session")?.value;
  const first = await sealed();
  assert.ok(first);
  const tokenCalls = () => readFileSync(idp.logFile, "utf8").match(/POST \/token 200/g)?.length ?? 0;
  const callsBefore = tokenCalls();
  await new Promise((r) => setTimeout(r, 9_000)); // past the ID token's 8 s
  const { page } = await b.newPage();
  const res = await page.goto(`${base}api`, { waitUntil: "domcontentloaded" });
  assert.equal(res?.status(), 200, "still in, without a login");
  assert.match(page.url(), new RegExp(`^${base}`), "no trip to the provider's login");
  const second = await sealed();
  assert.ok(second && second !== first, "a new session cookie, sealed from the refreshed tokens");
  assert.ok(tokenCalls() > callsBefore, "the proxy went to the token endpoint (a refresh grant)");
});
