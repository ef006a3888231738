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
  /** How much newer than the annotation (ms; Infinity: no annotation yet). */
  lagMs: number;
}

/** The cached annotations per kind (ms, undefined when absent); undefined: the workspace is not cached. */
export type CachedTimes = (
  namespace: string,
  name: string,
) => Partial<Record<ActivityKind, number>> | undefined;

export interface DueResult {
  /** Reports to write this round, at most `budget`: never-reported workspaces first, the rest in random order. */
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
  /** Random numbers in [0, 1) for the order (injectable for tests). */
  random: () => number = Math.random,
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
  // Random order, not "most overdue first": replicas share the due set, and the same order at the
  // same pace would make two replicas write the same workspaces at the same moments, each before the
  // other's write reached its cache. Random orders make that rare. Never-reported ones still go first.
  for (let i = all.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [all[i], all[j]] = [all[j]!, all[i]!];
  }
  all.sort((a, b) => Number(b.lagMs === Infinity) - Number(a.lagMs === Infinity));
  const n = Math.max(0, budget);
  return { due: all.slice(0, n), deferred: Math.max(0, all.length - n), forget };
}
