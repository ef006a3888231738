/**
 * Identity with bearer tokens from a REAL OpenID provider (npm `oidc-provider`, e2e/fixtures/
 * oidc-provider.ts): the proxy in `--auth=jwt` verifies access tokens against the provider's JWKS.
 * The owner gets in, another user gets 403 over HTTP and over WebSocket until the workspace is
 * shared with them; a table of bad tokens gets 401 with the reason in the proxy's log; after the
 * provider rotates its keys a new token works without restarting the proxy; the gateway's
 * credentials never reach the IDE; a burst from one user gets 429 while another user is served.
 */
import { before, test } from "node:test";
import assert from "node:assert/strict";
import { createHmac, createPublicKey, generateKeyPairSync, sign } from "node:crypto";
import { readFileSync } from "node:fs";
import { request } from "node:http";
import { eventually } from "../lib/kube.ts";
import { clusterSuite } from "../lib/suite.ts";
import { decodeJwt, startOidcProvider, type OidcProvider } from "../lib/oidc.ts";
import { jupyterExecute, type ProxyProcess } from "../lib/proxy.ts";
import { createGatewayRoute, jwtFlags, startAuthStack } from "../lib/auth-stack.ts";
import { getWorkspace, jupyterClass, patchWorkspace, echoClass } from "../lib/workspaces.ts";

const PROVIDER = "198.18.0.30";
const OTHER_PROVIDER = "198.18.0.31";
const PROXY = "198.18.0.24";
const AUDIENCE = "portico";

const suite = clusterSuite("identity", {
  classes: {
    jupyter: jupyterClass,
    echo: echoClass,
    // The same backend, of a class that asks for the user's token.
    echoFwd: (name: string) => echoClass(name, { forwardToken: true }),
  },
  workspaces: [
    { name: "nb", class: "jupyter", owner: "alice" },
    { name: "echo", class: "echo", owner: "alice" },
    { name: "echo-fwd", class: "echoFwd", owner: "alice" },
  ],
});
const c = suite.c;
let px: ProxyProcess;
let idp: OidcProvider;

before(async () => {
  ({ idp, px } = await startAuthStack(
    suite,
    // Short-lived access tokens, so one of the bad tokens can be a really expired one.
    { address: PROVIDER, accessTokenTtl: 4 },
    (op) => ({
      address: PROXY,
      port: 8080,
      name: "identity-proxy",
      flags: [
        ...jwtFlags(op, AUDIENCE),
        "--jwt-clock-skew=0s",
        "--rate-limit-ip=0",
        "--rate-limit-user=20",
        "--rate-limit-burst=20",
      ],
    }),
  ));
});

/** A fresh access token for `user` (they live 4 s). */
const token = async (user: string) => (await idp.tokensFor(user)).accessToken;

/** GET through the proxy with a chosen Host and headers; status and body. */
function get(
  path: string,
  host: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request(`${px.url}${path}`, { headers: { ...headers, host } }, (res) => {
      let body = "";
      res.on("data", (d) => (body += String(d)));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on("error", reject);
    req.end();
  });
}

const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

test("the owner gets in; another user gets 403 over HTTP and WebSocket until it is shared with them", async () => {
  const host = px.hostFor(suite.ns, "nb");
  assert.equal((await get("/api", host)).status, 401, "no token");
  assert.equal((await get("/api", host, bearer(await token("alice")))).status, 200, "the owner");
  const bob = await token("bob");
  const refused = await get("/api", host, bearer(bob));
  assert.equal(refused.status, 403);
  assert.equal((JSON.parse(refused.body) as { error: string }).error, "forbidden");
  // Over WebSocket: refused before the upgrade completes (the kernel call never reaches Jupyter).
  await assert.rejects(jupyterExecute(px, "", "1+1", host, bearer(await token("bob"))), /403/);
  assert.equal(await jupyterExecute(px, "", "1+1", host, bearer(await token("alice"))), "2");

  // The status stream obeys the same rules.
  const events = `/api/v1/workspaces/${suite.ns}/nb/events`;
  const plain = `${PROXY}:8080`;
  assert.equal((await get(events, plain, bearer(await token("bob")))).status, 403, "bob's status stream");
  assert.equal((await get(events, plain)).status, 401, "no token, no status stream");

  await patchWorkspace(c, suite.ns, "nb", { sharedWith: { users: ["bob"] } });
  await eventually(
    "bob gets in once shared",
    async () => ((await get("/api", host, bearer(await token("bob")))).status === 200 ? true : undefined),
    10_000,
    200,
  );
  assert.equal(
    await jupyterExecute(px, "", "1+1", host, bearer(await token("bob"))),
    "2",
    "and over WebSocket",
  );
  // Carol is in no shared group; an admin role opens everything.
  assert.equal((await get("/api", host, bearer(await token("carol")))).status, 403);
  assert.equal((await get("/api", host, bearer(await token("admin")))).status, 200);
});

test("the gateway's credentials never reach the IDE, unless its class asks for the user's token", async () => {
  const host = px.hostFor(suite.ns, "echo");
  const res = await get("/seen", host, {
    ...bearer(await token("alice")),
    cookie: "portico_session=secret-session; ide_cookie=kept",
  });
  assert.equal(res.status, 200);
  const seen = JSON.parse(res.body) as { headers: Record<string, string> };
  assert.equal(seen.headers.authorization, undefined, "no Authorization at the IDE");
  assert.equal(seen.headers.cookie, "ide_cookie=kept", "the IDE's own cookie passes, the gateway's does not");
  assert.doesNotMatch(res.body, /secret-session|eyJ/);

  // A class with forwardToken: the user's own token goes on (the session cookie still does not).
  const mine = await token("alice");
  const fwd = await get("/seen", px.hostFor(suite.ns, "echo-fwd"), {
    ...bearer(mine),
    cookie: "portico_session=secret-session",
  });
  assert.equal(fwd.status, 200);
  const seenFwd = JSON.parse(fwd.body) as { headers: Record<string, string> };
  assert.equal(seenFwd.headers.authorization, `Bearer ${mine}`);
  assert.equal(seenFwd.headers.cookie, undefined);
});

test("GatewayRoutes pass the same gate: 401 without a token; the user's token reaches only a forwardToken rule", async () => {
  // The echo workspace's Service as the backend of two rules of one route (a url backend may not
  // point at a pod: attacks-gateway.test.ts).
  const ws = await getWorkspace(c, suite.ns, "echo");
  const backends = [{ service: { name: ws.status!.children!.service!, port: 80 } }];
  await createGatewayRoute(c, suite.ns, "api", {
    hosts: ["api.identity.test"],
    rules: [
      { name: "plain", matches: [{ path: { value: "/plain" } }], backends },
      { name: "fwd", matches: [{ path: { value: "/fwd" } }], backends, forwardToken: true },
    ],
  });
  const host = "api.identity.test";
  await eventually(
    "the route is served",
    async () => ((await get("/plain", host, bearer(await token("alice")))).status === 200 ? true : undefined),
    15_000,
    200,
  );
  assert.equal((await get("/plain", host)).status, 401, "no token");
  const mine = await token("alice");
  const plain = JSON.parse(
    (await get("/plain", host, { ...bearer(mine), cookie: "portico_session=s" })).body,
  ) as {
    headers: Record<string, string>;
  };
  assert.equal(plain.headers.authorization, undefined, "the gateway's credentials stay at the gateway");
  assert.equal(plain.headers.cookie, undefined);
  const fwd = JSON.parse((await get("/fwd", host, bearer(mine))).body) as { headers: Record<string, string> };
  assert.equal(fwd.headers.authorization, `Bearer ${mine}`, "forwardToken: the user's own token goes on");
});

test("a table of bad tokens: each refused with 401 and its reason in the proxy's log", async (t) => {
  const host = px.hostFor(suite.ns, "echo");
  const good = await token("alice");
  const [h, p, s] = good.split(".") as [string, string, string];
  const header = decodeJwt(good).header;
  const payload = decodeJwt(good).payload;
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const own = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const signRs = (hdr: object, body: object, key = own.privateKey) => {
    const input = `${b64(hdr)}.${b64(body)}`;
    return `${input}.${sign("sha256", Buffer.from(input), key).toString("base64url")}`;
  };
  const jwks = (await (await fetch(idp.jwksUri)).json()) as { keys: { kid: string; kty: string }[] };
  const rsa = jwks.keys.find((k) => k.kty === "RSA")!;
  const ec = jwks.keys.find((k) => k.kty === "EC");
  const pem = createPublicKey({ key: rsa as never, format: "jwk" }).export({ type: "spki", format: "pem" });
  const hs = (() => {
    const hdr = b64({ alg: "HS256", typ: "JWT", kid: rsa.kid });
    const input = `${hdr}.${p}`;
    return `${input}.${createHmac("sha256", pem).update(input).digest("base64url")}`;
  })();
  const other = await startOidcProvider({
    address: OTHER_PROVIDER,
    port: 9000,
    redirectUris: ["http://portico.test/__portico/auth/callback"],
    name: "oidc-provider-other",
  });
  const foreign = (await other.tokensFor("alice")).accessToken;
  await other.stop();
  const idToken = (await idp.tokensFor("alice")).idToken;
  const expiring = await token("alice");

  const rows: [string, Record<string, string>, RegExp][] = [
    ["no Authorization header", {}, /no bearer token/],
    ["Basic credentials", { authorization: "Basic YWxpY2U6cHc=" }, /not a Bearer token/],
    ["Bearer without a token", { authorization: "Bearer" }, /not a Bearer token/],
    ["two tokens", { authorization: `Bearer ${good} ${good}` }, /not a Bearer token/],
    ["garbage", bearer("not-a-token"), /malformed/],
    ["truncated: two parts", bearer(`${h}.${p}`), /malformed/],
    ["four parts", bearer(`${good}.x`), /malformed/],
    ["alg none", bearer(`${b64({ ...header, alg: "none" })}.${p}.`), /alg_not_allowed/],
    ["alg NONE", bearer(`${b64({ ...header, alg: "NONE" })}.${p}.`), /alg_not_allowed/],
    ["HS256 signed with the provider's public key", bearer(hs), /alg_not_allowed/],
    [
      "RS384 header on a real signature",
      bearer(`${b64({ ...header, alg: "RS384" })}.${p}.${s}`),
      /alg_not_allowed/,
    ],
    ["payload altered (sub)", bearer(`${h}.${b64({ ...payload, sub: "admin" })}.${s}`), /bad_signature/],
    ["signature stripped", bearer(`${h}.${p}.`), /bad_signature|malformed/],
    ["signed by another key under the provider's kid", bearer(signRs(header, payload)), /bad_signature/],
    ["unknown kid", bearer(signRs({ ...header, kid: "not-a-kid" }, payload)), /unknown_kid/],
    [
      "a key embedded in the header is ignored",
      bearer(signRs({ ...header, kid: "mine", jwk: own.publicKey.export({ format: "jwk" }) }, payload)),
      /unknown_kid/,
    ],
    ["oversized", bearer(signRs(header, { ...payload, pad: "x".repeat(9000) })), /too_large/],
    ["typ JWE", bearer(`${b64({ ...header, typ: "JWE" })}.${p}.${s}`), /wrong_typ/],
    ["crit header", bearer(`${b64({ ...header, crit: ["exp"] })}.${p}.${s}`), /malformed/],
    ["not base64url", bearer(`${h}.${p}.${s.slice(0, 10)}+/${s.slice(12)}`), /malformed/],
    ["header not JSON", bearer(`${Buffer.from("{nope").toString("base64url")}.${p}.${s}`), /malformed/],
    [
      "payload not JSON",
      bearer(`${h}.${Buffer.from("nope").toString("base64url")}.${s}`),
      /malformed|bad_signature/,
    ],
    ["an ID token (audience is the client, not the API)", bearer(idToken), /wrong_audience/],
    ["from another provider", bearer(foreign), /unknown_kid|wrong_issuer/],
    ...(ec
      ? ([
          [
            "ES256 header naming the RSA key",
            bearer(`${b64({ ...header, alg: "ES256" })}.${p}.${s}`),
            /unknown_kid|bad_signature/,
          ],
        ] as [string, Record<string, string>, RegExp][])
      : []),
  ];
  assert.ok(rows.length >= 24);
  const logOffset = () => readFileSync(px.logFile, "utf8").length;
  for (const [what, headers, reason] of rows) {
    const from = logOffset();
    const res = await get("/", host, headers);
    assert.equal(res.status, 401, `${what}: ${res.status} ${res.body}`);
    assert.match(String(res.headers["www-authenticate"]), /^Bearer realm="portico"/, what);
    const line = await eventually(
      `${what}: a log line`,
      async () =>
        readFileSync(px.logFile, "utf8")
          .slice(from)
          .split("\n")
          .find((l) => l.includes("authentication refused")),
      3000,
      20,
    );
    assert.match(line, reason, `${what}: logged reason`);
    assert.doesNotMatch(line, new RegExp(s.slice(0, 20)), `${what}: the log never holds a token`);
  }
  // Expired: a token the provider issued for 4 s, with no clock skew allowed here.
  await new Promise((r) =>
    setTimeout(r, Math.max(0, (decodeJwt(expiring).payload.exp as number) * 1000 - Date.now()) + 1100),
  );
  const from = logOffset();
  assert.equal((await get("/", host, bearer(expiring))).status, 401, "expired");
  await eventually(
    "the expired token's log line",
    async () =>
      /authentication refused.*expired/.test(readFileSync(px.logFile, "utf8").slice(from)) ? true : undefined,
    3000,
    20,
  );
  t.diagnostic(`${rows.length + 1} bad tokens refused with 401 and a logged reason`);
});

test("after the provider rotates its keys, a token signed with the new key works without a proxy restart", async () => {
  const host = px.hostFor(suite.ns, "echo");
  const before = decodeJwt(await token("alice")).header.kid;
  const { kid } = await idp.rotateKeys();
  assert.notEqual(kid, before);
  const fresh = await token("alice");
  assert.equal(decodeJwt(fresh).header.kid, kid, "the provider signs with the new key");
  // The proxy refetches the JWKS for an unknown kid, at most once per 10 s.
  await eventually(
    "the new key is accepted",
    async () => ((await get("/", host, bearer(await token("alice")))).status === 200 ? true : undefined),
    15_000,
    500,
  );
});

test("a burst from one user gets 429 with Retry-After while another user is still served", async () => {
  const host = px.hostFor(suite.ns, "echo");
  const alice = await token("alice");
  const admin = await token("admin");
  const burst = await Promise.all(Array.from({ length: 60 }, () => get("/", host, bearer(alice))));
  const limited = burst.filter((r) => r.status === 429);
  assert.ok(limited.length > 0, `some of 60 were limited (${burst.map((r) => r.status).join(",")})`);
  assert.ok(
    burst.some((r) => r.status === 200),
    "the first ones passed",
  );
  assert.match(String(limited[0]!.headers["retry-after"]), /^\d+$/);
  assert.equal((await get("/", host, bearer(admin))).status, 200, "another user is served meanwhile");
});
