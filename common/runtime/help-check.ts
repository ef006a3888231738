/**
 * For the config tests of each command: which settings its loader really reads, and its `--help`
 * text, so a test can prove that every flag the loader reads is in the help with its variable and
 * default (and that the help lists nothing the loader ignores).
 */
import { envName, HelpRequested, type FlagTable, type Source } from "./settings.ts";

/**
 * The flags `load` reads, seen from the outside: the `PORTICO_*` variables it looks up in a recording
 * environment (a reader looks a flag's variable up whenever the flag itself is not given). `given`
 * supplies values a loader needs to get past its checks (e.g. PORTICO_AUTH).
 */
export function flagsRead(load: (env: Source) => unknown, given: Record<string, string> = {}): Set<string> {
  const seen = new Set<string>();
  const env = new Proxy(given, {
    get(target, key) {
      if (typeof key === "string" && key.startsWith("PORTICO_")) seen.add(key);
      return typeof key === "string" ? target[key] : undefined;
    },
  });
  load(env);
  return seen;
}

/** What `load(["--help"])` prints; fails if it returns or throws anything but HelpRequested. */
export function helpOf(
  load: (argv: readonly string[]) => unknown,
  argv: readonly string[] = ["--help"],
): string {
  try {
    load(argv);
  } catch (err) {
    if (err instanceof HelpRequested) return err.text;
    throw err;
  }
  throw new Error(`${argv.join(" ")} did not ask for help`);
}

/** One flag's entry in a help text: its first line (flag, variable, default) and its description. */
export interface HelpEntry {
  flag: string;
  variable: string;
  /** `required`, or the default as shown. */
  default: string;
  help: string;
}

/** The help text's flags, in order. */
export function helpEntries(text: string): HelpEntry[] {
  const lines = text.split("\n");
  const out: HelpEntry[] = [];
  lines.forEach((line, i) => {
    const m = /^ {2}--([a-z0-9-]+)=<[^>]*> {3}(PORTICO_[A-Z0-9_]+) {3}\((required|default: (.*))\)$/.exec(
      line,
    );
    if (m)
      out.push({
        flag: m[1]!,
        variable: m[2]!,
        default: m[4] ?? "required",
        help: (lines[i + 1] ?? "").trim(),
      });
  });
  return out;
}

/** Each flag of a table with its variable: what its help must list. */
export const tableVariables = (table: FlagTable<string>) =>
  Object.keys(table).map((k) => ({ flag: k, variable: envName(k) }));
