/**
 * The gate in front of every workspace: who is asking (bearer JWT, session cookie, trusted headers,
 * or nobody), the login round trip for browsers (`/__portico/auth/login`, `/callback`, `/logout`),
 * and the answers for those who may not pass (302 to login, 401, 429). Authorization itself is the
 * pure `mayOpen` (identity.ts); the data path calls it with the route.
 *
 * Modes (`--auth`): `oidc` (browser login with a session cookie; bearer tokens also accepted),
 * `jwt` (bearer tokens only), `trusted-headers` (X-Forwarded-User/-Email/-Groups, only from a
 * gateway that proves itself with a shared secret header, and from the configured source ranges if
 * any: behind Istio RequestAuthentication), `none` (everyone is anonymous).
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { readFile } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { BlockList, isIP } from "node:net";
import type { Logger } from "../../common/runtime/log.ts";
import type { IdentityConfig } from "../config.ts";
import { limitKey } from "../http/client.ts";
import { sendJson } from "../http/errors.ts";
import { identityFromClaims, type Claims, type Identity } from "./identity.ts";
import { JwtVerifier } from "./jwt.ts";
import { KeyedBuckets, type Verdict } from "./limits.ts";
import { UsedOnce } from "./once.ts";
import { oidcErrorCode, RelyingParty, safeReturnTo, type TokenAnswer } from "./oidc.ts";
import { applyRefresh, flightKey, SingleFlight, tokenExpiry } from "./refresh.ts";
import { SessionCodec, type Session } from "./session.ts";

export const AUTH_PREFIX = "/__portico/auth/";
const LOGIN_COOKIE = "portico_login";
/** The sealed ID token for logout (session.ts LogoutHint): host-only, auth routes only. */
const HINT_COOKIE = "portico_logout";
/** How long a login (the round trip to the provider) may take. */
const LOGIN_TTL_MS = 10 * 60_000;
/** A failed refresh is answered from memory this long, so waiting requests do not retry it each. */
const FAILED_REFRESH_REUSE_MS = 30_000;
const OK: Verdict = Object.freeze({ ok: true as const });
const ANONYMOUS: Identity = Object.freeze({ user: "anonymous", groups: [], roles: [], via: "none" as const });

/** Why a caller was not identified; logged (never the credential itself). */
export interface Refused {
  reason: string;
  /** A credential was presented and was bad (vs none at all). */
  presented: boolean;
  /** Sent with the refusal: clears a session that is over (a refused refresh). */
  setCookie?: string;
}

/** A refresh's result, shared by every request of the same session (refresh.ts SingleFlight). */
type Refreshed = { session: Session; cookie: string } | { reason: string };

export type Identified = { who: Identity; setCookie?: string } | Refused;

export interface GateDeps {
  config: IdentityConfig;
  mode: "none" | "oidc" | "jwt" | "trusted-headers";
  /** The proxy's session cookie name (also stripped before forwarding). */
  sessionCookie: string;
  baseDomain: string;
  log: Logger;
  now?: () => number;
}

export class Gate {
  readonly #d: GateDeps;
  readonly #now: () => number;
  /** Bearer tokens: `aud` in --oidc-audiences. */
  readonly #verifier?: JwtVerifier;
  readonly #codec?: SessionCodec;
  /** The relying party (`oidc`): login, code exchange, refresh, revocation, logout URL. */
  readonly #rp?: RelyingParty;
  readonly #trusted?: BlockList;
  /** SHA-256 of each accepted gateway secret (trusted-headers). */
  readonly #secrets: readonly Buffer[];
  readonly #perIp: KeyedBuckets;
  readonly #perUser: KeyedBuckets;
  /** One refresh in flight per session, its result reused by requests with the same old cookie. */
  readonly #refreshes: SingleFlight<Refreshed>;
  /** Login states whose callback was served: a callback URL works once. */
  readonly #usedStates: UsedOnce;

  private constructor(
    d: GateDeps,
    parts: {
      verifier?: JwtVerifier;
      codec?: SessionCodec;
      rp?: RelyingParty;
      trusted?: BlockList;
      secrets?: readonly Buffer[];
    },
  ) {
    this.#d = d;
    this.#now = d.now ?? Date.now;
    this.#verifier = parts.verifier;
    this.#codec = parts.codec;
    this.#rp = d.mode === "oidc" && d.config.publicUrl ? parts.rp : undefined;
    this.#trusted = parts.trusted;
    this.#secrets = parts.secrets ?? [];
    const r = d.config.rateLimit;
    this.#perIp = new KeyedBuckets({ ratePerSecond: r.perIp, burst: r.burst, maxKeys: 100_000 });
    this.#perUser = new KeyedBuckets({ ratePerSecond: r.perUser, burst: r.burst, maxKeys: 100_000 });
    this.#refreshes = new SingleFlight<Refreshed>({
      // A new session is handed to late requests with the old cookie while its tokens are good.
      reuseMs: (out) => ("session" in out ? out.session.tokenExp - this.#now() : FAILED_REFRESH_REUSE_MS),
      maxKeys: 10_000,
      now: this.#now,
    });
    this.#usedStates = new UsedOnce({ maxKeys: 100_000, now: this.#now });
  }

  /** Discovers the provider (oidc, jwt) and loads the session keys (oidc) before serving. */
  static async create(d: GateDeps, jwks?: unknown): Promise<Gate> {
    const c = d.config;
    if (d.mode === "none") return new Gate(d, {});
    if (d.mode === "trusted-headers") {
      const file = c.trustedHeaderSecretFile;
      if (!file) throw new Error("--auth=trusted-headers needs --trusted-header-secret-file");
      const secrets = parseGatewaySecrets(await readFile(file, "utf8"), file);
      let trusted: BlockList | undefined;
      for (const cidr of c.trustedHeaderCidrs) {
        trusted ??= new BlockList();
        const [addr, bits] = cidr.split("/");
        const type = isIP(addr!) === 6 ? "ipv6" : "ipv4";
        trusted.addSubnet(addr!, Number(bits ?? (type === "ipv6" ? 128 : 32)), type);
      }
      return new Gate(d, { ...(trusted ? { trusted } : {}), secrets: secrets.map(sha256) });
    }
    const rp = await RelyingParty.discover({
      issuer: c.issuer!,
      // --auth=jwt needs the discovery document only: any client id reads it.
      clientId: c.clientId ?? c.audiences[0] ?? "portico",
      ...(d.mode === "oidc" && c.clientSecret ? { clientSecret: c.clientSecret } : {}),
      redirectUri: `${c.publicUrl ?? "http://unused.invalid"}${AUTH_PREFIX}callback`,
      scopes: c.scopes,
      clockSkewSeconds: c.clockSkewSeconds,
    });
    const meta = rp.metadata;
    if (typeof meta.jwks_uri !== "string")
      throw new Error(`OIDC discovery: ${c.issuer} publishes no jwks_uri`);
    const verifier = new JwtVerifier({
      issuer: meta.issuer,
      audiences: c.audiences,
      jwksUri: meta.jwks_uri,
      clockSkewSeconds: c.clockSkewSeconds,
      now: d.now,
    });
    const codec = d.mode === "oidc" ? await SessionCodec.create(jwks) : undefined;
    if (codec?.ephemeral)
      d.log.warn(
        "no --session-keys-file: sessions are sealed with a key made at start; they end when this process does and other replicas cannot open them",
      );
    if (d.mode === "oidc" && new URL(c.issuer!).protocol === "http:")
      d.log.warn("the OpenID provider is reached over plain http: use https outside a private network");
    return new Gate(d, { verifier, codec, rp });
  }

  get mode(): GateDeps["mode"] {
    return this.#d.mode;
  }

  /**
   * Per client IP, before anything costly (a token's signature) is done for it. Off with
   * `--auth=none` (a local demo, where one client is all there is) and with a rate of 0.
   */
  limitIp(ip: string | undefined): Verdict {
    if (this.#d.mode === "none" || this.#d.config.rateLimit.perIp <= 0) return OK;
    // The client's address (proxy/http/client.ts); an IPv6 client's whole /64 is one bucket.
    return this.#perIp.take(limitKey(ip ?? "unknown"));
  }

  /** Per user, once known; off for the anonymous user of `--auth=none` and with a rate of 0. */
  limitUser(who: Identity): Verdict {
    if (who.via === "none" || this.#d.config.rateLimit.perUser <= 0) return OK;
    return this.#perUser.take(who.user);
  }

  /** Who sent `req`. Synchronous (no promise) when auth is off, the common case in benchmarks. */
  identify(req: IncomingMessage): Identified | Promise<Identified> {
    switch (this.#d.mode) {
      case "none":
        return { who: ANONYMOUS };
      case "trusted-headers":
        return this.#fromHeaders(req);
      case "jwt":
        return this.#fromBearer(req) ?? { reason: "no bearer token", presented: false };
      case "oidc":
        return this.#fromBearer(req) ?? this.#fromSession(req);
    }
  }

  /**
   * trusted-headers: the gateway proves itself with the shared secret (constant-time compare; the
   * header is removed here, so nothing after this, upstream or log, sees it), and its address is in
   * the source ranges when any are configured. Only then do the identity headers count.
   */
  #fromHeaders(req: IncomingMessage): Identified {
    const name = this.#d.config.trustedHeaderSecretName;
    const given = req.headers[name];
    delete req.headers[name];
    const ip = req.socket.remoteAddress ?? "";
    const family = isIP(ip) === 6 ? "ipv6" : "ipv4";
    const user = header(req, "x-forwarded-user");
    if (
      this.#trusted &&
      !this.#trusted.check(ip.replace(/^::ffff:/, ""), ip.startsWith("::ffff:") ? "ipv4" : family)
    )
      return { reason: `identity headers from ${ip}, which is not a trusted source`, presented: !!user };
    if (given === undefined)
      return {
        reason: `no ${name} header: the sender did not prove it is the gateway`,
        presented: !!user,
      };
    if (typeof given !== "string" || !this.#secretMatches(given))
      return { reason: `wrong ${name}: the sender is not the gateway`, presented: true };
    if (!user) return { reason: "no X-Forwarded-User from the trusted source", presented: false };
    const email = header(req, "x-forwarded-email");
    const groups = (header(req, "x-forwarded-groups") ?? "")
      .split(",")
      .map((g) => g.trim())
      .filter(Boolean);
    return { who: { user, ...(email ? { email } : {}), groups, roles: [], via: "headers" } };
  }

  /** Whether `given` is one of the secrets; compares digests in constant time, every one of them. */
  #secretMatches(given: string): boolean {
    const d = sha256(given);
    let ok = false;
    for (const s of this.#secrets) ok = timingSafeEqual(d, s) || ok;
    return ok;
  }

  #fromBearer(req: IncomingMessage): Promise<Identified> | undefined {
    const auth = header(req, "authorization");
    if (!auth) return undefined;
    const m = /^Bearer\s+(\S+)$/i.exec(auth);
    if (!m) return Promise.resolve({ reason: "Authorization is not a Bearer token", presented: true });
    return this.#verifier!.verify(m[1]!).then((r): Identified => {
      if (!r.ok) return { reason: `bearer token refused: ${r.reason} (${r.detail})`, presented: true };
      const who = identityFromClaims(r.claims as Claims, "bearer", this.#d.config.clientId);
      return who
        ? { who: { ...who, token: m[1]! } }
        : { reason: "bearer token without a subject", presented: true };
    });
  }

  async #fromSession(req: IncomingMessage): Promise<Identified> {
    const sealed = cookie(req, this.#d.sessionCookie);
    if (!sealed) return { reason: "no session", presented: false };
    const now = this.#now();
    const s = await this.#codec!.openSession(sealed, now);
    if (!s) return { reason: "session cookie invalid or expired", presented: true };
    if (s.tokenExp > now) return { who: sessionIdentity(s) };
    // The provider's tokens ran out: a refresh keeps the user in, or the session is over.
    if (!s.refreshToken)
      return { reason: "session's tokens expired and there is no refresh token", presented: true };
    const out = await this.#refreshes.run(flightKey(s.refreshToken), () => this.#refresh(s));
    if ("reason" in out)
      return { reason: out.reason, presented: true, setCookie: this.#sessionCookie("", 0) };
    return { who: sessionIdentity(out.session), setCookie: out.cookie };
  }

  /** One refresh grant for `s`; never rejects (a failure is an outcome shared with the waiters). */
  async #refresh(s: Session): Promise<Refreshed> {
    let t: TokenAnswer;
    try {
      t = await this.#rp!.refresh(s.refreshToken!);
    } catch (err) {
      return { reason: `refresh failed: ${oidcErrorCode(err)}` };
    }
    const out = applyRefresh(s, t, this.#now(), (claims) =>
      identityFromClaims(claims, "session", this.#d.config.clientId),
    );
    if ("reason" in out) {
      this.#d.log.warn("session ended at refresh", { user: s.user, reason: out.reason });
      return out;
    }
    const cookie = this.#sessionCookie(
      await this.#codec!.seal(out.session),
      Math.round((s.exp - this.#now()) / 1000),
    );
    return { session: out.session, cookie };
  }

  /** A session from a code exchange's validated tokens. */
  #sessionFrom(t: TokenAnswer, sessionExp: number): Session | Refused {
    if (!t.claims) return { reason: "the provider sent no ID token", presented: true };
    const who = identityFromClaims(t.claims as Claims, "session", this.#d.config.clientId);
    if (!who) return { reason: "ID token without a subject", presented: true };
    return {
      sub: String(t.claims.sub),
      user: who.user,
      ...(who.email ? { email: who.email } : {}),
      groups: [...who.groups],
      roles: [...who.roles],
      exp: sessionExp,
      tokenExp: tokenExpiry(t, this.#now(), sessionExp),
      ...(t.refreshToken ? { refreshToken: t.refreshToken } : {}),
      ...(t.accessToken ? { accessToken: t.accessToken } : {}),
    };
  }

  #cookieAttrs(path: string, maxAge: number, domain?: string): string {
    maxAge = Math.max(0, maxAge);
    const secure = this.#d.config.publicUrl?.startsWith("https:") ? "; Secure" : "";
    return `Path=${path}; Max-Age=${maxAge}; HttpOnly; SameSite=Lax${secure}${domain ? `; Domain=${domain}` : ""}`;
  }

  #sessionCookie(value: string, maxAge: number): string {
    return `${this.#d.sessionCookie}=${value}; ${this.#cookieAttrs("/", maxAge, this.#d.config.cookieDomain)}`;
  }

  /** A cookie of the auth routes only: host-only (no Domain) and `Path=/__portico/auth/`. */
  #authCookie(name: string, value: string, maxAge: number): string {
    return `${name}=${value}; ${this.#cookieAttrs(AUTH_PREFIX, maxAge)}`;
  }

  /**
   * The answer to a caller who could not be identified: a browser asking for a page in oidc mode is
   * sent to log in and brought back; everything else gets 401 JSON.
   */
  /** One line per refused caller: the reason, never the credential. */
  logRefusal(req: IncomingMessage, why: Refused, remote = req.socket.remoteAddress): void {
    this.#d.log.info("authentication refused", {
      reason: why.reason,
      remote,
      path: (req.url ?? "").split("?")[0],
    });
  }

  refuse(req: IncomingMessage, res: ServerResponse, why: Refused, remote?: string): void {
    this.logRefusal(req, why, remote);
    if (why.setCookie && !res.headersSent) res.appendHeader("set-cookie", why.setCookie);
    const html =
      /text\/html/.test(header(req, "accept") ?? "") && (req.method === "GET" || req.method === "HEAD");
    if (this.#d.mode === "oidc" && html && this.#d.config.publicUrl) {
      // Back to where the browser was: the public scheme (TLS may end before the proxy), its Host.
      const scheme = new URL(this.#d.config.publicUrl).protocol;
      const back = `${scheme}//${req.headers.host ?? ""}${req.url ?? "/"}`;
      const login = `${this.#d.config.publicUrl}${AUTH_PREFIX}login?rd=${encodeURIComponent(back)}`;
      res.writeHead(302, { location: login, "cache-control": "no-store", "content-length": 0 }).end();
      return;
    }
    sendJson(
      res,
      401,
      {
        error: "unauthenticated",
        message: why.presented ? "the credentials presented were refused" : "log in first",
      },
      { "www-authenticate": `Bearer realm="portico"${why.presented ? ', error="invalid_token"' : ""}` },
    );
  }

  /** Serves `/__portico/auth/*`; false when `path` is not one of its routes. */
  serveAuthRoute(req: IncomingMessage, res: ServerResponse, path: string, query: string): boolean {
    if (!path.startsWith(AUTH_PREFIX)) return false;
    const action = path.slice(AUTH_PREFIX.length);
    if (this.#d.mode !== "oidc" || !this.#rp) {
      sendJson(res, 404, {
        error: "not_found",
        message: `browser login is not enabled (--auth=${this.#d.mode})`,
      });
      return true;
    }
    const params = new URLSearchParams(query.replace(/^\?/, ""));
    const done = (p: Promise<void>) =>
      void p.catch((err: unknown) => {
        const code = oidcErrorCode(err);
        this.#d.log.warn("login failed", { step: action, err: code });
        if (res.headersSent) return void res.destroy();
        sendJson(res, 502, {
          error: "login_failed",
          message: `login could not be completed (${code}): start again at ${AUTH_PREFIX}login`,
        });
      });
    if (action === "login") done(this.#login(res, params));
    else if (action === "callback") done(this.#callback(req, res, query.replace(/^\?/, ""), params));
    else if (action === "logout") done(this.#logout(req, res));
    else sendJson(res, 404, { error: "not_found", message: `no ${path}` });
    return true;
  }

  async #login(res: ServerResponse, params: URLSearchParams): Promise<void> {
    const secrets = RelyingParty.secrets();
    const returnTo = safeReturnTo(params.get("rd"), this.#d.config.publicUrl!, this.#d.baseDomain);
    const sealed = await this.#codec!.seal({ ...secrets, returnTo, exp: this.#now() + LOGIN_TTL_MS });
    const location = await this.#rp!.authorizationUrl(secrets);
    res.writeHead(302, {
      location,
      "set-cookie": this.#authCookie(LOGIN_COOKIE, sealed, LOGIN_TTL_MS / 1000),
      "cache-control": "no-store",
      "content-length": 0,
    });
    res.end();
  }

  /**
   * The provider's answer. Works once per login: the state is spent before the code is exchanged
   * (a replay of the same URL with the same login cookie, even while the first is in flight, gets
   * 400), and every answer clears the login cookie.
   */
  async #callback(
    req: IncomingMessage,
    res: ServerResponse,
    query: string,
    params: URLSearchParams,
  ): Promise<void> {
    const clearLogin = this.#authCookie(LOGIN_COOKIE, "", 0);
    const fail = (status: number, error: string, message: string) =>
      sendJson(res, status, { error, message }, { "set-cookie": clearLogin, "cache-control": "no-store" });
    const sealed = cookie(req, LOGIN_COOKIE);
    const login = sealed ? await this.#codec!.openLogin(sealed, this.#now()) : undefined;
    const error = params.get("error");
    if (error)
      return fail(401, "login_refused", `the provider said: ${error.slice(0, 100)}; start again to log in`);
    if (!login || login.state !== params.get("state"))
      return fail(
        400,
        "login_state",
        "this login was not started here, or took more than 10 minutes: start again",
      );
    if (!this.#usedStates.use(login.state, login.exp))
      return fail(400, "login_replayed", "this login was completed already: start a new login");
    if (!params.get("code")) return fail(400, "login_code", "the provider sent no code: start again");
    let tokens: TokenAnswer;
    try {
      tokens = await this.#rp!.exchangeCode(query, login);
    } catch (err) {
      const code = oidcErrorCode(err);
      this.#d.log.warn("login refused", { reason: code });
      return fail(401, "login_refused", `the provider's answer was refused (${code}): start again`);
    }
    const made = this.#sessionFrom(tokens, this.#now() + this.#d.config.sessionTtlMs);
    if ("reason" in made) {
      this.#d.log.warn("login refused", { reason: made.reason });
      return fail(401, "login_refused", "the provider's ID token was refused: start again");
    }
    const ttl = Math.round(this.#d.config.sessionTtlMs / 1000);
    const cookies = [this.#sessionCookie(await this.#codec!.seal(made), ttl), clearLogin];
    if (tokens.idToken)
      cookies.push(
        this.#authCookie(
          HINT_COOKIE,
          await this.#codec!.seal({ sub: made.sub, idToken: tokens.idToken, exp: made.exp }),
          ttl,
        ),
      );
    this.#d.log.info("logged in", { user: made.user });
    res.writeHead(302, {
      location: login.returnTo,
      "set-cookie": cookies,
      "cache-control": "no-store",
      "content-length": 0,
    });
    res.end();
  }

  /**
   * Ends the session here and at the provider: the refresh token is revoked (when the provider has
   * a revocation endpoint), both cookies are cleared, and the browser goes to the provider's
   * end_session_endpoint with `id_token_hint` and `post_logout_redirect_uri` (the public URL's
   * root, which must be registered at the provider), or to `/` when it has none.
   */
  async #logout(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const now = this.#now();
    const sealed = cookie(req, this.#d.sessionCookie);
    const s = sealed ? await this.#codec!.openSession(sealed, now) : undefined;
    const sealedHint = cookie(req, HINT_COOKIE);
    const hint = sealedHint ? await this.#codec!.openHint(sealedHint, now) : undefined;
    if (s?.refreshToken) {
      try {
        await this.#rp!.revoke(s.refreshToken, "refresh_token");
      } catch (err) {
        // The local session ends anyway; the provider's session ends at its end_session_endpoint.
        this.#d.log.warn("refresh token revocation failed", { user: s.user, err: oidcErrorCode(err) });
      }
    }
    const idTokenHint = hint && s && hint.sub === s.sub ? hint.idToken : undefined;
    const to = this.#rp!.endSessionUrl(idTokenHint, `${this.#d.config.publicUrl}/`) ?? "/";
    if (s) this.#d.log.info("logged out", { user: s.user, revoked: !!s.refreshToken });
    res.writeHead(302, {
      location: to,
      "set-cookie": [this.#sessionCookie("", 0), this.#authCookie(HINT_COOKIE, "", 0)],
      "cache-control": "no-store",
      "content-length": 0,
    });
    res.end();
  }
}

const sha256 = (s: string): Buffer => createHash("sha256").update(s, "utf8").digest();

/**
 * The gateway secrets in a `--trusted-header-secret-file`: one a line (several while rotating),
 * blank lines and surrounding space ignored. Throws, naming the file (never its content), when there
 * is none or one is too short to resist guessing.
 */
export function parseGatewaySecrets(text: string, file: string): string[] {
  const secrets = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean);
  if (secrets.length === 0)
    throw new Error(
      `--trusted-header-secret-file ${file} holds no secret: write one line of at least 32 random characters (openssl rand -hex 32)`,
    );
  if (secrets.some((x) => x.length < 32))
    throw new Error(
      `--trusted-header-secret-file ${file}: each secret must be at least 32 characters (openssl rand -hex 32)`,
    );
  return secrets;
}

function sessionIdentity(s: Session): Identity {
  return {
    user: s.user,
    ...(s.email ? { email: s.email } : {}),
    groups: s.groups,
    roles: s.roles,
    via: "session",
    ...(s.accessToken ? { token: s.accessToken } : {}),
  };
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** One cookie's value from the Cookie header, or undefined. */
export function cookie(req: IncomingMessage, name: string): string | undefined {
  const raw = req.headers.cookie;
  if (!raw) return undefined;
  for (const part of raw.split(";")) {
    const i = part.indexOf("=");
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return undefined;
}
