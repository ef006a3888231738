/**
 * The OpenID Connect relying party, on `openid-client` (panva's certified client): discovery, the
 * authorization-code flow with PKCE (S256), state and nonce, the code exchange with ID-token
 * validation (signature against the provider's JWKS, iss, aud, azp, exp, iat, nonce), refresh,
 * revocation and the RP-initiated logout URL. No HTTP serving here (proxy/auth/gate.ts does that)
 * and no bearer-token verification (proxy/auth/jwt.ts).
 *
 * Also the pure return-to check (`safeReturnTo`): where the browser may be sent after login.
 */
import { randomBytes } from "node:crypto";
import * as oc from "openid-client";

/** Signature algorithms accepted on ID tokens (oauth4webapi takes a list here too). */
export const ID_TOKEN_ALGS: readonly string[] = ["RS256", "ES256"];

export interface RelyingPartyOptions {
  issuer: string;
  clientId: string;
  /** Absent in `--auth=jwt`: discovery only, no token calls. */
  clientSecret?: string;
  /** Where the provider sends the browser back: `{public URL}/__portico/auth/callback`. */
  redirectUri: string;
  scopes: readonly string[];
  clockSkewSeconds: number;
  /** Test seam: openid-client's fetch. */
  fetch?: oc.CustomFetch;
}

/** What a token endpoint answered, the ID token (when one came) already validated. */
export interface TokenAnswer {
  idToken?: string;
  /** The validated ID token's claims (with `idToken`). */
  claims?: Record<string, unknown>;
  accessToken?: string;
  refreshToken?: string;
  /** Seconds (the access token's lifetime). */
  expiresIn?: number;
}

/** The login round trip's secrets, kept in the sealed login cookie. */
export interface LoginSecrets {
  state: string;
  nonce: string;
  verifier: string;
}

export class RelyingParty {
  readonly #c: oc.Configuration;
  readonly #o: RelyingPartyOptions;

  private constructor(c: oc.Configuration, o: RelyingPartyOptions) {
    this.#c = c;
    this.#o = o;
  }

  /**
   * Reads the discovery document (its issuer must be the one configured, exactly). A plain-http
   * issuer is allowed (a provider inside the cluster); TLS is the deployer's choice.
   */
  static async discover(o: RelyingPartyOptions): Promise<RelyingParty> {
    const insecure = new URL(o.issuer).protocol === "http:";
    const c = await oc.discovery(
      new URL(o.issuer),
      o.clientId,
      {
        [oc.clockTolerance]: o.clockSkewSeconds,
        // The same allow-list as bearer tokens (jwt.ts): never `none`, never HMAC.
        id_token_signed_response_alg: ID_TOKEN_ALGS as unknown as string,
      },
      o.clientSecret ? oc.ClientSecretBasic(o.clientSecret) : oc.None(),
      {
        timeout: 10,
        ...(insecure ? { execute: [oc.allowInsecureRequests] } : {}),
        ...(o.fetch ? { [oc.customFetch]: o.fetch } : {}),
      },
    );
    // ID tokens from the token endpoint are verified against the JWKS too, not only trusted for
    // coming over the back channel (OIDC Core 3.1.3.7 would allow that with TLS; we may have none).
    oc.enableNonRepudiationChecks(c);
    return new RelyingParty(c, o);
  }

  get metadata(): oc.ServerMetadata {
    return this.#c.serverMetadata();
  }

  /** Fresh state, nonce and PKCE verifier for one login. */
  static secrets(): LoginSecrets {
    return { state: oc.randomState(), nonce: oc.randomNonce(), verifier: oc.randomPKCECodeVerifier() };
  }

  /** Where the browser is sent to log in. */
  async authorizationUrl(s: LoginSecrets): Promise<string> {
    return oc.buildAuthorizationUrl(this.#c, {
      redirect_uri: this.#o.redirectUri,
      scope: this.#o.scopes.join(" "),
      state: s.state,
      nonce: s.nonce,
      code_challenge: await oc.calculatePKCECodeChallenge(s.verifier),
      code_challenge_method: "S256",
    }).href;
  }

  /**
   * The callback: checks the authorization response (state, `iss` when the provider sends it, an
   * error), exchanges the code with the PKCE verifier, validates the ID token (nonce included).
   * `query` is the callback's query string as received.
   */
  async exchangeCode(query: string, s: LoginSecrets): Promise<TokenAnswer> {
    const current = new URL(this.#o.redirectUri);
    current.search = query;
    const t = await oc.authorizationCodeGrant(this.#c, current, {
      pkceCodeVerifier: s.verifier,
      expectedState: s.state,
      expectedNonce: s.nonce,
      idTokenExpected: true,
    });
    return answer(t);
  }

  /** A refresh grant. The answer may come without an ID token (OIDC Core 12.2): that is fine. */
  async refresh(refreshToken: string): Promise<TokenAnswer> {
    return answer(await oc.refreshTokenGrant(this.#c, refreshToken));
  }

  /** Revokes a token (RFC 7009) when the provider has a revocation endpoint; false when it has none. */
  async revoke(token: string, hint: "refresh_token" | "access_token"): Promise<boolean> {
    if (!this.metadata.revocation_endpoint) return false;
    await oc.tokenRevocation(this.#c, token, { token_type_hint: hint });
    return true;
  }

  /** RP-initiated logout (OIDC RP-Initiated Logout 1.0), or undefined without an end_session_endpoint. */
  endSessionUrl(idTokenHint: string | undefined, postLogoutRedirectUri: string): string | undefined {
    if (!this.metadata.end_session_endpoint) return undefined;
    return oc.buildEndSessionUrl(this.#c, {
      ...(idTokenHint ? { id_token_hint: idTokenHint } : {}),
      post_logout_redirect_uri: postLogoutRedirectUri,
    }).href;
  }
}

function answer(t: oc.TokenEndpointResponse & oc.TokenEndpointResponseHelpers): TokenAnswer {
  const claims = t.claims();
  return {
    ...(t.id_token && claims ? { idToken: t.id_token, claims: { ...claims } } : {}),
    ...(t.access_token ? { accessToken: t.access_token } : {}),
    ...(t.refresh_token ? { refreshToken: t.refresh_token } : {}),
    ...(typeof t.expires_in === "number" ? { expiresIn: t.expires_in } : {}),
  };
}

/** The provider's error code only (its description may echo what was sent), for logs and messages. */
export function oidcErrorCode(err: unknown): string {
  const e = err as { error?: unknown; code?: unknown; message?: unknown };
  if (typeof e?.error === "string") return e.error;
  if (typeof e?.code === "string") return e.code;
  return typeof e?.message === "string" ? e.message : String(err);
}

/** 32 random bytes, base64url. */
export const randomToken = (): string => randomBytes(32).toString("base64url");

/** Longer return-to targets are not followed (no legitimate page URL needs more). */
export const MAX_RETURN_TO = 2048;

/**
 * Where to go after login. `target` is parsed with the WHATWG URL parser — the browser's own, which
 * drops tabs and newlines, reads `\` as `/` and maps IDN dots — against the public URL, so what is
 * checked is what the browser would open. Accepted: an http(s) URL without credentials whose host
 * is the base domain or one of its subdomains (a workspace), or any URL on the public origin (a
 * relative path). Returned absolute and normalised, so no `//evil` can come out of it; anything
 * else gives `/` (the public origin's root).
 */
export function safeReturnTo(
  target: string | null | undefined,
  publicUrl: string,
  baseDomain: string,
): string {
  if (!target || target.length > MAX_RETURN_TO) return "/";
  let u: URL;
  try {
    u = new URL(target, publicUrl);
  } catch {
    return "/";
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") return "/";
  if (u.username || u.password) return "/";
  const base = baseDomain.toLowerCase();
  const host = u.hostname; // lower-cased, IDN as punycode, dots mapped
  const onBase = host === base || host.endsWith(`.${base}`);
  return onBase || u.origin === new URL(publicUrl).origin ? u.href : "/";
}
