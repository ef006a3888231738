/**
 * Reconcile one Workspace: observe (from the caches) → build the desired children (pure) → ensure
 * each child exists and carries what the operator owns (one code path for all kinds; no write when
 * nothing changed) → compute status (pure) → write /status only when it changed.
 *
 * Idempotent by construction: child names are deterministic, creates are server-side applies, and
 * every decision is taken from what is observed now, so a crash at any point converges on restart
 * without duplicates. Never edits the Workspace's spec. The idle stop (idle.ts) is an annotation
 * patched first, guarded by the resourceVersion it was decided from, then the ordinary pod delete:
 * the annotation alone decides, so a crash between the two converges. Never deletes a PVC itself: claims go only
 * through garbage collection, and only those the reclaim policy gave an owner reference.
 */
import type {
  KubernetesObject,
  V1OwnerReference,
  V1PersistentVolumeClaim,
  V1Pod,
} from "@kubernetes/client-node";
import type { Workspace, WorkspaceClass, WorkspaceStatus } from "../../crds/types.ts";
import type { BuilderConfig } from "../config.ts";
import type { Logger } from "../../common/runtime/log.ts";
import {
  buildChildren,
  compareQuantities,
  podSpecHash,
  POD_SPEC_HASH_ANNOTATION,
  workspaceOwnerRef,
} from "./build.ts";
import { childNames } from "../../common/model/workspace/names.ts";
import { computeStatus, isPodReady, rfc3339, statusEqual, type StartBlock } from "./status.ts";
import { boundsViolations, runningLimitBlock } from "../../common/model/workspace/limits.ts";
import { buildSyncNetworkPolicy, buildSyncPod, planSync, withSync, type SyncPlan } from "./sync.ts";
import {
  IDLE_REASONS,
  IDLE_STOPPED_ANNOTATION,
  REPORT_INTERVAL_MS,
  WOKEN_ANNOTATION,
  annotationTime,
  idleSettings,
  isIdleStopped,
} from "../../common/model/workspace/lifecycle.ts";
import { decideIdle } from "./idle.ts";
import { probeTarget, type ProbeTarget } from "./probe-parse.ts";
import { basePath } from "../../common/model/workspace/template.ts";

/** Read access to the watched caches. */
export interface Cache<T> {
  get(name: string, namespace?: string): T | undefined;
  list(namespace?: string): T[];
}

export interface WorkspaceCaches {
  /** `mutated`, when there: told of each status write's answer (engine/mutation-cache.ts). */
  workspaces: Cache<Workspace> & { mutated?(ws: Workspace): void };
  classes: Cache<WorkspaceClass>;
  pods: Cache<V1Pod>;
  pvcs: Cache<V1PersistentVolumeClaim>;
  services: Cache<KubernetesObject>;
  networkPolicies: Cache<KubernetesObject>;
  virtualServices?: Cache<KubernetesObject>;
}

/** The side effects a reconcile may have: each one a write the operator owns (or a single read). */
export interface WorkspaceApi {
  /** Server-side apply of the fields in `obj` (creates when absent); the object as the server has it. */
  apply(obj: KubernetesObject): Promise<KubernetesObject | void>;
  /** JSON merge patch of an existing object; the object as the server has it afterwards. */
  patch(obj: KubernetesObject, patch: object): Promise<KubernetesObject | void>;
  /** Deletes an object, only if it still has this uid. */
  delete(obj: KubernetesObject): Promise<void>;
  /** Replaces the status; the Workspace as the server has it afterwards. */
  writeStatus(ws: Workspace, status: WorkspaceStatus): Promise<Workspace | void>;
  secretExists(namespace: string, name: string): Promise<boolean>;
  /** Records an Event; may resolve before it is written (never fails the reconcile). */
  event(ws: Workspace, type: "Normal" | "Warning", reason: string, message: string): Promise<void>;
}

export interface ReconcileDeps {
  caches: WorkspaceCaches;
  api: WorkspaceApi;
  config: BuilderConfig;
  /** Running workspaces per user (0: no limit); a class may lower it. */
  maxRunningPerUser?: number;
  virtualServices: boolean;
  log: Logger;
  now(): Date;
  /**
   * Called when a workspace turns Ready: after its creation (seconds since it), or after a wake
   * (seconds since the `portico.dev/woken` time).
   */
  onReady?(seconds: number, after: "create" | "wake"): void;
  /** Called once per stop: an idle stop when its annotation is written, a user's when its pod is deleted. */
  onStop?(reason: "idle" | "user"): void;
  /** The IDE probe poller (probe.ts): told what to poll, asked what it saw. */
  probes?: {
    activity(namespace: string, name: string): number | undefined;
    track(namespace: string, name: string, target: ProbeTarget | undefined): void;
  };
}

export type ReconcileResult = void | { requeueAfterMs: number };

/** How often to look again at a workspace waiting on something nobody watches (a Secret). */
const RECHECK_MS = 10_000;

export async function reconcileWorkspace(
  namespace: string,
  name: string,
  d: ReconcileDeps,
): Promise<ReconcileResult> {
  const cached = d.caches.workspaces.get(name, namespace);
  if (!cached || cached.metadata.deletionTimestamp) return; // gone or going: garbage collection does the rest
  const log = d.log.child({ workspace: `${namespace}/${name}` });

  // observe
  const cls = d.caches.classes.get(cached.spec.className ?? cached.spec.ide ?? "");
  const names = childNames(cached);
  const ideActivityMs = d.probes?.activity(namespace, name);
  // idle: the stop is decided before anything else, so the rest of the reconcile stops the pod.
  const ws = await idleStop(cached, cls, d.caches.pods.get(names.pod, namespace), ideActivityMs, d, log);
  if (!ws) return { requeueAfterMs: CONFLICT_RETRY_MS };
  const observed = {
    pvc: d.caches.pvcs.get(names.pvc, namespace),
    pod: d.caches.pods.get(names.pod, namespace),
    service: d.caches.services.get(names.service, namespace),
    networkPolicy: d.caches.networkPolicies.get(names.networkPolicy, namespace),
    virtualService: d.virtualServices
      ? d.caches.virtualServices?.get(names.virtualService, namespace)
      : undefined,
  };
  const secretName = ws.spec.repository?.secretRef?.name;
  const missingSecret =
    cls && secretName && !(await d.api.secretExists(namespace, secretName)) ? secretName : undefined;

  // What the status is computed from: the caches, except for a child written just now, whose
  // server answer is newer. So the first status already names the children it created, and is
  // not stale as soon as it is written (one status write per workspace less).
  const seen = { ...observed };

  // build + ensure
  let rolling = false;
  let block: StartBlock | undefined;
  let pod = observed.pod;
  if (cls) {
    const desired = buildChildren(ws, cls, d.config, { virtualService: d.virtualServices });
    // The children before the pod are independent of each other: one round trip for all of them
    // (at scale, a reconcile's sequential API round trips are what bounds the operator). The pod
    // comes after them, so its egress policy exists before it runs.
    const [pvc, service, networkPolicy, virtualService] = await Promise.all([
      ensureClaim(ws, desired.pvc, observed.pvc, d, log),
      ensureObject(desired.service, observed.service, d, log),
      ensureObject(desired.networkPolicy, observed.networkPolicy, d, log),
      desired.virtualService && ensureObject(desired.virtualService, observed.virtualService, d, log),
    ]);
    seen.pvc = (pvc as V1PersistentVolumeClaim | undefined) ?? seen.pvc;
    seen.service = service ?? seen.service;
    seen.networkPolicy = networkPolicy ?? seen.networkPolicy;
    seen.virtualService = virtualService || seen.virtualService;

    // A pod that exists is never deleted for a limit: only starting waits on one.
    block = pod ? undefined : startBlock(ws, cls, d);
    const wantPod = ws.spec.running !== false && !isIdleStopped(ws) && !missingSecret && !(block && !pod);
    const terminating = !!pod?.metadata?.deletionTimestamp;
    if (!wantPod) {
      if (pod && !terminating) {
        await d.api.delete(pod);
        if (ws.spec.running === false) d.onStop?.("user");
        await d.api.event(
          ws,
          "Normal",
          "Stopping",
          `deleting pod ${names.pod}; the volume ${names.pvc} is kept`,
        );
      }
    } else if (!pod) {
      pod = ((await d.api.apply(desired.pod)) as V1Pod | undefined) ?? desired.pod;
      log.info("created pod", { pod: names.pod });
      await d.api.event(ws, "Normal", "Starting", `created pod ${names.pod}`);
      seen.pod = pod;
    } else if (terminating) {
      rolling = ws.status?.conditions?.some((c) => c.reason === "Rolling") ?? false;
    } else if (pod.metadata?.annotations?.[POD_SPEC_HASH_ANNOTATION] !== podSpecHash(desired.pod)) {
      // Pods are immutable where it matters: a class or spec change means a new pod, same volume.
      rolling = true;
      await d.api.delete(pod);
      log.info("replacing pod to apply a spec or class change", { pod: names.pod });
      await d.api.event(
        ws,
        "Normal",
        "Rolling",
        `replacing pod ${names.pod} to apply a WorkspaceClass or spec change`,
      );
    }
  }

  // sync (its pod is created only beside a running pod; its result is recorded before it goes)
  const syncPod = d.caches.pods.get(names.sync, namespace);
  const plan = planSync({
    ws,
    pod: observed.pod,
    syncPod,
    podReady: !!observed.pod && isPodReady(observed.pod),
    now: rfc3339(d.now()),
  });
  if (plan.remove && !plan.remove.afterStatus) await d.api.delete(plan.remove.pod);
  if (plan.create && cls && observed.pod?.spec?.nodeName) {
    const request = plan.sync!.requested;
    const desired = buildSyncPod(ws, cls, d.config, observed.pod.spec.nodeName, request);
    if (desired) {
      // Its egress policy first, so the fetch step is never less confined than the workspace's pod.
      const policy = buildSyncNetworkPolicy(ws, d.config);
      await ensureObject(policy, d.caches.networkPolicies.get(names.sync, namespace), d, log);
      await d.api.apply(desired);
      log.info("created sync pod", { pod: names.sync, request });
    }
  }

  // status
  const computed = computeStatus(
    {
      ws,
      cls,
      pvc: seen.pvc,
      pod: seen.pod,
      service: seen.service,
      virtualServiceWanted: d.virtualServices,
      virtualService: seen.virtualService,
      networkPolicy: seen.networkPolicy,
      missingSecret,
      block,
      rolling,
      config: d.config,
      ...(ideActivityMs !== undefined ? { ideActivityMs } : {}),
    },
    d.now(),
  );
  const status = withSync(computed, ws, plan, rfc3339(d.now()));
  if (!statusEqual(ws.status ?? {}, status)) {
    const written = await d.api.writeStatus(ws, status);
    // Until the watch delivers it, the next reconcile reads this answer, not the older object.
    if (written) d.caches.workspaces.mutated?.(written);
    await announce(ws, ws.status, status, d);
  }
  await finishSync(ws, plan, d);
  return settle(ws, cls, { observed: observed.pod, seen: seen.pod }, ideActivityMs, missingSecret, d);
}

/** After a conflicting idle-stop patch (a wake won the race): look again once the watch has the newer object. */
const CONFLICT_RETRY_MS = 1_000;

/**
 * The idle stop: when the decision says stop, the `idle-stopped` annotation is patched with the
 * resourceVersion the decision was taken from as a precondition (a wake that came meanwhile makes
 * it fail with 409: undefined is returned and the reconcile retries from the newer object, instead
 * of stopping a workspace just woken). Returns the Workspace to reconcile on with.
 */
async function idleStop(
  ws: Workspace,
  cls: WorkspaceClass | undefined,
  pod: V1Pod | undefined,
  ideActivityMs: number | undefined,
  d: ReconcileDeps,
  log: Logger,
): Promise<Workspace | undefined> {
  if (!cls) return ws;
  const now = d.now();
  const decision = decideIdle({ ws, cls, pod, ideActivityMs, nowMs: now.getTime() });
  if (decision.action !== "stop") return ws;
  let written: Workspace;
  try {
    const answer = await d.api.patch(ws as unknown as KubernetesObject, {
      metadata: {
        resourceVersion: ws.metadata.resourceVersion,
        annotations: { [IDLE_STOPPED_ANNOTATION]: rfc3339(now) },
      },
    });
    written = (answer as Workspace | undefined) ?? {
      ...ws,
      metadata: {
        ...ws.metadata,
        annotations: { ...ws.metadata.annotations, [IDLE_STOPPED_ANNOTATION]: rfc3339(now) },
      },
    };
  } catch (err) {
    if ((err as { code?: number }).code !== 409) throw err;
    log.info("idle stop not written: the workspace changed meanwhile (a wake?); deciding again");
    return undefined;
  }
  if (fromServer(written)) d.caches.workspaces.mutated?.(written);
  d.onStop?.("idle");
  log.info("idle stop", { lastActivity: decision.lastActivity, stopsAt: decision.stopsAt });
  const after = decideIdle({ ws: written, cls, pod, ideActivityMs, nowMs: now.getTime() });
  await d.api.event(ws, "Normal", "IdleStop", after.condition.message);
  return written;
}

/** Whether a patch answer is a real server object (fakes answer nothing). */
const fromServer = (w: Workspace) => !!w.metadata.resourceVersion;

/** What the probe poller should poll for this workspace (undefined: nothing). */
function probeTargetOf(
  ws: Workspace,
  cls: WorkspaceClass,
  pod: V1Pod | undefined,
  d: ReconcileDeps,
): ProbeTarget | undefined {
  const live = pod && !pod.metadata?.deletionTimestamp && !isIdleStopped(ws) && ws.spec.running !== false;
  return probeTarget({
    probe: cls.spec.idle?.probe,
    port: cls.spec.port,
    prefix: basePath(ws, d.config),
    podIP: live ? pod.status?.podIP : undefined,
    podUid: pod?.metadata?.uid,
    podRunning: !!live && pod.status?.phase === "Running",
    podReady: !!live && isPodReady(pod),
    timeoutMs: idleSettings(ws, cls).timeoutMs,
    reportIntervalMs: REPORT_INTERVAL_MS,
  });
}

/**
 * The end of a reconcile: the probe poller told what to poll (the pod as the cache has it: its IP
 * and readiness), and when to look again by itself: the idle decision's next deadline, or a
 * missing Secret's recheck.
 */
function settle(
  ws: Workspace,
  cls: WorkspaceClass | undefined,
  pods: { observed: V1Pod | undefined; seen: V1Pod | undefined },
  ideActivityMs: number | undefined,
  missingSecret: string | undefined,
  d: ReconcileDeps,
): ReconcileResult {
  const { namespace, name } = ws.metadata;
  d.probes?.track(namespace!, name!, cls && probeTargetOf(ws, cls, pods.observed, d));
  const nowMs = d.now().getTime();
  const next = cls ? decideIdle({ ws, cls, pod: pods.seen, ideActivityMs, nowMs }).nextAtMs : undefined;
  // A little past the deadline, so the timer never fires a hair early and finds nothing to do.
  const idleMs = next !== undefined ? Math.max(next - nowMs, 0) + 100 : undefined;
  const delays = [idleMs, missingSecret ? RECHECK_MS : undefined].filter((x): x is number => x !== undefined);
  return delays.length ? { requeueAfterMs: Math.min(...delays) } : undefined;
}

/**
 * Why a workspace without a pod may not start: its ask past its class's bounds, or its owner's
 * running limit (the installation's or its class's) reached by other workspaces.
 */
function startBlock(ws: Workspace, cls: WorkspaceClass, d: ReconcileDeps): StartBlock | undefined {
  if (ws.spec.running === false) return undefined;
  const past = boundsViolations(ws.spec, cls);
  if (past.length) {
    return {
      reason: "OutOfBounds",
      message: `${past.join("; ")}. Lower the request, or ask an administrator to raise the class's bounds.`,
    };
  }
  const limit = runningLimitBlock({
    ws,
    workspaces: d.caches.workspaces.list(),
    // A pod being deleted still holds its slot while its workspace wants to run (a roll); a stopped
    // workspace's does not (runningLimitBlock counts only workspaces that want to run).
    hasPod: (w) => !!d.caches.pods.get(childNames(w).pod, w.metadata.namespace),
    classOf: (w) => d.caches.classes.get(w.spec.className ?? w.spec.ide ?? ""),
    maxRunningPerUser: d.maxRunningPerUser ?? 0,
  });
  return limit ? { reason: limit.reason, message: limit.message } : undefined;
}

/** After the status write: the sync's Event, then its finished pod goes (the result is recorded). */
async function finishSync(ws: Workspace, plan: SyncPlan, d: ReconcileDeps): Promise<void> {
  const changed =
    plan.sync &&
    (ws.status?.sync?.requested !== plan.sync.requested || ws.status?.sync?.state !== plan.sync.state);
  if (plan.event && changed) await d.api.event(ws, plan.event.type, plan.event.reason, plan.event.message);
  if (plan.remove?.afterStatus) await d.api.delete(plan.remove.pod);
}

/**
 * Ready reasons of a workspace on its way up, each followed by the next within seconds: no Event of
 * their own (status says them; the `Starting` and `Rolling` Events mark the steps), so creating a
 * workspace costs two Events, not one per step.
 */
const PROGRESS_REASONS: ReadonlySet<string> = new Set([
  "NotCreated",
  "PVCPending",
  "Starting",
  "ServiceNotCreated",
  "VirtualServiceNotCreated",
  "Rolling",
]);

/** Events and the time-to-Ready metric, on transitions only (so a steady state writes nothing). */
async function announce(
  ws: Workspace,
  before: WorkspaceStatus | undefined,
  after: WorkspaceStatus,
  d: ReconcileDeps,
) {
  const ready = (s?: WorkspaceStatus) => s?.conditions?.find((c) => c.type === "Ready");
  const was = ready(before);
  const now = ready(after);
  await announceIdle(ws, before, after, d);
  if (now?.status === "True" && was?.status !== "True") {
    await d.api.event(ws, "Normal", "Ready", `workspace is ready at ${after.url ?? "its URL"}`);
    const follows = readyFollows(ws, was);
    if (follows) d.onReady?.((d.now().getTime() - follows.since) / 1000, follows.after);
  } else if (
    now?.status !== "True" &&
    now?.reason &&
    now.reason !== was?.reason &&
    !PROGRESS_REASONS.has(now.reason) &&
    now.reason !== "Idle" // the IdleStop Event said it, with the why
  ) {
    const warning = after.phase === "Failed";
    await d.api.event(
      ws,
      warning ? "Warning" : "Normal",
      now.reason,
      now.message ?? after.message ?? now.reason,
    );
  }
}

/** The Idle condition's warning: one `IdleWarning` Event each time the warning window is entered. */
async function announceIdle(
  ws: Workspace,
  before: WorkspaceStatus | undefined,
  after: WorkspaceStatus,
  d: ReconcileDeps,
): Promise<void> {
  const idle = (s?: WorkspaceStatus) => s?.conditions?.find((c) => c.type === "Idle");
  const now = idle(after);
  if (now?.reason === IDLE_REASONS.stoppingSoon && idle(before)?.reason !== IDLE_REASONS.stoppingSoon) {
    await d.api.event(ws, "Normal", "IdleWarning", now.message ?? "stopping soon for idleness");
  }
}

/**
 * What a turn to Ready follows, for the time-to-Ready metric: a wake (the woken time is after Ready
 * last turned False), or the creation (Ready False since the first status, written within a
 * minute of the creation). Anything else (a restart after a user stop, a crash) is neither.
 */
function readyFollows(
  ws: Workspace,
  was: { lastTransitionTime?: string } | undefined,
): { after: "create" | "wake"; since: number } | undefined {
  const wentFalse = was?.lastTransitionTime ? Date.parse(was.lastTransitionTime) : undefined;
  const woken = annotationTime(ws, WOKEN_ANNOTATION);
  if (woken !== undefined && wentFalse !== undefined && woken >= wentFalse)
    return { after: "wake", since: woken };
  const created = ws.metadata.creationTimestamp
    ? new Date(ws.metadata.creationTimestamp).getTime()
    : undefined;
  if (created === undefined) return undefined;
  if (wentFalse === undefined || wentFalse - created < 60_000) return { after: "create", since: created };
  return undefined;
}

/**
 * Creates the child when absent; otherwise re-applies it only when a field the operator sets
 * drifted. Returns the child as the server answered the write (undefined: nothing written).
 */
async function ensureObject(
  desired: KubernetesObject,
  observed: KubernetesObject | undefined,
  d: ReconcileDeps,
  log: Logger,
): Promise<KubernetesObject | undefined> {
  const drift = observed ? driftOf(desired, observed) : "absent";
  if (!drift) return undefined;
  const applied = await d.api.apply(desired);
  log.info(observed ? "updated drifted child" : "created child", {
    kind: desired.kind,
    name: desired.metadata?.name,
    drift,
  });
  return applied ?? desired;
}

/** Where a child differs from what the operator wants of it: its labels, spec and owners. */
function driftOf(desired: KubernetesObject, observed: KubernetesObject): string | undefined {
  const d = desired as KubernetesObject & { spec?: unknown };
  const o = observed as KubernetesObject & { spec?: unknown };
  return (
    firstDifference(desired.metadata?.labels, observed.metadata?.labels, "metadata.labels") ??
    firstDifference(d.spec, o.spec, "spec") ??
    (sameOwners(desired.metadata?.ownerReferences, observed.metadata?.ownerReferences)
      ? undefined
      : "metadata.ownerReferences")
  );
}

/**
 * The claim: created when absent; afterwards only its owner references (which decide whether
 * garbage collection may ever delete it) and growth of its size are the operator's business.
 */
async function ensureClaim(
  ws: Workspace,
  desired: V1PersistentVolumeClaim,
  observed: V1PersistentVolumeClaim | undefined,
  d: ReconcileDeps,
  log: Logger,
): Promise<KubernetesObject | undefined> {
  const owners = claimOwners(ws, desired, d.caches.workspaces);
  if (!observed) {
    const claim = { ...desired, metadata: { ...desired.metadata, ownerReferences: owners } };
    const applied = await d.api.apply(claim);
    log.info("created claim", { pvc: desired.metadata?.name });
    return applied ?? claim;
  }
  const patch: { metadata?: object; spec?: object } = {};
  if (!sameOwners(owners, observed.metadata?.ownerReferences)) {
    // Keep owners that are not workspaces (someone else's business), replace ours.
    const foreign = (observed.metadata?.ownerReferences ?? []).filter((r) => r.kind !== "Workspace");
    patch.metadata = { ownerReferences: [...foreign, ...owners] };
  }
  const want = desired.spec?.resources?.requests?.storage;
  const have = observed.spec?.resources?.requests?.storage;
  if (want && have && compareQuantities(String(want), String(have)) === 1) {
    patch.spec = { resources: { requests: { storage: want } } }; // volumes only grow
  }
  if (patch.metadata || patch.spec) {
    await d.api.patch(observed, patch);
    log.info("updated claim", { pvc: observed.metadata?.name, patch });
  }
  return undefined;
}

/**
 * Owner references a claim should carry. Scope `workspace`: the builder's (one owner with Delete,
 * none with Retain). Scope `user`: every live workspace of that owner sharing the claim, when all
 * of them say Delete; none as soon as one says Retain (keeping data wins).
 */
export function claimOwners(
  ws: Workspace,
  desired: V1PersistentVolumeClaim,
  workspaces: Cache<Workspace>,
): V1OwnerReference[] {
  if ((ws.spec.storage?.scope ?? "workspace") !== "user") return desired.metadata?.ownerReferences ?? [];
  const claim = desired.metadata?.name;
  const sharers = workspaces
    .list(ws.metadata.namespace)
    .filter(
      (w) => !w.metadata.deletionTimestamp && w.spec.storage?.scope === "user" && childNames(w).pvc === claim,
    );
  if (sharers.some((w) => (w.spec.storage?.reclaimPolicy ?? "Retain") !== "Delete")) return [];
  return sharers.map((w) => workspaceOwnerRef(w, false)).sort((a, b) => a.uid.localeCompare(b.uid));
}

function sameOwners(a: V1OwnerReference[] | undefined, b: V1OwnerReference[] | undefined): boolean {
  const ours = (refs?: V1OwnerReference[]) =>
    (refs ?? [])
      .filter((r) => r.kind === "Workspace")
      .map((r) => `${r.uid}:${r.controller ? 1 : 0}`)
      .sort()
      .join(",");
  return ours(a) === ours(b);
}

/**
 * client-node's TypeScript models rename JSON fields that are reserved words (NetworkPolicy's
 * `from` is `_from`); its serializer maps them back on the wire, and the caches hold wire JSON.
 */
const WIRE_NAMES: Readonly<Record<string, string>> = { _from: "from" };

/**
 * True when every field set in `want` has the same value in `have` (extra fields in `have`, such
 * as server defaults, are fine). Arrays must have the same length, compared element by element.
 */
export function isSubset(want: unknown, have: unknown): boolean {
  return firstDifference(want, have) === undefined;
}

/** The path of the first field where `have` does not carry `want`'s value (undefined: none). */
export function firstDifference(want: unknown, have: unknown, path = ""): string | undefined {
  if (want === undefined) return undefined;
  if (want === null || typeof want !== "object") {
    return want === have || (have !== undefined && have !== null && String(want) === String(have))
      ? undefined
      : path || ".";
  }
  if (have === null || typeof have !== "object") return path || ".";
  if (Array.isArray(want)) {
    if (!Array.isArray(have) || want.length !== have.length) return `${path}.length`;
    for (let i = 0; i < want.length; i++) {
      const d = firstDifference(want[i], have[i], `${path}[${i}]`);
      if (d) return d;
    }
    return undefined;
  }
  for (const [k, v] of Object.entries(want as Record<string, unknown>)) {
    const wire = WIRE_NAMES[k] ?? k;
    const d = firstDifference(v, (have as Record<string, unknown>)[wire], `${path}.${wire}`);
    if (d) return d;
  }
  return undefined;
}
