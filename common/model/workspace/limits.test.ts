import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Workspace, WorkspaceClass } from "../../../crds/types.ts";
import { testClass, testWorkspace } from "./fixtures.ts";
import { boundsViolations, runningLimitBlock } from "./limits.ts";

describe("boundsViolations", () => {
  const cls = testClass({
    bounds: { maxStorage: "50Gi", maxCpu: "2", maxMemory: "4Gi", maxIdleTimeout: "8h" },
  });

  it("names each field past its bound, with both values", () => {
    assert.deepEqual(
      boundsViolations(
        {
          storage: { size: "100Gi" },
          resources: { requests: { cpu: "500m", memory: "8Gi" }, limits: { cpu: 4 } },
          idleTimeout: "0s",
        },
        cls,
      ),
      [
        "spec.storage.size 100Gi exceeds the class's bounds.maxStorage 50Gi",
        "spec.resources.requests.memory 8Gi exceeds the class's bounds.maxMemory 4Gi",
        "spec.resources.limits.cpu 4 exceeds the class's bounds.maxCpu 2",
        "spec.idleTimeout 0s (never stop) exceeds the class's bounds.maxIdleTimeout 8h",
      ],
    );
  });

  it("accepts what is at or within the bounds, and anything for a class without bounds", () => {
    const within = {
      storage: { size: "50Gi" },
      resources: { limits: { cpu: "2000m", memory: "4096Mi" } },
      idleTimeout: "8h",
    };
    assert.deepEqual(boundsViolations(within, cls), []);
    assert.deepEqual(boundsViolations({ storage: { size: "1Ti" }, idleTimeout: "0s" }, testClass()), []);
    assert.deepEqual(boundsViolations({ idleTimeout: "9h" }, cls), [
      "spec.idleTimeout 9h exceeds the class's bounds.maxIdleTimeout 8h",
    ]);
  });
});

describe("runningLimitBlock", () => {
  const at = (name: string, minute: number, spec: Partial<Workspace["spec"]> = {}, ns = "team-a") =>
    testWorkspace(spec, {
      name,
      namespace: ns,
      creationTimestamp: `2026-12-05T00:${String(minute).padStart(2, "0")}:00Z`,
    });
  const classes: Record<string, WorkspaceClass> = {
    jupyterlab: testClass({ userLimits: { maxRunning: 1 } }),
    vscode: testClass({ bounds: { maxStorage: "1Gi" } }, "vscode"),
  };
  const decide = (ws: Workspace, all: Workspace[], withPod: string[], max: number) =>
    runningLimitBlock({
      ws,
      workspaces: all,
      hasPod: (w) => withPod.includes(w.metadata.name!),
      classOf: (w) => classes[w.spec.className ?? ""],
      maxRunningPerUser: max,
    });

  it("blocks past the per-user limit, naming the limit and the holders; the oldest waiting one goes first", () => {
    const a = at("a", 1, { className: "vscode" });
    const b = at("b", 2, { className: "vscode" }, "team-b");
    const c = at("c", 3, { className: "vscode" });
    const all = [c, b, a];
    assert.equal(decide(a, all, [], 2), undefined);
    assert.equal(decide(b, all, [], 2), undefined);
    const block = decide(c, all, [], 2);
    assert.deepEqual(block?.holders, ["team-a/a", "team-b/b"]);
    assert.equal(block?.scope, "user");
    assert.match(
      block!.message,
      /per-user limit of 2 \(api\.limits\.maxRunning, --max-running-per-user\): team-a\/a, team-b\/b/,
    );
  });

  it("never blocks a workspace that has a pod, even when a newer one holds a slot by order", () => {
    const a = at("a", 1, { className: "vscode" });
    const b = at("b", 2, { className: "vscode" });
    // b started first (a was stopped then); a started again later: b keeps running, a waits.
    assert.equal(decide(b, [a, b], ["b"], 1), undefined);
    assert.deepEqual(decide(a, [a, b], ["b"], 1)?.holders, ["team-a/b"]);
  });

  it("is not limited without a limit (the installation's or its class's)", () => {
    const a = at("a", 1, { className: "vscode" });
    const b = at("b", 2, { className: "vscode" });
    assert.equal(decide(b, [a, b], ["a"], 0), undefined);
  });

  it("frees the slot when a holder stops, and ignores other owners, stopped and deleting workspaces", () => {
    const a = at("a", 1, { className: "vscode", running: false });
    const b = at("b", 2, { className: "vscode" });
    const other = at("x", 0, { className: "vscode", owner: "bob" });
    const going = at("g", 0, { className: "vscode" });
    going.metadata.deletionTimestamp = "2026-12-05T01:00:00Z";
    assert.equal(decide(b, [a, b, other, going], ["x", "g"], 1), undefined);
  });

  it("applies a class's lower limit to that class only; waiting ones past their bounds take no slot", () => {
    const j1 = at("j1", 1);
    const j2 = at("j2", 2);
    const big = at("big", 0, { className: "vscode", storage: { size: "5Gi" } });
    const v = at("v", 3, { className: "vscode" });
    const block = decide(j2, [j1, j2, v, big], ["j1"], 0);
    assert.equal(block?.scope, "class");
    assert.deepEqual(block?.holders, ["team-a/j1"]);
    assert.match(block!.message, /WorkspaceClass jupyterlab spec\.userLimits\.maxRunning/);
    assert.equal(
      decide(v, [j1, j2, v, big], ["j1"], 2),
      undefined,
      "j2 waits on its class, so v gets the slot",
    );
  });
});
