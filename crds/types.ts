/**
 * TypeScript shapes of the Portico API (group `portico.dev`, version `v1alpha1`).
 *
 * The CRD YAML files beside this one are the source of truth; these types follow them field by field, and
 * `crds.test.ts` proves they agree (every schema field is in a fully populated typed sample and back, and
 * every schema enum equals the matching `as const` list here). Optional here means optional in the schema;
 * fields with a schema default are still optional because a client may leave them out, though objects read
 * back from the API server always carry them.
 */

/** API group of every Portico kind. */
export const GROUP = "portico.dev";
/** The one served (and stored) version. */
export const VERSION = "v1alpha1";
/** `apiVersion` of every Portico object. */
export const API_VERSION = `${GROUP}/${VERSION}` as const;

/** Names the API server knows a kind by: kind, plural resource name, and whether it is namespaced. */
export interface KindNames {
  readonly kind: string;
  readonly plural: string;
  readonly singular: string;
  readonly shortName: string;
  readonly namespaced: boolean;
}

/** Workspace: one user's IDE (namespaced). */
export const WORKSPACE = {
  kind: "Workspace",
  plural: "workspaces",
  singular: "workspace",
  shortName: "ws",
  namespaced: true,
} as const satisfies KindNames;

/** WorkspaceClass: how to run one kind of IDE (cluster-scoped). */
export const WORKSPACE_CLASS = {
  kind: "WorkspaceClass",
  plural: "workspaceclasses",
  singular: "workspaceclass",
  shortName: "wsc",
  namespaced: false,
} as const satisfies KindNames;

/** GatewayRoute: a generic gateway route (namespaced). */
export const GATEWAY_ROUTE = {
  kind: "GatewayRoute",
  plural: "gatewayroutes",
  singular: "gatewayroute",
  shortName: "gwr",
  namespaced: true,
} as const satisfies KindNames;

/** The three kinds, for code that treats them alike (tests, installers). */
export const KINDS = [WORKSPACE, WORKSPACE_CLASS, GATEWAY_ROUTE] as const;

/** The `kubectl get portico` category every kind belongs to. */
export const CATEGORY = "portico";

// ---------------------------------------------------------------------------------------------------------
// Shared shapes

/**
 * A Kubernetes resource quantity (`10Gi`, `500m`, `2`), as a string or a plain integer, like in a Pod's
 * resources. Never negative.
 */
export type Quantity = string | number;

/**
 * A Go-style duration: one or more `<number><unit>` with unit `ms`, `s`, `m` or `h` (`30m`, `1h30m`,
 * `1.5s`); never negative.
 */
export type Duration = string;

/** The part of `metadata` Portico reads and writes; the API server adds the rest. */
export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  // Strings in JSON as the API server sends them; Dates where client-node's typed deserializer ran.
  creationTimestamp?: string | Date;
  deletionTimestamp?: string | Date;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  ownerReferences?: {
    apiVersion: string;
    kind: string;
    name: string;
    uid: string;
    controller?: boolean;
    blockOwnerDeletion?: boolean;
  }[];
}

/** Values of a condition's `status`. */
export const CONDITION_STATUSES = ["True", "False", "Unknown"] as const;
/** A condition's `status`. */
export type ConditionStatus = (typeof CONDITION_STATUSES)[number];

/** The standard `metav1.Condition` shape. */
export interface Condition {
  /** CamelCase type, one condition per type. */
  type: string;
  status: ConditionStatus;
  /** The `metadata.generation` the condition was computed from. */
  observedGeneration?: number;
  /** RFC 3339 time of the last status change. */
  lastTransitionTime: string;
  /** CamelCase machine-readable reason. */
  reason: string;
  /** Human-readable detail; may be empty. */
  message: string;
}

/** Minimum and maximum compute resources, keyed by resource name (`cpu`, `memory`, ...). */
export interface ResourceRequirements {
  requests?: Record<string, Quantity>;
  limits?: Record<string, Quantity>;
}

/** A header name and value, as in `set`/`add` lists. */
export interface HTTPHeader {
  name: string;
  value: string;
}

// ---------------------------------------------------------------------------------------------------------
// Workspace

/** Values of `Workspace.status.phase`. */
export const WORKSPACE_PHASES = ["Pending", "Starting", "Running", "Stopping", "Stopped", "Failed"] as const;
/** Where a workspace is in its lifecycle. */
export type WorkspacePhase = (typeof WORKSPACE_PHASES)[number];

/** Values of `Workspace.spec.storage.reclaimPolicy`. */
export const RECLAIM_POLICIES = ["Retain", "Delete"] as const;
/** What happens to a workspace's volume when the workspace is deleted. */
export type ReclaimPolicy = (typeof RECLAIM_POLICIES)[number];

/** Values of `Workspace.spec.storage.scope`. */
export const STORAGE_SCOPES = ["workspace", "user"] as const;
/** Whether a volume belongs to one workspace or is shared by all of its owner's workspaces. */
export type StorageScope = (typeof STORAGE_SCOPES)[number];

/**
 * Condition types the operator sets on a Workspace. Not an enum in the schema (conditions stay open to
 * extension); listed so the operator and the proxy spell them alike.
 */
export const WORKSPACE_CONDITION_TYPES = ["Ready", "StorageReady", "PodReady", "Routed", "Synced"] as const;
/** A condition type the operator sets on a Workspace. */
export type WorkspaceConditionType = (typeof WORKSPACE_CONDITION_TYPES)[number];

/** A git repository cloned into the workspace before the IDE starts. */
export interface WorkspaceRepository {
  /** https://, http://, ssh://, git:// or scp-like `git@host:path`, without credentials. */
  url: string;
  /** Branch, tag or commit; the remote's default branch when absent. */
  ref?: string;
  /** Secret with clone credentials, in the workspace's namespace. */
  secretRef?: { name: string };
}

/** The workspace's persistent volume. */
export interface WorkspaceStorage {
  /** Volume size; may grow, never shrink. The class's size when absent. */
  size?: Quantity;
  /** Immutable once set. */
  storageClassName?: string;
  /** Default `Retain`. */
  reclaimPolicy?: ReclaimPolicy;
  /** Default `workspace`. Immutable. */
  scope?: StorageScope;
}

/** People besides the owner who may open the workspace. */
export interface WorkspaceSharing {
  users?: string[];
  groups?: string[];
}

/** What the user asked for; the operator never rewrites it. */
export interface WorkspaceSpec {
  /** The owning user; immutable. */
  owner: string;
  /** The WorkspaceClass to run; this or `ide` is required. */
  className?: string;
  /** Seed-compatible alias of `className`. */
  ide?: string;
  /** Image to run instead of the class's. */
  image?: string;
  /** Default true; false stops the workspace and keeps its storage. */
  running?: boolean;
  repository?: WorkspaceRepository;
  /** Defaulted to `{}` so the nested defaults always apply. */
  storage?: WorkspaceStorage;
  resources?: ResourceRequirements;
  /** Stop after this long without activity; `0s` never. The class's default when absent. */
  idleTimeout?: Duration;
  sharedWith?: WorkspaceSharing;
}

/** Names of the objects the operator manages for a workspace. */
export interface WorkspaceChildren {
  pvc?: string;
  pod?: string;
  service?: string;
  virtualService?: string;
  networkPolicy?: string;
}

/** Values of `Workspace.status.sync.state`. */
export const SYNC_STATES = ["Pending", "Running", "Succeeded", "Failed"] as const;
/** Where a repository sync is. */
export type SyncState = (typeof SYNC_STATES)[number];

/**
 * The last repository sync asked for with the `portico.dev/sync-requested` annotation: upstream merged
 * into the running workspace's clone without discarding local changes.
 */
export interface WorkspaceSync {
  /** The annotation's value (an opaque request id) this sync answers. */
  requested: string;
  state: SyncState;
  /** The commit the checked-out branch is at after the sync. */
  commit?: string;
  /** Files changed both locally and upstream whose local version was kept. */
  conflicts?: string[];
  message?: string;
  /** RFC 3339 time the sync finished (Succeeded or Failed). */
  finishedAt?: string;
}

/** What the operator observed about a workspace. */
export interface WorkspaceStatus {
  observedGeneration?: number;
  phase?: WorkspacePhase;
  /** The class in use, resolved from `className` or `ide`. */
  className?: string;
  conditions?: Condition[];
  /** Where the browser reaches the IDE. */
  url?: string;
  children?: WorkspaceChildren;
  /** RFC 3339: the newest of every activity signal in `activity` (the idle timeout counts from here). */
  lastActivity?: string;
  /** Each activity signal's newest time, as the operator last folded them in. */
  activity?: WorkspaceActivity;
  /** RFC 3339 time the operator stops the workspace for idleness unless there is activity; absent: it never will (no timeout, or not running). */
  stopsAt?: string;
  message?: string;
  /** The last repository sync. */
  sync?: WorkspaceSync;
}

/** The newest time of each activity signal (RFC 3339); absent: never seen. */
export interface WorkspaceActivity {
  /** User HTTP requests and client-to-IDE WebSocket data through the proxy. */
  proxy?: string;
  /** Console terminals and log streams open on the workspace. */
  console?: string;
  /** The IDE's own probe (the class's `idle.probe`): its last activity, or the last poll that found it busy. */
  ide?: string;
  /** An explicit keep-alive: no idle stop before this time. */
  keepAliveUntil?: string;
}

/** One user's browser IDE. */
export interface Workspace {
  apiVersion: typeof API_VERSION;
  kind: typeof WORKSPACE.kind;
  metadata: ObjectMeta;
  spec: WorkspaceSpec;
  status?: WorkspaceStatus;
}

// ---------------------------------------------------------------------------------------------------------
// WorkspaceClass

/** Values of `WorkspaceClass.spec.imagePullPolicy`. */
export const IMAGE_PULL_POLICIES = ["Always", "IfNotPresent", "Never"] as const;
/** When the kubelet pulls the IDE image. */
export type ImagePullPolicy = (typeof IMAGE_PULL_POLICIES)[number];

/** An environment variable for the IDE container; `value` may contain `{prefix}`. */
export interface EnvVar {
  name: string;
  value?: string;
}

/** Default storage for workspaces of a class. */
export interface WorkspaceClassStorage {
  size?: Quantity;
  storageClassName?: string;
  /** Default `/home/coder`. */
  mountPath?: string;
}

/** How the workspace's base path reaches the IDE. `{prefix}` is the base path without a trailing slash. */
export interface BasePathHandling {
  /** Remove the base path before forwarding. Default false. */
  stripPrefix?: boolean;
  /** Request headers to set; values may contain `{prefix}`. */
  requestHeaders?: HTTPHeader[];
  /** Rewrite absolute `Location` headers under the base path. Default false. */
  rewriteLocation?: boolean;
  /** Rewrite `Set-Cookie` paths to the base path. Default false. */
  rewriteCookiePath?: boolean;
}

/** The most a workspace of a class may ask for; absent fields are unbounded. */
export interface WorkspaceClassBounds {
  /** Largest `spec.storage.size`. */
  maxStorage?: Quantity;
  /** Largest cpu in `spec.resources.requests` and `.limits`. */
  maxCpu?: Quantity;
  /** Largest memory in `spec.resources.requests` and `.limits`. */
  maxMemory?: Quantity;
  /** Longest `spec.idleTimeout` (`0s`, never stop, is past any bound). */
  maxIdleTimeout?: Duration;
}

/** Per-user limits for workspaces of a class, lower than the installation's. */
export interface WorkspaceClassUserLimits {
  /** Most workspaces of this class one user may have (non-negative). */
  maxWorkspaces?: number;
  /** Most workspaces of this class one user may run at once (non-negative). */
  maxRunning?: number;
}

/** How to run one kind of IDE. */
export interface WorkspaceClassSpec {
  displayName?: string;
  description?: string;
  image: string;
  imagePullPolicy?: ImagePullPolicy;
  /** 1-65535. */
  port: number;
  command?: string[];
  /** May contain `{prefix}`. */
  args?: string[];
  env?: EnvVar[];
  resources?: ResourceRequirements;
  /** Defaulted to `{}` so `mountPath` always has its default. */
  storage?: WorkspaceClassStorage;
  idleTimeout?: Duration;
  /** Defaulted to `{}` so its booleans are always present. */
  basePath?: BasePathHandling;
  /** Forward the owner's access token to the IDE, only when the visitor is the owner. Default false. */
  forwardToken?: boolean;
  /**
   * Exact origins (`scheme://host[:port]`) besides the workspace's own that may send unsafe requests
   * and open WebSockets to its IDE. Default: none.
   */
  allowedOrigins?: string[];
  /** Path probed for readiness; may start with `{prefix}`. Default `/`. */
  readinessPath?: string;
  /** How the git init containers may reach repositories. Defaulted to `{}`. */
  git?: WorkspaceClassGit;
  /** The most a workspace of this class may ask for. */
  bounds?: WorkspaceClassBounds;
  /** Per-user limits for workspaces of this class. */
  userLimits?: WorkspaceClassUserLimits;
  /** How idleness is judged and announced. Defaulted to `{}`. */
  idle?: WorkspaceClassIdle;
}

/** How a class's workspaces are judged idle (the timeout itself is `idleTimeout`). */
export interface WorkspaceClassIdle {
  /** How long before an idle stop the status, an Event and the console warn. Default 5m; 0s: no warning. */
  warnBefore?: Duration;
  /** Longest keep-alive one request may ask for. Default 8h. */
  maxKeepAlive?: Duration;
  /**
   * Client-to-IDE WebSocket messages no longer than this many bytes are not activity: an IDE's own
   * keep-alives (VS Code's are 13-byte protocol headers). Default 0: every data message counts.
   */
  ignoreWebSocketMessagesUpTo?: number;
  /** The IDE's own activity report, polled by the operator. Absent: none. */
  probe?: IdleProbe;
}

/** An HTTP GET on the IDE answering JSON that tells its last activity and whether it is busy. */
export interface IdleProbe {
  /** Path on the IDE; may start with `{prefix}`. */
  path: string;
  /** Dotted path to a field of the answer holding the last activity (RFC 3339, or milliseconds since the epoch). */
  lastActivityField?: string;
  /** When present: the IDE is busy (counts as activity at the poll) if this answer says so. */
  busy?: IdleProbeBusy;
  /** How often to poll. Default 30s; at least 5s. */
  interval?: Duration;
}

/** "Busy" as a JSON answer shows it: an element (of a top-level array, or the object) whose `field` equals `value`. */
export interface IdleProbeBusy {
  /** Path on the IDE; may start with `{prefix}`. Default: the probe's path. */
  path?: string;
  /** Dotted field path within each element. */
  field: string;
  value: string;
}

/**
 * Protocols a class may allow git to speak. Never `ext` (runs a command) or `file` (reads paths
 * inside the clone container, where the Secret is): the schema refuses both.
 */
export const GIT_PROTOCOLS = ["https", "ssh", "http", "git"] as const;
/** A protocol git may speak (`GIT_ALLOW_PROTOCOL`). */
export type GitProtocol = (typeof GIT_PROTOCOLS)[number];

/** How the git init containers may reach repositories. */
export interface WorkspaceClassGit {
  /** Default `[https, ssh]`. */
  allowedProtocols?: GitProtocol[];
}

/** What the operator observed about a class. */
export interface WorkspaceClassStatus {
  observedGeneration?: number;
  conditions?: Condition[];
}

/** How to run one kind of IDE (cluster-scoped). */
export interface WorkspaceClass {
  apiVersion: typeof API_VERSION;
  kind: typeof WORKSPACE_CLASS.kind;
  metadata: ObjectMeta;
  spec: WorkspaceClassSpec;
  status?: WorkspaceClassStatus;
}

// ---------------------------------------------------------------------------------------------------------
// GatewayRoute

/** Values of a path match's `type`. */
export const PATH_MATCH_TYPES = ["Exact", "PathPrefix"] as const;
/** How a path is matched. */
export type PathMatchType = (typeof PATH_MATCH_TYPES)[number];

/** Values of a header match's `type`. */
export const HEADER_MATCH_TYPES = ["Exact", "RegularExpression"] as const;
/** How a header value is matched. */
export type HeaderMatchType = (typeof HEADER_MATCH_TYPES)[number];

/** HTTP methods a match may name. */
export const HTTP_METHODS = [
  "GET",
  "HEAD",
  "POST",
  "PUT",
  "DELETE",
  "CONNECT",
  "OPTIONS",
  "TRACE",
  "PATCH",
] as const;
/** An HTTP method. */
export type HTTPMethod = (typeof HTTP_METHODS)[number];

/** Values of `loadBalancer.strategy`. */
export const LOAD_BALANCER_STRATEGIES = [
  "RoundRobin",
  "WeightedRoundRobin",
  "LeastConnections",
  "IPHash",
  "ConsistentHash",
] as const;
/** How a backend endpoint is picked. */
export type LoadBalancerStrategy = (typeof LOAD_BALANCER_STRATEGIES)[number];

/** Values of `retries.retryOn`. */
export const RETRY_ON = ["ConnectFailure", "Reset", "Timeout", "GatewayError", "ServerError"] as const;
/** A kind of failure that is retried. */
export type RetryOn = (typeof RETRY_ON)[number];

/** Values of `rateLimit.key`. */
export const RATE_LIMIT_KEYS = ["ClientIP", "User"] as const;
/** What a rate limit counts per. */
export type RateLimitKey = (typeof RATE_LIMIT_KEYS)[number];

/**
 * Condition types the operator sets on a GatewayRoute. Not an enum in the schema; listed so producers
 * and readers spell them alike. Ready sums up the others (and endpoint readiness); Reconciling and
 * Stalled are kstatus's pair, as on a Workspace; Conflicted is True while one of the route's matches
 * loses to an identical match of an older route.
 */
export const GATEWAY_ROUTE_CONDITION_TYPES = [
  "Ready",
  "Reconciling",
  "Stalled",
  "Accepted",
  "ResolvedRefs",
  "Conflicted",
] as const;
/** A condition type the operator sets on a GatewayRoute. */
export type GatewayRouteConditionType = (typeof GATEWAY_ROUTE_CONDITION_TYPES)[number];

/** Condition on the request path. */
export interface PathMatch {
  /** Default `PathPrefix`. */
  type?: PathMatchType;
  /** Starts with `/`. Default `/`. */
  value?: string;
}

/** Condition on one request header. */
export interface HeaderMatch {
  name: string;
  value: string;
  /** Default `Exact`. */
  type?: HeaderMatchType;
}

/** One condition of a rule: all of its parts must hold. */
export interface RouteMatch {
  path?: PathMatch;
  methods?: HTTPMethod[];
  headers?: HeaderMatch[];
}

/** A Service in the route's namespace. */
export interface ServiceBackendRef {
  name: string;
  port: number;
}

/** Where matching requests go: exactly one of `service` or `url`. */
export interface RouteBackend {
  service?: ServiceBackendRef;
  /** http:// or https:// URL. */
  url?: string;
  /** 0-1000, default 1. */
  weight?: number;
}

/** What ConsistentHash hashes: exactly one of `header` or `cookie`. */
export interface HashOn {
  header?: string;
  cookie?: string;
}

/** How a backend endpoint is picked. */
export interface LoadBalancer {
  /** Default `RoundRobin`. */
  strategy?: LoadBalancerStrategy;
  /** Required with, and only with, ConsistentHash. */
  hashOn?: HashOn;
}

/** Path changes before forwarding; at most one of the two. */
export interface PathRewrite {
  stripPrefix?: boolean;
  replacePrefix?: string;
}

/** Header changes. */
export interface HeaderModifier {
  set?: HTTPHeader[];
  add?: HTTPHeader[];
  remove?: string[];
}

/** Time limits; `0s` disables `request` and `idle`. */
export interface RouteTimeouts {
  request?: Duration;
  idle?: Duration;
  connect?: Duration;
}

/** Retrying failed requests. */
export interface RouteRetries {
  /** 0-10, default 1. */
  attempts?: number;
  /** Default `[ConnectFailure]`. Named like Istio's `retryOn`: a bare `on` key is a boolean in YAML 1.1. */
  retryOn?: RetryOn[];
  backoff?: Duration;
}

/** Probing endpoints on a schedule. */
export interface ActiveHealthCheck {
  /** Default `/`. */
  path?: string;
  /** Default `10s`. */
  interval?: Duration;
  /** Default `2s`; at most `interval`. */
  timeout?: Duration;
  /** 1-100, default 2. */
  healthyThreshold?: number;
  /** 1-100, default 3. */
  unhealthyThreshold?: number;
  /** Any 2xx or 3xx when absent. */
  expectedStatuses?: number[];
}

/** Ejecting endpoints that fail on real traffic. */
export interface PassiveHealthCheck {
  /** 1-1000, default 5. */
  consecutiveErrors?: number;
  /** Default `30s`. */
  ejectionTime?: Duration;
}

/** Health checking; at least one of the two. */
export interface HealthCheck {
  active?: ActiveHealthCheck;
  passive?: PassiveHealthCheck;
}

/** Failing fast on a backend that keeps failing. */
export interface CircuitBreaker {
  /** 1-1000, default 5. */
  consecutiveFailures?: number;
  /** Default `30s`. */
  openDuration?: Duration;
  /** 1-100, default 1. */
  halfOpenRequests?: number;
}

/** A token bucket per key. */
export interface RateLimit {
  /** At least 1. */
  requestsPerSecond: number;
  /** `requestsPerSecond` when absent. */
  burst?: number;
  /** Default `ClientIP`. */
  key?: RateLimitKey;
}

/** One rule of a route: which requests, where they go, and how. */
export interface RouteRule {
  /** Unique in the route. */
  name?: string;
  /** Default: one match on path prefix `/`. */
  matches?: RouteMatch[];
  backends: RouteBackend[];
  loadBalancer?: LoadBalancer;
  rewrite?: PathRewrite;
  requestHeaders?: HeaderModifier;
  responseHeaders?: HeaderModifier;
  timeouts?: RouteTimeouts;
  retries?: RouteRetries;
  healthCheck?: HealthCheck;
  circuitBreaker?: CircuitBreaker;
  rateLimit?: RateLimit;
  maxBodyBytes?: number;
  /** Default true. */
  websocket?: boolean;
  /** Default false: every caller's access token is forwarded as `Authorization: Bearer` when true. */
  forwardToken?: boolean;
  /** Only these users (and the proxy's admin roles) may use the rule; with `groups`, either admits. */
  users?: string[];
  /** Only members of these groups (and the proxy's admin roles) may use the rule. */
  groups?: string[];
  /** Served without authentication; excludes users and groups. Default: any authenticated user. */
  public?: boolean;
  /**
   * Exact origins (`scheme://host[:port]`) besides the request's own that may send unsafe requests and
   * open WebSockets through this rule. Default: none.
   */
  allowedOrigins?: string[];
}

/** A route's hosts and rules. */
export interface GatewayRouteSpec {
  /** Any host when absent or empty; `*.` wildcards allowed. */
  hosts?: string[];
  rules: RouteRule[];
}

/** Backend endpoint counts across a route's rules. */
export interface BackendCounts {
  total?: number;
  healthy?: number;
}

/** What the operator observed about a route. */
export interface GatewayRouteStatus {
  observedGeneration?: number;
  conditions?: Condition[];
  backends?: BackendCounts;
}

/** A generic API-gateway route. */
export interface GatewayRoute {
  apiVersion: typeof API_VERSION;
  kind: typeof GATEWAY_ROUTE.kind;
  metadata: ObjectMeta;
  spec: GatewayRouteSpec;
  status?: GatewayRouteStatus;
}

/** Any Portico object. */
export type PorticoObject = Workspace | WorkspaceClass | GatewayRoute;
