/**
 * Test-only (kept out of dist/): `MemoryApi`, a TEST DOUBLE of the service contract (`WorkspaceApi`,
 * ./types.ts) in memory, with the contract's refusals: 404 for what the caller may not see, 403 for a
 * shared workspace someone else tries to change, 412 on a stale If-Match, 429 with candidates past a
 * limit, 403 repository_access_denied for a repository named `private`. It lets the HTTP side (the
 * REST router, the API surface) be tested without a cluster; the real service (./service.ts) is
 * tested on its own and end to end. Every call that would change something is recorded in `calls`.
 */
import type { Identity } from "../auth/identity.ts";
import { parseDurationMs } from "../../common/runtime/settings.ts";
import {
  ApiError,
  type ClassView,
  type CreateRequest,
  type ProvisionResultView,
  type StatsView,
  type UpdateRequest,
  type WorkspaceApi,
  type WorkspaceView,
} from "./types.ts";

export const user = (name: string, roles: string[] = []): Identity => ({
  user: name,
  groups: [],
  roles,
  via: "bearer",
});

/** Test double of the WorkspaceApi contract (see the file's header). */
export class MemoryApi implements WorkspaceApi {
  readonly items = new Map<string, WorkspaceView>();
  readonly calls: string[] = [];
  maxWorkspaces = 3;
  #rv = 100;
  #clock = 0;
  /** Set to make the next call throw something that is not an ApiError (a bug). */
  bug: Error | undefined;

  #key = (ns: string, name: string) => `${ns}/${name}`;
  #admin = (who: Identity) => who.roles.includes("admin");
  #sees = (who: Identity, w: WorkspaceView) =>
    this.#admin(who) || w.owner === who.user || !!w.sharedWith?.users?.includes(who.user);
  #bump(w: WorkspaceView, change: Partial<WorkspaceView>): WorkspaceView {
    const next = { ...w, ...change, resourceVersion: String(++this.#rv) };
    this.items.set(this.#key(w.namespace, w.name), next);
    return next;
  }
  #mine(who: Identity, ns: string, name: string): WorkspaceView {
    if (this.bug) throw this.bug;
    const w = this.get(who, ns, name);
    if (w.owner !== who.user && !this.#admin(who))
      throw new ApiError(403, "forbidden", `workspace ${ns}/${name} is shared with you, not yours to change`);
    return w;
  }

  add(owner: string, name: string, change: Partial<WorkspaceView> = {}): WorkspaceView {
    const w: WorkspaceView = {
      namespace: `ws-${owner}`,
      name,
      owner,
      className: "jupyterlab",
      running: true,
      phase: "Running",
      status: "RUNNING",
      ready: true,
      url: `http://${name}--ws-${owner}.portico.test/`,
      message: "",
      storage: { size: "1Gi", reclaimPolicy: "Retain", scope: "workspace" },
      conditions: [],
      createdAt: new Date(Date.UTC(2026, 0, 1, 0, 0, ++this.#clock)).toISOString(),
      idleStopped: false,
      resourceVersion: String(++this.#rv),
      ...change,
    };
    this.items.set(this.#key(w.namespace, w.name), w);
    return w;
  }

  list(who: Identity, opts?: { all?: boolean }): WorkspaceView[] {
    if (this.bug) throw this.bug;
    if (opts?.all && !this.#admin(who))
      throw new ApiError(403, "forbidden", "only admins may list every workspace");
    return [...this.items.values()].filter((w) => opts?.all || this.#sees(who, w));
  }
  get(who: Identity, ns: string, name: string): WorkspaceView {
    const w = this.items.get(this.#key(ns, name));
    if (!w || !this.#sees(who, w)) throw new ApiError(404, "not_found", `workspace ${ns}/${name} not found`);
    return w;
  }
  async create(who: Identity, req: CreateRequest): Promise<WorkspaceView> {
    this.calls.push(`create ${JSON.stringify(req)}`);
    if (!this.classes(who).some((c) => c.name === req.className))
      throw new ApiError(400, "invalid", `className: no class ${req.className}`, "className");
    const ns = `ws-${who.user}`;
    if (req.namespace && req.namespace !== ns)
      throw new ApiError(403, "forbidden", `your workspaces live in ${ns}`, "namespace");
    const held = [...this.items.values()].filter((w) => w.owner === who.user);
    if (held.length >= this.maxWorkspaces)
      throw new ApiError(
        429,
        "too_many_workspaces",
        `you have ${held.length} workspaces: delete one first`,
        undefined,
        {
          reason: "workspaces",
          limit: this.maxWorkspaces,
          current: held.length,
          candidates: held.map((w) => ({ namespace: w.namespace, name: w.name, phase: w.phase })),
        },
      );
    const name = req.name ?? `${req.className}-${held.length + 1}`;
    if (this.items.has(this.#key(ns, name)))
      throw new ApiError(409, "conflict", `workspace ${ns}/${name} exists`, "name");
    return this.add(who.user, name, {
      className: req.className,
      running: req.running ?? true,
      ...(req.repository ? { repository: req.repository } : {}),
    });
  }
  async update(who: Identity, ns: string, name: string, req: UpdateRequest, ifMatch?: string) {
    this.calls.push(`update ${ns}/${name} ${JSON.stringify(req)} ifMatch=${ifMatch}`);
    const w = this.#mine(who, ns, name);
    if (ifMatch !== undefined && ifMatch !== w.resourceVersion)
      throw new ApiError(412, "precondition_failed", `workspace ${ns}/${name} changed since ${ifMatch}`);
    return this.#bump(w, {
      ...(req.running !== undefined ? { running: req.running } : {}),
      ...(req.idleTimeout ? { idleTimeout: req.idleTimeout } : {}),
    });
  }
  async start(who: Identity, ns: string, name: string) {
    this.calls.push(`start ${ns}/${name}`);
    return this.#bump(this.#mine(who, ns, name), { running: true, phase: "Starting", status: "STARTING" });
  }
  /** The contract's keep-alive with the default class cap (8h); 0s cancels. */
  async keepAlive(who: Identity, ns: string, name: string, duration: string) {
    this.calls.push(`keepAlive ${ns}/${name} ${duration}`);
    const w = this.#mine(who, ns, name);
    const ms = parseDurationMs(duration);
    if (ms === undefined || ms > 8 * 3_600_000)
      throw new ApiError(422, "unprocessable", "duration: at most 8h (the class's maxKeepAlive)", "duration");
    const { keepAliveUntil: _k, ...rest } = w;
    void _k;
    const until = new Date(Date.UTC(2026, 0, 1) + ms).toISOString().replace(/\.\d+Z$/, "Z");
    this.items.set(this.#key(ns, name), { ...rest, resourceVersion: w.resourceVersion });
    return this.#bump(this.items.get(this.#key(ns, name))!, ms ? { keepAliveUntil: until } : {});
  }
  async stop(who: Identity, ns: string, name: string) {
    this.calls.push(`stop ${ns}/${name}`);
    return this.#bump(this.#mine(who, ns, name), { running: false, phase: "Stopping", status: "STOPPING" });
  }
  async sync(who: Identity, ns: string, name: string) {
    const w = this.#mine(who, ns, name);
    if (!w.repository)
      throw new ApiError(409, "conflict", `workspace ${ns}/${name} has no repository to sync`);
    return { workspace: this.#bump(w, { sync: { requested: "s1", state: "Pending" } }), request: "s1" };
  }
  async delete(who: Identity, ns: string, name: string, opts?: { deleteVolume?: boolean; ifMatch?: string }) {
    this.calls.push(`delete ${ns}/${name} ${JSON.stringify(opts ?? {})}`);
    const w = this.#mine(who, ns, name);
    if (opts?.ifMatch !== undefined && opts.ifMatch !== w.resourceVersion)
      throw new ApiError(412, "precondition_failed", `workspace ${ns}/${name} changed since ${opts.ifMatch}`);
    this.items.delete(this.#key(ns, name));
  }
  async logs(who: Identity, ns: string, name: string, lines: number) {
    this.get(who, ns, name);
    return Array.from({ length: lines }, (_, i) => `line ${i + 1}\n`).join("");
  }
  stats(who: Identity): StatsView {
    if (!this.#admin(who)) throw new ApiError(403, "forbidden", "instance statistics are for admins only");
    const all = [...this.items.values()];
    const running = all.filter((w) => w.running).length;
    return {
      totalInstances: all.length,
      runningInstances: running,
      stoppedInstances: all.length - running,
      totalStorageUsed: 0,
    };
  }
  classes(_who?: Identity): ClassView[] {
    const c = (name: string): ClassView => ({
      name,
      defaults: { storage: "1Gi" },
      bounds: { maxStorage: "50Gi" },
      userLimits: {},
      idle: { warnBefore: "5m", maxKeepAlive: "8h" },
    });
    return [c("jupyterlab"), c("vscode")];
  }
  async provision(who: Identity, repoOwner: string, repoName: string): Promise<ProvisionResultView> {
    if (repoName === "private")
      throw new ApiError(403, "repository_access_denied", "repository access denied", "repoName");
    const url = `https://git.test/${repoOwner}/${repoName}.git`;
    const had = [...this.items.values()].find((w) => w.owner === who.user && w.repository?.url === url);
    if (had) return { workspace: had, message: "your existing workspace", isNew: false };
    const w = await this.create(who, {
      className: "vscode",
      name: `${repoOwner}-${repoName}`,
      repository: { url },
    });
    return { workspace: w, message: "created", isNew: true };
  }
}
