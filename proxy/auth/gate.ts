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
import type { Logger } from "../../operator/log.ts";
import type { IdentityConfig } from "../config.ts";
import { limitKey } from "../http/client.ts";
import { sendJson } from "../http/errors.ts";
import { identityFromClaims, type Claims, type Identity } from "./identity.ts";
import { JwtVerifier } from "./jwt.ts";
import { KeyedBuckets, type Verdict } from "./limits.ts";
import {
  authorizationUrl,
  discover,
  exchangeCode,
  randomToken,
  refreshTokens,
  safeReturnTo,
  type ClientSettings,
  type ProviderMetadata,
} from "./oidc.ts";
import { SessionCodec, type Session } from "./session.ts";

export const AUTH_PREFIX = "/__portico/auth/";
const LOGIN_COOKIE = "portico_login";
const OK: Verdict = Object.freeze({ ok: true as const });
const ANONYMOUS: Identity = Object.freeze({ user: "anonymous", groups: [], roles: [], via: "none" as const });

/** Why a caller was not identified; logged (never the credential itself). */
export interface Refused {
  reason: string;
  /** A credential was presented and was bad (vs none at all). */
  presented: boolean;
}

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
  /** ID tokens at login and refresh: `aud` is this client. */
  readonly #idVerifier?: JwtVerifier;
  readonly #codec?: SessionCodec;
  readonly #meta?: ProviderMetadata;
  readonly #client?: ClientSettings;
  readonly #trusted?: BlockList;
  /** SHA-256 of each accepted gateway secret (trusted-headers). */
  readonly #secrets: readonly Buffer[];
  readonly #perIp: KeyedBuckets;
  readonly #perUser: KeyedBuckets;

  private constructor(
    d: GateDeps,
    parts: {
      verifier?: JwtVerifier;
      idVerifier?: JwtVerifier;
      codec?: SessionCodec;
      meta?: ProviderMetadata;
      trusted?: BlockList;
      secrets?: readonly Buffer[];
    },
  ) {
    this.#d = d;
    this.#now = d.now ?? Date.now;
    this.#verifier = parts.verifier;
    this.#idVerifier = parts.idVerifier;
    this.#codec = parts.codec;
    this.#meta = parts.meta;
    this.#trusted = parts.trusted;
    this.#secrets = parts.secrets ?? [];
    const r = d.config.rateLimit;
    this.#perIp = new KeyedBuckets({ ratePerSecond: r.perIp, burst: r.burst, maxKeys: 100_000 });
    this.#perUser = new KeyedBuckets({ ratePerSecond: r.perUser, burst: r.burst, maxKeys: 100_000 });
    if (parts.meta && d.config.clientId && d.config.clientSecret && d.config.publicUrl)
      this.#client = {
        clientId: d.config.clientId,
        clientSecret: d.config.clientSecret,
        redirectUri: `${d.config.publicUrl}${AUTH_PREFIX}callback`,
        scopes: d.config.scopes,
      };
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
    const meta = await discover(c.issuer!);
    const verifier = new JwtVerifier({
      issuer: meta.issuer,
      audiences: c.audiences,
      jwksUri: meta.jwks_uri,
      clockSkewSeconds: c.clockSkewSeconds,
      now: d.now,
    });
    const idVerifier =
      d.mode === "oidc"
        ? new JwtVerifier({
            issuer: meta.issuer,
            audiences: [c.clientId!],
            jwksUri: meta.jwks_uri,
            clockSkewSeconds: c.clockSkewSeconds,
            now: d.now,
          })
        : undefined;
    const codec = d.mode === "oidc" ? await SessionCodec.create(jwks) : undefined;
    if (codec?.ephemeral)
      d.log.warn(
        "no --session-keys-file: sessions are sealed with a key made at start; they end when this process does and other replicas cannot open them",
      );
    return new Gate(d, { verifier, idVerifier, codec, meta });
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
    try {
      const t = await refreshTokens(this.#meta!, this.#client!, s.refreshToken);
      const fresh = await this.#sessionFrom(
        t.idToken,
        undefined,
        t.refreshToken ?? s.refreshToken,
        s.exp,
        t.accessToken,
      );
      if ("reason" in fresh) return fresh;
      return { who: sessionIdentity(fresh.session), setCookie: fresh.cookie };
    } catch (err) {
      return { reason: `refresh failed: ${(err as Error).message}`, presented: true };
    }
  }

  /** Verifies an ID token and seals a session from it. */
  async #sessionFrom(
    idToken: string,
    nonce: string | undefined,
    refreshToken: string | undefined,
    sessionExp: number,
    accessToken: string | undefined,
  ): Promise<{ session: Session; cookie: string } | Refused> {
    const r = await this.#idVerifier!.verify(idToken);
    if (!r.ok) return { reason: `ID token refused: ${r.reason} (${r.detail})`, presented: true };
    const claims = r.claims as Claims;
    if (nonce !== undefined && claims.nonce !== nonce)
      return { reason: "ID token nonce mismatch", presented: true };
    const who = identityFromClaims(claims, "session", this.#d.config.clientId);
    if (!who) return { reason: "ID token without a subject", presented: true };
    const session: Session = {
      sub: String(claims.sub),
      user: who.user,
      ...(who.email ? { email: who.email } : {}),
      groups: [...who.groups],
      roles: [...who.roles],
      exp: sessionExp,
      tokenExp: Math.min(r.expiresAt, sessionExp),
      ...(refreshToken ? { refreshToken } : {}),
      ...(accessToken ? { accessToken } : {}),
    };
    const sealed = await this.#codec!.seal(session);
    return { session, cookie: this.#sessionCookie(sealed, Math.round((sessionExp - this.#now()) / 1000)) };
  }

  #cookieAttrs(path: string, maxAge: number, domain?: string): string {
    const secure = this.#d.config.publicUrl?.startsWith("https:") ? "; Secure" : "";
    return `Path=${path}; Max-Age=${maxAge}; HttpOnly; SameSite=Lax${secure}${domain ? `; Domain=${domain}` : ""}`;
  }

  #sessionCookie(value: string, maxAge: number): string {
    return `${this.#d.sessionCookie}=${value}; ${this.#cookieAttrs("/", maxAge, this.#d.config.cookieDomain)}`;
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
    if (this.#d.mode !== "oidc" || !this.#client) {
      sendJson(res, 404, {
        error: "not_found",
        message: `browser login is not enabled (--auth=${this.#d.mode})`,
      });
      return true;
    }
    const params = new URLSearchParams(query.replace(/^\?/, ""));
    const done = (p: Promise<void>) =>
      void p.catch((err: unknown) => {
        this.#d.log.warn("login failed", { step: action, err: (err as Error).message });
        sendJson(res, 502, {
          error: "login_failed",
          message: `login could not be completed: ${(err as Error).message}`,
        });
      });
    if (action === "login") done(this.#login(res, params));
    else if (action === "callback") done(this.#callback(req, res, params));
    else if (action === "logout") this.#logout(res);
    else sendJson(res, 404, { error: "not_found", message: `no ${path}` });
    return true;
  }

  async #login(res: ServerResponse, params: URLSearchParams): Promise<void> {
    const state = { state: randomToken(), nonce: randomToken(), verifier: randomToken() };
    const returnTo = safeReturnTo(params.get("rd"), this.#d.baseDomain);
    const sealed = await this.#codec!.seal({ ...state, returnTo, exp: this.#now() + 10 * 60_000 });
    res.writeHead(302, {
      location: authorizationUrl(this.#meta!, this.#client!, state),
      "set-cookie": `${LOGIN_COOKIE}=${sealed}; ${this.#cookieAttrs(AUTH_PREFIX, 600)}`,
      "cache-control": "no-store",
      "content-length": 0,
    });
    res.end();
  }

  async #callback(req: IncomingMessage, res: ServerResponse, params: URLSearchParams): Promise<void> {
    const sealed = cookie(req, LOGIN_COOKIE);
    const login = sealed ? await this.#codec!.openLogin(sealed, this.#now()) : undefined;
    const error = params.get("error");
    if (error) return sendJson(res, 401, { error: "login_refused", message: `the provider said: ${error}` });
    if (!login || login.state !== params.get("state"))
      return sendJson(res, 400, {
        error: "login_state",
        message: "this login was not started here, or took more than 10 minutes: start again",
      });
    const code = params.get("code");
    if (!code) return sendJson(res, 400, { error: "login_code", message: "the provider sent no code" });
    const tokens = await exchangeCode(this.#meta!, this.#client!, code, login.verifier);
    const made = await this.#sessionFrom(
      tokens.idToken,
      login.nonce,
      tokens.refreshToken,
      this.#now() + this.#d.config.sessionTtlMs,
      tokens.accessToken,
    );
    if ("reason" in made) {
      this.#d.log.warn("login refused", { reason: made.reason });
      return sendJson(res, 401, { error: "login_refused", message: "the provider's ID token was refused" });
    }
    this.#d.log.info("logged in", { user: made.session.user });
    res.writeHead(302, {
      location: login.returnTo,
      "set-cookie": [made.cookie, `${LOGIN_COOKIE}=; ${this.#cookieAttrs(AUTH_PREFIX, 0)}`],
      "cache-control": "no-store",
      "content-length": 0,
    });
    res.end();
  }

  #logout(res: ServerResponse): void {
    const to = this.#meta?.end_session_endpoint
      ? `${this.#meta.end_session_endpoint}?client_id=${encodeURIComponent(this.#client!.clientId)}`
      : "/";
    res.writeHead(302, {
      location: to,
      "set-cookie": this.#sessionCookie("", 0),
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
