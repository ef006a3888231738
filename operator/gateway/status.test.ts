import assert from "node:assert/strict";
import { test } from "node:test";
import {
  GATEWAY_ROUTE_CONDITION_TYPES,
  type Condition,
  type GatewayRoute,
  type GatewayRouteStatus,
  type ObjectMeta,
  type RouteRule,
} from "../../crds/types.ts";
import {
  SERVICE_NAME_LABEL,
  type ClusterView,
  type EndpointSliceLike,
  type ServiceLike,
} from "../../common/model/gateway/endpoints.ts";
import { compileGatewayTable } from "../../common/model/gateway/match.ts";
import { gatewayRouteStatus, listMessage, routeStatusDiffers, type RouteStatusInputs } from "./status.ts";

// ---------------------------------------------------------------------------------------------------------
// Fixtures

const NOW = new Date("2024-03-01T12:00:00.123Z");
const NOW_STAMP = "2024-03-01T12:00:00Z";
const EARLIER = "2024-02-01T08:00:00Z";

const svc = (name: string, ports: { name?: string; port: number }[]): ServiceLike => ({
  metadata: { name, namespace: "team-a" },
  spec: { ports },
});
/** A slice of `service` on port name "http" (target 8080) with the given endpoints' readiness. */
const slice = (service: string, ready: (boolean | undefined)[], base = 1): EndpointSliceLike => ({
  metadata: { namespace: "team-a", labels: { [SERVICE_NAME_LABEL]: service } },
  ports: [{ name: "http", port: 8080 }],
  endpoints: ready.map((r, i) => ({
    addresses: [`198.18.0.${base + i}`],
    conditions: r === undefined ? {} : { ready: r },
  })),
});

function view(services: ServiceLike[], slices: EndpointSliceLike[]): ClusterView {
  return {
    service: (ns, name) => services.find((s) => s.metadata?.namespace === ns && s.metadata?.name === name),
    slices: (ns, name) =>
      slices.filter((s) => s.metadata?.namespace === ns && s.metadata?.labels?.[SERVICE_NAME_LABEL] === name),
  };
}

/** `web` (port 80 named http) with two ready endpoints; `api` (port 80) with one ready, one not. */
const cluster = view(
  [svc("web", [{ name: "http", port: 80 }]), svc("api", [{ name: "http", port: 80 }])],
  [slice("web", [true, undefined]), slice("api", [true, false], 10)],
);

function route(name: string, rules: RouteRule[], meta: Partial<ObjectMeta> = {}): GatewayRoute {
  return {
    apiVersion: "portico.dev/v1alpha1",
    kind: "GatewayRoute",
    metadata: {
      name,
      namespace: "team-a",
      generation: 3,
      creationTimestamp: "2024-01-01T00:00:00Z",
      ...meta,
    },
    spec: { hosts: ["shop.example.com"], rules },
  };
}
const toService = (name: string, port = 80): RouteRule["backends"][number] => ({ service: { name, port } });

/** The route's status with the problems and conflicts a real compile of `all` gives it. */
function statusOf(
  r: GatewayRoute,
  o: Partial<RouteStatusInputs> & { all?: GatewayRoute[] } = {},
): GatewayRouteStatus {
  const table = compileGatewayTable(o.all ?? [r]);
  const key = `${r.metadata.namespace}/${r.metadata.name}`;
  return gatewayRouteStatus(r, {
    problems: table.problems.get(key) ?? [],
    conflicts: table.conflicts.get(key) ?? [],
    view: cluster,
    now: NOW,
    ...o,
  });
}

const cond = (s: GatewayRouteStatus, type: string): Condition => {
  const c = s.conditions?.find((x) => x.type === type);
  assert.ok(c, `condition ${type} present`);
  return c;
};
/** type → "status reason" */
const summary = (s: GatewayRouteStatus) =>
  Object.fromEntries((s.conditions ?? []).map((c) => [c.type, `${c.status} ${c.reason}`]));

// ---------------------------------------------------------------------------------------------------------
// Conditions

test("a valid route whose Service resolves: Ready, Accepted, ResolvedRefs, no conflicts, counts, generations", () => {
  const s = statusOf(route("shop", [{ backends: [toService("web")] }]));
  assert.deepEqual(s, {
    observedGeneration: 3,
    conditions: [
      {
        type: "Ready",
        status: "True",
        observedGeneration: 3,
        lastTransitionTime: NOW_STAMP,
        reason: "Ready",
        message: "The route is served: 2 of 2 backend endpoints ready.",
      },
      {
        type: "Reconciling",
        status: "False",
        observedGeneration: 3,
        lastTransitionTime: NOW_STAMP,
        reason: "Ready",
        message: "Nothing left to do: the route is served.",
      },
      {
        type: "Stalled",
        status: "False",
        observedGeneration: 3,
        lastTransitionTime: NOW_STAMP,
        reason: "Ready",
        message: "The route is served.",
      },
      {
        type: "Accepted",
        status: "True",
        observedGeneration: 3,
        lastTransitionTime: NOW_STAMP,
        reason: "Accepted",
        message: "The route is valid and served.",
      },
      {
        type: "ResolvedRefs",
        status: "True",
        observedGeneration: 3,
        lastTransitionTime: NOW_STAMP,
        reason: "ResolvedRefs",
        message: "Every Service backend and port exists (1 backend).",
      },
      {
        type: "Conflicted",
        status: "False",
        observedGeneration: 3,
        lastTransitionTime: NOW_STAMP,
        reason: "NoConflicts",
        message: "No match loses to another route.",
      },
    ],
    backends: { total: 2, healthy: 2 },
  });
});

test("a regular expression RE2 cannot compile: Accepted False Invalid, naming the field", () => {
  const s = statusOf(
    route("bad", [
      { backends: [toService("web")] },
      {
        matches: [
          { path: { value: "/x" }, headers: [{ name: "X-A", value: "a(", type: "RegularExpression" }] },
        ],
        backends: [toService("web")],
      },
    ]),
  );
  const accepted = cond(s, "Accepted");
  assert.equal(accepted.status, "False");
  assert.equal(accepted.reason, "Invalid");
  assert.match(
    accepted.message,
    /^The route is not served: spec\.rules\[1\]\.matches\[0\]\.headers\[0\]\.value: Invalid regular expression \(RE2 syntax\): .*\.$/,
  );
  // The other conditions still say what they know.
  assert.equal(cond(s, "ResolvedRefs").status, "True");
  assert.equal(cond(s, "Conflicted").status, "False");
  assert.deepEqual(s.backends, { total: 4, healthy: 4 });
});

test("a missing Service: ResolvedRefs False BackendNotFound naming the backend", () => {
  const s = statusOf(route("shop", [{ backends: [toService("nope")] }]));
  assert.deepEqual(summary(s), {
    Ready: "False BackendNotFound",
    Reconciling: "False Stalled",
    Stalled: "True BackendNotFound",
    Accepted: "True Accepted",
    ResolvedRefs: "False BackendNotFound",
    Conflicted: "False NoConflicts",
  });
  assert.equal(
    cond(s, "ResolvedRefs").message,
    "spec.rules[0].backends[0]: Service team-a/nope does not exist.",
  );
  // Stalled (what kstatus, Flux and Argo CD show) names the backend in the same words.
  assert.equal(cond(s, "Stalled").message, cond(s, "ResolvedRefs").message);
  assert.deepEqual(s.backends, { total: 0, healthy: 0 });
});

test("a Service without the port: ResolvedRefs False PortNotFound naming the backend and the ports it has", () => {
  const s = statusOf(route("shop", [{ backends: [toService("web", 8080)] }]));
  const c = cond(s, "ResolvedRefs");
  assert.equal(c.status, "False");
  assert.equal(c.reason, "PortNotFound");
  assert.equal(c.message, "spec.rules[0].backends[0]: Service team-a/web has no port 8080 (it has: 80).");
});

test("partly resolved: the first unresolved backend's reason, each unresolved one named in order, counts of the rest", () => {
  const s = statusOf(
    route("shop", [
      { backends: [toService("web"), { url: "https://legacy.example.com/v1" }, toService("web", 81)] },
      { backends: [toService("gone")] },
    ]),
  );
  const c = cond(s, "ResolvedRefs");
  assert.equal(c.status, "False");
  assert.equal(c.reason, "PortNotFound");
  assert.equal(
    c.message,
    "spec.rules[0].backends[2]: Service team-a/web has no port 81 (it has: 80); " +
      "spec.rules[1].backends[0]: Service team-a/gone does not exist.",
  );
  assert.deepEqual(s.backends, { total: 3, healthy: 3 });
});

test("URL backends always resolve and count 1 and 1; not-ready endpoints count in total only", () => {
  const s = statusOf(
    route("shop", [
      { backends: [toService("api"), { url: "https://a.example.com" }] },
      {
        matches: [{ path: { value: "/b" } }],
        backends: [{ url: "http://b.example.com/x" }, toService("web")],
      },
    ]),
  );
  assert.equal(cond(s, "ResolvedRefs").status, "True");
  assert.equal(cond(s, "ResolvedRefs").message, "Every Service backend and port exists (2 backends).");
  // api: 2 endpoints, 1 ready; web: 2 ready; two URLs.
  assert.deepEqual(s.backends, { total: 6, healthy: 5 });

  const urlsOnly = statusOf(route("u", [{ backends: [{ url: "https://a.example.com" }] }]));
  assert.deepEqual(summary(urlsOnly).ResolvedRefs, "True ResolvedRefs");
  assert.equal(cond(urlsOnly, "ResolvedRefs").message, "The route has no Service backends to resolve.");
  assert.deepEqual(urlsOnly.backends, { total: 1, healthy: 1 });
});

test("a Service with no endpoints resolves, with zero counts", () => {
  const s = gatewayRouteStatus(route("shop", [{ backends: [toService("web")] }]), {
    problems: [],
    conflicts: [],
    view: view([svc("web", [{ name: "http", port: 80 }])], []),
    now: NOW,
  });
  assert.equal(cond(s, "ResolvedRefs").status, "True");
  assert.deepEqual(s.backends, { total: 0, healthy: 0 });
});

test("two routes with an identical match: the older one serves, the newer is Conflicted naming it", () => {
  const older = route(
    "older",
    [{ matches: [{ path: { type: "PathPrefix", value: "/api" } }], backends: [toService("web")] }],
    {
      creationTimestamp: "2024-01-01T00:00:00Z",
    },
  );
  const newer = route(
    "newer",
    [
      { matches: [{ path: { type: "Exact", value: "/only-mine" } }], backends: [toService("web")] },
      { matches: [{ path: { type: "PathPrefix", value: "/api/" } }], backends: [toService("web")] },
    ],
    { creationTimestamp: "2024-01-02T00:00:00Z" },
  );
  const all = [newer, older];
  const winner = statusOf(older, { all });
  assert.deepEqual(summary(winner).Conflicted, "False NoConflicts");
  const loser = statusOf(newer, { all });
  const c = cond(loser, "Conflicted");
  assert.equal(c.status, "True");
  assert.equal(c.reason, "Conflicted");
  assert.equal(
    c.message,
    "Requests go to the older route instead: spec.rules[1].matches[0] (host shop.example.com, path /api) loses to team-a/older.",
  );
  // Losing a match does not make the route invalid.
  assert.equal(cond(loser, "Accepted").status, "True");
});

test("a conflict on a route without hosts says 'host any'", () => {
  const a = {
    ...route("a", [{ backends: [toService("web")] }]),
    spec: { rules: [{ backends: [toService("web")] }] },
  };
  const b = { ...a, metadata: { ...a.metadata, name: "b" } };
  const s = statusOf(b, { all: [a, b] });
  assert.equal(
    cond(s, "Conflicted").message,
    "Requests go to the older route instead: spec.rules[0].matches[0] (host any, path /) loses to team-a/a.",
  );
});

// ---------------------------------------------------------------------------------------------------------
// Ready, Reconciling, Stalled (kstatus)

const noEndpoints = view(
  [svc("web", [{ name: "http", port: 80 }]), svc("api", [{ name: "http", port: 80 }])],
  [slice("api", [false])],
);
const older = route("older", [{ matches: [{ path: { value: "/api" } }], backends: [toService("web")] }], {
  creationTimestamp: "2024-01-01T00:00:00Z",
});
const newer = route("newer", [{ matches: [{ path: { value: "/api" } }], backends: [toService("web")] }], {
  creationTimestamp: "2024-01-02T00:00:00Z",
});
const badRegex: RouteRule = {
  matches: [{ headers: [{ name: "X-A", value: "a(", type: "RegularExpression" }] }],
  backends: [toService("nope")],
};

/** One row per way a route can be: Ready's reason, which of the pair is True, and kstatus's reading. */
const progressCases: {
  name: string;
  status: () => GatewayRouteStatus;
  ready: string;
  progress: "Reconciling" | "Stalled" | "neither";
  kstatus: "Current" | "InProgress" | "Failed";
}[] = [
  {
    name: "served",
    status: () => statusOf(route("a", [{ backends: [toService("web")] }])),
    ready: "Ready",
    progress: "neither",
    kstatus: "Current",
  },
  {
    name: "URL backends only",
    status: () => statusOf(route("a", [{ backends: [{ url: "https://a.example.com" }] }])),
    ready: "Ready",
    progress: "neither",
    kstatus: "Current",
  },
  {
    name: "one ready endpoint of two is enough for a rule",
    status: () => statusOf(route("a", [{ backends: [toService("api")] }])),
    ready: "Ready",
    progress: "neither",
    kstatus: "Current",
  },
  {
    name: "invalid (and a missing backend too: Invalid comes first)",
    status: () => statusOf(route("a", [badRegex])),
    ready: "Invalid",
    progress: "Stalled",
    kstatus: "Failed",
  },
  {
    name: "a missing Service",
    status: () => statusOf(route("a", [{ backends: [toService("nope")] }])),
    ready: "BackendNotFound",
    progress: "Stalled",
    kstatus: "Failed",
  },
  {
    name: "a missing port",
    status: () => statusOf(route("a", [{ backends: [toService("web", 81)] }])),
    ready: "PortNotFound",
    progress: "Stalled",
    kstatus: "Failed",
  },
  {
    name: "a match lost to an older route",
    status: () => statusOf(newer, { all: [older, newer] }),
    ready: "Conflicted",
    progress: "Stalled",
    kstatus: "Failed",
  },
  {
    name: "a Service without ready endpoints (pods starting)",
    status: () => statusOf(route("a", [{ backends: [toService("web")] }]), { view: noEndpoints }),
    ready: "NoHealthyBackends",
    progress: "Reconciling",
    kstatus: "InProgress",
  },
];

test("Ready, Reconciling and Stalled for every way a route can be; at most one of the pair True", () => {
  for (const c of progressCases) {
    const s = c.status();
    const ready = cond(s, "Ready");
    const reconciling = cond(s, "Reconciling");
    const stalled = cond(s, "Stalled");
    assert.equal(ready.reason, c.ready, `${c.name}: Ready reason`);
    assert.equal(ready.status, c.ready === "Ready" ? "True" : "False", `${c.name}: Ready status`);
    const got =
      reconciling.status === "True" ? "Reconciling" : stalled.status === "True" ? "Stalled" : "neither";
    assert.equal(got, c.progress, `${c.name}: Reconciling ${reconciling.status}, Stalled ${stalled.status}`);
    assert.ok(!(reconciling.status === "True" && stalled.status === "True"), `${c.name}: never both`);
    const active = got === "Stalled" ? stalled : got === "Reconciling" ? reconciling : undefined;
    if (active) {
      // The True one of the pair says what is wrong in Ready's words: what kstatus passes on.
      assert.equal(active.reason, ready.reason, `${c.name}: ${got} reason`);
      assert.equal(active.message, ready.message, `${c.name}: ${got} message`);
    }
    assert.equal(kstatusModel(3, s), c.kstatus, c.name);
    for (const x of s.conditions!) assert.equal(x.observedGeneration, 3, `${c.name}: ${x.type} generation`);
  }
});

test("Ready's message names each rule without a ready endpoint, and counts the endpoints once served", () => {
  const s = statusOf(
    route("a", [
      { backends: [toService("web")] },
      { matches: [{ path: { value: "/a" } }], backends: [toService("api")] },
      {
        matches: [{ path: { value: "/b" } }],
        backends: [toService("web"), { url: "https://b.example.com" }],
      },
    ]),
    { view: noEndpoints },
  );
  assert.equal(
    cond(s, "Ready").message,
    "Requests get 503 until a backend endpoint is ready: spec.rules[0] has no ready endpoint; spec.rules[1] has no ready endpoint.",
  );
  const served = statusOf(route("a", [{ backends: [toService("api")] }]));
  assert.equal(cond(served, "Ready").message, "The route is served: 1 of 2 backend endpoints ready.");
});

test("a Stalled route's Ready and Stalled name the same cause as the condition it comes from", () => {
  const conflicted = statusOf(newer, { all: [older, newer] });
  assert.equal(cond(conflicted, "Stalled").message, cond(conflicted, "Conflicted").message);
  const invalid = statusOf(route("a", [badRegex]));
  assert.equal(cond(invalid, "Stalled").message, cond(invalid, "Accepted").message);
  assert.match(cond(invalid, "Stalled").message, /^The route is not served: spec\.rules\[0\]/);
});

/**
 * How kstatus (sigs.k8s.io/cli-utils v0.37.2 `status.Compute`) reads a custom resource, in its order:
 * observedGeneration behind → InProgress; Reconciling True → InProgress; Stalled True → Failed; then
 * Ready (True → Current, otherwise InProgress); no conditions → Current. A model for these rows
 * only: e2e/tests/gateway-status.test.ts runs the real library against the real operator.
 */
function kstatusModel(generation: number, s: GatewayRouteStatus): string {
  if (s.observedGeneration !== generation) return "InProgress";
  const c = (t: string) => s.conditions?.find((x) => x.type === t);
  if (c("Reconciling")?.status === "True") return "InProgress";
  if (c("Stalled")?.status === "True") return "Failed";
  const ready = c("Ready");
  if (ready) return ready.status === "True" ? "Current" : "InProgress";
  return "Current";
}

// ---------------------------------------------------------------------------------------------------------
// Transition times and writes

test("lastTransitionTime is kept while a condition's status holds, and moves when it changes", () => {
  const r = route("shop", [{ backends: [toService("nope")] }]);
  const previous: GatewayRouteStatus = {
    observedGeneration: 2,
    conditions: [
      {
        type: "Accepted",
        status: "True",
        lastTransitionTime: EARLIER,
        reason: "Accepted",
        message: "old words",
      },
      {
        type: "ResolvedRefs",
        status: "True",
        lastTransitionTime: EARLIER,
        reason: "ResolvedRefs",
        message: "",
      },
      // Conflicted absent: it gets the time of now.
    ],
  };
  const s = statusOf(r, { previous });
  assert.equal(cond(s, "Accepted").lastTransitionTime, EARLIER, "Accepted stayed True");
  assert.equal(cond(s, "Accepted").message, "The route is valid and served.", "the message is refreshed");
  assert.equal(cond(s, "Accepted").observedGeneration, 3, "and the generation");
  assert.equal(cond(s, "ResolvedRefs").lastTransitionTime, NOW_STAMP, "ResolvedRefs went False");
  assert.equal(cond(s, "Conflicted").lastTransitionTime, NOW_STAMP, "Conflicted is new");

  // A reason change without a status change keeps the time too (metav1.Condition's rule).
  const again = statusOf(route("shop", [{ backends: [toService("web", 9)] }]), {
    previous: s,
    now: new Date("2024-04-01T00:00:00Z"),
  });
  assert.equal(cond(again, "ResolvedRefs").reason, "PortNotFound");
  assert.equal(cond(again, "ResolvedRefs").lastTransitionTime, NOW_STAMP);
});

test("the same inputs give the same status (deterministic messages and order)", () => {
  const r = route("shop", [
    { backends: [toService("nope"), toService("web", 1)] },
    { matches: [{ path: { value: "/x" } }], backends: [toService("api")] },
  ]);
  assert.deepEqual(statusOf(r), statusOf(structuredClone(r)));
  assert.deepEqual(
    statusOf(r).conditions?.map((c) => c.type),
    [...GATEWAY_ROUTE_CONDITION_TYPES],
  );
});

test("steady state: a status recomputed from itself, later, does not differ, so nothing is written", () => {
  const r = route("shop", [{ backends: [toService("api"), toService("nope")] }]);
  const first = statusOf(r);
  const later = statusOf(r, { previous: first, now: new Date("2030-01-01T00:00:00Z") });
  assert.equal(routeStatusDiffers(first, later), false);
  // As read back from the API server: conditions in another order, and JSON round-tripped.
  const readBack = JSON.parse(JSON.stringify({ ...first, conditions: [...first.conditions!].reverse() }));
  assert.equal(routeStatusDiffers(readBack, later), false);
});

test("routeStatusDiffers: lastTransitionTime alone is churn; anything else is a change", () => {
  const base = statusOf(route("shop", [{ backends: [toService("api")] }]));
  const withTimes = (t: string): GatewayRouteStatus => ({
    ...base,
    conditions: base.conditions!.map((c) => ({ ...c, lastTransitionTime: t })),
  });
  assert.equal(routeStatusDiffers(withTimes(EARLIER), base), false);
  assert.equal(routeStatusDiffers(undefined, base), true, "no status yet");
  assert.equal(routeStatusDiffers({}, base), true, "an empty status");
  assert.equal(routeStatusDiffers({ ...base, observedGeneration: 2 }, base), true, "a new generation");
  assert.equal(routeStatusDiffers({ ...base, backends: { total: 2, healthy: 2 } }, base), true, "counts");
  const otherMessage = {
    ...base,
    conditions: base.conditions!.map((c) => (c.type === "Accepted" ? { ...c, message: "x" } : c)),
  };
  assert.equal(routeStatusDiffers(otherMessage, base), true, "a message");
  const flipped = {
    ...base,
    conditions: base.conditions!.map((c) =>
      c.type === "Conflicted" ? { ...c, status: "True" as const } : c,
    ),
  };
  assert.equal(routeStatusDiffers(flipped, base), true, "a status");
});

test("listMessage joins items, and cuts at a whole item with 'and N more' within the limit", () => {
  assert.equal(listMessage("Intro: ", ["a", "b"]), "Intro: a; b.");
  const items = Array.from({ length: 10 }, (_, i) => `item-${i}`);
  const cut = listMessage("", items, 40);
  assert.ok(cut.length <= 40, cut);
  assert.equal(cut, "item-0; item-1; item-2; and 7 more.");
  assert.equal(listMessage("", ["x".repeat(50)], 20), "and 1 more.");
  // Many long problems stay within the schema's 32768 characters.
  const long = listMessage(
    "",
    Array.from({ length: 100 }, () => "y".repeat(1000)),
  );
  assert.ok(long.length <= 32768 && long.endsWith("more."), `${long.length}`);
});
