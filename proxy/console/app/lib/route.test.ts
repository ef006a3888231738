import { test } from "node:test";
import assert from "node:assert/strict";
import { hrefOf, parseRoute, type Route } from "./route.ts";

test("every route survives a round trip through its hash", () => {
  const routes: Route[] = [
    { view: "list" },
    { view: "new" },
    { view: "admin" },
    { view: "detail", namespace: "ws-alice", name: "thesis", tab: "events" },
    { view: "detail", namespace: "ws-alice", name: "thesis", tab: "logs" },
    { view: "detail", namespace: "ws-alice", name: "thesis", tab: "terminal" },
  ];
  for (const r of routes) assert.deepEqual(parseRoute(hrefOf(r)), r);
});

test("anything else is the list: unknown views, bad names, encoded slashes, broken escapes", () => {
  for (const h of [
    "",
    "#",
    "#/nope",
    "#/w/ws-alice",
    "#/w/Bad_NS/x",
    "#/w/a%2Fb/c",
    "#/w/a/b/shell",
    "#/w/%E0%A4%A/x",
    "#/new/x",
  ])
    assert.deepEqual(parseRoute(h), { view: "list" }, h);
});
