/**
 * The GraphQL API's schema (SDL, the one source of truth: docs/api.md prints it) and the pure mapping
 * from the service contract's views to its types. No I/O here; ./graphql.ts serves it over HTTP.
 *
 * Choices the issue left open, and why:
 * - Byte counts (`storageUsed`, `totalStorageUsed`) are `Float`: GraphQL's `Int` is a signed 32-bit
 *   integer and stops short of 2 GiB, less than one default volume. A double holds every integer up
 *   to 2^53 bytes (8 PiB) exactly and every JSON client reads it as a plain number; a custom `Long`
 *   scalar would need each client to learn it.
 * - Timestamps are `String` in RFC 3339, as the Kubernetes objects carry them.
 * - Operations that name one instance return it nullable: a refusal is an error with a code in
 *   `errors` and a null in `data`, so one failed field does not void the others.
 * - `health` is a `String` (`"ok"`), as the service this API replaces had it: `{ health }` stays a
 *   valid query for its clients (an object type would demand a sub-selection).
 * - `syncRepository` returns the instance, as `startCodeServer` and `stopCodeServer` do: the type set
 *   stays exactly the issue's, and the merge's outcome (new commit, or the files whose local version
 *   was kept) lands in the workspace's status and an Event, which REST shows as `sync`.
 */
import { assertValidSchema, buildSchema, printSchema } from "graphql";
import { parseQuantity } from "../../common/model/quantity.ts";
import type { Quantity } from "../../crds/types.ts";
import type { InstanceStatus, StatsView, WorkspaceView } from "./types.ts";

/** The schema as SDL, descriptions included (they are the API's reference documentation). */
export const GRAPHQL_SDL = /* GraphQL */ `
  """
  A browser IDE running code-server for one user, usually for one repository of the configured git
  server. It is a Portico Workspace: kubectl shows the same object.
  """
  type CodeServerInstance {
    "Opaque identifier: pass it back unchanged to the other operations."
    id: ID!
    "The owner's user name (the identity provider's preferred_username)."
    userId: String!
    "The repository's name on the configured git server; null when the instance clones nothing or clones from another server."
    repoName: String
    "The repository's owner (user or organisation) on the configured git server; null as for repoName."
    repoOwner: String
    "Where the IDE opens in a browser; null until the proxy serves it."
    url: String
    "What the instance is doing now."
    status: InstanceStatus!
    "When it was created (RFC 3339, UTC)."
    createdAt: String!
    "The workspace's status.lastActivity (RFC 3339): the newest of proxy traffic, console streams, the IDE's own probe and keep-alives; null until the operator reported one."
    lastAccessedAt: String
    "When the idle stop comes unless there is activity (RFC 3339); null: never, or not running."
    stopsAt: String
    "An explicit keep-alive in force: no idle stop before this time (RFC 3339); null: none."
    keepAliveUntil: String
    "Stopped for idleness, not by its user: opening its url or startCodeServer wakes it."
    idleStopped: Boolean!
    "The volume's requested capacity in bytes (reserved, not written); null when no size is known. Float: Int stops at 2 GiB."
    storageUsed: Float
  }

  "The state of an instance, from what the operator observed."
  enum InstanceStatus {
    "Accepted; the operator has not started it yet."
    PENDING
    "Its pod is starting, or runs but the IDE does not answer yet."
    STARTING
    "Ready: its url opens the IDE."
    RUNNING
    "Asked to stop; the pod is going."
    STOPPING
    "No pod; the volume and its files are kept."
    STOPPED
    "Failed: codeServerLogs and the workspace's status message say why."
    ERROR
  }

  "What provisionCodeServer did."
  type ProvisionResult {
    "The caller's instance for the repository."
    instance: CodeServerInstance!
    "What happened, for people."
    message: String!
    "true: created now; false: the caller's existing instance for the repository (started if it was stopped)."
    isNew: Boolean!
  }

  "Counts over every user's instances."
  type InstanceStats {
    "All instances."
    totalInstances: Int!
    "Instances whose status is RUNNING."
    runningInstances: Int!
    "Instances whose status is STOPPED."
    stoppedInstances: Int!
    "Sum of the volumes' requested capacities, in bytes. Float: Int stops at 2 GiB."
    totalStorageUsed: Float!
  }

  type Query {
    "The caller's instances, and those shared with them."
    myCodeServers: [CodeServerInstance!]!
    "One instance. NOT_FOUND when it does not exist or the caller may not see it: the same answer, so another user's id tells nothing."
    codeServer("An instance's id, as myCodeServers returns it." id: ID!): CodeServerInstance
    "The status of one instance (NOT_FOUND as for codeServer)."
    codeServerStatus("An instance's id, as myCodeServers returns it." id: ID!): InstanceStatus
    "The last lines (1 to 5000) of the IDE's log."
    codeServerLogs(
      "An instance's id, as myCodeServers returns it."
      id: ID!
      "How many lines, from the end: 1 to 5000."
      lines: Int = 100
    ): String
    "\\"ok\\" whenever the API answers. Readiness of the proxy itself (caches seeded) is /readyz on its health port."
    health: String!
    "Counts over every user's instances. Admins only: FORBIDDEN otherwise."
    instanceStats: InstanceStats
  }

  type Mutation {
    """
    The caller's instance for repoOwner/repoName on the configured git server: the existing one (started
    if it was stopped, isNew false) or a new one with the repository cloned. The git server is asked
    first, with the caller's own token, whether they may read it: REPOSITORY_ACCESS_DENIED if not.
    Per-user limits: TOO_MANY_WORKSPACES or TOO_MANY_RUNNING, with the instances to stop in extensions.details.candidates.
    """
    provisionCodeServer(
      "The repository's owner (user or organisation) on the git server."
      repoOwner: String!
      "The repository's name."
      repoName: String!
    ): ProvisionResult
    "Stops the IDE; the volume and its files are kept."
    stopCodeServer("An instance's id, as myCodeServers returns it." id: ID!): CodeServerInstance
    "Starts a stopped IDE (per-user running limit: TOO_MANY_RUNNING)."
    startCodeServer("An instance's id, as myCodeServers returns it." id: ID!): CodeServerInstance
    "Deletes the instance and its volume: its files are gone. true when deleted."
    deleteCodeServer("An instance's id, as myCodeServers returns it." id: ID!): Boolean
    """
    Fetches the repository's upstream into the running IDE and merges it, never discarding the user's
    changes (files changed on both sides keep the user's version). Returns at once; the outcome lands in
    the workspace's status and an Event.
    """
    syncRepository("An instance's id, as myCodeServers returns it." id: ID!): CodeServerInstance
    """
    Keeps the instance from its idle stop until now + duration (keepAliveUntil). At most the class's
    maxKeepAlive (default 8h): BAD_USER_INPUT with field duration, naming the maximum, otherwise; "0s" cancels.
    """
    keepAliveCodeServer(
      "An instance's id, as myCodeServers returns it."
      id: ID!
      "A Go duration: 30m, 3h, 1h30m; 0s cancels."
      duration: String!
    ): CodeServerInstance
  }
`;

/** The executable schema (no resolvers inside: ./graphql.ts passes them as the root value). */
export const GRAPHQL_SCHEMA = buildSchema(GRAPHQL_SDL);
assertValidSchema(GRAPHQL_SCHEMA);

/** The schema as graphql-js prints it, for the docs generator. */
export const graphqlSchemaText = (): string => printSchema(GRAPHQL_SCHEMA);

/** CodeServerInstance as the resolvers hand it to graphql-js (field name → value). */
export interface CodeServerInstance {
  id: string;
  userId: string;
  repoName: string | null;
  repoOwner: string | null;
  url: string | null;
  status: InstanceStatus;
  createdAt: string;
  lastAccessedAt: string | null;
  stopsAt: string | null;
  keepAliveUntil: string | null;
  idleStopped: boolean;
  storageUsed: number | null;
}

/** Kubernetes names: a namespace and a Workspace name are both DNS labels. */
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** The instance id of a workspace. Opaque to clients; ./graphql.ts parses it back with `parseInstanceId`. */
export const instanceId = (v: { namespace: string; name: string }): string => `${v.namespace}/${v.name}`;

/** `{namespace}/{name}` → its parts, or undefined for anything else (no trimming, no case folding). */
export function parseInstanceId(id: string): { namespace: string; name: string } | undefined {
  const parts = id.split("/");
  if (parts.length !== 2) return undefined;
  const [namespace, name] = parts as [string, string];
  const label = (s: string) => s.length <= 63 && DNS_LABEL.test(s);
  return label(namespace) && label(name) ? { namespace, name } : undefined;
}

/** One path segment of a repository on the git server (Gitea's owner and repository name rules). */
const REPO_SEGMENT = /^[A-Za-z0-9_.-]+$/;

/**
 * Owner and name of a repository URL on the git server `base` (`{base}/{owner}/{repo}.git`, with or
 * without `.git`); undefined for a URL elsewhere or of another shape.
 */
export function repoOf(
  url: string | undefined,
  base: string | undefined,
): { owner: string; name: string } | undefined {
  if (!url || !base) return undefined;
  const prefix = `${base.replace(/\/+$/, "")}/`;
  if (!url.startsWith(prefix)) return undefined;
  const parts = url
    .slice(prefix.length)
    .replace(/\.git$/, "")
    .split("/");
  if (parts.length !== 2) return undefined;
  const [owner, name] = parts as [string, string];
  const ok = (s: string) => REPO_SEGMENT.test(s) && s !== "." && s !== "..";
  return ok(owner) && ok(name) ? { owner, name } : undefined;
}

/** Bytes of a quantity, or null when absent or malformed. */
export function bytesOf(q: Quantity | undefined): number | null {
  if (q === undefined) return null;
  const n = parseQuantity(q);
  return n === undefined ? null : Math.round(n);
}

/**
 * A workspace as a CodeServerInstance. `defaultSize`: the volume size its class gives when the
 * workspace asks for none (provisioned workspaces never ask).
 */
export function toInstance(
  v: WorkspaceView,
  gitBase: string | undefined,
  defaultSize?: Quantity,
): CodeServerInstance {
  const repo = repoOf(v.repository?.url, gitBase);
  return {
    id: instanceId(v),
    userId: v.owner,
    repoName: repo?.name ?? null,
    repoOwner: repo?.owner ?? null,
    url: v.url ?? null,
    status: v.status,
    createdAt: v.createdAt,
    lastAccessedAt: v.lastActivity ?? null,
    stopsAt: v.stopsAt ?? null,
    keepAliveUntil: v.keepAliveUntil ?? null,
    idleStopped: v.idleStopped,
    storageUsed: bytesOf(v.storage.size ?? defaultSize),
  };
}

/** InstanceStats as the service counts them. */
export const toStats = (s: StatsView): StatsView => ({
  totalInstances: s.totalInstances,
  runningInstances: s.runningInstances,
  stoppedInstances: s.stoppedInstances,
  totalStorageUsed: s.totalStorageUsed,
});
