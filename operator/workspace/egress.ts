/**
 * Where a workspace pod may connect to (pure: no I/O). The operator writes it as the egress half of
 * the workspace's NetworkPolicy; the cluster's CNI enforces it (a cluster without a NetworkPolicy
 * implementation ignores it, silently: see docs/security.md).
 *
 * Modes (`--workspace-egress`):
 * - `restricted` (default): DNS (port 53, UDP and TCP, to any address) and every address except the
 *   deny list: `--workspace-egress-deny` (default: the private ranges 10/8, 172.16/12, 192.168/16,
 *   100.64/10, fc00::/7 and link-local 169.254/16, fe80::/10), plus — always — the pod CIDRs, the
 *   service CIDRs, the API server's addresses and the metadata addresses (169.254.169.254/32,
 *   fd00:ec2::254/128). `--workspace-egress-allow` CIDRs are reachable even so (an extra rule).
 * - `allow-list`: DNS and the `--workspace-egress-allow` CIDRs only.
 * - `open`: no egress rules at all (the policy governs ingress only).
 */
import type { V1NetworkPolicyEgressRule, V1NetworkPolicyPeer } from "@kubernetes/client-node";

/** Values of `--workspace-egress`. */
export const WORKSPACE_EGRESS_MODES = ["restricted", "allow-list", "open"] as const;
export type WorkspaceEgressMode = (typeof WORKSPACE_EGRESS_MODES)[number];

/** Default of `--workspace-egress-deny`: private and link-local ranges. */
export const DEFAULT_EGRESS_DENY: readonly string[] = Object.freeze([
  "10.0.0.0/8",
  "172.16.0.0/12",
  "192.168.0.0/16",
  "100.64.0.0/10",
  "169.254.0.0/16",
  "fc00::/7",
  "fe80::/10",
]);

/** Cloud metadata services: denied in `restricted` mode whatever the deny list says. */
export const METADATA_CIDRS: readonly string[] = Object.freeze(["169.254.169.254/32", "fd00:ec2::254/128"]);

/** What the builder needs to know (from operator/config.ts). All CIDRs canonical (see `canonicalCidr`). */
export interface WorkspaceEgressConfig {
  mode: WorkspaceEgressMode;
  podCidrs: readonly string[];
  serviceCidrs: readonly string[];
  apiServerCidrs: readonly string[];
  /** `--workspace-egress-deny`. */
  deny: readonly string[];
  /** `--workspace-egress-allow`. */
  allow: readonly string[];
}

/** A parsed CIDR: family, network address as a number, prefix length. */
export interface Cidr {
  v6: boolean;
  base: bigint;
  bits: number;
}

function parseV4(s: string): bigint | undefined {
  const parts = s.split(".");
  if (parts.length !== 4) return undefined;
  let n = 0n;
  for (const p of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p) || Number(p) > 255) return undefined;
    n = (n << 8n) | BigInt(p);
  }
  return n;
}

function parseV6(s: string): bigint | undefined {
  if (!/^[0-9a-fA-F:.]+$/.test(s) || s.split("::").length > 2) return undefined;
  const [head, tail] = s.includes("::") ? s.split("::") : [s, undefined];
  const groups = (t: string | undefined): number[] | undefined => {
    if (!t) return [];
    const out: number[] = [];
    const items = t.split(":");
    for (let i = 0; i < items.length; i++) {
      const g = items[i]!;
      if (i === items.length - 1 && g.includes(".")) {
        const v4 = parseV4(g);
        if (v4 === undefined) return undefined;
        out.push(Number(v4 >> 16n), Number(v4 & 0xffffn));
      } else if (/^[0-9a-fA-F]{1,4}$/.test(g)) out.push(parseInt(g, 16));
      else return undefined;
    }
    return out;
  };
  const h = groups(head);
  const t = groups(tail);
  if (!h || !t) return undefined;
  const missing = 8 - h.length - t.length;
  if (tail === undefined ? missing !== 0 : missing < 1) return undefined;
  const all = [...h, ...Array<number>(tail === undefined ? 0 : missing).fill(0), ...t];
  return all.reduce((n, g) => (n << 16n) | BigInt(g), 0n);
}

/** Parses `a.b.c.d/n`, an IPv6 `x::y/n`, or a bare address (a /32 or /128). Undefined when malformed. */
export function parseCidr(text: string): Cidr | undefined {
  const [addr, len, extra] = text.trim().split("/");
  if (extra !== undefined || !addr) return undefined;
  const v6 = addr.includes(":");
  const base = v6 ? parseV6(addr) : parseV4(addr);
  const max = v6 ? 128 : 32;
  if (base === undefined) return undefined;
  if (len !== undefined && !/^(0|[1-9][0-9]{0,2})$/.test(len)) return undefined;
  const bits = len === undefined ? max : Number(len);
  if (bits > max) return undefined;
  return { v6, base, bits };
}

function hostMask(c: Cidr): bigint {
  return (1n << BigInt((c.v6 ? 128 : 32) - c.bits)) - 1n;
}

/** The CIDR's text with its host bits cleared, IPv6 in RFC 5952 form: what the API server keeps. */
export function formatCidr(c: Cidr): string {
  const base = c.base & ~hostMask(c);
  if (!c.v6) {
    const o = [24n, 16n, 8n, 0n].map((s) => String((base >> s) & 0xffn));
    return `${o.join(".")}/${c.bits}`;
  }
  const g = Array.from({ length: 8 }, (_, i) => Number((base >> BigInt(112 - 16 * i)) & 0xffffn));
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
  if (c.base & hostMask(c))
    return { problem: `${JSON.stringify(text)} has host bits set; did you mean ${formatCidr(c)}?` };
  return { cidr: formatCidr(c) };
}

/** Whether `outer` holds all of `inner` (same family). */
export function cidrContains(outer: Cidr, inner: Cidr): boolean {
  return outer.v6 === inner.v6 && outer.bits <= inner.bits && (inner.base & ~hostMask(outer)) === outer.base;
}

/** `list` without duplicates and without ranges another entry already holds, first-seen order. */
export function minimalCidrs(list: readonly string[]): string[] {
  const parsed = list.map((t) => ({ t, c: parseCidr(t)! })).filter((x) => x.c);
  return parsed
    .filter(
      (x, i) =>
        !parsed.some(
          (y, j) =>
            j !== i &&
            cidrContains(y.c, x.c) &&
            // of two equal ranges, keep the first
            (!cidrContains(x.c, y.c) || j < i),
        ),
    )
    .map((x) => x.t);
}

/** Every range a `restricted` workspace may not reach, minimal. */
export function egressDenyList(e: WorkspaceEgressConfig): string[] {
  return minimalCidrs([...e.deny, ...e.podCidrs, ...e.serviceCidrs, ...e.apiServerCidrs, ...METADATA_CIDRS]);
}

const DNS_RULE: V1NetworkPolicyEgressRule = {
  ports: [
    { protocol: "UDP", port: 53 },
    { protocol: "TCP", port: 53 },
  ],
};

/**
 * The egress rules of a workspace's NetworkPolicy, or undefined in `open` mode (no Egress policy
 * type: everything allowed). Rules are unions: DNS anywhere; the internet minus the deny list
 * (one rule per address family, the deny list as `except`); the allow list.
 */
export function workspaceEgressRules(e: WorkspaceEgressConfig): V1NetworkPolicyEgressRule[] | undefined {
  if (e.mode === "open") return undefined;
  const rules: V1NetworkPolicyEgressRule[] = [DNS_RULE];
  if (e.mode === "restricted") {
    const deny = egressDenyList(e);
    const to: V1NetworkPolicyPeer[] = [];
    for (const [all, v6] of [
      ["0.0.0.0/0", false],
      ["::/0", true],
    ] as const) {
      const except = deny.filter((d) => parseCidr(d)!.v6 === v6);
      to.push({ ipBlock: { cidr: all, ...(except.length ? { except } : {}) } });
    }
    rules.push({ to });
  }
  const allow = minimalCidrs(e.allow);
  if (allow.length) rules.push({ to: allow.map((cidr) => ({ ipBlock: { cidr } })) });
  return rules;
}
