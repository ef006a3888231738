/**
 * A GatewayRoute's status, from what the table compiler and the watched caches say about it. Pure:
 * the time is a parameter, the cluster is a ClusterView.
 *
 * Conditions (GATEWAY_ROUTE_CONDITION_TYPES), in this order:
 * - Ready: True `Ready` when the route is accepted, every backend resolves, no match is lost to another
 *   route and every rule has a healthy endpoint; otherwise False with the reason and message of the
 *   first of those that fails (Invalid, BackendNotFound / PortNotFound, Conflicted, NoHealthyBackends).
 * - Reconciling, Stalled: kstatus's "abnormal-true" pair (docs/gitops.md), at most one True. Stalled
 *   True (reason and message Ready's) when the route cannot be served until someone changes it or what
 *   it names: it is invalid, a backend's Service or port is missing, or a match loses to an older
 *   route — the operator creates nothing for a route, so nothing changes by waiting. Reconciling True
 *   (`NoHealthyBackends`) while everything resolves but a rule has no ready endpoint yet: pods that
 *   are starting. kstatus then reads Failed, InProgress and Current respectively.
 * - Accepted: False `Invalid` when the route has problems the schema cannot catch (the proxy does not
 *   serve it at all); True `Accepted` otherwise.
 * - ResolvedRefs: False `BackendNotFound` / `PortNotFound` (the first unresolved backend's reason; the
 *   message names each one) while a Service backend or its port is missing; True `ResolvedRefs`
 *   otherwise. URL backends always resolve.
 * - Conflicted: True `Conflicted` while one of the route's matches loses to an older route's identical
 *   match (the message names each); False `NoConflicts` otherwise.
 * `backends` counts endpoints over every backend of every rule: a Service backend its endpoints (all,
 * and ready ones), a URL backend 1 and 1; an unresolved backend 0. A Service named by two backends
 * counts twice: the counts follow the spec's backends, not the set of pods.
 */
import type { Condition, ConditionStatus, GatewayRoute, GatewayRouteStatus } from "../../crds/types.ts";
import { canonicalJson } from "../workspace/build.ts";
import { rfc3339 } from "../workspace/status.ts";
import { resolveServiceBackend, type ClusterView } from "../../common/model/gateway/endpoints.ts";
import type { RouteConflict, RouteProblem } from "../../common/model/gateway/model.ts";

/** What the status is computed from. */
export interface RouteStatusInputs {
  /** The route's problems from the compiled table (`table.problems.get("ns/name")`). */
  problems: readonly RouteProblem[];
  /** The route's lost matches from the compiled table (`table.conflicts.get("ns/name")`). */
  conflicts: readonly RouteConflict[];
  view: ClusterView;
  now: Date;
  /** The status the route carries now: unchanged conditions keep its lastTransitionTime. */
  previous?: GatewayRouteStatus;
}

/** The schema's maxLength for a condition's message. */
export const MAX_CONDITION_MESSAGE = 32768;

/** A condition before its bookkeeping fields are added. */
interface Judgement {
  status: ConditionStatus;
  reason: string;
  message: string;
}

const yes = (reason: string, message: string): Judgement => ({ status: "True", reason, message });
const no = (reason: string, message: string): Judgement => ({ status: "False", reason, message });

/** Ready reasons that stall the route: nothing changes until someone edits it or creates what it names. */
export const STALLED_ROUTE_REASONS: ReadonlySet<string> = new Set([
  "Invalid",
  "BackendNotFound",
  "PortNotFound",
  "Conflicted",
]);

/** The route's status: observedGeneration, the six conditions, and backend counts. */
export function gatewayRouteStatus(route: GatewayRoute, inputs: RouteStatusInputs): GatewayRouteStatus {
  const namespace = route.metadata.namespace ?? "";
  const generation = route.metadata.generation;
  const refs = resolveRefs(route, namespace, inputs.view);
  const judged = {
    accepted: accepted(inputs.problems),
    refs: refs.condition,
    conflicted: conflicted(inputs.conflicts),
  };
  const ready = readyCondition(judged, refs);
  const { reconciling, stalled } = progressConditions(ready);
  const stamp = (type: string, j: Judgement): Condition => {
    const previous = inputs.previous?.conditions?.find((c) => c.type === type);
    return {
      type,
      status: j.status,
      ...(generation !== undefined ? { observedGeneration: generation } : {}),
      lastTransitionTime:
        previous && previous.status === j.status ? previous.lastTransitionTime : rfc3339(inputs.now),
      reason: j.reason,
      message: j.message,
    };
  };
  return {
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
    conditions: [
      stamp("Ready", ready),
      stamp("Reconciling", reconciling),
      stamp("Stalled", stalled),
      stamp("Accepted", judged.accepted),
      stamp("ResolvedRefs", judged.refs),
      stamp("Conflicted", judged.conflicted),
    ],
    backends: { total: refs.total, healthy: refs.healthy },
  };
}

function accepted(problems: readonly RouteProblem[]): Judgement {
  if (problems.length === 0) {
    return { status: "True", reason: "Accepted", message: "The route is valid and served." };
  }
  return {
    status: "False",
    reason: "Invalid",
    message: listMessage(
      "The route is not served: ",
      problems.map((p) => `${p.field}: ${p.message}`),
    ),
  };
}

/** What resolving the backends found: the ResolvedRefs condition, counts, and rules without a healthy endpoint. */
interface ResolvedBackends {
  condition: Judgement;
  total: number;
  healthy: number;
  /** Indexes of the rules none of whose backends has a ready endpoint. */
  unservedRules: number[];
}

function resolveRefs(route: GatewayRoute, namespace: string, view: ClusterView): ResolvedBackends {
  let total = 0;
  let healthy = 0;
  let services = 0;
  let reason: string | undefined;
  const unresolved: string[] = [];
  const unservedRules: number[] = [];
  route.spec.rules.forEach((rule, i) => {
    const before = healthy;
    rule.backends.forEach((b, j) => {
      if (b.url !== undefined) {
        total += 1;
        healthy += 1;
        return;
      }
      if (!b.service) return; // the schema refuses this; nothing to resolve
      services += 1;
      const r = resolveServiceBackend(namespace, b.service, view);
      if (r.ok) {
        total += r.total;
        healthy += r.ready.length;
        return;
      }
      reason ??= r.reason;
      unresolved.push(`spec.rules[${i}].backends[${j}]: ${r.message}`);
    });
    if (healthy === before) unservedRules.push(i);
  });
  const condition: Judgement =
    reason === undefined
      ? {
          status: "True",
          reason: "ResolvedRefs",
          message:
            services === 0
              ? "The route has no Service backends to resolve."
              : `Every Service backend and port exists (${services} ${services === 1 ? "backend" : "backends"}).`,
        }
      : { status: "False", reason, message: listMessage("", unresolved) };
  return { condition, total, healthy, unservedRules };
}

/**
 * Ready from the three observations and the endpoint counts: the first failing one in the order a
 * reader should fix them (an invalid route is not served at all; a missing backend or a lost match
 * needs an edit; endpoints come by themselves once pods are ready).
 */
function readyCondition(
  j: { accepted: Judgement; refs: Judgement; conflicted: Judgement },
  refs: ResolvedBackends,
): Judgement {
  if (j.accepted.status !== "True") return no(j.accepted.reason, j.accepted.message);
  if (j.refs.status !== "True") return no(j.refs.reason, j.refs.message);
  if (j.conflicted.status === "True") return no(j.conflicted.reason, j.conflicted.message);
  if (refs.unservedRules.length > 0) {
    return no(
      "NoHealthyBackends",
      listMessage(
        "Requests get 503 until a backend endpoint is ready: ",
        refs.unservedRules.map((i) => `spec.rules[${i}] has no ready endpoint`),
      ),
    );
  }
  return yes(
    "Ready",
    `The route is served: ${refs.healthy} of ${refs.total} backend ${refs.total === 1 ? "endpoint" : "endpoints"} ready.`,
  );
}

/** kstatus's Reconciling and Stalled from Ready: Failed when someone has to act, InProgress while endpoints come. */
function progressConditions(ready: Judgement): { reconciling: Judgement; stalled: Judgement } {
  if (ready.status === "True") {
    return {
      reconciling: no("Ready", "Nothing left to do: the route is served."),
      stalled: no("Ready", "The route is served."),
    };
  }
  if (STALLED_ROUTE_REASONS.has(ready.reason)) {
    return {
      reconciling: no("Stalled", "Not progressing until the cause in the Stalled condition is fixed."),
      stalled: yes(ready.reason, ready.message),
    };
  }
  return {
    reconciling: yes(ready.reason, ready.message),
    stalled: no("Progressing", "Waiting for backend endpoints to become ready."),
  };
}

function conflicted(conflicts: readonly RouteConflict[]): Judgement {
  if (conflicts.length === 0) {
    return { status: "False", reason: "NoConflicts", message: "No match loses to another route." };
  }
  return {
    status: "True",
    reason: "Conflicted",
    message: listMessage(
      "Requests go to the older route instead: ",
      conflicts.map(
        (c) => `${c.field} (host ${c.host === "*" ? "any" : c.host}, path ${c.path}) loses to ${c.winner}`,
      ),
    ),
  };
}

/**
 * `intro` and the items joined with "; ", cut at a whole item so that the message stays within the
 * schema's limit ("and N more" says how many were left out).
 */
export function listMessage(intro: string, items: readonly string[], max = MAX_CONDITION_MESSAGE): string {
  let out = intro;
  for (let k = 0; k < items.length; k++) {
    const next = out + (k === 0 ? "" : "; ") + items[k];
    const left = items.length - k - 1;
    // Room for the ending that may follow: "." after the last item, else "; and N more.".
    const ending = left === 0 ? 1 : `; and ${left} more.`.length;
    if (next.length + ending > max) {
      return `${out}${k === 0 ? "" : "; "}and ${items.length - k} more.`.slice(0, max);
    }
    out = next;
  }
  return `${out}.`;
}

/** A status without lastTransitionTimes, conditions sorted by type: what "the same status" means. */
function comparable(s: GatewayRouteStatus | undefined): GatewayRouteStatus {
  if (!s) return {};
  if (!s.conditions) return s;
  const conditions = s.conditions
    .map(({ lastTransitionTime: _ignored, ...rest }) => rest as Condition)
    .sort((x, y) => (x.type < y.type ? -1 : x.type > y.type ? 1 : 0));
  return { ...s, conditions };
}

/**
 * Whether `desired` says something `current` does not. lastTransitionTime is ignored (a condition
 * whose status did not change keeps its time anyway; one whose status changed differs in status),
 * as are the order of conditions and absent-vs-undefined fields: in steady state a route's status
 * read back from the API server never differs from the one computed from it, so nothing is written.
 */
export function routeStatusDiffers(
  current: GatewayRouteStatus | undefined,
  desired: GatewayRouteStatus,
): boolean {
  return canonicalJson(comparable(current)) !== canonicalJson(comparable(desired));
}
