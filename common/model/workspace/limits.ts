/**
 * What may start: a class's bounds on what one workspace asks for, and the per-user running limits.
 * Pure, shared by the operator (which does not start what is past them) and the proxy's API (which
 * refuses it up front). The operator never stops a running workspace because of a limit.
 */
import type { Workspace, WorkspaceClass, WorkspaceSpec } from "../../../crds/types.ts";
import { parseDurationMs } from "../../runtime/settings.ts";
import { compareQuantities } from "../quantity.ts";

/** One field of a spec past its class's bounds: the field (`spec.storage.size`) and the sentence. */
export interface BoundsViolation {
  field: string;
  message: string;
}

/**
 * Where `spec` asks for more than the class's `spec.bounds`, one entry per field (empty: within),
 * such as `spec.storage.size 100Gi exceeds the class's bounds.maxStorage 50Gi`.
 */
export function boundsViolationsOf(
  spec: Pick<WorkspaceSpec, "storage" | "resources" | "idleTimeout">,
  cls: WorkspaceClass,
): BoundsViolation[] {
  const b = cls.spec.bounds;
  if (!b) return [];
  const out: BoundsViolation[] = [];
  const over = (
    field: string,
    value: string | number | undefined,
    bound: string,
    max: string | number | undefined,
  ) => {
    if (value === undefined || max === undefined) return;
    if (compareQuantities(value, max) === 1)
      out.push({ field, message: `${field} ${value} exceeds the class's bounds.${bound} ${max}` });
  };
  over("spec.storage.size", spec.storage?.size, "maxStorage", b.maxStorage);
  for (const kind of ["requests", "limits"] as const) {
    over(`spec.resources.${kind}.cpu`, spec.resources?.[kind]?.cpu, "maxCpu", b.maxCpu);
    over(`spec.resources.${kind}.memory`, spec.resources?.[kind]?.memory, "maxMemory", b.maxMemory);
  }
  if (spec.idleTimeout !== undefined && b.maxIdleTimeout !== undefined) {
    const asked = parseDurationMs(spec.idleTimeout);
    const max = parseDurationMs(b.maxIdleTimeout);
    if (asked !== undefined && max !== undefined && (asked === 0 || asked > max)) {
      const never = asked === 0 ? " (never stop)" : "";
      out.push({
        field: "spec.idleTimeout",
        message: `spec.idleTimeout ${spec.idleTimeout}${never} exceeds the class's bounds.maxIdleTimeout ${b.maxIdleTimeout}`,
      });
    }
  }
  return out;
}

/** `boundsViolationsOf` as the sentences the operator writes in status. */
export const boundsViolations = (
  spec: Pick<WorkspaceSpec, "storage" | "resources" | "idleTimeout">,
  cls: WorkspaceClass,
): string[] => boundsViolationsOf(spec, cls).map((v) => v.message);

/** Why a workspace may not start now. */
export interface RunningLimitBlock {
  reason: "UserLimitReached";
  /** The limit reached. */
  limit: number;
  /** Which limit: the installation's (`user`) or the workspace's class's (`class`). */
  scope: "user" | "class";
  /** `namespace/name` of the workspaces holding it, oldest first. */
  holders: string[];
  message: string;
}

/** What the running-limit decision reads. */
export interface RunningLimitInput {
  ws: Workspace;
  /** The cluster's workspaces (those of other owners are ignored). */
  workspaces: readonly Workspace[];
  /**
   * Whether a workspace has a pod now (starting, running, or being replaced by a roll): it holds a
   * slot whatever the order.
   */
  hasPod(w: Workspace): boolean;
  classOf(w: Workspace): WorkspaceClass | undefined;
  /** The installation's limit of running workspaces per user; 0: none. */
  maxRunningPerUser: number;
}

const key = (w: Workspace) => `${w.metadata.namespace ?? ""}/${w.metadata.name ?? ""}`;

/** Oldest first (creationTimestamp), then by namespace/name: the order in which waiting workspaces start. */
export function startOrder(a: Workspace, b: Workspace): number {
  const ta = a.metadata.creationTimestamp ?? "";
  const tb = b.metadata.creationTimestamp ?? "";
  if (ta !== tb) return ta < tb ? -1 : 1;
  const ka = key(a);
  const kb = key(b);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

/**
 * Whether `ws` must wait for its owner's running limit (the installation's, or its class's
 * `userLimits.maxRunning` counted over that class): undefined when it may start. Workspaces with a pod
 * hold their slots; the waiting ones take free slots oldest first, so the answer is the same whichever
 * of them is reconciled first, and a workspace that already has a pod is never blocked.
 */
export function runningLimitBlock(i: RunningLimitInput): RunningLimitBlock | undefined {
  const { ws } = i;
  if (ws.spec.running === false || i.hasPod(ws)) return undefined;
  // No limit can apply to it: skip the walk over the cluster's workspaces.
  if (i.maxRunningPerUser <= 0 && i.classOf(ws)?.spec.userLimits?.maxRunning === undefined) return undefined;
  const mine = i.workspaces
    .filter(
      (w) => w.spec.owner === ws.spec.owner && !w.metadata.deletionTimestamp && w.spec.running !== false,
    )
    .filter((w) => key(w) !== key(ws))
    .concat([ws])
    .sort(startOrder);
  const taken = mine.filter((w) => i.hasPod(w));
  for (const w of mine) {
    if (i.hasPod(w)) continue;
    const cls = i.classOf(w);
    if (w !== ws && (!cls || boundsViolations(w.spec, cls).length)) continue; // will not start anyway
    const block = blockOf(w, cls, taken, i);
    if (w === ws) return block;
    if (!block) taken.push(w);
  }
  return undefined;
}

function blockOf(
  w: Workspace,
  cls: WorkspaceClass | undefined,
  taken: Workspace[],
  i: RunningLimitInput,
): RunningLimitBlock | undefined {
  if (i.maxRunningPerUser > 0 && taken.length >= i.maxRunningPerUser) {
    const holders = taken.map(key);
    return {
      reason: "UserLimitReached",
      limit: i.maxRunningPerUser,
      scope: "user",
      holders,
      message:
        `${w.spec.owner} already runs ${holders.length} workspace(s), the per-user limit of ${i.maxRunningPerUser} ` +
        `(api.limits.maxRunning, --max-running-per-user): ${holders.join(", ")}. Stop one of them and this ` +
        `workspace starts by itself.`,
    };
  }
  const classLimit = cls?.spec.userLimits?.maxRunning;
  if (cls && classLimit !== undefined) {
    const name = cls.metadata.name;
    const same = taken.filter((t) => (t.spec.className ?? t.spec.ide) === name).map(key);
    if (same.length >= classLimit) {
      return {
        reason: "UserLimitReached",
        limit: classLimit,
        scope: "class",
        holders: same,
        message:
          `${w.spec.owner} already runs ${same.length} workspace(s) of class ${name}, its limit of ${classLimit} ` +
          `(WorkspaceClass ${name} spec.userLimits.maxRunning)${same.length ? `: ${same.join(", ")}` : ""}. ` +
          `Stop one of them and this workspace starts by itself.`,
      };
    }
  }
  return undefined;
}
