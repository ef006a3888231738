import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Workspace } from "../crds/types.ts";
import { EventHub, frame, snapshotOf } from "./events.ts";

const ws = (rv: string, phase: "Starting" | "Running", ready: boolean): Workspace => ({
  apiVersion: "portico.dev/v1alpha1",
  kind: "Workspace",
  metadata: { name: "a", namespace: "ns", resourceVersion: rv },
  spec: { owner: "alice", className: "x" },
  status: {
    phase,
    conditions: [
      { type: "Ready", status: ready ? "True" : "False", reason: "R", message: "m", lastTransitionTime: "t" },
    ],
  },
});

test("snapshots carry phase, readiness, routability, conditions and steps; frames are SSE", () => {
  const s = snapshotOf(ws("1", "Running", true), true);
  assert.equal(s.phase, "Running");
  assert.ok(s.ready && s.routable);
  assert.deepEqual(s.conditions, [{ type: "Ready", status: "True", reason: "R", message: "m", since: "t" }]);
  assert.deepEqual(
    s.steps.map((x) => x.key),
    ["storage", "clone", "pod", "ready"],
  );
  assert.equal(s.steps[3]!.state, "done", "routable: the last step is done");
  assert.equal(frame("status", "1.1", { a: 1 }), 'id: 1.1\nevent: status\ndata: {"a":1}\n\n');
});

async function withHub(fn: (hub: EventHub, url: string) => Promise<void>): Promise<void> {
  const hub = new EventHub({ heartbeatMs: 50 });
  const server: Server = createServer((req, res) => hub.serve(req, res, "ns", "a"));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  try {
    await fn(hub, `http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
  } finally {
    hub.close();
    server.closeAllConnections();
    server.close();
  }
}

/** Reads the stream until `until` matches what arrived. */
async function read(res: Response, until: RegExp): Promise<string> {
  let text = "";
  const decoder = new TextDecoder();
  for await (const chunk of res.body!) {
    text += decoder.decode(chunk as Uint8Array, { stream: true });
    if (until.test(text)) return text;
  }
  return text;
}

test("unknown workspace: 404; known: current state first, then changes as they happen, and heartbeats", async () => {
  await withHub(async (hub, url) => {
    assert.equal((await fetch(url)).status, 404);
    hub.update(ws("1", "Starting", false), false);
    const res = await fetch(url);
    assert.equal(res.headers.get("content-type"), "text/event-stream; charset=utf-8");
    setTimeout(() => {
      hub.update(ws("1", "Starting", false), false); // no change: nothing sent
      hub.update(ws("2", "Running", true), true);
    }, 20);
    const text = await read(res, /"routable":true[\s\S]*: heartbeat/);
    const ids = [...text.matchAll(/^id: (.*)$/gm)].map((m) => m[1]);
    assert.deepEqual(ids, ["1.0", "2.1"]);
    assert.match(text, /^retry: \d+/);
  });
});

test("Last-Event-ID resume: the current state is skipped when the client already has it", async () => {
  await withHub(async (hub, url) => {
    hub.update(ws("7", "Running", true), true);
    const fresh = await fetch(url, { headers: { "last-event-id": "6.0" } });
    assert.match(await read(fresh, /id: 7\.1/), /id: 7\.1/);
    const resumed = await fetch(url, { headers: { "last-event-id": "7.1" } });
    setTimeout(() => hub.delete("ns", "a"), 80);
    const text = await read(resumed, /event: deleted/);
    assert.doesNotMatch(text, /event: status/);
    assert.match(text, /: heartbeat/);
  });
});
