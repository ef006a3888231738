/**
 * The lifecycle contract between the proxy and the operator (docs/lifecycle.md): which annotations
 * carry activity, keep-alives, idle stops and wakes on a Workspace, and the class's idle settings
 * with their defaults. Pure, shared by both components.
 *
 * Why annotations on the Workspace and not its status: the operator owns status (it replaces it as a
 * whole), while several proxy replicas report activity. A JSON merge patch of one annotation key
 * touches only that key, so the proxy's reports, the operator's idle stop and a wake never overwrite
 * each other's fields. None of them is spec, which GitOps owns. The chart's admission policy lets
 * only the proxy, the operator and admins change them, so a user cannot keep their own workspace
 * alive past its class's rules or stop another's.
 */
import type { Workspace, WorkspaceClass } from "../../../crds/types.ts";
import { parseDurationMs } from "../../runtime/settings.ts";

/** RFC 3339: the newest user traffic any proxy replica saw (HTTP requests, client-to-IDE WebSocket data). */
export const ACTIVITY_PROXY_ANNOTATION = "portico.dev/activity-proxy";
/** RFC 3339: the newest minute a console terminal or log stream was open on the workspace. */
export const ACTIVITY_CONSOLE_ANNOTATION = "portico.dev/activity-console";
/** RFC 3339: an explicit keep-alive; no idle stop before this time (set by the proxy, capped by the class). */
export const KEEP_ALIVE_ANNOTATION = "portico.dev/keep-alive-until";
/** RFC 3339: when the operator stopped the workspace for idleness. Present: no pod until a wake removes it. */
export const IDLE_STOPPED_ANNOTATION = "portico.dev/idle-stopped";
/** RFC 3339: when the last wake was asked (the wake-latency metric counts from here). */
export const WOKEN_ANNOTATION = "portico.dev/woken";

/** Every annotation of the lifecycle contract (the admission policy guards exactly these). */
export const LIFECYCLE_ANNOTATIONS = [
  ACTIVITY_PROXY_ANNOTATION,
  ACTIVITY_CONSOLE_ANNOTATION,
  KEEP_ALIVE_ANNOTATION,
  IDLE_STOPPED_ANNOTATION,
  WOKEN_ANNOTATION,
] as const;

/**
 * A proxy replica reports a workspace's activity at most this often, and only when what it saw is
 * this much newer than the annotation already says (so N replicas cost about one write, not N).
 */
export const REPORT_INTERVAL_MS = 60_000;

/** Reasons of the `Idle` condition. */
export const IDLE_REASONS = {
  /** False: activity is recent; `status.stopsAt` says when it would stop. */
  active: "Active",
  /** False: within the class's `idle.warnBefore` of the stop. */
  stoppingSoon: "StoppingSoon",
  /** True: stopped for idleness (the message names every signal's last time). */
  stopped: "IdleTimeout",
  /** False: no idle timeout (`0s` or none set). */
  disabled: "NoIdleTimeout",
  /** False: not running for another reason (spec.running false, failed, not started yet). */
  notRunning: "NotRunning",
} as const;

/** The class's idle settings with their defaults applied (the schema's defaults, for objects built in memory). */
export interface IdleSettings {
  /** The idle timeout in ms; undefined: never stop. */
  timeoutMs: number | undefined;
  warnBeforeMs: number;
  maxKeepAliveMs: number;
  ignoreWebSocketMessagesUpTo: number;
}

export const DEFAULT_WARN_BEFORE = "5m";
export const DEFAULT_MAX_KEEP_ALIVE = "8h";

/** The workspace's idle timeout (its own, else its class's); undefined when `0s` or unset: never stop. */
export function idleTimeoutMs(ws: Workspace, cls: WorkspaceClass | undefined): number | undefined {
  const raw = ws.spec.idleTimeout ?? cls?.spec.idleTimeout;
  const ms = raw === undefined ? undefined : parseDurationMs(raw);
  return ms ? ms : undefined;
}

export function idleSettings(ws: Workspace, cls: WorkspaceClass | undefined): IdleSettings {
  const idle = cls?.spec.idle ?? {};
  return {
    timeoutMs: idleTimeoutMs(ws, cls),
    warnBeforeMs: parseDurationMs(idle.warnBefore ?? DEFAULT_WARN_BEFORE) ?? 0,
    maxKeepAliveMs: parseDurationMs(idle.maxKeepAlive ?? DEFAULT_MAX_KEEP_ALIVE) ?? 0,
    ignoreWebSocketMessagesUpTo: idle.ignoreWebSocketMessagesUpTo ?? 0,
  };
}

/** Whether the operator stopped the workspace for idleness and nobody woke it since. */
export const isIdleStopped = (ws: Workspace): boolean => !!ws.metadata.annotations?.[IDLE_STOPPED_ANNOTATION];

/** An annotation's time in ms since the epoch; undefined when absent or not a time. */
export function annotationTime(ws: Workspace, key: string): number | undefined {
  const v = ws.metadata.annotations?.[key];
  if (!v) return undefined;
  const t = Date.parse(v);
  return Number.isFinite(t) ? t : undefined;
}

/** RFC 3339 without fractional seconds, as the API server writes times. */
export const rfc3339 = (ms: number): string => new Date(ms).toISOString().replace(/\.\d+Z$/, "Z");

/**
 * The merge patch of a wake: the idle stop is lifted, the wake time recorded, and the visit counts
 * as activity (so the operator does not stop it again before its user arrives).
 */
export function wakePatch(nowMs: number): { metadata: { annotations: Record<string, string | null> } } {
  const now = rfc3339(nowMs);
  return {
    metadata: {
      annotations: {
        [IDLE_STOPPED_ANNOTATION]: null,
        [WOKEN_ANNOTATION]: now,
        [ACTIVITY_PROXY_ANNOTATION]: now,
      },
    },
  };
}
