/**
 * The console's resource views over HTTP (proxy/surfaces/console.ts hands them every GET of
 * /api/cluster, /api/resources[/{kind}] and /api/resource/{kind}/{name} on the base domain, the
 * caller identified): parse and validate (resource-query.ts, 400 before any call), then the service
 * (resource-views.ts: SubjectAccessReview as the caller, 403 when RBAC says no), then JSON.
 *
 *   GET /api/cluster                      the caller, the Kubernetes version, the namespaces they may
 *                                         see (where they may list some served kind) and the kinds
 *                                         they may list somewhere
 *   GET /api/resources?ns=                counts per kind they may list (in ns, else wherever they may)
 *   GET /api/resources/{kind}?ns=         views; without ns: every namespace they may list it in
 *   GET /api/resource/{kind}/{name}?ns=   one view; secrets: &reveal=true for the values
 *
 * Errors: `{error, message}` — 400 bad kind, namespace, name or parameter; 403 RBAC said no (the
 * message names the verb and resource); 404 absent or a kind this proxy does not serve; 503 the
 * cluster could not be asked.
 */
import type { Logger } from "../../common/runtime/log.ts";
import type { Identity } from "../auth/identity.ts";
import type { ConsoleConfig } from "../config.ts";
import { sendJson } from "../http/errors.ts";
import type { HttpEndpoint } from "../surfaces/console.ts";
import { Authorizer, mapLimited, type Reach } from "./authorizer.ts";
import type { ClusterClient } from "./cluster-client.ts";
import type { KindInfo } from "./kinds.ts";
import { parseResourceQuery, type ResourceQuery } from "./resource-query.ts";
import { ResourceViews, ViewError } from "./resource-views.ts";
import type { Subject } from "./sar.ts";

export interface ResourcesDeps {
  config: Pick<ConsoleConfig, "secrets" | "revealSecrets" | "rbacUserPrefix" | "rbacGroupPrefix">;
  cluster: ClusterClient;
  log: Logger;
  /** Default: one over `cluster` with the standard cache (authorizer.ts). */
  authorizer?: Authorizer;
}

/** Kinds asked about at once by /api/cluster and counts (each may scan namespaces). */
const KIND_CONCURRENCY = 2;

export function resourcesEndpoint(deps: ResourcesDeps): HttpEndpoint {
  const views = new ResourceViews({
    cluster: deps.cluster,
    authorizer: deps.authorizer ?? new Authorizer(deps.cluster),
    secrets: deps.config.secrets,
    revealSecrets: deps.config.revealSecrets,
    prefixes: { user: deps.config.rbacUserPrefix, group: deps.config.rbacGroupPrefix },
    log: deps.log,
  });
  return (_req, res, target, who) => {
    const parsed = parseResourceQuery(target.segments, new URLSearchParams(target.query.replace(/^\?/, "")));
    if ("status" in parsed) return sendJson(res, 400, { error: parsed.error, message: parsed.message });
    answer(views, who, parsed).then(
      (body) => sendJson(res, 200, body),
      (err: unknown) => {
        if (err instanceof ViewError)
          return sendJson(res, err.status, { error: err.code, message: err.message });
        deps.log.error("console: resource view failed", { path: target.path, err: String(err) });
        sendJson(res, 500, { error: "internal", message: "the resource view failed; retry, or report it" });
      },
    );
  };
}

/** The answer to one validated request. */
export async function answer(
  views: ResourceViews,
  who: Identity,
  q: ResourceQuery,
): Promise<Record<string, unknown>> {
  const s = views.subject(who);
  switch (q.op) {
    case "cluster":
      return cluster(views, who, s);
    case "counts":
      return counts(views, s, q.namespace);
    case "list":
      return views.list(s, q.kind, q.namespace);
    case "get":
      return views.get(who, s, q.kind, q.name, q.namespace, q.reveal);
  }
}

/** Namespace names, read at most once per request. */
function namesOnce(views: ResourceViews): () => Promise<string[]> {
  let names: Promise<string[]> | undefined;
  return () => (names ??= views.namespaceNames());
}

const reachesAny = (r: Reach) => r.everywhere || r.namespaces.length > 0;

async function cluster(views: ResourceViews, who: Identity, s: Subject) {
  const names = namesOnce(views);
  const kubernetes = await views.version();
  const kinds = views.kinds();
  const reaches = await mapLimited(kinds, KIND_CONCURRENCY, (k) => views.reach(s, k, names));
  const everywhere = reaches.some((r, i) => r.everywhere && kinds[i]!.namespaced);
  const seen = new Set(
    everywhere ? await names() : reaches.flatMap((r) => (r.everywhere ? [] : r.namespaces)),
  );
  return {
    user: who.user,
    groups: [...who.groups],
    kubernetes,
    namespaces: [...seen].sort(),
    kinds: kinds.filter((_, i) => reachesAny(reaches[i]!)).map((k) => k.name),
  };
}

async function counts(views: ResourceViews, s: Subject, namespace?: string) {
  const names = namesOnce(views);
  const kinds = views.kinds().filter((k) => k.namespaced || !namespace);
  const one = async (k: KindInfo): Promise<number | undefined> => {
    if (namespace) return (await views.mayList(s, k, namespace)) ? views.count(k, namespace) : undefined;
    const reach = await views.reach(s, k, names);
    if (reach.everywhere) return views.count(k);
    if (reach.namespaces.length === 0) return undefined;
    const each = await mapLimited(reach.namespaces, 4, (ns) => views.count(k, ns));
    return each.reduce((a, b) => a + b, 0);
  };
  const got = await mapLimited(kinds, KIND_CONCURRENCY, one);
  return {
    ...(namespace ? { namespace } : {}),
    counts: Object.fromEntries(kinds.flatMap((k, i) => (got[i] === undefined ? [] : [[k.name, got[i]]]))),
    refused: kinds.filter((_, i) => got[i] === undefined).map((k) => k.name),
  };
}
