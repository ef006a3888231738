/**
 * Which activity reports are due: pure, so every rule is a table row (due.test.ts).
 *
 * A replica writes a workspace's activity key only when what it saw is at least one report interval
 * newer than the annotation the shared Workspace cache holds (or there is none), and at most once per
 * interval itself (its own write may not be in the cache yet). So replicas sharing a workspace cost
 * about one write per interval: once the first one's write reaches the others' caches, theirs is no
 * longer newer by a whole interval. A held kind (an open console stream) counts as seen now.
 */
import type { ActivityEntry, ActivityKind } from "./tracker.ts";

export const KINDS: readonly ActivityKind[] = ["proxy", "console"];

/** One annotation write: the workspace's `kind` key set to `atMs`. */
export interface Report {
  namespace: string;
  name: string;
  kind: ActivityKind;
  atMs: number;
  /** For whom the report is most overdue: how much newer than the annotation (ms). */
  lagMs: number;
}

/** The cached annotations per kind (ms, undefined when absent); undefined: the workspace is not cached. */
export type CachedTimes = (
  namespace: string,
  name: string,
) => Partial<Record<ActivityKind, number>> | undefined;

export interface DueResult {
  /** Reports to write this round, most overdue first, at most `budget`. */
  due: Report[];
  /** Due reports left for a later round (over the budget). */
  deferred: number;
  /** Entries whose workspace is gone from the cache. */
  forget: ActivityEntry[];
}

export function dueReports(
  entries: Iterable<ActivityEntry>,
  cached: CachedTimes,
  nowMs: number,
  intervalMs: number,
  budget: number,
): DueResult {
  const all: Report[] = [];
  const forget: ActivityEntry[] = [];
  for (const e of entries) {
    const times = cached(e.namespace, e.name);
    if (!times) {
      forget.push(e);
      continue;
    }
    for (const kind of KINDS) {
      const seen = e.holds[kind] > 0 ? nowMs : e.seen[kind];
      if (seen <= 0) continue;
      const annotated = times[kind];
      const newer = annotated === undefined || seen - annotated >= intervalMs;
      const mine = e.wrote[kind] === 0 || nowMs - e.wrote[kind] >= intervalMs;
      if (newer && mine)
        all.push({
          namespace: e.namespace,
          name: e.name,
          kind,
          atMs: seen,
          lagMs: annotated === undefined ? Infinity : seen - annotated,
        });
    }
  }
  all.sort((a, b) => b.lagMs - a.lagMs);
  const n = Math.max(0, budget);
  return { due: all.slice(0, n), deferred: Math.max(0, all.length - n), forget };
}
