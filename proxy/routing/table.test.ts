import { test } from "node:test";
import assert from "node:assert/strict";
import { parseTarget } from "./path.ts";
import { RouteTable, type Route } from "./table.ts";

const route = (over: Partial<Route> = {}): Route => ({
  namespace: "ns",
  name: "a",
  owner: "alice",
  className: "jupyterlab",
  created: "2026-01-01T00:00:00Z",
  state: "ready",
  message: "",
  upstream: { host: "198.18.128.5", port: 8888 },
  idePrefix: "",
  stripPrefix: false,
  requestHeaders: [],
  rewriteLocation: false,
  rewriteCookiePath: false,
  ...over,
});
const m = (t: RouteTable, host: string, url: string) => t.match(host, parseTarget(url));

test("host mode: {name}--{namespace}.{baseDomain}, any path, port and case ignored", () => {
  const t = new RouteTable({ routing: "host", baseDomain: "portico.test" });
  t.upsert(route());
  const r = m(t, "a--ns.portico.test", "/api/kernels?x=1");
  assert.equal(r?.kind, "route");
  assert.equal(r.kind === "route" && r.upstreamPath, "/api/kernels?x=1");
  assert.equal(m(t, "b--ns.portico.test", "/"), undefined);
  assert.equal(m(t, "portico.test", "/w/ns/a/"), undefined, "path routes are off in host mode");
  assert.ok(t.isWorkspaceHost("b--ns.portico.test"));
  assert.ok(!t.isWorkspaceHost("portico.test"));
});

test("path mode: /w/{ns}/{name}/ keeps or strips the prefix as the class says; bare prefix redirects", () => {
  const t = new RouteTable({ routing: "path", baseDomain: "portico.test" });
  t.upsert(route({ idePrefix: "/w/ns/a" }));
  t.upsert(route({ name: "b", idePrefix: "/w/ns/b", stripPrefix: true }));
  const a = m(t, "198.18.0.2", "/w/ns/a/api/kernels/k1/channels?session_id=s");
  assert.deepEqual(a?.kind === "route" && [a.publicPrefix, a.upstreamPath, a.rest], [
    "/w/ns/a",
    "/w/ns/a/api/kernels/k1/channels?session_id=s",
    "/api/kernels/k1/channels",
  ]);
  const b = m(t, "portico.test", "/w/ns/b/static/x%20y.js");
  assert.equal(b?.kind === "route" && b.upstreamPath, "/static/x%20y.js");
  assert.deepEqual(m(t, "portico.test", "/w/ns/a?q=1"), { kind: "redirect", location: "/w/ns/a/?q=1" });
  assert.equal(m(t, "portico.test", "/w/ns/zzz/"), undefined);
  assert.equal(m(t, "portico.test", "/w/ns/"), undefined);
});

test("compatible path: the oldest workspace of that owner and class maps onto the IDE's base path", () => {
  const t = new RouteTable({ routing: "path", baseDomain: "portico.test" });
  t.upsert(route({ name: "new", idePrefix: "/w/ns/new", created: "2026-02-01T00:00:00Z" }));
  t.upsert(route({ name: "old", idePrefix: "/w/ns/old" }));
  const r = m(t, "portico.test", "/api/v1/connect/ns/alice/jupyterlab/api");
  assert.equal(r?.kind === "route" && r.route.name, "old");
  assert.equal(r?.kind === "route" && r.upstreamPath, "/w/ns/old/api");
  assert.equal(r?.kind === "route" && r.publicPrefix, "/api/v1/connect/ns/alice/jupyterlab");
  t.remove("ns", "old");
  const r2 = m(t, "portico.test", "/api/v1/connect/ns/alice/jupyterlab/");
  assert.equal(r2?.kind === "route" && r2.route.name, "new");
  assert.equal(m(t, "portico.test", "/api/v1/connect/ns/bob/jupyterlab/"), undefined);
});

test("compatible path in host mode: on any host but the workspace's own, where to redirect, never the route", () => {
  const t = new RouteTable({ routing: "host", baseDomain: "portico.test" });
  t.upsert(route());
  t.upsert(route({ name: "b", owner: "bob" }));
  for (const [host, url, path] of [
    ["portico.test", "/api/v1/connect/ns/alice/jupyterlab/api/kernels?x=1&y=%2F", "/api/kernels?x=1&y=%2F"],
    ["evil.example", "/api/v1/connect/ns/alice/jupyterlab/", "/"],
    ["portico.test", "/api/v1/connect/ns/alice/jupyterlab", "/"],
    ["portico.test", "/api/v1/connect/ns/alice/jupyterlab?q", "/?q"],
    ["portico.test", "/api/v1/connect/ns/alice/jupyterlab/lab/tree/a%20b.ipynb", "/lab/tree/a%20b.ipynb"],
  ] as const)
    assert.deepEqual(m(t, host, url), {
      kind: "own-host",
      route: t.get("ns", "a"),
      host: "a--ns.portico.test",
      path,
    });
  // On a workspace host every path is that workspace's own: bob's IDE gets the path, alice's never.
  const onBob = m(t, "b--ns.portico.test", "/api/v1/connect/ns/alice/jupyterlab/api/kernels");
  assert.equal(onBob?.kind === "route" && onBob.route.name, "b");
  assert.equal(
    onBob?.kind === "route" && onBob.upstreamPath,
    "/api/v1/connect/ns/alice/jupyterlab/api/kernels",
  );
  assert.equal(m(t, "portico.test", "/api/v1/connect/ns/carol/jupyterlab/"), undefined);
});

test("upsert replaces, remove forgets every index", () => {
  const t = new RouteTable({ routing: "host", baseDomain: "portico.test" });
  t.upsert(route({ state: "starting" }));
  t.upsert(route({ state: "ready" }));
  assert.equal(t.size, 1);
  assert.equal(t.get("ns", "a")?.state, "ready");
  assert.ok(t.remove("ns", "a"));
  assert.ok(!t.remove("ns", "a"));
  assert.equal(m(t, "a--ns.portico.test", "/"), undefined);
  assert.equal(m(t, "x", "/api/v1/connect/ns/alice/jupyterlab/"), undefined);
});

// --- Wake (issue 15)
test("subscribe: told of every upsert and the removal of one workspace only, until unsubscribed", () => {
  const t = new RouteTable({ routing: "path", baseDomain: "portico.test" });
  const seen: (string | undefined)[] = [];
  const off = t.subscribe("ns", "a", (r) => seen.push(r?.state));
  t.upsert(route({ name: "b" }));
  t.upsert(route({ name: "a", state: "starting" }));
  t.upsert(route({ name: "a", state: "ready" }));
  t.remove("ns", "b");
  t.remove("ns", "a");
  assert.deepEqual(seen, ["starting", "ready", undefined]);
  assert.equal(t.listenerCount("ns", "a"), 1);
  off();
  assert.equal(t.listenerCount("ns", "a"), 0);
  t.upsert(route({ name: "a" }));
  assert.equal(seen.length, 3);
  // A listener may unsubscribe from inside its call; the others are still told.
  const calls: string[] = [];
  const offFirst = t.subscribe("ns", "a", () => (calls.push("first"), offFirst()));
  t.subscribe("ns", "a", () => calls.push("second"));
  t.upsert(route({ name: "a" }));
  t.upsert(route({ name: "a" }));
  assert.deepEqual(calls, ["first", "second", "second"]);
});
