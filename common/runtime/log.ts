/**
 * JSON logs via winston. One logger is made in main.ts and passed down; a child logger carries
 * the object key (`workspace: "ns/name"`) so every line about a workspace says which one.
 */
import winston from "winston";

export interface Logger {
  debug(msg: string, meta?: Record<string, unknown>): void;
  info(msg: string, meta?: Record<string, unknown>): void;
  warn(msg: string, meta?: Record<string, unknown>): void;
  error(msg: string, meta?: Record<string, unknown>): void;
  child(meta: Record<string, unknown>): Logger;
}

/** Keys whose values never reach a log line, wherever they appear in the metadata. */
const SECRET_KEYS = /^(authorization|password|token|secret|data|stringData|bearer|cookie)$/i;

/** Replaces secret-looking values in log metadata (defence in depth; callers should not pass them). */
export function redact(value: unknown, depth = 0): unknown {
  if (depth > 6 || value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value))
    out[k] = SECRET_KEYS.test(k) ? "[redacted]" : redact(v, depth + 1);
  return out;
}

const redactFormat = winston.format((info) => {
  for (const k of Object.keys(info)) {
    if (SECRET_KEYS.test(k)) info[k] = "[redacted]";
    else if (typeof info[k] === "object") info[k] = redact(info[k]);
  }
  return info;
});

/** Severity order: a logger at `info` writes error, warn and info. */
const LEVELS = { error: 0, warn: 1, info: 2, debug: 3 } as const;
type Level = keyof typeof LEVELS;

export function createLogger(level: string, component: string): Logger {
  const w = winston.createLogger({
    level,
    defaultMeta: { component },
    format: winston.format.combine(redactFormat(), winston.format.timestamp(), winston.format.json()),
    transports: [new winston.transports.Console()],
  });
  return gated(w, LEVELS[level as Level] ?? LEVELS.info);
}

/**
 * Winston runs its formats (redaction, timestamp, JSON) before its transports drop a line below
 * their level, so a disabled level would still cost a full format per call: on the proxy's data
 * path that was a per-request cost. Disabled levels are no-ops here instead.
 */
function gated(w: winston.Logger, max: number): Logger {
  const at = (l: Level) =>
    LEVELS[l] > max
      ? () => undefined
      : (msg: string, meta?: Record<string, unknown>) => void (meta ? w.log(l, msg, meta) : w.log(l, msg));
  return {
    error: at("error"),
    warn: at("warn"),
    info: at("info"),
    debug: at("debug"),
    child: (meta) => gated(w.child(meta), max),
  };
}
