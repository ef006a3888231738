import { test } from "node:test";
import assert from "node:assert/strict";
import { acceptLine, appendCapped, atBottom, classify, noResume } from "./log-lines.ts";

test("levels: the most severe one a line names, in the usual spellings", () => {
  const cases: [string, string][] = [
    ["2026-12-05 ERROR could not bind", "error"],
    ['{"level":"error","msg":"x"}', "error"],
    ["level=fatal msg=boom", "error"],
    ["Traceback (most recent call last):", "error"],
    ["[W 10:00:01.123 ServerApp] Notebook is slow", "warn"],
    ["WARNING: disk almost full", "warn"],
    ["[I 2026-12-05 ServerApp] Jupyter Server is running", "info"],
    ["INFO started; no ERROR here", "error"],
    ["[10:00:00] code-server listening on 0.0.0.0:8080", "plain"],
    ["informative text", "plain"],
  ];
  for (const [text, want] of cases) assert.equal(classify(text), want, text);
});

test("follows only at the bottom", () => {
  assert.equal(atBottom(900, 100, 1000), true);
  assert.equal(atBottom(880, 100, 1000), true, "within a few pixels");
  assert.equal(atBottom(500, 100, 1000), false, "scrolled up");
  assert.equal(atBottom(0, 100, 50), true, "no scrollbar yet");
});

test("a resume skips lines already shown: earlier ones and repeats at the last instant", () => {
  let r = noResume();
  const shown: string[] = [];
  const take = (text: string, time: string) => {
    const next = acceptLine(r, text, time);
    if (!next) return;
    r = next;
    shown.push(text);
  };
  take("a", "2026-12-05T10:00:00.000000001Z");
  take("b", "2026-12-05T10:00:01.000000000Z");
  take("c", "2026-12-05T10:00:01.000000000Z");
  assert.equal(r.since, "2026-12-05T10:00:01.000000000Z");
  // The reconnect asks since=r.since: the server repeats b and c, maybe a, then goes on.
  take("a", "2026-12-05T10:00:00.000000001Z");
  take("b", "2026-12-05T10:00:01.000000000Z");
  take("c", "2026-12-05T10:00:01.000000000Z");
  take("d", "2026-12-05T10:00:02.000000000Z");
  assert.deepEqual(shown, ["a", "b", "c", "d"]);
  assert.deepEqual(r.atSince, ["d"]);
});

test("the buffer keeps the newest lines", () => {
  assert.deepEqual(appendCapped([1, 2, 3], [4, 5], 4), [2, 3, 4, 5]);
  assert.deepEqual(appendCapped([1], [2], 4), [1, 2]);
});
