/** The real entry point answers --help and -h: stdout, exit 0, before anything else is checked or started. */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { test } from "node:test";

const MAIN = join(import.meta.dirname, "main.ts");

function run(args: string[], env: Record<string, string> = {}) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    // No KUBECONFIG and no cluster: help must not need one.
    const child = execFile(
      process.execPath,
      [MAIN, ...args],
      { env: { PATH: process.env.PATH ?? "", ...env }, timeout: 60_000 },
      (err, stdout, stderr) => resolve({ code: child.exitCode ?? (err ? 1 : 0), stdout, stderr }),
    );
  });
}

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
