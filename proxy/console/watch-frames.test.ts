import assert from "node:assert/strict";
import test from "node:test";
import { FRAME_BURST, MAX_WATCH_FRAME, parseWatchFrame, takeFrame } from "./watch-frames.ts";

const parse = (v: unknown) =>
  parseWatchFrame(Buffer.from(typeof v === "string" ? v : JSON.stringify(v)), false);
const code = (v: unknown) => {
  const p = parse(v);
  return "refused" in p ? p.refused.code : "ok";
};

test("well-formed frames pass as they are", () => {
  assert.deepEqual(parse({ type: "ping" }), { frame: { type: "ping" } });
  assert.deepEqual(parse({ type: "unsubscribe", id: "a" }), { frame: { type: "unsubscribe", id: "a" } });
  assert.deepEqual(
    parse({
      type: "subscribe",
      id: "w-1.x_2",
      channel: "pods",
      namespace: "ws-alice",
      resourceVersion: "123",
    }),
    {
      frame: {
        type: "subscribe",
        id: "w-1.x_2",
        channel: "pods",
        namespace: "ws-alice",
        resourceVersion: "123",
      },
    },
  );
});

test("bad frames are refused with a code, naming the subscription when they can", () => {
  const sub = (extra: Record<string, unknown>) => ({
    type: "subscribe",
    id: "s",
    channel: "workspaces",
    ...extra,
  });
  assert.equal(code("{not json"), "bad_frame");
  assert.equal(code("[1,2]"), "bad_frame");
  assert.equal(code("null"), "bad_frame");
  assert.equal(code({ type: "hello" }), "bad_frame");
  assert.equal(code({ type: "ping", extra: 1 }), "bad_frame");
  assert.equal(code(sub({ channel: "secrets" })), "unknown_channel");
  assert.equal(code(sub({ channel: ["pods"] })), "unknown_channel");
  for (const id of ["", "a".repeat(65), "a b", "a/b", "ä", 7, null])
    assert.equal(code(sub({ id })), "bad_frame", String(id));
  for (const namespace of ["a/b", "..", "a,b", "x=y", "app in (a)", "UPPER", "-a", "a".repeat(64), "", 5])
    assert.equal(code(sub({ namespace })), "bad_frame", String(namespace));
  for (const resourceVersion of ["abc", "1.5", "-1", "", 12, "1".repeat(31)])
    assert.equal(code(sub({ resourceVersion })), "bad_frame", String(resourceVersion));
  const withId = parse(sub({ namespace: "a/b" }));
  assert.ok("refused" in withId && withId.refused.id === "s");
});

test("binary and oversized frames are refused without being parsed", () => {
  const bin = parseWatchFrame(Buffer.from('{"type":"ping"}'), true);
  assert.ok("refused" in bin && bin.refused.code === "bad_frame");
  const big = parse({ type: "ping", pad: "x".repeat(MAX_WATCH_FRAME) });
  assert.ok("refused" in big && /at most/.test(big.refused.message));
});

test("the frame allowance lets a burst through, then refills at its rate", () => {
  const a = { tokens: FRAME_BURST, last: 0 };
  for (let i = 0; i < FRAME_BURST; i++) assert.ok(takeFrame(a, 0));
  assert.equal(takeFrame(a, 0), false);
  assert.ok(takeFrame(a, 1000));
});
