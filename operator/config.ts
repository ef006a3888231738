/**
 * The operator's configuration: the only module that reads flags and the environment. It
 * validates everything once, refuses to start with a message that says what to set, and returns
 * a frozen object that the rest of the operator is handed.
 *
 * Every setting is a flag `--name=value` or an environment variable `PORTICO_NAME` (flags win).
 */
import { hostname } from "node:os";
import { canonicalCidr, parseCidr } from "../common/model/cidr.ts";
import type { UrlPolicySettings } from "../common/model/gateway/address.ts";
import {
  deepFreeze,
  DNS_LABEL,
  DOMAIN,
  settingsReader,
  type FlagTable,
  type Source,
} from "../common/runtime/settings.ts";
import {
  DEFAULT_EGRESS_DENY,
  WORKSPACE_EGRESS_MODES,
  type WorkspaceEgressConfig,
} from "./workspace/egress.ts";
import type { RoutingConfig } from "../common/model/workspace/template.ts";

/** How the operator names, routes and builds a workspace's children. Passed to the pure builders. */
export interface BuilderConfig extends RoutingConfig {
  /** Where the proxy runs: the NetworkPolicy admits only its pods; the VirtualService routes to it. */
  proxyNamespace: string;
  proxyServiceName: string;
  proxyServicePort: number;
  proxyPodLabels: Readonly<Record<string, string>>;
  /** issue 15 (idle stop): labels of the operator's pods (in the proxy's namespace), admitted to a probed IDE's port. */
  operatorPodLabels: Readonly<Record<string, string>>;
  /** Image of the git-clone init container (needs `git` and `/bin/sh`). */
  gitImage: string;
  /** Used when neither the Workspace nor its class sets a storage size. */
  defaultStorageSize: string;
  /** Istio gateways the VirtualService binds to (empty: the mesh only). */
  istioGateways: readonly string[];
  /** Where workspace pods may connect to: the egress half of their NetworkPolicy. */
  workspaceEgress: WorkspaceEgressConfig;
  /** Issue 15: the proxy's in-workspace keep-alive URL, given to the IDE as PORTICO_KEEP_ALIVE_URL. */
  keepAliveUrl?: string;
}

export interface LeaderElectionConfig {
  enabled: boolean;
  leaseName: string;
  leaseNamespace: string;
  identity: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
}

export interface OperatorConfig {
  kubeconfig?: string;
  builder: BuilderConfig;
  /** `auto`: create VirtualServices only when Istio's CRD is installed. */
  virtualServices: "auto" | "enabled" | "disabled";
  leaderElection: LeaderElectionConfig;
  /** Port for /healthz, /readyz and /metrics (never the data path). */
  healthPort: number;
  healthHost: string;
  /** How many reconciles run at once (each key is still one at a time). */
  workers: number;
  /** Every object is reconciled again this often even without events. */
  resyncPeriodMs: number;
  /** A watch with no event for this long is restarted (relist). */
  watchSilenceMs: number;
  /** Capped exponential backoff for failed reconciles. */
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** Client-side rate limit of API requests. */
  qps: number;
  burst: number;
  logLevel: "error" | "warn" | "info" | "debug";
  /** The cluster's pod and service CIDRs (--pod-cidrs, --service-cidrs). */
  podCidrs: readonly string[];
  serviceCidrs: readonly string[];
  /** Where GatewayRoute url backends may point (common/model/gateway/address.ts). */
  gatewayUrlPolicy: UrlPolicySettings;
  /** Running workspaces per user (0: no limit). */
  maxRunningPerUser: number;
}

/** The chart's defaults (kubeadm's): set the real ones with --pod-cidrs and --service-cidrs. */
export const DEFAULT_POD_CIDRS = "10.244.0.0/16";
export const DEFAULT_SERVICE_CIDRS = "10.96.0.0/12";

export { ConfigError, parseDurationMs, parseFlags } from "../common/runtime/settings.ts";

/**
 * Every flag the operator reads, in the order `--help` lists them, with what it does. The loader can
 * read no other (its key type), and `--help` prints this table with the defaults the loader uses.
 */
export const OPERATOR_FLAGS = {
  kubeconfig: {
    help: "Kubeconfig file for cluster access.",
    default: "KUBECONFIG, else the pod's service account",
  },
  routing:
    "host: {name}--{namespace}.{base-domain}, one origin per workspace; path: {base-domain}/w/{namespace}/{name}/, one origin for all (a page of one workspace can drive the others). Must match the proxy's.",
  "base-domain": "DNS domain of workspace URLs.",
  "url-scheme": "Scheme of workspace URLs (https when TLS ends in front of the proxy).",
  "url-port": "Port in workspace URLs when browsers reach the proxy on a non-default port (0: none).",
  "proxy-namespace": "Namespace of the proxy: workspace NetworkPolicies admit its pods.",
  "proxy-service": "The proxy's Service, which VirtualServices route to.",
  "proxy-port": "The proxy Service's port.",
  "proxy-pod-labels": "Labels (k=v,...) that select the proxy's pods in NetworkPolicies.",
  "operator-pod-labels":
    "Labels (k=v,...) that select the operator's own pods (in --proxy-namespace): the NetworkPolicy of a workspace whose class has an idle probe admits them to the IDE port.",
  "git-image": "Image of the git clone init containers (needs git and /bin/sh).",
  "default-storage-size": "Workspace volume size when neither the Workspace nor its class sets one.",
  "istio-gateways": "Istio gateways the VirtualServices bind to (comma-separated; none: the mesh only).",
  "virtual-services": "auto: create Istio VirtualServices only when Istio's CRD is served.",
  "leader-elect": "Elect a leader on a coordination.k8s.io Lease; only the leader writes.",
  "lease-name": "Name of the leader-election Lease.",
  "lease-namespace": {
    help: "Namespace of the leader-election Lease.",
    default: "POD_NAMESPACE, else default",
  },
  identity: { help: "This replica's name in the Lease.", default: "<hostname>-<pid>" },
  "lease-duration": "How long a Lease lasts without renewal before a standby takes over.",
  "renew-deadline": "How long the leader keeps trying to renew before it steps down (< --lease-duration).",
  "retry-period": "How often candidates try to acquire or renew the Lease (< --renew-deadline).",
  "health-port": "Port of /healthz, /readyz and /metrics.",
  "health-host": "Address of /healthz, /readyz and /metrics.",
  workers: "Keys reconciled in parallel (each key one at a time).",
  "resync-period": "Every object is reconciled again this often, even without events.",
  "watch-silence": "A watch with no event for this long is restarted (relist).",
  "backoff-base": "First retry delay of a failed reconcile (doubles up to --backoff-max).",
  "backoff-max": "Longest retry delay of a failed reconcile.",
  qps: "Client-side rate limit of API requests per second.",
  burst: "Burst of the client-side rate limit.",
  "log-level": "Least severe level logged.",
  "pod-cidrs":
    "The cluster's pod CIDRs (comma-separated): workspaces and GatewayRoute url backends may not reach them.",
  "service-cidrs": "The cluster's service CIDRs (comma-separated), as --pod-cidrs.",
  "gateway-url-allow": "CIDRs and host names GatewayRoute url backends may reach anyway (comma-separated).",
  "cluster-domain": "The cluster's DNS domain (cluster-internal names for url backends).",
  "api-server-cidrs": "The API server's addresses, when outside the denied ranges (comma-separated CIDRs).",
  "workspace-egress": "Where workspace pods may connect: restricted (deny list), allow-list, or open.",
  "workspace-egress-deny": "Ranges denied in restricted mode (comma-separated CIDRs, not /0).",
  "workspace-egress-allow": "Ranges reachable even so (restricted) or the only ones (allow-list).",
  // Issue 15: the proxy's in-workspace keep-alive listener.
  "keep-alive-url": {
    help: "The proxy's in-workspace keep-alive URL, given to every IDE container as PORTICO_KEEP_ALIVE_URL.",
    default: "none",
  },
  "keep-alive-port": {
    help: "The proxy pods' keep-alive listener port that workspace pods may reach (an egress rule; 0: none).",
    default: "0",
  },
  "max-running-per-user":
    "Workspaces one user may run at once (0: no limit); a class's spec.userLimits.maxRunning may lower it. One more is not started (Ready False, UserLimitReached) until another stops.",
} as const satisfies FlagTable<string>;
type Key = keyof typeof OPERATOR_FLAGS;

/**
 * Builds the configuration from flags and environment. Throws ConfigError naming the flag and
 * the environment variable to set, for every problem found (not just the first).
 */
export function loadConfig(argv: readonly string[], env: Source): Readonly<OperatorConfig> {
  const r = settingsReader(argv, env, OPERATOR_FLAGS);
  const { problems, raw, where, str, int, num, dur, bool, oneOf } = r;
  const labels = (k: Key, def: string): Record<string, string> => {
    const v = raw(k, def);
    const out: Record<string, string> = {};
    for (const pair of v.split(",").filter(Boolean)) {
      const m = /^([A-Za-z0-9./_-]+)=([A-Za-z0-9._-]*)$/.exec(pair.trim());
      if (!m) problems.push(`${where(k)}: ${JSON.stringify(pair)} is not key=value`);
      else out[m[1]!] = m[2]!;
    }
    if (Object.keys(out).length === 0)
      problems.push(`${where(k)}: at least one label is needed to select the proxy pods`);
    return out;
  };

  const leaseDurationMs = dur("lease-duration", 15_000);
  const renewDeadlineMs = dur("renew-deadline", 10_000);
  const retryPeriodMs = dur("retry-period", 2_000);
  if (renewDeadlineMs >= leaseDurationMs)
    problems.push(`--renew-deadline must be shorter than --lease-duration`);
  if (retryPeriodMs >= renewDeadlineMs) problems.push(`--retry-period must be shorter than --renew-deadline`);
  const backoffBaseMs = dur("backoff-base", 500);
  const backoffMaxMs = dur("backoff-max", 5 * 60_000);
  if (backoffBaseMs > backoffMaxMs) problems.push(`--backoff-base must not exceed --backoff-max`);

  const items = (k: Key, def: string) =>
    raw(k, def)
      .split(",")
      .map((x) => x.trim())
      .filter(Boolean);
  /** Comma-separated CIDRs (or bare addresses), each canonical; `zero`: whether /0 is allowed. */
  const cidrs = (k: Key, def: string, zero = false): readonly string[] => {
    const out: string[] = [];
    for (const item of items(k, def)) {
      const c = canonicalCidr(item);
      if ("problem" in c) problems.push(`${where(k)}: ${c.problem}`);
      else if (!zero && /\/0$/.test(c.cidr))
        problems.push(`${where(k)}: ${item} covers every address; name the ranges to deny`);
      else out.push(c.cidr);
    }
    return Object.freeze(out);
  };
  const podCidrs = cidrs("pod-cidrs", DEFAULT_POD_CIDRS);
  const serviceCidrs = cidrs("service-cidrs", DEFAULT_SERVICE_CIDRS);
  const clusterDomain = str("cluster-domain", "cluster.local", DOMAIN, "a DNS domain like cluster.local");
  const urlAllow = items("gateway-url-allow", "");
  for (const a of urlAllow)
    if (a.includes("/") ? !parseCidr(a) : !/^(\*\.)?[a-z0-9]([-a-z0-9.]*[a-z0-9])?$|^[0-9a-f:.]+$/i.test(a))
      problems.push(`${where("gateway-url-allow")}: ${JSON.stringify(a)} is neither a CIDR nor a host name`);
  const workspaceEgress: WorkspaceEgressConfig = {
    mode: oneOf("workspace-egress", "restricted", WORKSPACE_EGRESS_MODES),
    podCidrs,
    serviceCidrs,
    apiServerCidrs: cidrs("api-server-cidrs", ""),
    deny: cidrs("workspace-egress-deny", DEFAULT_EGRESS_DENY.join(",")),
    allow: cidrs("workspace-egress-allow", "", true),
  };

  const config: OperatorConfig = {
    kubeconfig: raw("kubeconfig") ?? env.KUBECONFIG,
    builder: {
      routing: oneOf("routing", "host", ["host", "path"] as const),
      baseDomain: str("base-domain", "portico.test", DOMAIN, "a DNS domain like portico.example.com"),
      urlScheme: oneOf("url-scheme", "http", ["http", "https"] as const),
      urlPort: int("url-port", 0, 0, 65535),
      proxyNamespace: str("proxy-namespace", "portico-system", DNS_LABEL, "a namespace name"),
      proxyServiceName: str("proxy-service", "portico-proxy", DNS_LABEL, "a Service name"),
      proxyServicePort: int("proxy-port", 80, 1, 65535),
      proxyPodLabels: Object.freeze(labels("proxy-pod-labels", "app.kubernetes.io/name=portico-proxy")),
      operatorPodLabels: Object.freeze(
        labels("operator-pod-labels", "app.kubernetes.io/name=portico-operator"),
      ),
      gitImage: str("git-image", "docker.io/alpine/git:2.47.2", /^\S+$/, "an image reference"),
      defaultStorageSize: str(
        "default-storage-size",
        "10Gi",
        /^[0-9]+(\.[0-9]+)?([KMGTPE]i?|[mk])?$/,
        "a quantity like 10Gi",
      ),
      istioGateways: Object.freeze(items("istio-gateways", "")),
      workspaceEgress,
    },
    virtualServices: oneOf("virtual-services", "auto", ["auto", "enabled", "disabled"] as const),
    leaderElection: {
      enabled: bool("leader-elect", true),
      leaseName: str("lease-name", "portico-operator", DNS_LABEL, "a Lease name"),
      leaseNamespace: str("lease-namespace", env.POD_NAMESPACE ?? "default", DNS_LABEL, "a namespace name"),
      identity: str("identity", `${hostname()}-${process.pid}`, /^\S+$/, "an identity without spaces"),
      leaseDurationMs,
      renewDeadlineMs,
      retryPeriodMs,
    },
    healthPort: int("health-port", 8081, 0, 65535),
    healthHost: str("health-host", "0.0.0.0", /^\S+$/, "an address"),
    workers: int("workers", 16, 1, 64),
    resyncPeriodMs: dur("resync-period", 10 * 60_000),
    watchSilenceMs: dur("watch-silence", 5 * 60_000),
    backoffBaseMs,
    backoffMaxMs,
    qps: num("qps", 50, 1),
    burst: int("burst", 100, 1, 10_000),
    logLevel: oneOf("log-level", "info", ["error", "warn", "info", "debug"] as const),
    podCidrs,
    serviceCidrs,
    gatewayUrlPolicy: { podCidrs, serviceCidrs, clusterDomain, allow: Object.freeze(urlAllow) },
    maxRunningPerUser: int("max-running-per-user", 0, 0, 100_000),
  };
  // Issue 15: the in-workspace keep-alive (the proxy's --workspace-listen): the URL the IDE is given,
  // and the egress rule to the proxy pods' listener port.
  const keepAliveUrl = str("keep-alive-url", "", /^(|https?:\/\/\S+)$/, "an http(s) URL");
  if (keepAliveUrl) config.builder.keepAliveUrl = keepAliveUrl;
  const keepAlivePort = int("keep-alive-port", 0, 0, 65535);
  if (keepAlivePort)
    workspaceEgress.keepAlive = {
      namespace: config.builder.proxyNamespace,
      podLabels: config.builder.proxyPodLabels,
      port: keepAlivePort,
    };
  r.finish("portico-operator");
  return deepFreeze(config);
}
