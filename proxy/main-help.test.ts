/** The real entry point answers --help and -h, for the server and the session-keys subcommand. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { runEntryPoint } from "../e2e/lib/entry-point.ts";

const MAIN = join(import.meta.dirname, "main.ts");

const run = (args: string[], env: Record<string, string> = {}) => runEntryPoint(MAIN, args, env);

test("portico-proxy --help and -h: every flag with its variable and default on stdout, exit 0", async () => {
  for (const flag of ["--help", "-h"]) {
    // No --auth (otherwise required) and a secret in the environment: help, and the secret stays out.
    const r = await run([flag], { PORTICO_OIDC_CLIENT_SECRET: "do-not-print-me" });
    assert.equal(r.code, 0, `${flag}: ${r.stderr}`);
    assert.equal(r.stderr, "");
    assert.match(r.stdout, /^Usage: portico-proxy --auth=MODE/);
    assert.match(r.stdout, /--auth=<none\|oidc\|jwt\|trusted-headers> {3}PORTICO_AUTH {3}\(required\)/);
    assert.match(r.stdout, /--max-body-bytes=<size> {3}PORTICO_MAX_BODY_BYTES {3}\(default: 256Mi\)/);
    assert.match(r.stdout, /--session-keys-file=<value> {3}PORTICO_SESSION_KEYS_FILE/);
    assert.ok(!r.stdout.includes("do-not-print-me"));
  }
  const refused = await run([]);
  assert.equal(refused.code, 2, "without --help, a missing --auth is refused");
  assert.match(refused.stderr, /--auth \(or PORTICO_AUTH\) must be given/);
});

test("portico-proxy session-keys --help: its own flags, exit 0", async () => {
  const r = await run(["session-keys", "--help"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^Usage: portico-proxy session-keys/);
  assert.match(r.stdout, /--namespace=<string> {3}PORTICO_NAMESPACE {3}\(required\)/);
  assert.match(r.stdout, /--key=<string> {3}PORTICO_KEY {3}\(default: session-keys\.json\)/);
  const refused = await run(["session-keys"]);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /--namespace \(or PORTICO_NAMESPACE\) must be given/);
});
