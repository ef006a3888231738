/**
 * The IDE probe poller: for each workspace the reconciler says has a probe to poll (a Ready pod, a
 * class with `idle.probe`, an idle timeout), GET the IDE's activity report every interval and keep
 * the IDE's latest activity (coalesced, probe-parse.ts). When that changes, the workspace's
 * reconcile is enqueued, which folds it into status and the idle decision.
 *
 * The reconciler drives it (`track` at the end of each reconcile), so it polls exactly the pods the
 * operator sees Ready, only while this replica leads, and stops as soon as the pod goes. A failed
 * poll is never activity: it is logged at debug and counted, and the next interval tries again.
 * Requests: 5 s timeout, no redirects followed, answers capped at 1 MiB.
 */
import type { Logger } from "../../common/runtime/log.ts";
import type { Clock } from "../../common/runtime/types.ts";
import {
  activityTime,
  coalesce,
  field,
  isBusy,
  readingActivity,
  sameTarget,
  type ProbeReading,
  type ProbeTarget,
} from "./probe-parse.ts";

export const PROBE_TIMEOUT_MS = 5_000;
export const PROBE_MAX_BYTES = 1 << 20;

export interface ProbePollerOptions {
  clock: Clock;
  log: Logger;
  /** The IDE's activity of this workspace changed: reconcile it. */
  onChange(namespace: string, name: string): void;
  /** A poll failed (`reason`: timeout, http, body, json, network). */
  onFailure?(reason: string): void;
  /** Injectable for tests; the global fetch by default. */
  fetch?: typeof fetch;
}

interface Entry {
  target: ProbeTarget;
  handle: unknown;
  /** The IDE's activity as kept (coalesced), ms since the epoch. */
  activityMs?: number;
  stopped: boolean;
  /** The IDE has answered once: polls go on whatever its readiness says. */
  answered?: boolean;
}

/** A poll's failure, classified for the metric. */
class ProbeFailure extends Error {
  readonly reason: string;
  constructor(reason: string, message: string) {
    super(message);
    this.reason = reason;
  }
}

export class ProbePoller {
  private readonly entries = new Map<string, Entry>();
  private readonly fetch: typeof fetch;
  private readonly o: ProbePollerOptions;
  constructor(o: ProbePollerOptions) {
    this.o = o;
    this.fetch = o.fetch ?? fetch;
  }

  /** The IDE's latest activity for a workspace (undefined: no probe, or no answer yet). */
  activity(namespace: string, name: string): number | undefined {
    return this.entries.get(`${namespace}/${name}`)?.activityMs;
  }

  /** Polls `target` for this workspace from now on (undefined: stop polling it). Idempotent. */
  track(namespace: string, name: string, target: ProbeTarget | undefined): void {
    const key = `${namespace}/${name}`;
    const entry = this.entries.get(key);
    if (entry && sameTarget(entry.target, target)) {
      entry.target = target!; // only its readiness may differ
      return;
    }
    if (entry) this.drop(key, entry);
    if (!target) return;
    const fresh: Entry = { target, handle: undefined, stopped: false };
    this.entries.set(key, fresh);
    this.schedule(namespace, name, fresh, 0);
  }

  /** Stops every poller. */
  stop(): void {
    for (const [key, entry] of this.entries) this.drop(key, entry);
  }

  /** Workspaces being polled. */
  size(): number {
    return this.entries.size;
  }

  private drop(key: string, entry: Entry): void {
    entry.stopped = true;
    if (entry.handle !== undefined) this.o.clock.clearTimeout(entry.handle);
    this.entries.delete(key);
  }

  private schedule(namespace: string, name: string, entry: Entry, delayMs: number): void {
    entry.handle = this.o.clock.setTimeout(() => {
      void this.poll(namespace, name, entry).finally(() => {
        if (!entry.stopped) this.schedule(namespace, name, entry, entry.target.intervalMs);
      });
    }, delayMs);
  }

  private async poll(namespace: string, name: string, entry: Entry): Promise<void> {
    // Not Ready and never answered: the IDE is still starting, a poll would only fail.
    if (entry.target.ready === false && !entry.answered) return;
    const pollMs = this.o.clock.now();
    let reading: ProbeReading;
    try {
      reading = await this.read(entry.target);
    } catch (err) {
      const reason = err instanceof ProbeFailure ? err.reason : "network";
      this.o.onFailure?.(reason);
      this.o.log.debug("IDE probe failed", {
        workspace: `${namespace}/${name}`,
        reason,
        error: (err as Error).message,
      });
      return;
    }
    if (entry.stopped) return;
    entry.answered = true;
    const kept = coalesce(entry.activityMs, readingActivity(reading, pollMs), entry.target.stepMs);
    if (kept !== entry.activityMs) {
      entry.activityMs = kept;
      this.o.onChange(namespace, name);
    }
  }

  private async read(t: ProbeTarget): Promise<ProbeReading> {
    const answer = await this.get(t.url);
    const lastActivityMs = t.lastActivityField ? activityTime(field(answer, t.lastActivityField)) : undefined;
    let busy = false;
    if (t.busy) busy = isBusy(t.busyUrl ? await this.get(t.busyUrl) : answer, t.busy);
    return { ...(lastActivityMs !== undefined ? { lastActivityMs } : {}), busy };
  }

  /** One GET: JSON back, or a ProbeFailure. */
  private async get(url: string): Promise<unknown> {
    let res: Response;
    try {
      res = await this.fetch(url, {
        redirect: "manual",
        signal: AbortSignal.timeout(PROBE_TIMEOUT_MS),
        headers: { accept: "application/json" },
      });
    } catch (err) {
      const timeout = (err as Error).name === "TimeoutError";
      throw new ProbeFailure(timeout ? "timeout" : "network", (err as Error).message);
    }
    if (res.status !== 200) {
      await res.body?.cancel().catch(() => undefined);
      throw new ProbeFailure("http", `answered ${res.status}`);
    }
    const text = await cappedText(res, PROBE_MAX_BYTES);
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new ProbeFailure("json", "the answer is not JSON");
    }
  }
}

/** The body as text, refusing (and cancelling) past `max` bytes. */
async function cappedText(res: Response, max: number): Promise<string> {
  if (!res.body) return "";
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > max) {
        await reader.cancel().catch(() => undefined);
        throw new ProbeFailure("body", `the answer is over ${max} bytes`);
      }
      chunks.push(value);
    }
  } catch (err) {
    if (err instanceof ProbeFailure) throw err;
    throw new ProbeFailure(
      (err as Error).name === "TimeoutError" ? "timeout" : "body",
      (err as Error).message,
    );
  }
  return Buffer.concat(chunks).toString("utf8");
}
