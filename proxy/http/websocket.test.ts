import { test } from "node:test";
import assert from "node:assert/strict";
import { sendableCode, upstreamHeaders } from "./websocket.ts";

test("only close codes a close frame may carry are passed on as they are", () => {
  for (const ok of [1000, 1001, 1008, 1011, 1014, 3000, 4999]) assert.ok(sendableCode(ok), String(ok));
  for (const no of [999, 1004, 1005, 1006, 1015, 2000, 5000]) assert.ok(!sendableCode(no), String(no));
});

test("the upstream handshake keeps Host, Origin and cookies, and drops hop-by-hop and handshake headers", () => {
  const h = upstreamHeaders({
    host: "a--ns.portico.test:8080",
    origin: "http://a--ns.portico.test:8080",
    cookie: "_xsrf=1",
    connection: "Upgrade",
    upgrade: "websocket",
    "sec-websocket-key": "k",
    "sec-websocket-version": "13",
    "sec-websocket-extensions": "permessage-deflate",
    "sec-websocket-protocol": "v1",
  });
  assert.deepEqual(h, {
    host: "a--ns.portico.test:8080",
    origin: "http://a--ns.portico.test:8080",
    cookie: "_xsrf=1",
  });
});

// ---- The relay between real sockets (loopback): a `ws` IDE behind it, raw or `ws` clients in front.

import { createServer, type Server } from "node:http";
import { connect, type AddressInfo, type Socket } from "node:net";
import { after, before } from "node:test";
import { WebSocket, WebSocketServer } from "ws";
import { WsRelay, acceptKey, checkUpstreamAccept } from "./websocket.ts";
import { OP_BINARY, OP_CONTINUATION, OP_TEXT, FrameReader } from "./frames.ts";

const CAP = 256 * 1024;
let ide: Server;
let ideWss: WebSocketServer;
let front: Server;
let relay: WsRelay;
/** The same with no message-size cap to speak of: for the unfinished 64 MiB message. */
let bigRelay: WsRelay;
/** What the IDE saw on its sockets: close codes, bytes of messages, raw bytes read. */
const seen = { closes: [] as number[], rawBytes: 0 };

before(async () => {
  ide = createServer();
  ideWss = new WebSocketServer({
    noServer: true,
    maxPayload: 1 << 30,
    handleProtocols: (p) => (p.has("v2") ? "v2" : false),
  });
  ide.on("upgrade", (req, socket, head) => {
    if (req.url === "/refuse")
      return void socket.end("HTTP/1.1 403 Forbidden\r\ncontent-length: 4\r\n\r\nnope");
    if (req.url === "/sink") {
      // A raw IDE that accepts and counts what it reads, never assembling a message.
      socket.write(
        `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptKey(String(req.headers["sec-websocket-key"]))}\r\n\r\n`,
      );
      socket.on("data", (d: Buffer) => (seen.rawBytes += d.length));
      socket.on("error", () => undefined);
      return;
    }
    ideWss.handleUpgrade(req, socket, head, (ws) => {
      ws.on("close", (code) => seen.closes.push(code));
      ws.on("error", () => undefined);
      ws.on("message", (d, isBinary) => {
        if (isBinary) return ws.send(d, { binary: true });
        const text = String(d);
        if (text.startsWith("flood")) {
          const chunk = Buffer.alloc(64 * 1024, 1);
          const go = () => {
            while (ws.readyState === WebSocket.OPEN && ws.bufferedAmount < 4 << 20) ws.send(chunk);
            if (ws.readyState === WebSocket.OPEN) setTimeout(go, 5);
          };
          go();
        } else ws.send(`echo:${text}`);
      });
    });
  });
  await new Promise<void>((r) => ide.listen(0, "127.0.0.1", r));
  relay = new WsRelay({
    pingIntervalMs: 300,
    maxPayload: 1 << 20,
    handshakeTimeoutMs: 2000,
    maxBufferedBytes: CAP,
  });
  bigRelay = new WsRelay({
    pingIntervalMs: 300,
    maxPayload: 1 << 30,
    handshakeTimeoutMs: 2000,
    maxBufferedBytes: CAP,
  });
  const idePort = (ide.address() as AddressInfo).port;
  front = createServer();
  front.on("upgrade", (req, socket, head) => {
    socket.on("error", () => socket.destroy());
    const r = req.url === "/sink" || req.url?.startsWith("/big") ? bigRelay : relay;
    r.relay(req, socket, head, `ws://127.0.0.1:${idePort}${req.url}`, upstreamHeaders(req.headers), "t");
  });
  await new Promise<void>((r) => front.listen(0, "127.0.0.1", r));
});
after(() => {
  relay.close();
  bigRelay.close();
  front.close();
  ide.close();
  ideWss.close();
});

const frontUrl = (path: string) => `ws://127.0.0.1:${(front.address() as AddressInfo).port}${path}`;

/** A raw client: handshake done by hand, then bytes; resolves once the 101 is read. */
async function rawClient(path: string): Promise<{ s: Socket; reader: FrameReader; closes: number[] }> {
  const s = connect((front.address() as AddressInfo).port, "127.0.0.1");
  s.on("error", () => undefined);
  const key = "dGhlIHNhbXBsZSBub25jZQ==";
  s.write(
    `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${key}\r\n\r\n`,
  );
  const reader = new FrameReader({ masked: false, maxMessageBytes: 1 << 30 });
  const closes: number[] = [];
  await new Promise<void>((resolve, reject) => {
    let head = Buffer.alloc(0);
    const onData = (d: Buffer) => {
      head = Buffer.concat([head, d]);
      const end = head.indexOf("\r\n\r\n");
      if (end < 0) return;
      s.off("data", onData);
      if (!head.subarray(0, 12).toString().includes("101")) return reject(new Error(head.toString()));
      const feed = (b: Buffer) => {
        for (const p of reader.push(b)) if (p.kind === "control" && p.code) closes.push(p.code);
      };
      s.on("data", feed);
      feed(head.subarray(end + 4));
      resolve();
    };
    s.on("data", onData);
  });
  return { s, reader, closes };
}

/** A masked client frame header (payload follows, masked with a zero key: bytes as they are). */
function clientHeader(opcode: number, len: number, fin: boolean, masked = true): Buffer {
  const h = Buffer.alloc(2 + (len > 0xffff ? 8 : len > 125 ? 2 : 0) + (masked ? 4 : 0));
  h[0] = (fin ? 0x80 : 0) | opcode;
  h[1] = (masked ? 0x80 : 0) | (len > 0xffff ? 127 : len > 125 ? 126 : len);
  if (len > 0xffff) h.writeUInt32BE(len >>> 0, 6);
  else if (len > 125) h.writeUInt16BE(len, 2);
  return h;
}

const until = async (what: string, check: () => boolean, ms = 10_000) => {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

test("an unfinished 64 MiB fragmented message streams through: the IDE reads it as it is sent", async () => {
  const before = seen.rawBytes;
  const { s } = await rawClient("/sink");
  const payload = Buffer.alloc(1 << 20, 0); // masked with key 0: the bytes are the payload
  s.write(clientHeader(OP_BINARY, payload.length, false));
  s.write(payload);
  for (let i = 1; i < 64; i++) {
    const ok = s.write(Buffer.concat([clientHeader(OP_CONTINUATION, payload.length, false), payload]));
    if (!ok) await new Promise((r) => s.once("drain", r));
  }
  // No final frame is ever sent; relayed regardless (the old relay held it all, forwarding nothing).
  await until("64 MiB at the IDE", () => seen.rawBytes - before >= 64 << 20);
  assert.ok(
    bigRelay.bufferedBytes() <= CAP + (64 << 10) * 2,
    `relay holds ${bigRelay.bufferedBytes()} bytes`,
  );
  s.destroy();
});

const attacks: { name: string; send: Buffer; code: number }[] = [
  {
    name: "unmasked client frame",
    send: Buffer.concat([clientHeader(OP_TEXT, 2, true, false), Buffer.from("hi")]),
    code: 1002,
  },
  {
    name: "message over the 1 MiB cap, in fragments",
    send: Buffer.concat([
      clientHeader(OP_TEXT, 1 << 19, false),
      Buffer.alloc(1 << 19, 0x61),
      clientHeader(OP_CONTINUATION, (1 << 19) + 1, true),
    ]),
    code: 1009,
  },
  { name: "RSV1 set", send: Buffer.from([0xc1, 0x80, 0, 0, 0, 0]), code: 1002 },
  { name: "fragmented close", send: Buffer.from([0x08, 0x80, 0, 0, 0, 0]), code: 1002 },
];
for (const a of attacks)
  test(`relay: ${a.name} -> the client is closed with ${a.code}, the IDE told the same`, async () => {
    const { s, closes } = await rawClient("/chan");
    const ideCloses = seen.closes.length;
    s.write(a.send);
    await until("a close frame to the client", () => closes.length > 0);
    assert.deepEqual(closes, [a.code]);
    await until("the client's socket closed", () => s.destroyed || s.readableEnded);
    await until("the IDE's side closed", () => seen.closes.length > ideCloses);
    assert.equal(seen.closes.at(-1), a.code);
    s.destroy();
  });

test("a client that never reads: the IDE is no longer read past the cap, then the client is dropped", async () => {
  const { s } = await rawClient("/chan");
  s.pause();
  // "flood" (masked with key 0): the IDE then sends as fast as the relay takes it.
  s.write(Buffer.concat([clientHeader(OP_TEXT, 5, true), Buffer.from("flood")]));
  let max = 0;
  const t = setInterval(() => (max = Math.max(max, relay.bufferedBytes())), 5);
  await until(
    "the client dropped as a dead peer",
    () => s.destroyed || s.readableEnded || relay.size === 0,
    20_000,
  );
  clearInterval(t);
  assert.ok(max > 0, "something was queued");
  assert.ok(max <= CAP + 4 * (64 << 10), `the relay held at most ${max} bytes (cap ${CAP})`);
  s.destroy();
});

test("what passes is what was sent: 32 MiB of random bytes each way, in one message and in many", async () => {
  const { randomBytes, createHash } = await import("node:crypto");
  const ws = new WebSocket(frontUrl("/big"), { perMessageDeflate: false, maxPayload: 1 << 30 });
  await new Promise((r, j) => (ws.once("open", r), ws.once("error", j)));
  const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");
  const big = randomBytes(32 << 20);
  ws.send(big);
  const back = await new Promise<Buffer>((r) => ws.once("message", (d) => r(d as Buffer)));
  assert.equal(sha(back), sha(big), "one 32 MiB message");
  const small = Array.from({ length: 2000 }, (_, i) => randomBytes(1 + ((i * 7919) % 40_000)));
  const got: string[] = [];
  const all = new Promise<void>((r) =>
    ws.on("message", (d) => {
      got.push(sha(d as Buffer));
      if (got.length === small.length) r();
    }),
  );
  for (const m of small) ws.send(m);
  await all;
  assert.deepEqual(got, small.map(sha), "2,000 messages, in order");
  ws.close();
});

test("subprotocols: the IDE's choice reaches the client; an IDE refusal reaches it as the IDE's answer", async () => {
  const ws = new WebSocket(frontUrl("/chan"), ["v1", "v2"]);
  await new Promise((r, j) => (ws.once("open", r), ws.once("error", j)));
  assert.equal(ws.protocol, "v2");
  ws.send("x".repeat(200_000));
  assert.equal(String(await new Promise((r) => ws.once("message", r))).length, 200_005);
  ws.close(4000);
  const refused = new WebSocket(frontUrl("/refuse"));
  refused.on("error", () => undefined);
  const status = await new Promise<number>((r) =>
    refused.once("unexpected-response", (_q, res) => r(res.statusCode!)),
  );
  assert.equal(status, 403);
  refused.terminate();
});

test("the IDE's 101 is checked: accept key, no extension, only an offered subprotocol", () => {
  const key = "dGhlIHNhbXBsZSBub25jZQ==";
  const ok = { upgrade: "websocket", "sec-websocket-accept": acceptKey(key) };
  assert.equal(acceptKey(key), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", "RFC 6455 §1.3's example");
  assert.equal(checkUpstreamAccept(ok, key, []), undefined);
  assert.match(checkUpstreamAccept({ ...ok, "sec-websocket-accept": "x" }, key, [])!, /Accept/);
  assert.match(
    checkUpstreamAccept({ ...ok, "sec-websocket-extensions": "permessage-deflate" }, key, [])!,
    /extension/,
  );
  assert.match(checkUpstreamAccept({ ...ok, "sec-websocket-protocol": "v3" }, key, ["v1"])!, /v3/);
  assert.equal(checkUpstreamAccept({ ...ok, "sec-websocket-protocol": "v1" }, key, ["v1"]), undefined);
});
