/**
 * The console sockets' shared guard, on a real WebSocket pair: a handler that throws closes only its
 * own socket (1011) and is logged; the process and the other sockets go on.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { WebSocket, WebSocketServer } from "ws";
import type { Logger } from "../../common/runtime/log.ts";
import { guarded } from "./socket.ts";

test("a throwing message handler closes its own socket with 1011 and is logged; another socket is untouched", async () => {
  const lines: string[] = [];
  const record = (msg: string, meta?: Record<string, unknown>) =>
    void lines.push(`${msg} ${JSON.stringify(meta)}`);
  const log: Logger = { debug: record, info: record, warn: record, error: record, child: () => log };
  const server = createServer();
  const wss = new WebSocketServer({ server });
  wss.on("connection", (ws) => {
    ws.on(
      "message",
      guarded(ws, log, "test socket", (data: Buffer) => {
        if (String(data) === "boom") throw new Error("resize before open");
        ws.send(`echo ${String(data)}`);
      }),
    );
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const victim = new WebSocket(url);
  const bystander = new WebSocket(url);
  await Promise.all([once(victim, "open"), once(bystander, "open")]);

  victim.send("boom");
  const [code] = (await once(victim, "close")) as [number];
  assert.equal(code, 1011);
  assert.ok(
    lines.some((l) => l.includes("test socket") && l.includes("resize before open")),
    lines.join("\n"),
  );

  bystander.send("still here");
  const [reply] = (await once(bystander, "message")) as [Buffer];
  assert.equal(String(reply), "echo still here");
  bystander.close();
  wss.close();
  server.close();
});
