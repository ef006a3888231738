/**
 * Reading an IDE's own activity report (the class's `idle.probe`): pure helpers for the poller
 * (probe.ts). What the answers mean is data in the class, so a new IDE needs no code here.
 */
import type { IdleProbe } from "../../crds/types.ts";
import { parseDurationMs } from "../../common/runtime/settings.ts";

/** The poll interval's default and floor (the CRD's schema says the same). */
export const DEFAULT_PROBE_INTERVAL_MS = 30_000;
export const MIN_PROBE_INTERVAL_MS = 5_000;

export function probeIntervalMs(probe: IdleProbe): number {
  const ms = parseDurationMs(probe.interval ?? "") ?? DEFAULT_PROBE_INTERVAL_MS;
  return Math.max(ms || DEFAULT_PROBE_INTERVAL_MS, MIN_PROBE_INTERVAL_MS);
}

/** A probe path with `{prefix}` replaced by the workspace's base path ("" when it has none). */
export function probePath(path: string, prefix: string): string {
  const p = path.replaceAll("{prefix}", prefix.replace(/\/+$/, ""));
  return p.startsWith("/") ? p : `/${p}`;
}

/** A dotted field of a JSON value (`a.b.c`); undefined when any step is missing. */
export function field(value: unknown, dotted: string): unknown {
  let v = value;
  for (const k of dotted.split(".")) {
    if (v === null || typeof v !== "object" || Array.isArray(v)) return undefined;
    v = (v as Record<string, unknown>)[k];
  }
  return v;
}

/**
 * A time as an IDE reports it: RFC 3339 text, or milliseconds since the epoch (a number or digits).
 * Undefined for anything else (a probe answer is never trusted to be well formed).
 */
export function activityTime(v: unknown): number | undefined {
  if (typeof v === "number") return Number.isFinite(v) && v > 0 ? v : undefined;
  if (typeof v !== "string" || !v) return undefined;
  if (/^\d+$/.test(v)) return Number(v) || undefined;
  // RFC 3339 only: a date with a time and a zone (Date.parse accepts far more).
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i.test(v)) return undefined;
  const t = Date.parse(v);
  return Number.isFinite(t) ? t : undefined;
}

/** Whether an answer says busy: the object itself, or an element of a top-level array, has `field` = `value`. */
export function isBusy(answer: unknown, busy: { field: string; value: string }): boolean {
  const items = Array.isArray(answer) ? answer : [answer];
  return items.some((it) => {
    const v = field(it, busy.field);
    return v !== undefined && v !== null && String(v) === busy.value;
  });
}

/** What one poll found: the IDE's last activity (undefined: not said) and whether it is busy now. */
export interface ProbeReading {
  lastActivityMs?: number;
  busy: boolean;
}

/**
 * The activity a reading stands for at `pollMs`: the poll time when busy, else the reported time.
 * Undefined: the reading says nothing (no field, not busy).
 */
export function readingActivity(r: ProbeReading, pollMs: number): number | undefined {
  if (r.busy) return pollMs;
  return r.lastActivityMs;
}

/**
 * Coalescing: the IDE's activity as the operator keeps it. A newer time replaces the kept one only
 * when it is at least `stepMs` newer, so an IDE busy for hours (or one whose own clock moves with
 * every request) costs one status write per step, not one per poll. The idle stop may come up to
 * `stepMs` early at worst, which the warning window covers.
 */
export function coalesce(
  kept: number | undefined,
  seen: number | undefined,
  stepMs: number,
): number | undefined {
  if (seen === undefined) return kept;
  if (kept === undefined || seen >= kept + stepMs) return seen;
  return kept;
}

/** What to poll for one workspace: built from its class, its pod and its base path. */
export interface ProbeTarget {
  /** `http://<podIP>:<port><path>`. */
  url: string;
  /** Where busy is read, when the class says so on another path (else the same answer). */
  busyUrl?: string;
  lastActivityField?: string;
  busy?: { field: string; value: string };
  intervalMs: number;
  /** The coalescing step (see `coalesce`). */
  stepMs: number;
  /** The pod polled: a new pod starts a new poller. */
  podUid: string;
  /**
   * The pod is Ready now (default true). Polls begin once it is; after the IDE's first answer they go
   * on while readiness flaps (a busy IDE on a loaded node misses its readiness probe, which is when its
   * own report matters most). A change of this alone does not restart the poller.
   */
  ready?: boolean;
}

/** Host part of a URL for an IP (IPv6 in brackets). */
const hostOf = (ip: string) => (ip.includes(":") ? `[${ip}]` : ip);

/**
 * The probe of a workspace whose class has one and whose pod runs with an IP (Ready or not: see
 * `ProbeTarget.ready`); undefined otherwise (nothing to poll). `timeoutMs` (the idle timeout) bounds the coalescing step, so a short
 * timeout still sees a busy IDE in time.
 */
export function probeTarget(o: {
  probe: IdleProbe | undefined;
  port: number;
  prefix: string;
  podIP: string | undefined;
  podUid: string | undefined;
  /** The pod runs (phase Running). */
  podRunning: boolean;
  podReady: boolean;
  timeoutMs: number | undefined;
  reportIntervalMs: number;
}): ProbeTarget | undefined {
  if (!o.probe || !o.podRunning || !o.podIP || !o.podUid || !o.timeoutMs) return undefined;
  const origin = `http://${hostOf(o.podIP)}:${o.port}`;
  const url = origin + probePath(o.probe.path, o.prefix);
  const busyUrl = o.probe.busy?.path ? origin + probePath(o.probe.busy.path, o.prefix) : undefined;
  // Only ever the pod itself, whatever the class's path says.
  if (![url, busyUrl].every((u) => u === undefined || new URL(u).origin === new URL(origin).origin))
    return undefined;
  return {
    url,
    ...(busyUrl && busyUrl !== url ? { busyUrl } : {}),
    ...(o.probe.lastActivityField ? { lastActivityField: o.probe.lastActivityField } : {}),
    ...(o.probe.busy ? { busy: { field: o.probe.busy.field, value: o.probe.busy.value } } : {}),
    intervalMs: probeIntervalMs(o.probe),
    stepMs: Math.min(o.reportIntervalMs, Math.floor(o.timeoutMs / 4)),
    podUid: o.podUid,
    ready: o.podReady,
  };
}

/** Two targets poll the same thing the same way. */
export const sameTarget = (a: ProbeTarget | undefined, b: ProbeTarget | undefined): boolean =>
  JSON.stringify(a && { ...a, ready: undefined }) === JSON.stringify(b && { ...b, ready: undefined });
