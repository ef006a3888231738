/**
 * Reading settings from flags and environment, shared by the operator's and the proxy's config.ts
 * (each is still the only place its process reads them). A reader collects every problem instead of
 * stopping at the first, and names both ways to set a value: `--name` and `PORTICO_NAME`.
 */

export class ConfigError extends Error {
  override name = "ConfigError";
}

export type Source = Readonly<Record<string, string | undefined>>;

/** Parses `--name=value` / `--name value` / `--flag` into a map; rejects anything else. */
export function parseFlags(argv: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const m = /^--([a-z][a-z0-9-]*)(?:=(.*))?$/.exec(arg);
    if (!m) throw new ConfigError(`unexpected argument ${JSON.stringify(arg)}: flags look like --name=value`);
    const [, name, value] = m;
    if (value !== undefined) out[name!] = value;
    else if (argv[i + 1] !== undefined && !argv[i + 1]!.startsWith("--")) out[name!] = argv[++i]!;
    else out[name!] = "true";
  }
  return out;
}

/** Parses Go-style durations: "1h30m", "15s", "500ms". Undefined when malformed. */
export function parseDurationMs(s: string): number | undefined {
  if (!/^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$/.test(s)) return undefined;
  const unit: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  for (const m of s.matchAll(/([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)/g)) total += Number(m[1]) * unit[m[2]!]!;
  return total;
}

/** `16Ki`, `10Mi`, `1Gi`, `1000` → bytes; undefined when malformed. */
export function parseBytes(s: string): number | undefined {
  const m = /^([0-9]+)(Ki|Mi|Gi)?$/.exec(s);
  if (!m) return undefined;
  const unit = { Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3 }[m[2] as "Ki" | "Mi" | "Gi"] ?? 1;
  return Number(m[1]) * unit;
}

export const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
export const DOMAIN = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)*[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Typed getters over one process's flags and environment; each records what is wrong with its value. */
export interface SettingsReader<K extends string> {
  /** Every problem found so far, as a line naming the flag and the variable. */
  readonly problems: string[];
  raw(k: K): string | undefined;
  /** `--k (or PORTICO_K)`, for messages. */
  where(k: K): string;
  str(k: K, def: string, re?: RegExp, what?: string): string;
  int(k: K, def: number, min: number, max: number): number;
  num(k: K, def: number, min: number): number;
  /** A positive duration (`500ms`, `15s`, `1m`), or `0` too when `allowZero` (meaning off). */
  dur(k: K, defMs: number, allowZero?: boolean): number;
  bytes(k: K, def: number): number;
  bool(k: K, def: boolean): boolean;
  /** One of `allowed`; with no default the setting must be given. */
  oneOf<T extends string>(k: K, def: T | undefined, allowed: readonly T[]): T;
  /** Throws ConfigError listing every problem, if there is any. */
  finish(component: string): void;
}

export function settingsReader<K extends string>(
  argv: readonly string[],
  env: Source,
  known: readonly K[],
): SettingsReader<K> {
  const flags = parseFlags(argv);
  const problems: string[] = [];
  for (const k of Object.keys(flags))
    if (!(known as readonly string[]).includes(k)) problems.push(`unknown flag --${k}`);
  const envName = (k: K) => `PORTICO_${k.toUpperCase().replace(/-/g, "_")}`;
  const raw = (k: K): string | undefined => flags[k] ?? env[envName(k)];
  const where = (k: K) => `--${k} (or ${envName(k)})`;
  const bad = (k: K, v: string, what: string) =>
    problems.push(`${where(k)}: ${JSON.stringify(v)} is not ${what}`);

  return {
    problems,
    raw,
    where,
    str(k, def, re, what) {
      const v = raw(k) ?? def;
      if (re && !re.test(v)) bad(k, v, what ?? `of the form ${re.source}`);
      return v;
    },
    int(k, def, min, max) {
      const v = raw(k);
      if (v === undefined) return def;
      const n = Number(v);
      if (!Number.isInteger(n) || n < min || n > max) bad(k, v, `a whole number from ${min} to ${max}`);
      return n;
    },
    num(k, def, min) {
      const v = raw(k);
      if (v === undefined) return def;
      const n = Number(v);
      if (!Number.isFinite(n) || n < min) bad(k, v, `a number ≥ ${min}`);
      return n;
    },
    dur(k, defMs, allowZero = false) {
      const v = raw(k);
      if (v === undefined) return defMs;
      if (allowZero && v === "0") return 0;
      const ms = parseDurationMs(v);
      if (ms === undefined || (!allowZero && ms <= 0))
        bad(k, v, `a ${allowZero ? "" : "positive "}duration like 500ms, 15s or 1m`);
      return ms ?? defMs;
    },
    bytes(k, def) {
      const v = raw(k);
      if (v === undefined) return def;
      const n = parseBytes(v);
      if (n === undefined) bad(k, v, "a size like 16Ki or 100Mi");
      return n ?? def;
    },
    bool(k, def) {
      const v = raw(k);
      if (v === undefined) return def;
      if (v === "true" || v === "false") return v === "true";
      bad(k, v, "true or false");
      return def;
    },
    oneOf<T extends string>(k: K, def: T | undefined, allowed: readonly T[]): T {
      const v = raw(k) ?? def;
      if (v === undefined) {
        problems.push(`${where(k)} must be given: one of ${allowed.join(", ")}`);
        return allowed[0]!;
      }
      if (!(allowed as readonly string[]).includes(v)) bad(k, v, `one of ${allowed.join(", ")}`);
      return v as T;
    },
    finish(component) {
      if (problems.length)
        throw new ConfigError(`${component} cannot start:\n  - ${problems.join("\n  - ")}`);
    },
  };
}

/** Freezes a configuration object and everything in it. */
export function deepFreeze<T>(o: T): T {
  if (o && typeof o === "object") {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}
