/**
 * The work queue: one item per string key (`kind/ns/name`), processed by up to N workers, never
 * the same key twice at once. Like client-go's workqueue: adds dedupe, a key added while it runs is
 * marked dirty and runs once more afterwards, failures are retried after a capped exponential
 * backoff, and a run may ask to be requeued after a delay.
 */
import { backoffDelayMs } from "../../common/runtime/backoff.ts";
import { noopLogger, realClock, type Clock, type Logger } from "../../common/runtime/types.ts";

/** What a run may return: nothing (done) or a request to run the key again later. */
export type ProcessResult = void | { requeueAfterMs: number };

/** How a run ended, for metrics. */
export type Outcome = "success" | "error" | "requeue";

export interface WorkQueueOptions {
  /** Handles one key. Throwing (or rejecting) schedules a retry with backoff. */
  process: (key: string) => Promise<ProcessResult>;
  /** How many keys run at once (default 1). */
  workers?: number;
  /** First retry delay after a failure (default 500 ms). */
  backoffBaseMs?: number;
  /** Retry delays never exceed this (default 5 min). */
  backoffMaxMs?: number;
  /** Fraction in [0, 1] by which a retry delay may be shortened at random (default 0: off). */
  jitter?: number;
  random?: () => number;
  clock?: Clock;
  logger?: Logger;
  /** Called after every run with its duration. */
  onProcessed?: (key: string, durationMs: number, outcome: Outcome) => void;
  /** Called after a failed run with the failure count so far and the retry delay chosen. */
  onError?: (key: string, err: unknown, failures: number, delayMs: number) => void;
}

type State = "new" | "running" | "stopped";

/**
 * A deduplicating, per-key serialised work queue. `add` may be called before `start`; keys added
 * after `stop` are ignored.
 *
 * A run supersedes any pending delayed add of its key (from `addAfter`, a requeue or a backoff
 * retry): reconciles are level-triggered, so the run's own result decides when it is next due.
 */
export class WorkQueue {
  private readonly opts: Required<Omit<WorkQueueOptions, "onProcessed" | "onError">> &
    Pick<WorkQueueOptions, "onProcessed" | "onError">;
  private state: State = "new";
  /** Keys ready to run, in order; `queued` mirrors it for O(1) dedupe. */
  private readonly queue: string[] = [];
  private readonly queued = new Set<string>();
  private readonly processing = new Set<string>();
  /** Keys added while running: they run once more when the current run ends. */
  private readonly dirty = new Set<string>();
  private readonly delayed = new Map<string, { handle: unknown; at: number }>();
  private readonly failures = new Map<string, number>();
  private idleWaiters: (() => void)[] = [];

  constructor(options: WorkQueueOptions) {
    const workers = options.workers ?? 1;
    if (!Number.isInteger(workers) || workers < 1)
      throw new Error(`WorkQueue: workers must be ≥ 1, got ${workers}`);
    this.opts = {
      ...options,
      workers,
      backoffBaseMs: options.backoffBaseMs ?? 500,
      backoffMaxMs: options.backoffMaxMs ?? 5 * 60_000,
      jitter: options.jitter ?? 0,
      random: options.random ?? Math.random,
      clock: options.clock ?? realClock,
      logger: options.logger ?? noopLogger,
    };
  }

  /** Starts taking work (keys added before start run now). */
  start(): void {
    if (this.state === "stopped") throw new Error("WorkQueue: cannot start after stop");
    this.state = "running";
    this.pump();
  }

  /**
   * Stops taking work, drops waiting and delayed keys, and resolves once the runs in flight have
   * finished.
   */
  async stop(): Promise<void> {
    this.state = "stopped";
    for (const { handle } of this.delayed.values()) this.opts.clock.clearTimeout(handle);
    this.delayed.clear();
    this.queue.length = 0;
    this.queued.clear();
    this.dirty.clear();
    if (this.processing.size === 0) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  /** Queues `key` unless it is already waiting; if it is running, it runs once more afterwards. */
  add(key: string): void {
    if (this.state === "stopped") return;
    if (this.processing.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.queue.push(key);
    this.pump();
  }

  /** Adds `key` after `ms`. If it is already due earlier, the earlier time stands. */
  addAfter(key: string, ms: number): void {
    if (this.state === "stopped") return;
    if (ms <= 0) return this.add(key);
    const clock = this.opts.clock;
    const at = clock.now() + ms;
    const existing = this.delayed.get(key);
    if (existing && existing.at <= at) return;
    if (existing) clock.clearTimeout(existing.handle);
    const handle = clock.setTimeout(() => {
      this.delayed.delete(key);
      this.add(key);
    }, ms);
    this.delayed.set(key, { handle, at });
  }

  /** Keys waiting to run now (not counting delayed ones or those running). */
  depth(): number {
    return this.queue.length;
  }

  /** Keys running now. */
  inFlight(): number {
    return this.processing.size;
  }

  /** Keys with a pending delayed add (requeue, retry or `addAfter`). */
  delayedCount(): number {
    return this.delayed.size;
  }

  /** Consecutive failures of `key` (0 after a success). */
  failureCount(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** Hands waiting keys to free workers. */
  private pump(): void {
    while (this.state === "running" && this.processing.size < this.opts.workers && this.queue.length > 0) {
      const key = this.queue.shift()!;
      this.queued.delete(key);
      this.cancelDelayed(key);
      this.processing.add(key);
      void this.run(key);
    }
  }

  private cancelDelayed(key: string): void {
    const pending = this.delayed.get(key);
    if (!pending) return;
    this.opts.clock.clearTimeout(pending.handle);
    this.delayed.delete(key);
  }

  private async run(key: string): Promise<void> {
    const { clock } = this.opts;
    const started = clock.now();
    let outcome: Outcome;
    // The next delayed add is set before the run is finished, so that a dirty re-run (which
    // starts inside finish) supersedes it like any other run.
    try {
      const result = await this.opts.process(key);
      this.failures.delete(key);
      outcome = result && typeof result.requeueAfterMs === "number" ? "requeue" : "success";
      if (result && outcome === "requeue") this.addAfter(key, result.requeueAfterMs);
      this.finish(key);
    } catch (err) {
      outcome = "error";
      const failures = (this.failures.get(key) ?? 0) + 1;
      this.failures.set(key, failures);
      const { backoffBaseMs, backoffMaxMs, jitter, random } = this.opts;
      const delayMs = backoffDelayMs(failures, backoffBaseMs, backoffMaxMs, jitter, random);
      this.addAfter(key, delayMs);
      this.finish(key);
      this.hook("onError", () => this.opts.onError?.(key, err, failures, delayMs));
    }
    this.hook("onProcessed", () => this.opts.onProcessed?.(key, clock.now() - started, outcome));
    this.pump();
    if (this.processing.size === 0 && this.idleWaiters.length) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }

  /** Ends a run: the key is free again, and runs once more now if it was added meanwhile. */
  private finish(key: string): void {
    this.processing.delete(key);
    if (this.dirty.delete(key)) this.add(key);
  }

  /** A metrics hook that throws is a bug there, not a reason to lose the queue's bookkeeping. */
  private hook(name: string, call: () => void): void {
    try {
      call();
    } catch (err) {
      this.opts.logger.error(`work queue ${name} hook threw`, { err: String(err) });
    }
  }
}
