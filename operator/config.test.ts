import { test } from "node:test";
import assert from "node:assert/strict";
import { ConfigError, loadConfig, OPERATOR_FLAGS, parseDurationMs, parseFlags } from "./config.ts";
import { flagsRead, helpEntries, helpOf, tableVariables } from "../common/runtime/help-check.ts";
import { DEFAULT_EGRESS_DENY } from "./workspace/egress.ts";

test("defaults are complete, valid and frozen", () => {
  const c = loadConfig([], {});
  assert.equal(c.builder.routing, "host");
  assert.equal(c.builder.baseDomain, "portico.test");
  assert.equal(c.leaderElection.enabled, true);
  assert.ok(c.leaderElection.renewDeadlineMs < c.leaderElection.leaseDurationMs);
  assert.ok(Object.isFrozen(c) && Object.isFrozen(c.builder) && Object.isFrozen(c.builder.proxyPodLabels));
});

test("flags win over environment variables", () => {
  const c = loadConfig(["--base-domain=flag.example.com", "--workers", "8"], {
    PORTICO_BASE_DOMAIN: "env.example.com",
    PORTICO_QPS: "20",
  });
  assert.equal(c.builder.baseDomain, "flag.example.com");
  assert.equal(c.workers, 8);
  assert.equal(c.qps, 20);
});

test("every problem is reported at once, naming the flag and the variable to set", () => {
  assert.throws(
    () =>
      loadConfig(["--workers=0", "--lease-duration=soon", "--routing=dns", "--bogus=1"], {
        PORTICO_BASE_DOMAIN: "Not A Domain",
        PORTICO_PROXY_POD_LABELS: "=",
      }),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      for (const want of [
        "--workers (or PORTICO_WORKERS)",
        "--lease-duration (or PORTICO_LEASE_DURATION)",
        "--routing (or PORTICO_ROUTING)",
        "unknown flag --bogus",
        "--base-domain (or PORTICO_BASE_DOMAIN)",
        "--proxy-pod-labels (or PORTICO_PROXY_POD_LABELS)",
      ]) {
        assert.ok(err.message.includes(want), `message names ${want}: ${err.message}`);
      }
      return true;
    },
  );
});

test("lease timings must nest: retry < renew deadline < lease duration", () => {
  assert.throws(
    () => loadConfig(["--lease-duration=5s", "--renew-deadline=10s"], {}),
    /renew-deadline must be shorter/,
  );
  assert.throws(
    () => loadConfig(["--renew-deadline=2s", "--retry-period=3s"], {}),
    /retry-period must be shorter/,
  );
});

test("flag parsing accepts --a=b, --a b and bare --flag, and rejects stray words", () => {
  assert.deepEqual(parseFlags(["--a=1", "--b", "2", "--c"]), { a: "1", b: "2", c: "true" });
  assert.throws(() => parseFlags(["stray"]), /unexpected argument "stray"/);
});

test("durations", () => {
  assert.equal(parseDurationMs("1h30m"), 5_400_000);
  assert.equal(parseDurationMs("500ms"), 500);
  assert.equal(parseDurationMs("-1s"), undefined);
  assert.equal(parseDurationMs("10"), undefined);
});

test("workspace egress: CIDR flags are canonical, every bad one reported, /0 only in the allow list", () => {
  const c = loadConfig(
    [
      "--pod-cidrs=198.18.0.0/16",
      "--service-cidrs=198.19.0.0/16,fd10::/108",
      "--api-server-cidrs=203.0.113.10",
      "--workspace-egress=allow-list",
      "--workspace-egress-allow=0.0.0.0/0",
    ],
    {},
  );
  assert.deepEqual(c.builder.workspaceEgress, {
    mode: "allow-list",
    podCidrs: ["198.18.0.0/16"],
    serviceCidrs: ["198.19.0.0/16", "fd10::/108"],
    apiServerCidrs: ["203.0.113.10/32"],
    deny: [...DEFAULT_EGRESS_DENY],
    allow: ["0.0.0.0/0"],
  });
  assert.equal(loadConfig([], {}).builder.workspaceEgress.mode, "restricted");
  assert.deepEqual(loadConfig([], {}).builder.workspaceEgress.podCidrs, ["10.244.0.0/16"]);
  assert.deepEqual(
    loadConfig([], { PORTICO_WORKSPACE_EGRESS_DENY: "" }).builder.workspaceEgress.deny,
    [],
    "an empty deny list leaves only the pod, service, API server and metadata ranges",
  );
  assert.throws(
    () =>
      loadConfig(
        ["--pod-cidrs=10.1.2.3/8", "--workspace-egress-deny=0.0.0.0/0", "--workspace-egress=closed"],
        {
          PORTICO_SERVICE_CIDRS: "not-a-cidr",
        },
      ),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      for (const want of [
        '--pod-cidrs (or PORTICO_POD_CIDRS): "10.1.2.3/8" has host bits set; did you mean 10.0.0.0/8?',
        "--service-cidrs (or PORTICO_SERVICE_CIDRS)",
        "--workspace-egress-deny (or PORTICO_WORKSPACE_EGRESS_DENY): 0.0.0.0/0 covers every address",
        "--workspace-egress (or PORTICO_WORKSPACE_EGRESS)",
      ])
        assert.ok(err.message.includes(want), `message names ${want}: ${err.message}`);
      return true;
    },
  );
});

test("--help lists every flag the loader reads, with its variable and default, and nothing else", () => {
  const read = flagsRead((env) => loadConfig([], env));
  const entries = helpEntries(helpOf((argv) => loadConfig(argv, {})));
  // The variables the loader looks up are exactly the flags the help lists, in the table's order.
  assert.deepEqual(
    entries.map((e) => e.variable),
    tableVariables(OPERATOR_FLAGS).map((f) => f.variable),
  );
  assert.deepEqual(new Set(entries.map((e) => e.variable)), read);
  for (const e of entries) {
    assert.equal(e.variable, `PORTICO_${e.flag.toUpperCase().replaceAll("-", "_")}`);
    assert.ok(e.default !== "" && e.help !== "", `--${e.flag} has a default and a description`);
  }
  // The defaults are the loader's own.
  const d = loadConfig([], {});
  const shown = Object.fromEntries(entries.map((e) => [e.flag, e.default]));
  assert.equal(shown["resync-period"], "10m");
  assert.equal(d.resyncPeriodMs, 600_000);
  assert.equal(shown.workers, String(d.workers));
  assert.equal(shown["base-domain"], d.builder.baseDomain);
  assert.equal(shown["backoff-base"], "500ms");
  assert.equal(shown["workspace-egress-deny"], DEFAULT_EGRESS_DENY.join(","));
  assert.equal(shown.identity, "<hostname>-<pid>");
});

test("--help and -h win over bad settings: help, not a refusal", () => {
  for (const flag of ["--help", "-h"]) {
    const text = helpOf(
      (argv) => loadConfig(argv, { PORTICO_WORKERS: "many" }),
      ["--workers=0", "--bogus", flag],
    );
    assert.match(text, /^Usage: portico-operator/);
  }
});
