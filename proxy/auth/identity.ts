/**
 * Who is asking, and whether they may open a workspace. Pure: no I/O, no configuration reads.
 */

/** An authenticated caller, whatever proved it (session cookie, bearer token, trusted headers). */
export interface Identity {
  /** The user name workspaces are owned and shared by (`preferred_username`, else `sub`). */
  user: string;
  email?: string;
  groups: readonly string[];
  roles: readonly string[];
  /** How the identity was established. */
  via: "none" | "session" | "bearer" | "headers";
  /**
   * The user's access token, when the request or the session carries one: forwarded only to IDEs
   * whose class sets `forwardToken`, never logged.
   */
  token?: string;
}

/** Who a workspace admits: its owner and whom it is shared with. */
export interface Access {
  owner: string;
  sharedWith?: { users?: readonly string[]; groups?: readonly string[] };
}

/** Claims as an OpenID provider (Keycloak among them) puts them in ID and access tokens. */
export interface Claims {
  sub?: unknown;
  preferred_username?: unknown;
  email?: unknown;
  groups?: unknown;
  roles?: unknown;
  realm_access?: { roles?: unknown };
  resource_access?: Record<string, { roles?: unknown } | undefined>;
  [k: string]: unknown;
}

const strings = (v: unknown): string[] =>
  Array.isArray(v) ? v.filter((x): x is string => typeof x === "string" && x.length > 0) : [];

/**
 * The identity in a verified token's claims. Keycloak: `preferred_username`, `email`,
 * `realm_access.roles` and `resource_access.{clientId}.roles`, `groups` (its group mapper writes
 * paths like `/team-a`: both the path and its last segment count). Undefined without a subject.
 */
export function identityFromClaims(c: Claims, via: Identity["via"], clientId?: string): Identity | undefined {
  const sub = typeof c.sub === "string" && c.sub ? c.sub : undefined;
  const name = typeof c.preferred_username === "string" && c.preferred_username ? c.preferred_username : sub;
  if (!sub || !name) return undefined;
  const groups = new Set<string>();
  for (const g of strings(c.groups)) {
    groups.add(g);
    const last = g.split("/").filter(Boolean).at(-1);
    if (last) groups.add(last);
  }
  const roles = new Set([
    ...strings(c.roles),
    ...strings(c.realm_access?.roles),
    ...(clientId ? strings(c.resource_access?.[clientId]?.roles) : []),
  ]);
  return {
    user: name,
    ...(typeof c.email === "string" && c.email ? { email: c.email } : {}),
    groups: [...groups],
    roles: [...roles],
    via,
  };
}

/** The owner, a user or group it is shared with, or anyone holding one of `adminRoles`. */
export function mayOpen(who: Identity, ws: Access, adminRoles: readonly string[]): boolean {
  if (who.via === "none") return true; // --auth=none: the operator of the proxy chose an open door
  if (who.user === ws.owner) return true;
  if (ws.sharedWith?.users?.includes(who.user)) return true;
  if (ws.sharedWith?.groups?.some((g) => who.groups.includes(g))) return true;
  return who.roles.some((r) => adminRoles.includes(r));
}

/**
 * The access token to forward to a workspace whose class sets `forwardToken`: the visitor's own, and
 * only when the visitor is the workspace's owner. The IDE runs code its owner controls; a sharee's or
 * an admin's token there would let the owner act as them (the proxy itself accepts it as a bearer
 * credential). Undefined for everyone else, and when there is no token.
 */
export function forwardedToken(who: Identity, owner: string): string | undefined {
  return who.via !== "none" && who.user === owner ? who.token : undefined;
}
