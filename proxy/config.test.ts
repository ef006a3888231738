import { test } from "node:test";
import assert from "node:assert/strict";
import {
  AUTH_MODES,
  ConfigError,
  loadConfig,
  loadSessionKeysConfig,
  parseBytes,
  PROXY_FLAGS,
} from "./config.ts";
import { flagsRead, helpEntries, helpOf, tableVariables } from "../common/runtime/help-check.ts";

test("--auth must be given; none starts, with frozen defaults", () => {
  assert.throws(() => loadConfig([], {}), /--auth \(or PORTICO_AUTH\) must be given/);
  const c = loadConfig(["--auth=none"], {});
  assert.equal(c.auth, "none");
  assert.equal(c.routingConfig.routing, "host");
  assert.equal(c.limits.maxHeaderBytes, 16 * 1024);
  assert.ok(Object.isFrozen(c) && Object.isFrozen(c.limits) && Object.isFrozen(c.allowedMethods));
});

test("each auth mode says what it needs; the client secret comes from the environment", () => {
  assert.throws(() => loadConfig(["--auth=magic"], {}), /is not one of none, oidc/);
  assert.throws(
    () => loadConfig(["--auth=oidc"], {}),
    (err: unknown) => {
      const m = (err as Error).message;
      for (const f of ["--oidc-issuer", "--oidc-client-id", "--oidc-client-secret", "--public-url"])
        assert.match(m, new RegExp(`${f} \\(or PORTICO_[A-Z_]+\\) must be given with --auth=oidc`));
      return true;
    },
  );
  assert.throws(() => loadConfig(["--auth=jwt", "--oidc-issuer=https://idp.test"], {}), /--oidc-audiences/);
  assert.throws(
    () => loadConfig(["--auth=trusted-headers"], {}),
    /--trusted-header-secret-file \(or PORTICO_TRUSTED_HEADER_SECRET_FILE\) must be given with --auth=trusted-headers/,
  );
  assert.throws(
    () => loadConfig(["--auth=trusted-headers", "--trusted-header-cidrs=10.0.0.0/8"], {}),
    /a source range \(--trusted-header-cidrs\) alone proves nothing/i,
    "a CIDR alone is refused",
  );
  assert.throws(
    () => loadConfig(["--auth=trusted-headers", "--trusted-header-cidrs=10.0.0.0/8,everyone"], {}),
    /"everyone" is not a CIDR/,
  );
  assert.throws(
    () => loadConfig(["--auth=jwt", "--oidc-issuer=ftp://x", "--oidc-client-id=a"], {}),
    /http\(s\) URL/,
  );
  const c = loadConfig(
    [
      "--auth=oidc",
      "--oidc-issuer=https://idp.test/realms/r",
      "--oidc-client-id=portico",
      "--public-url=https://portico.example.com/",
      "--base-domain=portico.example.com",
    ],
    { PORTICO_OIDC_CLIENT_SECRET: "s3cret" },
  );
  assert.equal(c.identity.clientSecret, "s3cret");
  assert.deepEqual(c.identity.audiences, ["portico"], "the client id by default");
  assert.equal(c.identity.publicUrl, "https://portico.example.com", "no trailing slash");
  assert.equal(c.identity.cookieDomain, "portico.example.com", "host routing: the base domain");
  assert.equal(c.identity.sessionTtlMs, 8 * 3_600_000);
  assert.deepEqual(c.identity.adminRoles, ["portico-admin"]);
  const path = loadConfig(["--auth=none", "--routing=path"], {});
  assert.equal(path.identity.cookieDomain, undefined, "path routing: a host-only cookie");
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

test("trusted-headers: the gateway secret file is required; the CIDRs are an optional extra; the header is configurable", () => {
  const c = loadConfig(["--auth=trusted-headers"], {
    PORTICO_TRUSTED_HEADER_SECRET_FILE: "/etc/portico/gw/secret",
  });
  assert.equal(c.identity.trustedHeaderSecretFile, "/etc/portico/gw/secret");
  assert.equal(c.identity.trustedHeaderSecretName, "x-portico-gateway-secret");
  assert.deepEqual(c.identity.trustedHeaderCidrs, []);
  const named = loadConfig(
    [
      "--auth=trusted-headers",
      "--trusted-header-secret-file=/s",
      "--trusted-header-secret-name=X-Mesh-Proof",
      "--trusted-header-cidrs=10.1.2.0/24",
    ],
    {},
  );
  assert.equal(named.identity.trustedHeaderSecretName, "x-mesh-proof", "lower case, as Node reads headers");
  assert.deepEqual(named.identity.trustedHeaderCidrs, ["10.1.2.0/24"]);
  for (const bad of ["Authorization", "X-Forwarded-User", "Cookie", "x-forwarded-for"])
    assert.throws(
      () =>
        loadConfig(
          [
            "--auth=trusted-headers",
            "--trusted-header-secret-file=/s",
            `--trusted-header-secret-name=${bad}`,
          ],
          {},
        ),
      /--trusted-header-secret-name .*: [a-z-]+ is a header with its own meaning/,
      bad,
    );
  assert.throws(
    () =>
      loadConfig(
        ["--auth=trusted-headers", "--trusted-header-secret-file=/s", "--trusted-header-secret-name=a b"],
        {},
      ),
    /is not a header name/,
  );
});

test("trusted proxy hops: 0 by default; --trust-forwarded=true is one hop; both given must agree", () => {
  const d = loadConfig(["--auth=none"], {});
  assert.equal(d.trustedProxyHops, 0);
  assert.equal(d.trustForwarded, false);
  const two = loadConfig(["--auth=none", "--trusted-proxy-hops=2"], {});
  assert.equal(two.trustedProxyHops, 2);
  assert.equal(two.trustForwarded, true, "X-Forwarded-Proto/Host come from the hops");
  const old = loadConfig(["--auth=none", "--trust-forwarded=true"], {});
  assert.equal(old.trustedProxyHops, 1, "the older boolean: one trusted hop");
  assert.equal(loadConfig(["--auth=none", "--trust-forwarded=false"], {}).trustedProxyHops, 0);
  assert.equal(
    loadConfig(["--auth=none", "--trust-forwarded=true", "--trusted-proxy-hops=3"], {}).trustedProxyHops,
    3,
  );
  assert.throws(
    () => loadConfig(["--auth=none", "--trust-forwarded=true", "--trusted-proxy-hops=0"], {}),
    /--trust-forwarded \(or PORTICO_TRUST_FORWARDED\) contradicts --trusted-proxy-hops/,
  );
  assert.throws(
    () => loadConfig(["--auth=none", "--trust-forwarded=false"], { PORTICO_TRUSTED_PROXY_HOPS: "1" }),
    /contradicts/,
  );
  assert.throws(
    () => loadConfig(["--auth=none", "--trusted-proxy-hops=-1"], {}),
    /a whole number from 0 to 16/,
  );
  assert.throws(() => loadConfig(["--auth=none", "--trusted-proxy-hops=one"], {}), /--trusted-proxy-hops/);
});
test("offline_access is asked for only when configured, with its own flag", () => {
  const oidc = [
    "--auth=oidc",
    "--oidc-issuer=https://idp.test",
    "--oidc-client-id=p",
    "--public-url=https://p.test",
  ];
  const env = { PORTICO_OIDC_CLIENT_SECRET: "s" };
  assert.deepEqual(loadConfig(oidc, env).identity.scopes, ["openid", "profile", "email", "groups"]);
  assert.deepEqual(loadConfig([...oidc, "--oidc-offline-access=true"], env).identity.scopes, [
    "openid",
    "profile",
    "email",
    "groups",
    "offline_access",
  ]);
  assert.deepEqual(loadConfig([...oidc, "--oidc-scopes=email"], env).identity.scopes, ["openid", "email"]);
  assert.throws(
    () => loadConfig([...oidc, "--oidc-scopes=openid,offline_access"], env),
    /offline_access is asked for with --oidc-offline-access=true/,
  );
});

test("--help lists every flag the loader reads, with its variable and default, and nothing else", () => {
  // Every auth mode: a flag read only for one of them would show up in one set and not the others.
  for (const auth of AUTH_MODES) {
    const read = flagsRead(
      (env) => {
        try {
          loadConfig([], env);
        } catch (err) {
          if (!(err instanceof ConfigError)) throw err; // a mode's missing settings: still read
        }
      },
      { PORTICO_AUTH: auth },
    );
    assert.deepEqual(read, new Set(tableVariables(PROXY_FLAGS).map((f) => f.variable)), `--auth=${auth}`);
  }
  const text = helpOf((argv) => loadConfig(argv, {}));
  const entries = helpEntries(text);
  assert.deepEqual(
    entries.map((e) => e.variable),
    tableVariables(PROXY_FLAGS).map((f) => f.variable),
  );
  for (const e of entries) assert.ok(e.default !== "" && e.help !== "", `--${e.flag}`);
  const shown = Object.fromEntries(entries.map((e) => [e.flag, e.default]));
  const d = loadConfig(["--auth=none"], {});
  assert.equal(shown.auth, "required", "--auth has no default: running open is a decision");
  assert.equal(shown.port, String(d.port));
  assert.equal(shown["max-body-bytes"], "256Mi");
  assert.equal(parseBytes(shown["max-header-bytes"]!), d.limits.maxHeaderBytes);
  assert.equal(shown["session-ttl"], "8h");
  assert.equal(shown["request-timeout"], "5m");
  assert.equal(shown["allowed-methods"], d.allowedMethods.join(","));
  assert.equal(shown["oidc-audiences"], "the client id");
  assert.match(text, /--auth=<none\|oidc\|jwt\|trusted-headers>/);
  assert.match(text, /portico-proxy session-keys --help/, "the subcommand is named");
});

test("--help prints no secret it was given, and wins over bad settings", () => {
  const text = helpOf(
    (argv) => loadConfig(argv, { PORTICO_OIDC_CLIENT_SECRET: "very-secret-value", PORTICO_PORT: "x" }),
    ["--auth=bogus", "-h"],
  );
  assert.ok(!text.includes("very-secret-value"));
  assert.match(text, /^Usage: portico-proxy/);
});

test("session-keys --help lists its flags, --namespace and --secret as required", () => {
  const read = flagsRead((env) => {
    try {
      loadSessionKeysConfig([], env);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
    }
  });
  const entries = helpEntries(helpOf((argv) => loadSessionKeysConfig(argv, {})));
  assert.deepEqual(new Set(entries.map((e) => e.variable)), read);
  assert.deepEqual(
    entries.map((e) => `${e.flag} ${e.default}`),
    [
      "kubeconfig KUBECONFIG, else the pod's service account",
      "namespace required",
      "secret required",
      "key session-keys.json",
      "labels unset",
    ],
  );
});

test("console resource views: off by default; reveal implies secrets; RBAC prefixes never into system:", () => {
  const off = loadConfig(["--auth=none"], {}).console;
  assert.deepEqual(
    [off.resources, off.secrets, off.revealSecrets, off.rbacUserPrefix],
    [false, false, false, ""],
  );
  const reveal = loadConfig(
    ["--auth=none", "--console-resources=true", "--console-reveal-secrets=true"],
    {},
  ).console;
  assert.deepEqual([reveal.resources, reveal.secrets, reveal.revealSecrets], [true, true, true]);
  const keys = loadConfig(["--auth=none", "--console-secrets=true"], {}).console;
  assert.deepEqual([keys.secrets, keys.revealSecrets], [true, false]);
  const prefixed = loadConfig(["--auth=none", "--console-rbac-user-prefix=oidc:"], {
    PORTICO_CONSOLE_RBAC_GROUP_PREFIX: "oidc:",
  }).console;
  assert.deepEqual([prefixed.rbacUserPrefix, prefixed.rbacGroupPrefix], ["oidc:", "oidc:"]);
  assert.throws(
    () => loadConfig(["--auth=none", "--console-rbac-group-prefix=system:"], {}),
    /--console-rbac-group-prefix/,
  );
  assert.throws(
    () => loadConfig(["--auth=none", "--console-rbac-user-prefix=a b"], {}),
    /--console-rbac-user-prefix/,
  );
});
