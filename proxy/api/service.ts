/**
 * The service layer every API shape calls (REST, the seed-compatible paths, GraphQL; later the
 * console). It acts for a verified identity: reads come from the proxy's informer caches, writes go
 * through `WorkspaceStore` as the proxy's ServiceAccount, and `owner` is always the caller's own name.
 *
 * Invariants:
 * - A workspace the caller may not see is "not found" (404), never "forbidden": ids do not leak.
 * - Only its owner (or an admin) may change or delete a workspace; a sharee may look, not touch.
 * - Every refusal is an ApiError naming the field; nothing is written before every check passed.
 * - Provisioning is idempotent per (user, repository): the name is derived from both, so a retry or a
 *   second replica meets the same object (409 AlreadyExists → the existing one, `isNew: false`).
 * - The volume goes only when the user asked (`deleteVolume`), and only the workspace's own claim.
 */
import { API_VERSION, WORKSPACE, type Workspace, type WorkspaceClass } from "../../crds/types.ts";
import { parseQuantity } from "../../common/model/quantity.ts";
import {
  IDE_CONTAINER,
  MANAGED_BY,
  MANAGED_BY_LABEL,
  OWNER_LABEL,
  REPOSITORY_ANNOTATION,
  SYNC_REQUESTED_ANNOTATION,
  WORKSPACE_LABEL,
  childNames,
  ownerSlug,
  workspaceLabelValue,
} from "../../common/model/workspace/names.ts";
import type { Identity } from "../auth/identity.ts";
import { API_NAME, cloneUrl, generatedName, namespaceFor, provisionName, syncRequestId } from "./names.ts";
import { checkBounds, checkUserLimits, isAdmin, mayManage, mayView } from "./policy.ts";
import type { RepoAccess } from "./repo-access.ts";
import type { WorkspaceStore } from "./store.ts";
import {
  ApiError,
  type ApiConfig,
  type ClassView,
  type CreateRequest,
  type ProvisionResultView,
  type StatsView,
  type UpdateRequest,
  type WorkspaceApi,
  type WorkspaceView,
} from "./types.ts";
import { classView, workspaceView } from "./views.ts";
import { classNameOf } from "../routing/from-cluster.ts";
import { isIdleStopped, wakePatch } from "../../common/model/workspace/lifecycle.ts";
import { RecentWrites } from "../../common/runtime/recent-writes.ts";
import { keepAliveDecision } from "../activity/keep-alive.ts";

/** The informer caches the service reads (proxy/main.ts). */
export interface ApiCaches {
  workspaces(): Iterable<Workspace>;
  workspace(namespace: string, name: string): Workspace | undefined;
  classes(): Iterable<WorkspaceClass>;
  workspaceClass(name: string): WorkspaceClass | undefined;
}

/** What the git server said about the caller and a repository (./repo-access.ts). */
export type { RepoAccess };

export type RepoAccessCheck = (
  token: string | undefined,
  repoOwner: string,
  repoName: string,
) => Promise<RepoAccess>;

/** What the service reports for metrics (./metrics.ts); a no-op when absent. */
export interface ApiObserver {
  /** A provision made a new workspace at `startedMs` (its Ready time is observed from the caches). */
  provisioned(namespace: string, name: string, startedMs: number): void;
}

export interface ServiceDeps {
  config: ApiConfig;
  adminRoles: readonly string[];
  caches: ApiCaches;
  store: WorkspaceStore;
  repoAccess?: RepoAccessCheck;
  observer?: ApiObserver;
  now?: () => Date;
}

/** Longest log tail an API call returns. */
export const MAX_LOG_LINES = 5000;

const byName = (a: { namespace: string; name: string }, b: { namespace: string; name: string }) =>
  a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name);

export class WorkspaceService implements WorkspaceApi {
  readonly #d: ServiceDeps;
  readonly #now: () => Date;
  /** This replica's own writes until its watch brings them: a create is listed and counted at once. */
  readonly #writes: RecentWrites<Workspace>;

  constructor(deps: ServiceDeps) {
    this.#d = deps;
    this.#now = deps.now ?? (() => new Date());
    this.#writes = new RecentWrites({ now: () => this.#now().getTime() });
  }

  /** The workspaces watch delivered `ws` (added, updated or deleted): proxy/main.ts calls this. */
  observed(ws: { metadata?: { name?: string; namespace?: string; resourceVersion?: string } }): void {
    this.#writes.observed(ws);
  }

  #all(): Workspace[] {
    return this.#writes.list(this.#d.caches.workspaces());
  }

  #cached(namespace: string, name: string): Workspace | undefined {
    return this.#writes.get(namespace, name, this.#d.caches.workspace(namespace, name));
  }

  #wrote(ws: Workspace): Workspace {
    this.#writes.wrote(ws);
    return ws;
  }

  #view = (ws: Workspace): WorkspaceView => workspaceView(ws, SYNC_REQUESTED_ANNOTATION);

  #owned(user: string): Workspace[] {
    return this.#all().filter((w) => w.spec.owner === user && !w.metadata.deletionTimestamp);
  }

  /** The workspace if the caller may see it; 404 otherwise (whether or not it exists). */
  #visible(who: Identity, namespace: string, name: string): Workspace {
    const ws = this.#cached(namespace, name);
    if (!ws || !mayView(who, ws, this.#d.adminRoles))
      throw new ApiError(404, "not_found", `workspace ${namespace}/${name} not found`);
    return ws;
  }

  /** The workspace if the caller may change it: 404 when they may not see it, 403 when they may only look. */
  #managed(who: Identity, namespace: string, name: string, ifMatch?: string): Workspace {
    const ws = this.#visible(who, namespace, name);
    if (!mayManage(who, ws, this.#d.adminRoles))
      throw new ApiError(
        403,
        "forbidden",
        `workspace ${namespace}/${name} is shared with you: only ${ws.spec.owner} may change it`,
      );
    if (ifMatch !== undefined && ifMatch !== ws.metadata.resourceVersion)
      throw new ApiError(
        412,
        "precondition_failed",
        `workspace ${namespace}/${name} changed since the version you sent (If-Match)`,
      );
    return ws;
  }

  #class(name: string, field = "className"): WorkspaceClass {
    const cls = this.#d.caches.workspaceClass(name);
    if (!cls) {
      const names = [...this.#d.caches.classes()].map((c) => c.metadata.name).sort();
      throw new ApiError(
        400,
        "invalid",
        `${field}: no WorkspaceClass ${JSON.stringify(name)}; pick one of: ${names.join(", ") || "(none)"}`,
        field,
      );
    }
    return cls;
  }

  list(who: Identity, opts: { all?: boolean } = {}): WorkspaceView[] {
    if (opts.all && !isAdmin(who, this.#d.adminRoles))
      throw new ApiError(403, "forbidden", "only admins may list every workspace (all=true)", "all");
    const out: WorkspaceView[] = [];
    for (const ws of this.#all()) {
      // Without `all`: the caller's own and those shared with them, not every workspace an admin (or
      // the demo user, whom --auth=none lets open anything) could open.
      const listed = opts.all || ws.spec.owner === who.user || (who.via !== "none" && mayView(who, ws, []));
      if (listed) out.push(this.#view(ws));
    }
    return out.sort(byName);
  }

  get(who: Identity, namespace: string, name: string): WorkspaceView {
    return this.#view(this.#visible(who, namespace, name));
  }

  async create(who: Identity, req: CreateRequest): Promise<WorkspaceView> {
    const { config, store } = this.#d;
    const namespace = namespaceFor(config.namespace, who.user);
    if (req.namespace !== undefined && req.namespace !== namespace)
      throw new ApiError(
        400,
        "invalid",
        `namespace: your workspaces live in ${namespace}, not ${req.namespace}`,
        "namespace",
      );
    const cls = this.#class(req.className);
    if (req.name !== undefined && !API_NAME.test(req.name))
      throw new ApiError(
        400,
        "invalid",
        `name: ${JSON.stringify(req.name)} must be lowercase letters, digits and '-', start with a letter, at most 40 characters`,
        "name",
      );
    checkBounds({ storage: req.storage?.size, resources: req.resources, idleTimeout: req.idleTimeout }, cls);
    checkUserLimits(this.#owned(who.user), cls, config, { adding: true, starting: req.running !== false });
    const name = req.name ?? generatedName(req.className);
    const body = newWorkspace(namespace, name, who.user, {
      className: req.className,
      ...(req.repository ? { repository: { ...req.repository } } : {}),
      ...(req.storage?.size !== undefined ? { storage: { size: req.storage.size } } : {}),
      ...(req.resources ? { resources: req.resources } : {}),
      ...(req.idleTimeout ? { idleTimeout: req.idleTimeout } : {}),
      ...(req.running === false ? { running: false } : {}),
      ...(req.sharedWith ? { sharedWith: req.sharedWith } : {}),
    });
    return this.#view(this.#wrote(await store.create(namespace, body)));
  }

  async update(
    who: Identity,
    namespace: string,
    name: string,
    req: UpdateRequest,
    ifMatch?: string,
  ): Promise<WorkspaceView> {
    const ws = this.#managed(who, namespace, name, ifMatch);
    const cls = this.#d.caches.workspaceClass(classNameOf(ws));
    if (cls)
      checkBounds(
        { storage: req.storage?.size, resources: req.resources, idleTimeout: req.idleTimeout },
        cls,
      );
    if (req.running === true && ws.spec.running === false)
      checkUserLimits(this.#owned(ws.spec.owner), cls, this.#d.config, {
        adding: false,
        starting: true,
        except: { namespace, name },
      });
    const spec: Record<string, unknown> = {};
    if (req.running !== undefined) spec.running = req.running;
    if (req.storage?.size !== undefined) spec.storage = { size: req.storage.size };
    if (req.resources !== undefined) spec.resources = req.resources;
    if (req.idleTimeout !== undefined) spec.idleTimeout = req.idleTimeout;
    if (req.sharedWith !== undefined) spec.sharedWith = req.sharedWith;
    if (Object.keys(spec).length === 0) return this.#view(ws);
    return this.#view(this.#wrote(await this.#d.store.patch(namespace, name, { spec }, ifMatch)));
  }

  // --- Wake (issue 15, wake on access): every Start (API, console, the stopped page, a visit) comes here.
  /**
   * Starts a workspace: `spec.running: true` when it was false, and on an idle-stopped one the wake's
   * merge patch (the idle stop lifted, `portico.dev/woken` set, the visit counted as activity), in one
   * write, after the owner's running limit (an idle-stopped workspace holds no running slot). A
   * workspace already running and not idle-stopped is not written again (a visit's repeated wakes).
   */
  async start(who: Identity, namespace: string, name: string): Promise<WorkspaceView> {
    const ws = this.#managed(who, namespace, name);
    const idle = isIdleStopped(ws);
    const stopped = ws.spec.running === false;
    if (!idle && !stopped) return this.#view(ws);
    checkUserLimits(
      this.#owned(ws.spec.owner),
      this.#d.caches.workspaceClass(classNameOf(ws)),
      this.#d.config,
      {
        adding: false,
        starting: true,
        except: { namespace, name },
      },
    );
    const patch = {
      ...(idle ? wakePatch(this.#now().getTime()) : {}),
      ...(stopped ? { spec: { running: true } } : {}),
    };
    return this.#view(this.#wrote(await this.#d.store.patch(namespace, name, patch)));
  }
  // --- end wake

  stop(who: Identity, namespace: string, name: string): Promise<WorkspaceView> {
    return this.update(who, namespace, name, { running: false });
  }

  async sync(
    who: Identity,
    namespace: string,
    name: string,
  ): Promise<{ workspace: WorkspaceView; request: string }> {
    const ws = this.#managed(who, namespace, name);
    if (!ws.spec.repository)
      throw new ApiError(
        409,
        "conflict",
        `workspace ${namespace}/${name} has no repository to sync`,
        "repository",
      );
    if (ws.spec.running === false)
      throw new ApiError(
        409,
        "conflict",
        `workspace ${namespace}/${name} is stopped: start it, then sync (a start fetches too)`,
      );
    const request = syncRequestId(this.#now());
    const patched = this.#wrote(
      await this.#d.store.patch(namespace, name, {
        metadata: { annotations: { [SYNC_REQUESTED_ANNOTATION]: request } },
      }),
    );
    return { workspace: this.#view(patched), request };
  }

  async delete(
    who: Identity,
    namespace: string,
    name: string,
    opts: { deleteVolume?: boolean; ifMatch?: string } = {},
  ): Promise<void> {
    const ws = this.#managed(who, namespace, name, opts.ifMatch);
    await this.#d.store.delete(namespace, name, opts.ifMatch);
    this.#writes.deleted(ws);
    if (!opts.deleteVolume) return;
    const claim = ownClaim(ws, this.#owned(ws.spec.owner));
    if (claim) await this.#d.store.deleteClaim(namespace, claim.name, claim.labels);
  }

  async logs(who: Identity, namespace: string, name: string, lines: number): Promise<string> {
    if (!Number.isInteger(lines) || lines < 1 || lines > MAX_LOG_LINES)
      throw new ApiError(400, "invalid", `lines: must be a whole number from 1 to ${MAX_LOG_LINES}`, "lines");
    const ws = this.#managed(who, namespace, name);
    const pod = ws.status?.children?.pod ?? childNames(ws).pod;
    return this.#d.store.podLog(namespace, pod, IDE_CONTAINER, lines);
  }

  /**
   * The workspace itself, for the console's log and shell endpoints, which reach its pod: the same
   * rule as logs() (404 when the caller may not see it, 403 for a sharee).
   */
  managedWorkspace(who: Identity, namespace: string, name: string): Workspace {
    return this.#managed(who, namespace, name);
  }

  // Issue 15 (activity helper): the keep-alive. Only who may manage it; capped by the class.
  async keepAlive(who: Identity, namespace: string, name: string, duration: string): Promise<WorkspaceView> {
    const ws = this.#managed(who, namespace, name);
    const cls = this.#d.caches.workspaceClass(classNameOf(ws));
    const d = keepAliveDecision(ws, cls, duration, this.#now().getTime());
    if ("error" in d) throw new ApiError(422, "unprocessable", d.error, "duration");
    return this.#view(this.#wrote(await this.#d.store.patch(namespace, name, d.patch)));
  }

  stats(who: Identity): StatsView {
    if (!isAdmin(who, this.#d.adminRoles))
      throw new ApiError(403, "forbidden", "instance statistics are for admins only");
    const s: StatsView = { totalInstances: 0, runningInstances: 0, stoppedInstances: 0, totalStorageUsed: 0 };
    for (const ws of this.#all()) {
      s.totalInstances++;
      const status = this.#view(ws).status;
      if (status === "RUNNING") s.runningInstances++;
      if (status === "STOPPED") s.stoppedInstances++;
      const size =
        ws.spec.storage?.size ?? this.#d.caches.workspaceClass(classNameOf(ws))?.spec.storage?.size;
      s.totalStorageUsed += size !== undefined ? (parseQuantity(size) ?? 0) : 0;
    }
    return s;
  }

  classes(_who: Identity): ClassView[] {
    return [...this.#d.caches.classes()].map(classView).sort((a, b) => a.name.localeCompare(b.name));
  }

  async provision(who: Identity, repoOwner: string, repoName: string): Promise<ProvisionResultView> {
    const { config, store, repoAccess } = this.#d;
    const git = config.git;
    if (!git || !repoAccess)
      throw new ApiError(
        404,
        "not_found",
        "provisioning by repository is off on this Portico (no --git-server-url)",
      );
    const started = Date.now();
    const access = await repoAccess(who.via === "none" ? undefined : who.token, repoOwner, repoName);
    if (!access.ok) throw repoRefusal(access, repoOwner, repoName);
    const url = cloneUrl(git.base, repoOwner, repoName);
    const namespace = namespaceFor(config.namespace, who.user);
    const name = provisionName(who.user, repoOwner, repoName);
    const existing = this.#cached(namespace, name) ?? (await store.read(namespace, name));
    if (existing) return this.#reuse(who, existing, `${repoOwner}/${repoName}`);
    const cls = this.#class(git.className, "className (the API's --git-class)");
    checkUserLimits(this.#owned(who.user), cls, config, { adding: true, starting: true });
    const body = newWorkspace(namespace, name, who.user, {
      className: git.className,
      repository: { url, ...(git.secretName ? { secretRef: { name: git.secretName } } : {}) },
    });
    body.metadata.annotations = { [REPOSITORY_ANNOTATION]: `${repoOwner}/${repoName}` };
    try {
      const created = this.#wrote(await store.create(namespace, body));
      this.#d.observer?.provisioned(namespace, name, started);
      return {
        workspace: this.#view(created),
        isNew: true,
        message: `created a workspace for ${repoOwner}/${repoName}`,
      };
    } catch (err) {
      // Another replica (or a retried call) made it first: that one is the caller's workspace.
      if (!(err instanceof ApiError) || err.code !== "conflict") throw err;
      const raced = await store.read(namespace, name);
      if (!raced) throw err;
      this.#writes.wrote(raced);
      return this.#reuse(who, raced, `${repoOwner}/${repoName}`);
    }
  }

  /** An existing provisioned workspace: the caller's (else the name clashes with someone else's), started if stopped. */
  async #reuse(who: Identity, ws: Workspace, repo: string): Promise<ProvisionResultView> {
    const { namespace = "", name = "" } = ws.metadata;
    if (ws.spec.owner !== who.user)
      throw new ApiError(
        409,
        "conflict",
        `workspace ${namespace}/${name} exists and is not yours; ask your platform team`,
      );
    if (ws.spec.running !== false)
      return { workspace: this.#view(ws), isNew: false, message: `your workspace for ${repo} exists` };
    const cls = this.#d.caches.workspaceClass(classNameOf(ws));
    checkUserLimits(this.#owned(who.user), cls, this.#d.config, {
      adding: false,
      starting: true,
      except: { namespace, name },
    });
    const started = this.#wrote(await this.#d.store.patch(namespace, name, { spec: { running: true } }));
    return { workspace: this.#view(started), isNew: false, message: `started your workspace for ${repo}` };
  }
}

/** A new Workspace object, owned by `owner`, as the API makes it. */
function newWorkspace(
  namespace: string,
  name: string,
  owner: string,
  spec: Omit<Workspace["spec"], "owner">,
): Workspace {
  return {
    apiVersion: API_VERSION,
    kind: WORKSPACE.kind,
    metadata: { name, namespace, labels: { "app.kubernetes.io/created-by": "portico-api" } },
    spec: { owner, ...spec },
  };
}

/**
 * The claim `deleteVolume` may remove: the workspace's own (scope `workspace`), or the owner's home
 * (scope `user`) only when no other workspace of theirs in the namespace shares it. Identified by name
 * and by the labels the operator puts on it, so a claim someone else made under that name stays.
 */
export function ownClaim(
  ws: Workspace,
  ownersWorkspaces: readonly Workspace[],
): { name: string; labels: Record<string, string> } | undefined {
  const name = childNames(ws).pvc;
  if (ws.spec.storage?.scope === "user") {
    const sharers = ownersWorkspaces.filter(
      (w) =>
        w.metadata.namespace === ws.metadata.namespace &&
        w.metadata.name !== ws.metadata.name &&
        w.spec.storage?.scope === "user",
    );
    if (sharers.length > 0) return undefined;
    return { name, labels: { [MANAGED_BY_LABEL]: MANAGED_BY, [OWNER_LABEL]: ownerSlug(ws.spec.owner) } };
  }
  return {
    name,
    labels: {
      [MANAGED_BY_LABEL]: MANAGED_BY,
      [WORKSPACE_LABEL]: workspaceLabelValue(ws.metadata.name ?? ""),
    },
  };
}

/** The git server's "no" as the API answers it: one message for "denied" and "not found" (no leak). */
export function repoRefusal(
  access: Extract<RepoAccess, { ok: false }>,
  repoOwner: string,
  repoName: string,
): ApiError {
  if (access.reason === "invalid")
    return new ApiError(400, "invalid", access.message, access.field ?? "repoName");
  if (access.reason === "unavailable")
    return new ApiError(
      503,
      "unavailable",
      `the git server could not be asked about ${repoOwner}/${repoName}; retry`,
    );
  return new ApiError(
    403,
    "repository_access_denied",
    `repository access denied: ${repoOwner}/${repoName} does not exist or your token may not read it`,
    "repoName",
  );
}
