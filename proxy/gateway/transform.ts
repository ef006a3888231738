/**
 * What a GatewayRoute rule changes on the way through (pure): the path (strip or replace the matched
 * prefix, then a URL backend's base path in front) and request/response headers (set, add, remove).
 */
import type { IncomingHttpHeaders } from "node:http";
import type { HeaderModifier, PathRewrite } from "../../crds/types.ts";

/**
 * The upstream path and query. `matchedPrefix` is the PathPrefix that matched (undefined for an
 * Exact match, which a rewrite cannot have: the API refuses it). The result always starts with `/`.
 */
export function upstreamPath(
  path: string,
  query: string,
  matchedPrefix: string | undefined,
  rewrite: PathRewrite | undefined,
  basePath: string,
): string {
  let p = path;
  if (
    rewrite &&
    matchedPrefix !== undefined &&
    (rewrite.stripPrefix || rewrite.replacePrefix !== undefined)
  ) {
    const rest = matchedPrefix === "/" ? path : path.slice(matchedPrefix.length);
    const to = rewrite.replacePrefix ?? "";
    // Joined with exactly one slash: "/v2" + "/users" and "/v2/" + "/users" both give /v2/users.
    p = joinPath(to, rest);
  }
  return joinPath(basePath, p) + query;
}

/** `a` then `b` with exactly one slash between, never empty. */
export function joinPath(a: string, b: string): string {
  const left = a.endsWith("/") ? a.slice(0, -1) : a;
  const right = b === "" ? "" : b.startsWith("/") ? b : `/${b}`;
  const out = left + right;
  return out === "" ? "/" : out.startsWith("/") ? out : `/${out}`;
}

/** Applies a modifier in place: remove first, then set (replaces), then add (appends). */
export function modifyHeaders(headers: IncomingHttpHeaders, m: HeaderModifier | undefined): void {
  if (!m) return;
  for (const name of m.remove ?? []) delete headers[name.toLowerCase()];
  for (const h of m.set ?? []) headers[h.name.toLowerCase()] = h.value;
  for (const h of m.add ?? []) {
    const k = h.name.toLowerCase();
    const cur = headers[k];
    if (cur === undefined) headers[k] = h.value;
    else if (k === "set-cookie") headers[k] = [...(Array.isArray(cur) ? cur : [cur]), h.value];
    else headers[k] = `${Array.isArray(cur) ? cur.join(", ") : cur}, ${h.value}`;
  }
}
