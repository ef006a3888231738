/**
 * Writes this replica's activity reports (docs/lifecycle.md): every `tickMs` it asks `dueReports`
 * which workspaces' keys are due against the shared Workspace cache and writes each as a JSON merge
 * patch of that one annotation key, nothing else. Writes are paced at `writesPerSecond` (a burst of
 * a thousand busy workspaces becomes a steady trickle, not one spike at the API server); what the
 * budget leaves over waits for the next round. A failed write is retried the next round; a
 * workspace gone from the cache is forgotten. Clock, sleep and writer are injected (flusher.test.ts).
 */
import {
  ACTIVITY_CONSOLE_ANNOTATION,
  ACTIVITY_PROXY_ANNOTATION,
  REPORT_INTERVAL_MS,
  rfc3339,
} from "../../common/model/workspace/lifecycle.ts";
import type { Logger } from "../../common/runtime/log.ts";
import { dueReports, type CachedTimes, type Report } from "./due.ts";
import type { ActivityKind, ActivityTracker } from "./tracker.ts";

export const ANNOTATION_OF: Record<ActivityKind, string> = {
  proxy: ACTIVITY_PROXY_ANNOTATION,
  console: ACTIVITY_CONSOLE_ANNOTATION,
};

/**
 * What a round did with a report: written, failed (retried next round), deferred (over budget),
 * superseded (another replica's write reached the cache between the round's decision and its turn).
 */
export type ReportResult = "written" | "failed" | "deferred" | "superseded";

/** The merge patch of one report: its own annotation key only. */
export const reportPatch = (r: Pick<Report, "kind" | "atMs">) => ({
  metadata: { annotations: { [ANNOTATION_OF[r.kind]]: rfc3339(r.atMs) } },
});

export interface FlusherOptions {
  tracker: ActivityTracker;
  /** A cached Workspace's annotations; undefined when it is not in the cache. */
  annotations: (namespace: string, name: string) => Record<string, string> | undefined;
  /** Applies a JSON merge patch to the Workspace. */
  write: (namespace: string, name: string, patch: object) => Promise<unknown>;
  log: Pick<Logger, "warn">;
  intervalMs?: number;
  tickMs?: number;
  writesPerSecond: number;
  onResult?: (result: ReportResult, n?: number) => void;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

const parse = (v: string | undefined): number | undefined => {
  if (!v) return undefined;
  const t = Date.parse(v);
  return Number.isFinite(t) ? t : undefined;
};

export class ActivityFlusher {
  readonly #o: FlusherOptions;
  readonly #now: () => number;
  readonly #sleep: (ms: number) => Promise<void>;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #round: Promise<void> | undefined;
  #stopped = true;

  constructor(o: FlusherOptions) {
    this.#o = o;
    this.#now = o.now ?? Date.now;
    this.#sleep = o.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms).unref()));
  }

  get tickMs(): number {
    return this.#o.tickMs ?? 5000;
  }

  /** The cached annotation times, per kind. */
  readonly #cached: CachedTimes = (namespace, name) => {
    const a = this.#o.annotations(namespace, name);
    if (!a) return undefined;
    return { proxy: parse(a[ACTIVITY_PROXY_ANNOTATION]), console: parse(a[ACTIVITY_CONSOLE_ANNOTATION]) };
  };

  /** One round: decide, then write the due reports paced at the budget. */
  async flush(): Promise<void> {
    const { tracker, writesPerSecond, onResult } = this.#o;
    const now = this.#now();
    const budget = Math.max(1, Math.floor((writesPerSecond * this.tickMs) / 1000));
    const { due, deferred, forget } = dueReports(
      tracker.entries(),
      this.#cached,
      now,
      this.#o.intervalMs ?? REPORT_INTERVAL_MS,
      budget,
    );
    for (const e of forget) tracker.forget(e.namespace, e.name);
    if (deferred) onResult?.("deferred", deferred);
    const spacing = 1000 / writesPerSecond;
    const writes: Promise<void>[] = [];
    for (let i = 0; i < due.length; i++) {
      if (i > 0) await this.#sleep(spacing);
      writes.push(this.#report(due[i]!));
    }
    await Promise.all(writes);
  }

  async #report(r: Report): Promise<void> {
    const { tracker, write, log, onResult } = this.#o;
    // Writes are paced, so the round's decision may be seconds old: another replica's write of the
    // same key may be in the cache by now (then this one is not needed), or the workspace gone.
    const cached = this.#cached(r.namespace, r.name);
    const annotated = cached?.[r.kind];
    if (
      !cached ||
      (annotated !== undefined && r.atMs - annotated < (this.#o.intervalMs ?? REPORT_INTERVAL_MS))
    )
      return void onResult?.("superseded");
    try {
      await write(r.namespace, r.name, reportPatch(r));
      const e = tracker.get(r.namespace, r.name);
      if (e) e.wrote[r.kind] = this.#now();
      onResult?.("written");
    } catch (err) {
      onResult?.("failed");
      log.warn("activity report failed; retrying next round", {
        workspace: `${r.namespace}/${r.name}`,
        annotation: ANNOTATION_OF[r.kind],
        err: err instanceof Error ? err.message : String(err),
      });
    }
  }

  /** Starts the rounds (one at a time: the next is scheduled when the last finished). */
  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    const next = () => {
      if (this.#stopped) return;
      // Jittered (±25 %): two replicas' rounds do not stay in step.
      this.#timer = setTimeout(
        () => {
          this.#round = this.flush().finally(next);
        },
        this.tickMs * (0.75 + Math.random() / 2),
      );
      this.#timer.unref();
    };
    next();
  }

  /** Stops scheduling rounds; resolves once a round under way finished. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#round;
  }
}
