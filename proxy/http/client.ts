/**
 * Who the client is, behind load balancers: the address comes from `X-Forwarded-For` through a
 * configured number of trusted hops (`--trusted-proxy-hops`), never from what the client wrote itself.
 *
 * With N trusted hops, N proxies stand in front of Portico and each appends the address it was
 * reached from; the last of them is the TCP peer. The chain is `X-Forwarded-For` entries (every
 * header line, in order) followed by the peer, and the client is the entry N places left of the peer:
 *
 *   hops 0: `X-Forwarded-For` is ignored; the client is the TCP peer.
 *   hops 1: `XFF: 6.6.6.6, 203.0.113.7` from peer 10.0.0.5 → 203.0.113.7 (what the balancer appended;
 *           6.6.6.6 is the client's own invention and is never used).
 *
 * As Envoy's `xff_num_trusted_hops`: with fewer entries than hops (a request that did not come
 * through every hop), or a malformed entry where the client's address should be, the peer is used.
 * The whole module is pure: it sees strings and returns strings.
 */
import { isIP } from "node:net";

/** The client as far as the trusted hops tell. */
export interface ClientAddress {
  /** The client's address (IPv4 dotted, IPv6 compressed lower case), or `unknown` without a peer. */
  address: string;
  /**
   * `X-Forwarded-For` to send upstream: the client's address, then each trusted hop up to the peer.
   * Nothing left of the client's address (what the client wrote itself) goes on.
   */
  forwardedFor: string;
}

/**
 * The client of a request whose TCP peer is `peer` and whose `X-Forwarded-For` header(s) are `xff`,
 * with `hops` trusted proxies in front (0: the peer is the client).
 */
export function clientAddress(
  peer: string | undefined,
  xff: string | readonly string[] | undefined,
  hops: number,
): ClientAddress {
  const p = (peer && canonicalIp(peer)) || peer || "unknown";
  const direct = { address: p, forwardedFor: p };
  if (hops <= 0 || xff === undefined) return direct;
  const header = typeof xff === "string" ? xff : xff.join(",");
  // Only the last `hops` entries matter: scan from the right, whatever the client put before them.
  const trusted: string[] = [];
  let end = header.length;
  while (trusted.length < hops) {
    const comma = header.lastIndexOf(",", end - 1);
    trusted.unshift(header.slice(comma + 1, end).trim());
    if (comma < 0) break;
    end = comma;
  }
  // Fewer entries than hops: this request did not pass every hop; only the peer is known.
  if (trusted.length < hops) return direct;
  const address = parseForwardedEntry(trusted[0]!);
  if (!address) return direct;
  return { address, forwardedFor: [address, ...trusted.slice(1), p].join(", ") };
}

/**
 * One `X-Forwarded-For` entry as an address: `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1`,
 * `[2001:db8::1]` or `[2001:db8::1]:443`; undefined for anything else (`unknown`, names, garbage).
 */
export function parseForwardedEntry(entry: string): string | undefined {
  let e = entry.trim();
  if (e.startsWith("[")) {
    const close = e.indexOf("]");
    if (close < 0 || !/^(:\d{1,5})?$/.test(e.slice(close + 1))) return undefined;
    e = e.slice(1, close);
    return isIP(e) === 6 ? canonicalIp(e) : undefined;
  }
  const v4port = /^(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}$/.exec(e);
  if (v4port) e = v4port[1]!;
  return isIP(e) ? canonicalIp(e) : undefined;
}

/**
 * An address in one spelling, so one client is one key: IPv4-mapped IPv6 as IPv4, IPv6 compressed in
 * lower case. Undefined when `ip` is not an address.
 */
export function canonicalIp(ip: string): string | undefined {
  const kind = isIP(ip);
  if (kind === 4) return ip;
  if (kind !== 6) return undefined;
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(ip);
  if (mapped) return mapped[1];
  if (ip.includes("%")) return ip.toLowerCase(); // a zone (link-local): as given
  try {
    return new URL(`http://[${ip}]/`).hostname.slice(1, -1);
  } catch {
    return undefined;
  }
}

/**
 * The per-IP rate-limit key of an address: the address itself for IPv4, its /64 network for IPv6
 * (one subscriber gets a whole /64 and could otherwise make a new bucket per request).
 */
export function limitKey(address: string): string {
  if (isIP(address) !== 6) return address;
  const groups = expandIpv6(address);
  return groups ? `${groups.slice(0, 4).join(":")}::/64` : address;
}

/** The eight 16-bit groups of an IPv6 address (hex, no leading zeros), or undefined. */
function expandIpv6(ip: string): string[] | undefined {
  let s = ip.split("%")[0]!.toLowerCase();
  // A dotted IPv4 tail is two groups.
  const tail = /(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (tail) {
    const [a, b, c, d] = tail.slice(1).map(Number) as [number, number, number, number];
    s = `${s.slice(0, tail.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, rest] = s.split("::") as [string, string | undefined];
  const left = head ? head.split(":") : [];
  const right = rest ? rest.split(":") : [];
  const fill = rest === undefined ? 0 : 8 - left.length - right.length;
  const all = [...left, ...Array<string>(Math.max(0, fill)).fill("0"), ...right];
  if (all.length !== 8) return undefined;
  return all.map((g) => parseInt(g, 16).toString(16));
}
