/**
 * The OpenID provider fixture is real and shaped as the identity tests need: npm `oidc-provider`
 * on 198.18.0.30:9000 inside the test network namespace, tokens obtained through the real
 * authorization-code flow with PKCE, signatures checked with node-jose against the published JWKS,
 * and key rotation through the fixture's test-only control endpoint.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import jose from "node-jose";
import { launchBrowser } from "../lib/browser.ts";
import { decodeJwt, startOidcProvider, type OidcProvider } from "../lib/oidc.ts";

const ADDRESS = "198.18.0.30";
const PORT = 9000;
/** Nothing listens here: the helper reads the code off the redirect's Location header. */
const REDIRECT_URI = "http://198.18.0.31:8080/oauth2/callback";

let op: OidcProvider;

before(async () => {
  op = await startOidcProvider({ address: ADDRESS, port: PORT, redirectUris: [REDIRECT_URI] });
});

after(async () => {
  await op?.stop();
});

interface Jwks {
  keys: { kty: string; kid?: string; alg?: string; use?: string; d?: string }[];
}

const getJson = async <T>(url: string): Promise<T> => {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  assert.equal(res.status, 200, `GET ${url}`);
  return (await res.json()) as T;
};
const jwks = () => getJson<Jwks>(op.jwksUri);
const kidsOf = (set: Jwks) => set.keys.map((k) => k.kid);

/** Verifies a JWT's signature with node-jose against the provider's JWKS as published now. */
async function verify(jwt: string): Promise<Record<string, unknown>> {
  const keystore = await jose.JWK.asKeyStore(await jwks());
  const result = await jose.JWS.createVerify(keystore).verify(jwt);
  return JSON.parse(result.payload.toString("utf8")) as Record<string, unknown>;
}

test("discovery: issuer, endpoints, S256 PKCE, the scopes; JWKS: RSA and EC public keys with kids", async () => {
  const d = await getJson<Record<string, unknown>>(`${op.issuer}/.well-known/openid-configuration`);
  assert.equal(d.issuer, `http://${ADDRESS}:${PORT}`);
  assert.equal(d.issuer, op.issuer);
  assert.equal(d.authorization_endpoint, `${op.issuer}/auth`);
  assert.equal(d.token_endpoint, `${op.issuer}/token`);
  assert.equal(d.jwks_uri, op.jwksUri);
  assert.ok(d.end_session_endpoint, "end_session_endpoint");
  assert.ok((d.code_challenge_methods_supported as string[]).includes("S256"));
  for (const s of ["openid", "profile", "email", "groups", "offline_access"])
    assert.ok((d.scopes_supported as string[]).includes(s), `scope ${s} supported`);
  for (const c of ["preferred_username", "email", "groups", "realm_access"])
    assert.ok((d.claims_supported as string[]).includes(c), `claim ${c} supported`);

  const set = await jwks();
  const rsa = set.keys.filter((k) => k.kty === "RSA");
  const ec = set.keys.filter((k) => k.kty === "EC");
  assert.equal(rsa.length, 1, "one RSA key at start");
  assert.equal(ec.length, 1, "one EC key at start");
  assert.equal(rsa[0]!.alg, "RS256");
  assert.equal(ec[0]!.alg, "ES256");
  for (const k of set.keys) {
    assert.ok(k.kid, `key ${k.kty} has a kid`);
    assert.equal(k.d, undefined, "no private part published");
  }
  assert.equal(new Set(kidsOf(set)).size, set.keys.length, "kids are distinct");
});

test("tokensFor(alice): a Keycloak-shaped ID token, a JWT access token for aud portico, both verified against the JWKS", async () => {
  const t = await op.tokensFor("alice");
  assert.ok(t.refreshToken, "a refresh token is issued");
  assert.ok(t.expiresIn > 0 && t.expiresIn <= 300, `expires_in ${t.expiresIn}`);

  const id = await verify(t.idToken);
  assert.equal(id.iss, op.issuer);
  assert.equal(id.aud, op.clientId);
  assert.equal(id.sub, "alice");
  assert.equal(id.preferred_username, "alice");
  assert.equal(id.email, "alice@example.test");
  assert.deepEqual(id.groups, ["/team-a"]);
  assert.deepEqual(id.realm_access, { roles: [] });
  assert.ok(typeof id.nonce === "string" && id.nonce.length > 0, "nonce carried");

  assert.equal(t.accessToken.split(".").length, 3, "the access token is a JWT");
  const { header } = decodeJwt(t.accessToken);
  assert.equal(header.alg, "RS256");
  assert.equal(header.typ, "at+jwt");
  assert.ok(kidsOf(await jwks()).includes(header.kid as string), `kid ${String(header.kid)} in the JWKS`);
  const at = await verify(t.accessToken);
  assert.equal(at.aud, "portico");
  assert.equal(at.iss, op.issuer);
  assert.equal(at.sub, "alice");
  assert.equal(at.client_id, op.clientId);
  assert.equal(at.preferred_username, "alice");
  assert.deepEqual(at.groups, ["/team-a"]);
  assert.ok((at.exp as number) > Date.now() / 1000, "not expired");

  // A tampered payload no longer verifies: node-jose really checks the signature.
  const [h, , s] = t.accessToken.split(".");
  const forged = Buffer.from(JSON.stringify({ ...at, sub: "admin" })).toString("base64url");
  await assert.rejects(verify(`${h}.${forged}.${s}`));
});

test("the other users: bob without groups, carol in /team-b, admin with realm role portico-admin", async () => {
  const claims = async (user: string) => decodeJwt((await op.tokensFor(user)).idToken).payload;
  const bob = await claims("bob");
  assert.equal(bob.preferred_username, "bob");
  assert.deepEqual(bob.groups, []);
  assert.deepEqual((await claims("carol")).groups, ["/team-b"]);
  const admin = await claims("admin");
  assert.deepEqual(admin.realm_access, { roles: ["portico-admin"] });
});

test("the login form is the only page: no consent step for the first-party client", async () => {
  const a = await op.authorize("bob");
  assert.equal(a.sawConsent, false);
});

test("an unknown user cannot log in", async () => {
  await assert.rejects(
    op.tokensFor("mallory"),
    /login refused for mallory: 401 .*Invalid username or password/,
  );
  await assert.rejects(op.tokensFor(""), /login refused/);
});

test("PKCE: a token request with a wrong or no code_verifier is refused; the right one then works", async () => {
  const a = await op.authorize("alice");
  const wrong = await op.tokenRequest({
    grant_type: "authorization_code",
    code: a.code,
    redirect_uri: a.redirectUri,
    code_verifier: `${a.codeVerifier.slice(0, -1)}${a.codeVerifier.endsWith("A") ? "B" : "A"}`,
  });
  assert.equal(wrong.status, 400);
  assert.equal(((await wrong.json()) as { error: string }).error, "invalid_grant");

  const right = await op.tokenRequest({
    grant_type: "authorization_code",
    code: a.code,
    redirect_uri: a.redirectUri,
    code_verifier: a.codeVerifier,
  });
  assert.equal(right.status, 200, "the same code with its own verifier: the refusal was the verifier's");

  const none = await op.authorize("alice");
  const missing = await op.tokenRequest({
    grant_type: "authorization_code",
    code: none.code,
    redirect_uri: none.redirectUri,
  });
  assert.equal(missing.status, 400, "no code_verifier at all");

  // An authorization request without a code_challenge is refused at the authorization endpoint.
  const noChallenge = await fetch(
    `${op.issuer}/auth?${new URLSearchParams({
      client_id: op.clientId,
      redirect_uri: REDIRECT_URI,
      response_type: "code",
      scope: "openid",
      state: "s",
    })}`,
    { redirect: "manual" },
  );
  const location = new URL(noChallenge.headers.get("location") ?? "", op.issuer);
  assert.equal(location.searchParams.get("error"), "invalid_request", `redirected to ${location.href}`);
});

test("a confidential client: the wrong client secret is refused", async () => {
  const a = await op.authorize("alice");
  const res = await fetch(`${op.issuer}/token`, {
    method: "POST",
    headers: {
      authorization: `Basic ${Buffer.from(`${op.clientId}:not-the-secret`).toString("base64")}`,
      "content-type": "application/x-www-form-urlencoded",
    },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      code: a.code,
      redirect_uri: a.redirectUri,
      code_verifier: a.codeVerifier,
    }),
  });
  assert.equal(res.status, 401);
  assert.equal(((await res.json()) as { error: string }).error, "invalid_client");
});

test("key rotation: a new kid signs, the old stays published until drop=old; refresh tokens survive", async () => {
  const before = await op.tokensFor("alice");
  const oldKid = decodeJwt(before.accessToken).header.kid as string;
  const ecKid = (await jwks()).keys.find((k) => k.kty === "EC")!.kid;

  const { kid: newKid } = await op.rotateKeys();
  assert.notEqual(newKid, oldKid);
  const published = kidsOf(await jwks());
  assert.equal(published[0], newKid, "the new key is first in the JWKS");
  assert.ok(published.includes(oldKid), "the old kid is still published");
  assert.ok(published.includes(ecKid), "the EC key is still published");

  const after = await op.tokensFor("alice");
  assert.equal(decodeJwt(after.accessToken).header.kid, newKid, "access tokens are signed with the new key");
  assert.equal(decodeJwt(after.idToken).header.kid, newKid, "ID tokens too");
  await verify(after.accessToken);
  await verify(before.accessToken);

  // The instance was rebuilt, but the store was not: a refresh token from before still works.
  const refreshed = await op.refresh(before.refreshToken!);
  assert.equal(decodeJwt(refreshed.accessToken).header.kid, newKid);

  const { kid: newest } = await op.rotateKeys({ dropOld: true });
  const left = kidsOf(await jwks());
  assert.deepEqual(left, [newest, ecKid], "drop=old leaves the newest RSA key and the EC key");
  assert.ok(!left.includes(oldKid) && !left.includes(newKid), "older RSA kids are gone");
  await assert.rejects(verify(before.accessToken), "a token signed by a dropped key no longer verifies");
  assert.equal(decodeJwt((await op.tokensFor("carol")).accessToken).header.kid, newest);
});

test("the control endpoint answers only rotate, and only POST", async () => {
  assert.equal((await fetch(`${op.issuer}/__test/rotate`)).status, 404);
  assert.equal((await fetch(`${op.issuer}/__test/nothing`, { method: "POST" })).status, 404);
  const bad = await fetch(`${op.issuer}/__test/rotate?drop=everything`, { method: "POST" });
  assert.equal(bad.status, 400);
});

test("without TEST_CONTROL=1 the control endpoint is a 404", async () => {
  const plain = await startOidcProvider({
    address: ADDRESS,
    port: PORT + 1,
    redirectUris: [REDIRECT_URI],
    testControl: false,
    name: "oidc-provider-no-control",
  });
  try {
    const res = await fetch(`${plain.issuer}/__test/rotate`, { method: "POST" });
    assert.equal(res.status, 404);
    await assert.rejects(plain.rotateKeys(), /404/);
    assert.equal(
      decodeJwt((await plain.tokensFor("bob")).idToken).payload.sub,
      "bob",
      "otherwise a working provider",
    );
  } finally {
    await plain.stop();
  }
});

test("in a real browser: the login form's fields and button log alice in, an unknown name gets the form back", async () => {
  const browser = await launchBrowser();
  try {
    const { page } = await browser.newPage();
    const req = op.authorizationRequest();
    await page.goto(req.url, { waitUntil: "domcontentloaded" });
    await page.fill('input[name="login"]', "mallory");
    await page.fill('input[name="password"]', "test");
    await page.click('button[type="submit"]');
    await page.waitForSelector("#login-error");
    assert.match((await page.textContent("#login-error")) ?? "", /Invalid username or password/);

    await page.fill('input[name="login"]', "alice");
    await page.fill('input[name="password"]', "test");
    const [redirect] = await Promise.all([
      page.waitForRequest((r) => r.url().startsWith(REDIRECT_URI)),
      page.click('button[type="submit"]'),
    ]);
    const code = new URL(redirect.url()).searchParams.get("code");
    assert.ok(code, `a code in ${redirect.url()}`);
    const res = await op.tokenRequest({
      grant_type: "authorization_code",
      code,
      redirect_uri: req.redirectUri,
      code_verifier: req.codeVerifier,
    });
    assert.equal(res.status, 200);
    const { id_token } = (await res.json()) as { id_token: string };
    assert.equal(decodeJwt(id_token).payload.preferred_username, "alice");
  } finally {
    await browser.close();
  }
});
