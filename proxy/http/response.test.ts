import { test } from "node:test";
import assert from "node:assert/strict";
import type { IncomingHttpHeaders } from "node:http";
import { mapPrefix, rewriteCookiePath, rewriteLocation, securityHeaders } from "./response.ts";

test("frame-ancestors replaces the IDE's own directive and keeps the rest; X-Frame-Options follows", () => {
  const h: IncomingHttpHeaders = {
    "content-security-policy": "default-src 'self'; frame-ancestors *",
    "x-frame-options": "ALLOW",
  };
  securityHeaders(h, "'self'");
  assert.equal(h["content-security-policy"], "default-src 'self'; frame-ancestors 'self'");
  assert.equal(h["x-frame-options"], "SAMEORIGIN");
  const n: IncomingHttpHeaders = {};
  securityHeaders(n, "'none'");
  assert.equal(n["content-security-policy"], "frame-ancestors 'none'");
  assert.equal(n["x-frame-options"], "DENY");
  const o: IncomingHttpHeaders = { "x-frame-options": "DENY" };
  securityHeaders(o, "'self' https://portal.example.com");
  assert.equal(o["x-frame-options"], undefined);
});

test("prefix mapping: strip mode adds the prefix, kept mode swaps one base for another", () => {
  assert.equal(mapPrefix("/auth-sign-in", "", "/w/ns/a"), "/w/ns/a/auth-sign-in");
  assert.equal(
    mapPrefix("/w/ns/a/tree", "/w/ns/a", "/api/v1/connect/ns/alice/jupyterlab"),
    "/api/v1/connect/ns/alice/jupyterlab/tree",
  );
  assert.equal(mapPrefix("/elsewhere", "/w/ns/a", "/x"), "/elsewhere");
  assert.equal(mapPrefix("/same", "/p", "/p"), "/same");
  assert.equal(
    mapPrefix("/w/ns/a/home", "", "/w/ns/a"),
    "/w/ns/a/home",
    "already under the prefix: not doubled",
  );
});

test("Location: own absolute URLs and absolute paths are rewritten, foreign URLs and relative ones kept", () => {
  const own = ["portico.test", "198.18.128.5:8787"];
  assert.equal(
    rewriteLocation("http://198.18.128.5:8787/auth-sign-in?x=1", "", "/w/ns/a", own),
    "/w/ns/a/auth-sign-in?x=1",
  );
  assert.equal(rewriteLocation("http://portico.test/", "", "/w/ns/a", own), "/w/ns/a/");
  assert.equal(rewriteLocation("/home", "", "/w/ns/a", own), "/w/ns/a/home");
  assert.equal(
    rewriteLocation("https://idp.example.com/login", "", "/w/ns/a", own),
    "https://idp.example.com/login",
  );
  assert.equal(rewriteLocation("next", "", "/w/ns/a", own), "next");
});

test("Set-Cookie paths move under the public prefix", () => {
  assert.deepEqual(rewriteCookiePath(["s=1; Path=/; HttpOnly", "t=2", "u=3; path=/x"], "", "/w/ns/a"), [
    "s=1; Path=/w/ns/a/; HttpOnly",
    "t=2",
    "u=3; path=/w/ns/a/x",
  ]);
});
