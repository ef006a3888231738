/**
 * The OpenID Connect relying party: the provider's discovery document, the authorization-code flow
 * with PKCE (S256), state and nonce, and the token endpoint (code exchange, refresh). No HTTP
 * serving here (proxy/auth/gate.ts does that) and no token verification (proxy/auth/jwt.ts).
 */
import { createHash, randomBytes } from "node:crypto";

export interface ProviderMetadata {
  issuer: string;
  authorization_endpoint: string;
  token_endpoint: string;
  jwks_uri: string;
  end_session_endpoint?: string;
}

export interface ClientSettings {
  clientId: string;
  clientSecret: string;
  /** Where the provider sends the browser back: `{public URL}/__portico/auth/callback`. */
  redirectUri: string;
  scopes: readonly string[];
}

export interface TokenSet {
  idToken: string;
  accessToken?: string;
  refreshToken?: string;
  /** Seconds. */
  expiresIn?: number;
}

type Fetch = typeof fetch;

/** Fetches and checks the discovery document: the issuer in it must be the one configured. */
export async function discover(issuer: string, fetchFn: Fetch = fetch): Promise<ProviderMetadata> {
  const url = `${issuer.replace(/\/$/, "")}/.well-known/openid-configuration`;
  const res = await fetchFn(url, { signal: AbortSignal.timeout(10_000) });
  if (!res.ok) throw new Error(`OIDC discovery: ${url} answered ${res.status}`);
  const meta = (await res.json()) as Partial<ProviderMetadata>;
  if (meta.issuer !== issuer)
    throw new Error(
      `OIDC discovery: the document names issuer ${JSON.stringify(meta.issuer)}, not ${issuer}`,
    );
  for (const k of ["authorization_endpoint", "token_endpoint", "jwks_uri"] as const)
    if (typeof meta[k] !== "string") throw new Error(`OIDC discovery: ${k} is missing`);
  return meta as ProviderMetadata;
}

/** 32 random bytes, base64url: for state, nonce and the PKCE verifier. */
export const randomToken = (): string => randomBytes(32).toString("base64url");

/** The S256 PKCE challenge of a verifier (RFC 7636). */
export const pkceChallenge = (verifier: string): string =>
  createHash("sha256").update(verifier).digest("base64url");

/** Where the browser is sent to log in. */
export function authorizationUrl(
  meta: ProviderMetadata,
  c: ClientSettings,
  o: { state: string; nonce: string; verifier: string },
): string {
  const u = new URL(meta.authorization_endpoint);
  u.searchParams.set("response_type", "code");
  u.searchParams.set("client_id", c.clientId);
  u.searchParams.set("redirect_uri", c.redirectUri);
  u.searchParams.set("scope", c.scopes.join(" "));
  u.searchParams.set("state", o.state);
  u.searchParams.set("nonce", o.nonce);
  u.searchParams.set("code_challenge", pkceChallenge(o.verifier));
  u.searchParams.set("code_challenge_method", "S256");
  return u.toString();
}

/** Exchanges the authorization code (with the PKCE verifier) at the token endpoint. */
export function exchangeCode(
  meta: ProviderMetadata,
  c: ClientSettings,
  code: string,
  verifier: string,
  fetchFn: Fetch = fetch,
): Promise<TokenSet> {
  return tokenRequest(
    meta,
    c,
    { grant_type: "authorization_code", code, redirect_uri: c.redirectUri, code_verifier: verifier },
    fetchFn,
  );
}

/** A new token set from a refresh token. */
export function refreshTokens(
  meta: ProviderMetadata,
  c: ClientSettings,
  refreshToken: string,
  fetchFn: Fetch = fetch,
): Promise<TokenSet> {
  return tokenRequest(meta, c, { grant_type: "refresh_token", refresh_token: refreshToken }, fetchFn);
}

async function tokenRequest(
  meta: ProviderMetadata,
  c: ClientSettings,
  params: Record<string, string>,
  fetchFn: Fetch,
): Promise<TokenSet> {
  const res = await fetchFn(meta.token_endpoint, {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      // client_secret_basic (RFC 6749 §2.3.1): form-encoded id and secret, then base64.
      authorization: `Basic ${Buffer.from(`${encodeURIComponent(c.clientId)}:${encodeURIComponent(c.clientSecret)}`).toString("base64")}`,
    },
    body: new URLSearchParams(params).toString(),
    signal: AbortSignal.timeout(10_000),
  });
  const body = (await res.json().catch(() => ({}))) as Record<string, unknown>;
  if (!res.ok)
    // The provider's error code only: its description may echo what was sent.
    throw new Error(
      `token endpoint answered ${res.status} ${typeof body.error === "string" ? body.error : ""}`,
    );
  if (typeof body.id_token !== "string") throw new Error("token endpoint answered without an id_token");
  return {
    idToken: body.id_token,
    ...(typeof body.access_token === "string" ? { accessToken: body.access_token } : {}),
    ...(typeof body.refresh_token === "string" ? { refreshToken: body.refresh_token } : {}),
    ...(typeof body.expires_in === "number" ? { expiresIn: body.expires_in } : {}),
  };
}

/**
 * Where to go after login: only an http(s) URL on the base domain or one of its subdomains (a
 * workspace), or a path; anything else — another site, `//evil`, `javascript:` — goes to `/`.
 */
export function safeReturnTo(target: string | null | undefined, baseDomain: string): string {
  if (!target) return "/";
  if (target.startsWith("/") && !target.startsWith("//") && !target.startsWith("/\\")) return target;
  try {
    const u = new URL(target);
    if (u.protocol !== "http:" && u.protocol !== "https:") return "/";
    if (u.username || u.password) return "/";
    const host = u.hostname.toLowerCase();
    return host === baseDomain || host.endsWith(`.${baseDomain}`) ? u.toString() : "/";
  } catch {
    return "/";
  }
}
