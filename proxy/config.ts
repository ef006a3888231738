/**
 * The proxy's configuration: the only module that reads flags and the environment. It validates
 * everything once, reports every problem at once naming the flag and the variable to set, and
 * returns a frozen object that the rest of the proxy is handed.
 *
 * Every setting is a flag `--name=value` or an environment variable `PORTICO_NAME` (flags win),
 * as for the operator; flag parsing and durations are shared with it.
 */
import {
  ConfigError,
  HelpRequested,
  deepFreeze,
  DNS_LABEL,
  DOMAIN,
  parseBytes,
  settingsReader,
  type FlagTable,
  type SettingsReader,
  type Source,
} from "../common/runtime/settings.ts";
import { GATEWAY_SECRET_HEADER } from "./http/request.ts";
import type { ApiConfig } from "./api/types.ts";
import { fileURLToPath } from "node:url";

import { parseCidr, type UrlPolicySettings } from "../common/model/gateway/address.ts";

export { ConfigError, HelpRequested, parseBytes };

/** Authentication modes (proxy/auth/gate.ts). */
export const AUTH_MODES = ["none", "oidc", "jwt", "trusted-headers"] as const;
export type AuthMode = (typeof AUTH_MODES)[number];

/** What the route table and the cluster adapter need: must agree with the operator's settings. */
export interface RoutingConfig {
  /** `host`: `{name}--{namespace}.{baseDomain}`; `path`: `/w/{namespace}/{name}/` (as the operator's `--routing`). */
  routing: "host" | "path";
  baseDomain: string;
  /** Dial `ws-{name}.{namespace}.svc.{clusterDomain}` when no EndpointSlice of the Service is seen. */
  serviceFallback: boolean;
  clusterDomain: string;
}

/** Limits and timeouts of the data path. */
export interface LimitsConfig {
  /** Largest request head (request line + headers); beyond it: 431. */
  maxHeaderBytes: number;
  /** Largest request body; beyond it: 413. 0: no limit. */
  maxBodyBytes: number;
  /** Time to receive a request's headers (slowloris cut-off). */
  headersTimeoutMs: number;
  /** Time to receive a whole request (headers and body). 0: none. */
  requestTimeoutMs: number;
  /** A client or upstream HTTP connection idle this long is closed. */
  idleTimeoutMs: number;
  /** A client's keep-alive connection with no request in flight is closed after this long. */
  keepAliveTimeoutMs: number;
  /** WebSocket keepalive ping interval (both sides); a side that missed a pong is dropped. */
  wsPingIntervalMs: number;
  /** Bytes queued toward one side of a WebSocket before the other side stops being read. */
  wsBufferBytes: number;
  /** SSE heartbeat interval. */
  sseHeartbeatMs: number;
  /** Wake (issue 15): how long a request to a waking or starting workspace waits for it; 0: answers at once. */
  wakeWaitMs: number;
}

/** Who may pass: the provider, sessions, admin roles and abuse limits (proxy/auth/). */
export interface IdentityConfig {
  /** The OpenID provider (`oidc`, `jwt`): its discovery document is read at start. */
  issuer?: string;
  clientId?: string;
  /** Never logged. */
  clientSecret?: string;
  /** A bearer token's `aud` must name one of these (default: the client id). */
  audiences: readonly string[];
  /** Asked for at login; `offline_access` only with --oidc-offline-access. */
  scopes: readonly string[];
  /** The proxy's public base URL (`oidc`): the login callback is `{publicUrl}/__portico/auth/callback`. */
  publicUrl?: string;
  /** A JWKS of 256-bit `oct` keys that seal sessions (the first seals, all open). */
  sessionKeysFile?: string;
  sessionTtlMs: number;
  /** The session cookie's Domain: the base domain in host routing, so every workspace host gets it. */
  cookieDomain?: string;
  adminRoles: readonly string[];
  clockSkewSeconds: number;
  /**
   * `trusted-headers`: if given, identity headers count only from these source ranges (CIDR) — an
   * extra restriction: a range alone proves nothing (every pod in it could send the headers).
   */
  trustedHeaderCidrs: readonly string[];
  /**
   * `trusted-headers` (required there): a file of shared secrets, one a line (any line matches, for
   * rotation); the gateway proves itself by sending one in `trustedHeaderSecretName`. Never logged.
   */
  trustedHeaderSecretFile?: string;
  /** The header (lower case) the gateway sends the secret in; removed before anything is forwarded. */
  trustedHeaderSecretName: string;
  rateLimit: {
    /** Requests per second per user and per client IP (token buckets); 0: no limit. Off with --auth=none. */
    perUser: number;
    perIp: number;
    burst: number;
    /** Open WebSockets and status streams per user. */
    maxConnectionsPerUser: number;
  };
}

export interface ProxyConfig {
  kubeconfig?: string;
  auth: AuthMode;
  identity: IdentityConfig;
  routingConfig: RoutingConfig;
  limits: LimitsConfig;
  host: string;
  port: number;
  healthHost: string;
  healthPort: number;
  /** The gateway's own session cookie: never forwarded to a workspace. */
  sessionCookie: string;
  /** CSP `frame-ancestors` sources sent with every proxied response (`'self'`, `'none'` or origins). */
  frameAncestors: string;
  /** Methods allowed through; anything else gets 405 (TRACE and CONNECT never pass). */
  allowedMethods: readonly string[];
  /**
   * Proxies in front of this one that append to X-Forwarded-For (proxy/http/client.ts): the client's
   * address is the entry this many places left of the TCP peer. 0: the TCP peer is the client.
   */
  trustedProxyHops: number;
  /** `trustedProxyHops > 0`: X-Forwarded-Proto/Host from the hops are kept rather than replaced. */
  trustForwarded: boolean;
  /** Namespace of the compatible paths `/api/v1/analysis/events/{ide}`. */
  compatNamespace: string;
  watchSilenceMs: number;
  logLevel: "error" | "warn" | "info" | "debug";
  /** Where GatewayRoute url backends may point (common/model/gateway/address.ts), checked again at connect. */
  gatewayUrlPolicy: UrlPolicySettings;
  /** The self-service API (proxy/api/). */
  api: ApiConfig;
  /** The console (proxy/console/, proxy/surfaces/console.ts). */
  console: ConsoleConfig;
  /** Activity reports and the in-workspace keep-alive (proxy/activity/; issue 15). */
  activity: ActivityConfig;
}

/** Activity reports and the in-workspace keep-alive listener (proxy/activity/). */
export interface ActivityConfig {
  /** A workspace's activity key is written when what was seen is this much newer (REPORT_INTERVAL_MS; tests shorten it). */
  reportIntervalMs: number;
  /** How often due reports are picked. */
  flushIntervalMs: number;
  /** Annotation writes per second at most (spread over each round). */
  writesPerSecond: number;
  /** The in-workspace keep-alive listener (`host:port`); undefined: off. */
  workspaceListen?: { host: string; port: number };
}

/** The console's settings. */
export interface ConsoleConfig {
  /** Serve the console (the app, its WebSockets and resource views) on the base domain. */
  enabled: boolean;
  /** The built app (npm run build:console): index.html and its assets. */
  assetsDir: string;
  /** Open /ws/watch sockets per user. */
  maxWatchesPerUser: number;
  /** Open /ws/logs sockets per user. */
  maxLogStreamsPerUser: number;
  /** Open /ws/shell sockets per user. */
  maxShellsPerUser: number;
  /** Subscriptions one /ws/watch socket may hold. */
  maxSubscriptions: number;
  /** Serve /api/cluster and /api/resources… (the proxy's RBAC must let it read those kinds). */
  resources: boolean;
  /** Secret values may be revealed (to users whom RBAC lets get secrets); false: keys only. */
  revealSecrets: boolean;
  /** Serve Secrets in the resource views (names, types, key names); always on with revealSecrets. */
  secrets: boolean;
  /**
   * Put before the user name and each group in the resource views' SubjectAccessReviews: the API
   * server's own `--oidc-username-prefix` / `--oidc-groups-prefix`, so the same RoleBindings serve
   * kubectl and the console. Empty: the names as the identity provider gives them.
   */
  rbacUserPrefix: string;
  rbacGroupPrefix: string;
  /** Serve /ws/shell (the proxy's RBAC must grant pods/exec create; needs --api). */
  shell: boolean;
}

/**
 * Every flag the proxy reads, in the order `--help` lists them, with what it does. The loader can read
 * no other (its key type), and `--help` prints this table with the defaults the loader uses.
 */
export const PROXY_FLAGS = {
  kubeconfig: {
    help: "Kubeconfig file for cluster access.",
    default: "KUBECONFIG, else the pod's service account",
  },
  auth: "oidc (browser login and bearer tokens), jwt (bearer tokens only), trusted-headers (a gateway in front proves itself with a shared secret), none (everyone is the demo user: local demos only).",
  routing:
    "host: {name}--{namespace}.{base-domain}; path: /w/{namespace}/{name}/ (one origin for all). Must match the operator's.",
  "base-domain": "DNS domain the proxy serves; workspace hosts are {name}--{namespace}.{base-domain}.",
  "service-fallback": "Dial the workspace Service's DNS name when no EndpointSlice of it is seen.",
  "cluster-domain": "The cluster's DNS domain (Service names of --service-fallback, url backends).",
  host: "Address of the data path.",
  port: "Port of the data path.",
  "health-host": "Address of /healthz, /readyz and /metrics.",
  "health-port": "Port of /healthz, /readyz and /metrics.",
  "session-cookie": "Name of the gateway's session cookie (never forwarded to a workspace).",
  "frame-ancestors": "CSP frame-ancestors sources sent with every proxied response (embedding).",
  "allowed-methods": "Methods allowed through (comma-separated); TRACE, CONNECT and TRACK never are.",
  "trust-forwarded": {
    help: "Older form of --trusted-proxy-hops: true is one hop (both given must agree).",
    default: "false",
  },
  "trusted-proxy-hops": "Proxies in front that append to X-Forwarded-For (0: the TCP peer is the client).",
  "compat-namespace": "Namespace of the compatible paths /api/v1/analysis/events/{ide}.",
  "max-header-bytes": "Largest request head; beyond it: 431.",
  "max-body-bytes": "Largest request body and WebSocket message; beyond it: 413 (0: no limit).",
  "headers-timeout": "Time to receive a request's headers.",
  "request-timeout": "Time to receive a whole request (0: none).",
  "idle-timeout": "A client or upstream connection idle this long is closed.",
  "keep-alive-timeout": "An idle keep-alive client connection is closed after this long.",
  "ws-ping-interval": "WebSocket keepalive ping interval; a side that missed a pong is dropped.",
  "ws-buffer-bytes": "Bytes queued toward one side of a WebSocket before the other side stops being read.",
  "sse-heartbeat": "Heartbeat interval of status streams (SSE).",
  "wake-wait":
    "Requests to a waking or starting workspace wait this long for it, then 503 (0s: answer at once).",
  "watch-silence": "A watch with no event for this long is restarted (relist).",
  "log-level": "Least severe level logged (info: access logs).",
  "oidc-issuer": "The OpenID provider (oidc, jwt); its discovery document is read at start.",
  "oidc-client-id": "The proxy's client id at the provider (oidc).",
  "oidc-client-secret": "The proxy's client secret (oidc); prefer the variable. Never logged.",
  "oidc-audiences": {
    help: "A bearer token's aud must name one of these (comma-separated).",
    default: "the client id",
  },
  "oidc-scopes":
    "Scopes asked for at login (openid is always added; offline_access only by --oidc-offline-access).",
  "oidc-offline-access":
    "Also ask for offline_access (a refresh token that outlives the provider's session).",
  "public-url":
    "The proxy's public base URL (oidc): the login callback is {public-url}/__portico/auth/callback.",
  "session-keys-file": {
    help: "A JWKS of 256-bit oct keys sealing sessions (the first seals, all open).",
    default: "keys generated at start",
  },
  "session-ttl": "A session's life, refreshes included.",
  "cookie-domain": { help: "The session cookie's Domain.", default: "the base domain with host routing" },
  "admin-roles": "Roles that may open every workspace (comma-separated).",
  "jwt-clock-skew": "Tolerance on exp, nbf and iat.",
  "trusted-header-cidrs":
    "With --auth=trusted-headers: sources whose identity headers count, besides the secret (comma-separated CIDRs).",
  "trusted-header-secret-file":
    "Required with --auth=trusted-headers: a file of the gateway's shared secrets, one a line. Never logged.",
  "trusted-header-secret-name": "The header the gateway sends its secret in; removed before forwarding.",
  "rate-limit-user": "Requests per second per user (token bucket; 0: off; off with --auth=none).",
  "rate-limit-ip": "Requests per second per client address (0: off; off with --auth=none).",
  "rate-limit-burst": "Burst of both rate limits.",
  "max-connections-per-user": "Open WebSockets and status streams per user.",
  "pod-cidrs":
    "The cluster's pod CIDRs (comma-separated): GatewayRoute url backends may not point into them.",
  "service-cidrs": "The cluster's service CIDRs (comma-separated), as --pod-cidrs.",
  "gateway-url-allow": "CIDRs and host names GatewayRoute url backends may reach anyway (comma-separated).",
  api: "Serve the self-service API (REST, GraphQL); false for a read-only proxy (its RBAC has no write verb).",
  "api-namespace":
    "Namespace of the workspaces a user creates through the API: a name, or a template with {user} (ws-{user}).",
  "api-max-workspaces": "Workspaces per user the API creates at most (0: no limit); a class may lower it.",
  "api-max-running":
    "Running workspaces per user (0: no limit); a class may lower it. Must equal the operator's.",
  "api-max-body-bytes": "Largest API request body; beyond it: 413.",
  "git-server-url": {
    help: "The git server workspaces are provisioned from: clone URLs are {url}/{owner}/{repo}.git.",
    default: "none: provisioning by repository is off",
  },
  "git-api-url": { help: "Its repository API (Gitea's shape).", default: "{git-server-url}/api/v1" },
  "git-secret": {
    help: "Secret (in the workspace's namespace) with clone credentials for provisioned workspaces.",
    default: "none: anonymous clone",
  },
  "git-class": "The WorkspaceClass provisioned workspaces run.",
  "graphql-max-depth": "Deepest selection a GraphQL query may make.",
  "graphql-max-cost": "Most fields a GraphQL query may select (aliases and fragments counted).",
  console:
    "Serve the console (dashboard, /ws/watch, /ws/logs, /ws/shell, resource views) on the base domain.",
  "console-dir": {
    help: "Directory of the built console app (npm run build:console).",
    default: "proxy/console/dist beside the code",
  },
  "console-max-watches": "Open /ws/watch sockets per user; beyond it: 429.",
  "console-max-log-streams": "Open /ws/logs sockets per user; beyond it: 429.",
  "console-max-shells": "Open /ws/shell sockets per user; beyond it: 429.",
  "console-max-subscriptions":
    "Subscriptions one /ws/watch socket may hold; beyond it: an error frame, then 1008.",
  "console-resources":
    "Serve /api/cluster and /api/resources (the proxy's RBAC must let it read those kinds; callers are checked by SubjectAccessReview).",
  "console-secrets":
    "Serve Secrets in the resource views (names, types and key names; the proxy's RBAC must let it read Secrets). On whenever --console-reveal-secrets is.",
  "console-reveal-secrets":
    "Let users whom RBAC allows `get secrets` reveal Secret values; false: keys only.",
  "console-rbac-user-prefix":
    "Put before user names in the resource views' SubjectAccessReviews (the API server's --oidc-username-prefix, e.g. oidc:).",
  "console-rbac-group-prefix":
    "Put before group names in the resource views' SubjectAccessReviews (the API server's --oidc-groups-prefix).",
  "console-shell":
    "Serve /ws/shell, a terminal in a workspace's IDE container for those who may manage it (the proxy's RBAC must grant pods/exec create; needs --api).",
  // Activity reports and the in-workspace keep-alive (issue 15, proxy/activity/).
  "activity-report-interval":
    "Tuning/test knob: a workspace's activity annotation is written when what this replica saw is this much newer (keep the default, 60s, in production).",
  "activity-flush-interval": "How often due activity reports are picked and written.",
  "activity-writes-per-second": "Activity annotation writes per second at most, per replica (spread evenly).",
  "workspace-listen": {
    help: "host:port of the in-workspace keep-alive listener (POST /keep-alive?duration=3h from a workspace's own pod address, no credentials).",
    default: "off",
  },
} as const satisfies FlagTable<string>;

/** How `portico-proxy --help` starts: both ways to run the binary. */
const PROXY_USAGE = `Usage: portico-proxy --auth=MODE [--flag=value ...]
       portico-proxy session-keys --namespace=NS --secret=NAME [--flag=value ...]  (see: portico-proxy session-keys --help)`;

const NEVER_ALLOWED = ["TRACE", "CONNECT", "TRACK"];
/** Headers the gateway secret may not travel in: each means something else on the way. */
const RESERVED_HEADERS = [
  "authorization",
  "proxy-authorization",
  "cookie",
  "host",
  "x-forwarded-user",
  "x-forwarded-email",
  "x-forwarded-groups",
  "x-forwarded-for",
  "x-forwarded-proto",
  "x-forwarded-host",
  "x-forwarded-prefix",
];

type Key = keyof typeof PROXY_FLAGS;
type Reader = SettingsReader<Key>;

/**
 * Builds the configuration from flags and environment. Throws ConfigError naming the flag and the
 * environment variable to set, for every problem found (not just the first).
 */
export function loadConfig(argv: readonly string[], env: Source): Readonly<ProxyConfig> {
  const r = settingsReader(argv, env, PROXY_FLAGS);
  const { raw, str, int, dur, oneOf } = r;
  // Problems are reported in the order the settings are read: the sections below keep that order.
  // Auth is explicit: running open must be a decision, not a default.
  const auth = oneOf("auth", undefined, AUTH_MODES);
  const provider = readProvider(r, auth);
  const trustedProxyHops = readTrustedProxyHops(r);
  const allowedMethods = readAllowedMethods(r);
  const frameAncestors = readFrameAncestors(r);
  const urlAllow = readUrlAllow(r);
  const config: ProxyConfig = {
    kubeconfig: raw("kubeconfig") ?? env.KUBECONFIG,
    auth,
    identity: readIdentity(r, provider),
    routingConfig: readRouting(r),
    limits: readLimits(r),
    host: str("host", "0.0.0.0", /^\S+$/, "an address"),
    port: int("port", 8080, 0, 65535),
    healthHost: str("health-host", "0.0.0.0", /^\S+$/, "an address"),
    healthPort: int("health-port", 8082, 0, 65535),
    sessionCookie: str("session-cookie", "portico_session", /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, "a cookie name"),
    frameAncestors,
    allowedMethods,
    trustedProxyHops,
    trustForwarded: trustedProxyHops > 0,
    compatNamespace: str("compat-namespace", "default", DNS_LABEL, "a namespace name"),
    watchSilenceMs: dur("watch-silence", 5 * 60_000),
    logLevel: oneOf("log-level", "info", ["error", "warn", "info", "debug"] as const),
    gatewayUrlPolicy: readGatewayUrlPolicy(r, urlAllow),
    api: readApi(r),
    console: readConsole(r),
    activity: readActivity(r),
  };
  config.gatewayUrlPolicy.clusterDomain = config.routingConfig.clusterDomain;
  if (config.limits.headersTimeoutMs > config.limits.requestTimeoutMs && config.limits.requestTimeoutMs > 0)
    r.problems.push(`--headers-timeout must not exceed --request-timeout`);
  // Host routing puts every workspace on its own subdomain: the session cookie must reach them all.
  if (!config.identity.cookieDomain && config.routingConfig.routing === "host")
    config.identity.cookieDomain = config.routingConfig.baseDomain;
  r.finish("portico-proxy", PROXY_USAGE);
  return deepFreeze(config);
}

/** A SubjectAccessReview name prefix: no spaces, and never into Kubernetes' reserved `system:`. */
const RBAC_PREFIX = /^(?!system:)\S{0,64}$/;

/** The console's section. */
function readConsole(r: Reader): ConsoleConfig {
  const { raw, str, int, bool } = r;
  const revealSecrets = bool("console-reveal-secrets", false);
  return {
    enabled: bool("console", true),
    assetsDir: raw("console-dir") ?? fileURLToPath(new URL("./console/dist", import.meta.url)),
    maxWatchesPerUser: int("console-max-watches", 8, 1, 1000),
    maxLogStreamsPerUser: int("console-max-log-streams", 8, 1, 1000),
    maxShellsPerUser: int("console-max-shells", 4, 1, 1000),
    maxSubscriptions: int("console-max-subscriptions", 32, 1, 1000),
    resources: bool("console-resources", false),
    revealSecrets,
    shell: bool("console-shell", true),
    // Revealing values needs the Secrets read anyway: reveal implies serving them.
    secrets: bool("console-secrets", false) || revealSecrets,
    // Kubernetes reserves system: for its own identities: a prefix may not lead into them.
    rbacUserPrefix: str("console-rbac-user-prefix", "", RBAC_PREFIX, "a prefix without spaces, not system:"),
    rbacGroupPrefix: str(
      "console-rbac-group-prefix",
      "",
      RBAC_PREFIX,
      "a prefix without spaces, not system:",
    ),
  };
}

/** Activity reports and the in-workspace keep-alive listener (issue 15). */
function readActivity(r: Reader): ActivityConfig {
  const listen = r.str("workspace-listen", "", /^(|\S+:\d{1,5})$/, "host:port, or empty for off");
  const at = listen.lastIndexOf(":");
  const out: ActivityConfig = {
    reportIntervalMs: r.dur("activity-report-interval", 60_000),
    flushIntervalMs: r.dur("activity-flush-interval", 5000),
    writesPerSecond: r.int("activity-writes-per-second", 20, 1, 10_000),
  };
  if (listen)
    out.workspaceListen = {
      host: listen.slice(0, at).replace(/^\[|\]$/g, ""),
      port: Number(listen.slice(at + 1)),
    };
  if (out.reportIntervalMs < 1000) r.problems.push("--activity-report-interval must be at least 1s");
  if (out.flushIntervalMs < 100) r.problems.push("--activity-flush-interval must be at least 100ms");
  return out;
}

/** The self-service API's section (proxy/api/types.ts). */
function readApi(r: Reader): ApiConfig {
  const { raw, str, int, bytes, bool } = r;
  const namespace = str(
    "api-namespace",
    "default",
    /^(?=.{1,63}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?$|^[a-z0-9-]*\{user\}[a-z0-9-]*$/,
    "a namespace name or a template like ws-{user}",
  );
  const base = httpUrl(r, "git-server-url");
  const className = str("git-class", "vscode", DNS_LABEL, "a WorkspaceClass name");
  const api = httpUrl(r, "git-api-url");
  const secretName = raw("git-secret") ? str("git-secret", "", DOMAIN, "a Secret name") : undefined;
  return {
    enabled: bool("api", true),
    namespace,
    maxWorkspacesPerUser: int("api-max-workspaces", 0, 0, 100_000),
    maxRunningPerUser: int("api-max-running", 0, 0, 100_000),
    maxBodyBytes: bytes("api-max-body-bytes", 64 * 1024),
    ...(base
      ? {
          git: {
            base,
            api: api ?? `${base}/api/v1`,
            ...(secretName ? { secretName } : {}),
            className,
          },
        }
      : {}),
    graphql: {
      maxDepth: int("graphql-max-depth", 8, 1, 100),
      maxCost: int("graphql-max-cost", 500, 1, 1_000_000),
    },
  };
}

/** A comma-separated list setting: entries trimmed, empty ones dropped. */
function list(r: Reader, k: Key, def: string): string[] {
  return r
    .raw(k, def)
    .split(",")
    .map((x) => x.trim())
    .filter(Boolean);
}

/** An http(s) URL setting without its trailing slash; anything else is a problem. */
function httpUrl(r: Reader, k: Key): string | undefined {
  const v = r.raw(k);
  if (v === undefined) return undefined;
  try {
    const u = new URL(v);
    if (u.protocol !== "http:" && u.protocol !== "https:") throw new Error("scheme");
    return v.replace(/\/$/, "");
  } catch {
    r.problems.push(`${r.where(k)}: ${JSON.stringify(v)} is not an http(s) URL`);
    return undefined;
  }
}

/** The provider and the gateway secret as read, before the identity section is put together. */
interface ProviderSettings {
  issuer: string | undefined;
  clientId: string | undefined;
  clientSecret: string | undefined;
  scopes: string[];
  publicUrl: string | undefined;
  trustedHeaderCidrs: string[];
  secretFile: string | undefined;
  secretName: string;
}

/** What each auth mode needs from the provider and the gateway secret, each missing piece a problem. */
function readProvider(r: Reader, auth: AuthMode): ProviderSettings {
  const { problems, raw, where } = r;
  const need = (k: Key, v: unknown) => {
    if (v === undefined || v === "") problems.push(`${where(k)} must be given with --auth=${auth}`);
  };
  const issuer = httpUrl(r, "oidc-issuer");
  const scopes = readScopes(r);
  const clientId = raw("oidc-client-id");
  const clientSecret = raw("oidc-client-secret");
  const publicUrl = httpUrl(r, "public-url");
  const trustedHeaderCidrs = readTrustedHeaderCidrs(r);
  if (auth === "oidc") {
    need("oidc-issuer", issuer);
    need("oidc-client-id", clientId);
    need("oidc-client-secret", clientSecret);
    need("public-url", publicUrl);
  }
  if (auth === "jwt") {
    need("oidc-issuer", issuer);
    if (!raw("oidc-audiences") && !clientId)
      problems.push(`${where("oidc-audiences")} (or --oidc-client-id) must be given with --auth=jwt`);
  }
  const secretFile = raw("trusted-header-secret-file");
  const secretName = readSecretName(r);
  if (auth === "trusted-headers" && !secretFile)
    problems.push(
      `${where("trusted-header-secret-file")} must be given with --auth=trusted-headers: a file holding the secret your gateway sends in ${secretName}. A source range (--trusted-header-cidrs) alone proves nothing: every pod in it could send X-Forwarded-User`,
    );
  return { issuer, clientId, clientSecret, scopes, publicUrl, trustedHeaderCidrs, secretFile, secretName };
}

/** The scopes asked for at login: always `openid`; `offline_access` only through its own flag. */
function readScopes(r: Reader): string[] {
  // offline_access (a refresh token that outlives the provider's session) only when asked for.
  const scopes = list(r, "oidc-scopes", "openid,profile,email,groups");
  if (scopes.includes("offline_access"))
    r.problems.push(
      `${r.where("oidc-scopes")}: offline_access is asked for with --oidc-offline-access=true (PORTICO_OIDC_OFFLINE_ACCESS), not in the scope list`,
    );
  if (r.bool("oidc-offline-access", false)) scopes.push("offline_access");
  if (!scopes.includes("openid")) scopes.unshift("openid");
  return scopes;
}

/** `trusted-headers`: the source ranges identity headers may come from (none given: any). */
function readTrustedHeaderCidrs(r: Reader): string[] {
  const cidrs = list(r, "trusted-header-cidrs", "");
  for (const c of cidrs)
    if (!/^[0-9a-fA-F.:]+\/\d{1,3}$/.test(c))
      r.problems.push(
        `${r.where("trusted-header-cidrs")}: ${JSON.stringify(c)} is not a CIDR range like 10.0.0.0/8`,
      );
  return cidrs;
}

/** The header the gateway secret travels in (lower case): a name of its own, never a reserved one. */
function readSecretName(r: Reader): string {
  const secretName = r
    .str(
      "trusted-header-secret-name",
      GATEWAY_SECRET_HEADER,
      /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/,
      "a header name",
    )
    .toLowerCase();
  if (RESERVED_HEADERS.includes(secretName))
    r.problems.push(
      `${r.where("trusted-header-secret-name")}: ${secretName} is a header with its own meaning; pick one of your own like ${GATEWAY_SECRET_HEADER}`,
    );
  return secretName;
}

/** Proxies in front that append to X-Forwarded-For; the older `--trust-forwarded` is one hop. */
function readTrustedProxyHops(r: Reader): number {
  const { raw, where, bool, int } = r;
  // --trust-forwarded (a boolean, older) is one trusted hop; both given must agree.
  const trustForwardedFlag =
    raw("trust-forwarded") === undefined ? undefined : bool("trust-forwarded", false);
  const hopsGiven = raw("trusted-proxy-hops") !== undefined;
  const trustedProxyHops = int("trusted-proxy-hops", trustForwardedFlag ? 1 : 0, 0, 16);
  if (hopsGiven && trustForwardedFlag !== undefined && trustForwardedFlag !== trustedProxyHops > 0)
    r.problems.push(
      `${where("trust-forwarded")} contradicts ${where("trusted-proxy-hops")}: give only --trusted-proxy-hops (the number of proxies in front that append to X-Forwarded-For)`,
    );
  return trustedProxyHops;
}

/** Methods allowed through, upper case; TRACE, CONNECT and TRACK never are. */
function readAllowedMethods(r: Reader): readonly string[] {
  const methods = r
    .raw("allowed-methods", "GET,HEAD,POST,PUT,PATCH,DELETE,OPTIONS")
    .split(",")
    .map((m) => m.trim().toUpperCase())
    .filter(Boolean);
  for (const m of methods) {
    if (!/^[A-Z]+$/.test(m))
      r.problems.push(`${r.where("allowed-methods")}: ${JSON.stringify(m)} is not a method`);
    if (NEVER_ALLOWED.includes(m))
      r.problems.push(`${r.where("allowed-methods")}: ${m} is never allowed through the proxy`);
  }
  return Object.freeze(methods);
}

/** The CSP `frame-ancestors` source list: one directive's worth, nothing that could start another. */
function readFrameAncestors(r: Reader): string {
  const frameAncestors = r.raw("frame-ancestors", "'self'");
  if (!/^[^;,\r\n]+$/.test(frameAncestors))
    r.problems.push(
      `${r.where("frame-ancestors")}: ${JSON.stringify(frameAncestors)} is not a CSP source list like 'self' https://portal.example.com`,
    );
  return frameAncestors;
}

/** Where GatewayRoute url backends may point besides the public internet: CIDRs or host names. */
function readUrlAllow(r: Reader): string[] {
  const urlAllow = list(r, "gateway-url-allow", "");
  for (const a of urlAllow)
    if (a.includes("/") ? !parseCidr(a) : !/^(\*\.)?[a-z0-9]([-a-z0-9.]*[a-z0-9])?$|^[0-9a-f:.]+$/i.test(a))
      r.problems.push(
        `${r.where("gateway-url-allow")}: ${JSON.stringify(a)} is neither a CIDR nor a host name`,
      );
  return urlAllow;
}

/** The identity section: the provider as read, sessions, admin roles and abuse limits. */
function readIdentity(r: Reader, p: ProviderSettings): IdentityConfig {
  const { raw, str, int, dur } = r;
  return {
    ...(p.issuer ? { issuer: p.issuer } : {}),
    ...(p.clientId ? { clientId: p.clientId } : {}),
    ...(p.clientSecret ? { clientSecret: p.clientSecret } : {}),
    audiences: list(r, "oidc-audiences", p.clientId ?? ""),
    scopes: p.scopes,
    ...(p.publicUrl ? { publicUrl: p.publicUrl } : {}),
    ...(raw("session-keys-file") ? { sessionKeysFile: raw("session-keys-file") } : {}),
    sessionTtlMs: dur("session-ttl", 8 * 3_600_000),
    ...(raw("cookie-domain") ? { cookieDomain: str("cookie-domain", "", DOMAIN, "a DNS domain") } : {}),
    adminRoles: list(r, "admin-roles", "portico-admin"),
    clockSkewSeconds: dur("jwt-clock-skew", 30_000, true) / 1000,
    trustedHeaderCidrs: p.trustedHeaderCidrs,
    ...(p.secretFile ? { trustedHeaderSecretFile: p.secretFile } : {}),
    trustedHeaderSecretName: p.secretName,
    rateLimit: {
      perUser: int("rate-limit-user", 100, 0, 1_000_000),
      perIp: int("rate-limit-ip", 200, 0, 1_000_000),
      burst: int("rate-limit-burst", 200, 1, 1_000_000),
      maxConnectionsPerUser: int("max-connections-per-user", 256, 1, 1_000_000),
    },
  };
}

/** The routing section: must agree with the operator's settings. */
function readRouting(r: Reader): RoutingConfig {
  return {
    routing: r.oneOf("routing", "host", ["host", "path"] as const),
    baseDomain: r.str("base-domain", "portico.test", DOMAIN, "a DNS domain like portico.example.com"),
    serviceFallback: r.bool("service-fallback", true),
    clusterDomain: r.str("cluster-domain", "cluster.local", DOMAIN, "a DNS domain like cluster.local"),
  };
}

/** The limits and timeouts of the data path. */
function readLimits(r: Reader): LimitsConfig {
  const { dur, bytes } = r;
  return {
    maxHeaderBytes: bytes("max-header-bytes", 16 * 1024),
    maxBodyBytes: bytes("max-body-bytes", 256 * 1024 * 1024),
    headersTimeoutMs: dur("headers-timeout", 10_000),
    requestTimeoutMs: dur("request-timeout", 5 * 60_000, true),
    idleTimeoutMs: dur("idle-timeout", 5 * 60_000),
    keepAliveTimeoutMs: dur("keep-alive-timeout", 5_000),
    wsPingIntervalMs: dur("ws-ping-interval", 30_000),
    wsBufferBytes: bytes("ws-buffer-bytes", 1024 * 1024),
    sseHeartbeatMs: dur("sse-heartbeat", 15_000),
    wakeWaitMs: dur("wake-wait", 60_000, true),
  };
}

/**
 * Where url backends may point: the cluster's networks (as the operator's flags; defaults: kubeadm's)
 * and the allow-list. `clusterDomain` is filled in from the routing section.
 */
function readGatewayUrlPolicy(r: Reader, allow: string[]): UrlPolicySettings {
  const cidrs = (k: Key, def: string) => {
    const out = list(r, k, def);
    for (const c of out)
      if (!c.includes("/") || !parseCidr(c))
        r.problems.push(`${r.where(k)}: ${JSON.stringify(c)} is not a CIDR range like 10.244.0.0/16`);
    return Object.freeze(out);
  };
  return {
    podCidrs: cidrs("pod-cidrs", "10.244.0.0/16"),
    serviceCidrs: cidrs("service-cidrs", "10.96.0.0/12"),
    clusterDomain: "",
    allow: Object.freeze(allow),
  };
}

/** `portico-proxy session-keys`: where the session-keys Secret goes (proxy/auth/session-keys.ts). */
export interface SessionKeysConfig {
  kubeconfig?: string;
  namespace: string;
  secret: string;
  key: string;
  labels: Readonly<Record<string, string>>;
}

/** Every flag of `portico-proxy session-keys`, as PROXY_FLAGS for the server. */
export const SESSION_KEYS_FLAGS = {
  kubeconfig: {
    help: "Kubeconfig file for cluster access.",
    default: "KUBECONFIG, else the pod's service account",
  },
  namespace: { help: "Namespace of the session-keys Secret.", required: true },
  secret: { help: "Name of the session-keys Secret.", required: true },
  key: "The JWKS's key in the Secret.",
  labels: "Labels (k=v,...) on a Secret it creates.",
} as const satisfies FlagTable<string>;

/** The `session-keys` subcommand's settings (flags after the subcommand, or PORTICO_* variables). */
export function loadSessionKeysConfig(argv: readonly string[], env: Source): Readonly<SessionKeysConfig> {
  const r = settingsReader(argv, env, SESSION_KEYS_FLAGS);
  const { problems, raw, where, str } = r;
  const labels: Record<string, string> = {};
  for (const pair of (raw("labels") ?? "").split(",").filter(Boolean)) {
    const m = /^([A-Za-z0-9./_-]+)=([A-Za-z0-9._-]*)$/.exec(pair.trim());
    if (!m) problems.push(`${where("labels")}: ${JSON.stringify(pair)} is not key=value`);
    else labels[m[1]!] = m[2]!;
  }
  if (raw("namespace") === undefined) problems.push(`${where("namespace")} must be given`);
  if (raw("secret") === undefined) problems.push(`${where("secret")} must be given`);
  const config: SessionKeysConfig = {
    kubeconfig: raw("kubeconfig"),
    namespace: str("namespace", "", DNS_LABEL, "a namespace name"),
    secret: str("secret", "", DOMAIN, "a Secret name"),
    key: str("key", "session-keys.json", /^[-._a-zA-Z0-9]{1,253}$/, "a Secret key"),
    labels,
  };
  r.finish(
    "portico-proxy session-keys",
    "Usage: portico-proxy session-keys --namespace=NS --secret=NAME [--flag=value ...]\n" +
      "Makes the session-keys Secret if it is absent, never replaces it. Exit 0: created, kept or adopted; 1: a Secret is there without usable keys (left alone); 2: bad flags.",
  );
  return deepFreeze(config);
}
