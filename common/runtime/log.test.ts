import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";

/** Runs the logger in a child process and returns the JSON lines it printed. */
function linesFrom(level: string, body: string): Record<string, unknown>[] {
  const script = `import { createLogger } from ${JSON.stringify(import.meta.dirname + "/log.ts")};
const log = createLogger(${JSON.stringify(level)}, "test");
${body}`;
  const out = execFileSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8" });
  return out
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

test("levels below the logger's are dropped; the rest are JSON lines with component and timestamp", () => {
  const lines = linesFrom(
    "warn",
    `log.debug("d"); log.info("i", { a: 1 }); log.warn("w", { a: 2 }); log.error("e");
     log.child({ workspace: "ns/x" }).info("child-i"); log.child({ workspace: "ns/x" }).warn("child-w");`,
  );
  assert.deepEqual(
    lines.map((l) => l.message),
    ["w", "e", "child-w"],
  );
  assert.equal(lines[0]!.component, "test");
  assert.equal(lines[0]!.a, 2);
  assert.equal(lines[0]!.level, "warn");
  assert.match(String(lines[0]!.timestamp), /^\d{4}-\d\d-\d\dT/);
  assert.equal(lines[2]!.workspace, "ns/x");
});

test("debug shows everything; secrets in metadata are redacted at any depth", () => {
  const lines = linesFrom(
    "debug",
    `log.debug("d", { token: "s3cret", nested: { authorization: "Bearer x", ok: 1 } });`,
  );
  assert.equal(lines.length, 1);
  assert.equal(lines[0]!.token, "[redacted]");
  assert.deepEqual(lines[0]!.nested, { authorization: "[redacted]", ok: 1 });
  assert.doesNotMatch(JSON.stringify(lines), /s3cret|Bearer x/);
});
