/**
 * Reading settings from flags and environment, shared by the operator's and the proxy's config.ts
 * (each is still the only place its process reads them). A reader collects every problem instead of
 * stopping at the first, and names both ways to set a value: `--name` and `PORTICO_NAME`.
 *
 * `--help` (or `-h`) comes from the same place: each config module declares its flags once, as a
 * table of descriptions (FlagTable), and the reader, run with `--help`, notes the default each getter
 * is given. The loader therefore runs its ordinary code, every value at its default, and `finish`
 * throws HelpRequested with the text instead of validating: a flag cannot be read without being in
 * the table (its key type), and the help cannot show a default other than the one the loader uses.
 */

export class ConfigError extends Error {
  override name = "ConfigError";
}

/** `--help` / `-h` was given: `text` goes to stdout and the process exits 0 (configOrExit). */
export class HelpRequested extends Error {
  override name = "HelpRequested";
  readonly text: string;
  constructor(text: string) {
    super("help requested");
    this.text = text;
  }
}

/**
 * A flag's description; or its description and the default to show where the loader's default
 * depends on other settings or the machine (e.g. "the client id", "<hostname>-<pid>"), or `required`
 * where the loader refuses to start without it.
 */
export type FlagDoc = string | { help: string; default: string } | { help: string; required: true };

/** Every flag one command reads, by name, with its description: the one list of its flags. */
export type FlagTable<K extends string> = Readonly<Record<K, FlagDoc>>;

/** Whether the arguments ask for help: `--help`, `--help=true` or `-h` anywhere. */
export const wantsHelp = (argv: readonly string[]): boolean =>
  argv.some((a) => a === "--help" || a === "--help=true" || a === "-h");

/** The environment variable of a flag: `--base-domain` → `PORTICO_BASE_DOMAIN`. */
export const envName = (k: string) => `PORTICO_${k.toUpperCase().replace(/-/g, "_")}`;

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

/** Milliseconds as a duration parseDurationMs reads back: 600000 → "10m", 90000 → "1m30s", 0 → "0". */
export function formatDurationMs(ms: number): string {
  if (ms === 0) return "0";
  const units: [string, number][] = [
    ["h", 3_600_000],
    ["m", 60_000],
    ["s", 1000],
    ["ms", 1],
  ];
  let out = "";
  let left = ms;
  for (const [u, size] of units) {
    const n = Math.floor(left / size);
    if (n > 0) out += `${n}${u}`;
    left -= n * size;
  }
  return out;
}

/** Bytes as a size parseBytes reads back: 16384 → "16Ki", 1000 → "1000". */
export function formatBytes(n: number): string {
  for (const [u, size] of [
    ["Gi", 1024 ** 3],
    ["Mi", 1024 ** 2],
    ["Ki", 1024],
  ] as const)
    if (n > 0 && n % size === 0) return `${n / size}${u}`;
  return String(n);
}

export const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
export const DOMAIN = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)*[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Typed getters over one process's flags and environment; each records what is wrong with its value. */
export interface SettingsReader<K extends string> {
  /** Every problem found so far, as a line naming the flag and the variable. */
  readonly problems: string[];
  /** The value as given; with `def`, the value or `def` (which `--help` shows as the default). */
  raw(k: K): string | undefined;
  raw(k: K, def: string): string;
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
  /**
   * Throws ConfigError listing every problem, if there is any; with `--help`, throws HelpRequested
   * with `usage` and every flag of the table instead.
   */
  finish(component: string, usage?: string): void;
}

/** What `--help` shows of one flag besides its description: the kind of value and the default. */
interface Noted {
  kind: string;
  default?: string;
  /** A choice without a default: it must be given. */
  required?: boolean;
}

export function settingsReader<K extends string>(
  argv: readonly string[],
  env: Source,
  table: FlagTable<K>,
): SettingsReader<K> {
  // With --help nothing given counts (every getter returns its default) and nothing is refused.
  const help = wantsHelp(argv);
  const flags = help ? {} : parseFlags(argv);
  const problems: string[] = [];
  const noted = new Map<K, Noted>();
  const note = (k: K, kind: string, def?: string, required = false) => {
    if (help && (!noted.has(k) || noted.get(k)!.default === undefined))
      noted.set(k, {
        kind,
        ...(def !== undefined ? { default: def } : {}),
        ...(required ? { required } : {}),
      });
  };
  for (const k of Object.keys(flags)) if (!Object.hasOwn(table, k)) problems.push(`unknown flag --${k}`);
  function raw(k: K): string | undefined;
  function raw(k: K, def: string): string;
  function raw(k: K, def?: string): string | undefined {
    note(k, "value", def);
    if (help) return def;
    return flags[k] ?? env[envName(k)] ?? def;
  }
  const given = (k: K): string | undefined => (help ? undefined : (flags[k] ?? env[envName(k)]));
  const where = (k: K) => `--${k} (or ${envName(k)})`;
  const bad = (k: K, v: string, what: string) =>
    problems.push(`${where(k)}: ${JSON.stringify(v)} is not ${what}`);

  return {
    problems,
    raw,
    where,
    str(k, def, re, what) {
      note(k, "string", def);
      const v = given(k) ?? def;
      if (re && !re.test(v)) bad(k, v, what ?? `of the form ${re.source}`);
      return v;
    },
    int(k, def, min, max) {
      note(k, `integer ${min}-${max}`, String(def));
      const v = given(k);
      if (v === undefined) return def;
      const n = Number(v);
      if (!Number.isInteger(n) || n < min || n > max) bad(k, v, `a whole number from ${min} to ${max}`);
      return n;
    },
    num(k, def, min) {
      note(k, `number ≥ ${min}`, String(def));
      const v = given(k);
      if (v === undefined) return def;
      const n = Number(v);
      if (!Number.isFinite(n) || n < min) bad(k, v, `a number ≥ ${min}`);
      return n;
    },
    dur(k, defMs, allowZero = false) {
      note(k, allowZero ? "duration, 0: off" : "duration", formatDurationMs(defMs));
      const v = given(k);
      if (v === undefined) return defMs;
      if (allowZero && v === "0") return 0;
      const ms = parseDurationMs(v);
      if (ms === undefined || (!allowZero && ms <= 0))
        bad(k, v, `a ${allowZero ? "" : "positive "}duration like 500ms, 15s or 1m`);
      return ms ?? defMs;
    },
    bytes(k, def) {
      note(k, "size", formatBytes(def));
      const v = given(k);
      if (v === undefined) return def;
      const n = parseBytes(v);
      if (n === undefined) bad(k, v, "a size like 16Ki or 100Mi");
      return n ?? def;
    },
    bool(k, def) {
      note(k, "true|false", String(def));
      const v = given(k);
      if (v === undefined) return def;
      if (v === "true" || v === "false") return v === "true";
      bad(k, v, "true or false");
      return def;
    },
    oneOf<T extends string>(k: K, def: T | undefined, allowed: readonly T[]): T {
      note(k, allowed.join("|"), def, def === undefined);
      const v = given(k) ?? def;
      if (v === undefined) {
        problems.push(`${where(k)} must be given: one of ${allowed.join(", ")}`);
        return allowed[0]!;
      }
      if (!(allowed as readonly string[]).includes(v)) bad(k, v, `one of ${allowed.join(", ")}`);
      return v as T;
    },
    finish(component, usage) {
      if (help) throw new HelpRequested(helpText(component, usage, table, noted));
      if (problems.length)
        throw new ConfigError(`${component} cannot start:\n  - ${problems.join("\n  - ")}`);
    },
  };
}

/**
 * The help of one command: usage, then each flag of the table in its order with its variable, the
 * kind of value, the default (as the loader gave it, or the table's words) and its description.
 */
function helpText<K extends string>(
  component: string,
  usage: string | undefined,
  table: FlagTable<K>,
  noted: ReadonlyMap<K, Noted>,
): string {
  const lines = [
    usage ?? `Usage: ${component} [--flag=value ...]`,
    "",
    "Every flag can also be set by its environment variable; a flag wins over the variable.",
    "",
  ];
  for (const k of Object.keys(table) as K[]) {
    const doc: FlagDoc = table[k];
    const n = noted.get(k);
    const required = n?.required || (typeof doc === "object" && "required" in doc);
    const shown = typeof doc === "object" && "default" in doc ? doc.default : n?.default;
    const def = required ? "required" : `default: ${shown === undefined || shown === "" ? "unset" : shown}`;
    lines.push(`  --${k}=<${n?.kind ?? "value"}>   ${envName(k)}   (${def})`);
    lines.push(`      ${typeof doc === "string" ? doc : doc.help}`);
  }
  return lines.join("\n") + "\n";
}

/** Freezes a configuration object and everything in it. */
export function deepFreeze<T>(o: T): T {
  if (o && typeof o === "object") {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}
