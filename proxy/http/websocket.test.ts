import { test } from "node:test";
import assert from "node:assert/strict";
import { sendableCode, upstreamHeaders } from "./websocket.ts";

test("only close codes a close frame may carry are passed on as they are", () => {
  for (const ok of [1000, 1001, 1008, 1011, 1014, 3000, 4999]) assert.ok(sendableCode(ok), String(ok));
  for (const no of [999, 1004, 1005, 1006, 1015, 2000, 5000]) assert.ok(!sendableCode(no), String(no));
});

test("the upstream handshake keeps Host, Origin and cookies, and drops hop-by-hop and handshake headers", () => {
  const h = upstreamHeaders({
    host: "a--ns.portico.test:8080",
    origin: "http://a--ns.portico.test:8080",
    cookie: "_xsrf=1",
    connection: "Upgrade",
    upgrade: "websocket",
    "sec-websocket-key": "k",
    "sec-websocket-version": "13",
    "sec-websocket-extensions": "permessage-deflate",
    "sec-websocket-protocol": "v1",
  });
  assert.deepEqual(h, {
    host: "a--ns.portico.test:8080",
    origin: "http://a--ns.portico.test:8080",
    cookie: "_xsrf=1",
  });
});
