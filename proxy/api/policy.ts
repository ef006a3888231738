/**
 * Who may see and change which workspace, what a request may ask of a class, and the per-user limits.
 * Pure: the caller, the objects and the settings in; a verdict (or an ApiError thrown) out.
 */
import { isIdleStopped } from "../../common/model/workspace/lifecycle.ts";
import type { Quantity, Workspace, WorkspaceClass } from "../../crds/types.ts";
import { boundsViolationsOf } from "../../common/model/workspace/limits.ts";
import { mayOpen, type Identity } from "../auth/identity.ts";
import { ApiError, type ApiConfig, type LimitCandidate } from "./types.ts";
import { classView } from "./views.ts";
import { classNameOf } from "../routing/from-cluster.ts";

const isAdmin = (who: Identity, adminRoles: readonly string[]) =>
  who.via === "none" || who.roles.some((r) => adminRoles.includes(r));

/** The caller owns it, it is shared with them, or they are an admin: they may see it. */
export const mayView = (who: Identity, ws: Workspace, adminRoles: readonly string[]): boolean =>
  mayOpen(
    who,
    { owner: ws.spec.owner, ...(ws.spec.sharedWith ? { sharedWith: ws.spec.sharedWith } : {}) },
    adminRoles,
  );

/** Start, stop, sync, change, delete: the owner and admins (a sharee may open, not manage). */
export const mayManage = (who: Identity, ws: Workspace, adminRoles: readonly string[]): boolean =>
  mayManageOwned(who, ws.spec.owner, adminRoles);

/** mayManage for a workspace known by its owner only (a route: the stopped page's Start button). */
export const mayManageOwned = (who: Identity, owner: string, adminRoles: readonly string[]): boolean =>
  who.user === owner || isAdmin(who, adminRoles);

export { isAdmin };

/** What a create or update asks for, in the fields bounds cover. */
export interface Asked {
  storage?: Quantity;
  resources?: { requests?: Record<string, Quantity>; limits?: Record<string, Quantity> };
  idleTimeout?: string;
}

/**
 * Throws 400 naming the first field past the class's bounds, in the operator's words (the same
 * check, common/model/workspace/limits.ts, decides whether the operator starts it). Malformed values
 * never get here: the OpenAPI document's patterns refuse them first.
 */
export function checkBounds(asked: Asked, cls: WorkspaceClass): void {
  const spec = {
    ...(asked.storage !== undefined ? { storage: { size: asked.storage } } : {}),
    ...(asked.resources ? { resources: asked.resources } : {}),
    ...(asked.idleTimeout !== undefined ? { idleTimeout: asked.idleTimeout } : {}),
  };
  const first = boundsViolationsOf(spec, cls)[0];
  if (!first) return;
  const field = first.field.replace(/^spec\./, "");
  throw new ApiError(
    400,
    "invalid",
    `${field}: ${first.message.replace(/^spec\.\S+ /, "")} (class ${cls.metadata.name})`,
    field,
  );
}

const activityOf = (ws: Workspace): string =>
  ws.status?.lastActivity ?? String(ws.metadata.creationTimestamp ?? "");

/** Candidates a user could stop (running ones) or delete (any), least recently used first. */
export function candidates(list: readonly Workspace[]): LimitCandidate[] {
  return [...list]
    .sort((a, b) => activityOf(a).localeCompare(activityOf(b)))
    .map((w) => ({
      namespace: w.metadata.namespace ?? "",
      name: w.metadata.name ?? "",
      phase: w.status?.phase ?? "Pending",
      ...(w.status?.lastActivity ? { lastActivity: w.status.lastActivity } : {}),
    }));
}

// Wake (issue 15): an idle-stopped workspace holds no pod, so no running slot; waking it takes one.
const running = (w: Workspace) => w.spec.running !== false && !isIdleStopped(w);

/**
 * Throws 429 when one more workspace (`adding`) or one more running one (`starting`) of class `cls`
 * would pass `owner`'s limits; `owned` are all of the owner's workspaces (the one being started among
 * them or not). The body names the limit, the count and what to stop or delete to make room.
 */
export function checkUserLimits(
  owned: readonly Workspace[],
  cls: WorkspaceClass | undefined,
  config: Pick<ApiConfig, "maxWorkspacesPerUser" | "maxRunningPerUser">,
  change: { adding: boolean; starting: boolean; except?: { namespace: string; name: string } },
): void {
  const view = cls ? classView(cls) : undefined;
  const others = owned.filter(
    (w) =>
      !(
        change.except &&
        w.metadata.namespace === change.except.namespace &&
        w.metadata.name === change.except.name
      ),
  );
  const ofClass = (l: readonly Workspace[]) => (view ? l.filter((w) => classNameOf(w) === view.name) : []);
  const refuse = (
    code: "too_many_workspaces" | "too_many_running",
    scope: string,
    limit: number,
    held: Workspace[],
  ) => {
    const reason = code === "too_many_running" ? "running" : "workspaces";
    const verb = code === "too_many_running" ? "stop" : "delete";
    throw new ApiError(
      429,
      code,
      `${scope} allows ${limit} ${reason === "running" ? "running workspaces" : "workspaces"} per user and you have ${held.length}: ${verb} one of them first`,
      undefined,
      { reason, limit, current: held.length, candidates: candidates(held) },
    );
  };
  if (change.adding) {
    if (config.maxWorkspacesPerUser > 0 && others.length >= config.maxWorkspacesPerUser)
      refuse("too_many_workspaces", "Portico", config.maxWorkspacesPerUser, [...others]);
    const cm = view?.userLimits.maxWorkspaces;
    if (cm !== undefined && ofClass(others).length >= cm)
      refuse("too_many_workspaces", `the class ${view!.name}`, cm, ofClass(others));
  }
  if (change.starting) {
    const live = others.filter(running);
    if (config.maxRunningPerUser > 0 && live.length >= config.maxRunningPerUser)
      refuse("too_many_running", "Portico", config.maxRunningPerUser, live);
    const cm = view?.userLimits.maxRunning;
    if (cm !== undefined && ofClass(live).length >= cm)
      refuse("too_many_running", `the class ${view!.name}`, cm, ofClass(live));
  }
}
