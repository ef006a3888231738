/** The real entry point answers --help and -h: stdout, exit 0, before anything else is checked or started. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { runEntryPoint } from "../e2e/lib/entry-point.ts";

const MAIN = join(import.meta.dirname, "main.ts");

const run = (args: string[], env: Record<string, string> = {}) => runEntryPoint(MAIN, args, env);

test("portico-operator --help and -h: every flag with its variable and default on stdout, exit 0", async () => {
  for (const flag of ["--help", "-h"]) {
    // A bad setting in the environment and an unknown flag: help still wins.
    const r = await run(["--bogus", flag], { PORTICO_WORKERS: "many" });
    assert.equal(r.code, 0, `${flag}: ${r.stderr}`);
    assert.equal(r.stderr, "");
    assert.match(r.stdout, /^Usage: portico-operator/);
    assert.match(r.stdout, /--resync-period=<duration> {3}PORTICO_RESYNC_PERIOD {3}\(default: 10m\)/);
    assert.match(r.stdout, /--leader-elect=<true\|false> {3}PORTICO_LEADER_ELECT {3}\(default: true\)/);
    assert.match(r.stdout, /--workspace-egress=<restricted\|allow-list\|open> {3}PORTICO_WORKSPACE_EGRESS/);
  }
  // Without it the same bad settings are refused, on stderr, exit 2.
  const refused = await run(["--bogus"], { PORTICO_WORKERS: "many" });
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /unknown flag --bogus/);
  assert.equal(refused.stdout, "");
});
