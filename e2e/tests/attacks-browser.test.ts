/**
 * The Chromium attack (issue 11, "Done when"): alice logs in through the real OpenID provider
 * (npm `oidc-provider`) in real Chromium, then opens a page that bob's workspace serves — bob shared
 * his workspace with her, so she may open it, and its page runs with her session cookie in the
 * browser (the cookie is on the base domain: every workspace host is "same-site"). The page's script
 * tries every way we know to list alice's files and to reach a kernel of hers: cross-origin fetches
 * with credentials (CORS and no-cors), a form POST, the compatible path on bob's own host and on the
 * base domain, the path-mode URL, WebSockets to her host and through the compatible path, an iframe.
 *
 * Proof: alice's Jupyter, read straight from its pod IP, has the same kernels (same ids, no
 * connection, same last activity), sessions and files as before; the script read nothing of hers
 * (what it saw is reported back and printed as a diagnostic); and the proxy counted its refusals
 * on alice's route (403) — the requests were stopped by the proxy, not only by the browser.
 */
import assert from "node:assert/strict";
import { before, test } from "node:test";
import { writeToVolume } from "../ide/checks.ts";
import { launchBrowser, type TestBrowser } from "../lib/browser.ts";
import { jupyterAt, type JupyterDirect } from "../lib/jupyter-state.ts";
import { eventually } from "../lib/kube.ts";
import { startOidcProvider, type OidcProvider } from "../lib/oidc.ts";
import { stateDir } from "../lib/operator.ts";
import { startProxy, type ProxyProcess } from "../lib/proxy.ts";
import { clusterSuite } from "../lib/suite.ts";
import { jupyterClass, tinyClass } from "../lib/workspaces.ts";

const PROVIDER = "198.18.0.97";
const PROXY = "198.18.0.96";
const BASE = "http://portico.test:8080";

const suite = clusterSuite("attacks-browser", {
  classes: { jupyter: jupyterClass, site: tinyClass },
  workspaces: [
    { name: "alice-nb", class: "jupyter", owner: "alice" },
    { name: "bob-site", class: "site", owner: "bob", spec: { sharedWith: { users: ["alice"] } } },
  ],
});
let px: ProxyProcess;
let idp: OidcProvider;
let browser: TestBrowser;
let victim: JupyterDirect;
let kernel: string;

before(async () => {
  await suite.ready();
  suite.onTeardown(async () => {
    await browser?.close();
    await px?.stop();
    await idp?.stop();
  });
  idp = await startOidcProvider({
    address: PROVIDER,
    port: 9000,
    redirectUris: [`${BASE}/__portico/auth/callback`],
    name: "attacks-browser-provider",
  });
  px = await startProxy({
    address: PROXY,
    port: 8080,
    name: "attacks-browser-proxy",
    flags: [
      "--auth=oidc",
      `--oidc-issuer=${idp.issuer}`,
      `--oidc-client-id=${idp.clientId}`,
      `--oidc-client-secret=${idp.clientSecret}`,
      `--oidc-audiences=portico`,
      `--public-url=${BASE}`,
    ],
  });
  browser = await launchBrowser({ parentDir: stateDir(), hostMap: { "portico.test": PROXY } });
  victim = await jupyterAt(suite.c, suite.ns, "alice-nb", "");
  kernel = await victim.startKernel();
  suite.onTeardown(() => victim.deleteKernel(kernel));
});

/** The attacker's page: every attempt's outcome goes into `window.__attack` as `name → what it saw`. */
function attackPage(o: { alice: string; ns: string; cls: string; kernel: string }): string {
  const compat = `/api/v1/connect/${o.ns}/alice/${o.cls}`;
  const aliceWs = o.alice.replace(/^http/, "ws");
  const baseWs = BASE.replace(/^http/, "ws");
  return `<!doctype html><html><head><meta charset="utf-8"><title>bob's page</title></head><body>
<iframe name="sink" id="sink"></iframe>
<script>
const seen = {};
const show = async (r) => {
  let body = "";
  try { body = (await r.text()).slice(0, 200); } catch (e) { body = "(unreadable: " + e + ")"; }
  return r.type + " " + r.status + " " + body;
};
const attempt = async (name, fn) => {
  try { seen[name] = await fn(); } catch (e) { seen[name] = "failed: " + e.name + ": " + e.message; }
};
const socket = (url) => new Promise((resolve) => {
  let ws;
  try { ws = new WebSocket(url); } catch (e) { return resolve("threw: " + e); }
  const t = setTimeout(() => { ws.close(); resolve("no answer"); }, 5000);
  ws.onopen = () => { clearTimeout(t); ws.send("{}"); ws.close(); resolve("OPEN"); };
  ws.onclose = (e) => { clearTimeout(t); resolve("closed " + e.code); };
});
(async () => {
  const A = ${JSON.stringify(o.alice)};
  const C = ${JSON.stringify(compat)};
  const K = ${JSON.stringify(o.kernel)};
  await attempt("fetch alice's file list (cors, credentials)", async () => show(await fetch(A + "/api/contents/", { credentials: "include" })));
  await attempt("fetch alice's kernel list (cors, credentials)", async () => show(await fetch(A + "/api/kernels", { credentials: "include" })));
  await attempt("POST a kernel (no-cors, credentials)", async () => show(await fetch(A + "/api/kernels", { method: "POST", mode: "no-cors", credentials: "include", body: "{}" })));
  await attempt("POST a kernel (cors, JSON, credentials)", async () => show(await fetch(A + "/api/kernels", { method: "POST", credentials: "include", headers: { "content-type": "application/json" }, body: "{}" })));
  await attempt("PUT a file (no-cors, credentials)", async () => show(await fetch(A + "/api/contents/pwned.txt", { method: "PUT", mode: "no-cors", credentials: "include", body: '{"type":"file","format":"text","content":"pwned"}' })));
  await attempt("DELETE the kernel (no-cors, credentials)", async () => show(await fetch(A + "/api/kernels/" + K, { method: "DELETE", mode: "no-cors", credentials: "include" })));
  await attempt("form POST a kernel", () => new Promise((resolve) => {
    const f = document.createElement("form");
    f.method = "POST"; f.action = A + "/api/kernels"; f.target = "sink"; f.enctype = "text/plain";
    const i = document.createElement("input"); i.name = "{}"; i.value = ""; f.appendChild(i);
    document.body.appendChild(f);
    document.getElementById("sink").onload = () => {
      let text;
      try { text = document.getElementById("sink").contentDocument.body.innerText.slice(0, 200); } catch (e) { text = "(unreadable: " + e.name + ")"; }
      resolve("loaded: " + text);
    };
    f.submit();
  }));
  await attempt("compat path relative to the page's own origin, list files", async () => show(await fetch(C + "/api/contents/")));
  await attempt("compat path relative to the page's own origin, POST a kernel", async () => show(await fetch(C + "/api/kernels", { method: "POST", body: "{}" })));
  await attempt("compat path on the base domain, list files (credentials)", async () => show(await fetch(${JSON.stringify(BASE)} + C + "/api/contents/", { credentials: "include" })));
  await attempt("compat path on the base domain, POST a kernel (no-cors)", async () => show(await fetch(${JSON.stringify(BASE)} + C + "/api/kernels", { method: "POST", mode: "no-cors", credentials: "include", body: "{}" })));
  await attempt("path-mode URL on the base domain, list files", async () => show(await fetch(${JSON.stringify(BASE)} + "/w/${o.ns}/alice-nb/api/contents/", { credentials: "include" })));
  await attempt("path-mode URL on the base domain, POST a kernel (no-cors)", async () => show(await fetch(${JSON.stringify(BASE)} + "/w/${o.ns}/alice-nb/api/kernels", { method: "POST", mode: "no-cors", credentials: "include", body: "{}" })));
  await attempt("WebSocket to alice's kernel", () => socket(${JSON.stringify(aliceWs)} + "/api/kernels/" + K + "/channels?session_id=bob"));
  await attempt("WebSocket through the compat path on the base domain", () => socket(${JSON.stringify(baseWs)} + C + "/api/kernels/" + K + "/channels?session_id=bob"));
  await attempt("WebSocket through the compat path on the page's own origin", () => socket((location.origin.replace(/^http/, "ws")) + C + "/api/kernels/" + K + "/channels?session_id=bob"));
  await attempt("WebSocket through the path-mode URL", () => socket(${JSON.stringify(baseWs)} + "/w/${o.ns}/alice-nb/api/kernels/" + K + "/channels?session_id=bob"));
  await attempt("iframe alice's workspace and read it", () => new Promise((resolve) => {
    const f = document.createElement("iframe");
    f.src = A + "/api/contents/";
    f.onload = () => { try { resolve("read: " + f.contentDocument.body.innerText.slice(0, 200)); } catch (e) { resolve("(unreadable: " + e.name + ")"); } };
    document.body.appendChild(f);
    setTimeout(() => resolve("no load"), 5000);
  }));
  window.__attack = seen;
})();
</script></body></html>`;
}

/** Opens `url` logged out and logs in at the provider's form as `user`; the page ends on `url`. */
async function login(url: string, user: string): Promise<void> {
  const { page } = await browser.newPage();
  await page.goto(url, { waitUntil: "domcontentloaded" });
  assert.match(
    page.url(),
    new RegExp(`^${idp.issuer}/`),
    `sent to the provider to log in (at ${page.url()})`,
  );
  await page.fill('input[name="login"]', user);
  await page.fill('input[name="password"]', "any");
  const back = page.waitForURL((u) => u.href.startsWith(url), { waitUntil: "domcontentloaded" });
  await page.click('button[type="submit"]');
  await back;
  await page.close();
}

test("attack: in Chromium, a page of bob's shared workspace tries every path to alice's files and kernels; nothing reaches them", async (t) => {
  const aliceOrigin = `http://${px.hostFor(suite.ns, "alice-nb")}`;
  const bobOrigin = `http://${px.hostFor(suite.ns, "bob-site")}`;
  await writeToVolume(
    suite.c,
    suite.ns,
    "bob-site",
    "attack.html",
    attackPage({ alice: aliceOrigin, ns: suite.ns, cls: suite.cls.jupyter, kernel }),
  );
  await login(`${aliceOrigin}/api`, "alice");
  // Alice's session works on her own workspace (the control: the cookie reaches her host).
  const { page } = await browser.newPage();
  assert.equal((await page.goto(`${aliceOrigin}/api/kernels`))?.status(), 200);
  const before = await victim.state();
  assert.deepEqual(
    before.kernels.map((k) => [k.id, k.connections]),
    [[kernel, 0]],
  );
  // Bob's page, in the same browser: alice's session cookie goes with every request it makes. It is
  // opened at bob's own host, and as an attacker would link it: through the compatible path on the
  // base domain (where, served, it would be same-origin with every workspace's compatible path).
  const entries = [
    {
      how: "linked through the compatible path on the base domain",
      url: `${BASE}/api/v1/connect/${suite.ns}/bob/${suite.cls.site}/attack.html`,
    },
    { how: "at bob's own host", url: `${bobOrigin}/attack.html` },
  ];
  for (const { how, url } of entries) {
    const refusedBefore = await px.metric("portico_proxy_requests_total", {
      route: `${suite.ns}/alice-nb`,
      code: "403",
    });
    const res = await page.goto(url, { waitUntil: "domcontentloaded" });
    assert.equal(res?.status(), 200, `bob's page loads for alice (shared with her), ${how}`);
    const seen = await eventually(
      "the attacker's script is done",
      async () =>
        (await page.evaluate(
          () => (globalThis as unknown as { __attack?: Record<string, string> }).__attack,
        )) ?? undefined,
      60_000,
      250,
    );
    t.diagnostic(`what bob's page (${how}) saw:\n${JSON.stringify(seen, null, 2)}`);

    // The script read nothing of alice's: no file list, no kernel list, no kernel id, no open socket.
    assert.equal(Object.keys(seen).length, 18, "every attempt ran");
    for (const [name, outcome] of Object.entries(seen)) {
      assert.doesNotMatch(outcome, /OPEN/, `${how}, ${name}: a WebSocket opened`);
      assert.doesNotMatch(outcome, new RegExp(kernel), `${how}, ${name}: saw alice's kernel id`);
      assert.doesNotMatch(
        outcome,
        /"content"|"execution_state"|"last_modified"/,
        `${how}, ${name}: saw alice's data`,
      );
      assert.doesNotMatch(outcome, /^(basic|cors) 20\d/, `${how}, ${name}: a successful readable answer`);
    }

    // Host mode serves bob's page on bob's own origin only (the compatible path answered 308).
    assert.equal(new URL(page.url()).origin, bobOrigin, `bob's page runs on bob's own origin, ${how}`);
    // Proof: alice's Jupyter is exactly as it was (same kernel, no connection, same activity; no file).
    assert.deepEqual(
      await victim.state(),
      before,
      `${how}: alice's kernels, sessions and files are unchanged`,
    );
    // And the proxy itself refused what reached alice's host (the unsafe requests and the socket).
    const refused =
      (await px.metric("portico_proxy_requests_total", { route: `${suite.ns}/alice-nb`, code: "403" })) -
      refusedBefore;
    assert.ok(refused >= 4, `${how}: the proxy refused ${refused} requests on alice's route (403)`);
  }
});
