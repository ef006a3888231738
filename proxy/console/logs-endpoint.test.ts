/**
 * The /ws/logs endpoint over a real WebSocket, with the cluster faked at its edge (ConsoleCluster):
 * the upstream request is aborted when the browser goes, a container not started yet is waited for,
 * and a workspace that is gone when the stream reconnects closes the socket with 4404.
 */
import assert from "node:assert/strict";
import type { IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { PassThrough } from "node:stream";
import test from "node:test";
import { WebSocket, WebSocketServer } from "ws";
import type { Workspace } from "../../crds/types.ts";
import { CHILD_SELECTOR, WORKSPACE_LABEL } from "../../common/model/workspace/names.ts";
import type { Identity } from "../auth/identity.ts";
import { ApiError } from "../api/types.ts";
import { createLogger } from "../../common/runtime/log.ts";
import { UpstreamError, type ConsoleCluster } from "./cluster.ts";
import { logsEndpoint } from "./logs.ts";
import type { PodLike } from "./target.ts";
import { ActivityTracker } from "../activity/tracker.ts";

const alice: Identity = { user: "alice", groups: [], roles: [], via: "bearer" };
const ws0 = {
  metadata: { name: "proj", namespace: "ns1", uid: "u1" },
  spec: { owner: "alice", className: "tiny" },
} as unknown as Workspace;
const pod: PodLike = {
  metadata: {
    name: "ws-proj",
    namespace: "ns1",
    labels: { ...CHILD_SELECTOR, [WORKSPACE_LABEL]: "proj" },
    ownerReferences: [{ kind: "Workspace", uid: "u1" }],
  },
  spec: { containers: [{ name: "ide" }] },
  status: { phase: "Running" },
};

interface Harness {
  url: string;
  streams: { body: PassThrough; signal: AbortSignal; since?: string }[];
  state: { gone: boolean; failFirst: number };
  close(): Promise<void>;
}

async function harness(activity?: ActivityTracker): Promise<Harness> {
  const streams: Harness["streams"] = [];
  const state = { gone: false, failFirst: 0 };
  const cluster: ConsoleCluster = {
    readPod: async () => pod,
    async followLog(_ns, _pod, req, signal) {
      if (state.failFirst > 0) {
        state.failFirst--;
        throw new UpstreamError(400, 'container "ide" in pod "ws-proj" is waiting to start: PodInitializing');
      }
      const body = new PassThrough();
      signal.addEventListener("abort", () => body.destroy());
      streams.push({ body, signal, ...(req.sinceTime ? { since: req.sinceTime } : {}) });
      return body as unknown as IncomingMessage;
    },
    exec: () => Promise.reject(new Error("no exec here")),
  };
  const endpoint = logsEndpoint({
    cluster,
    resolve: {
      workspace: () => {
        if (state.gone) throw new ApiError(404, "not_found", "workspace ns1/proj not found");
        return ws0;
      },
      readPod: cluster.readPod,
    },
    log: createLogger("error", "test"),
    retryBaseMs: 1,
    retryMaxMs: 5,
    ...(activity ? { activity } : {}),
  });
  const wss = new WebSocketServer({ port: 0, host: "127.0.0.1" });
  wss.on("connection", (ws, req) => {
    const query = new URLSearchParams(req.url!.split("?")[1]);
    void Promise.resolve(endpoint.check!(alice, query)).then((r) =>
      r ? ws.close(4000, JSON.stringify(r.body)) : endpoint.open(ws, alice, query),
    );
  });
  await new Promise((r) => wss.once("listening", r));
  return {
    url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/ws/logs?workspace=ns1/proj`,
    streams,
    state,
    close: () => new Promise((r) => wss.close(() => r())),
  };
}

function client(url: string) {
  const ws = new WebSocket(url);
  const frames: { type: string; [k: string]: unknown }[] = [];
  ws.on("message", (d: Buffer) => frames.push(JSON.parse(d.toString())));
  const closed = new Promise<number>((r) => ws.once("close", (code) => r(code)));
  const until = async <T>(pred: () => T | undefined): Promise<T> => {
    for (;;) {
      const v = pred();
      if (v !== undefined) return v;
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  return { ws, frames, closed, until };
}

test("logs endpoint: lines with their time; the upstream request is aborted when the browser goes", async () => {
  const h = await harness();
  const c = client(h.url);
  await c.until(() => c.frames.find((f) => f.type === "status" && f.state === "following"));
  h.streams[0]!.body.write("2026-12-05T03:04:05.1Z hello\n2026-12-05T03:04:05.2Z wor");
  h.streams[0]!.body.write("ld\n");
  await c.until(() => (c.frames.filter((f) => f.type === "line").length === 2 ? true : undefined));
  assert.deepEqual(
    c.frames.filter((f) => f.type === "line").map((f) => [f.time, f.text]),
    [
      ["2026-12-05T03:04:05.1Z", "hello"],
      ["2026-12-05T03:04:05.2Z", "world"],
    ],
  );
  assert.equal(h.streams[0]!.signal.aborted, false);
  c.ws.close();
  await c.until(() => (h.streams[0]!.signal.aborted ? true : undefined));
  await h.close();
});

test("logs endpoint: a container not started is waited for; an upstream end resumes after the last line", async () => {
  const h = await harness();
  h.state.failFirst = 2;
  const c = client(h.url);
  await c.until(() => c.frames.find((f) => f.type === "status" && f.state === "following"));
  const waiting = c.frames.filter((f) => f.type === "status" && f.state === "waiting");
  assert.equal(waiting.length, 2);
  assert.match(String(waiting[0]!.message), /waiting to start/);
  h.streams[0]!.body.end("2026-12-05T03:04:05.5Z one\n");
  await c.until(() => c.frames.find((f) => f.type === "status" && f.state === "ended"));
  await c.until(() => (h.streams.length === 2 ? true : undefined));
  assert.equal(h.streams[1]!.since, "2026-12-05T03:04:05Z", "asks again from the whole second");
  h.streams[1]!.body.write("2026-12-05T03:04:05.5Z one\n2026-12-05T03:04:06Z two\n");
  await c.until(() => c.frames.find((f) => f.type === "line" && f.text === "two"));
  assert.equal(c.frames.filter((f) => f.text === "one").length, 1, "the replayed line is not sent twice");
  c.ws.close();
  await h.close();
});

test("logs endpoint: a workspace gone when the stream reconnects closes the socket with 4404", async () => {
  const h = await harness();
  const c = client(h.url);
  await c.until(() => c.frames.find((f) => f.type === "status" && f.state === "following"));
  h.state.gone = true;
  h.streams[0]!.body.end();
  assert.equal(await c.closed, 4404);
  assert.equal(c.frames.at(-1)!.code, "not_found");
  await h.close();
});

test("logs endpoint: an open stream holds the workspace's console activity until it closes (issue 15)", async () => {
  const tracker = new ActivityTracker();
  const h = await harness(tracker);
  const c = client(h.url);
  await c.until(() => c.frames.find((f) => f.type === "status" && f.state === "following"));
  assert.equal(tracker.get("ns1", "proj")?.holds.console, 1);
  c.ws.close();
  await c.until(() => (tracker.get("ns1", "proj")?.holds.console === 0 ? true : undefined));
  assert.ok(tracker.get("ns1", "proj")!.seen.console > 0);
  await h.close();
});
