import assert from "node:assert/strict";
import { test } from "node:test";
import type { RetryOn } from "../../crds/types.ts";
import { DivertedAnswer } from "../http/forward.ts";
import { failureKind, mayRetry, retryableStatus, statusFailureKind, upstreamFailure } from "./serve.ts";

/** An error as Node's sockets and undici raise them: a message and a string `code`. */
const coded = (code: string) => Object.assign(new Error(code), { code });

test("failure kinds: connect failures, timeouts, resets, and diverted answers by status", () => {
  assert.equal(failureKind(coded("ECONNREFUSED")), "ConnectFailure");
  assert.equal(failureKind(coded("UND_ERR_CONNECT_TIMEOUT")), "ConnectFailure");
  assert.equal(failureKind(coded("UND_ERR_HEADERS_TIMEOUT")), "Timeout");
  assert.equal(failureKind(coded("ECONNRESET")), "Reset");
  assert.equal(failureKind(new Error("no code")), "Reset");
  assert.equal(failureKind(new DivertedAnswer(503)), "GatewayError");
  assert.equal(failureKind(new DivertedAnswer(500)), "ServerError");
});

test("5xx answers: 502-504 are the gateway kind, the others the server's", () => {
  assert.deepEqual([500, 501, 502, 503, 504, 505].map(statusFailureKind), [
    "ServerError",
    "ServerError",
    "GatewayError",
    "GatewayError",
    "GatewayError",
    "ServerError",
  ]);
  const gateway = new Set<RetryOn>(["GatewayError"]);
  assert.equal(retryableStatus(503, gateway), true);
  assert.equal(retryableStatus(500, gateway), false);
  assert.equal(retryableStatus(500, new Set<RetryOn>(["ServerError"])), true);
  assert.equal(retryableStatus(404, new Set<RetryOn>(["ServerError", "GatewayError"])), false);
});

test("retries: only safe attempts, on a listed failure, idempotent methods unless nothing was sent", () => {
  const retryOn = new Set<RetryOn>(["ConnectFailure", "Reset"]);
  assert.equal(mayRetry("ConnectFailure", { safe: true, retryOn, method: "POST" }), true);
  assert.equal(mayRetry("Reset", { safe: true, retryOn, method: "GET" }), true);
  assert.equal(mayRetry("Reset", { safe: true, retryOn, method: "POST" }), false);
  assert.equal(mayRetry("Timeout", { safe: true, retryOn, method: "GET" }), false);
  assert.equal(mayRetry("ConnectFailure", { safe: false, retryOn, method: "GET" }), false);
});

test("failure answers: status by kind or the diverted status, a message naming rule, endpoint and cause", () => {
  assert.deepEqual(upstreamFailure(coded("ETIMEDOUT"), "Timeout", "ns/r/0", "10.0.0.1:80"), {
    status: 504,
    body: {
      error: "upstream_timeout",
      message: "ns/r/0: the backend at 10.0.0.1:80 failed (Timeout, ETIMEDOUT)",
    },
  });
  assert.equal(upstreamFailure(coded("ECONNREFUSED"), "ConnectFailure", "r", "e").status, 503);
  assert.equal(upstreamFailure(coded("ECONNRESET"), "Reset", "r", "e").status, 502);
  assert.deepEqual(upstreamFailure(new DivertedAnswer(503), "GatewayError", "r", "e"), {
    status: 503,
    body: { error: "upstream_error", message: "r: the backend at e failed (GatewayError 503)" },
  });
});
