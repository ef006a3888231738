/**
 * The GatewayRoute table: compiles routes once into sorted buckets, then matches requests against them.
 * Pure: no I/O, no clock; the same routes in any order give the same table.
 *
 * What a match means (Gateway API's HTTPRoute where this comment says nothing else):
 * - Hosts: absent or empty `spec.hosts` means any host. `*.example.com` stands for one or more labels:
 *   it matches `a.example.com` and `a.b.example.com`, never `example.com`. Hosts compare lower case;
 *   the request's host comes without its port.
 * - Paths: Exact compares the whole path. PathPrefix matches whole segments: `/api` matches `/api`,
 *   `/api/` and `/api/x`, not `/apix`; `/api/` behaves exactly like `/api`. The hit's `matchedPrefix` is
 *   the prefix without its trailing slash (`/` stays `/`).
 * - Methods: when listed (non-empty), the request's method must be one of them (case-sensitive, as HTTP
 *   methods are). An empty list counts as absent.
 * - Headers: every condition must hold. Names are case-insensitive. Exact compares the value;
 *   RegularExpression must match the whole value (RE2 syntax, anchored at both ends). A multi-valued
 *   header matches when any of its values does; a missing header fails its condition.
 * - Regular expressions run on re2js (a pure-JS port of RE2): matching time is linear in the header's
 *   length whatever the pattern, so no route can stall the event loop that serves everyone (a JS
 *   RegExp took 22 s on `(a+)+` and 30 bytes). What RE2 cannot express in linear time —
 *   backreferences, lookahead, lookbehind — does not compile: a problem naming the field.
 * - Defaults the API server may not have applied: no `matches` is one match on PathPrefix `/`; a path
 *   without type is a PathPrefix, without value `/`; a header match without type is Exact.
 *
 * Precedence is model.ts's, steps 1–5. A route without `creationTimestamp` counts as the newest;
 * `namespace/name` compares as one string, code unit by code unit (byte order for the ASCII names
 * Kubernetes allows).
 *
 * Layout: every (route, host, rule, match) is one entry. All entries are sorted once by precedence and
 * dealt into buckets: a Map by exact host, a Map by wildcard suffix (`.example.com`), and one list for
 * routes without hosts. A lookup scans the exact bucket, then the wildcard buckets from the request's
 * longest suffix to its shortest, then the any-host list, and returns the first entry that fits: step 1
 * is decided by the order of the buckets, steps 2–5 by the order inside each.
 *
 * Problems (the route is not served at all): a RegularExpression that RE2 does not compile, or that
 * is longer than the schema allows; a `url` backend the address policy refuses (address.ts: pod and
 * service CIDRs, loopback, link-local, metadata, cluster-internal names). Everything the schema and its CEL rules refuse is not checked again.
 *
 * Conflicts: two matches of different routes with the same host key (the same exact host, the same
 * wildcard, or both any-host), the same path type and (normalised) value, the same set of methods and the
 * same set of header conditions. The one step 5 puts first serves; each other route's match is dropped
 * for that host and reported. Identical matches within one route are not conflicts.
 */
import { RE2JS } from "re2js";
import type { GatewayRoute, HeaderMatch, RouteMatch } from "../../../crds/types.ts";
import { DEFAULT_URL_POLICY, URL_POLICY_HINT, type UrlPolicy } from "./address.ts";
import type {
  CompileGatewayTable,
  GatewayHit,
  GatewayTable,
  RequestFacts,
  RouteConflict,
  RouteProblem,
  RuleRef,
} from "./model.ts";

/** Longest RegularExpression header value: the schema's maxLength for `headers[].value`. */
export const MAX_HEADER_REGEX_LENGTH = 4096;

const DEFAULT_MATCHES: readonly RouteMatch[] = [{ path: { type: "PathPrefix", value: "/" } }];

/** Step 1 tiers, in precedence order. */
const EXACT_HOST = 0;
const WILDCARD_HOST = 1;
const ANY_HOST = 2;
type HostTier = typeof EXACT_HOST | typeof WILDCARD_HOST | typeof ANY_HOST;

/** A header condition, compiled. */
interface HeaderTest {
  /** Lower case, as in Node's `req.headers`. */
  name: string;
  test: (value: string) => boolean;
  /** Canonical form, for conflict detection. */
  canon: string;
}

/** One (route, host, rule, match), compiled. */
interface Entry {
  ref: RuleRef;
  routeKey: string;
  /** creationTimestamp in ms; MAX_SAFE_INTEGER when absent or unreadable. */
  created: number;
  matchIndex: number;
  tier: HostTier;
  /** The host as written, `*.example.com`, or `*` for any host. */
  host: string;
  /** Wildcard: `.example.com`; otherwise "". */
  suffix: string;
  exact: boolean;
  /** Exact: the value; PathPrefix: the value without its trailing slash. */
  path: string;
  /** PathPrefix: `path + "/"` ("/" for the root), what a longer request path starts with. */
  pathSlash: string;
  /** Sorted, deduplicated; undefined when any method fits. */
  methods: readonly string[] | undefined;
  headers: readonly HeaderTest[];
}

/** `namespace/name`, the key of problems and conflicts. */
function routeKeyOf(route: GatewayRoute): string {
  return `${route.metadata.namespace ?? ""}/${route.metadata.name ?? ""}`;
}

function createdMs(route: GatewayRoute): number {
  const t = route.metadata.creationTimestamp;
  const ms = t instanceof Date ? t.getTime() : t === undefined ? NaN : Date.parse(t);
  return Number.isNaN(ms) ? Number.MAX_SAFE_INTEGER : ms;
}

/** `/api/` → `/api`; `/` stays `/`. */
function trimSlash(prefix: string): string {
  return prefix.length > 1 && prefix.endsWith("/") ? prefix.slice(0, -1) : prefix;
}

function compileHeader(h: HeaderMatch, field: string, problems: RouteProblem[]): HeaderTest | undefined {
  const name = h.name.toLowerCase();
  const type = h.type ?? "Exact";
  const value = h.value;
  const canon = JSON.stringify([name, type, value]);
  if (type !== "RegularExpression") return { name, canon, test: (v) => v === value };
  if (value.length > MAX_HEADER_REGEX_LENGTH) {
    problems.push({ field, message: `regular expression longer than ${MAX_HEADER_REGEX_LENGTH} characters` });
    return undefined;
  }
  const re = compileRegex(value);
  if (typeof re === "string") {
    problems.push({ field, message: re });
    return undefined;
  }
  return { name, canon, test: (v) => re.testExact(v) };
}

/**
 * A header regex compiled once with RE2 (linear-time matching), or why it cannot be: the message
 * starts with "Invalid regular expression" and says what RE2 refused. `testExact` anchors at both
 * ends itself: no wrapping group that a pattern like `a)|(b` could escape.
 */
export function compileRegex(pattern: string): RE2JS | string {
  try {
    return RE2JS.compile(pattern);
  } catch (err) {
    const why = (err instanceof Error ? err.message : String(err)).replace(/^error parsing regexp: /, "");
    const hint = /\\[1-9]|\(\?<?[=!]/.test(pattern)
      ? " (RE2 syntax: backreferences and lookaround are not supported)"
      : " (RE2 syntax)";
    return `Invalid regular expression${hint}: ${why}`;
  }
}

/** A route's entries, or its problems. */
function compileRoute(
  route: GatewayRoute,
  urlPolicy: UrlPolicy,
): { entries: Entry[]; problems: RouteProblem[] } {
  const routeKey = routeKeyOf(route);
  const created = createdMs(route);
  const hostList = (route.spec.hosts ?? []).map((h) => h.toLowerCase());
  const hosts = hostList.length > 0 ? hostList : ["*"];
  const entries: Entry[] = [];
  const problems: RouteProblem[] = [];
  route.spec.rules.forEach((rule, ruleIndex) => {
    const ref: RuleRef = {
      key: `${routeKey}#${ruleIndex}`,
      namespace: route.metadata.namespace ?? "",
      route: route.metadata.name ?? "",
      ruleIndex,
      ruleName: rule.name ?? String(ruleIndex),
      rule,
      generation: route.metadata.generation ?? 0,
    };
    rule.backends.forEach((b, j) => {
      const why = b.url === undefined ? undefined : urlPolicy.checkUrl(b.url);
      if (why)
        problems.push({
          field: `spec.rules[${ruleIndex}].backends[${j}].url`,
          message: `${why}: ${URL_POLICY_HINT}`,
        });
    });
    const matches = rule.matches && rule.matches.length > 0 ? rule.matches : DEFAULT_MATCHES;
    matches.forEach((m, matchIndex) => {
      const field = `spec.rules[${ruleIndex}].matches[${matchIndex}]`;
      const headers: HeaderTest[] = [];
      (m.headers ?? []).forEach((h, k) => {
        const t = compileHeader(h, `${field}.headers[${k}].value`, problems);
        if (t) headers.push(t);
      });
      const exact = m.path?.type === "Exact";
      const value = m.path?.value ?? "/";
      const path = exact ? value : trimSlash(value);
      const methods = m.methods && m.methods.length > 0 ? [...new Set<string>(m.methods)].sort() : undefined;
      for (const host of hosts) {
        const tier = host === "*" ? ANY_HOST : host.startsWith("*.") ? WILDCARD_HOST : EXACT_HOST;
        entries.push({
          ref,
          routeKey,
          created,
          matchIndex,
          tier,
          host,
          suffix: tier === WILDCARD_HOST ? host.slice(1) : "",
          exact,
          path,
          pathSlash: path === "/" ? "/" : `${path}/`,
          methods,
          headers,
        });
      }
    });
  });
  return { entries, problems };
}

function cmp(a: number | string, b: number | string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** model.ts's precedence: negative when `a` wins. The last key (host) only makes the order total. */
function byPrecedence(a: Entry, b: Entry): number {
  return (
    // 1. exact host, then wildcard (longer suffix first), then any host
    a.tier - b.tier ||
    b.suffix.length - a.suffix.length ||
    // 2. Exact path, then longer prefix
    Number(b.exact) - Number(a.exact) ||
    b.path.length - a.path.length ||
    // 3. methods named
    Number(b.methods !== undefined) - Number(a.methods !== undefined) ||
    // 4. more header conditions
    b.headers.length - a.headers.length ||
    // 5. older route, namespace/name, rule, match
    cmp(a.created, b.created) ||
    cmp(a.routeKey, b.routeKey) ||
    a.ref.ruleIndex - b.ref.ruleIndex ||
    a.matchIndex - b.matchIndex ||
    cmp(a.host, b.host)
  );
}

/** Entries that tie on steps 1–4 and accept exactly the same requests share this key. */
function conflictKey(e: Entry): string {
  const headers = e.headers.map((h) => h.canon).sort();
  return JSON.stringify([e.host, e.exact, e.path, e.methods ?? null, headers]);
}

/** Drops the entries that lose to another route's identical entry; reports them per route. */
function resolveConflicts(sorted: readonly Entry[]): {
  served: Entry[];
  conflicts: Map<string, RouteConflict[]>;
} {
  const winners = new Map<string, string>(); // conflict key → routeKey of its first (winning) entry
  const served: Entry[] = [];
  const lost: { entry: Entry; conflict: RouteConflict }[] = [];
  for (const e of sorted) {
    const key = conflictKey(e);
    const winner = winners.get(key);
    if (winner === undefined) winners.set(key, e.routeKey);
    if (winner === undefined || winner === e.routeKey) {
      served.push(e);
      continue;
    }
    const field = `spec.rules[${e.ref.ruleIndex}].matches[${e.matchIndex}]`;
    lost.push({ entry: e, conflict: { field, winner, host: e.host, path: e.path } });
  }
  lost.sort(
    (a, b) =>
      cmp(a.entry.routeKey, b.entry.routeKey) ||
      a.entry.ref.ruleIndex - b.entry.ref.ruleIndex ||
      a.entry.matchIndex - b.entry.matchIndex ||
      cmp(a.entry.host, b.entry.host),
  );
  const conflicts = new Map<string, RouteConflict[]>();
  for (const { entry, conflict } of lost) {
    const list = conflicts.get(entry.routeKey);
    if (list) list.push(conflict);
    else conflicts.set(entry.routeKey, [conflict]);
  }
  return { served, conflicts };
}

function headerFits(h: HeaderTest, value: string | string[] | undefined): boolean {
  if (value === undefined) return false;
  return typeof value === "string" ? h.test(value) : value.some(h.test);
}

function fits(e: Entry, req: RequestFacts): boolean {
  if (e.exact ? req.path !== e.path : req.path !== e.path && !req.path.startsWith(e.pathSlash)) return false;
  if (e.methods !== undefined && !e.methods.includes(req.method)) return false;
  for (const h of e.headers) if (!headerFits(h, req.headers[h.name])) return false;
  return true;
}

function first(bucket: readonly Entry[] | undefined, req: RequestFacts): GatewayHit | undefined {
  if (bucket === undefined) return undefined;
  for (const e of bucket) {
    if (fits(e, req)) return e.exact ? { ref: e.ref } : { ref: e.ref, matchedPrefix: e.path };
  }
  return undefined;
}

function push<K>(map: Map<K, Entry[]>, key: K, e: Entry): void {
  const list = map.get(key);
  if (list) list.push(e);
  else map.set(key, [e]);
}

/** Compiles GatewayRoutes (as the API returns them) into a table; routes being deleted are skipped. */
export const compileGatewayTable: CompileGatewayTable = (
  routes,
  urlPolicy = DEFAULT_URL_POLICY,
): GatewayTable => {
  const problems = new Map<string, RouteProblem[]>();
  const entries: Entry[] = [];
  for (const route of routes) {
    if (route.metadata.deletionTimestamp) continue;
    const compiled = compileRoute(route, urlPolicy);
    if (compiled.problems.length > 0) problems.set(routeKeyOf(route), compiled.problems);
    else entries.push(...compiled.entries);
  }
  entries.sort(byPrecedence);
  const { served, conflicts } = resolveConflicts(entries);

  const exactHosts = new Map<string, Entry[]>();
  const wildcards = new Map<string, Entry[]>();
  const anyHost: Entry[] = [];
  const rules: RuleRef[] = [];
  const seen = new Set<RuleRef>();
  for (const e of served) {
    if (e.tier === EXACT_HOST) push(exactHosts, e.host, e);
    else if (e.tier === WILDCARD_HOST) push(wildcards, e.suffix, e);
    else anyHost.push(e);
    if (!seen.has(e.ref)) {
      seen.add(e.ref);
      rules.push(e.ref);
    }
  }

  return {
    match(req) {
      const host = req.host.toLowerCase();
      const exactHit = first(exactHosts.get(host), req);
      if (exactHit) return exactHit;
      if (wildcards.size > 0) {
        // Longest suffix first; starting at 1 keeps at least one character in place of the `*`.
        for (let i = host.indexOf(".", 1); i !== -1; i = host.indexOf(".", i + 1)) {
          const hit = first(wildcards.get(host.slice(i)), req);
          if (hit) return hit;
        }
      }
      return first(anyHost, req);
    },
    rules: Object.freeze(rules),
    problems: new Map([...problems].sort(([a], [b]) => cmp(a, b))),
    conflicts,
  };
};
