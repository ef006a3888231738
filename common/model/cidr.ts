/**
 * IP addresses and CIDR ranges as numbers (pure: no DNS, no I/O). The one parser behind the
 * operator's CIDR flags (operator/config.ts keeps them canonical), the workspace egress
 * NetworkPolicy (workspace/egress.ts) and the GatewayRoute url-backend policy (gateway/address.ts,
 * which the proxy uses too).
 *
 * An address is valid when Node's `isIP` says so (what undici dials with), without an IPv6 zone
 * (`%eth0`): a CIDR has none. A prefix length is decimal without leading zeros.
 */
import { isIP } from "node:net";

/** An address: IPv4 as 32 bits, IPv6 as 128. */
export interface IpAddress {
  v6: boolean;
  value: bigint;
}

/** A parsed CIDR: family, network address (host bits cleared), prefix length. */
export interface Cidr {
  v6: boolean;
  base: bigint;
  bits: number;
  /** Whether the text had host bits set (`10.1.2.3/8`): not canonical. */
  hostBits: boolean;
}

function v4(a: string): bigint {
  return a.split(".").reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
}

function v6(a: string): bigint {
  let text = a;
  // A dotted IPv4 tail becomes two groups.
  const dot = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dot) {
    const n = v4(dot[1]!);
    text = `${text.slice(0, dot.index)}${(n >> 16n).toString(16)}:${(n & 0xffffn).toString(16)}`;
  }
  const [head, tail] = text.includes("::") ? text.split("::") : [text, undefined];
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill("0"), ...t];
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g || "0", 16)), 0n);
}

/** Parses a bare IPv4 or IPv6 address (no brackets, no zone); undefined when it is not one. */
export function parseIp(text: string): IpAddress | undefined {
  const kind = isIP(text);
  if (kind === 0 || text.includes("%")) return undefined;
  return kind === 4 ? { v6: false, value: v4(text) } : { v6: true, value: v6(text) };
}

function hostMask(v6: boolean, bits: number): bigint {
  return (1n << BigInt((v6 ? 128 : 32) - bits)) - 1n;
}

/** Parses `a.b.c.d/n`, an IPv6 `x::y/n`, or a bare address (a /32 or /128). Undefined when malformed. */
export function parseCidr(text: string): Cidr | undefined {
  const [addr, len, extra] = text.trim().split("/");
  if (extra !== undefined || !addr) return undefined;
  const ip = parseIp(addr);
  if (!ip) return undefined;
  if (len !== undefined && !/^(0|[1-9][0-9]{0,2})$/.test(len)) return undefined;
  const bits = len === undefined ? (ip.v6 ? 128 : 32) : Number(len);
  if (bits > (ip.v6 ? 128 : 32)) return undefined;
  const base = ip.value & ~hostMask(ip.v6, bits);
  return { v6: ip.v6, base, bits, hostBits: base !== ip.value };
}

/** Whether the address lies in the range (same family only: judge IPv4-in-IPv6 before). */
export function cidrHas(c: Cidr, a: IpAddress): boolean {
  return a.v6 === c.v6 && (a.value & ~hostMask(c.v6, c.bits)) === c.base;
}

/** Whether `outer` holds all of `inner` (same family). */
export function cidrContains(outer: Cidr, inner: Cidr): boolean {
  return outer.bits <= inner.bits && cidrHas(outer, { v6: inner.v6, value: inner.base });
}

/** The CIDR's text with its host bits cleared, IPv6 in RFC 5952 form: what the API server keeps. */
export function formatCidr(c: Cidr): string {
  if (!c.v6) {
    const o = [24n, 16n, 8n, 0n].map((s) => String((c.base >> s) & 0xffn));
    return `${o.join(".")}/${c.bits}`;
  }
  const g = Array.from({ length: 8 }, (_, i) => Number((c.base >> BigInt(112 - 16 * i)) & 0xffffn));
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j;
  }
  const hex = (a: number[]) => a.map((x) => x.toString(16)).join(":");
  const text = best < 0 ? hex(g) : `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`;
  return `${text}/${c.bits}`;
}

/**
 * The canonical text of a CIDR, or a problem: malformed, or host bits set (`10.1.2.3/8` is refused
 * with the range it probably means, rather than silently widened or narrowed).
 */
export function canonicalCidr(text: string): { cidr: string } | { problem: string } {
  const c = parseCidr(text);
  if (!c) return { problem: `${JSON.stringify(text)} is not a CIDR range like 10.244.0.0/16 or an address` };
  if (c.hostBits)
    return { problem: `${JSON.stringify(text)} has host bits set; did you mean ${formatCidr(c)}?` };
  return { cidr: formatCidr(c) };
}
