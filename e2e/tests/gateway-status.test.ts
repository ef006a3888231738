/**
 * GatewayRoute status end to end, with the real operator under the chart's RBAC: conditions and
 * backend counts follow real pods, Services and EndpointSlices (http-echo pods become processes on
 * their pod IPs); invalid regular expressions and conflicts between routes are reported; the real
 * kstatus (e2e/kstatus/, as Flux reads health) reads a broken route Failed and a served one Current;
 * what the schema refuses never reaches the operator; kubectl shows the printer columns; a steady
 * state writes nothing.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import type * as k8s from "@kubernetes/client-node";
import {
  GATEWAY_ROUTE,
  GROUP,
  VERSION,
  type Condition,
  type GatewayRoute,
  type GatewayRouteSpec,
} from "../../crds/types.ts";
import {
  apiErrorCode,
  apiErrorMessage,
  clients,
  eventually,
  withNamespace,
  type Clients,
} from "../lib/kube.ts";
import { auditWrites, OPERATOR_USER, startOperator, type OperatorProcess } from "../lib/operator.ts";
import { kubectl } from "../lib/workspaces.ts";
import { kstatus, type KstatusResult } from "../kstatus/kstatus.ts";

let c: Clients;
let ns: { name: string; drop: () => Promise<void> };
let op: OperatorProcess;
const started = new Date();

before(async () => {
  c = clients();
  ns = await withNamespace(c, "gwstatus");
  // A short resync: the steady-state test then covers reconciles that find nothing to write.
  op = await startOperator(["--lease-name=gwstatus", "--resync-period=2s"], "gwstatus");
});

after(async () => {
  await op?.stop();
  await ns?.drop();
});

// ---------------------------------------------------------------------------------------------------------
// Helpers

const crd = () => ({ group: GROUP, version: VERSION, plural: GATEWAY_ROUTE.plural, namespace: ns.name });

async function createRoute(
  name: string,
  spec: GatewayRouteSpec | Record<string, unknown>,
): Promise<GatewayRoute> {
  return (await c.custom.createNamespacedCustomObject({
    ...crd(),
    body: { apiVersion: `${GROUP}/${VERSION}`, kind: GATEWAY_ROUTE.kind, metadata: { name }, spec },
  })) as GatewayRoute;
}
const getRoute = async (name: string) =>
  (await c.custom.getNamespacedCustomObject({ ...crd(), name })) as GatewayRoute;
const deleteRoute = (name: string) => c.custom.deleteNamespacedCustomObject({ ...crd(), name });

const cond = (r: GatewayRoute, type: string): Condition | undefined =>
  r.status?.conditions?.find((x) => x.type === type);
/** `Accepted=True/Accepted ResolvedRefs=... Conflicted=...`, for readable assertions and timeouts. */
const said = (r: GatewayRoute) =>
  (r.status?.conditions ?? []).map((x) => `${x.type}=${x.status}/${x.reason}`).join(" ");

/** Waits until the route's status (for its current generation) passes `ok`; returns the route. */
async function waitRoute(name: string, what: string, ok: (r: GatewayRoute) => boolean, timeoutMs = 30_000) {
  let last: GatewayRoute | undefined;
  try {
    return await eventually(
      `route ${name}: ${what}`,
      async () => {
        last = await getRoute(name);
        const current = last.status?.observedGeneration === last.metadata.generation;
        return current && ok(last) ? last : undefined;
      },
      timeoutMs,
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}; last status: ${JSON.stringify(last?.status)}`, {
      cause: err,
    });
  }
}
/** What a served route says: Ready, neither of kstatus's pair, accepted, resolved, no conflicts. */
const SERVED =
  "Ready=True/Ready Reconciling=False/Ready Stalled=False/Ready Accepted=True/Accepted ResolvedRefs=True/ResolvedRefs Conflicted=False/NoConflicts";
const is = (r: GatewayRoute, type: string, status: string, reason?: string) =>
  cond(r, type)?.status === status && (reason === undefined || cond(r, type)?.reason === reason);
const counts = (r: GatewayRoute) => `${r.status?.backends?.healthy}/${r.status?.backends?.total}`;

/** An http-echo pod labelled app=echo (or `app`); `unready` gives it a readiness probe that never passes. */
function echoPod(name: string, unready = false, app = "echo"): k8s.V1Pod {
  return {
    metadata: { name, namespace: ns.name, labels: { app } },
    spec: {
      terminationGracePeriodSeconds: 1,
      containers: [
        {
          name: "web",
          image: "portico.dev/test/http-echo:1",
          ports: [{ name: "http", containerPort: 8080 }],
          ...(unready ? { readinessProbe: { tcpSocket: { port: 9 }, periodSeconds: 1 } } : {}),
        },
      ],
    },
  };
}
function echoService(name: string, app = "echo"): k8s.V1Service {
  return {
    metadata: { name, namespace: ns.name },
    spec: { selector: { app }, ports: [{ name: "http", port: 80, targetPort: "http" }] },
  };
}
async function runningPod(name: string): Promise<k8s.V1Pod> {
  return eventually(`pod ${name} running`, async () => {
    const p = await c.core.readNamespacedPod({ name, namespace: ns.name });
    return p.status?.phase === "Running" && p.status.podIP ? p : undefined;
  });
}
const toService = (name: string, port = 80) => ({ service: { name, port } });

// ---------------------------------------------------------------------------------------------------------
// Tests

test("a route to a real Service: Accepted, ResolvedRefs, and endpoint counts that follow the pods", async () => {
  await c.core.createNamespacedPod({ namespace: ns.name, body: echoPod("echo-1") });
  await c.core.createNamespacedPod({ namespace: ns.name, body: echoPod("echo-2") });
  await c.core.createNamespacedService({ namespace: ns.name, body: echoService("echo") });
  const ip = (await runningPod("echo-1")).status!.podIP!;
  await runningPod("echo-2");
  // The backends are real: the pod answers on its IP.
  assert.equal((await eventually("echo-1 answers", () => fetch(`http://${ip}:8080/`))).status, 200);

  await createRoute("to-echo", { hosts: ["echo.example.com"], rules: [{ backends: [toService("echo")] }] });
  const r = await waitRoute("to-echo", "2 of 2 healthy", (x) => counts(x) === "2/2");
  assert.equal(said(r), SERVED);
  assert.equal(r.status?.observedGeneration, r.metadata.generation);
  for (const x of r.status!.conditions!) {
    assert.equal(x.observedGeneration, r.metadata.generation, `${x.type} observedGeneration`);
    assert.match(x.lastTransitionTime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  }

  // A pod that never gets ready is an endpoint, not a healthy one.
  await c.core.createNamespacedPod({ namespace: ns.name, body: echoPod("echo-3", true) });
  await waitRoute("to-echo", "2 of 3 healthy", (x) => counts(x) === "2/3");
  // One ready pod goes: the counts follow.
  await c.core.deleteNamespacedPod({ name: "echo-1", namespace: ns.name });
  const fewer = await waitRoute("to-echo", "1 of 2 healthy", (x) => counts(x) === "1/2");
  const accepted = cond(fewer, "Accepted")!;
  assert.equal(accepted.lastTransitionTime, cond(r, "Accepted")!.lastTransitionTime, "Accepted did not move");
});

test("a route naming a missing Service: BackendNotFound until the Service exists", async () => {
  await createRoute("late", { hosts: ["late.example.com"], rules: [{ backends: [toService("late-svc")] }] });
  const r = await waitRoute("late", "BackendNotFound", (x) =>
    is(x, "ResolvedRefs", "False", "BackendNotFound"),
  );
  assert.equal(
    cond(r, "ResolvedRefs")!.message,
    `spec.rules[0].backends[0]: Service ${ns.name}/late-svc does not exist.`,
  );
  assert.ok(is(r, "Accepted", "True"), "a missing backend does not make the route invalid");
  assert.equal(counts(r), "0/0");

  await c.core.createNamespacedService({ namespace: ns.name, body: echoService("late-svc") });
  const ok = await waitRoute(
    "late",
    "ResolvedRefs True with endpoints",
    (x) => is(x, "ResolvedRefs", "True") && x.status!.backends!.total! > 0,
  );
  assert.equal(cond(ok, "ResolvedRefs")!.reason, "ResolvedRefs");
});

/** Reads the route with the real kstatus until `want`, recording each distinct reading; returns them. */
async function kstatusUntil(
  name: string,
  want: KstatusResult["status"],
  seen: string[],
): Promise<KstatusResult> {
  try {
    return await eventually(`route ${name} read ${want} by kstatus`, async () => {
      const r = await getRoute(name);
      const [ks] = await kstatus(r);
      const reading = `${said(r) || "(no status yet)"} → ${ks!.status}`;
      if (seen.at(-1) !== reading) seen.push(reading);
      return ks!.status === want ? ks : undefined;
    });
  } catch (err) {
    throw new Error(`${(err as Error).message}; seen: ${seen.join(" | ")}`, { cause: err });
  }
}

test("kstatus (the real library): a route to a missing Service reads Failed naming it, InProgress while the Service has no ready endpoint, Current once one is", async () => {
  const seen: string[] = [];
  await createRoute("gitops", {
    hosts: ["gitops.example.com"],
    rules: [{ backends: [toService("gitops-svc")] }],
  });
  // Stalled True → Failed: the operator creates nothing for a route, so waiting changes nothing.
  const failed = await kstatusUntil("gitops", "Failed", seen);
  assert.equal(failed.name, `${ns.name}/gitops`);
  assert.match(
    failed.message,
    new RegExp(`Service ${ns.name}/gitops-svc does not exist`),
    "kstatus says what to fix",
  );
  const stalled = await getRoute("gitops");
  assert.ok(
    is(stalled, "Stalled", "True", "BackendNotFound") && is(stalled, "Ready", "False", "BackendNotFound"),
  );
  assert.equal(cond(stalled, "Stalled")!.observedGeneration, stalled.metadata.generation);

  // The Service arrives without a ready pod behind it: Reconciling True (NoHealthyBackends) → InProgress.
  await c.core.createNamespacedService({ namespace: ns.name, body: echoService("gitops-svc", "gitops") });
  const waiting = await kstatusUntil("gitops", "InProgress", seen);
  assert.match(waiting.message, /no ready endpoint/);
  assert.ok(is(await getRoute("gitops"), "Reconciling", "True", "NoHealthyBackends"));

  // A pod becomes ready behind it: Ready True → Current.
  await c.core.createNamespacedPod({ namespace: ns.name, body: echoPod("gitops-1", false, "gitops") });
  await kstatusUntil("gitops", "Current", seen);
  const served = await getRoute("gitops");
  assert.equal(said(served), SERVED);
  assert.equal(counts(served), "1/1");
  console.log(`# kstatus of route gitops: ${seen.join(" | ")}`);
});

test("a route naming a port the Service does not have: PortNotFound", async () => {
  await createRoute("wrong-port", {
    hosts: ["port.example.com"],
    rules: [{ backends: [toService("echo", 8081), { url: "https://legacy.example.com/api" }] }],
  });
  const r = await waitRoute("wrong-port", "PortNotFound", (x) =>
    is(x, "ResolvedRefs", "False", "PortNotFound"),
  );
  assert.equal(
    cond(r, "ResolvedRefs")!.message,
    `spec.rules[0].backends[0]: Service ${ns.name}/echo has no port 8081 (it has: 80).`,
  );
  assert.equal(counts(r), "1/1", "the URL backend counts; the unresolved Service does not");
});

test("a header regex the schema accepts but RE2 cannot compile: Accepted False Invalid naming the field", async () => {
  await createRoute("bad-regex", {
    hosts: ["regex.example.com"],
    rules: [
      {
        matches: [
          { path: { value: "/" }, headers: [{ name: "X-Team", value: "a(", type: "RegularExpression" }] },
        ],
        backends: [toService("echo")],
      },
    ],
  });
  const r = await waitRoute("bad-regex", "Invalid", (x) => is(x, "Accepted", "False", "Invalid"));
  assert.match(
    cond(r, "Accepted")!.message,
    /^The route is not served: spec\.rules\[0\]\.matches\[0\]\.headers\[0\]\.value: Invalid regular expression/,
  );
});

test("two routes with an identical match: the newer one is Conflicted naming the older, until the older goes", async () => {
  const spec = {
    hosts: ["same.example.com"],
    rules: [{ matches: [{ path: { type: "PathPrefix", value: "/api" } }], backends: [toService("echo")] }],
  } satisfies GatewayRouteSpec;
  await createRoute("older", spec);
  await waitRoute("older", "accepted", (x) => is(x, "Accepted", "True"));
  // creationTimestamp has one-second resolution: make "newer" newer.
  await new Promise((r) => setTimeout(r, 1100));
  await createRoute("newer", spec);
  const newer = await waitRoute("newer", "Conflicted", (x) => is(x, "Conflicted", "True", "Conflicted"));
  assert.equal(
    cond(newer, "Conflicted")!.message,
    `Requests go to the older route instead: spec.rules[0].matches[0] (host same.example.com, path /api) loses to ${ns.name}/older.`,
  );
  const older = await getRoute("older");
  assert.equal(said(older), SERVED);
  assert.equal(
    said(newer),
    "Ready=False/Conflicted Reconciling=False/Stalled Stalled=True/Conflicted Accepted=True/Accepted ResolvedRefs=True/ResolvedRefs Conflicted=True/Conflicted",
  );

  await deleteRoute("older");
  const freed = await waitRoute("newer", "no longer Conflicted", (x) =>
    is(x, "Conflicted", "False", "NoConflicts"),
  );
  assert.equal(cond(freed, "Conflicted")!.message, "No match loses to another route.");
});

test("routes the schema refuses never reach the operator: the API server names the field", async () => {
  const rows: { why: string; rule: Record<string, unknown>; field: RegExp }[] = [
    { why: "no backends", rule: { backends: [] }, field: /spec\.rules\[0\]\.backends/ },
    {
      why: "weight 2000",
      rule: { backends: [{ service: { name: "echo", port: 80 }, weight: 2000 }] },
      field: /spec\.rules\[0\]\.backends\[0\]\.weight/,
    },
    {
      why: "ConsistentHash without hashOn",
      rule: { backends: [toService("echo")], loadBalancer: { strategy: "ConsistentHash" } },
      field: /spec\.rules\[0\]\.loadBalancer\.hashOn/,
    },
  ];
  for (const row of rows) {
    await assert.rejects(
      createRoute(`refused-${rows.indexOf(row)}`, { rules: [row.rule] }),
      (err: unknown) => {
        assert.equal(apiErrorCode(err), 422, `${row.why}: HTTP 422 (${apiErrorMessage(err)})`);
        assert.match(apiErrorMessage(err), row.field, row.why);
        console.log(`# refused (${row.why}): ${apiErrorMessage(err)}`);
        return true;
      },
    );
  }
});

test("kubectl get gatewayroutes shows Ready and Accepted, and Healthy/Backends with -o wide", async () => {
  await waitRoute("to-echo", "settled", (x) => counts(x) === "1/2");
  const out = await kubectl("get", "gatewayroutes", "-n", ns.name, "-o", "wide");
  const lines = out.trim().split("\n");
  const header = lines[0]!.split(/\s{2,}/);
  for (const col of ["NAME", "HOSTS", "READY", "ACCEPTED", "HEALTHY", "BACKENDS", "AGE"])
    assert.ok(header.includes(col), `${col} in ${lines[0]}`);
  const row = (name: string) => {
    const cells = lines.find((l) => l.startsWith(`${name} `))?.split(/\s{2,}/);
    assert.ok(cells, `a row for ${name} in\n${out}`);
    return Object.fromEntries(header.map((h, i) => [h, cells[i]]));
  };
  assert.deepEqual(
    { ...row("to-echo"), AGE: undefined },
    {
      NAME: "to-echo",
      HOSTS: '["echo.example.com"]',
      READY: "True",
      ACCEPTED: "True",
      HEALTHY: "1",
      BACKENDS: "2",
      AGE: undefined,
    },
  );
  assert.equal(row("bad-regex").ACCEPTED, "False");
  assert.equal(row("bad-regex").READY, "False");
});

test("the operator wrote route status as itself, through /status, and writes nothing in a steady state", async () => {
  // Everything from the tests above has settled.
  for (const name of ["to-echo", "late", "gitops", "wrong-port", "bad-regex", "newer"])
    await waitRoute(name, "status of its generation", () => true);
  const writes = (await auditWrites(OPERATOR_USER, started)).filter(
    (w) => w.objectRef?.resource === "gatewayroutes",
  );
  assert.ok(writes.length > 0, "route status was written by the operator's account");
  assert.deepEqual(
    [...new Set(writes.map((w) => `${w.verb} ${w.objectRef?.subresource}`))],
    ["update status"],
    "only status updates, never the spec",
  );

  await new Promise((r) => setTimeout(r, 2000)); // let in-flight reconciles (and their writes) finish
  const reconcilesBefore = await op.metric("portico_operator_reconciles_total", { kind: "GatewayRoute" });
  const since = new Date();
  await new Promise((r) => setTimeout(r, 6000)); // three resync periods
  const quiet = (await auditWrites(OPERATOR_USER, since)).filter((w) => w.objectRef?.resource !== "leases");
  assert.deepEqual(
    quiet.map((w) => `${w.verb} ${w.objectRef?.resource}/${w.objectRef?.name}`),
    [],
    "no writes in steady state",
  );
  const reconciles =
    (await op.metric("portico_operator_reconciles_total", { kind: "GatewayRoute" })) - reconcilesBefore;
  const errors = await op.metric("portico_operator_reconcile_errors_total", { kind: "GatewayRoute" });
  console.log(
    `# steady state, 6 s: ${quiet.length} writes besides Lease renewals; ${reconciles} route reconciles; ${writes.length} route status writes before; ${errors} retried reconciles in all`,
  );
  assert.ok(reconciles >= 5, `it kept reconciling routes (resync) while writing nothing: ${reconciles}`);
});
