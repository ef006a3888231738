import { test } from "node:test";
import assert from "node:assert/strict";
import type { IncomingHttpHeaders } from "node:http";
import { clientAddress } from "./client.ts";
import {
  checkDeclaredBody,
  checkHandshake,
  checkMethod,
  forwardedHeaders,
  routeHeaders,
  stripCredentials,
  wantsHtml,
} from "./request.ts";

test("method allow-list: TRACE and unknown methods get 405 with Allow", () => {
  const allowed = ["GET", "POST"];
  assert.equal(checkMethod("GET", allowed), undefined);
  const r = checkMethod("TRACE", allowed);
  assert.equal(r?.status, 405);
  assert.equal(r?.headers?.allow, "GET, POST");
});

test("declared bodies over the limit get 413; no limit when 0", () => {
  assert.equal(checkDeclaredBody({ "content-length": "11" }, 10)?.status, 413);
  assert.equal(checkDeclaredBody({ "content-length": "10" }, 10), undefined);
  assert.equal(checkDeclaredBody({ "content-length": "99" }, 0), undefined);
});

test("the gateway's Authorization, identity headers and session cookie are stripped; the IDE's cookies stay", () => {
  const h: IncomingHttpHeaders = {
    authorization: "Bearer x",
    "proxy-authorization": "Basic y",
    "x-forwarded-user": "admin",
    "x-forwarded-email": "admin@example.com",
    "x-forwarded-groups": "portico-admin",
    "x-portico-gateway-secret": "s3cret-of-the-gateway",
    cookie: "portico_session=s3cret; _xsrf=abc;  portico_session2=keep",
  };
  stripCredentials(h, "portico_session");
  assert.deepEqual(h, { cookie: "_xsrf=abc; portico_session2=keep" });
  const only: IncomingHttpHeaders = { cookie: "portico_session=s3cret" };
  stripCredentials(only, "portico_session");
  assert.equal(only.cookie, undefined);
});

test("forwarded headers: the client's chain, Proto/Host only from trusted hops, prefix only when there is one", () => {
  const h: IncomingHttpHeaders = {
    host: "a--ns.portico.test:8080",
    "x-forwarded-for": "6.6.6.6",
    forwarded: "for=x",
  };
  forwardedHeaders(h, {
    client: clientAddress("198.18.0.9", h["x-forwarded-for"], 0),
    proto: "http",
    host: h.host!,
    prefix: "",
    trust: false,
  });
  assert.equal(h.host, "a--ns.portico.test:8080");
  assert.equal(h["x-forwarded-for"], "198.18.0.9");
  assert.equal(h["x-forwarded-host"], "a--ns.portico.test:8080");
  assert.equal(h["x-forwarded-proto"], "http");
  assert.equal(h["x-forwarded-prefix"], undefined);
  assert.equal(h.forwarded, undefined);
  const t: IncomingHttpHeaders = {
    "x-forwarded-for": "6.6.6.6, 1.1.1.1",
    "x-forwarded-proto": "https",
    forwarded: "for=6.6.6.6",
  };
  forwardedHeaders(t, {
    client: clientAddress("10.0.0.1", t["x-forwarded-for"], 1),
    proto: "http",
    host: "h",
    prefix: "/w/ns/a",
    trust: true,
  });
  assert.equal(t["x-forwarded-for"], "1.1.1.1, 10.0.0.1", "what the client wrote (6.6.6.6) is dropped");
  assert.equal(t.forwarded, undefined, "Forwarded is never passed on");
  assert.equal(t["x-forwarded-proto"], "https");
  assert.equal(t["x-forwarded-prefix"], "/w/ns/a");
});

test("class headers are set with {prefix} filled, replacing what the client sent", () => {
  const h: IncomingHttpHeaders = { "x-rstudio-root-path": "/evil" };
  routeHeaders(h, [{ name: "X-RStudio-Root-Path", value: "{prefix}" }], "/w/ns/a");
  assert.equal(h["x-rstudio-root-path"], "/w/ns/a");
});

test("browser navigation is told apart by Accept", () => {
  assert.ok(wantsHtml({ accept: "text/html,application/xhtml+xml,*/*;q=0.8" }));
  assert.ok(!wantsHtml({ accept: "application/json" }));
  assert.ok(!wantsHtml({}));
});

test("WebSocket handshakes are checked before dialling", () => {
  const good = {
    upgrade: "websocket",
    "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
    "sec-websocket-version": "13",
  };
  assert.equal(checkHandshake("GET", good), undefined);
  assert.equal(checkHandshake("POST", good)?.status, 405);
  assert.equal(checkHandshake("GET", { ...good, upgrade: "h2c" })?.status, 400);
  assert.equal(checkHandshake("GET", { ...good, "sec-websocket-key": "short" })?.status, 400);
  assert.equal(checkHandshake("GET", { ...good, "sec-websocket-version": "8" })?.status, 426);
});
