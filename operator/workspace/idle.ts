/**
 * The idle decision (docs/lifecycle.md, "How the operator decides"). Pure: the Workspace, its class,
 * its current pod, the IDE probe's latest answer and the time in; what status says about activity,
 * the `Idle` condition, and what to do (nothing, warn, stop) out, with the next time to look again.
 *
 * Signals: the proxy's and the console's activity annotations, the IDE's own probe, and a keep-alive.
 * The idle timeout counts from the newest of them, but never from before the pod was created or the
 * workspace woken: a freshly started or woken pod always gets a full timeout, whatever old activity
 * says. A keep-alive postpones the stop to its own time when that is later.
 */
import type { V1Pod } from "@kubernetes/client-node";
import type { Workspace, WorkspaceActivity, WorkspaceClass } from "../../crds/types.ts";
import {
  ACTIVITY_CONSOLE_ANNOTATION,
  ACTIVITY_PROXY_ANNOTATION,
  IDLE_REASONS,
  IDLE_STOPPED_ANNOTATION,
  KEEP_ALIVE_ANNOTATION,
  WOKEN_ANNOTATION,
  annotationTime,
  idleSettings,
  rfc3339,
} from "../../common/model/workspace/lifecycle.ts";

/**
 * Activity times further ahead than this are not believed (a writer's clock gone wrong, or a hand-
 * written annotation): they would keep the workspace alive until then. A few seconds of skew between
 * the proxy's and the operator's clocks are normal.
 */
export const MAX_FUTURE_SKEW_MS = 5 * 60_000;

export interface IdleInput {
  ws: Workspace;
  cls: WorkspaceClass | undefined;
  /** The workspace's pod as observed (undefined: none). One being deleted does not count as running. */
  pod: V1Pod | undefined;
  /** The IDE probe's latest activity (ms since the epoch), when the class has a probe and it answered. */
  ideActivityMs?: number;
  nowMs: number;
}

export type IdleAction = "none" | "warn" | "stop";

export interface IdleDecision {
  activity: WorkspaceActivity;
  /** RFC 3339: the newest real signal (keep-alive is not activity). */
  lastActivity?: string;
  /** RFC 3339: when the idle stop comes unless there is activity (absent: never, or not running). */
  stopsAt?: string;
  condition: { status: "True" | "False"; reason: string; message: string };
  action: IdleAction;
  /** When the decision changes by itself (the warning, then the stop): requeue then. */
  nextAtMs?: number;
}

/** A signal's time, or undefined when absent, garbage, or too far in the future to believe. */
function signal(ws: Workspace, key: string, nowMs: number): number | undefined {
  const t = annotationTime(ws, key);
  return t !== undefined && t <= nowMs + MAX_FUTURE_SKEW_MS ? t : undefined;
}

const parsed = (v: string | undefined): number | undefined => {
  if (!v) return undefined;
  const t = Date.parse(v);
  return Number.isFinite(t) ? t : undefined;
};

const newest = (...ts: (number | undefined)[]): number | undefined => {
  const real = ts.filter((t): t is number => t !== undefined);
  return real.length ? Math.max(...real) : undefined;
};

/** "14:02 UTC", with the date when it is not today's (from `nowMs`'s point of view). */
export function clock(ms: number, nowMs: number): string {
  const iso = new Date(ms).toISOString();
  const sameDay = iso.slice(0, 10) === new Date(nowMs).toISOString().slice(0, 10);
  return `${sameDay ? "" : `${iso.slice(0, 10)} `}${iso.slice(11, 16)} UTC`;
}

/** "30m", "1h30m", "20s": a duration as people write it. */
export function humanDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  return `${h ? `${h}h` : ""}${m ? `${m}m` : ""}${sec || (!h && !m) ? `${sec}s` : ""}`;
}

/** "proxy 14:02, ide 13:58", or "none seen" (each signal's newest time, newest first). */
function signalList(a: WorkspaceActivity, nowMs: number): string {
  const items = (["proxy", "console", "ide"] as const)
    .map((k) => [k, parsed(a[k])] as const)
    .filter((e): e is readonly [(typeof e)[0], number] => e[1] !== undefined)
    .sort((x, y) => y[1] - x[1])
    .map(([k, t]) => `${k} ${clock(t, nowMs)}`);
  return items.length ? items.join(", ") : "none seen";
}

const podCreated = (pod: V1Pod, nowMs: number): number =>
  parsed(pod.metadata?.creationTimestamp as unknown as string | undefined) ?? nowMs; // just created

/** The idle decision for one workspace at `nowMs`. */
export function decideIdle(i: IdleInput): IdleDecision {
  const { ws, nowMs } = i;
  const s = idleSettings(ws, i.cls);
  const previousIde = parsed(ws.status?.activity?.ide);
  const ide = newest(
    previousIde,
    i.ideActivityMs !== undefined && i.ideActivityMs <= nowMs + MAX_FUTURE_SKEW_MS
      ? i.ideActivityMs
      : undefined,
  );
  const proxy = signal(ws, ACTIVITY_PROXY_ANNOTATION, nowMs);
  const consoleT = signal(ws, ACTIVITY_CONSOLE_ANNOTATION, nowMs);
  const keepRaw = annotationTime(ws, KEEP_ALIVE_ANNOTATION);
  // A keep-alive further out than the class allows from now is not the proxy's (it caps them).
  const keep = keepRaw !== undefined && keepRaw <= nowMs + s.maxKeepAliveMs ? keepRaw : undefined;
  const activity: WorkspaceActivity = {
    ...(proxy !== undefined ? { proxy: rfc3339(proxy) } : {}),
    ...(consoleT !== undefined ? { console: rfc3339(consoleT) } : {}),
    ...(ide !== undefined ? { ide: rfc3339(ide) } : {}),
    ...(keep !== undefined ? { keepAliveUntil: rfc3339(keep) } : {}),
  };
  const last = newest(proxy, consoleT, ide);
  const base = { activity, ...(last !== undefined ? { lastActivity: rfc3339(last) } : {}) };
  const since = last !== undefined ? `No activity since ${clock(last, nowMs)}` : "No activity seen";

  const stoppedAt = isIdleStoppedAt(ws);
  if (stoppedAt !== undefined) {
    const after = s.timeoutMs ? ` after ${humanDuration(s.timeoutMs)} without activity` : "";
    return {
      ...base,
      condition: {
        status: "True",
        reason: IDLE_REASONS.stopped,
        message:
          `Stopped${stoppedAt ? ` at ${clock(stoppedAt, nowMs)}` : ""}${after}: ${signalList(activity, nowMs)}. ` +
          `Open its URL or start it to wake it.`,
      },
      action: "none",
    };
  }
  const running = ws.spec.running !== false && !!i.pod && !i.pod.metadata?.deletionTimestamp;
  if (!running) {
    return {
      ...base,
      condition: {
        status: "False",
        reason: IDLE_REASONS.notRunning,
        message:
          ws.spec.running === false
            ? "Not running (spec.running is false): nothing to stop."
            : "Not running yet: the idle timeout counts once its pod exists.",
      },
      action: "none",
    };
  }
  if (s.timeoutMs === undefined) {
    return {
      ...base,
      condition: {
        status: "False",
        reason: IDLE_REASONS.disabled,
        message:
          "No idle timeout (spec.idleTimeout and its class's are unset or 0s): it never stops by itself.",
      },
      action: "none",
    };
  }
  // The floor: a pod started (or woken) recently gets a full timeout whatever older activity says.
  const from = Math.max(last ?? 0, podCreated(i.pod!, nowMs), annotationTime(ws, WOKEN_ANNOTATION) ?? 0);
  const stopsAt = Math.max(from + s.timeoutMs, keep ?? 0);
  const when = clock(stopsAt, nowMs);
  const details = last !== undefined ? ` (${signalList(activity, nowMs)})` : "";
  const kept = keep !== undefined && keep >= from + s.timeoutMs ? ` (kept alive until ${when})` : "";
  if (nowMs >= stopsAt) {
    return {
      ...base,
      stopsAt: rfc3339(stopsAt),
      condition: {
        status: "False",
        reason: IDLE_REASONS.stoppingSoon,
        message: `${since}${details}; stopping now.`,
      },
      action: "stop",
      nextAtMs: nowMs,
    };
  }
  const warnAt = stopsAt - s.warnBeforeMs;
  const warn = s.warnBeforeMs > 0 && nowMs >= warnAt;
  return {
    ...base,
    stopsAt: rfc3339(stopsAt),
    condition: {
      status: "False",
      reason: warn ? IDLE_REASONS.stoppingSoon : IDLE_REASONS.active,
      message: `${since}${details}; stops at ${when}${kept} unless there is activity.`,
    },
    action: warn ? "warn" : "none",
    nextAtMs: warn || s.warnBeforeMs <= 0 ? stopsAt : warnAt,
  };
}

/** When the idle stop was recorded; a present but unparseable annotation still means stopped (at some time). */
function isIdleStoppedAt(ws: Workspace): number | undefined {
  const raw = ws.metadata.annotations?.[IDLE_STOPPED_ANNOTATION];
  if (!raw) return undefined;
  return parsed(raw) ?? 0;
}
