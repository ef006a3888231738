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
import { cidrContains, parseCidr } from "../../common/model/cidr.ts";

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

/** What the builder needs to know (from operator/config.ts). All CIDRs canonical (see `canonicalCidr` in common/model/cidr.ts). */
export interface WorkspaceEgressConfig {
  mode: WorkspaceEgressMode;
  podCidrs: readonly string[];
  serviceCidrs: readonly string[];
  apiServerCidrs: readonly string[];
  /** `--workspace-egress-deny`. */
  deny: readonly string[];
  /** `--workspace-egress-allow`. */
  allow: readonly string[];
  /**
   * Issue 15: the proxy's in-workspace keep-alive listener (`--keep-alive-port`): its pods on that
   * port only. Absent: no such rule.
   */
  keepAlive?: KeepAliveEgress;
}

/** The proxy pods (namespace and labels) and the listener's container port. */
export interface KeepAliveEgress {
  namespace: string;
  podLabels: Readonly<Record<string, string>>;
  port: number;
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
  // Issue 15: the keep-alive listener on the proxy's pods (the pod CIDRs are denied otherwise).
  if (e.keepAlive)
    rules.push({
      to: [
        {
          namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": e.keepAlive.namespace } },
          podSelector: { matchLabels: { ...e.keepAlive.podLabels } },
        },
      ],
      ports: [{ protocol: "TCP", port: e.keepAlive.port }],
    });
  return rules;
}
