/**
 * Session refresh, the parts that need no provider: how a refresh answer changes a session (pure),
 * and one refresh in flight per session.
 *
 * Why single-flight: a page opens many requests at once; when the session's tokens have run out,
 * each would refresh on its own, and a provider that rotates refresh tokens (Keycloak "Revoke
 * Refresh Token", oidc-provider, Auth0, Okta) takes the second use of a rotated token as theft and
 * ends the whole grant. So the first request refreshes; every request carrying the same session
 * (keyed by a digest of its refresh token) waits for that one answer, and requests that still carry
 * the old cookie after it (sent before the browser stored the new one) get the same answer while it
 * is fresh. Per process: replicas behind a load balancer without session affinity can still refresh
 * the same session twice (docs/security.md says what to do).
 */
import { createHash } from "node:crypto";
import type { Claims } from "./identity.ts";
import type { TokenAnswer } from "./oidc.ts";
import type { Session } from "./session.ts";

/** Without an expiry from the provider, tokens are taken as good for this long. */
export const DEFAULT_TOKEN_TTL_MS = 5 * 60_000;

export type RefreshOutcome = { session: Session } | { reason: string };

/** The identity fields of a session, as identityFromClaims gives them. */
export interface SessionIdentity {
  user: string;
  email?: string;
  groups: readonly string[];
  roles: readonly string[];
}

/**
 * The session after a refresh answer. No new ID token: identity (sub, user, groups, roles) stays
 * as it was. A new ID token: it must name the same `sub`, or the refresh is refused (a provider must
 * never switch users under a session: OIDC Core 12.2); its claims then update the identity.
 * `identify` turns validated claims into the session's identity fields.
 */
export function applyRefresh(
  s: Session,
  t: TokenAnswer,
  now: number,
  identify: (claims: Claims) => SessionIdentity | undefined,
): RefreshOutcome {
  let who: SessionIdentity = s;
  if (t.claims) {
    if (String(t.claims.sub) !== s.sub)
      return { reason: "the refreshed ID token names another subject than the session" };
    const fresh = identify(t.claims as Claims);
    if (!fresh) return { reason: "the refreshed ID token has no usable identity" };
    who = fresh;
  }
  const { email: _drop, ...rest } = s;
  return {
    session: {
      ...rest,
      user: who.user,
      ...(who.email ? { email: who.email } : {}),
      groups: [...who.groups],
      roles: [...who.roles],
      tokenExp: tokenExpiry(t, now, s.exp),
      ...(t.refreshToken ? { refreshToken: t.refreshToken } : {}),
      ...(t.accessToken ? { accessToken: t.accessToken } : {}),
    },
  };
}

/**
 * When the provider's tokens run out (ms): the earlier of the ID token's `exp` and the access
 * token's `expires_in`, never after the session's end; a default when the provider said neither.
 */
export function tokenExpiry(t: TokenAnswer, now: number, sessionExp: number): number {
  const ends: number[] = [];
  if (typeof t.claims?.exp === "number") ends.push(t.claims.exp * 1000);
  if (typeof t.expiresIn === "number") ends.push(now + t.expiresIn * 1000);
  return Math.min(ends.length ? Math.min(...ends) : now + DEFAULT_TOKEN_TTL_MS, sessionExp);
}

/** The single-flight key of a session: a digest of its refresh token (never the token itself). */
export const flightKey = (refreshToken: string): string =>
  createHash("sha256").update(refreshToken).digest("base64url");

interface Flight<T> {
  result: Promise<T>;
  /** Until when a settled result is handed to callers with the same key (ms). */
  until: number;
}

/**
 * At most one `run` in flight per key; its result is shared with every caller of the same key
 * until `reuseMs(result)` after it settled. Bounded: beyond `maxKeys` the oldest entries go (a forgotten
 * key only means one more refresh). Failures are shared too, so a refused refresh token is not
 * sent to the provider again by each waiting request.
 */
export class SingleFlight<T> {
  readonly #flights = new Map<string, Flight<T>>();
  readonly #reuseMs: (result: T) => number;
  readonly #maxKeys: number;
  readonly #now: () => number;

  /** `reuseMs`: how long a result is handed on after it settled; a rejection is not kept. */
  constructor(o: { reuseMs: (result: T) => number; maxKeys: number; now?: () => number }) {
    this.#reuseMs = o.reuseMs;
    this.#maxKeys = o.maxKeys;
    this.#now = o.now ?? Date.now;
  }

  run(key: string, work: () => Promise<T>): Promise<T> {
    const now = this.#now();
    const known = this.#flights.get(key);
    if (known && known.until > now) return known.result;
    if (known) this.#flights.delete(key);
    const f: Flight<T> = { result: work(), until: Infinity }; // in flight: shared however long it takes
    f.result.then(
      (r) => void (f.until = this.#now() + Math.max(0, this.#reuseMs(r))),
      () => void (f.until = 0),
    );
    this.#flights.set(key, f);
    if (this.#flights.size > this.#maxKeys) this.#evict();
    return f.result;
  }

  get size(): number {
    return this.#flights.size;
  }

  #evict(): void {
    for (const [k, f] of this.#flights) {
      if (this.#flights.size <= this.#maxKeys) return;
      if (f.until !== Infinity) this.#flights.delete(k); // settled ones only: in flight are waited on
    }
  }
}
