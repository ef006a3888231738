import assert from "node:assert/strict";
import { test } from "node:test";
import type { GatewayRoute, GatewayRouteStatus, ObjectMeta, RouteRule } from "../../crds/types.ts";
import type { Cache } from "../workspace/reconcile.ts";
import { SERVICE_NAME_LABEL, type ClusterView } from "../../common/model/gateway/endpoints.ts";
import { compileGatewayTable } from "../../common/model/gateway/match.ts";
import {
  memoTable,
  namesService,
  reconcileGatewayRoute,
  routeChangeMatters,
  routesNaming,
  sliceService,
  type GatewayRouteDeps,
} from "./reconcile.ts";

function route(name: string, rules: RouteRule[], meta: Partial<ObjectMeta> = {}): GatewayRoute {
  return {
    apiVersion: "portico.dev/v1alpha1",
    kind: "GatewayRoute",
    metadata: {
      name,
      namespace: "team-a",
      generation: 1,
      resourceVersion: "1",
      creationTimestamp: "2024-01-01T00:00:00Z",
      ...meta,
    },
    spec: { rules },
  };
}
const to = (service: string): RouteRule => ({ backends: [{ service: { name: service, port: 80 } }] });

function cacheOf(routes: GatewayRoute[]): Cache<GatewayRoute> {
  return {
    get: (name, ns) => routes.find((r) => r.metadata.name === name && r.metadata.namespace === ns),
    list: (ns) => routes.filter((r) => ns === undefined || r.metadata.namespace === ns),
  };
}

const view: ClusterView = {
  service: (ns, name) =>
    name === "web" ? { metadata: { name, namespace: ns }, spec: { ports: [{ port: 80 }] } } : undefined,
  slices: () => [{ ports: [{ port: 8080 }], endpoints: [{ addresses: ["198.18.0.1"] }] }],
};

/** Deps whose API records writes and applies them to the cached route, as the watch would. */
function deps(routes: GatewayRoute[]) {
  const writes: { route: string; status: GatewayRouteStatus }[] = [];
  const d: GatewayRouteDeps = {
    routes: cacheOf(routes),
    view,
    api: {
      async writeRouteStatus(r, status) {
        writes.push({ route: r.metadata.name!, status });
        const i = routes.indexOf(r);
        routes[i] = JSON.parse(JSON.stringify({ ...r, status })) as GatewayRoute;
      },
    },
    table: memoTable(),
    log: { info: () => undefined },
    now: () => new Date("2024-03-01T00:00:00Z"),
  };
  return { d, writes, routes };
}

test("the first reconcile writes the status; a second one (steady state) writes nothing", async () => {
  const { d, writes, routes } = deps([route("a", [to("web")])]);
  await reconcileGatewayRoute("team-a", "a", d);
  assert.equal(writes.length, 1);
  assert.deepEqual(writes[0]!.status.backends, { total: 1, healthy: 1 });
  assert.equal(routes[0]!.status?.conditions?.length, 6);
  d.now = () => new Date("2024-03-02T00:00:00Z"); // later: still nothing to say
  await reconcileGatewayRoute("team-a", "a", d);
  assert.equal(writes.length, 1);
});

test("a change another route brings (a conflict) is written; a missing or deleting route is left alone", async () => {
  const older = route("older", [to("web")]);
  const newer = route("newer", [to("web")], { creationTimestamp: "2024-01-05T00:00:00Z" });
  const { d, writes } = deps([older, newer]);
  await reconcileGatewayRoute("team-a", "newer", d);
  const conflicted = writes[0]!.status.conditions!.find((c) => c.type === "Conflicted")!;
  assert.equal(conflicted.status, "True");
  assert.match(conflicted.message, /loses to team-a\/older/);

  await reconcileGatewayRoute("team-a", "ghost", d);
  const going = deps([route("going", [to("web")], { deletionTimestamp: "2024-03-01T00:00:00Z" })]);
  await reconcileGatewayRoute("team-a", "going", going.d);
  assert.equal(writes.length, 1);
  assert.equal(going.writes.length, 0);
});

test("memoTable compiles once for the same route objects and again when one is replaced", () => {
  let compiles = 0;
  const table = memoTable((routes) => {
    compiles++;
    return compileGatewayTable(routes);
  });
  const a = route("a", [to("web")]);
  const b = route("b", [to("web")]);
  const t1 = table([a, b]);
  assert.equal(table([a, b]), t1);
  assert.equal(compiles, 1);
  table([a, { ...b }]);
  table([a]);
  assert.equal(compiles, 3);
});

test("which routes a Service or EndpointSlice change concerns", () => {
  const routes = cacheOf([
    route("uses-web", [to("api"), to("web")]),
    route("uses-api", [to("api")]),
    route("url", [{ backends: [{ url: "https://x.example.com" }] }]),
    route("elsewhere", [to("web")], { namespace: "team-b" }),
  ]);
  assert.deepEqual(
    routesNaming(routes, "team-a", "web").map((r) => r.metadata.name),
    ["uses-web"],
  );
  assert.deepEqual(
    routesNaming(routes, "team-a", "api").map((r) => r.metadata.name),
    ["uses-web", "uses-api"],
  );
  assert.equal(namesService(route("url", [{ backends: [{ url: "https://web" }] }]), "web"), false);
  assert.equal(sliceService({ metadata: { labels: { [SERVICE_NAME_LABEL]: "web" } } }), "web");
  assert.equal(sliceService({ metadata: {} }), undefined);
});

test("a route update matters to other routes unless only its status (or labels) changed", () => {
  const r = route("a", [to("web")]);
  assert.equal(routeChangeMatters(r, undefined), true, "added, deleted or resynced");
  const statusOnly = {
    ...r,
    metadata: { ...r.metadata, resourceVersion: "2", labels: { x: "y" } },
    status: {},
  };
  assert.equal(routeChangeMatters(statusOnly, r), false);
  assert.equal(routeChangeMatters({ ...r, metadata: { ...r.metadata, generation: 2 } }, r), true);
  assert.equal(
    routeChangeMatters({ ...r, metadata: { ...r.metadata, deletionTimestamp: "2024-03-01T00:00:00Z" } }, r),
    true,
  );
});
