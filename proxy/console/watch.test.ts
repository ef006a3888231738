/**
 * The /ws/watch socket over a real WebSocket on 127.0.0.1 (no surface in front: the endpoint alone),
 * with a hub fed by in-memory caches.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import test from "node:test";
import { WebSocket, WebSocketServer } from "ws";
import type { Workspace } from "../../crds/types.ts";
import { createLogger } from "../../common/runtime/log.ts";
import type { Identity } from "../auth/identity.ts";
import { MAX_REFUSED_FRAMES } from "./watch-frames.ts";
import { WatchHub } from "./watch-hub.ts";
import { watchEndpoint } from "./watch.ts";

const alice: Identity = { user: "alice", groups: [], roles: [], via: "bearer" };

function workspace(name: string, rv: number, phase = "Pending"): Workspace {
  return {
    apiVersion: "portico.dev/v1alpha1",
    kind: "Workspace",
    metadata: { namespace: "ns", name, resourceVersion: String(rv) },
    spec: { owner: "alice", className: "tiny" },
    status: { phase },
  } as unknown as Workspace;
}

async function serve(o: { maxSubscriptions?: number; pingIntervalMs?: number } = {}) {
  const cache = new Map<string, Workspace>();
  const empty = { get: () => undefined, list: () => [] };
  const hub = new WatchHub({
    adminRoles: [],
    syncAnnotation: "x",
    workspaces: { get: (n, ns) => cache.get(`${ns}/${n}`), list: () => [...cache.values()] },
    pods: empty,
    events: empty,
  });
  hub.listed("workspaces", "1");
  const endpoint = watchEndpoint({
    hub,
    maxSubscriptions: o.maxSubscriptions ?? 4,
    log: createLogger("error", "test"),
    ...(o.pingIntervalMs ? { pingIntervalMs: o.pingIntervalMs } : {}),
  });
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  wss.on("connection", (ws) => endpoint.open(ws, alice, new URLSearchParams()));
  await once(wss, "listening");
  const url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`;
  const change = (w: Workspace) => {
    const old = cache.get(`ns/${w.metadata.name}`);
    cache.set(`ns/${w.metadata.name}`, w);
    hub.workspaceChanged(w, old);
  };
  return {
    url,
    hub,
    endpoint,
    change,
    close: async () => {
      endpoint.close();
      wss.close();
    },
  };
}

/** A client that records frames and lets a test wait for the n-th one. */
async function client(url: string) {
  const ws = new WebSocket(url);
  const frames: Record<string, unknown>[] = [];
  const waiters: (() => void)[] = [];
  ws.on("message", (d) => {
    frames.push(JSON.parse(String(d)) as Record<string, unknown>);
    for (const w of waiters.splice(0)) w();
  });
  await once(ws, "open");
  const frame = async (n: number) => {
    while (frames.length < n) await new Promise<void>((r) => waiters.push(r));
    return frames[n - 1]!;
  };
  const closed = new Promise<number>((r) => ws.once("close", (code) => r(code)));
  return {
    ws,
    frames,
    frame,
    closed,
    send: (v: unknown) => ws.send(typeof v === "string" ? v : JSON.stringify(v)),
  };
}

test("a burst of changes reaches the client as one frame, in order", async (t) => {
  const s = await serve();
  t.after(s.close);
  const c = await client(s.url);
  c.send({ type: "subscribe", id: "w", channel: "workspaces" });
  assert.equal((await c.frame(1)).type, "snapshot");
  for (let rv = 2; rv <= 51; rv++) s.change(workspace(`w${rv % 5}`, rv));
  const f = (await c.frame(2)) as { type: string; changes: { op: string }[]; resourceVersion: string };
  assert.equal(f.type, "changes");
  assert.equal(f.changes.length, 50);
  assert.equal(f.resourceVersion, "51");
  assert.deepEqual(
    f.changes.slice(0, 6).map((x) => x.op),
    ["ADDED", "ADDED", "ADDED", "ADDED", "ADDED", "MODIFIED"],
  );
  c.send({ type: "ping" });
  assert.deepEqual(await c.frame(3), { type: "pong" });
  c.ws.close();
});

test("bad frames get coded errors and the connection stays; too many close it with 1008", async (t) => {
  const s = await serve();
  t.after(s.close);
  const c = await client(s.url);
  c.send("{nope");
  assert.equal((await c.frame(1)).code, "bad_frame");
  c.send({ type: "subscribe", id: "a", channel: "secrets" });
  assert.deepEqual(await c.frame(2), {
    type: "error",
    code: "unknown_channel",
    id: "a",
    message: "channel must be one of workspaces, pods, events",
  });
  c.send({ type: "subscribe", id: "a", channel: "workspaces" });
  assert.equal((await c.frame(3)).type, "snapshot");
  c.send({ type: "subscribe", id: "a", channel: "pods" });
  assert.equal((await c.frame(4)).code, "duplicate_id");
  c.send({ type: "unsubscribe", id: "zz" });
  assert.equal((await c.frame(5)).code, "not_found");
  c.ws.send(Buffer.from([1, 2, 3]), { binary: true });
  assert.equal((await c.frame(6)).code, "bad_frame");
  c.send({ type: "ping" });
  assert.deepEqual(await c.frame(7), { type: "pong" });
  for (let i = 0; i < MAX_REFUSED_FRAMES; i++) c.send("x");
  assert.equal(await c.closed, 1008);
});

test("past maxSubscriptions: an error frame, then 1008", async (t) => {
  const s = await serve({ maxSubscriptions: 2 });
  t.after(s.close);
  const c = await client(s.url);
  for (const id of ["a", "b", "c"]) c.send({ type: "subscribe", id, channel: "workspaces" });
  assert.equal((await c.frame(3)).code, "too_many");
  assert.equal(await c.closed, 1008);
});

test("a subscribe/unsubscribe storm is closed with 1008", async (t) => {
  const s = await serve();
  t.after(s.close);
  const c = await client(s.url);
  for (let i = 0; i < 200; i++) {
    c.send({ type: "subscribe", id: `s${i}`, channel: "workspaces" });
    c.send({ type: "unsubscribe", id: `s${i}` });
  }
  assert.equal(await c.closed, 1008);
  assert.equal(s.hub.counts().workspaces, 0);
});

test("a peer that stops answering pings is terminated", async (t) => {
  const s = await serve({ pingIntervalMs: 50 });
  t.after(s.close);
  const c = await client(s.url);
  // Stop the client's automatic pong: what a dead peer looks like from the server.
  (c.ws as unknown as { pong: () => void }).pong = () => undefined;
  assert.equal(await c.closed, 1006);
  // The server's side of the close lands on its own turn of the loop.
  while (s.endpoint.size > 0) await new Promise((r) => setImmediate(r));
  assert.equal(s.endpoint.size, 0);
});
