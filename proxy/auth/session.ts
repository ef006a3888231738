/**
 * The browser session: who logged in, until when, and the refresh token, sealed into a cookie with
 * node-jose (compact JWE, `dir` + A256GCM: encrypted and authenticated, so a client can neither read
 * nor forge it). The proxy keeps no session state: any replica opens any session.
 *
 * Keys are a JWKS of `oct` keys (256-bit) shared by every replica (a mounted Secret): the first one
 * seals, every one opens, so a key rotates by putting a new key first and dropping the old one
 * after the session lifetime. Without a keys file a key is generated at start: sessions then end
 * with the process and are not shared between replicas (the proxy says so in its log).
 */
import { createHash } from "node:crypto";
import jose from "node-jose";

export interface Session {
  /** The subject at the provider. */
  sub: string;
  user: string;
  email?: string;
  groups: string[];
  roles: string[];
  /** When the session ends whatever happens (ms since the epoch). */
  exp: number;
  /** When the provider's tokens expire (ms): after it, the refresh token is used, or the session ends. */
  tokenExp: number;
  refreshToken?: string;
  /** The provider's access token, for classes that forward it to their IDE (`forwardToken`). */
  accessToken?: string;
}

/** A short-lived sealed value for the login round trip (state, nonce, PKCE verifier, where to go). */
export interface LoginState {
  state: string;
  nonce: string;
  verifier: string;
  returnTo: string;
  exp: number;
}

/**
 * The ID token of a login, kept for RP-initiated logout (`id_token_hint`). Sealed into a cookie of
 * its own: host-only on the public host and `Path=/__portico/auth/`, so it never travels with
 * workspace requests (nor reaches an IDE), and the session cookie, which every request carries,
 * stays small enough for providers with large tokens (a cookie holds at most about 4 KB).
 */
export interface LogoutHint {
  /** The session's subject: the hint is used only with a session of the same `sub`. */
  sub: string;
  idToken: string;
  exp: number;
}

export class SessionCodec {
  readonly #store: jose.JWK.KeyStore;
  readonly #sealKey: jose.JWK.Key;
  /**
   * Opened cookies by SHA-256 digest, so the hot path does not decrypt on every request; bounded,
   * oldest out first (10,000 entries stay a few MB whatever the cookies' size).
   */
  readonly #opened = new Map<string, unknown>();
  readonly #cacheSize: number;
  /** True when the key was generated here (sessions die with the process). */
  readonly ephemeral: boolean;

  private constructor(
    store: jose.JWK.KeyStore,
    sealKey: jose.JWK.Key,
    ephemeral: boolean,
    cacheSize: number,
  ) {
    this.#store = store;
    this.#sealKey = sealKey;
    this.ephemeral = ephemeral;
    this.#cacheSize = cacheSize;
  }

  /**
   * From a JWKS of `oct` keys (the first seals), or a fresh random key when `jwks` is undefined.
   * Throws on a JWKS without a usable 256-bit `oct` key.
   */
  static async create(jwks?: unknown, cacheSize = 10_000): Promise<SessionCodec> {
    if (jwks === undefined) {
      const store = jose.JWK.createKeyStore();
      const key = await store.generate("oct", 256, { alg: "A256GCM", use: "enc" });
      return new SessionCodec(store, key, true, cacheSize);
    }
    const keys = (jwks as { keys?: unknown }).keys;
    if (!Array.isArray(keys) || keys.length === 0)
      throw new Error("session keys: a JWKS with a `keys` list is needed");
    const oct = keys.filter((k) => (k as { kty?: unknown }).kty === "oct") as { kid?: unknown }[];
    // node-jose would invent a kid; a rotation needs the operator's own, stable ones.
    if (oct.some((k) => typeof k.kid !== "string" || !k.kid))
      throw new Error("session keys: every key needs a kid");
    const store = await jose.JWK.asKeyStore({ keys: oct });
    const usable = store.all({ kty: "oct" }).filter((k) => keyBits(k) === 256);
    if (usable.length === 0)
      throw new Error("session keys: no 256-bit oct key (generate one with 32 random bytes)");
    return new SessionCodec(store, usable[0]!, false, cacheSize);
  }

  seal(value: Session | LoginState | LogoutHint): Promise<string> {
    return jose.JWE.createEncrypt(
      { format: "compact", contentAlg: "A256GCM", fields: { alg: "dir", kid: this.#sealKey.kid } },
      this.#sealKey,
    )
      .update(Buffer.from(JSON.stringify(value)))
      .final() as unknown as Promise<string>;
  }

  /** The session in a cookie value, or undefined when it is not ours, was tampered with, or expired. */
  async openSession(sealed: string, now: number): Promise<Session | undefined> {
    const v = await this.#open(sealed);
    return isSession(v) && v.exp > now ? v : undefined;
  }

  async openLogin(sealed: string, now: number): Promise<LoginState | undefined> {
    const v = await this.#open(sealed);
    return isLogin(v) && v.exp > now ? v : undefined;
  }

  async openHint(sealed: string, now: number): Promise<LogoutHint | undefined> {
    const v = await this.#open(sealed);
    return isHint(v) && v.exp > now ? v : undefined;
  }

  async #open(sealed: string): Promise<unknown> {
    if (sealed.length > 8192 || sealed.split(".").length !== 5) return undefined;
    const digest = createHash("sha256").update(sealed).digest("base64url");
    if (this.#opened.has(digest)) return this.#opened.get(digest);
    let value: unknown;
    try {
      const out = await jose.JWE.createDecrypt(this.#store, { algorithms: ["dir", "A256GCM"] }).decrypt(
        sealed,
      );
      value = JSON.parse(out.payload.toString("utf8"));
    } catch {
      value = undefined; // not sealed by any of our keys, or altered
    }
    this.#opened.set(digest, value);
    if (this.#opened.size > this.#cacheSize) this.#opened.delete(this.#opened.keys().next().value!);
    return value;
  }
}

function keyBits(k: jose.JWK.Key): number {
  const raw = (k.toJSON(true) as { k?: string }).k ?? "";
  return Buffer.from(raw, "base64url").length * 8;
}

const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === "string");

function isSession(v: unknown): v is Session {
  const s = v as Session;
  return (
    !!s &&
    typeof s.sub === "string" &&
    typeof s.user === "string" &&
    typeof s.exp === "number" &&
    typeof s.tokenExp === "number" &&
    isStrings(s.groups) &&
    isStrings(s.roles)
  );
}

function isLogin(v: unknown): v is LoginState {
  const s = v as LoginState;
  return (
    !!s &&
    typeof s.state === "string" &&
    typeof s.nonce === "string" &&
    typeof s.verifier === "string" &&
    typeof s.returnTo === "string" &&
    typeof s.exp === "number"
  );
}

function isHint(v: unknown): v is LogoutHint {
  const s = v as LogoutHint;
  return (
    !!s &&
    typeof s.sub === "string" &&
    typeof s.idToken === "string" &&
    typeof s.exp === "number" &&
    (s as unknown as Session).tokenExp === undefined
  );
}
