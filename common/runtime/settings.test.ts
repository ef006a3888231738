import assert from "node:assert/strict";
import { test } from "node:test";
import {
  ConfigError,
  formatBytes,
  formatDurationMs,
  HelpRequested,
  parseBytes,
  parseDurationMs,
  settingsReader,
  wantsHelp,
  type FlagTable,
  type Source,
} from "./settings.ts";
import { helpEntries, helpOf } from "./help-check.ts";

const TABLE = {
  mode: "How it runs.",
  name: "What it is called.",
  period: "How often.",
  size: "How big.",
  "dry-run": "Only say what would happen.",
  "from-env": { help: "Depends on the machine.", default: "<hostname>" },
  items: "A list.",
  token: "A secret.",
} as const satisfies FlagTable<string>;

/** A small loader over TABLE, shaped like the real ones. */
function load(argv: readonly string[], env: Source = {}) {
  const r = settingsReader(argv, env, TABLE);
  const c = {
    mode: r.oneOf("mode", undefined, ["fast", "slow"] as const),
    name: r.str("name", "demo", /^[a-z]+$/),
    periodMs: r.dur("period", 90_000),
    size: r.bytes("size", 16 * 1024),
    dryRun: r.bool("dry-run", false),
    fromEnv: r.str("from-env", "host-1234"),
    items: r.raw("items", "a,b").split(","),
    token: r.raw("token"),
  };
  r.finish("demo", "Usage: demo --mode=MODE");
  return c;
}

test("durations and sizes print as the reader reads them back", () => {
  for (const ms of [1, 500, 1000, 15_000, 90_000, 600_000, 3_600_000, 8 * 3_600_000, 3_723_004]) {
    assert.equal(parseDurationMs(formatDurationMs(ms)), ms, formatDurationMs(ms));
  }
  assert.equal(formatDurationMs(600_000), "10m");
  assert.equal(formatDurationMs(90_000), "1m30s");
  assert.equal(formatDurationMs(0), "0");
  for (const n of [1000, 1024, 16 * 1024, 256 * 1024 ** 2, 3 * 1024 ** 3, 1025]) {
    assert.equal(parseBytes(formatBytes(n)), n, formatBytes(n));
  }
  assert.equal(formatBytes(256 * 1024 ** 2), "256Mi");
});

test("--help, --help=true and -h ask for help, anywhere among the arguments", () => {
  for (const argv of [["--help"], ["-h"], ["--help=true"], ["--name=x", "-h"]])
    assert.ok(wantsHelp(argv), argv.join(" "));
  for (const argv of [[], ["--name=help"], ["--helper"], ["--help=false"]])
    assert.ok(!wantsHelp(argv), argv.join(" "));
});

test("with --help the reader refuses nothing and finish throws the help: every flag, its variable, its default, its description", () => {
  const text = helpOf((argv) => load(argv), ["--help"]);
  assert.ok(text.startsWith("Usage: demo --mode=MODE\n"), text);
  assert.deepEqual(helpEntries(text), [
    { flag: "mode", variable: "PORTICO_MODE", default: "required", help: "How it runs." },
    { flag: "name", variable: "PORTICO_NAME", default: "demo", help: "What it is called." },
    { flag: "period", variable: "PORTICO_PERIOD", default: "1m30s", help: "How often." },
    { flag: "size", variable: "PORTICO_SIZE", default: "16Ki", help: "How big." },
    { flag: "dry-run", variable: "PORTICO_DRY_RUN", default: "false", help: "Only say what would happen." },
    {
      flag: "from-env",
      variable: "PORTICO_FROM_ENV",
      default: "<hostname>",
      help: "Depends on the machine.",
    },
    { flag: "items", variable: "PORTICO_ITEMS", default: "a,b", help: "A list." },
    { flag: "token", variable: "PORTICO_TOKEN", default: "unset", help: "A secret." },
  ]);
  assert.match(text, /--mode=<fast\|slow>/, "a choice lists its values");
  assert.match(text, /--period=<duration>/);
});

test("--help wins over anything wrong, and shows defaults, never the values given (a secret stays out)", () => {
  const env = { PORTICO_NAME: "NOT VALID", PORTICO_TOKEN: "s3cret-value", PORTICO_SIZE: "huge" };
  const text = helpOf((argv) => load(argv, env), ["--bogus", "-x", "--period=soon", "-h"]);
  assert.ok(!text.includes("s3cret-value") && !text.includes("NOT VALID"), text);
  assert.match(text, /PORTICO_NAME {3}\(default: demo\)/);
  // Without --help the same arguments are refused as before.
  assert.throws(() => load(["--bogus=1", "--period=soon"], env), ConfigError);
  assert.throws(() => load(["-x"], env), ConfigError);
  assert.throws(
    () => load(["--help"]),
    (err: unknown) => err instanceof HelpRequested && !(err instanceof ConfigError),
  );
});
