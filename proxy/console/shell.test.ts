import assert from "node:assert/strict";
import test from "node:test";
import { SHELL_MAX_COLS, SHELL_MAX_ROWS, SHELL_MAX_STDIN } from "./protocol.ts";
import {
  CHANNEL,
  STDIN_EOF,
  decodeChannel,
  encodeChannel,
  exitOf,
  hangUpCommand,
  PidMark,
  resizeError,
  resizeMessage,
  shellInput,
} from "./shell.ts";

test("channel framing: one byte of channel, then the bytes as they are", () => {
  assert.deepEqual([...encodeChannel(0, "ls\n")], [0, 0x6c, 0x73, 0x0a]);
  assert.deepEqual([...encodeChannel(1, Buffer.from([0xff, 0x00]))], [1, 0xff, 0x00]);
  assert.deepEqual(decodeChannel(Buffer.from([2, 0x68, 0x69])), { channel: 2, data: Buffer.from("hi") });
  assert.deepEqual(decodeChannel(Buffer.from([3])), { channel: 3, data: Buffer.alloc(0) });
  assert.equal(decodeChannel(Buffer.alloc(0)), undefined);
  assert.deepEqual(JSON.parse(resizeMessage(100, 40).subarray(1).toString()), { Width: 100, Height: 40 });
  assert.equal(resizeMessage(100, 40)[0], CHANNEL.resize);
  assert.deepEqual([...STDIN_EOF], [255, 0], "v5: close channel 255 naming stdin (0)");
});

test("resize bounds: whole numbers from 1 to the protocol's maximum", () => {
  assert.equal(resizeError(100, 40), undefined);
  assert.equal(resizeError(SHELL_MAX_COLS, SHELL_MAX_ROWS), undefined);
  for (const [c, r] of [
    [0, 40],
    [100, 0],
    [SHELL_MAX_COLS + 1, 40],
    [100, SHELL_MAX_ROWS + 1],
    [-1, 40],
    [1.5, 40],
    ["100", 40],
    [100, null],
    [1e9, 1e9],
    [Number.NaN, 40],
    [Infinity, 40],
  ])
    assert.match(resizeError(c, r) ?? "", /^resize: /, `${String(c)}x${String(r)}`);
});

test("shellInput: stdin bounded in bytes, resize checked, unknown types refused", () => {
  assert.deepEqual(shellInput({ type: "stdin", data: "é" }), { type: "stdin", data: Buffer.from("é") });
  assert.deepEqual(shellInput({ type: "resize", cols: 80, rows: 24 }), {
    type: "resize",
    cols: 80,
    rows: 24,
  });
  assert.deepEqual(shellInput({ type: "ping" }), { type: "ping" });
  const big = shellInput({ type: "stdin", data: "é".repeat(SHELL_MAX_STDIN / 2 + 1) });
  assert.equal((big as { code: string }).code, "too_large", "counted in bytes, not characters");
  assert.equal((shellInput({ type: "stdin", data: 42 }) as { code: string }).code, "bad_frame");
  assert.equal((shellInput({ type: "resize", cols: 1e6, rows: 1e6 }) as { code: string }).code, "bad_frame");
  assert.equal((shellInput({ type: "exec", command: "rm -rf /" }) as { code: string }).code, "bad_frame");
});

test("exitOf: the status channel's Status object as an exit code", () => {
  assert.deepEqual(exitOf(Buffer.from('{"metadata":{},"status":"Success"}')), {
    code: 0,
    message: "the shell exited",
  });
  const failed = exitOf(
    Buffer.from(
      JSON.stringify({
        status: "Failure",
        message: "command terminated with non-zero exit code: exit status 3",
        reason: "NonZeroExitCode",
        details: { causes: [{ reason: "ExitCode", message: "3" }] },
      }),
    ),
  );
  assert.equal(failed.code, 3);
  assert.match(failed.message, /exit status 3/);
  assert.equal(exitOf(Buffer.from("{not json")).code, -1);
  assert.equal(exitOf(Buffer.from('{"status":"Failure","message":"boom"}')).code, -1);
});

test("PidMark: the pid from the first bytes, split across chunks, stripped; anything else passes untouched", () => {
  const m = new PidMark();
  assert.deepEqual(m.take(Buffer.from("\x1b]77")), Buffer.alloc(0));
  assert.equal(m.settled, false);
  assert.deepEqual(m.take(Buffer.from("70;4242\x07$ ")).toString(), "$ ");
  assert.deepEqual([m.pid, m.settled], [4242, true]);
  const none = new PidMark();
  assert.equal(none.take(Buffer.from("hello")).toString(), "hello");
  assert.deepEqual([none.pid, none.settled], [undefined, true]);
  const late = new PidMark();
  assert.equal(
    late.take(Buffer.from("x\x1b]7770;1\x07")).toString(),
    "x\x1b]7770;1\x07",
    "a mark later in the output is just output",
  );
  assert.equal(late.pid, undefined);
  const long = new PidMark();
  assert.equal(
    long.take(Buffer.from("\x1b]7770;" + "1".repeat(30))).length,
    37,
    "too long to be a pid: passed on",
  );
  assert.equal(long.pid, undefined);
  assert.deepEqual(
    hangUpCommand(42).slice(-1),
    ["42"],
    "the pid is an argument, never spliced into the script",
  );
});
