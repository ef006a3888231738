/**
 * Response passes: header changes on what the IDE answers, before the client sees it. Pure functions
 * over a header object (mutated in place, like http-proxy's own outgoing passes).
 */
import type { IncomingHttpHeaders } from "node:http";

/**
 * Frame protection: CSP `frame-ancestors` set to the configured sources (replacing the IDE's own
 * directive, keeping the rest of its policy) and the matching legacy X-Frame-Options.
 */
export function securityHeaders(headers: IncomingHttpHeaders, frameAncestors: string): void {
  const directive = `frame-ancestors ${frameAncestors}`;
  const csp = headers["content-security-policy"];
  const kept = (Array.isArray(csp) ? csp.join(";") : (csp ?? ""))
    .split(";")
    .map((d) => d.trim())
    .filter((d) => d && !/^frame-ancestors(\s|$)/i.test(d));
  headers["content-security-policy"] = [...kept, directive].join("; ");
  const xfo = /^'none'$/i.test(frameAncestors.trim())
    ? "DENY"
    : /^'self'$/i.test(frameAncestors.trim())
      ? "SAMEORIGIN"
      : undefined;
  // With other sources there is no X-Frame-Options equivalent; CSP rules in browsers that know it.
  if (xfo) headers["x-frame-options"] = xfo;
  else delete headers["x-frame-options"];
}

/** Maps an IDE-side path (under `from`) onto the public prefix `to`; other paths stay. */
export function mapPrefix(path: string, from: string, to: string): string {
  if (from === to) return path;
  if (from === "") {
    // An IDE told its public root (X-RStudio-Root-Path, say) may already answer under it.
    if (to && (path === to || path.startsWith(`${to}/`) || path.startsWith(`${to}?`))) return path;
    return path.startsWith("/") ? `${to}${path}` : path;
  }
  if (path === from || path.startsWith(`${from}/`) || path.startsWith(`${from}?`))
    return to + path.slice(from.length);
  return path;
}

/**
 * Rewrites a `Location` the IDE sent so it points under the public prefix. Absolute URLs are rewritten
 * only when they name the request's own host or the upstream (the IDE's idea of itself); the result is
 * then path-absolute, which the browser resolves against the address it used.
 */
export function rewriteLocation(
  location: string,
  from: string,
  to: string,
  ownHosts: readonly string[],
): string {
  const m = /^(https?:)?\/\/([^/?#]+)(.*)$/i.exec(location);
  if (m) {
    if (!ownHosts.some((h) => h.toLowerCase() === m[2]!.toLowerCase())) return location;
    return mapPrefix(m[3] || "/", from, to);
  }
  return location.startsWith("/") ? mapPrefix(location, from, to) : location;
}

/** Rewrites the `Path=` attribute of Set-Cookie values from the IDE's base path to the public prefix. */
export function rewriteCookiePath(setCookie: readonly string[], from: string, to: string): string[] {
  return setCookie.map((c) =>
    c.replace(
      /(;\s*path=)([^;]*)/i,
      (_all, attr: string, path: string) => attr + mapPrefix(path.trim(), from, to),
    ),
  );
}
