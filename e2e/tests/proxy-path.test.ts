/**
 * The proxy in path mode against the real cluster and a real Jupyter Server: `/w/{ns}/{name}/` and
 * the compatible `/api/v1/connect/...` path reach the IDE, a kernel runs `1+1` over its WebSocket
 * channels through the proxy, the route follows the workspace live (ready within a second, gone when
 * stopped, back on start with the waiting page and the status stream in between), and a restarted
 * proxy has rebuilt its routes before /readyz says ready.
 */
import { before, test } from "node:test";
import type { WorkspaceClass } from "../../crds/types.ts";
import assert from "node:assert/strict";
import { eventually } from "../lib/kube.ts";
import { jupyterExecute, startProxy, type ProxyProcess } from "../lib/proxy.ts";
import { clusterSuite } from "../lib/suite.ts";
import {
  createWorkspace,
  isReady,
  jupyterClass,
  patchWorkspace,
  waitWorkspace,
  workspace,
} from "../lib/workspaces.ts";

const ADDRESS = "198.18.0.21";
const suite = clusterSuite("proxy-path", {
  classes: { jupyter: jupyterClass, rstudio: rstudioFakeClass },
  operator: ["--routing=path"],
});
let px: ProxyProcess;
const c = suite.c;
const proxyFlags = () => ["--routing=path", `--compat-namespace=${suite.ns}`];

before(async () => {
  await suite.ready();
  px = await startProxy({ address: ADDRESS, port: 8080, flags: proxyFlags(), name: "proxy-path" });
  suite.onTeardown(() => px?.stop());
});

/** The rstudio class as the chart ships it (charts/portico/files/workspaceclasses), on the RStudio-behaviour FAKE (e2e/fixtures/rstudio-fake.ts). */
function rstudioFakeClass(name: string): WorkspaceClass {
  return {
    apiVersion: "portico.dev/v1alpha1",
    kind: "WorkspaceClass",
    metadata: { name },
    spec: {
      image: "portico.dev/test/rstudio-fake:1",
      port: 8787,
      storage: { size: "1Gi", mountPath: "/home/rstudio" },
      basePath: {
        stripPrefix: true,
        requestHeaders: [{ name: "X-RStudio-Root-Path", value: "{prefix}" }],
        rewriteLocation: true,
        rewriteCookiePath: true,
      },
      readinessPath: "/auth-sign-in",
    },
  };
}

/**
 * Waits for the workspace to be Ready, then for the proxy to route it. How fast the route follows
 * Ready is a benchmark (`npm run bench:proxy`, docs/benchmarks.md), not something a test times.
 */
async function readyThenRouted(name: string, timeoutMs = 90_000): Promise<void> {
  await waitWorkspace(c, suite.ns, name, "Ready", isReady, timeoutMs);
  await eventually(
    `route to ${name}`,
    async () => ((await fetch(`${px.url}/w/${suite.ns}/${name}/api`)).status === 200 ? true : undefined),
    10_000,
    20,
  );
}

test("a Jupyter workspace through the proxy: /api, compatible path, and a kernel computing 1+1", async () => {
  await createWorkspace(c, workspace(suite.ns, "nb", { className: suite.cls.jupyter }));
  await readyThenRouted("nb");

  const api = await fetch(`${px.url}/w/${suite.ns}/nb/api`);
  assert.equal(api.status, 200);
  assert.ok(((await api.json()) as { version?: string }).version, "Jupyter's /api answers with its version");
  assert.equal(api.headers.get("x-frame-options"), "SAMEORIGIN");

  const compat = await fetch(`${px.url}/api/v1/connect/${suite.ns}/alice/${suite.cls.jupyter}/api`);
  assert.equal(compat.status, 200, "the compatible path reaches the same IDE");

  assert.equal(await jupyterExecute(px, `/w/${suite.ns}/nb`, "1+1"), "2");

  // The compatible status stream: the workspace of that class (and owner) in --compat-namespace.
  const abort = new AbortController();
  const sse = await fetch(`${px.url}/api/v1/analysis/events/${suite.cls.jupyter}?owner=alice`, {
    signal: abort.signal,
  });
  assert.equal(sse.status, 200);
  const reader = sse.body!.getReader();
  let first = "";
  while (!/\n\n(id|event)[\s\S]*\n\n/.test(first))
    first += new TextDecoder().decode((await reader.read()).value);
  abort.abort();
  assert.match(first, /"name":"nb"/);
  assert.match(first, /"routable":true/);
  assert.equal((await fetch(`${px.url}/api/v1/analysis/events/${suite.cls.jupyter}?owner=bob`)).status, 404);

  assert.equal(await px.metric("portico_proxy_routes", { state: "ready" }), 1);
  assert.ok((await px.metric("portico_proxy_requests_total", { route: `${suite.ns}/nb`, code: "200" })) >= 2);
});

test("stop: the route goes (404 workspace_stopped); start: waiting page, status stream, back without a proxy restart", async () => {
  const base = `${px.url}/w/${suite.ns}/nb`;
  await patchWorkspace(c, suite.ns, "nb", { running: false });
  await waitWorkspace(c, suite.ns, "nb", "Stopped", (w) => w.status?.phase === "Stopped");
  const stopped = await eventually(
    "route gone",
    async () => {
      const res = await fetch(`${base}/api`);
      return res.status === 404 ? ((await res.json()) as { error: string }) : undefined;
    },
    5_000,
    50,
  );
  assert.equal(stopped.error, "workspace_stopped");

  // Follow the status stream while the workspace starts again.
  const abort = new AbortController();
  const stream = await fetch(`${px.url}/api/v1/workspaces/${suite.ns}/nb/events`, { signal: abort.signal });
  assert.equal(stream.headers.get("content-type"), "text/event-stream; charset=utf-8");
  const phases: string[] = [];
  const followed = (async () => {
    const decoder = new TextDecoder();
    let buf = "";
    for await (const chunk of stream.body!) {
      buf += decoder.decode(chunk as Uint8Array, { stream: true });
      for (let i = buf.indexOf("\n\n"); i >= 0; i = buf.indexOf("\n\n")) {
        const data = /^data: (.*)$/m.exec(buf.slice(0, i))?.[1];
        buf = buf.slice(i + 2);
        if (!data) continue;
        const s = JSON.parse(data) as { phase: string; routable: boolean };
        phases.push(s.phase);
        if (s.routable) return true;
      }
    }
    return false;
  })();

  await patchWorkspace(c, suite.ns, "nb", { running: true });
  const page = await eventually(
    "waiting page",
    async () => {
      const res = await fetch(`${base}/`, { headers: { accept: "text/html" } });
      return res.status === 503 ? res.text() : undefined;
    },
    15_000,
    50,
  );
  assert.match(page, /data-events=".*\/__portico\/events"/);
  const json = await fetch(`${base}/api`);
  if (json.status === 503) assert.equal(json.headers.get("retry-after"), "2");

  assert.equal(await followed, true, "the stream said routable");
  abort.abort();
  assert.equal(phases[0], "Stopped", `first event is the current state: ${phases.join(" → ")}`);
  assert.ok(phases.includes("Starting") || phases.includes("Pending"), `saw it start: ${phases.join(" → ")}`);
  assert.equal(phases.at(-1), "Running");
  assert.equal((await fetch(`${base}/api`)).status, 200);
  assert.equal(await jupyterExecute(px, `/w/${suite.ns}/nb`, "1+1"), "2");
});

test("a restarted proxy has rebuilt its routes before /readyz is 200", async () => {
  await px.stop();
  px = await startProxy({ address: ADDRESS, port: 8080, flags: proxyFlags(), name: "proxy-path-2" });
  // startProxy returned as soon as /readyz said 200: the very first request must be routed.
  assert.equal((await fetch(`${px.url}/w/${suite.ns}/nb/api`)).status, 200);
});

test("the rstudio class on an RStudio-behaviour FAKE: prefix stripped, root path header, redirects and cookies rewritten", async () => {
  await createWorkspace(c, workspace(suite.ns, "rs", { className: suite.cls.rstudio }));
  await readyThenRouted("rs", 60_000); // its /api is the fake's main page
  const base = `${px.url}/w/${suite.ns}/rs`;
  const first = await fetch(`${base}/`, { redirect: "manual" });
  assert.equal(first.headers.get("x-fake"), "rstudio-behaviour", "this is the fake, not RStudio");
  assert.equal(first.status, 302);
  assert.equal(
    first.headers.get("location"),
    `/w/${suite.ns}/rs/auth-sign-in?appUri=%2F`,
    "absolute redirect rewritten",
  );
  const signIn = await fetch(`${base}/auth-sign-in`);
  assert.equal(signIn.status, 200);
  assert.equal(signIn.headers.get("set-cookie"), `user-id=fake-user; Path=/w/${suite.ns}/rs/; HttpOnly`);
  assert.match(await signIn.text(), new RegExp(`root=/w/${suite.ns}/rs<`), "X-RStudio-Root-Path reached it");
  const main = await fetch(`${base}/`, { headers: { cookie: "user-id=fake-user" } });
  const seen = (await main.json()) as { path: string; root: string; signedIn: boolean };
  assert.deepEqual(seen, {
    fake: "rstudio-behaviour",
    page: "main",
    path: "/",
    root: `/w/${suite.ns}/rs`,
    signedIn: true,
  });
});
