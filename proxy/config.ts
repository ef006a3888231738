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
  deepFreeze,
  DNS_LABEL,
  DOMAIN,
  parseBytes,
  settingsReader,
  type Source,
} from "../operator/settings.ts";

export { ConfigError, parseBytes };

/** Authentication modes. Only `none` exists until the identity issue lands. */
export const AUTH_MODES = ["none", "oidc", "jwt", "trusted-headers"] as const;
export type AuthMode = (typeof AUTH_MODES)[number];

/** What the route table and the cluster adapter need: must agree with the operator's settings. */
export interface RoutingConfig {
  /** `host`: `{name}--{namespace}.{baseDomain}`; `path`: `/w/{namespace}/{name}/` (as the operator's `--routing`). */
  routing: "host" | "path";
  baseDomain: string;
  /** Dial `ws-{name}.{namespace}.svc.{clusterDomain}` when no EndpointSlice endpoint is ready. */
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
  /** SSE heartbeat interval. */
  sseHeartbeatMs: number;
}

export interface ProxyConfig {
  kubeconfig?: string;
  auth: AuthMode;
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
  /** Trust an incoming X-Forwarded-For/Proto (behind a load balancer): append rather than replace. */
  trustForwarded: boolean;
  /** Namespace of the compatible paths `/api/v1/analysis/events/{ide}`. */
  compatNamespace: string;
  watchSilenceMs: number;
  logLevel: "error" | "warn" | "info" | "debug";
}

const KNOWN = [
  "kubeconfig",
  "auth",
  "routing",
  "base-domain",
  "service-fallback",
  "cluster-domain",
  "host",
  "port",
  "health-host",
  "health-port",
  "session-cookie",
  "frame-ancestors",
  "allowed-methods",
  "trust-forwarded",
  "compat-namespace",
  "max-header-bytes",
  "max-body-bytes",
  "headers-timeout",
  "request-timeout",
  "idle-timeout",
  "keep-alive-timeout",
  "ws-ping-interval",
  "sse-heartbeat",
  "watch-silence",
  "log-level",
] as const;

const NEVER_ALLOWED = ["TRACE", "CONNECT", "TRACK"];

/**
 * Builds the configuration from flags and environment. Throws ConfigError naming the flag and the
 * environment variable to set, for every problem found (not just the first).
 */
export function loadConfig(argv: readonly string[], env: Source): Readonly<ProxyConfig> {
  const r = settingsReader(argv, env, KNOWN);
  const { problems, raw, where, str, int, dur, bytes, bool, oneOf } = r;

  // Auth is explicit: running open must be a decision, not a default.
  const auth = oneOf("auth", undefined, AUTH_MODES);
  if (auth !== "none" && (AUTH_MODES as readonly string[]).includes(auth))
    problems.push(
      `${where("auth")}: ${JSON.stringify(auth)} is not implemented yet (identity issue); only "none" runs today`,
    );

  const methods = (raw("allowed-methods") ?? "GET,HEAD,POST,PUT,PATCH,DELETE,OPTIONS")
    .split(",")
    .map((m) => m.trim().toUpperCase())
    .filter(Boolean);
  for (const m of methods) {
    if (!/^[A-Z]+$/.test(m))
      problems.push(`${where("allowed-methods")}: ${JSON.stringify(m)} is not a method`);
    if (NEVER_ALLOWED.includes(m))
      problems.push(`${where("allowed-methods")}: ${m} is never allowed through the proxy`);
  }

  const frameAncestors = raw("frame-ancestors") ?? "'self'";
  if (!/^[^;,\r\n]+$/.test(frameAncestors))
    problems.push(
      `${where("frame-ancestors")}: ${JSON.stringify(frameAncestors)} is not a CSP source list like 'self' https://portal.example.com`,
    );

  const config: ProxyConfig = {
    kubeconfig: raw("kubeconfig") ?? env.KUBECONFIG,
    auth,
    routingConfig: {
      routing: oneOf("routing", "host", ["host", "path"] as const),
      baseDomain: str("base-domain", "portico.test", DOMAIN, "a DNS domain like portico.example.com"),
      serviceFallback: bool("service-fallback", true),
      clusterDomain: str("cluster-domain", "cluster.local", DOMAIN, "a DNS domain like cluster.local"),
    },
    limits: {
      maxHeaderBytes: bytes("max-header-bytes", 16 * 1024),
      maxBodyBytes: bytes("max-body-bytes", 256 * 1024 * 1024),
      headersTimeoutMs: dur("headers-timeout", 10_000),
      requestTimeoutMs: dur("request-timeout", 5 * 60_000, true),
      idleTimeoutMs: dur("idle-timeout", 5 * 60_000),
      keepAliveTimeoutMs: dur("keep-alive-timeout", 5_000),
      wsPingIntervalMs: dur("ws-ping-interval", 30_000),
      sseHeartbeatMs: dur("sse-heartbeat", 15_000),
    },
    host: str("host", "0.0.0.0", /^\S+$/, "an address"),
    port: int("port", 8080, 0, 65535),
    healthHost: str("health-host", "0.0.0.0", /^\S+$/, "an address"),
    healthPort: int("health-port", 8082, 0, 65535),
    sessionCookie: str("session-cookie", "portico_session", /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, "a cookie name"),
    frameAncestors,
    allowedMethods: Object.freeze(methods),
    trustForwarded: bool("trust-forwarded", false),
    compatNamespace: str("compat-namespace", "default", DNS_LABEL, "a namespace name"),
    watchSilenceMs: dur("watch-silence", 5 * 60_000),
    logLevel: oneOf("log-level", "info", ["error", "warn", "info", "debug"] as const),
  };
  if (config.limits.headersTimeoutMs > config.limits.requestTimeoutMs && config.limits.requestTimeoutMs > 0)
    problems.push(`--headers-timeout must not exceed --request-timeout`);
  r.finish("portico-proxy");
  return deepFreeze(config);
}
