import { test } from "node:test";
import assert from "node:assert/strict";
import { dueReports } from "./due.ts";
import type { ActivityEntry } from "./tracker.ts";

const MIN = 60_000;
const T = Date.parse("2026-12-05T10:00:00Z");
const entry = (o: Partial<ActivityEntry> & { name?: string } = {}): ActivityEntry => ({
  namespace: "ns",
  name: o.name ?? "a",
  seen: { proxy: 0, console: 0, ...o.seen },
  holds: { proxy: 0, console: 0, ...o.holds },
  wrote: { proxy: 0, console: 0, ...o.wrote },
});

const rows: {
  case: string;
  e: ActivityEntry;
  cached: Partial<Record<"proxy" | "console", number>> | undefined;
  due: string[];
}[] = [
  {
    case: "no annotation yet: due",
    e: entry({ seen: { proxy: T, console: 0 } }),
    cached: {},
    due: ["proxy"],
  },
  { case: "nothing seen: nothing due", e: entry(), cached: {}, due: [] },
  {
    case: "seen less than an interval after the annotation: skip",
    e: entry({ seen: { proxy: T, console: 0 } }),
    cached: { proxy: T - MIN + 1000 },
    due: [],
  },
  {
    case: "seen exactly an interval after the annotation: due",
    e: entry({ seen: { proxy: T, console: 0 } }),
    cached: { proxy: T - MIN },
    due: ["proxy"],
  },
  {
    case: "two replicas, one annotation: the second skips once the first's write is in the cache",
    e: entry({ seen: { proxy: T - 2000, console: 0 } }),
    cached: { proxy: T - 3000 },
    due: [],
  },
  {
    case: "this replica wrote less than an interval ago (its write not in the cache yet): skip",
    e: entry({ seen: { proxy: T, console: 0 }, wrote: { proxy: T - 5000, console: 0 } }),
    cached: { proxy: T - 10 * MIN },
    due: [],
  },
  {
    case: "an open console stream counts as now",
    e: entry({ seen: { proxy: 0, console: T - 30 * MIN }, holds: { proxy: 0, console: 1 } }),
    cached: { console: T - MIN },
    due: ["console"],
  },
  {
    case: "each kind against its own annotation",
    e: entry({ seen: { proxy: T, console: T } }),
    cached: { proxy: T - 10_000, console: T - 2 * MIN },
    due: ["console"],
  },
  {
    case: "gone from the cache: forgotten, nothing due",
    e: entry({ seen: { proxy: T, console: 0 } }),
    cached: undefined,
    due: [],
  },
];

for (const row of rows)
  test(`dueReports: ${row.case}`, () => {
    const r = dueReports([row.e], () => row.cached, T, MIN, 100);
    assert.deepEqual(
      r.due.map((d) => d.kind),
      row.due,
    );
    assert.equal(r.forget.length, row.cached ? 0 : 1);
    for (const d of r.due) assert.equal(d.atMs, row.e.holds[d.kind] ? T : row.e.seen[d.kind]);
  });

test("dueReports: over the budget, never-reported ones go first, the rest in random order, the others deferred", () => {
  const es = [0, 1, 2, 3].map((i) => entry({ name: `w${i}`, seen: { proxy: T, console: 0 } }));
  const cached = (_ns: string, name: string) =>
    name === "w0" ? {} : { proxy: T - Number(name.slice(1)) * 2 * MIN };
  const r = dueReports(es, cached, T, MIN, 2);
  assert.equal(r.due[0]!.name, "w0");
  assert.equal(r.due.length, 2);
  assert.equal(r.deferred, 2);
  // Two replicas (two random sequences) order the same due set differently.
  const orders = new Set(
    [0.5, 0.9].map((x) =>
      dueReports(es, cached, T, MIN, 4, () => x)
        .due.map((d) => d.name)
        .join(),
    ),
  );
  assert.equal(orders.size, 2);
});
