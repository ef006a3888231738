import { test } from "node:test";
import assert from "node:assert/strict";
import { classifyUpstreamError, errorCode } from "./errors.ts";

const err = (code: string) => Object.assign(new Error(code), { code });

test("upstream faults are classified: refused 503 + Retry-After, timeout 504, unresolved and reset 502", () => {
  const refused = classifyUpstreamError(err("ECONNREFUSED"), "ns/a");
  assert.deepEqual([refused.status, refused.expected, refused.retryAfter], [503, true, 2]);
  assert.match(refused.body.message, /ns\/a/);
  assert.equal(classifyUpstreamError(err("ETIMEDOUT"), "x").status, 504);
  assert.equal(classifyUpstreamError(err("ENOTFOUND"), "x").status, 502);
  const reset = classifyUpstreamError(err("ECONNRESET"), "x");
  assert.deepEqual([reset.status, reset.expected], [502, true]);
  assert.equal(
    classifyUpstreamError(new TypeError("bug"), "x").expected,
    false,
    "a bug is not a network fault",
  );
  assert.equal(errorCode(undefined), "unknown");
});
