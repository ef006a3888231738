import { test } from "node:test";
import assert from "node:assert/strict";
import { BadPath, hostName, parseTarget } from "./path.ts";

test("plain targets split into path, query and decoded segments", () => {
  assert.deepEqual(parseTarget("/w/ns/a/api/contents/my%20file?x=1"), {
    path: "/w/ns/a/api/contents/my%20file",
    query: "?x=1",
    segments: ["w", "ns", "a", "api", "contents", "my file"],
  });
  assert.deepEqual(parseTarget("/").segments, [""]);
  assert.deepEqual(parseTarget("/a/").segments, ["a", ""]);
});

test("traversal and ambiguous targets are refused in every spelling", () => {
  for (const bad of [
    "/w/ns/a/../b/",
    "/w/ns/a/./x",
    "/w/ns/a/%2e%2e/b",
    "/w/ns/a/%2E%2e/b",
    "/w/ns/a/.%2e/b",
    "/w/ns/a/%2e/b",
    "/w/ns//a/",
    "//w/ns/a/",
    "/w/ns/a%2f..%2fb/",
    "/w/ns/a%2Fb/",
    "/w/ns/a%5c..%5cb/",
    "/w/ns/a\\..\\b/",
    "/w/ns/a%00/",
    "/w/ns/%zz/",
    "http://evil.example/w/ns/a/",
    "*",
  ])
    assert.throws(() => parseTarget(bad), BadPath, bad);
});

test("Host headers: port dropped, case folded, junk refused", () => {
  assert.equal(hostName("A--NS.Portico.Test:8080"), "a--ns.portico.test");
  assert.equal(hostName("198.18.0.2:80"), "198.18.0.2");
  assert.equal(hostName("[::1]:80"), "[::1]");
  for (const bad of [undefined, "", "a b", "a/b", "a:port", "a..b", "-a.test", "a@b"])
    assert.equal(hostName(bad), undefined, String(bad));
});
