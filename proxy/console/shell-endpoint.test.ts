/**
 * The /ws/shell endpoint over real WebSockets on both sides, the exec played by a local WebSocket
 * server speaking the channel protocol: stdin is held until the shell's pid mark, the mark never
 * reaches the browser, resize goes to channel 4, and closing the browser's socket sends stdin's EOF
 * and hangs the shell up by its pid with a second, plain exec.
 */
import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import test from "node:test";
import { WebSocket, WebSocketServer } from "ws";
import type { Workspace } from "../../crds/types.ts";
import { CHILD_SELECTOR, WORKSPACE_LABEL } from "../../common/model/workspace/names.ts";
import { createLogger } from "../../common/runtime/log.ts";
import type { Identity } from "../auth/identity.ts";
import type { ConsoleCluster, ExecOptions } from "./cluster.ts";
import { SHELL_COMMAND, STDIN_EOF, hangUpCommand, shellEndpoint } from "./shell.ts";
import type { PodLike } from "./target.ts";

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

const until = async <T>(pred: () => T | undefined): Promise<T> => {
  for (;;) {
    const v = pred();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 5));
  }
};

const listening = (s: WebSocketServer) =>
  new Promise<string>((r) =>
    s.once("listening", () => r(`ws://127.0.0.1:${(s.address() as AddressInfo).port}`)),
  );

test("shell endpoint: pid mark stripped, stdin held until it, resize on channel 4, close → EOF and hang-up", async () => {
  // The API server's exec: records what each connection got; the TTY one prints its mark late.
  const execs: {
    command: readonly string[];
    tty: boolean;
    got: Buffer[];
    marked?: boolean;
    stdinBeforeMark?: boolean;
  }[] = [];
  const api = new WebSocketServer({ port: 0, host: "127.0.0.1", handleProtocols: () => "v5.channel.k8s.io" });
  const apiUrl = await listening(api);
  api.on("connection", (up) => {
    const rec = execs.at(-1)!;
    up.on("message", (d: Buffer) => {
      if (d[0] === 0 && !rec.marked) rec.stdinBeforeMark = true;
      rec.got.push(Buffer.from(d));
    });
    if (!rec.tty) return;
    setTimeout(() => {
      rec.marked = true;
      up.send(Buffer.concat([Buffer.from([1]), Buffer.from("\x1b]7770;4242\x07$ ")]));
    }, 50);
  });
  const cluster: ConsoleCluster = {
    readPod: async () => pod,
    followLog: () => Promise.reject(new Error("unused")),
    exec(_ns, _pod, _c, command, opts?: ExecOptions) {
      execs.push({ command, tty: opts?.tty ?? true, got: [] });
      const ws = new WebSocket(apiUrl, ["v5.channel.k8s.io", "v4.channel.k8s.io"]);
      return new Promise((resolve, reject) => {
        ws.once("open", () => resolve(ws));
        ws.once("error", reject);
      });
    },
  };
  const endpoint = shellEndpoint({
    cluster,
    resolve: { workspace: () => ws0, readPod: cluster.readPod },
    log: createLogger("error", "test"),
  });
  const front = new WebSocketServer({ port: 0, host: "127.0.0.1" });
  const frontUrl = await listening(front);
  front.on("connection", (ws, req) => {
    const query = new URLSearchParams(req.url!.split("?")[1]);
    void Promise.resolve(endpoint.check!(alice, query)).then((r) =>
      r ? ws.close(4000, JSON.stringify(r.body)) : endpoint.open(ws, alice, query),
    );
  });

  const browser = new WebSocket(`${frontUrl}/ws/shell?workspace=ns1/proj`);
  const frames: { type: string }[] = [];
  const bytes: Buffer[] = [];
  browser.on("message", (d: Buffer, binary) =>
    binary ? bytes.push(Buffer.from(d)) : frames.push(JSON.parse(d.toString()) as { type: string }),
  );
  await new Promise((r) => browser.once("open", r));
  await until(() => frames.find((f) => f.type === "ready"));
  browser.send(JSON.stringify({ type: "resize", cols: 100, rows: 40 }));
  browser.send(JSON.stringify({ type: "stdin", data: "\x1b]7770;1\x07" })); // typed early: must not fake the mark
  await until(() => (Buffer.concat(bytes).toString() === "$ " ? true : undefined));
  const shell = execs[0]!;
  assert.deepEqual(shell.command, SHELL_COMMAND);
  await until(() => (shell.got.length >= 2 ? true : undefined));
  assert.deepEqual(JSON.parse(shell.got[0]!.subarray(1).toString()), { Width: 100, Height: 40 });
  assert.equal(shell.got[0]![0], 4, "resize on channel 4");
  assert.equal(shell.got[1]![0], 0, "stdin on channel 0, after the mark");
  assert.equal(shell.got[1]!.subarray(1).toString(), "\x1b]7770;1\x07");
  assert.equal(shell.stdinBeforeMark, undefined, "nothing typed reached the TTY before the shell's mark");

  browser.close();
  const hangUp = await until(() => execs[1]);
  assert.deepEqual(hangUp.command, hangUpCommand(4242), "the pid the shell printed, not the one typed");
  assert.equal(hangUp.tty, false);
  await until(() => (shell.got.some((b) => b.equals(STDIN_EOF)) ? true : undefined));
  await new Promise<void>((r) => front.close(() => r()));
  for (const c of api.clients) c.terminate();
  await new Promise<void>((r) => api.close(() => r()));
});

test("shell endpoint: a resize and keys sent before the exec opened crash nothing and arrive once it has", async () => {
  // CI found it: a resize before the exec connection existed threw in the message handler and took
  // the whole proxy down (every user's connections with it).
  const got: Buffer[] = [];
  const api = new WebSocketServer({ port: 0, host: "127.0.0.1", handleProtocols: () => "v5.channel.k8s.io" });
  const apiUrl = await listening(api);
  api.on("connection", (up) => {
    up.on("message", (d: Buffer) => got.push(Buffer.from(d)));
    // The shell prints its mark a moment after the exec opened, as a real one does.
    setTimeout(() => up.send(Buffer.concat([Buffer.from([1]), Buffer.from("\x1b]7770;77\x07$ ")])), 50);
  });
  let execs = 0;
  let openExec: () => void = () => undefined;
  const execOpened = new Promise<void>((r) => (openExec = r));
  const cluster: ConsoleCluster = {
    readPod: async () => pod,
    followLog: () => Promise.reject(new Error("unused")),
    async exec() {
      execs++;
      await execOpened; // the API server is slow to answer
      const ws = new WebSocket(apiUrl, ["v5.channel.k8s.io"]);
      await new Promise((r, j) => ws.once("open", r).once("error", j));
      return ws;
    },
  };
  const endpoint = shellEndpoint({
    cluster,
    resolve: { workspace: () => ws0, readPod: cluster.readPod },
    log: createLogger("error", "test"),
  });
  const front = new WebSocketServer({ port: 0, host: "127.0.0.1" });
  const frontUrl = await listening(front);
  front.on("connection", (ws, req) => {
    const query = new URLSearchParams(req.url!.split("?")[1]);
    void Promise.resolve(endpoint.check!(alice, query)).then(() => endpoint.open(ws, alice, query));
  });
  const browser = new WebSocket(`${frontUrl}/ws/shell?workspace=ns1/proj`);
  await new Promise((r) => browser.once("open", r));
  browser.send(JSON.stringify({ type: "resize", cols: 90, rows: 30 }));
  browser.send(JSON.stringify({ type: "stdin", data: "ls\r" }));
  await new Promise((r) => setTimeout(r, 50));
  openExec();
  await until(() => (got.length >= 2 ? true : undefined));
  assert.deepEqual(JSON.parse(got[0]!.subarray(1).toString()), { Width: 90, Height: 30 });
  assert.equal(got[1]!.subarray(1).toString(), "ls\r");
  browser.close();
  await until(() => (execs >= 2 ? true : undefined)); // the hang-up
  await new Promise((r) => setTimeout(r, 50));
  await new Promise<void>((r) => front.close(() => r()));
  for (const c of api.clients) c.terminate();
  await new Promise<void>((r) => api.close(() => r()));
});
