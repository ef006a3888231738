/**
 * Origin checks: the proxy decides itself whether a browser request that can change something came
 * from the page it is meant for, whatever the IDE behind it checks or forgets to. A WebSocket
 * handshake or an unsafe method (anything but GET, HEAD and OPTIONS) to a workspace or GatewayRoute
 * passes only when
 *
 * - its `Origin` is the route's own origin (`{scheme}://{Host}` as the browser sees it) or one the
 *   class or rule lists in `allowedOrigins` (exact, serialized origins); and
 * - its `Sec-Fetch-Site` is not `cross-site` (unless the origin is allow-listed: such an origin is
 *   usually on another site by nature).
 *
 * What a browser sends decides the corner cases (Fetch standard, "append a request Origin header"):
 * a browser always sends `Origin` on WebSocket handshakes and on every request whose method is not
 * GET or HEAD. So:
 *
 * - no `Origin` at all: not a browser (curl, kernel clients, CI jobs), or a browser's GET. Such a
 *   client sends only the credentials it was handed explicitly, none that a page could borrow, so it
 *   passes — unless it carries `Sec-Fetch-Site: cross-site` or `same-site`, which only browsers send
 *   and which then must carry an Origin;
 * - `Origin: null` (a sandboxed frame, a `data:` or `file:` page, a redirect across origins):
 *   refused, except with `Sec-Fetch-Site: same-origin`, the browser's own word that the page is this
 *   origin (a same-origin form post under `Referrer-Policy: no-referrer` is sent with `null`);
 * - another workspace's host (`Sec-Fetch-Site: same-site`, since every workspace host shares the base
 *   domain): refused, the origin differs.
 *
 * Pure: plain values in, a refusal or nothing out.
 */
import type { IncomingHttpHeaders } from "node:http";
import type { Refusal } from "./request.ts";

/** Methods that change nothing (RFC 9110 safe methods the proxy lets through). */
const SAFE = new Set(["GET", "HEAD", "OPTIONS"]);

/** What the origin check of one request needs. */
export interface OriginContext {
  /** `http` or `https`: the scheme the browser used (publicScheme). */
  scheme: string;
  /** The Host header as the client sent it, port included. */
  host: string;
  /** Exact origins besides the route's own that may send unsafe requests and open WebSockets. */
  allowed?: readonly string[] | undefined;
  /** A WebSocket handshake (checked whatever its method). */
  upgrade?: boolean;
  /** Where the allow-list is set, for the message (e.g. "the class's spec.allowedOrigins"). */
  allowListHint: string;
}

const first = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v[0] : v);

/**
 * The serialized origin of `value` (`scheme://host[:port]`, lowercase, default port dropped), or
 * undefined when it is not an http(s) origin.
 */
export function canonicalOrigin(value: string): string | undefined {
  if (!/^https?:\/\/[^/?#@\s]+$/i.test(value)) return undefined;
  try {
    const u = new URL(value);
    return u.origin === "null" ? undefined : u.origin;
  } catch {
    return undefined;
  }
}

/**
 * The scheme the browser used: a trusted `X-Forwarded-Proto` (behind a load balancer that ends TLS),
 * else the scheme of `--public-url`, else `http` (the proxy itself speaks plain HTTP).
 */
export function publicScheme(
  headers: IncomingHttpHeaders,
  trustForwarded: boolean,
  publicUrl: string | undefined,
): "http" | "https" {
  if (trustForwarded) {
    const xf = first(headers["x-forwarded-proto"])?.split(",")[0]?.trim().toLowerCase();
    if (xf === "http" || xf === "https") return xf;
  }
  if (publicUrl?.startsWith("https:")) return "https";
  return "http";
}

/** Whether the request is one the origin check looks at: an upgrade or an unsafe method. */
export const changesState = (method: string | undefined, upgrade = false): boolean =>
  upgrade || !SAFE.has(method ?? "GET");

/**
 * Refuses (403 `cross_origin`) a WebSocket handshake or unsafe request from a page that is not the
 * route's own origin nor allow-listed, or that the browser calls cross-site. Nothing otherwise.
 */
export function checkOrigin(
  method: string | undefined,
  headers: IncomingHttpHeaders,
  ctx: OriginContext,
): Refusal | undefined {
  if (!changesState(method, ctx.upgrade)) return undefined;
  const origin = first(headers.origin)?.trim();
  const site = first(headers["sec-fetch-site"])?.trim().toLowerCase();
  const own = `${ctx.scheme}://${ctx.host}`;
  const what = ctx.upgrade ? "a WebSocket" : `a ${method} request`;
  const refuse = (why: string): Refusal => ({
    status: 403,
    body: {
      error: "cross_origin",
      message:
        `${what} ${why} is refused: only pages of ${canonicalOrigin(own) ?? own} itself, or origins listed in ` +
        `${ctx.allowListHint}, may change things here. Open the page from that address, or list its origin there.`,
    },
  });
  if (origin === undefined || origin === "") {
    if (site === "cross-site" || site === "same-site")
      return refuse(`without an Origin header but with Sec-Fetch-Site: ${site}`);
    return undefined;
  }
  if (origin === "null") {
    if (site === "same-origin") return undefined;
    return refuse("from an opaque origin (Origin: null)");
  }
  // The common case without parsing: the page's origin exactly as it would be written.
  const o = origin === own ? own : canonicalOrigin(origin);
  const same = o !== undefined && (o === own || o === canonicalOrigin(own));
  if (same && site !== "cross-site") return undefined;
  if (o !== undefined && ctx.allowed?.some((a) => a === o || canonicalOrigin(a) === o)) return undefined;
  if (same) return refuse("that the browser marks Sec-Fetch-Site: cross-site");
  return refuse(`from origin ${JSON.stringify(origin)}`);
}
