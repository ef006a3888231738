import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { authorizationUrl, pkceChallenge, randomToken, safeReturnTo } from "./oidc.ts";

test("PKCE S256 as RFC 7636 appendix B computes it", () => {
  assert.equal(
    pkceChallenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
    "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
  );
  const v = randomToken();
  assert.match(v, /^[A-Za-z0-9_-]{43}$/);
  assert.notEqual(randomToken(), v);
  assert.equal(pkceChallenge(v), createHash("sha256").update(v).digest("base64url"));
});

test("the authorization URL carries code flow, PKCE, state and nonce", () => {
  const u = new URL(
    authorizationUrl(
      {
        issuer: "https://idp.test",
        authorization_endpoint: "https://idp.test/auth?kc_idp_hint=x",
        token_endpoint: "https://idp.test/token",
        jwks_uri: "https://idp.test/jwks",
      },
      {
        clientId: "portico",
        clientSecret: "s",
        redirectUri: "https://portico.test/__portico/auth/callback",
        scopes: ["openid", "email"],
      },
      { state: "st", nonce: "no", verifier: "ve" },
    ),
  );
  assert.equal(u.searchParams.get("kc_idp_hint"), "x", "the endpoint's own query is kept");
  assert.equal(u.searchParams.get("response_type"), "code");
  assert.equal(u.searchParams.get("scope"), "openid email");
  assert.equal(u.searchParams.get("state"), "st");
  assert.equal(u.searchParams.get("nonce"), "no");
  assert.equal(u.searchParams.get("code_challenge"), pkceChallenge("ve"));
  assert.equal(u.searchParams.get("code_challenge_method"), "S256");
  assert.equal(u.searchParams.get("client_secret"), null, "the secret never travels through the browser");
});

test("return-to targets: the base domain and its workspaces only", () => {
  const ok = [
    ["/w/ns/a/?x=1", "/w/ns/a/?x=1"],
    ["http://a--ns.portico.test:8080/tree", "http://a--ns.portico.test:8080/tree"],
    ["https://portico.test/", "https://portico.test/"],
  ];
  for (const [input, want] of ok) assert.equal(safeReturnTo(input, "portico.test"), want);
  for (const bad of [
    "//evil.test/x",
    "/\\evil.test",
    "https://evil.test/",
    "https://portico.test.evil.test/",
    "https://evilportico.test/",
    "javascript:alert(1)",
    "https://user:pw@portico.test/",
    "not a url",
    "",
    undefined,
  ])
    assert.equal(safeReturnTo(bad, "portico.test"), "/", String(bad));
});
