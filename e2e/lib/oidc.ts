/**
 * Runs the real OpenID provider fixture (e2e/fixtures/oidc-provider.ts, npm `oidc-provider`) for a
 * test, and gets real tokens from it by driving the authorization-code flow with PKCE over HTTP,
 * exactly as a browser and a confidential client would.
 *
 *   const op = await startOidcProvider({ address: "198.18.0.30", port: 9000, redirectUris: [cb] });
 *   const { idToken, accessToken, refreshToken } = await op.tokensFor("alice");
 *   const { kid } = await op.rotateKeys();            // a new RS256 key signs from now on
 *   await op.stop();
 *
 * Users: alice (groups /team-a), bob (no groups), carol (/team-b), admin (realm role
 * portico-admin); anyone else is refused at the login form.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { join } from "node:path";
import { REPO, stateDir } from "./component.ts";
import { eventually } from "./kube.ts";
import { startProxy, type ProxyProcess } from "./proxy.ts";

export interface OidcProviderOptions {
  /** Listen address inside the test network namespace, e.g. 198.18.0.30. */
  address: string;
  port: number;
  /** The client's registered redirect URIs; nothing needs to listen there. */
  redirectUris: string[];
  /** Default portico-proxy. */
  clientId?: string;
  /** Default: random. */
  clientSecret?: string;
  accessTokenTtl?: number;
  idTokenTtl?: number;
  /** Names the log file (default oidc-provider). */
  name?: string;
  /** TEST_CONTROL=1: POST /__test/rotate answers (default true; rotateKeys needs it). */
  testControl?: boolean;
  /** The client's post_logout_redirect_uris (RP-initiated logout). */
  postLogoutRedirectUris?: string[];
  /** Every refresh spends the refresh token and answers a new one; reusing a spent one revokes the grant. */
  rotateRefreshTokens?: boolean;
  /**
   * Refresh grants' id_token: as issued (true, the default), left out (false), or re-signed for
   * another subject, "mallory" ("other-sub": a misbehaving provider).
   */
  refreshIdToken?: boolean | "other-sub";
}

export interface Tokens {
  idToken: string;
  accessToken: string;
  refreshToken?: string;
  /** Seconds, as the token endpoint said. */
  expiresIn: number;
}

export interface AuthorizeOptions {
  /** Default: the first registered redirect URI. */
  redirectUri?: string;
  /** Default: "openid profile email groups offline_access". */
  scope?: string;
  /** Extra authorization request parameters (prompt, login_hint, resource...). */
  params?: Record<string, string>;
  /** Default: any non-empty password (the fixture checks the user name only). */
  password?: string;
}

export interface Authorization {
  code: string;
  /** The PKCE verifier whose S256 challenge went with the authorization request. */
  codeVerifier: string;
  redirectUri: string;
  state: string;
  nonce: string;
  /** Whether a consent page was shown (the fixture's one client is first-party: never). */
  sawConsent: boolean;
}

/** An authorization request URL with fresh PKCE, state and nonce (for a browser to open). */
export interface AuthorizationRequest {
  url: string;
  codeVerifier: string;
  redirectUri: string;
  state: string;
  nonce: string;
}

export interface OidcProvider {
  /** `http://{address}:{port}` */
  issuer: string;
  clientId: string;
  clientSecret: string;
  jwksUri: string;
  redirectUris: string[];
  proc: ChildProcess;
  logFile: string;
  /** SIGTERM and wait for the exit. */
  stop(): Promise<void>;
  /** A new RS256 key signs from now on (first in the JWKS); older RSA keys dropped if asked. */
  rotateKeys(opts?: { dropOld?: boolean }): Promise<{ kid: string; kids: string[] }>;
  /** Builds an authorization request (PKCE S256) without sending it. */
  authorizationRequest(opts?: Omit<AuthorizeOptions, "password">): AuthorizationRequest;
  /** Logs `user` in through the login form and returns the authorization code (throws if refused). */
  authorize(user: string, opts?: AuthorizeOptions): Promise<Authorization>;
  /** POSTs `params` to the token endpoint with the client's credentials (HTTP Basic); the raw answer. */
  tokenRequest(params: Record<string, string>): Promise<Response>;
  /**
   * Follows an authorization request someone else made (the proxy's login redirect) through the
   * login form as `user`, and returns where the provider sends the browser back: the client's
   * callback URL with `code` and `state`.
   */
  loginAt(authorizationUrl: string, user: string): Promise<URL>;
  /** authorize + code exchange: real tokens for `user`. */
  tokensFor(user: string, opts?: AuthorizeOptions): Promise<Tokens>;
  /** A refresh_token grant; the new tokens. */
  refresh(refreshToken: string): Promise<Tokens>;
}

const DEFAULT_SCOPE = "openid profile email groups offline_access";

/** Starts the fixture (TEST_CONTROL=1 unless told otherwise) and resolves once its discovery document answers. */
export async function startOidcProvider(o: OidcProviderOptions): Promise<OidcProvider> {
  const issuer = `http://${o.address}:${o.port}`;
  const clientId = o.clientId ?? "portico-proxy";
  const clientSecret = o.clientSecret ?? randomBytes(24).toString("base64url");
  const name = o.name ?? "oidc-provider";
  const logFile = join(stateDir(), "logs", `${name}-${o.port}.log`);
  const out = createWriteStream(logFile, { flags: "a" });
  const proc = spawn(process.execPath, [join(REPO, "e2e/fixtures/oidc-provider.ts")], {
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      ...process.env,
      HOST: o.address,
      PORT: String(o.port),
      ISSUER: issuer,
      REDIRECT_URIS: o.redirectUris.join(","),
      CLIENT_ID: clientId,
      CLIENT_SECRET: clientSecret,
      TEST_CONTROL: o.testControl === false ? "0" : "1",
      ...(o.accessTokenTtl ? { ACCESS_TOKEN_TTL: String(o.accessTokenTtl) } : {}),
      ...(o.idTokenTtl ? { ID_TOKEN_TTL: String(o.idTokenTtl) } : {}),
      POST_LOGOUT_REDIRECT_URIS: (o.postLogoutRedirectUris ?? []).join(","),
      ROTATE_REFRESH_TOKENS: o.rotateRefreshTokens ? "1" : "0",
      REFRESH_ID_TOKEN:
        o.refreshIdToken === "other-sub" ? "other-sub" : o.refreshIdToken === false ? "0" : "1",
    },
  });
  proc.stdout!.pipe(out);
  proc.stderr!.pipe(out);
  const exited = new Promise<void>((r) => proc.once("exit", () => r()));
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGTERM");
    await exited;
  };
  try {
    await eventually(
      `oidc-provider discovery at ${issuer} (log: ${logFile})`,
      async () => {
        if (proc.exitCode !== null)
          throw new Error(`oidc-provider exited with ${proc.exitCode}: see ${logFile}`);
        const res = await fetch(`${issuer}/.well-known/openid-configuration`, {
          signal: AbortSignal.timeout(1000),
        });
        return res.status === 200 ? true : undefined;
      },
      30_000,
      100,
    );
  } catch (err) {
    await stop();
    throw err;
  }

  const tokenRequest = (params: Record<string, string>) =>
    fetch(`${issuer}/token`, {
      method: "POST",
      headers: {
        authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString("base64")}`,
        "content-type": "application/x-www-form-urlencoded",
      },
      body: new URLSearchParams(params),
      signal: AbortSignal.timeout(10_000),
    });

  const tokens = async (params: Record<string, string>): Promise<Tokens> => {
    const res = await tokenRequest(params);
    const body = (await res.json()) as Record<string, unknown>;
    if (res.status !== 200)
      throw new Error(`token request (${params.grant_type}) refused: ${res.status} ${JSON.stringify(body)}`);
    return {
      idToken: String(body.id_token),
      accessToken: String(body.access_token),
      ...(typeof body.refresh_token === "string" ? { refreshToken: body.refresh_token } : {}),
      expiresIn: Number(body.expires_in),
    };
  };

  const op: OidcProvider = {
    issuer,
    clientId,
    clientSecret,
    jwksUri: `${issuer}/jwks`,
    redirectUris: o.redirectUris,
    proc,
    logFile,
    stop,
    async rotateKeys(opts = {}) {
      const res = await fetch(`${issuer}/__test/rotate${opts.dropOld ? "?drop=old" : ""}`, {
        method: "POST",
        signal: AbortSignal.timeout(10_000),
      });
      if (res.status !== 200) throw new Error(`key rotation refused: ${res.status} ${await res.text()}`);
      return (await res.json()) as { kid: string; kids: string[] };
    },
    authorizationRequest: (opts = {}) =>
      authorizationRequest({ issuer, clientId, redirectUris: o.redirectUris }, opts),
    authorize: (user, opts = {}) =>
      authorize(
        issuer,
        authorizationRequest({ issuer, clientId, redirectUris: o.redirectUris }, opts),
        user,
        opts,
      ),
    tokenRequest,
    async loginAt(url, user) {
      const u = new URL(url);
      const redirectUri = u.searchParams.get("redirect_uri");
      if (!redirectUri) throw new Error(`no redirect_uri in ${url}`);
      return (await follow(issuer, url, redirectUri, user, {})).back;
    },
    async tokensFor(user, opts = {}) {
      const a = await op.authorize(user, opts);
      return tokens({
        grant_type: "authorization_code",
        code: a.code,
        redirect_uri: a.redirectUri,
        code_verifier: a.codeVerifier,
      });
    },
    refresh: (refreshToken) => tokens({ grant_type: "refresh_token", refresh_token: refreshToken }),
  };
  return op;
}

/** The S256 PKCE challenge of a verifier (RFC 7636). */
export function pkceChallenge(verifier: string): string {
  return createHash("sha256").update(verifier).digest("base64url");
}

/** Decodes a JWT's header and payload without verifying anything. */
export function decodeJwt(jwt: string): {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
} {
  const [h, p] = jwt.split(".");
  const part = (s: string | undefined) =>
    JSON.parse(Buffer.from(s ?? "", "base64url").toString("utf8")) as Record<string, unknown>;
  return { header: part(h), payload: part(p) };
}

/** Cookies by name, as a browser would keep them for one host (paths ignored: all go everywhere). */
class CookieJar {
  #cookies = new Map<string, string>();

  take(res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      const [pair = "", ...attrs] = line.split(";");
      const eq = pair.indexOf("=");
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expires = attrs.find((a) => /^\s*expires=/i.test(a));
      const gone = value === "" || (expires && Date.parse(expires.split("=")[1]!) <= Date.now());
      if (gone) this.#cookies.delete(name);
      else this.#cookies.set(name, value);
    }
  }

  header(): string {
    return [...this.#cookies].map(([k, v]) => `${k}=${v}`).join("; ");
  }
}

function authorizationRequest(
  c: { issuer: string; clientId: string; redirectUris: string[] },
  opts: Omit<AuthorizeOptions, "password">,
): AuthorizationRequest {
  const redirectUri = opts.redirectUri ?? c.redirectUris[0];
  if (!redirectUri) throw new Error("no redirect URI registered");
  const codeVerifier = randomBytes(32).toString("base64url");
  const state = randomBytes(12).toString("base64url");
  const nonce = randomBytes(12).toString("base64url");
  const url = new URL(`${c.issuer}/auth`);
  for (const [k, v] of Object.entries({
    client_id: c.clientId,
    redirect_uri: redirectUri,
    response_type: "code",
    scope: opts.scope ?? DEFAULT_SCOPE,
    state,
    nonce,
    code_challenge: pkceChallenge(codeVerifier),
    code_challenge_method: "S256",
    ...opts.params,
  }))
    url.searchParams.set(k, v);
  return { url: url.href, codeVerifier, redirectUri, state, nonce };
}

/**
 * The browser's side of the code flow: the authorization request, then each redirect by hand —
 * the login form (dev interactions: `login`, `password`, hidden `prompt=login`), a consent form if
 * one comes — until a redirect to the redirect URI, whose `code` is read off the Location header.
 */
async function authorize(
  issuer: string,
  req: AuthorizationRequest,
  user: string,
  opts: AuthorizeOptions,
): Promise<Authorization> {
  const { codeVerifier, redirectUri, state, nonce } = req;
  const { back: next, sawConsent } = await follow(issuer, req.url, redirectUri, user, opts);
  const error = next.searchParams.get("error");
  if (error)
    throw new Error(
      `authorization for ${user} failed: ${error} ${next.searchParams.get("error_description") ?? ""}`,
    );
  if (next.searchParams.get("state") !== state) throw new Error("authorization response state mismatch");
  const code = next.searchParams.get("code");
  if (!code) throw new Error(`redirect without a code: ${next.href}`);
  return { code, codeVerifier, redirectUri, state, nonce, sawConsent };
}

/** Opens `url` and goes through the provider's pages as `user` until it redirects to `redirectUri`. */
async function follow(
  issuer: string,
  url: string,
  redirectUri: string,
  user: string,
  opts: AuthorizeOptions,
): Promise<{ back: URL; sawConsent: boolean }> {
  const jar = new CookieJar();
  const go = async (target: string, init: RequestInit = {}): Promise<Response> => {
    const res = await fetch(target, {
      ...init,
      redirect: "manual",
      headers: { ...(init.headers as Record<string, string>), cookie: jar.header() },
      signal: AbortSignal.timeout(10_000),
    });
    jar.take(res);
    return res;
  };
  const submit = (action: string, form: Record<string, string>) =>
    go(action, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(form).toString(),
    });

  let sawConsent = false;
  let res = await go(url);
  for (let hop = 0; hop < 12; hop++) {
    const location = res.headers.get("location");
    if (res.status >= 300 && res.status < 400 && location) {
      const next = new URL(location, res.url || issuer);
      if (next.href.startsWith(redirectUri)) return { back: next, sawConsent };
      res = await go(next.href);
      continue;
    }
    const html = await res.text();
    if (res.status !== 200)
      throw new Error(
        `login refused for ${user}: ${res.status} ${html
          .replace(/<[^>]*>/g, " ")
          .replace(/\s+/g, " ")
          .slice(0, 300)}`,
      );
    const action = /<form[^>]*action="([^"]+)"/.exec(html)?.[1]?.replace(/&amp;/g, "&");
    const prompt = /name="prompt" value="([^"]+)"/.exec(html)?.[1];
    if (!action || !prompt) throw new Error(`unexpected page during login: ${html.slice(0, 300)}`);
    const target = new URL(action, issuer).href;
    if (prompt === "login")
      res = await submit(target, { prompt, login: user, password: opts.password ?? "test" });
    else if (prompt === "consent") {
      sawConsent = true;
      res = await submit(target, { prompt });
    } else throw new Error(`unexpected interaction prompt ${prompt}`);
  }
  throw new Error(`authorization for ${user} did not reach ${redirectUri} within 12 steps`);
}

/**
 * The proxy's flags for browser login and bearer tokens against `idp`, its public URL `publicUrl`
 * (the e2e proxies' audience is `portico`, the provider's resource indicator).
 */
export function proxyOidcFlags(
  idp: Pick<OidcProvider, "issuer" | "clientId" | "clientSecret">,
  publicUrl: string,
): string[] {
  return [
    "--auth=oidc",
    `--oidc-issuer=${idp.issuer}`,
    `--oidc-client-id=${idp.clientId}`,
    `--oidc-client-secret=${idp.clientSecret}`,
    "--oidc-audiences=portico",
    `--public-url=${publicUrl}`,
  ];
}

/**
 * The set-up most browser and API suites share: a real OpenID provider on `provider`:9000 and a
 * proxy on `proxy`:8080 that logs users in against it (plus the suite's own `flags`), both stopped
 * at the suite's teardown. Names their logs `{name}-oidc` and `{name}-proxy`.
 */
export async function startOidcProxy(
  suite: { onTeardown(fn: () => unknown): void },
  o: { name: string; provider: string; proxy: string; publicUrl: string; flags?: string[] },
): Promise<{ idp: OidcProvider; px: ProxyProcess }> {
  const idp = await startOidcProvider({
    address: o.provider,
    port: 9000,
    redirectUris: [`${o.publicUrl}/__portico/auth/callback`],
    name: `${o.name}-oidc`,
  });
  suite.onTeardown(() => idp.stop());
  const px = await startProxy({
    address: o.proxy,
    port: 8080,
    name: `${o.name}-proxy`,
    flags: [...proxyOidcFlags(idp, o.publicUrl), ...(o.flags ?? [])],
  });
  suite.onTeardown(() => px.stop());
  return { idp, px };
}
