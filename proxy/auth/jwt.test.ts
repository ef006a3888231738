import { test, before } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import jose from "node-jose";
import type { JWK } from "node-jose";
import { identityFromClaims } from "./identity.ts";
import { JwtVerifier, type JwtFailure, type JwtOptions } from "./jwt.ts";

const ISS = "https://idp.example/realms/portico";
const AUD = "portico-proxy";
const NOW = 1_700_000_000_000;
const S = NOW / 1000;

// --- keys: real RSA 2048 and EC P-256, generated once --------------------------------------------

let rsa1: JWK.Key; // kid rsa-1, no `use` in the JWKS
let rsa2: JWK.Key; // kid rsa-2, the rotated-in key
let evil: JWK.Key; // an attacker's RSA key
let ec1: JWK.Key; // kid ec-1, use sig
let baseJwks: { keys: object[] };
/** `evil`'s public key, published under other kids with a `use`/`alg` that must keep it out. */
let encJwk: object;
let pinnedJwk: object;

before(async () => {
  const ks = jose.JWK.createKeyStore();
  [rsa1, rsa2, evil, ec1] = await Promise.all([
    ks.generate("RSA", 2048, { kid: "rsa-1" }),
    ks.generate("RSA", 2048, { kid: "rsa-2", use: "sig", alg: "RS256" }),
    ks.generate("RSA", 2048, { kid: "rsa-1" }),
    ks.generate("EC", "P-256", { kid: "ec-1", use: "sig" }),
  ]);
  encJwk = { ...evil.toJSON(), kid: "enc-1", use: "enc" };
  pinnedJwk = { ...evil.toJSON(), kid: "rsa-512", alg: "RS512" };
  baseJwks = { keys: [rsa1.toJSON(), ec1.toJSON(), encJwk, pinnedJwk] };
});

// --- tokens --------------------------------------------------------------------------------------

const b64 = (s: string | Buffer) => Buffer.from(s).toString("base64url");

const goodClaims = (over: Record<string, unknown> = {}) => ({
  iss: ISS,
  aud: AUD,
  sub: "u-1",
  exp: S + 300,
  iat: S - 10,
  nbf: S - 10,
  ...over,
});

function signature(alg: string, input: string, key?: JWK.Key, secret?: string): string {
  const data = Buffer.from(input);
  const pem = () => key!.toPEM(true);
  switch (alg) {
    case "RS256":
      return crypto.sign("sha256", data, pem()).toString("base64url");
    case "RS384":
      return crypto.sign("sha384", data, pem()).toString("base64url");
    case "PS256":
      return crypto
        .sign("sha256", data, { key: pem(), padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 })
        .toString("base64url");
    case "ES256":
      return crypto.sign("sha256", data, { key: pem(), dsaEncoding: "ieee-p1363" }).toString("base64url");
    case "HS256":
      return crypto.createHmac("sha256", secret!).update(data).digest("base64url");
    case "HS512":
      return crypto.createHmac("sha512", secret!).update(data).digest("base64url");
    default:
      return "";
  }
}

/**
 * A compact JWS signed with `key` (node:crypto, so any header can be crafted). The header defaults
 * to the key's alg and kid with typ JWT; an `undefined` member is left out.
 */
function mint(
  key: JWK.Key,
  claims: unknown = goodClaims(),
  header: Record<string, unknown> = {},
  secret?: string,
): string {
  const h = { alg: key.kty === "EC" ? "ES256" : "RS256", typ: "JWT", kid: key.kid, ...header };
  const input = `${b64(JSON.stringify(h))}.${b64(typeof claims === "string" ? claims : JSON.stringify(claims))}`;
  return `${input}.${signature(String(h.alg), input, key, secret)}`;
}

/** A token signed by node-jose itself, as an issuer library would. */
async function joseSign(key: JWK.Key, claims: object, fields: object = { typ: "JWT" }): Promise<string> {
  const r = await jose.JWS.createSign({ format: "compact", fields }, key)
    .update(JSON.stringify(claims))
    .final();
  return r as unknown as string;
}

const part = (token: string, i: number) => token.split(".")[i]!;

// --- a real JWKS server --------------------------------------------------------------------------

interface Jwks {
  url: string;
  port: number;
  requests: number;
  status: number;
  body: unknown;
  close(): Promise<void>;
  listen(port?: number): Promise<void>;
}

async function jwksServer(t: { after(fn: () => unknown): void }, body: unknown = baseJwks): Promise<Jwks> {
  const state = { requests: 0, status: 200, body } as Jwks;
  const server = http.createServer((req, res) => {
    state.requests++;
    if (state.status !== 200) {
      res.writeHead(state.status, { "content-type": "text/plain" }).end("down");
      return;
    }
    const body = typeof state.body === "string" ? state.body : JSON.stringify(state.body);
    res.writeHead(200, { "content-type": "application/json" }).end(body);
  });
  state.listen = (port = 0) =>
    new Promise<void>((resolve) =>
      server.listen(port, "127.0.0.1", () => {
        state.port = (server.address() as AddressInfo).port;
        state.url = `http://127.0.0.1:${state.port}/realms/portico/protocol/openid-connect/certs`;
        resolve();
      }),
    );
  state.close = () =>
    new Promise<void>((resolve) => {
      if (!server.listening) return resolve();
      server.close(() => resolve());
      server.closeAllConnections();
    });
  await state.listen();
  t.after(() => state.close());
  return state;
}

function verifier(jwks: Jwks, clock = { t: NOW }, over: Partial<JwtOptions> = {}) {
  return new JwtVerifier({
    issuer: ISS,
    audiences: [AUD, "account"],
    jwksUri: jwks.url,
    now: () => clock.t,
    ...over,
  });
}

function assertFails(r: Awaited<ReturnType<JwtVerifier["verify"]>>, reason: JwtFailure, token: string) {
  assert.equal(r.ok, false, `expected ${reason}, got ok`);
  if (r.ok) return;
  assert.equal(r.reason, reason, r.detail);
  assert.ok(r.detail.length > 0);
  // The detail says what was wrong, never echoes the token or any long part of it.
  for (const p of token.split(".")) if (p.length > 16) assert.ok(!r.detail.includes(p), r.detail);
}

// --- bad tokens ----------------------------------------------------------------------------------

interface Bad {
  name: string;
  make: () => string;
  reason: JwtFailure;
  options?: Partial<JwtOptions>;
}

const bad: Bad[] = [
  // time
  { name: "expired long ago", make: () => mint(rsa1, goodClaims({ exp: S - 400 })), reason: "expired" },
  { name: "expired beyond the skew", make: () => mint(rsa1, goodClaims({ exp: S - 31 })), reason: "expired" },
  {
    name: "expired exactly at the skew",
    make: () => mint(rsa1, goodClaims({ exp: S - 30 })),
    reason: "expired",
  },
  {
    name: "expired, no skew",
    make: () => mint(rsa1, goodClaims({ exp: S - 1 })),
    reason: "expired",
    options: { clockSkewSeconds: 0 },
  },
  { name: "not yet valid", make: () => mint(rsa1, goodClaims({ nbf: S + 120 })), reason: "not_yet_valid" },
  {
    name: "issued in the future",
    make: () => mint(rsa1, goodClaims({ iat: S + 120 })),
    reason: "issued_in_future",
  },
  // issuer and audience
  {
    name: "wrong issuer",
    make: () => mint(rsa1, goodClaims({ iss: "https://evil.example/realms/portico" })),
    reason: "wrong_issuer",
  },
  {
    name: "issuer with a trailing slash",
    make: () => mint(rsa1, goodClaims({ iss: `${ISS}/` })),
    reason: "wrong_issuer",
  },
  { name: "missing issuer", make: () => mint(rsa1, goodClaims({ iss: undefined })), reason: "wrong_issuer" },
  {
    name: "wrong audience (string)",
    make: () => mint(rsa1, goodClaims({ aud: "other-client" })),
    reason: "wrong_audience",
  },
  {
    name: "wrong audience (array)",
    make: () => mint(rsa1, goodClaims({ aud: ["a", "b"] })),
    reason: "wrong_audience",
  },
  {
    name: "missing audience",
    make: () => mint(rsa1, goodClaims({ aud: undefined })),
    reason: "wrong_audience",
  },
  {
    name: "audience array of non-strings",
    make: () => mint(rsa1, goodClaims({ aud: [1, null] })),
    reason: "wrong_audience",
  },
  {
    name: "audience as an object",
    make: () => mint(rsa1, goodClaims({ aud: { [AUD]: true } })),
    reason: "wrong_audience",
  },
  // keys and signatures
  { name: "unknown kid", make: () => mint(evil, goodClaims(), { kid: "nobody" }), reason: "unknown_kid" },
  {
    name: "payload altered after signing",
    make: () => {
      const t = mint(rsa1);
      return [part(t, 0), b64(JSON.stringify(goodClaims({ sub: "admin" }))), part(t, 2)].join(".");
    },
    reason: "bad_signature",
  },
  { name: "signed by another key with the same kid", make: () => mint(evil), reason: "bad_signature" },
  {
    name: "signed by another key, which it embeds as jwk",
    make: () => mint(evil, goodClaims(), { jwk: evil.toJSON() }),
    reason: "bad_signature",
  },
  {
    name: "empty RS256 signature",
    make: () => `${part(mint(rsa1), 0)}.${part(mint(rsa1), 1)}.`,
    reason: "bad_signature",
  },
  {
    name: "ES256 signature of another message",
    make: () =>
      [part(mint(ec1), 0), part(mint(ec1), 1), part(mint(ec1, goodClaims({ sub: "x" })), 2)].join("."),
    reason: "bad_signature",
  },
  {
    name: "ES256 token whose kid names an RSA key",
    make: () => mint(ec1, goodClaims(), { kid: "rsa-1" }),
    reason: "unknown_kid",
  },
  {
    name: "RS256 token whose kid names an EC key",
    make: () => mint(rsa1, goodClaims(), { kid: "ec-1" }),
    reason: "unknown_kid",
  },
  {
    name: "signed by a key published with use: enc",
    make: () => mint(evil, goodClaims(), { kid: "enc-1" }),
    reason: "unknown_kid",
  },
  {
    name: "RS256 by a key pinned to alg RS512",
    make: () => mint(evil, goodClaims(), { kid: "rsa-512" }),
    reason: "unknown_kid",
  },
  // algorithms
  {
    name: "alg none, empty signature",
    make: () => mint(rsa1, goodClaims(), { alg: "none" }),
    reason: "alg_not_allowed",
  },
  { name: "alg NONE", make: () => mint(rsa1, goodClaims(), { alg: "NONE" }), reason: "alg_not_allowed" },
  {
    name: "alg missing",
    make: () => mint(rsa1, goodClaims(), { alg: undefined }),
    reason: "alg_not_allowed",
  },
  {
    name: "HS256 keyed with the RSA public key's PEM",
    make: () => mint(rsa1, goodClaims(), { alg: "HS256" }, rsa1.toPEM(false)),
    reason: "alg_not_allowed",
  },
  {
    name: "HS512",
    make: () => mint(rsa1, goodClaims(), { alg: "HS512" }, "secret"),
    reason: "alg_not_allowed",
  },
  { name: "RS384", make: () => mint(rsa1, goodClaims(), { alg: "RS384" }), reason: "alg_not_allowed" },
  { name: "PS256", make: () => mint(rsa1, goodClaims(), { alg: "PS256" }), reason: "alg_not_allowed" },
  {
    name: "ES256 when only RS256 is allowed",
    make: () => mint(ec1),
    reason: "alg_not_allowed",
    options: { algorithms: ["RS256"] },
  },
  // structure
  {
    name: "truncated: 2 parts",
    make: () => mint(rsa1).split(".").slice(0, 2).join("."),
    reason: "malformed",
  },
  { name: "4 parts", make: () => `${mint(rsa1)}.${part(mint(rsa1), 2)}`, reason: "malformed" },
  { name: "5 parts (a JWE)", make: () => "eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d", reason: "malformed" },
  { name: "garbage", make: () => "this is not a token", reason: "malformed" },
  { name: "empty string", make: () => "", reason: "malformed" },
  { name: "three empty parts", make: () => "..", reason: "malformed" },
  {
    name: "standard base64 characters",
    make: () => mint(rsa1).replace(/-|_/g, "+") + "/",
    reason: "malformed",
  },
  {
    name: "padding '='",
    make: () => `${part(mint(rsa1), 0)}=.${part(mint(rsa1), 1)}.${part(mint(rsa1), 2)}`,
    reason: "malformed",
  },
  { name: "surrounding whitespace", make: () => ` ${mint(rsa1)} `, reason: "malformed" },
  {
    name: "header not JSON",
    make: () => `${b64("{alg:RS256")}.${part(mint(rsa1), 1)}.${part(mint(rsa1), 2)}`,
    reason: "malformed",
  },
  {
    name: "header a JSON array",
    make: () => `${b64('["RS256"]')}.${part(mint(rsa1), 1)}.${part(mint(rsa1), 2)}`,
    reason: "malformed",
  },
  { name: "payload not JSON (validly signed)", make: () => mint(rsa1, "not json"), reason: "malformed" },
  { name: "payload a JSON array (validly signed)", make: () => mint(rsa1, "[1,2]"), reason: "malformed" },
  { name: "payload JSON null (validly signed)", make: () => mint(rsa1, "null"), reason: "malformed" },
  { name: "kid not a string", make: () => mint(rsa1, goodClaims(), { kid: 7 }), reason: "malformed" },
  {
    name: "crit header",
    make: () => mint(rsa1, goodClaims(), { crit: ["exp"], exp: S + 300 }),
    reason: "malformed",
  },
  {
    name: "crit header, b64: false",
    make: () => mint(rsa1, goodClaims(), { crit: ["b64"], b64: false }),
    reason: "malformed",
  },
  {
    name: "oversized",
    make: () => mint(rsa1, goodClaims({ pad: "x".repeat(9000) })),
    reason: "too_large",
  },
  {
    name: "over a lowered maxTokenBytes",
    make: () => mint(rsa1),
    reason: "too_large",
    options: { maxTokenBytes: 256 },
  },
  // typ
  { name: "typ JWE", make: () => mint(rsa1, goodClaims(), { typ: "JWE" }), reason: "wrong_typ" },
  {
    name: "typ logout+jwt",
    make: () => mint(rsa1, goodClaims(), { typ: "logout+jwt" }),
    reason: "wrong_typ",
  },
  { name: "typ a number", make: () => mint(rsa1, goodClaims(), { typ: 1 }), reason: "wrong_typ" },
  // claims
  { name: "missing sub", make: () => mint(rsa1, goodClaims({ sub: undefined })), reason: "missing_sub" },
  { name: "empty sub", make: () => mint(rsa1, goodClaims({ sub: "" })), reason: "missing_sub" },
  { name: "numeric sub", make: () => mint(rsa1, goodClaims({ sub: 42 })), reason: "missing_sub" },
  { name: "exp a string", make: () => mint(rsa1, goodClaims({ exp: String(S + 300) })), reason: "malformed" },
  { name: "missing exp", make: () => mint(rsa1, goodClaims({ exp: undefined })), reason: "malformed" },
  {
    name: "exp 1e400 (Infinity)",
    make: () => mint(rsa1, JSON.stringify(goodClaims()).replace(/"exp":\d+/, '"exp":1e400')),
    reason: "malformed",
  },
  { name: "nbf a string", make: () => mint(rsa1, goodClaims({ nbf: "yesterday" })), reason: "malformed" },
  { name: "iat null", make: () => mint(rsa1, goodClaims({ iat: null })), reason: "malformed" },
];

/** Refused before a key is even looked up: no JWKS fetch, no crypto. */
const beforeCrypto = new Set<JwtFailure>(["alg_not_allowed", "too_large", "wrong_typ"]);

test(`${bad.length} bad tokens are refused with the expected reason`, async (t) => {
  assert.ok(bad.length >= 30);
  const jwks = await jwksServer(t);
  for (const c of bad) {
    await t.test(c.name, async () => {
      const v = verifier(jwks, { t: NOW }, c.options);
      const token = c.make();
      assertFails(await v.verify(token), c.reason, token);
      if (beforeCrypto.has(c.reason))
        assert.deepEqual(v.stats(), { jwksFetches: 0, cacheHits: 0, verifications: 0 });
    });
  }
});

test("alg none, HS256-with-the-public-key, RS384, PS256: no fetch, no crypto, nothing cached", async (t) => {
  const jwks = await jwksServer(t);
  const v = verifier(jwks);
  for (const alg of ["none", "HS256", "RS384", "PS256"]) {
    const token = mint(rsa1, goodClaims(), { alg }, rsa1.toPEM(false));
    for (let i = 0; i < 2; i++) assertFails(await v.verify(token), "alg_not_allowed", token);
  }
  assert.deepEqual(v.stats(), { jwksFetches: 0, cacheHits: 0, verifications: 0 });
  assert.equal(jwks.requests, 0);
});

test("an unknown kid is refused after one refetch that still lacks it", async (t) => {
  const jwks = await jwksServer(t);
  const clock = { t: NOW };
  const v = verifier(jwks, clock);
  assert.equal((await v.verify(mint(rsa1))).ok, true);
  assert.equal(jwks.requests, 1);
  clock.t += 10_000;
  const token = mint(evil, goodClaims(), { kid: "nobody" });
  assertFails(await v.verify(token), "unknown_kid", token);
  assert.equal(jwks.requests, 2);
  assert.equal(v.stats().verifications, 1, "an unknown kid reaches no crypto");
});

// --- good tokens ---------------------------------------------------------------------------------

test("RS256 signed by node-jose, aud a string: ok, with its claims and expiry", async (t) => {
  const jwks = await jwksServer(t);
  const v = verifier(jwks);
  const claims = goodClaims();
  const r = await v.verify(await joseSign(rsa1, claims));
  assert.ok(r.ok);
  assert.deepEqual(r.claims, claims);
  assert.equal(r.expiresAt, claims.exp * 1000);
  assert.deepEqual(v.stats(), { jwksFetches: 1, cacheHits: 0, verifications: 1 });
});

test("ES256 signed by node-jose, aud an array holding one of ours", async (t) => {
  const jwks = await jwksServer(t);
  const r = await verifier(jwks).verify(await joseSign(ec1, goodClaims({ aud: ["other", "account"] })));
  assert.ok(r.ok, r.ok ? "" : r.detail);
  assert.deepEqual(r.claims.aud, ["other", "account"]);
});

test("Keycloak-like access token: claims come back and make an identity", async (t) => {
  const jwks = await jwksServer(t);
  const claims = goodClaims({
    typ: "Bearer",
    azp: AUD,
    preferred_username: "alice",
    email: "alice@example.com",
    realm_access: { roles: ["offline_access", "portico-admin"] },
    resource_access: { [AUD]: { roles: ["viewer"] } },
    groups: ["/team-a"],
    scope: "openid profile email",
  });
  const r = await verifier(jwks).verify(mint(rsa1, claims, { typ: "at+jwt" }));
  assert.ok(r.ok, r.ok ? "" : r.detail);
  assert.equal(r.claims.preferred_username, "alice");
  assert.deepEqual(r.claims.realm_access, { roles: ["offline_access", "portico-admin"] });
  const who = identityFromClaims(r.claims, "bearer", AUD)!;
  assert.equal(who.user, "alice");
  assert.ok(who.roles.includes("portico-admin") && who.roles.includes("viewer"));
  assert.ok(Object.isFrozen(r.claims) && Object.isFrozen(r.claims.realm_access), "shared with the cache");
});

test("typ absent, JWT, at+jwt, application/AT+JWT; within the skew; kid-less with one fitting key", async (t) => {
  const jwks = await jwksServer(t);
  const v = verifier(jwks);
  const ok = [
    mint(rsa1, goodClaims(), { typ: undefined }),
    mint(rsa1, goodClaims(), { typ: "jwt" }),
    mint(ec1, goodClaims(), { typ: "at+jwt" }),
    mint(rsa1, goodClaims(), { typ: "application/AT+JWT" }),
    mint(rsa1, goodClaims({ exp: S - 29 })), // expired, but within the 30 s skew
    mint(rsa1, goodClaims({ nbf: S + 29, iat: S + 29 })),
    mint(rsa1, goodClaims({ nbf: undefined, iat: undefined })),
    mint(rsa1, goodClaims(), { kid: undefined }), // the one RS256 key: rsa-1 (the others: enc, RS512)
    mint(ec1, goodClaims(), { kid: undefined }),
  ];
  for (const token of ok) {
    const r = await v.verify(token);
    assert.ok(r.ok, r.ok ? "" : r.detail);
  }
});

// --- rotation ------------------------------------------------------------------------------------

for (const keepOld of [false, true]) {
  test(`rotation, old key ${keepOld ? "kept" : "removed"}: the new kid verifies without a new verifier`, async (t) => {
    const jwks = await jwksServer(t);
    const clock = { t: NOW };
    const v = verifier(jwks, clock);
    assert.equal((await v.verify(mint(rsa1))).ok, true);
    jwks.body = { keys: [...(keepOld ? [rsa1.toJSON()] : []), rsa2.toJSON()] };

    // Within the interval of the first fetch, the new kid is not fetched for yet.
    const fresh = mint(rsa2, goodClaims({ jti: "1" }));
    assertFails(await v.verify(fresh), "unknown_kid", fresh);
    assert.equal(jwks.requests, 1);

    clock.t += 10_000;
    const r = await v.verify(mint(rsa2, goodClaims({ jti: "2" })));
    assert.ok(r.ok, r.ok ? "" : r.detail);
    assert.equal(jwks.requests, 2);

    const old = mint(rsa1, goodClaims({ jti: "3" })); // not cached: never verified before
    if (keepOld) assert.equal((await v.verify(old)).ok, true);
    else assertFails(await v.verify(old), "unknown_kid", old);
    const kidless = mint(rsa1, goodClaims(), { kid: undefined });
    if (keepOld) assertFails(await v.verify(kidless), "unknown_kid", kidless); // two RS256 keys: ambiguous
    assert.equal(jwks.requests, 2);
  });
}

test("a flood of 50 unknown kids causes at most one fetch per interval", async (t) => {
  const jwks = await jwksServer(t);
  const clock = { t: NOW };
  const v = verifier(jwks, clock);
  assert.equal((await v.verify(mint(rsa1))).ok, true);
  const flood = (n: number, tag: string) =>
    Array.from({ length: n }, (_, i) => mint(evil, goodClaims(), { kid: `${tag}-${i}` }));

  // Same interval as the first fetch: no fetch at all.
  for (const r of await Promise.all(flood(50, "a").map((x) => v.verify(x))))
    assert.equal(r.ok || r.reason, "unknown_kid");
  assert.equal(jwks.requests, 1);

  clock.t += 10_000;
  for (const r of await Promise.all(flood(50, "b").map((x) => v.verify(x))))
    assert.equal(r.ok || r.reason, "unknown_kid");
  assert.equal(jwks.requests, 2, "50 concurrent unknown kids share one fetch");
  for (const x of flood(50, "c")) assertFails(await v.verify(x), "unknown_kid", x);
  assert.equal(jwks.requests, 2, "none more in the same interval");

  clock.t += 9_999;
  await v.verify(flood(1, "d")[0]!);
  assert.equal(jwks.requests, 2);
  clock.t += 1;
  await v.verify(flood(1, "e")[0]!);
  assert.equal(jwks.requests, 3, "the next interval allows another fetch");
  assert.equal(v.stats().jwksFetches, 3);
  assert.equal(v.stats().verifications, 1);
});

test("concurrent first verifications share one JWKS fetch", async (t) => {
  const jwks = await jwksServer(t);
  const v = verifier(jwks);
  const results = await Promise.all(
    Array.from({ length: 10 }, (_, i) => v.verify(mint(ec1, goodClaims({ jti: `${i}` })))),
  );
  assert.ok(results.every((r) => r.ok));
  assert.equal(jwks.requests, 1);
});

// --- cache ---------------------------------------------------------------------------------------

test("cache: the same token twice is one verification and one hit; expired, it is refused", async (t) => {
  const jwks = await jwksServer(t);
  const clock = { t: NOW };
  const v = verifier(jwks, clock);
  const token = mint(rsa1, goodClaims({ exp: S + 60 }));
  const first = await v.verify(token);
  const second = await v.verify(token);
  assert.ok(first.ok && second.ok);
  assert.deepEqual(second.claims, first.claims);
  assert.deepEqual(v.stats(), { jwksFetches: 1, cacheHits: 1, verifications: 1 });

  clock.t += (60 + 29) * 1000; // past exp, within the skew: still a hit
  assert.equal((await v.verify(token)).ok, true);
  clock.t += 1000;
  assertFails(await v.verify(token), "expired", token);
  assertFails(await v.verify(token), "expired", token);
  assert.deepEqual(v.stats(), { jwksFetches: 1, cacheHits: 2, verifications: 2 });
});

test("cache: bounded, least recently used evicted", async (t) => {
  const jwks = await jwksServer(t);
  const v = verifier(jwks, { t: NOW }, { cacheSize: 2 });
  const [a, b, c] = ["a", "b", "c"].map((jti) => mint(ec1, goodClaims({ jti })));
  for (const x of [a!, b!, a!, c!]) assert.equal((await v.verify(x)).ok, true); // a is used again: b is oldest
  assert.deepEqual(v.stats(), { jwksFetches: 1, cacheHits: 1, verifications: 3 });
  await v.verify(a!);
  assert.equal(v.stats().cacheHits, 2);
  await v.verify(b!);
  assert.equal(v.stats().verifications, 4, "b was evicted");
});

test("a bad token is never cached", async (t) => {
  const jwks = await jwksServer(t);
  const v = verifier(jwks);
  const token = mint(evil);
  for (let i = 0; i < 3; i++) assertFails(await v.verify(token), "bad_signature", token);
  assert.deepEqual(v.stats(), { jwksFetches: 1, cacheHits: 0, verifications: 3 });
});

// --- JWKS unavailable ----------------------------------------------------------------------------

test("JWKS answering 500: jwks_unavailable; once it is back, ok", async (t) => {
  const jwks = await jwksServer(t);
  jwks.status = 500;
  const clock = { t: NOW };
  const v = verifier(jwks, clock);
  const token = mint(rsa1);
  const r = await v.verify(token);
  assertFails(r, "jwks_unavailable", token);
  assert.match(r.ok ? "" : r.detail, /HTTP 500/);
  assertFails(await v.verify(token), "jwks_unavailable", token); // not refetched within the interval
  assert.equal(jwks.requests, 1);
  jwks.status = 200;
  clock.t += 10_000;
  assert.equal((await v.verify(token)).ok, true);
  assert.equal(jwks.requests, 2);
});

test("JWKS server closed: jwks_unavailable; listening again, ok", async (t) => {
  const jwks = await jwksServer(t);
  const clock = { t: NOW };
  const v = verifier(jwks, clock);
  await jwks.close();
  const token = mint(ec1);
  assertFails(await v.verify(token), "jwks_unavailable", token);
  await jwks.listen(jwks.port);
  clock.t += 10_000;
  assert.equal((await v.verify(token)).ok, true);
});

test("a failed refetch keeps the last good keys in use", async (t) => {
  const jwks = await jwksServer(t);
  const clock = { t: NOW };
  const v = verifier(jwks, clock);
  assert.equal((await v.verify(mint(rsa1))).ok, true);
  jwks.status = 503;
  clock.t += 10_000;
  const unknown = mint(rsa2);
  assertFails(await v.verify(unknown), "jwks_unavailable", unknown);
  assert.equal(jwks.requests, 2);
  assert.equal((await v.verify(mint(rsa1, goodClaims({ jti: "other" })))).ok, true);
  assert.equal((await v.verify(mint(ec1))).ok, true);
});

test("a JWKS that is not JSON, has no keys array, or no usable key: jwks_unavailable", async (t) => {
  for (const body of [
    "not json",
    { keys: "nope" },
    { keys: [] },
    { keys: [encJwk, pinnedJwk, { kty: "EC", crv: "P-384", x: "AA", y: "AA" }] },
  ]) {
    const jwks = await jwksServer(t, body);
    const v = verifier(jwks);
    const token = mint(rsa1);
    assertFails(await v.verify(token), "jwks_unavailable", token);
  }
});

test("start() fetches the JWKS up front, and rejects when it cannot", async (t) => {
  const jwks = await jwksServer(t);
  const v = verifier(jwks);
  await v.start();
  assert.equal(jwks.requests, 1);
  assert.equal((await v.verify(mint(rsa1))).ok, true);
  assert.equal(jwks.requests, 1);
  jwks.status = 404;
  await assert.rejects(verifier(jwks).start(), /HTTP 404/);
});

test("misconfiguration fails at construction with what to set", () => {
  const o = { issuer: ISS, audiences: [AUD], jwksUri: "https://idp.example/certs" };
  assert.throws(() => new JwtVerifier({ ...o, issuer: "" }), /set issuer/);
  assert.throws(() => new JwtVerifier({ ...o, audiences: [] }), /set audiences/);
  assert.throws(() => new JwtVerifier({ ...o, jwksUri: "file:///etc/jwks.json" }), /jwksUri/);
  assert.throws(() => new JwtVerifier({ ...o, algorithms: ["HS256" as "RS256"] }), /algorithms/);
  assert.throws(() => new JwtVerifier({ ...o, algorithms: [] }), /algorithms/);
  assert.throws(() => new JwtVerifier({ ...o, cacheSize: -1 }), /cacheSize/);
});
