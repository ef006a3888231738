/**
 * Asks the cluster, by SubjectAccessReview, whether a subject may read a kind, and in which
 * namespaces. Answers are cached briefly (sar.ts); failures are not cached and become ClusterDown.
 */
import type { ClusterClient } from "./cluster-client.ts";
import type { KindInfo } from "./kinds.ts";
import { allowedIn, sarBody, sarKey, SarCache, type Access, type Subject } from "./sar.ts";

/** The cluster could not be asked (network, timeout, or the proxy's own RBAC): the caller gets 503. */
export class ClusterDown extends Error {
  override name = "ClusterDown";
}

export const SAR_PATH = "/apis/authorization.k8s.io/v1/subjectaccessreviews";

/**
 * How long an answer is kept: 10 s. RBAC changes reach the console within that; the API server's own
 * webhook authorizer keeps answers far longer by default (5 min allowed, 30 s denied). Keys hold
 * everything that decides an answer (user, groups, verb, group/resource, namespace, name), so one
 * user's answer never serves another, nor the same user with other groups.
 */
export const SAR_TTL_MS = 10_000;
/** At most this many answers are kept (about 200 bytes each). */
export const SAR_MAX_ENTRIES = 20_000;
/** SubjectAccessReviews in flight at once for one request's namespace scan. */
const SCAN_CONCURRENCY = 8;

/** Runs `fn` over `items`, at most `n` at a time; results in the items' order. */
export async function mapLimited<T, R>(
  items: readonly T[],
  n: number,
  fn: (t: T) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  return out;
}

/** Where a subject may list a kind: everywhere (cluster-wide), or these namespaces. */
export type Reach = { everywhere: true } | { everywhere: false; namespaces: string[] };

export class Authorizer {
  readonly cache: SarCache;
  private readonly cluster: ClusterClient;

  constructor(
    cluster: ClusterClient,
    opts: { ttlMs?: number; maxEntries?: number; now?: () => number } = {},
  ) {
    this.cluster = cluster;
    this.cache = new SarCache(opts.ttlMs ?? SAR_TTL_MS, opts.maxEntries ?? SAR_MAX_ENTRIES, opts.now);
  }

  /** Whether `subject` may do `access`; throws ClusterDown when the cluster could not answer. */
  async may(subject: Subject, access: Access): Promise<boolean> {
    const key = sarKey(subject, access);
    const cached = this.cache.get(key);
    if (cached !== undefined) return cached;
    let answer;
    try {
      answer = await this.cluster.post(SAR_PATH, sarBody(subject, access));
    } catch (err) {
      throw new ClusterDown(`SubjectAccessReview failed: ${String(err)}`);
    }
    if (answer.status !== 201 && answer.status !== 200)
      throw new ClusterDown(`SubjectAccessReview answered ${answer.status}`);
    const allowed = allowedIn(answer.body);
    this.cache.set(key, allowed);
    return allowed;
  }

  /**
   * Where `subject` may `list` the namespaced `kind`: cluster-wide when RBAC allows it there (one
   * question), else each of `namespaces` asked in turn.
   */
  async reach(subject: Subject, kind: KindInfo, namespaces: () => Promise<string[]>): Promise<Reach> {
    if (await this.may(subject, { verb: "list", kind })) return { everywhere: true };
    if (!kind.namespaced) return { everywhere: false, namespaces: [] };
    const all = await namespaces();
    const ok = await mapLimited(all, SCAN_CONCURRENCY, (namespace) =>
      this.may(subject, { verb: "list", kind, namespace }),
    );
    return { everywhere: false, namespaces: all.filter((_, i) => ok[i]) };
  }
}
