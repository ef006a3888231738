/**
 * The self-service API's contract: what every API shape (REST, the seed-compatible paths, GraphQL,
 * later the console) asks the service layer (./service.ts) and what it answers. No I/O here.
 *
 * The service acts for a verified `Identity` (proxy/auth/identity.ts): it reads the proxy's informer
 * caches, never the API server per read, and writes Workspace objects as the proxy's ServiceAccount
 * with `owner` set from the identity, never from a request body.
 */
import type { Identity } from "../auth/identity.ts";
import type { Condition, Quantity, ResourceRequirements, WorkspacePhase } from "../../crds/types.ts";

/** The settings of the API (proxy/config.ts reads them; frozen). */
export interface ApiConfig {
  /** false: the proxy serves no API (a read-only proxy: its RBAC then has no write verb). */
  enabled: boolean;
  /**
   * Where a user's workspaces live: a fixed namespace (`portico`), or a template with `{user}`
   * (`ws-{user}`): the user name made a DNS label (./names.ts `namespaceFor`).
   */
  namespace: string;
  /** At most this many workspaces per user (0: no limit); a class's `userLimits` may lower it. */
  maxWorkspacesPerUser: number;
  /** At most this many running per user (0: no limit); a class's `userLimits` may lower it. */
  maxRunningPerUser: number;
  /** The git server repositories are provisioned from (`provision`); absent: provisioning is off. */
  git?: {
    /** `https://git.example.com`: clone URLs are `{base}/{owner}/{repo}.git`. */
    base: string;
    /** The repository API (Gitea's shape, `GET {api}/repos/{owner}/{repo}`); default `{base}/api/v1`. */
    api: string;
    /** A Secret (in the workspace's namespace) with clone credentials for provisioned workspaces. */
    secretName?: string;
    /** The class provisioned workspaces run (`vscode`). */
    className: string;
  };
  /** Largest request body of an API call (bytes). */
  maxBodyBytes: number;
  /** GraphQL: deepest selection and the most fields a query may ask for (aliases count). */
  graphql: { maxDepth: number; maxCost: number };
}

/** Machine-readable error codes, shared by REST (`error`) and GraphQL (`extensions.code`). */
export const API_ERROR_CODES = [
  "bad_request",
  "invalid",
  "unauthenticated",
  "forbidden",
  "not_found",
  "conflict",
  "precondition_failed",
  "too_many_workspaces",
  "too_many_running",
  "repository_access_denied",
  "unavailable",
  "payload_too_large",
  "unsupported_media_type",
  "method_not_allowed",
  "unprocessable",
] as const;
export type ApiErrorCode = (typeof API_ERROR_CODES)[number];

/** A workspace a limit would let the caller stop or delete to make room. */
export interface LimitCandidate {
  namespace: string;
  name: string;
  phase: string;
  lastActivity?: string;
}

/** A refusal any API shape can render: the HTTP status, a code, a message naming the field. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: ApiErrorCode;
  /** The request field the error is about (`storage.size`, `repoName`), when one is. */
  readonly field?: string;
  /** Extra detail (limits: `{reason, limit, current, candidates}`). */
  readonly details?: Record<string, unknown>;

  constructor(
    status: number,
    code: ApiErrorCode,
    message: string,
    field?: string,
    details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    if (field !== undefined) this.field = field;
    if (details !== undefined) this.details = details;
  }
}

/** Which of InstanceStatus (GraphQL) / phase (REST) a workspace is in. */
export type InstanceStatus = "PENDING" | "STARTING" | "RUNNING" | "STOPPING" | "STOPPED" | "ERROR";

/** The last sync the user asked for, as the operator reported it. */
export interface SyncView {
  /** The request's id (the `portico.dev/sync-requested` annotation's value). */
  requested: string;
  state: "Pending" | "Running" | "Succeeded" | "Failed";
  /** The commit the working tree is on after the merge. */
  commit?: string;
  /** Files changed both locally and upstream: the user's version was kept. */
  conflicts?: string[];
  message?: string;
}

/** A workspace as the API shows it (REST body; GraphQL maps it to CodeServerInstance). */
export interface WorkspaceView {
  namespace: string;
  name: string;
  owner: string;
  className: string;
  running: boolean;
  phase: WorkspacePhase | "Pending";
  status: InstanceStatus;
  ready: boolean;
  url?: string;
  message: string;
  repository?: { url: string; ref?: string };
  storage: { size?: Quantity; reclaimPolicy: "Retain" | "Delete"; scope: "workspace" | "user" };
  resources?: ResourceRequirements;
  idleTimeout?: string;
  sharedWith?: { users?: string[]; groups?: string[] };
  conditions: Condition[];
  createdAt: string;
  lastActivity?: string;
  /** When an idle stop comes unless there is activity (status.stopsAt); absent: never, or not running. */
  stopsAt?: string;
  /** An explicit keep-alive in force: no idle stop before this time. */
  keepAliveUntil?: string;
  /** Stopped for idleness (not by its user): a visit to its URL or a start wakes it. */
  idleStopped: boolean;
  /** The object's resourceVersion: REST sends it as the ETag; `If-Match` must equal it. */
  resourceVersion: string;
  sync?: SyncView;
}

/** An option a user may pick (REST `classes`, seed `analysis/options`). */
export interface ClassView {
  name: string;
  displayName?: string;
  description?: string;
  defaults: { storage?: Quantity; resources?: ResourceRequirements; idleTimeout?: string };
  /** What a request may ask for at most (absent: no bound beyond the API's own). */
  bounds: { maxStorage?: Quantity; maxCpu?: Quantity; maxMemory?: Quantity; maxIdleTimeout?: string };
  userLimits: { maxWorkspaces?: number; maxRunning?: number };
  /** The class's idle settings with their defaults: the warning's lead time and the longest keep-alive. */
  idle: { warnBefore: string; maxKeepAlive: string };
}

/** POST workspaces: what a user may ask for. The owner and namespace are never taken from here. */
export interface CreateRequest {
  /** DNS label; generated from the class when absent. */
  name?: string;
  /** Must equal the namespace the mapping gives the caller, when given. */
  namespace?: string;
  className: string;
  repository?: { url: string; ref?: string };
  storage?: { size?: Quantity };
  resources?: ResourceRequirements;
  idleTimeout?: string;
  running?: boolean;
  sharedWith?: { users?: string[]; groups?: string[] };
}

/** PATCH workspaces/{ns}/{name}: the fields a user may change (merge semantics). */
export interface UpdateRequest {
  running?: boolean;
  storage?: { size?: Quantity };
  resources?: ResourceRequirements;
  idleTimeout?: string;
  sharedWith?: { users?: string[]; groups?: string[] };
}

/** provisionCodeServer / POST workspaces:provision. */
export interface ProvisionResultView {
  workspace: WorkspaceView;
  message: string;
  isNew: boolean;
}

/** instanceStats (admins). */
export interface StatsView {
  totalInstances: number;
  runningInstances: number;
  stoppedInstances: number;
  /** Sum of the volumes' requested sizes, in bytes (capacity asked for, not bytes written). */
  totalStorageUsed: number;
}

/** What every API shape calls. Every method acts for `who` and throws ApiError on refusal. */
export interface WorkspaceApi {
  /** The caller's workspaces and those shared with them; `all` (admins only): every workspace. */
  list(who: ApiCaller, opts?: { all?: boolean }): WorkspaceView[];
  /** 404 for a workspace that is not there or that the caller may not see (no existence leak). */
  get(who: ApiCaller, namespace: string, name: string): WorkspaceView;
  create(who: ApiCaller, req: CreateRequest): Promise<WorkspaceView>;
  /** `ifMatch`: the resourceVersion the caller last saw; 412 when the object changed since. */
  update(
    who: ApiCaller,
    namespace: string,
    name: string,
    req: UpdateRequest,
    ifMatch?: string,
  ): Promise<WorkspaceView>;
  start(who: ApiCaller, namespace: string, name: string): Promise<WorkspaceView>;
  stop(who: ApiCaller, namespace: string, name: string): Promise<WorkspaceView>;
  /** Asks the operator to fetch upstream and merge into the running workspace; returns the request id. */
  sync(
    who: ApiCaller,
    namespace: string,
    name: string,
  ): Promise<{ workspace: WorkspaceView; request: string }>;
  /** `deleteVolume`: the workspace's own volume goes too (the user asked). */
  delete(
    who: ApiCaller,
    namespace: string,
    name: string,
    opts?: { deleteVolume?: boolean; ifMatch?: string },
  ): Promise<void>;
  /** The IDE container's last `lines` log lines (1..5000). */
  logs(who: ApiCaller, namespace: string, name: string, lines: number): Promise<string>;
  /** Admins only (403 otherwise). */
  stats(who: ApiCaller): StatsView;
  classes(who: ApiCaller): ClassView[];
  /**
   * The caller's workspace for `repoOwner/repoName` on the configured git server: the existing one
   * (started if stopped, isNew false) or a new one, after the git server said the caller's own token
   * may read the repository.
   */
  provision(who: ApiCaller, repoOwner: string, repoName: string): Promise<ProvisionResultView>;
  /**
   * Issue 15: no idle stop before now + `duration` (a Go duration, at most the class's
   * `idle.maxKeepAlive`; `0s` cancels). 422 `unprocessable` naming `duration` otherwise.
   */
  keepAlive(who: ApiCaller, namespace: string, name: string, duration: string): Promise<WorkspaceView>;
}

/** The caller as the API sees it: the verified identity (proxy/auth/identity.ts). */
export type ApiCaller = Identity;
