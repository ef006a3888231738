import { test } from "node:test";
import assert from "node:assert/strict";
import {
  FrameReader,
  OP_BINARY,
  OP_CLOSE,
  OP_CONTINUATION,
  OP_PING,
  OP_PONG,
  OP_TEXT,
  closePayload,
  controlFrame,
  type Piece,
} from "./frames.ts";

const KEY = Buffer.from([1, 2, 3, 4]);

/** One frame as a peer would write it; `len` overrides the length field (lying headers). */
function frame(
  opcode: number,
  payload: Buffer | string,
  o: { fin?: boolean; masked?: boolean; rsv?: number; len?: number; wide?: 16 | 64 } = {},
): Buffer {
  const body = Buffer.from(payload);
  const len = o.len ?? body.length;
  const masked = o.masked ?? true;
  const wide = o.wide ?? (len > 0xffff ? 64 : len > 125 ? 16 : undefined);
  const head = Buffer.alloc(2 + (wide === 16 ? 2 : wide === 64 ? 8 : 0) + (masked ? 4 : 0));
  head[0] = ((o.fin ?? true) ? 0x80 : 0) | ((o.rsv ?? 0) << 4) | opcode;
  head[1] = (masked ? 0x80 : 0) | (wide === 16 ? 126 : wide === 64 ? 127 : len);
  if (wide === 16) head.writeUInt16BE(len, 2);
  if (wide === 64) {
    head.writeUInt32BE(Math.floor(len / 2 ** 32), 2);
    head.writeUInt32BE(len >>> 0, 6);
  }
  if (!masked) return Buffer.concat([head, body]);
  KEY.copy(head, head.length - 4);
  const out = Buffer.from(body);
  for (let i = 0; i < out.length; i++) out[i]! ^= KEY[i & 3]!;
  return Buffer.concat([head, out]);
}

const client = (max = 1 << 20) => new FrameReader({ masked: true, maxMessageBytes: max });
const server = (max = 1 << 20) => new FrameReader({ masked: false, maxMessageBytes: max });
const dataBytes = (ps: Piece[]) => Buffer.concat(ps.flatMap((p) => (p.kind === "data" ? [p.bytes] : [])));
const violation = (ps: Piece[]) => ps.find((p) => p.kind === "violation");

test("data frames pass byte for byte (masked as they came), whatever the chunking", () => {
  const wire = Buffer.concat([
    frame(OP_TEXT, "hello", { fin: false }),
    frame(OP_PING, "p"),
    frame(OP_CONTINUATION, "x".repeat(300), { fin: false }),
    frame(OP_CONTINUATION, Buffer.alloc(70_000, 7)),
    frame(OP_BINARY, ""),
  ]);
  const whole = client().push(wire);
  for (const size of [1, 2, 3, 7, 13, 1000]) {
    const r = client();
    const pieces: Piece[] = [];
    for (let i = 0; i < wire.length; i += size) pieces.push(...r.push(wire.subarray(i, i + size)));
    assert.deepEqual(dataBytes(pieces), dataBytes(whole), `chunks of ${size}`);
    const ctl = pieces.filter((p) => p.kind === "control");
    assert.equal(ctl.length, 1);
    assert.equal(ctl[0]!.kind === "control" && ctl[0]!.payload.toString(), "p", "control payload unmasked");
    assert.ok(r.atBoundary);
  }
  // Everything but the ping, in order, untouched.
  const ping = frame(OP_PING, "p");
  const at = wire.indexOf(ping);
  assert.deepEqual(dataBytes(whole), Buffer.concat([wire.subarray(0, at), wire.subarray(at + ping.length)]));
});

test("a frame's payload is handed on as it arrives, before the frame (or message) ends", () => {
  const r = client(1 << 30);
  const head = frame(OP_BINARY, Buffer.alloc(0), { fin: false, len: 200 * 1024 * 1024 }).subarray(0, 14);
  const first = r.push(head);
  assert.deepEqual(dataBytes(first), head);
  assert.ok(!r.atBoundary, "inside a frame");
  const chunk = Buffer.alloc(65536, 1);
  for (let i = 0; i < 10; i++) assert.equal(dataBytes(r.push(chunk)).length, 65536);
});

test("split: a run of data bytes ends at every frame end, so the relay can slip a frame in", () => {
  const wire = Buffer.concat([frame(OP_TEXT, "a"), frame(OP_TEXT, "b"), frame(OP_TEXT, "c")]);
  const joined = client().push(wire);
  assert.equal(joined.length, 1);
  const split = client().push(wire, true);
  assert.equal(split.length, 3);
  assert.ok(split.every((p) => p.kind === "data" && p.end));
});

test("a message's size is counted across fragments without holding them: 1009 at the cap", () => {
  const r = client(100);
  assert.equal(violation(r.push(frame(OP_TEXT, "x".repeat(60), { fin: false }))), undefined);
  const over = r.push(frame(OP_CONTINUATION, "x".repeat(41)));
  assert.deepEqual(violation(over), {
    kind: "violation",
    code: 1009,
    reason: "messages are limited to 100 bytes",
  });
  assert.equal(dataBytes(over).length, 0, "not a byte of the frame that crosses the cap");
  assert.ok(r.done);
  assert.deepEqual(r.push(frame(OP_TEXT, "more")), [], "nothing is read after a violation");
  // Exactly at the cap is fine; the count starts again with each message.
  const ok = client(100);
  assert.equal(violation(ok.push(frame(OP_TEXT, "x".repeat(100)))), undefined);
  assert.equal(violation(ok.push(frame(OP_TEXT, "x".repeat(100)))), undefined);
  // A lying 64-bit length is refused from its header alone.
  const huge = client(256 * 1024 * 1024).push(
    frame(OP_BINARY, "", { len: 2 ** 40, wide: 64 }).subarray(0, 14),
  );
  assert.equal(violation(huge)?.kind === "violation" && violation(huge)!.code, 1009);
});

const violations: {
  name: string;
  reader: () => FrameReader;
  wire: Buffer[];
  code: 1002 | 1009;
  reason: RegExp;
}[] = [
  {
    name: "unmasked client frame",
    reader: client,
    wire: [frame(OP_TEXT, "hi", { masked: false })],
    code: 1002,
    reason: /must be masked/,
  },
  {
    name: "masked server frame",
    reader: server,
    wire: [frame(OP_TEXT, "hi", { masked: true })],
    code: 1002,
    reason: /must not be masked/,
  },
  {
    name: "RSV1 without permessage-deflate",
    reader: client,
    wire: [frame(OP_TEXT, "hi", { rsv: 4 })],
    code: 1002,
    reason: /RSV/,
  },
  {
    name: "RSV3",
    reader: server,
    wire: [frame(OP_BINARY, "hi", { rsv: 1, masked: false })],
    code: 1002,
    reason: /RSV/,
  },
  { name: "unknown data opcode 3", reader: client, wire: [frame(3, "hi")], code: 1002, reason: /opcode 3/ },
  {
    name: "unknown control opcode 0xB",
    reader: client,
    wire: [frame(0xb, "hi")],
    code: 1002,
    reason: /opcode 11/,
  },
  {
    name: "fragmented ping",
    reader: client,
    wire: [frame(OP_PING, "hi", { fin: false })],
    code: 1002,
    reason: /fragmented/,
  },
  {
    name: "ping of 126 bytes",
    reader: client,
    wire: [frame(OP_PING, "x".repeat(126))],
    code: 1002,
    reason: /125/,
  },
  {
    name: "close of 200 bytes",
    reader: server,
    wire: [frame(OP_CLOSE, "x".repeat(200), { masked: false })],
    code: 1002,
    reason: /125/,
  },
  {
    name: "continuation with no message",
    reader: client,
    wire: [frame(OP_CONTINUATION, "hi")],
    code: 1002,
    reason: /outside a message/,
  },
  {
    name: "new message inside a fragmented one",
    reader: client,
    wire: [frame(OP_TEXT, "a", { fin: false }), frame(OP_BINARY, "b")],
    code: 1002,
    reason: /before the last one ended/,
  },
  {
    name: "close frame of 1 byte",
    reader: client,
    wire: [frame(OP_CLOSE, "x")],
    code: 1002,
    reason: /1 byte/,
  },
  {
    name: "close code 1005 on the wire",
    reader: client,
    wire: [frame(OP_CLOSE, closePayload(1005))],
    code: 1002,
    reason: /1005/,
  },
  {
    name: "close code 999",
    reader: server,
    wire: [frame(OP_CLOSE, closePayload(999), { masked: false })],
    code: 1002,
    reason: /999/,
  },
  {
    name: "64-bit length with its top bit set",
    reader: client,
    wire: [Buffer.from([0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4])],
    code: 1002,
    reason: /most significant bit/,
  },
  {
    name: "message over the cap in one frame",
    reader: () => client(10),
    wire: [frame(OP_BINARY, "x".repeat(11))],
    code: 1009,
    reason: /10 bytes/,
  },
];

for (const v of violations)
  test(`protocol violation: ${v.name} -> ${v.code}`, () => {
    for (const size of [1, 1 << 20]) {
      const r = v.reader();
      const wire = Buffer.concat(v.wire);
      const pieces: Piece[] = [];
      for (let i = 0; i < wire.length; i += size) pieces.push(...r.push(wire.subarray(i, i + size)));
      const bad = violation(pieces);
      assert.ok(bad && bad.kind === "violation", `${v.name}: no violation in ${JSON.stringify(pieces)}`);
      assert.equal(bad.code, v.code);
      assert.match(bad.reason, v.reason);
      assert.ok(r.done);
    }
  });

test("close frames: code and reason read, 1005 when empty; nothing is read after one", () => {
  const r = client();
  const [close] = r.push(Buffer.concat([frame(OP_CLOSE, closePayload(4001, "bye")), frame(OP_TEXT, "late")]));
  assert.equal(close?.kind === "control" && close.code, 4001);
  assert.equal(close?.kind === "control" && close.reason, "bye");
  assert.ok(r.done);
  const [empty] = server().push(frame(OP_CLOSE, "", { masked: false }));
  assert.equal(empty?.kind === "control" && empty.code, 1005);
});

test("the proxy's own frames: unmasked toward a client, masked toward a server, and readable as such", () => {
  const toClient = controlFrame(OP_PING, Buffer.from("portico"), false);
  const [a] = server().push(toClient);
  assert.equal(a?.kind === "control" && a.payload.toString(), "portico");
  const toServer = controlFrame(OP_PONG, Buffer.from("portico"), true);
  assert.equal(toServer[1]! & 0x80, 0x80, "mask bit set");
  assert.notDeepEqual(toServer.subarray(6), Buffer.from("portico"), "payload masked on the wire");
  const [b] = client().push(toServer);
  assert.equal(b?.kind === "control" && b.payload.toString(), "portico");
  assert.throws(() => controlFrame(OP_PING, Buffer.alloc(126), false), RangeError);
  assert.equal(closePayload(1000, "x".repeat(300)).length, 125);
});

test("activity: a data message over the limit counts once, at its first frame header; short ones, pings, pongs and close never", () => {
  let n = 0;
  const r = new FrameReader({
    masked: true,
    maxMessageBytes: 1 << 20,
    onMessage: () => n++,
    messageOver: 10,
  });
  // Unfragmented: counted from the header alone, before the payload arrived.
  const big = frame(OP_TEXT, "x".repeat(11));
  r.push(big.subarray(0, 6));
  assert.equal(n, 1);
  r.push(big.subarray(6));
  r.push(frame(OP_TEXT, "y".repeat(10)));
  r.push(frame(OP_PING, "z".repeat(100)));
  r.push(frame(OP_PONG, "z".repeat(100)));
  assert.equal(n, 1, "a message of exactly the limit, pings and pongs are not activity");
  // Fragmented: 6 + 6 crosses 10 at the second fragment; the third does not count it again.
  r.push(frame(OP_BINARY, "a".repeat(6), { fin: false }));
  assert.equal(n, 1);
  r.push(frame(OP_CONTINUATION, "a".repeat(6), { fin: false }));
  assert.equal(n, 2);
  r.push(frame(OP_CONTINUATION, "a".repeat(100)));
  assert.equal(n, 2);
  // A fragmented message that completes within the limit: nothing.
  r.push(frame(OP_TEXT, "b".repeat(4), { fin: false }));
  r.push(frame(OP_CONTINUATION, "b".repeat(4)));
  assert.equal(n, 2);
  r.push(frame(OP_CLOSE, closePayload(1000, "x".repeat(50))));
  assert.equal(n, 2);
});

test("activity: the default limit 0 counts every non-empty data message", () => {
  let n = 0;
  const r = new FrameReader({ masked: true, maxMessageBytes: 1 << 20, onMessage: () => n++ });
  r.push(Buffer.concat([frame(OP_TEXT, "a"), frame(OP_TEXT, ""), frame(OP_BINARY, "bc")]));
  assert.equal(n, 2);
});
