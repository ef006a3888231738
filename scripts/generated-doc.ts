/**
 * The command-line side of a generated document (docs/crd-reference.md, docs/configuration.md):
 * write it, or with `--check` say whether the committed file is what the generator makes now.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { relative } from "node:path";

export interface GeneratedDoc {
  /** How to run the generator, for messages (e.g. `node scripts/crd-reference.ts`). */
  command: string;
  /** Default output file. */
  output: string;
  /** `--name=value` options the generator takes besides `--out`. */
  options: readonly string[];
  /** What a stale file means, e.g. "crds/ changed since it was generated". */
  staleBecause: string;
  /** Renders the document from the parsed options. */
  render(opt: (name: string) => string | undefined): string;
}

/** Writes the document, or with `--check` reports whether it is current. Returns the exit status. */
export function runGenerator(doc: GeneratedDoc, argv: readonly string[]): number {
  const opt = (name: string) => argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  const known = new RegExp(`^--(${[...doc.options, "out"].join("|")})=`);
  const unknown = argv.filter((a) => a !== "--check" && !known.test(a));
  if (unknown.length) {
    console.error(`unknown argument ${unknown.join(" ")}; usage: ${doc.command} [--check]`);
    return 2;
  }
  const out = opt("out") ?? doc.output;
  const rendered = doc.render(opt);
  const shown = relative(process.cwd(), out) || out;
  if (argv.includes("--check")) {
    let current: string | undefined;
    try {
      current = readFileSync(out, "utf8");
    } catch {
      current = undefined;
    }
    if (current === rendered) return 0;
    console.error(
      `${shown} ${current === undefined ? "is missing" : `is stale: ${doc.staleBecause}`}; run \`${doc.command}\` and commit the result`,
    );
    return 1;
  }
  writeFileSync(out, rendered);
  console.log(`wrote ${shown}`);
  return 0;
}

/** Text for a Markdown table cell: one line, pipes escaped, no raw HTML. */
export function text(s: string): string {
  return s.replace(/\s+/g, " ").trim().replace(/</g, "&lt;").replace(/\|/g, "\\|");
}

/**
 * A code span for a Markdown table cell: pipes escaped (GFM tables), backticks in the value fenced
 * around, padded when the value starts or ends with a backtick.
 */
export function code(s: string): string {
  const one = s.replace(/\s+/g, " ").trim().replace(/\|/g, "\\|");
  const ticks = Math.max(0, ...(one.match(/`+/g) ?? []).map((t) => t.length));
  const fence = "`".repeat(ticks + 1);
  const pad = ticks || one.startsWith("`") || one.endsWith("`") ? " " : "";
  return `${fence}${pad}${one}${pad}${fence}`;
}
