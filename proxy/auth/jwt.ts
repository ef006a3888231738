/**
 * Bearer JWT verification against an issuer's JWKS. Crypto only, no HTTP glue: the proxy's
 * authenticate pass calls `verify(token)` and maps a failure to a 401.
 *
 * Order of checks, cheapest and most dangerous first: size → verified-token cache → compact
 * parse (base64url, header JSON, `alg` allow-list, `typ`, `crit`) → key by `kid` (refetching the
 * JWKS, rate-limited, for an unknown one) → signature (node-jose, restricted to that one
 * algorithm) → claims. A token is never logged nor echoed in a failure's `detail`.
 */
import { createHash } from "node:crypto";
import jose from "node-jose";
import type { JWK } from "node-jose";
import type { Claims } from "./identity.ts";

export type JwtAlgorithm = "RS256" | "ES256";

export interface JwtOptions {
  /** The exact `iss` required. */
  issuer: string;
  /** `aud` (a string or an array) must contain one of them. */
  audiences: readonly string[];
  jwksUri: string;
  /** Default both; anything else is refused before any crypto. */
  algorithms?: readonly JwtAlgorithm[];
  /** Default 30, applied to `exp` and `nbf` (and `iat` in the future). */
  clockSkewSeconds?: number;
  /** Default 8192; a longer token is refused unparsed. */
  maxTokenBytes?: number;
  /** Default 10 000: an unknown `kid` refetches the JWKS at most this often. */
  refetchMinIntervalMs?: number;
  /** Default 10 000 verified tokens, least recently used evicted, each kept only until its `exp`. */
  cacheSize?: number;
  /** Milliseconds since the epoch; for tests. */
  now?: () => number;
  /** Default: global fetch with a 5 s timeout, JSON, non-2xx = error. */
  fetchJson?: (url: string) => Promise<unknown>;
}

export type JwtFailure =
  | "malformed"
  | "too_large"
  | "alg_not_allowed"
  | "wrong_typ"
  | "unknown_kid"
  | "bad_signature"
  | "expired"
  | "not_yet_valid"
  | "issued_in_future"
  | "wrong_issuer"
  | "wrong_audience"
  | "missing_sub"
  | "jwks_unavailable";

export type VerifyResult =
  | { ok: true; claims: Claims; expiresAt: number /* ms */ }
  | { ok: false; reason: JwtFailure; detail: string };

type Failure = Extract<VerifyResult, { ok: false }>;

const SUPPORTED: readonly JwtAlgorithm[] = ["RS256", "ES256"];
const TYPS = new Set(["jwt", "at+jwt", "application/at+jwt"]);
const B64URL = /^[A-Za-z0-9_-]*$/;
const FETCH_TIMEOUT_MS = 5000;

/** A value from an unverified token, quoted and cut short for a failure's detail. */
const show = (v: unknown): string => {
  const s = JSON.stringify(v) ?? "undefined";
  return s.length > 64 ? `${s.slice(0, 60)}…` : s;
};
const fail = (reason: JwtFailure, detail: string): Failure => ({ ok: false, reason, detail });
const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);
const isNumber = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);

/** Strict base64url (no padding, no other characters) to bytes; undefined when it is not. */
function b64url(s: string): Buffer | undefined {
  if (!B64URL.test(s) || s.length % 4 === 1) return undefined;
  return Buffer.from(s, "base64url");
}

function json(s: string): unknown {
  const bytes = b64url(s);
  if (!bytes) return undefined;
  try {
    return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes)) as unknown;
  } catch {
    return undefined;
  }
}

/** A compact JWS, parsed but not verified. */
export interface ParsedToken {
  alg: JwtAlgorithm;
  kid?: string;
  payload: Record<string, unknown>;
}

/**
 * Parses a compact JWS and checks everything that needs no key: three base64url parts, a JSON
 * object header, `alg` in `allowed` (so `none` and HS256 — an HMAC keyed with our public key —
 * never reach crypto), `typ`, no `crit` (we understand no extension), a JSON object payload.
 */
export function parseCompact(token: string, allowed: readonly JwtAlgorithm[]): ParsedToken | Failure {
  const parts = token.split(".");
  if (parts.length !== 3) return fail("malformed", `${parts.length} dot-separated parts, not 3`);
  const [h, p, s] = parts as [string, string, string];
  if (!b64url(s)) return fail("malformed", "signature is not base64url");
  const header = json(h);
  if (!isObject(header)) return fail("malformed", "header is not a base64url JSON object");
  const alg = header.alg;
  if (typeof alg !== "string" || !(allowed as readonly string[]).includes(alg)) {
    return fail("alg_not_allowed", `alg ${show(alg)} is not one of ${allowed.join(", ")}`);
  }
  const typ = header.typ;
  if (typ !== undefined && (typeof typ !== "string" || !TYPS.has(typ.toLowerCase()))) {
    return fail("wrong_typ", `typ ${show(typ)} is not JWT or at+jwt`);
  }
  if ("crit" in header) return fail("malformed", "crit header: no critical extension is supported");
  const kid = header.kid;
  if (kid !== undefined && typeof kid !== "string") return fail("malformed", "kid is not a string");
  const payload = json(p);
  if (!isObject(payload)) return fail("malformed", "payload is not a base64url JSON object");
  return { alg: alg as JwtAlgorithm, ...(kid !== undefined ? { kid } : {}), payload };
}

export interface ClaimRules {
  issuer: string;
  audiences: readonly string[];
  clockSkewSeconds: number;
}

/** Checks the claims of a token whose signature holds. Returns its expiry in ms, or why not. */
export function checkClaims(c: Record<string, unknown>, r: ClaimRules, nowMs: number): number | Failure {
  const { exp, nbf, iat, iss, aud, sub } = c;
  if (exp === undefined) return fail("malformed", "exp claim is missing");
  if (!isNumber(exp)) return fail("malformed", "exp claim is not a number");
  if (nbf !== undefined && !isNumber(nbf)) return fail("malformed", "nbf claim is not a number");
  if (iat !== undefined && !isNumber(iat)) return fail("malformed", "iat claim is not a number");
  if (iss !== r.issuer) return fail("wrong_issuer", `iss ${show(iss)} is not ${r.issuer}`);
  const auds = typeof aud === "string" ? [aud] : Array.isArray(aud) ? aud : [];
  if (!auds.some((a) => typeof a === "string" && r.audiences.includes(a))) {
    return fail("wrong_audience", `aud ${show(aud)} holds none of ${r.audiences.join(", ")}`);
  }
  const now = nowMs / 1000;
  const skew = r.clockSkewSeconds;
  if (now >= exp + skew) return fail("expired", `exp ${exp} is ${Math.round(now - exp)} s in the past`);
  if (nbf !== undefined && now < nbf - skew) {
    return fail("not_yet_valid", `nbf ${nbf} is ${Math.round(nbf - now)} s in the future`);
  }
  if (iat !== undefined && iat > now + skew) {
    return fail("issued_in_future", `iat ${iat} is ${Math.round(iat - now)} s in the future`);
  }
  if (typeof sub !== "string" || sub === "") return fail("missing_sub", "sub is not a non-empty string");
  return exp * 1000;
}

/** The RFC 7517 members of a public signing key we import; private members never are. */
const PUBLIC_MEMBERS: Record<string, readonly string[]> = { RSA: ["n", "e"], EC: ["crv", "x", "y"] };

/** The signing algorithm a JWK can serve: RSA → RS256, EC P-256 → ES256, else none. */
function algFor(k: Record<string, unknown>): JwtAlgorithm | undefined {
  if (k.use !== undefined && k.use !== "sig") return undefined;
  if (k.key_ops !== undefined && !(Array.isArray(k.key_ops) && k.key_ops.includes("verify")))
    return undefined;
  const alg = k.kty === "RSA" ? "RS256" : k.kty === "EC" && k.crv === "P-256" ? "ES256" : undefined;
  if (k.alg !== undefined && k.alg !== alg) return undefined; // the key is pinned to another alg
  return alg;
}

interface Key {
  kid?: string;
  kty: string;
  alg: JwtAlgorithm;
  key: JWK.Key;
}

/** Imports the usable signing keys of a JWKS document into a node-jose keystore. */
async function importJwks(doc: unknown): Promise<Key[]> {
  if (!isObject(doc) || !Array.isArray(doc.keys)) throw new Error("JWKS is not an object with a keys array");
  const store = jose.JWK.createKeyStore();
  const keys: Key[] = [];
  for (const k of doc.keys as unknown[]) {
    if (!isObject(k)) continue;
    const alg = algFor(k);
    if (!alg) continue;
    const pub: Record<string, unknown> = { kty: k.kty, use: "sig", alg };
    for (const m of PUBLIC_MEMBERS[k.kty as string] ?? []) pub[m] = k[m];
    if (typeof k.kid === "string") pub.kid = k.kid;
    try {
      keys.push({
        ...(typeof k.kid === "string" ? { kid: k.kid } : {}),
        kty: k.kty as string,
        alg,
        key: await store.add(pub),
      });
    } catch {
      // One broken key must not take the others down with it.
    }
  }
  if (keys.length === 0) throw new Error("JWKS holds no usable RS256/ES256 signing key");
  return keys;
}

async function defaultFetchJson(url: string): Promise<unknown> {
  const res = await fetch(url, {
    headers: { accept: "application/json" },
    signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
  });
  if (!res.ok) {
    await res.body?.cancel();
    throw new Error(`HTTP ${res.status}`);
  }
  return (await res.json()) as unknown;
}

/** Validates options once and fills in defaults; throws with what to set. */
function settle(o: JwtOptions): Readonly<Required<JwtOptions>> {
  const need = (ok: boolean, what: string) => {
    if (!ok) throw new Error(`JwtVerifier: ${what}`);
  };
  need(typeof o.issuer === "string" && o.issuer !== "", "set issuer (the exact iss of accepted tokens)");
  need(Array.isArray(o.audiences) && o.audiences.length > 0, "set audiences (at least one accepted aud)");
  need(/^https?:\/\//.test(o.jwksUri ?? ""), "set jwksUri to the issuer's http(s) JWKS URL");
  const algorithms = o.algorithms ?? SUPPORTED;
  need(
    algorithms.length > 0 && algorithms.every((a) => SUPPORTED.includes(a)),
    `algorithms must be a non-empty subset of ${SUPPORTED.join(", ")}`,
  );
  const r = {
    issuer: o.issuer,
    audiences: [...o.audiences],
    jwksUri: o.jwksUri,
    algorithms: [...algorithms],
    clockSkewSeconds: o.clockSkewSeconds ?? 30,
    maxTokenBytes: o.maxTokenBytes ?? 8192,
    refetchMinIntervalMs: o.refetchMinIntervalMs ?? 10_000,
    cacheSize: o.cacheSize ?? 10_000,
    now: o.now ?? (() => Date.now()),
    fetchJson: o.fetchJson ?? defaultFetchJson,
  };
  for (const n of ["clockSkewSeconds", "maxTokenBytes", "refetchMinIntervalMs", "cacheSize"] as const) {
    need(Number.isFinite(r[n]) && r[n] >= 0, `${n} must be a number >= 0`);
  }
  return Object.freeze(r);
}

type Refresh = { ok: true } | { ok: false; error: string };

export class JwtVerifier {
  readonly #o: Readonly<Required<JwtOptions>>;
  /** Keys from the last good JWKS; undefined until one was fetched. */
  #keys: Key[] | undefined;
  #lastFetchAt = -Infinity;
  #lastError = "";
  #inflight: Promise<Refresh> | undefined;
  /**
   * Verified tokens (by SHA-256 digest: 10,000 of them stay a few MB, whatever their size) → claims;
   * insertion order = least recently used first.
   */
  readonly #cache = new Map<string, { claims: Claims; expiresAt: number }>();
  readonly #stats = { jwksFetches: 0, cacheHits: 0, verifications: 0 };

  constructor(o: JwtOptions) {
    this.#o = settle(o);
  }

  /** Fetches the JWKS now (otherwise the first `verify` does); rejects if it cannot. */
  async start(): Promise<void> {
    const r = await this.#refresh();
    if (!r.ok) throw new Error(`JWKS ${this.#o.jwksUri}: ${r.error}`);
  }

  /** Counters for tests and metrics: JWKS fetches, cache hits, crypto verifications. */
  stats(): { jwksFetches: number; cacheHits: number; verifications: number } {
    return { ...this.#stats };
  }

  async verify(token: string): Promise<VerifyResult> {
    const o = this.#o;
    if (typeof token !== "string") return fail("malformed", "token is not a string");
    if (token.length > o.maxTokenBytes || Buffer.byteLength(token) > o.maxTokenBytes) {
      return fail("too_large", `token is over ${o.maxTokenBytes} bytes`);
    }
    const digest = createHash("sha256").update(token).digest("base64url");
    const hit = this.#cached(digest);
    if (hit) return hit;

    const parsed = parseCompact(token, o.algorithms);
    if ("ok" in parsed) return parsed;
    const found = await this.#keyFor(parsed);
    if ("ok" in found) return found;

    let verified = false;
    for (const k of found) {
      this.#stats.verifications++;
      try {
        // The key is passed, not the keystore: embedded `jwk`/`x5c`/`jku` headers are never used.
        await jose.JWS.createVerify(k.key, { algorithms: [parsed.alg] }).verify(token);
        verified = true;
        break;
      } catch {
        // Try the next key with the same kid, if the JWKS has several.
      }
    }
    if (!verified) {
      return fail(
        "bad_signature",
        `signature does not verify with ${parsed.alg} key ${describe(parsed.kid)}`,
      );
    }

    const expiresAt = checkClaims(parsed.payload, o, o.now());
    if (typeof expiresAt !== "number") return expiresAt;
    // Frozen: callers share the object with the cache and must not be able to alter it there.
    const claims = deepFreeze(parsed.payload) as Claims;
    this.#remember(digest, claims, expiresAt);
    return { ok: true, claims, expiresAt };
  }

  /** A token verified before and not expired since: no crypto. Expired, it is dropped and refused. */
  #cached(digest: string): VerifyResult | undefined {
    const e = this.#cache.get(digest);
    if (!e) return undefined;
    this.#cache.delete(digest);
    const late = this.#o.now() - e.expiresAt;
    if (late >= this.#o.clockSkewSeconds * 1000) {
      return fail("expired", `exp ${e.expiresAt / 1000} is ${Math.round(late / 1000)} s in the past`);
    }
    this.#cache.set(digest, e);
    this.#stats.cacheHits++;
    return { ok: true, claims: e.claims, expiresAt: e.expiresAt };
  }

  #remember(digest: string, claims: Claims, expiresAt: number): void {
    if (this.#o.cacheSize === 0) return;
    this.#cache.set(digest, { claims, expiresAt });
    for (const k of this.#cache.keys()) {
      if (this.#cache.size <= this.#o.cacheSize) break;
      this.#cache.delete(k);
    }
  }

  /** The keys to try for a token, fetching the JWKS first if none is known or the kid is new. */
  async #keyFor(t: ParsedToken): Promise<Key[] | Failure> {
    if (!this.#keys) {
      const r = await this.#refreshLimited();
      if (r === "limited") {
        return fail("jwks_unavailable", `no JWKS yet; last fetch failed: ${this.#lastError}`);
      }
      if (!r.ok) return fail("jwks_unavailable", `no JWKS yet: ${r.error}`);
    }
    let found = pick(this.#keys ?? [], t);
    if (found !== "unknown") return found;
    const r = await this.#refreshLimited();
    if (r === "limited") {
      return fail("unknown_kid", `no ${t.alg} key ${describe(t.kid)} in the JWKS (refetched recently)`);
    }
    if (!r.ok)
      return fail(
        "jwks_unavailable",
        `${describe(t.kid)} is not in the JWKS and refetching failed: ${r.error}`,
      );
    found = pick(this.#keys ?? [], t);
    return found !== "unknown"
      ? found
      : fail("unknown_kid", `no ${t.alg} key ${describe(t.kid)} in the JWKS`);
  }

  /** A fetch, unless one started less than `refetchMinIntervalMs` ago; joins one in flight. */
  #refreshLimited(): Promise<Refresh> | "limited" {
    if (this.#inflight) return this.#inflight;
    if (this.#o.now() - this.#lastFetchAt < this.#o.refetchMinIntervalMs) return "limited";
    return this.#refresh();
  }

  #refresh(): Promise<Refresh> {
    if (this.#inflight) return this.#inflight;
    this.#lastFetchAt = this.#o.now();
    this.#stats.jwksFetches++;
    const run = async (): Promise<Refresh> => {
      try {
        this.#keys = await importJwks(await this.#o.fetchJson(this.#o.jwksUri));
        this.#lastError = "";
        return { ok: true };
      } catch (e) {
        this.#lastError = e instanceof Error ? e.message : String(e);
        return { ok: false, error: this.#lastError }; // the last good keys stay in use
      } finally {
        this.#inflight = undefined;
      }
    };
    this.#inflight = run();
    return this.#inflight;
  }
}

function deepFreeze<T>(v: T): T {
  if (typeof v === "object" && v !== null) {
    for (const x of Object.values(v)) deepFreeze(x);
    Object.freeze(v);
  }
  return v;
}

const describe = (kid: string | undefined) => (kid === undefined ? "(no kid)" : `kid ${show(kid)}`);

/**
 * The keys a token may be verified with: those fitting its alg with its kid; without a kid, the one
 * key fitting its alg. "unknown" when a refetch might help. A kid that names only keys of another
 * type, or a kid-less token with several candidates, is an error at once.
 */
function pick(keys: readonly Key[], t: ParsedToken): Key[] | "unknown" | Failure {
  const fitting = keys.filter((k) => k.alg === t.alg);
  if (t.kid === undefined) {
    if (fitting.length > 1)
      return fail("unknown_kid", `no kid and ${fitting.length} ${t.alg} keys in the JWKS`);
    return fitting.length === 1 ? fitting : "unknown";
  }
  const named = fitting.filter((k) => k.kid === t.kid);
  if (named.length > 0) return named;
  const other = keys.find((k) => k.kid === t.kid);
  if (other) return fail("unknown_kid", `kid ${show(t.kid)} is a ${other.kty} key, not usable for ${t.alg}`);
  return "unknown";
}
