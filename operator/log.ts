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

export function createLogger(level: string, component: string): Logger {
  return winston.createLogger({
    level,
    defaultMeta: { component },
    format: winston.format.combine(redactFormat(), winston.format.timestamp(), winston.format.json()),
    transports: [new winston.transports.Console()],
  }) as unknown as Logger;
}
