/**
 * Attacks on the pages a browser meets on a workspace URL and their Start endpoint
 * (`POST {prefix}/__portico/start`, proxy/pages/start.ts): every row sends what a hostile page, user
 * or client would — a POST from another workspace's host (which shares the session cookie's site),
 * from a foreign site, from the console's origin, without an Origin; a sharee's and a stranger's
 * start; a GET; no credentials; a start past the owner's running limit; the start path under another
 * workspace's prefix in path mode — and expects its refusal (status and error code). After every
 * row, proof that nothing reached the victim: every Workspace in the namespace has the generation
 * (spec changes) it had before, and the victim is still `spec.running: false`. Then HTML injection:
 * a workspace whose repository URL carries markup (the CRD allows any non-blank path) fails to
 * clone, and the operator copies the URL and git's words into its status and conditions; in real
 * Chromium its page shows that markup as text: no element made, no script run.
 *
 * Real parts: the cluster and operator, the OpenID provider (session cookies as a browser gets them),
 * the proxy in host mode and a second one in path mode, Chromium.
 */
import { request } from "node:http";
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { GROUP, VERSION, WORKSPACE, type Workspace } from "../../crds/types.ts";
import { api, sessionCookie, type ApiAnswer, type ApiCall } from "../lib/api-client.ts";
import { launchBrowser, type TestBrowser } from "../lib/browser.ts";
import { eventually } from "../lib/kube.ts";
import { proxyOidcFlags, startOidcProvider, type OidcProvider } from "../lib/oidc.ts";
import { stateDir } from "../lib/operator.ts";
import { startProxy, type ProxyProcess } from "../lib/proxy.ts";
import { clusterSuite } from "../lib/suite.ts";
import { condition, createWorkspace, getWorkspace, tinyClass, workspace } from "../lib/workspaces.ts";

const PROVIDER = "198.18.0.185";
const PROXY = "198.18.0.186";
const PATH_PROXY = "198.18.0.187";
/** Tight limits: 1 request/s per user (burst 4), 2 long-lived connections per user. */
const LIMITED_PROXY = "198.18.0.188";
const PUBLIC = "http://portico.test:8080";
// Markup with no whitespace (a repository URL allows none): `/` separates attributes in HTML.
const PAYLOAD = `"><img/id=pwned/src=x/onerror=document.title=1><script>document.title=2</script>`;
/** A clone URL carrying the payload; nothing listens on port 9, so git fails and says so. */
const EVIL_URL = `http://127.0.0.1:9/${PAYLOAD}.git`;

const suite = clusterSuite("attacks-console-pages", {
  classes: {
    tiny: tinyClass,
    // Clones over http (the payload's URL): the operator copies git's failure into the status.
    evil: (name: string) => {
      const cls = tinyClass(name);
      return { ...cls, spec: { ...cls.spec, git: { allowedProtocols: ["http"] } } };
    },
  },
});
const c = suite.c;
let idp: OidcProvider;
let px: ProxyProcess;
let pathPx: ProxyProcess;
let limitedPx: ProxyProcess;
const cookies = new Map<string, string>();

before(async () => {
  await suite.ready();
  const ns = suite.ns;
  const stopped = { className: suite.cls.tiny, running: false };
  // alice's victim (shared with bob) and another workspace of hers, both stopped; carol is at her
  // running limit (1) with one running and one stopped.
  await createWorkspace(c, workspace(ns, "victim", { ...stopped, sharedWith: { users: ["bob"] } }));
  await createWorkspace(c, workspace(ns, "other", stopped));
  await createWorkspace(c, workspace(ns, "carol-busy", { className: suite.cls.tiny, owner: "carol" }));
  await createWorkspace(c, workspace(ns, "carol-idle", { ...stopped, owner: "carol" }));
  // bob's (not alice's: alice's running count stays 0 for the control row).
  await createWorkspace(
    c,
    workspace(ns, "evil", { className: suite.cls.evil, owner: "bob", repository: { url: EVIL_URL } }),
  );
  idp = await startOidcProvider({
    address: PROVIDER,
    port: 9000,
    redirectUris: [`${PUBLIC}/__portico/auth/callback`, "http://portico.test:8081/__portico/auth/callback"],
    name: "attacks-console-pages-oidc",
  });
  suite.onTeardown(() => idp.stop());
  const flags = (publicUrl: string) => [
    ...proxyOidcFlags(idp, publicUrl),
    "--api-max-running=1",
    "--rate-limit-ip=0",
    "--rate-limit-user=0",
  ];
  px = await startProxy({ address: PROXY, port: 8080, name: "attacks-pages-proxy", flags: flags(PUBLIC) });
  suite.onTeardown(() => px.stop());
  pathPx = await startProxy({
    address: PATH_PROXY,
    port: 8081,
    name: "attacks-pages-path-proxy",
    flags: [...flags("http://portico.test:8081"), "--routing=path"],
  });
  suite.onTeardown(() => pathPx.stop());
  limitedPx = await startProxy({
    address: LIMITED_PROXY,
    port: 8080,
    name: "attacks-pages-limited-proxy",
    flags: [
      ...flags(PUBLIC).filter((f) => !f.startsWith("--rate-limit-user")),
      "--rate-limit-user=1",
      "--rate-limit-burst=4",
      "--max-connections-per-user=2",
    ],
  });
  suite.onTeardown(() => limitedPx.stop());
  for (const user of ["alice", "bob", "carol"]) cookies.set(user, await sessionCookie(px, idp, user));
  cookies.set("alice@path", await sessionCookie(pathPx, idp, "alice"));
  await eventually(
    "carol-busy running",
    async () => ((await getWorkspace(c, ns, "carol-busy")).status?.phase === "Running" ? true : undefined),
    90_000,
  );
});

/** name → generation and spec.running of every Workspace in the suite's namespace. */
async function snapshot(): Promise<Map<string, string>> {
  const list = (await c.custom.listNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    namespace: suite.ns,
    plural: WORKSPACE.plural,
  })) as { items: Workspace[] };
  return new Map(
    list.items.map((w) => [w.metadata.name!, JSON.stringify([w.metadata.generation, w.spec.running])]),
  );
}

const hostOf = (name: string) => `${name}--${suite.ns}.portico.test:8080`;
const own = (name: string) => `http://${hostOf(name)}`;

/** A start as `user` on `name`'s own host, with browser-like headers; `headers` override them. */
const start = (name: string, user: string | undefined, headers: Record<string, string> = {}): ApiCall => ({
  method: "POST",
  path: "/__portico/start",
  host: hostOf(name),
  ...(user ? { cookie: cookies.get(user)! } : {}),
  headers: {
    origin: own(name),
    "sec-fetch-site": "same-origin",
    referer: `${own(name)}/`,
    ...headers,
  },
});

interface Row {
  attack: string;
  call: () => ApiCall;
  /** Default: the host-mode proxy. */
  via?: () => ProxyProcess;
  status: number;
  error?: string;
  check?: (a: ApiAnswer) => void;
}

const rows: Row[] = [
  {
    attack: "POST from another workspace's host (same site: the session cookie goes along)",
    call: () =>
      start("victim", "alice", {
        origin: own("other"),
        "sec-fetch-site": "same-site",
        referer: `${own("other")}/`,
      }),
    status: 403,
    error: "cross_origin",
  },
  {
    attack: "POST from a foreign site",
    call: () =>
      start("victim", "alice", {
        origin: "http://evil.example",
        "sec-fetch-site": "cross-site",
        referer: "http://evil.example/",
      }),
    status: 403,
    error: "cross_origin",
  },
  {
    attack: "POST from the console's origin (the base domain: it starts through the API instead)",
    call: () =>
      start("victim", "alice", { origin: PUBLIC, "sec-fetch-site": "same-site", referer: `${PUBLIC}/` }),
    status: 403,
    error: "cross_origin",
  },
  {
    attack: "POST without Origin (a client replaying the cookie)",
    call: () => {
      const call = start("victim", "alice");
      delete call.headers!.origin;
      delete call.headers!["sec-fetch-site"];
      return call;
    },
    status: 403,
    error: "cross_origin",
  },
  {
    attack: "Origin: null with Sec-Fetch-Site: same-origin (a sandboxed frame of the page)",
    call: () => start("victim", "alice", { origin: "null" }),
    status: 403,
    error: "cross_origin",
  },
  {
    attack: "a sharee's start from the workspace's own page",
    call: () => start("victim", "bob"),
    status: 403,
    error: "forbidden",
  },
  {
    attack: "a stranger's start from the workspace's own page (carol: neither owner nor sharee)",
    call: () => start("victim", "carol"),
    status: 404,
    error: "not_found",
  },
  {
    attack: "GET on the start path (a link or an <img> the page is tricked into loading)",
    call: () => ({ ...start("victim", "alice"), method: "GET" }),
    status: 405,
    error: "method_not_allowed",
    check: (a) => assert.equal(a.headers.allow, "POST"),
  },
  {
    attack: "no credentials",
    call: () => start("victim", undefined),
    status: 401,
    error: "unauthenticated",
  },
  {
    attack: "a start past the owner's running limit (carol: 1 running, limit 1)",
    call: () => start("carol-idle", "carol"),
    status: 429,
    error: "too_many_running",
    check: (a) =>
      assert.deepEqual(
        a.json.details.candidates.map((x: { name: string }) => x.name),
        ["carol-busy"],
        "names what to stop",
      ),
  },
  {
    attack: "path mode: the victim's start path posted from another workspace's page on the shared origin",
    via: () => pathPx,
    call: () => ({
      method: "POST",
      path: `/w/${suite.ns}/victim/__portico/start`,
      host: "portico.test:8081",
      cookie: cookies.get("alice@path")!,
      headers: {
        origin: "http://portico.test:8081",
        "sec-fetch-site": "same-origin",
        referer: `http://portico.test:8081/w/${suite.ns}/other/`,
      },
    }),
    status: 403,
    error: "cross_origin",
  },
  {
    attack: "path mode: a prefix that only starts like the victim's (…/victim-x/ page)",
    via: () => pathPx,
    call: () => ({
      method: "POST",
      path: `/w/${suite.ns}/victim/__portico/start`,
      host: "portico.test:8081",
      cookie: cookies.get("alice@path")!,
      headers: {
        origin: "http://portico.test:8081",
        referer: `http://portico.test:8081/w/${suite.ns}/victimx/`,
      },
    }),
    status: 403,
    error: "cross_origin",
  },
];

describe("the Start endpoint refuses, and nothing reaches the victim", () => {
  for (const row of rows)
    test(row.attack, async () => {
      const before = await snapshot();
      const a = await api((row.via ?? (() => px))(), row.call());
      assert.equal(a.status, row.status, a.body);
      if (row.error) assert.equal(a.json?.error, row.error, a.body);
      row.check?.(a);
      assert.deepEqual(await snapshot(), before, "no workspace changed");
      assert.equal(
        (await getWorkspace(c, suite.ns, "victim")).spec.running,
        false,
        "the victim is still stopped",
      );
    });

  test("control: the owner's start from the workspace's own page is accepted (202), and only that one starts", async () => {
    const before = await snapshot();
    const a = await api(px, start("other", "alice"));
    assert.equal(a.status, 202, a.body);
    assert.equal(a.json.workspace.running, true);
    const after = await snapshot();
    assert.notDeepEqual(after.get("other"), before.get("other"));
    after.delete("other");
    before.delete("other");
    assert.deepEqual(after, before, "no other workspace changed");
  });
});

describe("HTML injection through what a workspace's status says", () => {
  let browser: TestBrowser;
  before(async () => {
    browser = await launchBrowser({ parentDir: stateDir(), hostMap: { "portico.test": PROXY } });
    suite.onTeardown(() => browser.close());
    const cookie = cookies.get("bob")!;
    const [name, value] = [cookie.slice(0, cookie.indexOf("=")), cookie.slice(cookie.indexOf("=") + 1)];
    await browser.context.addCookies([{ name, value, domain: ".portico.test", path: "/", httpOnly: true }]);
  });

  test("markup in a repository URL, copied into the status by a failed clone, stays text", async () => {
    await eventually(
      "evil's failed clone in its status",
      async () => {
        const ws = await getWorkspace(c, suite.ns, "evil");
        const pod = condition(ws, "PodReady");
        return pod?.reason === "InitContainerFailed" && pod.message.includes("<img") ? ws : undefined;
      },
      120_000,
      500,
    );
    const { page } = await browser.newPage();
    const dialogs: string[] = [];
    page.on("dialog", (d) => void (dialogs.push(d.message()), d.dismiss()));
    const res = await page.goto(`${own("evil")}/`, { waitUntil: "load" });
    assert.equal(res?.status(), 503, "the failed page");
    // As served: escaped (the script rewrites some of it as text later, so the DOM alone would not tell).
    const html = await res!.text();
    assert.ok(!html.includes("<img/id=pwned"), "no such tag in the HTML the server sent");
    assert.ok(html.includes("&lt;img/id=pwned"), "the escaped text instead");
    // The page's own script has applied the live snapshot (its steps carry the same text).
    await page.locator('li[data-key="clone"][data-state="failed"]').waitFor({ timeout: 60_000 });
    const seen = {
      title: await page.title(),
      injected: await page.locator("#pwned, img, main script").count(),
      detail: (await page.locator('li[data-key="clone"] .detail').textContent()) ?? "",
      status: (await page.locator("#status").textContent()) ?? "",
    };
    assert.equal(seen.injected, 0, "no element made from the payload");
    assert.match(seen.title, /evil/, "the title is the page's own, no script changed it");
    assert.ok(seen.detail.includes(PAYLOAD), `the payload is shown as text: ${seen.detail}`);
    assert.ok(seen.status.includes("<img/id=pwned"), `the live status says it as text: ${seen.status}`);
    assert.deepEqual(dialogs, []);
  });
});

/** Opens `path` on `host` as a status stream with a bearer token; its status, and a way to close it. */
function openStream(
  via: ProxyProcess,
  host: string,
  token: string,
): Promise<{ status: number; close: () => void }> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${via.url}/__portico/events`,
      { headers: { host, authorization: `Bearer ${token}`, accept: "text/event-stream" }, agent: false },
      (res) => {
        res.resume();
        resolve({ status: res.statusCode ?? 0, close: () => req.destroy() });
      },
    );
    req.on("error", (err) => (req.destroyed ? undefined : reject(err)));
    req.end();
  });
}

describe("limits: what the pages add is capped per user", () => {
  test("more status streams (waiting pages) than the per-user cap: the third is 429", async () => {
    const token = (await idp.tokensFor("bob")).accessToken;
    const held = [await openStream(limitedPx, hostOf("victim"), token)];
    held.push(await openStream(limitedPx, hostOf("victim"), token));
    try {
      assert.deepEqual(
        held.map((h) => h.status),
        [200, 200],
        "bob may open the shared workspace's stream",
      );
      const third = await api(limitedPx, {
        path: "/__portico/events",
        host: hostOf("victim"),
        token,
        headers: { accept: "text/event-stream" },
      });
      assert.equal(third.status, 429, third.body);
      assert.equal(third.json.error, "rate_limited");
    } finally {
      for (const h of held) h.close();
    }
  });

  test("a flood of starts by one user: past the per-user rate, 429; nothing reaches the victim", async () => {
    const token = (await idp.tokensFor("bob")).accessToken;
    const before = await snapshot();
    const answers = await Promise.all(
      Array.from({ length: 20 }, () =>
        api(limitedPx, {
          method: "POST",
          path: "/__portico/start",
          host: hostOf("victim"),
          token,
          headers: { origin: own("victim"), "sec-fetch-site": "same-origin", referer: `${own("victim")}/` },
        }),
      ),
    );
    const codes = answers.map((a) => a.status);
    assert.ok(codes.includes(429), `some were refused for the rate: ${codes.join(" ")}`);
    assert.ok(
      codes.every((code) => code === 429 || code === 403),
      `the rest refused as a sharee's: ${codes.join(" ")}`,
    );
    assert.deepEqual(await snapshot(), before, "no workspace changed");
  });
});
