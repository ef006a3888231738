import assert from "node:assert/strict";
import type { IncomingHttpHeaders } from "node:http";
import { test } from "node:test";
import { joinPath, modifyHeaders, upstreamPath } from "./transform.ts";

test("paths: strip or replace the matched prefix, then the URL backend's base path, query kept", () => {
  const cases: [string, string, string | undefined, Parameters<typeof upstreamPath>[3], string, string][] = [
    ["/api/users", "?a=1", "/api", undefined, "", "/api/users?a=1"],
    ["/api/users", "", "/api", { stripPrefix: true }, "", "/users"],
    ["/api", "", "/api", { stripPrefix: true }, "", "/"],
    ["/api/", "", "/api", { stripPrefix: true }, "", "/"],
    ["/api/users", "?x", "/api", { replacePrefix: "/v2" }, "", "/v2/users?x"],
    ["/api/users", "", "/api", { replacePrefix: "/v2/" }, "", "/v2/users"],
    ["/api/users", "", "/api", { replacePrefix: "/" }, "", "/users"],
    ["/anything", "", "/", { replacePrefix: "/v2" }, "", "/v2/anything"],
    ["/anything", "", "/", { stripPrefix: true }, "", "/anything"],
    ["/api/users", "", "/api", { stripPrefix: true }, "/base", "/base/users"],
    ["/api/users", "", "/api", undefined, "/base", "/base/api/users"],
    ["/exact", "", undefined, undefined, "", "/exact"],
  ];
  for (const [path, query, prefix, rewrite, base, want] of cases)
    assert.equal(
      upstreamPath(path, query, prefix, rewrite, base),
      want,
      `${path} ${JSON.stringify(rewrite)} ${base}`,
    );
  assert.equal(joinPath("", ""), "/");
  assert.equal(joinPath("/a/", "b"), "/a/b");
});

test("headers: remove, then set, then add (appending to what is there)", () => {
  const h: IncomingHttpHeaders = { "x-old": "1", "x-keep": "k", "x-multi": "a", "set-cookie": ["c=1"] };
  modifyHeaders(h, {
    remove: ["X-Old"],
    set: [
      { name: "X-Keep", value: "replaced" },
      { name: "X-New", value: "n" },
    ],
    add: [
      { name: "X-Multi", value: "b" },
      { name: "Set-Cookie", value: "d=2" },
      { name: "X-Added", value: "z" },
    ],
  });
  assert.deepEqual(h, {
    "x-keep": "replaced",
    "x-new": "n",
    "x-multi": "a, b",
    "set-cookie": ["c=1", "d=2"],
    "x-added": "z",
  });
  const same: IncomingHttpHeaders = { a: "1" };
  modifyHeaders(same, undefined);
  assert.deepEqual(same, { a: "1" });
});
