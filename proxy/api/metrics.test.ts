import assert from "node:assert/strict";
import test from "node:test";
import { Registry } from "prom-client";
import type { Workspace } from "../../crds/types.ts";
import { apiMetrics } from "./metrics.ts";

const ws = (name: string, phase: string, ready: boolean, running = true): Workspace =>
  ({
    metadata: { namespace: "n", name },
    spec: { owner: "a", running },
    status: { phase, conditions: [{ type: "Ready", status: ready ? "True" : "False" }] },
  }) as Workspace;

test("instances by status at scrape time; provision → Ready observed once, when Ready", async () => {
  const registry = new Registry();
  let now = 1_000_000;
  const list = [ws("a", "Running", true), ws("b", "Stopped", false, false), ws("c", "Starting", false)];
  const m = apiMetrics(
    registry,
    () => list,
    () => now,
  );
  m.provisioned("n", "c", now);
  now += 12_000;
  m.seen(ws("c", "Starting", false));
  m.seen(ws("c", "Running", true));
  m.seen(ws("c", "Running", true));
  const text = await registry.metrics();
  assert.match(text, /portico_api_instances\{status="RUNNING"\} 1/);
  assert.match(text, /portico_api_instances\{status="STOPPED"\} 1/);
  assert.match(text, /portico_api_instances\{status="STARTING"\} 1/);
  assert.match(text, /portico_api_instances\{status="ERROR"\} 0/);
  assert.match(text, /portico_api_provision_duration_seconds_count 1/);
  assert.match(text, /portico_api_provision_duration_seconds_bucket\{le="10"\} 0/);
  assert.match(text, /portico_api_provision_duration_seconds_bucket\{le="30"\} 1/);
});
