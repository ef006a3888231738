/**
 * Request-target checks, before any route is matched. A path that could mean two things to two
 * parsers (ours and the IDE's) is refused with 400 rather than guessed at: `.` and `..` segments in
 * any encoding, empty segments (`//`), encoded slashes and backslashes, NUL, and anything that is not
 * an origin-form target. What passes is forwarded byte for byte as the client sent it.
 */

/** A request target split into its checked path and its query (with `?`, or ""). */
export interface Target {
  path: string;
  query: string;
  /** The decoded segments of `path`, for matching. */
  segments: string[];
}

/** Why a target was refused (the message goes into the 400 body). */
export class BadPath extends Error {
  override name = "BadPath";
}

/** Checks `url` (req.url) and splits it; throws BadPath when it is not a safe origin-form target. */
export function parseTarget(url: string): Target {
  if (!url.startsWith("/")) throw new BadPath("the request target must be an absolute path");
  const q = url.indexOf("?");
  const path = q < 0 ? url : url.slice(0, q);
  const query = q < 0 ? "" : url.slice(q);
  if (path.includes("\\")) throw new BadPath("backslashes are not allowed in paths");
  const raw = path.split("/").slice(1);
  const segments: string[] = [];
  for (let i = 0; i < raw.length; i++) {
    const seg = raw[i]!;
    // Only the last segment may be empty: "/a/" is fine, "/a//b" and "//a" are not.
    if (seg === "" && i < raw.length - 1) throw new BadPath("empty path segments (//) are not allowed");
    let decoded: string;
    try {
      decoded = decodeURIComponent(seg);
    } catch {
      throw new BadPath("malformed percent-encoding in the path");
    }
    if (decoded === "." || decoded === "..") throw new BadPath("dot segments are not allowed in paths");
    if (/[/\\\0]/.test(decoded)) throw new BadPath("encoded slashes, backslashes or NUL are not allowed");
    segments.push(decoded);
  }
  return { path, query, segments };
}

/** The Host header's name, lowercased and without its port; undefined when it is not a valid host. */
export function hostName(host: string | undefined): string | undefined {
  if (!host) return undefined;
  const m =
    /^([a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)*\.?|\[[0-9a-fA-F:.]+\])(:[0-9]{1,5})?$/.exec(
      host,
    );
  if (!m) return undefined;
  return m[1]!.toLowerCase().replace(/\.$/, "");
}
