import { test } from "node:test";
import assert from "node:assert/strict";
import { ConfigError, loadConfig, parseBytes } from "./config.ts";

test("--auth must be given; none starts, with frozen defaults", () => {
  assert.throws(() => loadConfig([], {}), /--auth \(or PORTICO_AUTH\) must be given/);
  const c = loadConfig(["--auth=none"], {});
  assert.equal(c.auth, "none");
  assert.equal(c.routingConfig.routing, "host");
  assert.equal(c.limits.maxHeaderBytes, 16 * 1024);
  assert.ok(Object.isFrozen(c) && Object.isFrozen(c.limits) && Object.isFrozen(c.allowedMethods));
});

test("other auth modes refuse to start: not implemented yet", () => {
  assert.throws(() => loadConfig(["--auth=oidc"], {}), /"oidc" is not implemented yet/);
  assert.throws(() => loadConfig(["--auth=magic"], {}), /is not one of none, oidc/);
});

test("every problem is reported at once, naming flag and variable; flags win over env", () => {
  assert.throws(
    () =>
      loadConfig(["--auth=none", "--routing=dns", "--max-body-bytes=lots", "--bogus"], {
        PORTICO_HEADERS_TIMEOUT: "soon",
        PORTICO_ALLOWED_METHODS: "GET,TRACE",
      }),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      for (const want of [
        "--routing (or PORTICO_ROUTING)",
        "--max-body-bytes (or PORTICO_MAX_BODY_BYTES)",
        "--headers-timeout (or PORTICO_HEADERS_TIMEOUT)",
        "TRACE is never allowed",
        "unknown flag --bogus",
      ])
        assert.ok(err.message.includes(want), `names ${want}: ${err.message}`);
      return true;
    },
  );
  const c = loadConfig(["--auth=none", "--routing=path"], { PORTICO_ROUTING: "host", PORTICO_PORT: "9000" });
  assert.equal(c.routingConfig.routing, "path");
  assert.equal(c.port, 9000);
});

test("sizes parse with binary suffixes", () => {
  assert.equal(parseBytes("16Ki"), 16384);
  assert.equal(parseBytes("2Mi"), 2 * 1024 * 1024);
  assert.equal(parseBytes("100"), 100);
  assert.equal(parseBytes("1.5Mi"), undefined);
});
