/**
 * SubjectAccessReviews as the caller: the request body (pure), who the cluster's RBAC sees (pure), and a
 * short-lived cache of the answers.
 *
 * The proxy reads with its own ServiceAccount, so every read is first asked of the cluster as the user:
 * their name and groups from the verified identity, so their own Roles and RoleBindings decide, never
 * the proxy's. Kubernetes reserves the `system:` prefix for its own identities (nodes, controllers,
 * `system:masters`): a user or group from the identity provider with that prefix is never passed on,
 * so an identity provider cannot name a user into the cluster's own rights.
 */
import type { Identity } from "../auth/identity.ts";
import type { KindInfo } from "./kinds.ts";

/** The group the API server gives every authenticated request; RBAC bindings to it apply to all users. */
export const AUTHENTICATED = "system:authenticated";

/** Who RBAC sees: the user and groups the SubjectAccessReviews name. */
export interface Subject {
  user: string;
  groups: readonly string[];
}

/** What the API server puts before OIDC user and group names (its `--oidc-*-prefix` flags). */
export interface RbacPrefixes {
  user: string;
  group: string;
}

/**
 * The caller as the cluster's RBAC sees them: each name with its prefix (as the API server's OIDC
 * authenticator would name them, so the same RoleBindings serve kubectl and the console). Undefined
 * when the user's name is one Kubernetes reserves.
 */
export function subjectOf(
  who: Pick<Identity, "user" | "groups">,
  prefixes: RbacPrefixes = { user: "", group: "" },
): Subject | undefined {
  if (!who.user || who.user.startsWith("system:")) return undefined;
  const groups = [...new Set(who.groups.filter((g) => g && !g.startsWith("system:")))]
    .map((g) => prefixes.group + g)
    .sort();
  return { user: prefixes.user + who.user, groups: [...groups, AUTHENTICATED] };
}

/** One question: may the subject `verb` the kind (in `namespace`, or cluster-wide; the object `name`). */
export interface Access {
  verb: "get" | "list";
  kind: KindInfo;
  namespace?: string;
  name?: string;
}

/** The SubjectAccessReview body for `access` as `subject`. */
export function sarBody(subject: Subject, access: Access): Record<string, unknown> {
  return {
    apiVersion: "authorization.k8s.io/v1",
    kind: "SubjectAccessReview",
    spec: {
      user: subject.user,
      groups: [...subject.groups],
      resourceAttributes: {
        verb: access.verb,
        group: access.kind.group,
        version: access.kind.version,
        resource: access.kind.resource,
        ...(access.kind.namespaced && access.namespace ? { namespace: access.namespace } : {}),
        ...(access.name ? { name: access.name } : {}),
      },
    },
  };
}

/** Whether a SubjectAccessReview's answer allows. Anything but `status.allowed: true` does not. */
export function allowedIn(answer: unknown): boolean {
  const status = (answer as { status?: { allowed?: unknown; denied?: unknown } } | null)?.status;
  return status?.allowed === true && status.denied !== true;
}

/** The cache key of one question: every field that can change the answer. */
export function sarKey(subject: Subject, access: Access): string {
  return JSON.stringify([
    subject.user,
    subject.groups,
    access.verb,
    access.kind.group,
    access.kind.resource,
    access.namespace ?? "",
    access.name ?? "",
  ]);
}

/**
 * Answers kept for `ttlMs`, at most `max` of them (the oldest go first). Only answers are kept, never
 * failures: a cluster that could not be asked is asked again next time.
 */
export class SarCache {
  private readonly entries = new Map<string, { allowed: boolean; until: number }>();
  private readonly ttlMs: number;
  private readonly max: number;
  private readonly now: () => number;

  constructor(ttlMs: number, max: number, now: () => number = Date.now) {
    this.ttlMs = ttlMs;
    this.max = max;
    this.now = now;
  }

  get(key: string): boolean | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    if (e.until <= this.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return e.allowed;
  }

  set(key: string, allowed: boolean): void {
    if (this.ttlMs <= 0) return;
    this.entries.delete(key);
    this.entries.set(key, { allowed, until: this.now() + this.ttlMs });
    // Maps iterate in insertion order: the first key is the oldest.
    while (this.entries.size > this.max) this.entries.delete(this.entries.keys().next().value!);
  }

  get size(): number {
    return this.entries.size;
  }
}
