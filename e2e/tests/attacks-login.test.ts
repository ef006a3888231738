/**
 * Attacks on browser login (issue 11: return-to, callback replay, login floods, refresh, logout),
 * against the real proxy in `--auth=oidc` and host routing, in front of the real OpenID provider
 * (e2e/fixtures/oidc-provider.ts, npm `oidc-provider`) and a real workspace (the echo class) owned by
 * alice. The provider is started with refresh-token rotation and reuse detection on (a spent
 * refresh token presented again revokes the whole grant, as Keycloak's "Revoke Refresh Token"
 * does) and without an id_token in refresh answers (optional there, OIDC Core 12.2), with ID and
 * access tokens living 4 s so sessions must refresh.
 *
 * Each row is the attack, the expected refusal, and the proof that nothing reached the victim.
 * Every row sends from a source address of its own (the netns routes 198.18.0.0/16 locally), so
 * the proxy's per-IP limit (1/s, burst 30 here) is the flood row's business only.
 *
 * The test holds the proxy's session keys (it wrote the --session-keys-file), so it can open a
 * session cookie to read the refresh token the proxy keeps, and prove at the provider's token
 * endpoint that logout revoked it.
 */
import { before, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { SessionCodec } from "../../proxy/auth/session.ts";
import { decodeJwt, startOidcProvider, type OidcProvider } from "../lib/oidc.ts";
import { startAuthStack } from "../lib/auth-stack.ts";
import { stateDir } from "../lib/component.ts";
import { eventually } from "../lib/kube.ts";
import { startProxy, type ProxyProcess } from "../lib/proxy.ts";
import { clusterSuite } from "../lib/suite.ts";
import { echoClass } from "../lib/workspaces.ts";

const PROVIDER = "198.18.0.141";
const PROXY = "198.18.0.140";
const PUBLIC = "http://portico.test:8080";
const BASE = "portico.test";
/** ID and access tokens live this long (s): past it, a request refreshes the session. */
const TOKEN_TTL = 4;

const suite = clusterSuite("attacks-login", {
  classes: { echo: echoClass },
  workspaces: [{ name: "ws", class: "echo", owner: "alice" }],
});
let px: ProxyProcess;
let idp: OidcProvider;
let codec: SessionCodec;
let keysFile: string;

/** A provider and the proxy in front of it (the main one, or a row's own). */
interface Stack {
  px: ProxyProcess;
  idp: OidcProvider;
}
const main = (): Stack => ({ px, idp });

/** The proxy's flags in front of `op` (1 request/s per address, burst 30). */
const proxyFlags = (op: OidcProvider) => [
  "--auth=oidc",
  `--oidc-issuer=${op.issuer}`,
  `--oidc-client-id=${op.clientId}`,
  `--oidc-client-secret=${op.clientSecret}`,
  "--oidc-audiences=portico",
  `--public-url=${PUBLIC}`,
  `--session-keys-file=${keysFile}`,
  "--rate-limit-ip=1",
  "--rate-limit-burst=30",
];

before(async () => {
  const keys = {
    keys: [{ kty: "oct", kid: "attacks-login", alg: "A256GCM", k: randomBytes(32).toString("base64url") }],
  };
  keysFile = join(stateDir(), "attacks-login-session-keys.json");
  writeFileSync(keysFile, JSON.stringify(keys), { mode: 0o600 });
  codec = await SessionCodec.create(keys);
  ({ idp, px } = await startAuthStack(
    suite,
    {
      address: PROVIDER,
      port: 9000,
      name: "attacks-login-oidc",
      redirectUris: [`${PUBLIC}/__portico/auth/callback`],
      postLogoutRedirectUris: [`${PUBLIC}/`],
      idTokenTtl: TOKEN_TTL,
      accessTokenTtl: TOKEN_TTL,
      rotateRefreshTokens: true,
      refreshIdToken: false,
    },
    (op) => ({ address: PROXY, port: 8080, name: "attacks-login-proxy", flags: proxyFlags(op) }),
  ));
});

// ---- helpers -------------------------------------------------------------------------------------

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** name=value of every Set-Cookie (value "" for a cleared one). */
  cookies: Map<string, string>;
  body: string;
}

/** One request to the proxy from source address `from`, with `host` as the Host header. */
function send(
  from: string,
  host: string,
  path: string,
  cookie = "",
  to: Stack = main(),
  accept = "text/html",
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: to.px.address,
        port: to.px.port,
        path,
        localAddress: from,
        headers: { host, accept, ...(cookie ? { cookie } : {}) },
        agent: false,
      },
      (res) => {
        let body = "";
        res.on("data", (d) => (body += String(d)));
        res.on("end", () => {
          const cookies = new Map<string, string>();
          for (const line of res.headers["set-cookie"] ?? []) {
            const pair = line.split(";")[0]!;
            const eq = pair.indexOf("=");
            cookies.set(pair.slice(0, eq), pair.slice(eq + 1));
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, cookies, body });
        });
      },
    );
    req.on("error", reject);
    req.setTimeout(20_000, () => req.destroy(new Error(`no answer to ${path} within 20 s`)));
    req.end();
  });
}

const auth = (from: string, path: string, cookie = "", to: Stack = main()) =>
  send(from, "portico.test:8080", path, cookie, to);
const workspaceHost = () => px.hostFor(suite.ns, "ws");

/** `name=value; …` of the cookies in `a` that were set (not cleared). */
const jar = (...answers: Answer[]): string =>
  answers
    .flatMap((a) => [...a.cookies])
    .filter(([, v]) => v !== "")
    .map(([k, v]) => `${k}=${v}`)
    .join("; ");

/** How often the provider answered a path with a status so far (its log has a line per request). */
const providerCount = (line: RegExp, op: OidcProvider = idp): number =>
  readFileSync(op.logFile, "utf8")
    .split("\n")
    .filter((l) => line.test(l)).length;
const TOKEN_CALLS = /^POST \/token 200 /;
/**
 * The count once it reached `atLeast`: the provider logs a request after answering it, through a
 * pipe, so a line may land just after the client saw the answer. Exact counts are asserted after.
 */
const providerCountReached = (line: RegExp, atLeast: number, op: OidcProvider = idp): Promise<number> =>
  eventually(`${atLeast} provider log lines matching ${line}`, async () => {
    const n = providerCount(line, op);
    return n >= atLeast ? n : undefined;
  });

/** The login route with a raw query, then the provider's login form as `user`: the callback to call. */
async function startLogin(from: string, rawQuery: string, user = "alice", to: Stack = main()) {
  const login = await auth(from, `/__portico/auth/login${rawQuery}`, "", to);
  assert.equal(login.status, 302, `login route: ${login.body}`);
  const loginCookie = login.cookies.get("portico_login");
  assert.ok(loginCookie, "a login cookie");
  const back = await to.idp.loginAt(String(login.headers.location), user);
  return { callback: back.pathname + back.search, loginCookie: `portico_login=${loginCookie}` };
}

/** A whole login as `user`: the callback's answer. */
async function logIn(from: string, rawQuery = "", user = "alice", to: Stack = main()): Promise<Answer> {
  const l = await startLogin(from, rawQuery, user, to);
  const cb = await auth(from, l.callback, l.loginCookie, to);
  assert.equal(cb.status, 302, `callback: ${cb.body}`);
  assert.ok(cb.cookies.get("portico_session"), "a session cookie");
  return cb;
}

/** Where a Location sends the browser, resolved as the browser would (against the callback URL). */
const landing = (location: unknown) => new URL(String(location), `${PUBLIC}/__portico/auth/callback`);
const onBase = (u: URL) => u.hostname === BASE || u.hostname.endsWith(`.${BASE}`);

// ---- the table -----------------------------------------------------------------------------------

interface Row {
  /** What the attacker does (the test name, after "attack: "). */
  attack: string;
  /** The refusal expected. */
  expect: string;
  /** What shows nothing reached the victim. */
  proof: string;
  run(from: string): Promise<void>;
}

/** Open-redirect payloads as the attacker writes them into the login link's raw query. */
const REDIRECTS: [raw: string, note: string][] = [
  ["rd=%2F%09%2Fevil.example", "a tab inside // (browsers drop it)"],
  ["rd=%2F%0A%2Fevil.example", "a newline inside //"],
  [`rd=${encodeURIComponent("//evil.example/x")}`, "protocol-relative"],
  [`rd=${encodeURIComponent("/\\evil.example")}`, "slash-backslash"],
  [`rd=${encodeURIComponent("\\/evil.example")}`, "backslash-slash"],
  [`rd=${encodeURIComponent("https:evil.example")}`, "scheme without slashes"],
  [`rd=${encodeURIComponent("//evil%2eexample")}`, "an encoded dot"],
  [`rd=${encodeURIComponent("http://portico.test.evil.example/")}`, "the base domain as a prefix"],
  [`rd=${encodeURIComponent("http://evilportico.test/")}`, "the base domain as a suffix"],
  [`rd=${encodeURIComponent("http://portico.test@evil.example/")}`, "userinfo"],
  [`rd=${encodeURIComponent("http://evil.example\\@portico.test/")}`, "backslash before @"],
  [`rd=${encodeURIComponent("http://portico.test%E3%80%82evil.example/")}`, "an IDN full stop"],
  [`rd=${encodeURIComponent("javascript:alert(document.cookie)")}`, "javascript:"],
  [`rd=${encodeURIComponent("data:text/html,<script>alert(1)</script>")}`, "data:"],
  [`rd=${"%2F".repeat(2) + "evil.example" + "a".repeat(3000)}`, "very long"],
];

const ROWS: Row[] = [
  ...REDIRECTS.map(([raw, note], i): Row => ({
    attack: `open redirect after login: ${note} (${raw.slice(0, 60)})`,
    expect: "the callback's 302 Location is / (or on the base domain), never the attacker's host",
    proof:
      "the login completed (a session cookie was set) and the Location, resolved as a browser does, is on the base domain",
    async run(from) {
      const cb = await logIn(from, `?${raw}`);
      const to = landing(cb.headers.location);
      assert.ok(onBase(to), `row ${i}: Location ${String(cb.headers.location)} leaves the base domain`);
      assert.equal(to.username + to.password, "");
      assert.ok(to.protocol === "http:" || to.protocol === "https:", to.href);
    },
  })),
  {
    attack: "replayed callback: the same callback URL with the same login cookie, a second time",
    expect: "400 login_replayed",
    proof:
      "no session cookie in the answer, no second code exchange at the provider, the attacker's cookies still get 302-to-login at alice's workspace",
    async run(from) {
      const l = await startLogin(from, "");
      const first = await auth(from, l.callback, l.loginCookie);
      assert.equal(first.status, 302);
      const exchanges = providerCount(/^POST \/token /);
      const again = await auth(from, l.callback, l.loginCookie);
      assert.equal(again.status, 400, again.body);
      assert.equal(JSON.parse(again.body).error, "login_replayed");
      assert.ok(!again.cookies.get("portico_session"), "no session cookie");
      assert.equal(again.cookies.get("portico_login"), "", "the login cookie is cleared");
      assert.equal(providerCount(/^POST \/token /), exchanges, "the code was not sent to the provider again");
      const tried = await send(from, workspaceHost(), "/", `${l.loginCookie}`);
      assert.equal(tried.status, 302, "no way into alice's workspace");
      assert.match(String(tried.headers.location), /\/__portico\/auth\/login\?rd=/);
    },
  },
  {
    attack: "replayed callback URL without the login cookie (a leaked URL: Referer, history, logs)",
    expect: "400 login_state",
    proof: "no session cookie, no code exchange at the provider",
    async run(from) {
      const l = await startLogin(from, "");
      const exchanges = providerCount(/^POST \/token /);
      const stolen = await auth(from, l.callback);
      assert.equal(stolen.status, 400, stolen.body);
      assert.equal(JSON.parse(stolen.body).error, "login_state");
      assert.ok(!stolen.cookies.get("portico_session"));
      assert.equal(providerCount(/^POST \/token /), exchanges);
    },
  },
  {
    attack: "login route flood: 80 requests to /__portico/auth/login from one address",
    expect: "429 rate_limited with Retry-After once the address's burst (30) is spent",
    proof:
      "the 429 answers seal no login cookie, the provider saw no request for them, and another address still logs in",
    async run(from) {
      const started = performance.now();
      const answers = await Promise.all(
        Array.from({ length: 80 }, () => auth(from, "/__portico/auth/login?rd=%2F")),
      );
      const seconds = (performance.now() - started) / 1000;
      const limited = answers.filter((a) => a.status === 429);
      assert.ok(limited.length > 0, `no 429 among ${answers.map((a) => a.status).join(",")}`);
      for (const a of limited) {
        assert.equal(JSON.parse(a.body).error, "rate_limited");
        assert.ok(Number(a.headers["retry-after"]) >= 1);
        assert.equal(a.cookies.size, 0, "nothing sealed for a refused request");
      }
      assert.ok(answers.every((a) => a.status === 302 || a.status === 429));
      const sealed = answers.filter((a) => a.cookies.get("portico_login")).length;
      assert.ok(sealed <= 30 + Math.ceil(seconds) + 1, `${sealed} logins sealed in ${seconds} s`);
      // The callback route is limited as well: bogus callbacks from the flooding address.
      const callback = await auth(from, "/__portico/auth/callback?code=x&state=y");
      assert.equal(callback.status, 429);
      // The victim, on another address, is served.
      await logIn("198.18.0.199");
    },
  },
  {
    attack:
      "parallel requests on a session whose tokens expired, against a provider that rotates refresh tokens (a second use of a spent one revokes the grant)",
    expect:
      "every request 200 as alice; one refresh grant at the provider; the same new session cookie for all, and for a late request with the old cookie",
    proof:
      "after the burst the session refreshes again with the rotated token (the grant was not revoked); the spent refresh token is refused at the provider",
    async run(from) {
      const cb = await logIn(from);
      const old = jar(cb);
      const sealed = cb.cookies.get("portico_session")!;
      const before = await codec.openSession(sealed, Date.now());
      assert.ok(before?.refreshToken && before.user === "alice");
      // Wait out the tokens' life: the next requests must refresh (real expiry, nothing to poll).
      await new Promise((r) => setTimeout(r, (TOKEN_TTL + 1) * 1000));
      const calls = providerCount(TOKEN_CALLS);
      const burst = await Promise.all(
        Array.from({ length: 8 }, () => send(from, workspaceHost(), "/x", old)),
      );
      for (const a of burst) assert.equal(a.status, 200, `still in: ${a.status} ${a.body.slice(0, 200)}`);
      assert.equal(
        await providerCountReached(TOKEN_CALLS, calls + 1),
        calls + 1,
        "exactly one refresh grant for 8 requests",
      );
      const renewed = new Set(burst.map((a) => a.cookies.get("portico_session")));
      assert.equal(renewed.size, 1, "one new session for every request");
      const fresh = [...renewed][0]!;
      assert.ok(fresh && fresh !== sealed);
      const after = await codec.openSession(fresh, Date.now());
      assert.equal(after?.sub, before.sub, "the identity is kept without a new id_token");
      assert.equal(after?.user, "alice");
      assert.notEqual(after?.refreshToken, before.refreshToken, "the provider rotated the refresh token");
      const late = await send(from, workspaceHost(), "/x", old);
      assert.equal(late.status, 200);
      assert.equal(
        late.cookies.get("portico_session"),
        fresh,
        "a late request with the old cookie reuses it",
      );
      assert.equal(providerCount(TOKEN_CALLS), calls + 1);
      // The grant is alive: once these tokens expire too, the rotated refresh token works.
      await new Promise((r) => setTimeout(r, (TOKEN_TTL + 1) * 1000));
      const next = await send(from, workspaceHost(), "/x", `portico_session=${fresh}`);
      assert.equal(next.status, 200, next.body.slice(0, 200));
      assert.equal(await providerCountReached(TOKEN_CALLS, calls + 2), calls + 2);
      // And the spent token is spent: what a second parallel refresh would have sent.
      const reuse = await idp.tokenRequest({
        grant_type: "refresh_token",
        refresh_token: before.refreshToken,
      });
      assert.equal(reuse.status, 400);
    },
  },
  {
    attack:
      "a provider that switches users at refresh: the refreshed ID token names another sub (re-signed with the provider's own key)",
    expect:
      "the session ends: 401 unauthenticated (JSON) with the session cookie cleared, for every request of that session",
    proof:
      "the answers are the proxy's refusal, not the workspace's (the echo backend never answered), and a late request with the same cookie is refused without another refresh",
    async run(from) {
      const other = await startOidcProvider({
        address: PROVIDER,
        port: 9001,
        name: "attacks-login-oidc-other-sub",
        redirectUris: [`${PUBLIC}/__portico/auth/callback`],
        idTokenTtl: TOKEN_TTL,
        accessTokenTtl: TOKEN_TTL,
        refreshIdToken: "other-sub",
      });
      const stack: Stack = { idp: other, px: undefined as unknown as ProxyProcess };
      try {
        stack.px = await startProxy({
          address: "198.18.0.142",
          port: 8080,
          name: "attacks-login-proxy-other-sub",
          flags: proxyFlags(other),
        });
        const cb = await logIn(from, "", "alice", stack);
        const old = jar(cb);
        const ok = await send(from, workspaceHost(), "/x", old, stack);
        assert.equal(ok.status, 200, "alice is in before the refresh");
        assert.ok(JSON.parse(ok.body).headers, "the echo backend answered");
        await new Promise((r) => setTimeout(r, (TOKEN_TTL + 1) * 1000));
        const calls = providerCount(TOKEN_CALLS, other);
        const json = (a: Answer) => JSON.parse(a.body) as { error?: string; headers?: unknown };
        // API callers (JSON): 401 rather than a redirect to log in.
        const swapped = await Promise.all(
          Array.from({ length: 4 }, () => send(from, workspaceHost(), "/x", old, stack, "application/json")),
        );
        for (const a of swapped) {
          assert.equal(a.status, 401, a.body);
          assert.equal(json(a).error, "unauthenticated", "the proxy's refusal");
          assert.equal(json(a).headers, undefined, "not the echo backend's answer");
          assert.equal(a.cookies.get("portico_session"), "", "the session cookie is cleared");
        }
        assert.equal(
          await providerCountReached(TOKEN_CALLS, calls + 1, other),
          calls + 1,
          "one refresh, refused by the proxy",
        );
        const late = await send(from, workspaceHost(), "/x", old, stack);
        assert.equal(late.status, 302, "a page request goes to log in again");
        assert.match(String(late.headers.location), /\/__portico\/auth\/login\?rd=/);
        assert.equal(providerCount(TOKEN_CALLS, other), calls + 1, "no second refresh");
        assert.match(
          readFileSync(stack.px.logFile, "utf8"),
          /session ended at refresh.*another subject/,
          "the proxy says why",
        );
      } finally {
        await stack.px?.stop();
        await other.stop();
      }
    },
  },
  {
    attack: "a stolen session's refresh token, used at the provider after the user logged out",
    expect:
      "logout: 302 to the provider's end_session_endpoint with id_token_hint (alice's ID token for this client) and post_logout_redirect_uri; both cookies cleared",
    proof:
      "the refresh token is refused at the provider's token endpoint (revoked), and the provider accepts the end-session request",
    async run(from) {
      const cb = await logIn(from);
      const s = await codec.openSession(cb.cookies.get("portico_session")!, Date.now());
      assert.ok(s?.refreshToken);
      const hintCookie = /portico_logout=[^;]*; ([^,]*)/.exec(
        ([] as string[]).concat(cb.headers["set-cookie"] ?? []).join(", "),
      );
      assert.ok(hintCookie, "the ID token is kept in its own cookie");
      assert.match(hintCookie[1]!, /Path=\/__portico\/auth\//, "only the auth routes get it");
      assert.doesNotMatch(hintCookie[1]!, /Domain=/i, "host-only: workspace hosts never get it");
      const revocations = providerCount(/^POST \/token\/revocation 200 /);
      const out = await auth(from, "/__portico/auth/logout", jar(cb));
      assert.equal(out.status, 302);
      const to = new URL(String(out.headers.location));
      assert.equal(`${to.origin}${to.pathname}`, `${idp.issuer}/session/end`);
      const hint = to.searchParams.get("id_token_hint");
      assert.ok(hint, "id_token_hint");
      assert.equal(decodeJwt(hint).payload.sub, "alice");
      assert.equal(decodeJwt(hint).payload.aud, idp.clientId);
      assert.equal(to.searchParams.get("post_logout_redirect_uri"), `${PUBLIC}/`);
      assert.equal(out.cookies.get("portico_session"), "");
      assert.equal(out.cookies.get("portico_logout"), "");
      // The provider logs a request after answering it, through a pipe: wait for the line, then
      // check that there is exactly one.
      assert.equal(
        await providerCountReached(/^POST \/token\/revocation 200 /, revocations + 1),
        revocations + 1,
      );
      const used = await idp.tokenRequest({ grant_type: "refresh_token", refresh_token: s.refreshToken });
      assert.equal(used.status, 400, "the revoked refresh token is refused");
      assert.equal(((await used.json()) as { error?: string }).error, "invalid_grant");
      const endSession = await fetch(to, { redirect: "manual", signal: AbortSignal.timeout(10_000) });
      assert.equal(endSession.status, 200, "the provider accepts the hint and the redirect URI");
    },
  },
];

ROWS.forEach((row, i) => {
  test(`attack: ${row.attack}`, async () => {
    await row.run(`198.18.0.${150 + i}`);
  });
});
