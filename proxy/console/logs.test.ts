import assert from "node:assert/strict";
import test from "node:test";
import { LOGS_DEFAULT_TAIL, LOGS_MAX_LINE, LOGS_MAX_TAIL } from "./protocol.ts";
import {
  LineSplitter,
  ResumeFilter,
  compareTimes,
  parseLogsOptions,
  splitTimestamp,
  wholeSeconds,
} from "./logs.ts";

const q = (s: string) => new URLSearchParams(s);
const status = (x: unknown) => (x as { status?: number }).status;

test("parseLogsOptions: tail within bounds, since as RFC 3339", () => {
  assert.deepEqual(parseLogsOptions(q("")), { tail: LOGS_DEFAULT_TAIL });
  assert.deepEqual(parseLogsOptions(q("tail=0")), { tail: 0 });
  assert.deepEqual(parseLogsOptions(q(`tail=${LOGS_MAX_TAIL}`)), { tail: LOGS_MAX_TAIL });
  assert.deepEqual(parseLogsOptions(q("since=2026-12-05T03:04:05.123456789Z")), {
    tail: LOGS_DEFAULT_TAIL,
    since: "2026-12-05T03:04:05.123456789Z",
  });
  for (const s of [
    `tail=${LOGS_MAX_TAIL + 1}`,
    "tail=-1",
    "tail=1e3",
    "tail=99999999999",
    "tail=",
    "since=yesterday",
    "since=2026-12-05",
    "since=2026-13-05T03:04:05Z",
    "since=2026-12-05T03:04:05.1234567890Z",
  ])
    assert.equal(status(parseLogsOptions(q(s))), 400, s);
});

test("compareTimes compares nanoseconds exactly, whatever the fraction's length", () => {
  assert.equal(compareTimes("2026-12-05T03:04:05.1Z", "2026-12-05T03:04:05.09Z"), 1);
  assert.equal(compareTimes("2026-12-05T03:04:05.09Z", "2026-12-05T03:04:05.1Z"), -1);
  assert.equal(compareTimes("2026-12-05T03:04:05.100000000Z", "2026-12-05T03:04:05.1Z"), 0);
  assert.equal(compareTimes("2026-12-05T03:04:06Z", "2026-12-05T03:04:05.999999999Z"), 1);
  assert.equal(compareTimes("2026-12-05T04:04:05Z", "2026-12-05T05:04:04+01:00"), 1, "offsets");
  assert.equal(compareTimes("garbage", "2026-12-05T03:04:05Z"), 1, "an unreadable time is never dropped");
});

test("ResumeFilter: lines sharing a timestamp are neither lost nor repeated across a reconnect", () => {
  const t = (ms: number) => `2026-12-05T03:04:05.${String(ms).padStart(3, "0")}000000Z`;
  const first = new ResumeFilter();
  // Two lines in one millisecond (kwok's clock), the stream drops after the first of them.
  assert.deepEqual(
    [t(100), t(101)].map((x) => first.admit(x)),
    [true, true],
  );
  assert.deepEqual(first.point, { time: t(101), skip: 1 });
  // The replay from the whole second: everything up to the point again, then the second line at 101.
  const again = new ResumeFilter(first.point);
  assert.deepEqual(
    [t(0), t(100), t(101), t(101), t(102)].map((x) => again.admit(x)),
    [false, false, false, true, true],
  );
  assert.deepEqual(again.point, { time: t(102), skip: 1 });
  // A client's since: every line at that time counts as sent.
  const client = new ResumeFilter({ time: t(101), skip: Infinity });
  assert.deepEqual(
    [t(101), t(101), t(102), t(102)].map((x) => client.admit(x)),
    [false, false, true, true],
  );
  assert.equal(new ResumeFilter().admit(""), true, "a line without a time always goes");
});

test("wholeSeconds floors to the second in UTC (pods/log's sinceTime)", () => {
  assert.equal(wholeSeconds("2026-12-05T03:04:05.999999999Z"), "2026-12-05T03:04:05Z");
  assert.equal(wholeSeconds("2026-12-05T04:04:05.5+01:00"), "2026-12-05T03:04:05Z");
});

test("splitTimestamp: the kubelet's prefix, or none", () => {
  assert.deepEqual(splitTimestamp("2026-12-05T03:04:05.123Z hello world"), {
    time: "2026-12-05T03:04:05.123Z",
    text: "hello world",
  });
  assert.deepEqual(splitTimestamp("2026-12-05T03:04:05Z"), { time: "2026-12-05T03:04:05Z", text: "" });
  assert.deepEqual(splitTimestamp("no stamp here"), { time: "", text: "no stamp here" });
});

test("LineSplitter: lines across chunks, a character split between chunks, CRLF, the last line without newline", () => {
  const s = new LineSplitter();
  const euro = Buffer.from("€", "utf8");
  const out = [
    ...s.push(Buffer.from("2026-12-05T03:04:05Z one\n2026-12-05T03:04:06Z tw")),
    ...s.push(Buffer.concat([Buffer.from("o "), euro.subarray(0, 1)])),
    ...s.push(Buffer.concat([euro.subarray(1), Buffer.from("\r\n2026-12-05T03:04:07Z three")])),
  ];
  assert.deepEqual(
    out.map((l) => [l.time, l.text]),
    [
      ["2026-12-05T03:04:05Z", "one"],
      ["2026-12-05T03:04:06Z", "two €"],
    ],
  );
  assert.deepEqual(
    s.end().map((l) => [l.time, l.text, l.truncated]),
    [["2026-12-05T03:04:07Z", "three", false]],
  );
  assert.deepEqual(s.end(), []);
});

test("LineSplitter: a line past the bound is cut and flagged, the buffer never grows past it, the next line is whole", () => {
  const s = new LineSplitter();
  const chunk = "x".repeat(64 * 1024);
  const lines = [...s.push("2026-12-05T03:04:05Z ")];
  for (let i = 0; i < 64; i++) lines.push(...s.push(chunk)); // 4 MiB without a newline
  lines.push(...s.push("\n2026-12-05T03:04:06Z next\n"));
  assert.equal(lines.length, 2);
  assert.equal(lines[0]!.truncated, true);
  assert.equal(lines[0]!.text.length, LOGS_MAX_LINE);
  assert.equal(lines[0]!.time, "2026-12-05T03:04:05Z");
  assert.deepEqual([lines[1]!.text, lines[1]!.truncated], ["next", false]);
});
