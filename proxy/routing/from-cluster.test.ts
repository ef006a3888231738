import { test } from "node:test";
import assert from "node:assert/strict";
import type { V1EndpointSlice } from "@kubernetes/client-node";
import type { Workspace, WorkspaceClass } from "../../crds/types.ts";
import type { RoutingConfig } from "../config.ts";
import { readyEndpoint, toRoute } from "./from-cluster.ts";

const ws = (over: Partial<Workspace["status"]> = {}, running = true): Workspace => ({
  apiVersion: "portico.dev/v1alpha1",
  kind: "Workspace",
  metadata: { name: "a", namespace: "ns", creationTimestamp: "2026-01-01T00:00:00Z", generation: 1 },
  spec: { owner: "alice", className: "rstudio", running },
  status: {
    phase: "Running",
    className: "rstudio",
    conditions: [{ type: "Ready", status: "True", reason: "Ready", message: "", lastTransitionTime: "x" }],
    ...over,
  },
});
const cls: WorkspaceClass = {
  apiVersion: "portico.dev/v1alpha1",
  kind: "WorkspaceClass",
  metadata: { name: "rstudio" },
  spec: {
    image: "rstudio",
    port: 8787,
    basePath: {
      stripPrefix: true,
      requestHeaders: [{ name: "X-RStudio-Root-Path", value: "{prefix}" }],
      rewriteLocation: true,
      rewriteCookiePath: true,
    },
  },
};
const slice = (service: string, ip: string, ready?: boolean): V1EndpointSlice => ({
  addressType: "IPv4",
  metadata: { name: `${service}-x`, namespace: "ns", labels: { "kubernetes.io/service-name": service } },
  ports: [{ name: "http", port: 8787 }],
  endpoints: [{ addresses: [ip], ...(ready === undefined ? {} : { conditions: { ready } }) }],
});
const cfg = (over: Partial<RoutingConfig> = {}): RoutingConfig => ({
  routing: "path",
  baseDomain: "portico.test",
  serviceFallback: false,
  clusterDomain: "cluster.local",
  ...over,
});

test("a Ready workspace routes to a ready endpoint of its own Service, with the class's specifics", () => {
  const r = toRoute(ws(), cls, [slice("ws-other", "198.18.128.9"), slice("ws-a", "198.18.128.5")], cfg());
  assert.equal(r.state, "ready");
  assert.deepEqual(r.upstream, { host: "198.18.128.5", port: 8787 });
  assert.equal(r.idePrefix, "/w/ns/a");
  assert.equal(r.stripPrefix, true);
  assert.deepEqual(r.requestHeaders, [{ name: "X-RStudio-Root-Path", value: "{prefix}" }]);
  assert.ok(r.rewriteLocation && r.rewriteCookiePath);
  assert.equal(r.className, "rstudio");
  assert.equal(toRoute(ws(), cls, [], cfg({ routing: "host" })).idePrefix, "");
});

test("no ready endpoint: starting, unless the Service DNS fallback is on and no slice of it is seen", () => {
  const notReady = [slice("ws-a", "198.18.128.5", false)];
  assert.equal(toRoute(ws(), cls, notReady, cfg()).state, "starting");
  // Slices are there and say nothing is ready (a killed pod): its DNS name would not help either.
  assert.equal(toRoute(ws(), cls, notReady, cfg({ serviceFallback: true })).state, "starting");
  // Another Service's slice does not count.
  assert.equal(
    toRoute(ws(), cls, [slice("ws-b", "198.18.128.6")], cfg({ serviceFallback: true })).state,
    "ready",
  );
  const r = toRoute(ws(), cls, [], cfg({ serviceFallback: true }));
  assert.equal(r.state, "ready");
  assert.deepEqual(r.upstream, { host: "ws-a.ns.svc.cluster.local", port: 80 });
});

test("states follow the workspace: Starting, Stopped, Failed", () => {
  const notReady = [
    { type: "Ready", status: "False" as const, reason: "X", message: "m", lastTransitionTime: "x" },
  ];
  const live = [slice("ws-a", "198.18.128.5")];
  assert.equal(toRoute(ws({ phase: "Starting", conditions: notReady }), cls, live, cfg()).state, "starting");
  assert.equal(toRoute(ws({ phase: "Stopped" }, false), cls, live, cfg()).state, "stopped");
  assert.equal(toRoute(ws({ phase: "Running" }, false), cls, live, cfg()).state, "stopped");
  assert.equal(toRoute(ws({ phase: "Failed", conditions: notReady }), cls, live, cfg()).state, "failed");
  assert.equal(
    toRoute(ws({ phase: "Starting", conditions: notReady }), cls, live, cfg()).upstream,
    undefined,
  );
});

test("endpoints: unset ready counts as ready, terminating ones are skipped", () => {
  assert.deepEqual(readyEndpoint([slice("s", "1.2.3.4")], "s"), { host: "1.2.3.4", port: 8787 });
  const t = slice("s", "1.2.3.4");
  t.endpoints![0]!.conditions = { terminating: true };
  assert.equal(readyEndpoint([t], "s"), undefined);
});
