/**
 * Which metric names a dashboard or alert rule reads, and which names a component exposes: enough to
 * check that every query names series that exist (e2e/tests/metrics.test.ts), without a PromQL parser.
 *
 * `metricNames` is a small tokenizer. What it sees and what it does not:
 *   - skipped: strings ("…", '…', `…`), label matchers in `{…}`, ranges and subqueries in `[…]`,
 *     numbers (1e3, 0x1f, durations after `offset`), Grafana variables (`$namespace`, `${x}`,
 *     `$__rate_interval`);
 *   - an identifier followed by `(` (or by `by (`/`without (`) is a function or an aggregation; `by`, `without`, `on`,
 *     `ignoring`, `group_left`, `group_right` and the label list after them are labels; `and`, `or`,
 *     `unless`, `bool`, `offset`, `inf`, `nan` are keywords; every other identifier is a metric name;
 *   - not seen: a name given only as `{__name__="…"}` or through a regex on `__name__`, names built
 *     by Grafana variables or `label_replace`, and recording rules' names (Portico ships none). A
 *     name followed by `(` (a user-defined function does not exist in PromQL) is taken for a function.
 */

const GROUPING = new Set(["by", "without", "on", "ignoring", "group_left", "group_right"]);
const KEYWORDS = new Set(["and", "or", "unless", "bool", "offset", "inf", "nan"]);
const IDENT = /[a-zA-Z_:][a-zA-Z0-9_:]*/y;
const NUMBER = /(0x[0-9a-fA-F]+|[0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?)([a-zA-Z]+[0-9]*)*/y;

/** The index just past the bracket that closes the one at `i` (strings inside are skipped). */
function closing(s: string, i: number): number {
  const open = s[i]!;
  const close = open === "{" ? "}" : open === "[" ? "]" : ")";
  let depth = 0;
  for (let j = i; j < s.length; j++) {
    const ch = s[j]!;
    if (ch === '"' || ch === "'" || ch === "`") j = stringEnd(s, j) - 1;
    else if (ch === open) depth++;
    else if (ch === close && --depth === 0) return j + 1;
  }
  throw new Error(`unbalanced ${open} at ${i} in ${JSON.stringify(s)}`);
}

/** The index just past the string literal starting at `i`. */
function stringEnd(s: string, i: number): number {
  const q = s[i]!;
  for (let j = i + 1; j < s.length; j++) {
    if (s[j] === "\\" && q !== "`") j++;
    else if (s[j] === q) return j + 1;
  }
  throw new Error(`unterminated string at ${i} in ${JSON.stringify(s)}`);
}

const nextNonSpace = (s: string, i: number): number => {
  while (i < s.length && /\s/.test(s[i]!)) i++;
  return i;
};

/** Whether `by` or `without` starts at `i`: the word before was an aggregation (`sum by (le) (…)`). */
const groupedAggregation = (s: string, i: number): boolean => /^(by|without)\s*\(/.test(s.slice(i, i + 12));

/** The metric names `expr` reads, each once, in order of first appearance. */
export function metricNames(expr: string): string[] {
  const names: string[] = [];
  let i = 0;
  let skipNext = false; // the token after `offset` is a duration
  while (i < expr.length) {
    const ch = expr[i]!;
    if (/\s/.test(ch)) i++;
    else if (ch === '"' || ch === "'" || ch === "`") i = stringEnd(expr, i);
    else if (ch === "{" || ch === "[") i = closing(expr, i);
    else if (ch === "$") {
      i++;
      if (expr[i] === "{") i = closing(expr, i);
      else while (i < expr.length && /[a-zA-Z0-9_]/.test(expr[i]!)) i++;
    } else if (/[0-9.]/.test(ch)) {
      NUMBER.lastIndex = i;
      i = NUMBER.exec(expr) ? NUMBER.lastIndex : i + 1;
      skipNext = false;
    } else if (/[a-zA-Z_:]/.test(ch)) {
      IDENT.lastIndex = i;
      const word = IDENT.exec(expr)![0];
      i = IDENT.lastIndex;
      const after = nextNonSpace(expr, i);
      if (skipNext) skipNext = false;
      else if (GROUPING.has(word)) {
        if (expr[after] === "(") i = closing(expr, after);
      } else if (KEYWORDS.has(word.toLowerCase())) skipNext = word === "offset";
      else if (expr[after] !== "(" && !groupedAggregation(expr, after) && !names.includes(word))
        names.push(word);
    } else i++;
  }
  return names;
}

/**
 * The metric names a Grafana dashboard's queries read: every panel target's `expr` (rows' nested
 * panels too) and every query variable's `label_values(metric, label)` / `query_result(expr)`.
 */
export function dashboardMetricNames(dashboard: unknown): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const d = dashboard as {
    panels?: { title?: string; targets?: { expr?: string }[]; panels?: unknown[] }[];
    templating?: { list?: { name: string; query?: string | { query?: string } }[] };
  };
  const visit = (panels: typeof d.panels) => {
    for (const p of panels ?? []) {
      for (const t of p.targets ?? []) if (t.expr) out.set(t.expr, metricNames(t.expr));
      visit(p.panels as typeof d.panels);
    }
  };
  visit(d.panels);
  for (const v of d.templating?.list ?? []) {
    const q = typeof v.query === "string" ? v.query : v.query?.query;
    const m = q && /^\s*(?:label_values\(\s*(.*),\s*[a-zA-Z_]\w*\s*\)|query_result\((.*)\))\s*$/.exec(q);
    if (m) out.set(q, metricNames(m[1] ?? m[2]!));
  }
  return out;
}

/**
 * The series names in a Prometheus text exposition: every sample's name, and for each declared
 * family (`# TYPE`) the names its samples would have, so a labelled counter that has not counted
 * yet (an error counter, say) still counts as exposed — Prometheus sees it as soon as it counts.
 */
export function exposedNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const line of text.split("\n")) {
    const type = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (\w+)/.exec(line);
    if (type) {
      const [, name, kind] = type as unknown as [string, string, string];
      names.add(name);
      if (kind === "histogram") for (const s of ["_bucket", "_sum", "_count"]) names.add(name + s);
      if (kind === "summary") for (const s of ["_sum", "_count"]) names.add(name + s);
      continue;
    }
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/.exec(line);
    if (sample) names.add(sample[1]!);
  }
  return names;
}
