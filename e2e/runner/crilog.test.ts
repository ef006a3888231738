import { test } from "node:test";
import assert from "node:assert/strict";
import { criText, flushCriRecord, MAX_RECORD, toCriRecords } from "./crilog.ts";

const now = new Date("2026-12-05T00:17:09.669Z");
const b = (s: string) => Buffer.from(s);

test("each complete line is one F record with the time and the stream", () => {
  const { records, rest } = toCriRecords("stdout", Buffer.alloc(0), b("one\ntwo\n"), now);
  assert.equal(
    records.toString(),
    "2026-12-05T00:17:09.669Z stdout F one\n2026-12-05T00:17:09.669Z stdout F two\n",
  );
  assert.equal(rest.length, 0);
});

test("an unfinished line waits for the next chunk, and the stream's end flushes it", () => {
  const first = toCriRecords("stderr", Buffer.alloc(0), b("par"), now);
  assert.equal(first.records.length, 0);
  const second = toCriRecords("stderr", first.rest, b("tial\nnext"), now);
  assert.equal(second.records.toString(), "2026-12-05T00:17:09.669Z stderr F partial\n");
  assert.equal(second.rest.toString(), "next");
  assert.equal(
    flushCriRecord("stderr", second.rest, now).toString(),
    "2026-12-05T00:17:09.669Z stderr F next\n",
  );
  assert.equal(flushCriRecord("stderr", Buffer.alloc(0), now).length, 0);
});

test("a line longer than MAX_RECORD is cut into P records, and reads back whole", () => {
  const long = "x".repeat(MAX_RECORD * 2 + 5);
  const { records, rest } = toCriRecords("stdout", Buffer.alloc(0), b(`${long}\nend\n`), now);
  const tags = records
    .toString()
    .split("\n")
    .filter(Boolean)
    .map((l) => l.split(" ")[2]);
  assert.deepEqual(tags, ["P", "P", "F", "F"]);
  assert.equal(rest.length, 0);
  assert.equal(criText(records.toString()), `${long}\nend\n`);
});

test("bytes of a character split across chunks stay together", () => {
  const euro = b("€\n");
  const first = toCriRecords("stdout", Buffer.alloc(0), euro.subarray(0, 1), now);
  const second = toCriRecords("stdout", first.rest, euro.subarray(1), now);
  assert.equal(criText(second.records.toString()), "€\n");
});

test("criText returns both streams in file order and skips what is not a record", () => {
  const file = [
    "2026-12-05T00:00:00.000Z stdout F out 1",
    "garbage",
    "2026-12-05T00:00:00.001Z stderr F err 1",
    "2026-12-05T00:00:00.002Z stdout P half ",
    "2026-12-05T00:00:00.002Z stdout F line",
    "",
  ].join("\n");
  assert.equal(criText(file), "out 1\nerr 1\nhalf line\n");
});
