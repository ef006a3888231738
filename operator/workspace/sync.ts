/**
 * Repository sync: upstream merged into a running workspace's clone without losing the user's work.
 *
 * A sync is asked for with the annotation `portico.dev/sync-requested` (an opaque request id); the
 * operator answers each distinct id once, in `status.sync` and the `Synced` condition, by running a
 * one-shot pod beside the workspace's pod (same node: the volume is ReadWriteOnce). Its init container
 * is the workspace pod's `git-clone` step (the only one holding the repository Secret; the home volume
 * read-only); its one container, `git-sync`, merges what that fetched into the live clone with no
 * Secret and no network protocol but `file`, and writes its result as its termination message.
 *
 * Everything here is pure: the pod builder, the script, the reading of a finished pod, and the
 * decision of what a reconcile does next (plan). reconcile.ts carries the plan out.
 */
import type {
  V1Container,
  V1NetworkPolicy,
  V1Pod,
  V1ResourceRequirements,
  V1Volume,
} from "@kubernetes/client-node";
import { workspaceEgressRules } from "./egress.ts";
import type {
  Condition,
  Workspace,
  WorkspaceClass,
  WorkspaceStatus,
  WorkspaceSync,
} from "../../crds/types.ts";
import type { BuilderConfig } from "../config.ts";
import {
  CHILD_SELECTOR,
  OWNER_LABEL,
  SYNC_OF_LABEL,
  SYNC_REQUEST_ANNOTATION,
  SYNC_REQUESTED_ANNOTATION,
  childAnnotations,
  childLabels,
  childNames,
  ownerSlug,
  requiredName,
  requiredNamespace,
  workspaceLabelValue,
} from "../../common/model/workspace/names.ts";
import {
  GIT_PRELUDE,
  GIT_SECRET_VOLUME,
  GIT_WORK_MOUNT,
  GIT_WORK_VOLUME,
  HOME_VOLUME,
  buildGitCloneContainer,
  compareQuantities,
  gitContainer,
  gitEnv,
  gitSecretVolume,
  mergeResources,
  mountPath,
  podSecurityContext,
  workspaceOwnerRef,
} from "./build.ts";

/** The sync pod's container that merges (its termination message is the result). */
export const SYNC_CONTAINER = "git-sync";
/** Where the sync container writes its result: the kubelet's default termination message path. */
export const TERMINATION_LOG = "/dev/termination-log";
/** A sync that has not finished after this long is stopped by the kubelet (pod phase Failed). */
export const SYNC_DEADLINE_SECONDS = 600;

/** Reasons of a successful sync (the script's `reason`, the `Synced` condition's reason when True). */
export const SYNC_SUCCESS_REASONS = ["Merged", "UpToDate", "MergedKeepingLocal"] as const;
export type SyncSuccessReason = (typeof SYNC_SUCCESS_REASONS)[number];

/**
 * The `git-sync` container's script. Rules (nbgitpuller's, with fewer commits on the user's behalf):
 * - fetch what the `git-clone` step fetched into `origin/*`; nothing to merge: UpToDate;
 * - a file deleted here (not committed) that changed upstream comes back, upstream's version;
 * - no local commits and no local change in upstream's way: fast-forward, nothing committed, local
 *   changes stay uncommitted;
 * - otherwise the local changes (tracked, and untracked files upstream also adds) are committed, then
 *   upstream is merged; a file changed on both sides keeps the user's whole version and is listed as a
 *   conflict; with no local commits before, the branch then ends on upstream's commit with the user's
 *   changes back as uncommitted changes (the temporary commits stay in the reflog);
 * - a merge, rebase or cherry-pick in progress, no upstream branch, unrelated histories: nothing is
 *   touched and the sync fails, saying why.
 * Hooks, fsmonitor and every config file but the clone's own are off, as in the checkout step. The
 * result goes to `$TERMINATION_LOG` as `{reason, commit, conflicts, message}` (at most 4 KiB).
 */
export const GIT_SYNC_SCRIPT = `${GIT_PRELUDE}export GIT_ALLOW_PROTOCOL=file GIT_LITERAL_PATHSPECS=1 LC_ALL=C
out="\${TERMINATION_LOG:-/dev/termination-log}"
request="\${SYNC_REQUEST:-}"
g() {
  # shellcheck disable=SC2086
  git $G -c protocol.file.allow=always -c safe.directory="$target" -c safe.directory="$repo" \\
    -c core.quotePath=false -c user.name="Portico sync" -c user.email=sync@portico.invalid \\
    -c commit.gpgSign=false -c merge.autoStash=false "$@"
}
# A JSON string: control characters become spaces, backslashes and quotes are escaped.
js() { printf '"%s"' "$(printf '%s' "$1" | tr '\\001-\\037' ' ' | sed 's/\\\\/\\\\\\\\/g; s/"/\\\\"/g')"; }
reported=
saved=
report() {
  commit="$(g -C "$target" rev-parse --verify --quiet HEAD 2>/dev/null || true)"
  list=
  more=0
  if [ -s "$work/conflicts" ]; then
    while IFS= read -r f; do
      item="$(js "$f")"
      if [ $((\${#list} + \${#item})) -gt 2400 ]; then
        more=$((more + 1))
        continue
      fi
      list="\${list:+$list,}$item"
    done <"$work/conflicts"
  fi
  msg="$2"
  if [ "$more" -gt 0 ]; then msg="$msg ($more more not listed)"; fi
  printf '{"reason":%s,"commit":%s,"conflicts":[%s],"message":%s}' \\
    "$(js "$1")" "$(js "$commit")" "$list" "$(js "$msg")" >"$out"
  reported=1
  log "$1: $msg"
}
kept() {
  if [ -n "$saved" ]; then
    printf ' Local changes were committed first as %s, so nothing is lost.' "$saved"
  else
    printf ' Nothing was changed.'
  fi
}
fail() {
  report Failed "$1$(kept)"
  exit 1
}
on_exit() {
  rc=$?
  if [ -z "$reported" ]; then
    if [ -e "$target/.git/MERGE_HEAD" ]; then g -C "$target" merge --abort >/dev/null 2>&1 || true; fi
    report Failed "git failed (exit code $rc) before the sync finished; the sync pod's log says why.$(kept)"
  fi
}
trap on_exit EXIT
mkdir -p "$work"
: >"$work/conflicts"

if [ ! -e "$target/.git" ]; then
  fail "$target is not a git clone; stop and start the workspace to clone $GIT_URL again."
fi
if [ -z "$(cat "$work/fetched" 2>/dev/null || true)" ]; then
  fail "could not fetch $GIT_URL (the git-clone step's log says why)."
fi
cd "$target"
for f in MERGE_HEAD CHERRY_PICK_HEAD REVERT_HEAD rebase-merge rebase-apply; do
  if [ -e ".git/$f" ]; then
    fail "a merge, rebase, cherry-pick or revert is in progress in $target; finish or abort it, then sync again."
  fi
done
g fetch --quiet --no-tags -- "$repo" '+refs/heads/*:refs/remotes/origin/*'
g fetch --quiet -- "$repo" 'refs/tags/*:refs/tags/*' 2>/dev/null || true
if ! upstream="$(g rev-parse --abbrev-ref --symbolic-full-name '@{upstream}' 2>/dev/null)"; then
  fail "the checkout has no upstream branch (a tag, a commit or a local branch); check out a branch of $GIT_URL to sync."
fi
them="$(g rev-parse --verify "$upstream^{commit}")"
head="$(g rev-parse --verify HEAD)"
if g merge-base --is-ancestor "$them" "$head"; then
  report UpToDate "already up to date with $upstream."
  exit 0
fi
if ! base="$(g merge-base "$head" "$them")"; then
  fail "$upstream shares no history with the checked-out branch."
fi
g diff --no-renames --name-only "$base" "$them" | sort -u >"$work/upstream"

# Deleted here (not committed), changed upstream: the file comes back, upstream's version.
g ls-files --deleted | sort -u >"$work/deleted"
while IFS= read -r f; do
  if grep -qxF -- "$f" "$work/upstream" && g cat-file -e "$them:$f" 2>/dev/null; then
    g checkout --quiet "$them" -- "$f"
  fi
done <"$work/deleted"

# No local commits and no local change in upstream's way: a fast-forward, nothing committed.
if [ "$head" = "$base" ] && g merge --ff-only --quiet "$them" >/dev/null 2>&1; then
  report Merged "fast-forwarded to $upstream; local changes are kept as they were."
  exit 0
fi

# What the user changed since the common base: committed, not committed, and files upstream adds
# that exist here untracked (or ignored), which a merge would otherwise overwrite or refuse.
: >"$work/untracked"
while IFS= read -r f; do
  if { [ -e "$f" ] || [ -L "$f" ]; } && ! g ls-files --error-unmatch -- "$f" >/dev/null 2>&1; then
    printf '%s\\n' "$f" >>"$work/untracked"
  fi
done <"$work/upstream"
{
  g diff --no-renames --name-only "$base"
  cat "$work/untracked"
} | sort -u >"$work/local"
comm -12 "$work/local" "$work/upstream" >"$work/both"

# Keep the user's work safe through the merge: commit it (a merge cannot lose a commit).
g add --update
while IFS= read -r f; do g add --force -- "$f"; done <"$work/untracked"
if ! g diff --cached --quiet; then
  g commit --quiet --no-verify -m "Portico sync: local changes before merging $upstream" \\
    -m "Committed by the repository sync $request so that merging upstream cannot lose them."
  saved="$(g rev-parse HEAD)"
fi
ours="$(g rev-parse HEAD)"

g merge --quiet --no-commit --no-ff -Xours "$them" >/dev/null 2>&1 || true
if [ ! -e .git/MERGE_HEAD ]; then
  fail "git could not merge $upstream (the sync pod's log says why)."
fi
# Files changed on both sides: the user's whole version wins (not a line-by-line mix); a file
# deleted here but changed upstream comes back.
while IFS= read -r f; do
  if g cat-file -e "$ours:$f" 2>/dev/null; then
    g checkout --quiet "$ours" -- "$f"
    if ! g diff --quiet "$ours" "$them" -- "$f"; then printf '%s\\n' "$f" >>"$work/conflicts"; fi
  elif g cat-file -e "$them:$f" 2>/dev/null; then
    g checkout --quiet "$them" -- "$f"
  else
    g rm --quiet --cached --ignore-unmatch -- "$f"
  fi
done <"$work/both"
unmerged="$(g diff --name-only --diff-filter=U | head -n 5 | tr '\\n' ' ')"
if [ -n "$unmerged" ]; then
  g merge --abort
  fail "git left files unmerged while merging $upstream: $unmerged"
fi
g commit --quiet --no-verify -m "Portico sync: merge $upstream" -m "Merged by the repository sync $request."

if [ "$head" = "$base" ]; then
  # No local commits before: end on upstream's commit with the user's changes on top, uncommitted
  # as they were (the temporary commits stay reachable in the reflog).
  g reset --quiet --mixed "$them"
  saved=
fi
n="$(wc -l <"$work/conflicts" | tr -d ' ')"
if [ "$n" -gt 0 ]; then
  how="kept the local version of $n file(s) changed both here and upstream"
  if [ -n "$saved" ]; then how="$how; local changes were committed first as $saved"; fi
  report MergedKeepingLocal "merged $upstream; $how."
elif [ -n "$saved" ]; then
  report Merged "merged $upstream; local changes were committed first as $saved."
else
  report Merged "merged $upstream; local changes are kept as they were."
fi
exit 0
`;

/**
 * Requests of the sync pod: small (it bypasses the scheduler with `nodeName`, and the kubelet admits
 * it only if it fits beside the workspace's pod), never above the workspace's limits, which it keeps.
 */
export function syncResources(r: V1ResourceRequirements | undefined): V1ResourceRequirements {
  const small: Record<string, string> = { cpu: "100m", memory: "128Mi" };
  const requests: Record<string, string> = {};
  for (const [k, v] of Object.entries(small)) {
    const limit = r?.limits?.[k];
    requests[k] = limit !== undefined && compareQuantities(String(limit), v) === -1 ? String(limit) : v;
  }
  return { requests, ...(r?.limits ? { limits: r.limits } : {}) };
}

/**
 * The sync pod for `request`, pinned to `nodeName` (the workspace pod's node), or undefined when the
 * workspace has no repository. Not labelled `portico.dev/workspace`: the workspace's Service and
 * NetworkPolicy select that label, and a sync pod serves nothing.
 */
export function buildSyncPod(
  ws: Workspace,
  cls: WorkspaceClass,
  config: BuilderConfig,
  nodeName: string,
  request: string,
): V1Pod | undefined {
  const resources = syncResources(mergeResources(cls.spec.resources, ws.spec.resources));
  const clone = buildGitCloneContainer(ws, cls, config, resources);
  if (!clone) return undefined;
  const names = childNames(ws);
  const sync: V1Container = {
    ...gitContainer(
      SYNC_CONTAINER,
      GIT_SYNC_SCRIPT,
      [
        ...gitEnv(ws, cls),
        { name: "SYNC_REQUEST", value: request },
        { name: "TERMINATION_LOG", value: TERMINATION_LOG },
      ],
      [
        { name: HOME_VOLUME, mountPath: mountPath(cls) },
        { name: GIT_WORK_VOLUME, mountPath: GIT_WORK_MOUNT },
      ],
      config,
      resources,
    ),
    terminationMessagePath: TERMINATION_LOG,
  };
  const volumes: V1Volume[] = [
    { name: HOME_VOLUME, persistentVolumeClaim: { claimName: names.pvc } },
    { name: GIT_WORK_VOLUME, emptyDir: {} },
  ];
  if (clone.volumeMounts?.some((m) => m.name === GIT_SECRET_VOLUME)) volumes.push(gitSecretVolume(ws));
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: names.sync,
      namespace: requiredNamespace(ws),
      labels: {
        ...CHILD_SELECTOR,
        [OWNER_LABEL]: ownerSlug(ws.spec.owner),
        [SYNC_OF_LABEL]: workspaceLabelValue(requiredName(ws)),
      },
      annotations: { ...childAnnotations(ws), [SYNC_REQUEST_ANNOTATION]: request },
      ownerReferences: [workspaceOwnerRef(ws)],
    },
    spec: {
      nodeName,
      restartPolicy: "Never",
      activeDeadlineSeconds: SYNC_DEADLINE_SECONDS,
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      securityContext: podSecurityContext(),
      initContainers: [clone],
      containers: [sync],
      volumes,
    },
  };
}

/**
 * The sync pods' NetworkPolicy (`ws-{name}-sync`, created before the first sync pod, kept with the
 * workspace): nothing may connect to them, and they may connect where the workspace's pod may (the
 * `git-clone` step fetches from the same git server). The workspace's own policy selects the
 * `portico.dev/workspace` label, which sync pods do not carry.
 */
export function buildSyncNetworkPolicy(ws: Workspace, config: BuilderConfig): V1NetworkPolicy {
  // The keep-alive listener is for the workspace's own pod, not its sync pods (issue 15).
  const { keepAlive: _workspaceOnly, ...syncEgress } = config.workspaceEgress;
  void _workspaceOnly;
  const egress = workspaceEgressRules(syncEgress);
  return {
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: {
      name: childNames(ws).sync,
      namespace: requiredNamespace(ws),
      labels: childLabels(ws),
      annotations: childAnnotations(ws),
      ownerReferences: [workspaceOwnerRef(ws)],
    },
    spec: {
      podSelector: { matchLabels: { [SYNC_OF_LABEL]: workspaceLabelValue(requiredName(ws)) } },
      policyTypes: egress ? ["Ingress", "Egress"] : ["Ingress"],
      ingress: [],
      ...(egress ? { egress } : {}),
    },
  };
}

/** What a finished sync pod says. */
export interface SyncResult {
  ok: boolean;
  /** A success reason, or `SyncFailed`. */
  reason: SyncSuccessReason | "SyncFailed";
  commit?: string;
  conflicts: string[];
  message: string;
}

const cut = (s: string, n = 1000) => (s.length > n ? `${s.slice(0, n)}…` : s);

/** Parses the `git-sync` container's termination message; undefined when it is not the script's JSON. */
export function parseSyncReport(
  text: string | undefined,
): { reason: string; commit?: string; conflicts: string[]; message: string } | undefined {
  if (!text) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!v || typeof v !== "object") return undefined;
  const o = v as Record<string, unknown>;
  if (typeof o.reason !== "string" || typeof o.message !== "string") return undefined;
  const conflicts = Array.isArray(o.conflicts) ? o.conflicts.filter((c) => typeof c === "string") : [];
  return {
    reason: o.reason,
    ...(typeof o.commit === "string" && o.commit ? { commit: o.commit } : {}),
    conflicts: conflicts.slice(0, 256),
    message: cut(o.message),
  };
}

/**
 * The result of a sync pod, or undefined while it is still going. The `git-sync` container's exit and
 * message decide; a pod that failed before it (the fetch step, the deadline, kubelet admission) fails
 * the sync with the kubelet's or the fetch step's words.
 */
export function readSyncResult(pod: V1Pod): SyncResult | undefined {
  const main = pod.status?.containerStatuses?.find((c) => c.name === SYNC_CONTAINER)?.state?.terminated;
  if (main) {
    const report = parseSyncReport(main.message);
    const success = SYNC_SUCCESS_REASONS.find((r) => r === report?.reason);
    if (main.exitCode === 0 && report && success) {
      return {
        ok: true,
        reason: success,
        commit: report.commit,
        conflicts: report.conflicts,
        message: report.message,
      };
    }
    const detail = report?.message ?? (main.message?.trim() ? cut(main.message.trim()) : "");
    return {
      ok: false,
      reason: "SyncFailed",
      commit: report?.commit,
      conflicts: [],
      message: detail || `the ${SYNC_CONTAINER} container exited with code ${main.exitCode}`,
    };
  }
  const fetch = pod.status?.initContainerStatuses?.[0]?.state?.terminated;
  if (fetch && fetch.exitCode !== 0) {
    const said = fetch.message?.trim() ? `: ${cut(fetch.message.trim())}` : "";
    return {
      ok: false,
      reason: "SyncFailed",
      conflicts: [],
      message: `fetching the repository failed${said}`,
    };
  }
  if (pod.status?.phase === "Failed") {
    const why = [pod.status.reason, pod.status.message].filter(Boolean).join(": ");
    return {
      ok: false,
      reason: "SyncFailed",
      conflicts: [],
      message: `the sync pod failed${why ? `: ${why}` : ""}`,
    };
  }
  return undefined;
}

/** A condition before its bookkeeping fields. */
export interface SyncJudgement {
  status: Condition["status"];
  reason: string;
  message: string;
}

/** What one reconcile does about syncing, decided from what it observed. */
export interface SyncPlan {
  /** `status.sync` to write (absent: keep what is there). */
  sync?: WorkspaceSync;
  /** The `Synced` condition to write (absent: keep what is there). */
  synced?: SyncJudgement;
  /** Create the sync pod for the current request. */
  create?: boolean;
  /** A sync pod to delete: before the status write when stale, after it when its result is recorded. */
  remove?: { pod: V1Pod; afterStatus: boolean };
  event?: { type: "Normal" | "Warning"; reason: string; message: string };
}

/** What the plan needs to know. */
export interface SyncObserved {
  ws: Workspace;
  /** The workspace's own pod (cache). */
  pod?: V1Pod;
  /** The sync pod (cache). */
  syncPod?: V1Pod;
  /** Whether the workspace's pod is Ready. */
  podReady: boolean;
  now: string;
}

/**
 * The next step of the current sync request. One pod per request id: a pod of another id is deleted
 * first; a recorded result is never recomputed; a pod whose result is recorded is only deleted. So a
 * crash between any two writes converges on the next reconcile without a second pod or a second Event.
 * A stopped workspace keeps the request Pending (Synced False, NotRunning): it runs once the workspace
 * is running and Ready again.
 */
export function planSync(o: SyncObserved): SyncPlan {
  const { ws, syncPod } = o;
  const requested = ws.metadata.annotations?.[SYNC_REQUESTED_ANNOTATION];
  const previous = ws.status?.sync;
  const stale = syncPod && syncPod.metadata?.annotations?.[SYNC_REQUEST_ANNOTATION] !== requested;
  const terminating = !!syncPod?.metadata?.deletionTimestamp;
  if (!requested || (previous?.requested === requested && isFinished(previous))) {
    return syncPod && !terminating ? { remove: { pod: syncPod, afterStatus: false } } : {};
  }
  const pending = (message: string, reason: string, status: Condition["status"] = "False"): SyncPlan => ({
    sync: { requested, state: "Pending", message },
    synced: { status, reason, message },
  });
  if (stale) {
    const plan = pending(
      `Replacing the sync pod of an earlier request with one for ${requested}.`,
      "Syncing",
      "Unknown",
    );
    return terminating ? plan : { ...plan, remove: { pod: syncPod, afterStatus: false } };
  }
  if (!ws.spec.repository) {
    const message = "The workspace has no spec.repository: there is nothing to sync.";
    return {
      sync: { requested, state: "Failed", message, finishedAt: o.now },
      synced: { status: "False", reason: "NoRepository", message },
      event: { type: "Warning", reason: "SyncFailed", message },
    };
  }
  if (syncPod) {
    const result = readSyncResult(syncPod);
    if (!result) return running(requested);
    return {
      ...finished(requested, result, o.now),
      ...(terminating ? {} : { remove: { pod: syncPod, afterStatus: true } }),
    };
  }
  if (
    ws.spec.running === false ||
    !o.pod ||
    o.pod.metadata?.deletionTimestamp ||
    !o.podReady ||
    !o.pod.spec?.nodeName
  ) {
    return pending(
      "The workspace is not running: the sync runs once it is running and Ready (start it with spec.running: true).",
      "NotRunning",
    );
  }
  return {
    ...running(requested),
    create: true,
    event: {
      type: "Normal",
      reason: "SyncStarted",
      message: `merging upstream into the clone (request ${requested})`,
    },
  };
}

const isFinished = (s: WorkspaceSync) => s.state === "Succeeded" || s.state === "Failed";

function running(requested: string): SyncPlan {
  const message = "Fetching upstream and merging it into the clone.";
  return {
    sync: { requested, state: "Running", message },
    synced: { status: "Unknown", reason: "Syncing", message },
  };
}

function finished(requested: string, r: SyncResult, now: string): SyncPlan {
  const sync: WorkspaceSync = {
    requested,
    state: r.ok ? "Succeeded" : "Failed",
    ...(r.commit ? { commit: r.commit } : {}),
    ...(r.conflicts.length ? { conflicts: r.conflicts } : {}),
    message: r.message,
    finishedAt: now,
  };
  const shown = r.conflicts.slice(0, 10).join(", ") + (r.conflicts.length > 10 ? ", …" : "");
  const message = r.reason === "MergedKeepingLocal" ? `${r.message} Kept locally: ${shown}.` : r.message;
  return {
    sync,
    synced: { status: r.ok ? "True" : "False", reason: r.reason, message },
    event: { type: r.ok ? "Normal" : "Warning", reason: r.reason, message },
  };
}

/**
 * `status` with the plan's `sync` and `Synced` condition (lastTransitionTime kept while the condition's
 * status does not change). The rest of the status is computeStatus's.
 */
export function withSync(
  status: WorkspaceStatus,
  ws: Workspace,
  plan: SyncPlan,
  now: string,
): WorkspaceStatus {
  if (!plan.sync && !plan.synced) return status;
  const out: WorkspaceStatus = { ...status, ...(plan.sync ? { sync: plan.sync } : {}) };
  if (plan.synced) {
    const previous = ws.status?.conditions?.find((c) => c.type === "Synced");
    const generation = ws.metadata.generation;
    const condition: Condition = {
      type: "Synced",
      status: plan.synced.status,
      ...(generation !== undefined ? { observedGeneration: generation } : {}),
      lastTransitionTime:
        previous && previous.status === plan.synced.status ? previous.lastTransitionTime : now,
      reason: plan.synced.reason,
      message: plan.synced.message,
    };
    out.conditions = [...(status.conditions ?? []).filter((c) => c.type !== "Synced"), condition];
  }
  return out;
}
