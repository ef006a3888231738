/**
 * Where a GatewayRoute `url` backend may point (pure: no DNS, no I/O). The operator checks a URL's
 * host when it judges a route (Accepted=False naming the field); the proxy checks the same host when
 * it compiles its table, and every address a name RESOLVES to when it connects (a name can resolve
 * to an internal address, or start to later).
 *
 * Refused, unless the allow-list names the host or a CIDR holding the address:
 * - addresses: the pod and service CIDRs (configured), loopback (127.0.0.0/8, ::1), link-local
 *   (169.254.0.0/16, fe80::/10), metadata (169.254.169.254, fd00:ec2::254, 100.100.100.200),
 *   unspecified / "this network" (0.0.0.0/8, ::). IPv4 inside IPv6 (mapped ::ffff:a.b.c.d,
 *   compatible ::a.b.c.d, NAT64 64:ff9b::/96) is judged as the IPv4 address it carries.
 * - names: localhost and *.localhost, cluster-internal names (*.svc, *.svc.<clusterDomain>,
 *   *.<clusterDomain>), single-label names (a pod's resolver completes them from its search path:
 *   `kubernetes` → the API server), and metadata names (metadata.google.internal, metadata,
 *   instance-data, *.ec2.internal...). A trailing dot changes nothing.
 * Other spellings of an IPv4 address (decimal `2130706433`, octal `0177.1`, hex `0x7f.1`) are what
 * the WHATWG URL parser — which undici dials with — turns into dotted form first: judge `new
 * URL(url).hostname`, never the raw string.
 */
import { isIP } from "node:net";
import { cidrHas, parseCidr, parseIp, type Cidr, type IpAddress } from "../cidr.ts";

/** CIDR parsing lives in common/model/cidr.ts; re-exported for the proxy, which imports this module only. */
export { parseCidr };

/** What the operator and the proxy are configured with (flags --pod-cidrs, --service-cidrs, --gateway-url-allow). */
export interface UrlPolicySettings {
  podCidrs: readonly string[];
  serviceCidrs: readonly string[];
  /** The cluster's DNS domain (cluster.local). */
  clusterDomain: string;
  /** CIDRs (`10.1.0.0/16`, a bare address) and host names (`api.internal`, `*.corp.example`). */
  allow: readonly string[];
}

/** A range the policy names, with the text and the reason it reports. */
interface Range {
  cidr: Cidr;
  text: string;
  why: string;
}

/** A compiled policy: each check returns why the target is refused, or undefined. */
export interface UrlPolicy {
  /** A URL's hostname (as `new URL(u).hostname` gives it: IPv6 in brackets). */
  checkHost(hostname: string): string | undefined;
  /** An address a name resolved to; `hostname` is the name (an allowed name passes whatever it resolves to). */
  checkAddress(address: string, hostname?: string): string | undefined;
  /** A whole URL backend: its host, then (for an address literal) the address. */
  checkUrl(url: string): string | undefined;
}

/** Parses an IPv4 or IPv6 address to [isV6, value]; IPv4 carried in IPv6 comes back as IPv4. */
export function parseAddress(text: string): IpAddress | undefined {
  const a = text.startsWith("[") && text.endsWith("]") ? text.slice(1, -1) : text;
  if (isIP(a) === 0) return undefined;
  const ip = parseIp(a.split("%")[0]!);
  if (!ip?.v6) return ip;
  const high96 = ip.value >> 32n;
  const low32 = ip.value & 0xffffffffn;
  // ::ffff:a.b.c.d (mapped), 64:ff9b::a.b.c.d (NAT64), ::a.b.c.d (compatible; not :: or ::1).
  if (high96 === 0xffffn || high96 === 0x64ff9b0000000000000000n || (high96 === 0n && low32 > 1n))
    return { v6: false, value: low32 };
  return ip;
}

function range(text: string, why: string): Range | undefined {
  const cidr = parseCidr(text);
  return cidr && { cidr, text: text.trim(), why };
}

const ALWAYS: [string, string][] = [
  ["169.254.169.254/32", "a cloud metadata address"],
  ["fd00:ec2::254/128", "a cloud metadata address"],
  ["100.100.100.200/32", "a cloud metadata address"],
  ["0.0.0.0/8", "unspecified ('this network')"],
  ["::/128", "unspecified"],
  ["127.0.0.0/8", "loopback"],
  ["::1/128", "loopback"],
  ["169.254.0.0/16", "link-local"],
  ["fe80::/10", "link-local"],
];

const METADATA_NAMES = new Set([
  "metadata",
  "metadata.google.internal",
  "metadata.goog",
  "instance-data",
  "instance-data.ec2.internal",
  "metadata.azure.com",
]);

/** Whether `host` equals `pattern` or, for `*.suffix`, ends with `.suffix`. */
const hostFits = (host: string, pattern: string) =>
  pattern.startsWith("*.") ? host.endsWith(pattern.slice(1)) : host === pattern;

/** Compiles settings (throws on an entry that is neither a CIDR nor a host; config.ts validates first). */
export function compileUrlPolicy(s: UrlPolicySettings): UrlPolicy {
  const refused: Range[] = [
    ...ALWAYS.map(([c, why]) => range(c, why)!),
    ...s.podCidrs.map((c) => mustCidr(c, "in the pod CIDR")),
    ...s.serviceCidrs.map((c) => mustCidr(c, "in the service CIDR")),
  ];
  const allowedCidrs: Cidr[] = [];
  const allowedHosts: string[] = [];
  for (const entry of s.allow) {
    const c = parseCidr(entry);
    if (c) allowedCidrs.push(c);
    else allowedHosts.push(entry.toLowerCase().replace(/\.$/, ""));
  }
  const domain = s.clusterDomain.toLowerCase().replace(/\.$/, "");
  const hostAllowed = (h: string) => allowedHosts.some((p) => hostFits(h, p));

  const checkAddress = (address: string, hostname?: string): string | undefined => {
    if (hostname !== undefined && hostAllowed(norm(hostname))) return undefined;
    const a = parseAddress(address);
    if (!a) return `${address} is not an IP address`;
    if (allowedCidrs.some((c) => cidrHas(c, a))) return undefined;
    const hit = refused.find((r) => cidrHas(r.cidr, a));
    return hit ? `${address} is ${hit.why} (${hit.text})` : undefined;
  };

  const checkHost = (hostname: string): string | undefined => {
    const h = norm(hostname);
    if (parseAddress(h)) return checkAddress(h);
    if (hostAllowed(h)) return undefined;
    if (h === "localhost" || h.endsWith(".localhost")) return `${h} is loopback (localhost)`;
    if (METADATA_NAMES.has(h) || h.endsWith(".ec2.internal")) return `${h} is a cloud metadata name`;
    if (
      h === "svc" ||
      h.endsWith(".svc") ||
      h.endsWith(`.svc.${domain}`) ||
      h === domain ||
      h.endsWith(`.${domain}`)
    )
      return `${h} is a cluster-internal name`;
    if (!h.includes("."))
      return `${h} is a single-label name (the cluster resolver completes it to an internal one)`;
    return undefined;
  };

  return {
    checkHost,
    checkAddress,
    checkUrl(url) {
      let u: URL;
      try {
        u = new URL(url);
      } catch {
        return `${url} is not a URL`;
      }
      return checkHost(u.hostname);
    },
  };
}

function norm(hostname: string): string {
  const h = hostname.toLowerCase();
  return h.endsWith(".") ? h.slice(0, -1) : h;
}

function mustCidr(text: string, why: string): Range {
  const c = range(text, why);
  if (!c) throw new Error(`${JSON.stringify(text)} is not a CIDR range like 10.0.0.0/8`);
  return c;
}

/** The message that tells a route's author (and the proxy's caller) what to do. */
export const URL_POLICY_HINT =
  "GatewayRoute url backends may not reach pods, Services, loopback, link-local or metadata addresses; " +
  "use a service backend, or ask an administrator to add the host or CIDR to gateway.urlBackendAllow";

/** The default policy: no cluster CIDRs known, nothing allowed (the always-refused ranges still apply). */
export const DEFAULT_URL_POLICY: UrlPolicy = compileUrlPolicy({
  podCidrs: [],
  serviceCidrs: [],
  clusterDomain: "cluster.local",
  allow: [],
});
