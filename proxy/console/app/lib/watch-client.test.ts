import { test } from "node:test";
import assert from "node:assert/strict";
import {
  PING_INTERVAL_MS,
  PONG_TIMEOUT_MS,
  RECONNECT_FIRST_MS,
  RECONNECT_MAX_MS,
  type WorkspaceItem,
} from "../../protocol.ts";
import { FakeClock, FakeSocket } from "./fakes.test-util.ts";
import { WatchClient, type ConnState } from "./watch-client.ts";

const ws = (name: string, rv: string, phase: string): WorkspaceItem => ({
  kind: "Workspace",
  namespace: "ws-alice",
  name,
  resourceVersion: rv,
  view: { phase },
});

function setup() {
  const clock = new FakeClock();
  const sockets: FakeSocket[] = [];
  const states: ConnState[] = [];
  const client = new WatchClient({
    connect: () => {
      const s = new FakeSocket();
      sockets.push(s);
      return s;
    },
    clock,
    random: () => 1,
    onState: (s) => states.push(s),
  });
  return { clock, sockets, states, client, last: () => sockets[sockets.length - 1]! };
}

test("subscribes on open, merges snapshot and changes, and resumes from the last resourceVersion", () => {
  const { client, sockets, clock, last } = setup();
  const seen: string[][] = [];
  client.subscribe<WorkspaceItem>("workspaces", undefined, {
    update: (items) => seen.push(items.map((i) => `${i.name}:${i.view.phase}`)),
  });
  client.start();
  last().accept();
  assert.deepEqual(last().sent, [{ type: "subscribe", id: "s1", channel: "workspaces" }]);
  last().deliver({
    type: "snapshot",
    id: "s1",
    items: [ws("a", "10", "Pending")],
    resourceVersion: "10",
    reset: false,
  });
  last().deliver({
    type: "changes",
    id: "s1",
    changes: [
      { op: "MODIFIED", object: ws("a", "11", "Running") },
      { op: "ADDED", object: ws("b", "12", "Pending") },
    ],
    resourceVersion: "12",
  });
  assert.deepEqual(seen, [["a:Pending"], ["a:Running", "b:Pending"]]);

  last().hangUp();
  assert.equal(sockets.length, 1, "no reconnect before the backoff delay");
  clock.advance(RECONNECT_FIRST_MS);
  assert.equal(sockets.length, 2);
  last().accept();
  assert.deepEqual(last().sent, [
    { type: "subscribe", id: "s1", channel: "workspaces", resourceVersion: "12" },
  ]);
  // A repeat of an old change after the resume changes nothing; a reset snapshot replaces all.
  last().deliver({
    type: "changes",
    id: "s1",
    changes: [{ op: "MODIFIED", object: ws("a", "11", "Running") }],
    resourceVersion: "13",
  });
  last().deliver({
    type: "snapshot",
    id: "s1",
    items: [ws("c", "20", "Stopped")],
    resourceVersion: "20",
    reset: true,
  });
  assert.deepEqual(seen.slice(2), [["a:Running", "b:Pending"], ["c:Stopped"]]);
});

test("subscribe and unsubscribe while open are sent at once; a namespace filter is passed", () => {
  const { client, last } = setup();
  client.start();
  last().accept();
  const off = client.subscribe("events", "ws-alice", { update: () => undefined });
  off();
  off();
  assert.deepEqual(last().sent, [
    { type: "subscribe", id: "s1", channel: "events", namespace: "ws-alice" },
    { type: "unsubscribe", id: "s1" },
  ]);
});

test("an error frame goes to its subscription", () => {
  const { client, last } = setup();
  const errors: string[] = [];
  client.subscribe("pods", undefined, { update: () => undefined, error: (e) => errors.push(e.code) });
  client.start();
  last().accept();
  last().deliver({ type: "error", id: "s1", code: "forbidden", message: "no" });
  last().deliver({ type: "error", id: "nope", code: "not_found", message: "no" });
  assert.deepEqual(errors, ["forbidden"]);
});

test("pings every interval; a missing pong drops the socket and reconnects", () => {
  const { client, sockets, clock, last, states } = setup();
  client.start();
  last().accept();
  clock.advance(PING_INTERVAL_MS);
  assert.deepEqual(last().sent, [{ type: "ping" }]);
  last().deliver({ type: "pong" });
  clock.advance(PING_INTERVAL_MS);
  assert.equal(sockets.length, 1, "answered: still the same socket");
  clock.advance(PONG_TIMEOUT_MS);
  assert.equal(sockets[0]!.closedWith, 4000, "no pong: closed by the client");
  assert.deepEqual(states.slice(-1), ["offline"]);
  clock.advance(RECONNECT_FIRST_MS);
  assert.equal(sockets.length, 2);
});

test("backoff doubles while the server never answers, is capped, and resets once it answers", () => {
  const { client, clock, last, sockets } = setup();
  client.start();
  const delays: number[] = [];
  for (let i = 0; i < 8; i++) {
    last().hangUp();
    delays.push(clock.pending[0]!);
    clock.advance(clock.pending[0]!);
  }
  assert.deepEqual(delays, [
    500,
    1000,
    2000,
    4000,
    8000,
    RECONNECT_MAX_MS,
    RECONNECT_MAX_MS,
    RECONNECT_MAX_MS,
  ]);
  last().accept();
  last().deliver({ type: "pong" });
  last().hangUp();
  assert.equal(clock.pending[0], RECONNECT_FIRST_MS);
  client.stop();
  const n = sockets.length;
  clock.advance(RECONNECT_MAX_MS * 2);
  assert.equal(sockets.length, n, "stopped: no reconnect");
});
