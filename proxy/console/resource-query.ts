/**
 * What a resource-view request asks for, checked before anything reaches the cluster. Pure.
 *
 *   /api/cluster                                  → cluster
 *   /api/resources[?ns=]                          → counts per kind
 *   /api/resources/{kind}[?ns=]                   → list
 *   /api/resource/{kind}/{name}[?ns=][&reveal=true] → one object
 *
 * Namespaces are DNS-1123 labels and names DNS-1123 subdomains: anything else (`..`, `/`, `,`, a label
 * selector, a field path) is refused here with 400, so no user text but a valid name is ever put in a
 * path to the API server. Unknown or repeated parameters are refused too, so a typo is not ignored.
 */
import { kindOf, type KindInfo } from "./kinds.ts";

export type ResourceQuery =
  | { op: "cluster" }
  | { op: "counts"; namespace?: string }
  | { op: "list"; kind: KindInfo; namespace?: string }
  | { op: "get"; kind: KindInfo; name: string; namespace?: string; reveal: boolean };

/** A refused request: always 400, with what to fix. */
export interface BadQuery {
  status: 400;
  error: string;
  message: string;
}

const LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** A DNS-1123 label of at most 63 characters (a namespace's name). */
export const isNamespaceName = (s: string): boolean => s.length <= 63 && LABEL.test(s);
/** A DNS-1123 subdomain of at most 253 characters (the names of every served kind). */
export const isObjectName = (s: string): boolean => s.length <= 253 && SUBDOMAIN.test(s);

/** What each operation accepts as query parameters. */
const PARAMS: Record<ResourceQuery["op"], readonly string[]> = {
  cluster: [],
  counts: ["ns"],
  list: ["ns"],
  get: ["ns", "reveal"],
};

const bad = (error: string, message: string): BadQuery => ({ status: 400, error, message });

/** At most this much of a refused value is echoed back. */
const shown = (s: string) => JSON.stringify(s.length > 64 ? `${s.slice(0, 64)}…` : s);

/** The request `segments` (decoded path segments) and `query` ask for, or why it is refused. */
export function parseResourceQuery(
  segments: readonly string[],
  query: URLSearchParams,
): ResourceQuery | BadQuery {
  const route = routeOf(segments);
  if ("status" in route) return route;
  for (const key of new Set(query.keys())) {
    if (!PARAMS[route.op].includes(key))
      return bad(
        "bad_parameter",
        `unknown parameter ${shown(key)}; this path takes ${PARAMS[route.op].join(", ") || "none"}`,
      );
    if (query.getAll(key).length > 1) return bad("bad_parameter", `give ${key} once`);
  }
  const ns = query.get("ns");
  // `?ns=` (empty) is the same as no namespace: every namespace the caller may see.
  if (ns && !isNamespaceName(ns))
    return bad(
      "bad_namespace",
      `namespace ${shown(ns)} is not a namespace name (lower-case letters, digits and '-', at most 63)`,
    );
  const namespace = ns ? { namespace: ns } : {};
  if (route.op === "cluster") return route;
  if (route.op === "counts") return { op: "counts", ...namespace };
  if (ns && !route.kind.namespaced)
    return bad("bad_namespace", `${route.kind.name} are cluster-scoped: leave out ns`);
  if (route.op === "list") return { ...route, ...namespace };
  const reveal = query.get("reveal");
  if (reveal !== null && reveal !== "true" && reveal !== "false")
    return bad("bad_parameter", "reveal is true or false");
  if (reveal === "true" && route.kind.name !== "secrets")
    return bad("bad_parameter", "reveal applies to secrets only");
  if (route.kind.namespaced && !ns)
    return bad("bad_namespace", `name the namespace of ${route.kind.name} ${shown(route.name)} with ?ns=`);
  return { ...route, ...namespace, reveal: reveal === "true" };
}

type Route =
  | { op: "cluster" }
  | { op: "counts" }
  | { op: "list"; kind: KindInfo }
  | { op: "get"; kind: KindInfo; name: string };

/** The operation of a path's segments (`["api", "resources", "pods"]`). */
function routeOf(segments: readonly string[]): Route | BadQuery {
  // A trailing slash names the same thing (`/api/resources/`).
  const segs = segments.at(-1) === "" ? segments.slice(0, -1) : segments;
  const [api, what, kindName, name, ...rest] = segs;
  if (api !== "api" || rest.length > 0) return bad("bad_path", "unknown resource path");
  if (what === "cluster" && kindName === undefined) return { op: "cluster" };
  if (what === "resources" && kindName === undefined) return { op: "counts" };
  if (what !== "resources" && what !== "resource") return bad("bad_path", "unknown resource path");
  const kind = kindName === undefined ? undefined : kindOf(kindName);
  if (!kind)
    return bad(
      "bad_kind",
      `kind ${shown(kindName ?? "")} is not served; ask for pods, deployments, services, secrets, configmaps, namespaces or crds`,
    );
  if (what === "resources") {
    if (name !== undefined) return bad("bad_path", "one object is /api/resource/{kind}/{name}");
    return { op: "list", kind };
  }
  if (name === undefined || name === "")
    return bad("bad_path", "name the object: /api/resource/{kind}/{name}");
  if (!isObjectName(name))
    return bad(
      "bad_name",
      `name ${shown(name)} is not an object name (lower-case letters, digits, '-' and '.', at most 253)`,
    );
  return { op: "get", kind, name };
}
