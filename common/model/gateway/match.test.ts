import assert from "node:assert/strict";
import { test } from "node:test";
import type { GatewayRoute, ObjectMeta, RouteMatch, RouteRule } from "../../../crds/types.ts";
import { MAX_HEADER_REGEX_LENGTH, compileGatewayTable, compileRegex } from "./match.ts";
import type { GatewayTable, RequestFacts } from "./model.ts";

// ---------------------------------------------------------------------------------------------------------
// Fixtures

/** Day `n` of January 2024: a smaller n is an older route. */
const day = (n: number): string => `2024-01-${String(n).padStart(2, "0")}T00:00:00Z`;

/** A rule with the given matches (none: the API's default is left out, as when it was not applied). */
function rule(matches?: RouteMatch[], name?: string): RouteRule {
  return {
    ...(name === undefined ? {} : { name }),
    ...(matches === undefined ? {} : { matches }),
    backends: [{ service: { name: "svc", port: 80 } }],
  };
}

/** A GatewayRoute in `team-a` (unless meta says otherwise), created on day 1 unless told. */
function gwr(name: string, hosts: string[] | undefined, rules: RouteRule[], meta: Partial<ObjectMeta> = {}) {
  const route: GatewayRoute = {
    apiVersion: "portico.dev/v1alpha1",
    kind: "GatewayRoute",
    metadata: { name, namespace: "team-a", generation: 1, creationTimestamp: day(1), ...meta },
    spec: { ...(hosts === undefined ? {} : { hosts }), rules },
  };
  return route;
}

/** Shorthand for one rule with one match. */
function one(name: string, hosts: string[] | undefined, match: RouteMatch, created: number, ns = "team-a") {
  return gwr(name, hosts, [rule([match])], { creationTimestamp: day(created), namespace: ns });
}

const prefix = (value: string): RouteMatch["path"] => ({ type: "PathPrefix", value });
const exact = (value: string): RouteMatch["path"] => ({ type: "Exact", value });

function req(
  host: string,
  path: string,
  method = "GET",
  headers: RequestFacts["headers"] = {},
): RequestFacts {
  return { host, path, method, headers };
}

interface Case {
  why: string;
  req: RequestFacts;
  /** Expected `namespace/name#rule`, or undefined for no match. */
  want: string | undefined;
  /** When present, the expected matchedPrefix (undefined: an Exact path matched). */
  prefix?: string | undefined;
}

function check(table: GatewayTable, cases: readonly Case[]): void {
  for (const c of cases) {
    const hit = table.match(c.req);
    assert.equal(hit?.ref.key, c.want, c.why);
    if ("prefix" in c) assert.equal(hit?.matchedPrefix, c.prefix, `${c.why}: matchedPrefix`);
  }
}

/** Deterministic shuffle (a small LCG), so a failing order can be reproduced. */
function shuffled<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  let s = seed;
  for (let i = out.length - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) % 2147483648;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Precedence: each step decided by itself (earlier steps tied, later steps and age pointing the other way)

const PRECEDENCE_ROUTES: GatewayRoute[] = [
  // 1. exact host over wildcard over any host: the exact one is the newest.
  one("s1-any", undefined, { path: prefix("/s1") }, 1),
  one("s1-wild", ["*.s1.test"], { path: prefix("/s1") }, 2),
  one("s1-exact", ["a.s1.test"], { path: prefix("/s1") }, 3),
  // 1. longer wildcard suffix over shorter: the longer one is newer.
  one("s1b-short", ["*.s1b.test"], { path: prefix("/") }, 1),
  one("s1b-long", ["*.deep.s1b.test"], { path: prefix("/") }, 2),
  // 2. Exact over PathPrefix, same value; the Exact route is newer.
  one("s2-prefix", ["s2.test"], { path: prefix("/app") }, 1),
  one("s2-exact", ["s2.test"], { path: exact("/app") }, 2),
  // 2. longer prefix over shorter; the longer is newer.
  one("s2b-short", ["s2b.test"], { path: prefix("/api") }, 1),
  one("s2b-long", ["s2b.test"], { path: prefix("/api/v1") }, 2),
  // 3. methods named over none; the one naming methods is newer.
  one("s3-any", ["s3.test"], { path: prefix("/") }, 1),
  one("s3-get", ["s3.test"], { path: prefix("/"), methods: ["GET", "HEAD"] }, 2),
  // 4. more header conditions over fewer; the one with more is newer.
  one("s4-one", ["s4.test"], { headers: [{ name: "x-a", value: "1" }] }, 1),
  one(
    "s4-two",
    ["s4.test"],
    {
      headers: [
        { name: "x-a", value: "1" },
        { name: "x-b", value: "2" },
      ],
    },
    2,
  ),
  // 5. age: the older route wins although its name sorts later.
  one("s5-new", ["s5.test"], { headers: [{ name: "x-a", value: "1" }] }, 2),
  one("s5-old", ["s5.test"], { headers: [{ name: "x-b", value: "1" }] }, 1),
  // 5. same age: namespace/name in byte order (team-a/... before team-b/..., whatever the name).
  one("s5b-b", ["s5b.test"], { headers: [{ name: "x-a", value: "1" }] }, 1),
  one("s5b-a", ["s5b.test"], { headers: [{ name: "x-b", value: "1" }] }, 1),
  one("s5c-a", ["s5c.test"], { headers: [{ name: "x-a", value: "1" }] }, 1, "team-b"),
  one("s5c-z", ["s5c.test"], { headers: [{ name: "x-b", value: "1" }] }, 1, "team-a"),
  // 5. same route: the earlier rule.
  gwr(
    "s5d",
    ["s5d.test"],
    [rule([{ headers: [{ name: "x-a", value: "1" }] }]), rule([{ headers: [{ name: "x-b", value: "1" }] }])],
  ),
  // A missing creationTimestamp counts as the newest; a Date (client-node's deserializer) is read too.
  gwr("s5e-a", ["s5e.test"], [rule([{ headers: [{ name: "x-a", value: "1" }] }])], {
    creationTimestamp: undefined,
  }),
  gwr("s5e-b", ["s5e.test"], [rule([{ headers: [{ name: "x-b", value: "1" }] }])], {
    creationTimestamp: new Date(day(20)),
  }),
  // Steps in order: host (1) before path (2), path before methods (3), methods before headers (4).
  one("o12-any-exact", undefined, { path: exact("/o12/x") }, 1),
  one("o12-host-root", ["o12.test"], { path: prefix("/") }, 2),
  one("o23-methods", ["o23.test"], { path: prefix("/"), methods: ["GET"] }, 1),
  one("o23-longer", ["o23.test"], { path: prefix("/x") }, 2),
  one(
    "o34-headers",
    ["o34.test"],
    {
      headers: [
        { name: "x-a", value: "1" },
        { name: "x-b", value: "2" },
      ],
    },
    1,
  ),
  one("o34-methods", ["o34.test"], { methods: ["GET"] }, 2),
];

const both = { "x-a": "1", "x-b": "2" };
const bothOnes = { "x-a": "1", "x-b": "1" };

const PRECEDENCE_CASES: Case[] = [
  { why: "1: exact host beats wildcard and any", req: req("a.s1.test", "/s1"), want: "team-a/s1-exact#0" },
  { why: "1: wildcard beats any", req: req("b.s1.test", "/s1"), want: "team-a/s1-wild#0" },
  { why: "1: any host", req: req("elsewhere.test", "/s1"), want: "team-a/s1-any#0" },
  { why: "1: longer wildcard", req: req("x.deep.s1b.test", "/"), want: "team-a/s1b-long#0" },
  { why: "1: longer wildcard, two labels", req: req("x.y.deep.s1b.test", "/"), want: "team-a/s1b-long#0" },
  { why: "1: shorter wildcard", req: req("x.s1b.test", "/"), want: "team-a/s1b-short#0" },
  {
    why: "1: *.deep.s1b.test is not deep.s1b.test",
    req: req("deep.s1b.test", "/"),
    want: "team-a/s1b-short#0",
  },
  { why: "2: Exact over prefix", req: req("s2.test", "/app"), want: "team-a/s2-exact#0", prefix: undefined },
  {
    why: "2: prefix past the Exact",
    req: req("s2.test", "/app/x"),
    want: "team-a/s2-prefix#0",
    prefix: "/app",
  },
  {
    why: "2: longer prefix",
    req: req("s2b.test", "/api/v1/x"),
    want: "team-a/s2b-long#0",
    prefix: "/api/v1",
  },
  { why: "2: longer prefix, itself", req: req("s2b.test", "/api/v1"), want: "team-a/s2b-long#0" },
  { why: "2: shorter prefix", req: req("s2b.test", "/api/v2"), want: "team-a/s2b-short#0", prefix: "/api" },
  { why: "3: methods named", req: req("s3.test", "/x", "GET"), want: "team-a/s3-get#0" },
  { why: "3: HEAD is listed too", req: req("s3.test", "/x", "HEAD"), want: "team-a/s3-get#0" },
  { why: "3: other method falls through", req: req("s3.test", "/x", "POST"), want: "team-a/s3-any#0" },
  { why: "4: more headers", req: req("s4.test", "/", "GET", both), want: "team-a/s4-two#0" },
  { why: "4: fewer headers", req: req("s4.test", "/", "GET", { "x-a": "1" }), want: "team-a/s4-one#0" },
  { why: "4: no header fits", req: req("s4.test", "/", "GET", { "x-b": "2" }), want: undefined },
  { why: "5: older route", req: req("s5.test", "/", "GET", bothOnes), want: "team-a/s5-old#0" },
  { why: "5: name order", req: req("s5b.test", "/", "GET", bothOnes), want: "team-a/s5b-a#0" },
  { why: "5: namespace/name order", req: req("s5c.test", "/", "GET", bothOnes), want: "team-a/s5c-z#0" },
  { why: "5: earlier rule", req: req("s5d.test", "/", "GET", bothOnes), want: "team-a/s5d#0" },
  { why: "5: later rule alone", req: req("s5d.test", "/", "GET", { "x-b": "1" }), want: "team-a/s5d#1" },
  { why: "5: no timestamp = newest", req: req("s5e.test", "/", "GET", bothOnes), want: "team-a/s5e-b#0" },
  { why: "1 before 2", req: req("o12.test", "/o12/x"), want: "team-a/o12-host-root#0", prefix: "/" },
  { why: "1 before 2: other host", req: req("x.test", "/o12/x"), want: "team-a/o12-any-exact#0" },
  { why: "2 before 3", req: req("o23.test", "/x/y", "GET"), want: "team-a/o23-longer#0" },
  { why: "3 before 4", req: req("o34.test", "/", "GET", both), want: "team-a/o34-methods#0" },
  { why: "3 before 4: POST", req: req("o34.test", "/", "POST", both), want: "team-a/o34-headers#0" },
];

test("precedence: every step decides by itself, in model.ts's order", () => {
  const table = compileGatewayTable(PRECEDENCE_ROUTES);
  assert.deepEqual(table.problems, new Map());
  assert.deepEqual(table.conflicts, new Map());
  check(table, PRECEDENCE_CASES);
});

test("precedence: the input order does not matter", () => {
  for (const seed of [1, 2, 3, 42, 1234]) {
    check(compileGatewayTable(shuffled(PRECEDENCE_ROUTES, seed)), PRECEDENCE_CASES);
  }
});

// ---------------------------------------------------------------------------------------------------------
// Matching

test("defaults the API server may not have applied", () => {
  const table = compileGatewayTable([
    gwr("no-matches", ["d1.test"], [rule()]),
    gwr("empty-path", ["d2.test"], [rule([{ path: {} }])]),
    gwr("no-path", ["d3.test"], [rule([{ methods: ["GET"] }])]),
    gwr("untyped-path", ["d4.test"], [rule([{ path: { value: "/x" } }])]),
    gwr("exact-no-value", ["d5.test"], [rule([{ path: { type: "Exact" } }])]),
    gwr("untyped-header", ["d6.test"], [rule([{ headers: [{ name: "x-v", value: "a.*" }] }])]),
  ]);
  check(table, [
    {
      why: "no matches: prefix /",
      req: req("d1.test", "/any/thing"),
      want: "team-a/no-matches#0",
      prefix: "/",
    },
    { why: "path {}: prefix /", req: req("d2.test", "/any"), want: "team-a/empty-path#0", prefix: "/" },
    { why: "no path: prefix /", req: req("d3.test", "/any"), want: "team-a/no-path#0", prefix: "/" },
    { why: "untyped path: prefix", req: req("d4.test", "/x/y"), want: "team-a/untyped-path#0", prefix: "/x" },
    { why: "untyped path: segments", req: req("d4.test", "/xy"), want: undefined },
    {
      why: "Exact without value: /",
      req: req("d5.test", "/"),
      want: "team-a/exact-no-value#0",
      prefix: undefined,
    },
    { why: "Exact without value: not /x", req: req("d5.test", "/x"), want: undefined },
    {
      why: "untyped header: Exact",
      req: req("d6.test", "/", "GET", { "x-v": "a.*" }),
      want: "team-a/untyped-header#0",
    },
    {
      why: "untyped header: not a regex",
      req: req("d6.test", "/", "GET", { "x-v": "abc" }),
      want: undefined,
    },
  ]);
  const ref = table.match(req("d1.test", "/"))?.ref;
  assert.deepEqual(
    { ...ref, rule: undefined },
    {
      key: "team-a/no-matches#0",
      namespace: "team-a",
      route: "no-matches",
      ruleIndex: 0,
      ruleName: "0",
      rule: undefined,
      generation: 1,
    },
  );
});

test("PathPrefix matches on segment boundaries; a trailing slash changes nothing", () => {
  const table = compileGatewayTable([
    one("api", ["p.test"], { path: prefix("/api") }, 1),
    one("slash", ["q.test"], { path: prefix("/api/") }, 1),
    one("exact", ["r.test"], { path: exact("/api/") }, 1),
  ]);
  const api = "team-a/api#0";
  const slash = "team-a/slash#0";
  check(table, [
    { why: "/api itself", req: req("p.test", "/api"), want: api, prefix: "/api" },
    { why: "/api/", req: req("p.test", "/api/"), want: api, prefix: "/api" },
    { why: "/api/x", req: req("p.test", "/api/x"), want: api, prefix: "/api" },
    { why: "not /apix", req: req("p.test", "/apix"), want: undefined },
    { why: "not /ap", req: req("p.test", "/ap"), want: undefined },
    { why: "not /", req: req("p.test", "/"), want: undefined },
    { why: "paths are case-sensitive", req: req("p.test", "/API"), want: undefined },
    { why: "/api/ prefix: /api", req: req("q.test", "/api"), want: slash, prefix: "/api" },
    { why: "/api/ prefix: /api/", req: req("q.test", "/api/"), want: slash, prefix: "/api" },
    { why: "/api/ prefix: /api/x", req: req("q.test", "/api/x"), want: slash, prefix: "/api" },
    { why: "/api/ prefix: not /apix", req: req("q.test", "/apix"), want: undefined },
    { why: "Exact /api/ is exact", req: req("r.test", "/api/"), want: "team-a/exact#0", prefix: undefined },
    { why: "Exact /api/ is not /api", req: req("r.test", "/api"), want: undefined },
  ]);
});

test("hosts: wildcard depth, case, any host", () => {
  const table = compileGatewayTable([
    one("wild", ["*.example.com"], {}, 1),
    one("upper", ["Mixed.Example.org"], {}, 1),
    one("exact", ["exact.test"], {}, 1),
    gwr("empty-hosts", [], [rule([{ path: prefix("/any") }])]),
  ]);
  check(table, [
    { why: "one label", req: req("a.example.com", "/"), want: "team-a/wild#0" },
    { why: "two labels", req: req("a.b.example.com", "/"), want: "team-a/wild#0" },
    { why: "not the apex", req: req("example.com", "/"), want: undefined },
    { why: "not a longer label", req: req("aexample.com", "/"), want: undefined },
    { why: "not a different tld", req: req("a.example.co", "/"), want: undefined },
    { why: "request host upper case", req: req("A.EXAMPLE.com", "/"), want: "team-a/wild#0" },
    { why: "route host upper case", req: req("mixed.example.org", "/"), want: "team-a/upper#0" },
    { why: "exact host", req: req("exact.test", "/"), want: "team-a/exact#0" },
    { why: "exact is not a wildcard", req: req("a.exact.test", "/"), want: undefined },
    { why: "hosts: [] is any host", req: req("whatever.test", "/any/x"), want: "team-a/empty-hosts#0" },
  ]);
});

test("methods filter when listed", () => {
  const table = compileGatewayTable([
    one("get", ["m.test"], { methods: ["GET", "POST"] }, 1),
    one("empty", ["n.test"], { methods: [] }, 1),
  ]);
  check(table, [
    { why: "GET listed", req: req("m.test", "/", "GET"), want: "team-a/get#0" },
    { why: "POST listed", req: req("m.test", "/", "POST"), want: "team-a/get#0" },
    { why: "DELETE not listed", req: req("m.test", "/", "DELETE"), want: undefined },
    { why: "methods are case-sensitive", req: req("m.test", "/", "get"), want: undefined },
    { why: "empty list: any method", req: req("n.test", "/", "DELETE"), want: "team-a/empty#0" },
  ]);
});

test("headers: names case-insensitive, regex full match, multi-valued, missing", () => {
  const table = compileGatewayTable([
    one("name-case", ["h1.test"], { headers: [{ name: "X-Env", value: "prod" }] }, 1),
    one("regex", ["h2.test"], { headers: [{ name: "x-v", value: "ab+", type: "RegularExpression" }] }, 1),
    one("alt", ["h3.test"], { headers: [{ name: "x-v", value: "a|b", type: "RegularExpression" }] }, 1),
    one("dotstar", ["h4.test"], { headers: [{ name: "x-v", value: ".*", type: "RegularExpression" }] }, 1),
    one(
      "all",
      ["h5.test"],
      {
        headers: [
          { name: "x-a", value: "1" },
          { name: "x-b", value: "v[0-9]", type: "RegularExpression" },
        ],
      },
      1,
    ),
  ]);
  const h = (host: string, headers: RequestFacts["headers"]) => req(host, "/", "GET", headers);
  check(table, [
    { why: "X-Env matches x-env", req: h("h1.test", { "x-env": "prod" }), want: "team-a/name-case#0" },
    { why: "Exact is case-sensitive in the value", req: h("h1.test", { "x-env": "Prod" }), want: undefined },
    { why: "Exact is not a prefix", req: h("h1.test", { "x-env": "prod2" }), want: undefined },
    { why: "missing header", req: h("h1.test", {}), want: undefined },
    { why: "header undefined", req: h("h1.test", { "x-env": undefined }), want: undefined },
    {
      why: "multi-valued: one fits",
      req: h("h1.test", { "x-env": ["dev", "prod"] }),
      want: "team-a/name-case#0",
    },
    { why: "multi-valued: none fits", req: h("h1.test", { "x-env": ["dev", "test"] }), want: undefined },
    { why: "regex matches", req: h("h2.test", { "x-v": "abbb" }), want: "team-a/regex#0" },
    { why: "regex anchored at start", req: h("h2.test", { "x-v": "xab" }), want: undefined },
    { why: "regex anchored at end", req: h("h2.test", { "x-v": "abx" }), want: undefined },
    { why: "regex multi-valued", req: h("h2.test", { "x-v": ["zz", "ab"] }), want: "team-a/regex#0" },
    { why: "alternation a", req: h("h3.test", { "x-v": "b" }), want: "team-a/alt#0" },
    { why: "alternation is anchored as a whole", req: h("h3.test", { "x-v": "ab" }), want: undefined },
    { why: "alternation, trailing text", req: h("h3.test", { "x-v": "ax" }), want: undefined },
    { why: ".* matches an empty value", req: h("h4.test", { "x-v": "" }), want: "team-a/dotstar#0" },
    { why: ".* still needs the header", req: h("h4.test", {}), want: undefined },
    { why: "all conditions hold", req: h("h5.test", { "x-a": "1", "x-b": "v7" }), want: "team-a/all#0" },
    { why: "one condition fails", req: h("h5.test", { "x-a": "1", "x-b": "v77" }), want: undefined },
    { why: "other condition fails", req: h("h5.test", { "x-a": "2", "x-b": "v7" }), want: undefined },
  ]);
});

test("routes being deleted are skipped", () => {
  const table = compileGatewayTable([
    one("live", ["del.test"], {}, 2),
    gwr("going", ["del.test"], [rule()], { creationTimestamp: day(1), deletionTimestamp: day(5) }),
    gwr(
      "going-bad",
      ["del.test"],
      [rule([{ headers: [{ name: "x", value: "(", type: "RegularExpression" }] }])],
      {
        deletionTimestamp: new Date(day(5)),
      },
    ),
  ]);
  check(table, [
    { why: "the older route is being deleted", req: req("del.test", "/"), want: "team-a/live#0" },
  ]);
  assert.deepEqual(
    table.rules.map((r) => r.key),
    ["team-a/live#0"],
  );
  assert.deepEqual(table.problems, new Map());
  assert.deepEqual(table.conflicts, new Map(), "the deleted identical route is no winner either");
});

// ---------------------------------------------------------------------------------------------------------
// Problems

test("an invalid regular expression: problem, route not served, others are", () => {
  const table = compileGatewayTable([
    gwr(
      "bad",
      ["bad.test"],
      [
        rule([{ path: prefix("/ok") }]),
        rule([
          { path: prefix("/a") },
          {
            headers: [
              { name: "x-a", value: "1" },
              { name: "x-b", value: "(", type: "RegularExpression" },
            ],
          },
        ]),
      ],
    ),
    one(
      "escape",
      ["escape.test"],
      { headers: [{ name: "x", value: "a)|(b", type: "RegularExpression" }] },
      1,
    ),
    one(
      "too-long",
      ["long.test"],
      { headers: [{ name: "x", value: "a".repeat(MAX_HEADER_REGEX_LENGTH + 1), type: "RegularExpression" }] },
      1,
    ),
    one(
      "longest",
      ["longest.test"],
      { headers: [{ name: "x", value: "a".repeat(MAX_HEADER_REGEX_LENGTH), type: "RegularExpression" }] },
      1,
    ),
    one("good", ["good.test"], {}, 1),
    // Identical to bad's first rule, but bad is not served, so good2 wins nothing against it: no conflict.
    one("good2", ["bad.test"], { path: prefix("/ok") }, 2),
  ]);
  assert.deepEqual([...table.problems.keys()], ["team-a/bad", "team-a/escape", "team-a/too-long"]);
  const bad = table.problems.get("team-a/bad");
  assert.equal(bad?.length, 1);
  assert.equal(bad[0]?.field, "spec.rules[1].matches[1].headers[1].value");
  assert.equal(bad[0]?.message, "Invalid regular expression (RE2 syntax): missing closing ): `(`");
  assert.equal(table.problems.get("team-a/escape")?.[0]?.field, "spec.rules[0].matches[0].headers[0].value");
  assert.match(table.problems.get("team-a/too-long")?.[0]?.message ?? "", /longer than 4096 characters/);
  check(table, [
    { why: "bad is not served at all", req: req("bad.test", "/a"), want: undefined },
    { why: "its identical twin serves", req: req("bad.test", "/ok"), want: "team-a/good2#0" },
    {
      why: "escape: pattern not wrapped",
      req: req("escape.test", "/", "GET", { x: "a)|(b" }),
      want: undefined,
    },
    {
      why: "4096 characters is allowed",
      req: req("longest.test", "/", "GET", { x: "a".repeat(MAX_HEADER_REGEX_LENGTH) }),
      want: "team-a/longest#0",
    },
    { why: "others are served", req: req("good.test", "/"), want: "team-a/good#0" },
  ]);
  assert.deepEqual(table.conflicts, new Map());
  assert.ok(!table.rules.some((r) => r.route === "bad" || r.route === "escape" || r.route === "too-long"));
});

// ---------------------------------------------------------------------------------------------------------
// Conflicts

const winnerMatch: RouteMatch = {
  path: prefix("/api/"),
  methods: ["POST", "GET"],
  headers: [
    { name: "X-Env", value: "prod" },
    { name: "x-tier", value: "gold|silver", type: "RegularExpression" },
  ],
};
/** The same conditions, written differently: no trailing slash, other orders, other name case, type given. */
const sameMatch: RouteMatch = {
  path: { value: "/api" },
  methods: ["GET", "POST"],
  headers: [
    { name: "X-TIER", value: "gold|silver", type: "RegularExpression" },
    { name: "x-env", value: "prod", type: "Exact" },
  ],
};
const contested = req("c.test", "/api/x", "GET", { "x-env": "prod", "x-tier": "gold" });

function conflictRoutes(loserMatch: RouteMatch, loserHosts = ["c.test", "d.test"]): GatewayRoute[] {
  return [
    gwr("winner", ["c.test"], [rule([winnerMatch])], { creationTimestamp: day(1) }),
    gwr(
      "loser",
      loserHosts,
      [rule([{ path: prefix("/other") }, loserMatch]), rule([{ path: prefix("/b") }])],
      {
        creationTimestamp: day(2),
      },
    ),
  ];
}

test("conflict: identical matches of two routes, the older serves", () => {
  for (const routes of [conflictRoutes(sameMatch), conflictRoutes(sameMatch).reverse()]) {
    const table = compileGatewayTable(routes);
    assert.deepEqual(
      table.conflicts,
      new Map([
        [
          "team-a/loser",
          [{ field: "spec.rules[0].matches[1]", winner: "team-a/winner", host: "c.test", path: "/api" }],
        ],
      ]),
    );
    assert.deepEqual(table.problems, new Map());
    check(table, [
      { why: "the winner serves the contested match", req: contested, want: "team-a/winner#0" },
      { why: "loser's other match", req: req("c.test", "/other"), want: "team-a/loser#0" },
      { why: "loser's other rule", req: req("c.test", "/b"), want: "team-a/loser#1" },
      {
        why: "same match on the loser's other host",
        req: { ...contested, host: "d.test" },
        want: "team-a/loser#0",
      },
    ]);
  }
});

test("conflict: any-host and wildcard keys, three routes, winner by name when equally old", () => {
  const routes = [
    one("c-any", undefined, { path: exact("/x") }, 3),
    one("b-any", [], { path: exact("/x") }, 1),
    one("a-any", undefined, { path: exact("/x") }, 1),
    one("w2", ["*.w.test"], {}, 2),
    one("w1", ["*.w.test"], {}, 1),
    one("w-other", ["*.v.w.test"], {}, 3), // a different (longer) wildcard: no conflict
  ];
  const table = compileGatewayTable(routes);
  assert.deepEqual(
    table.conflicts,
    new Map([
      [
        "team-a/b-any",
        [{ field: "spec.rules[0].matches[0]", winner: "team-a/a-any", host: "*", path: "/x" }],
      ],
      [
        "team-a/c-any",
        [{ field: "spec.rules[0].matches[0]", winner: "team-a/a-any", host: "*", path: "/x" }],
      ],
      [
        "team-a/w2",
        [{ field: "spec.rules[0].matches[0]", winner: "team-a/w1", host: "*.w.test", path: "/" }],
      ],
    ]),
  );
  check(table, [
    { why: "any host", req: req("z.test", "/x"), want: "team-a/a-any#0" },
    { why: "wildcard", req: req("a.w.test", "/"), want: "team-a/w1#0" },
    { why: "longer wildcard", req: req("a.v.w.test", "/"), want: "team-a/w-other#0" },
  ]);
});

test("no conflict when one element differs", () => {
  const variants: [string, RouteMatch, string[]?][] = [
    ["other host", sameMatch, ["d.test"]],
    ["wildcard host", sameMatch, ["*.c.test"]],
    ["any host", sameMatch, []],
    ["path type", { ...sameMatch, path: exact("/api") }],
    ["path value", { ...sameMatch, path: prefix("/api2") }],
    ["methods subset", { ...sameMatch, methods: ["GET"] }],
    ["methods absent", { path: sameMatch.path, headers: sameMatch.headers }],
    ["header value", { ...sameMatch, headers: [winnerMatch.headers![1]!, { name: "x-env", value: "dev" }] }],
    [
      "header type",
      {
        ...sameMatch,
        headers: [winnerMatch.headers![1]!, { name: "x-env", value: "prod", type: "RegularExpression" }],
      },
    ],
    ["header fewer", { ...sameMatch, headers: [winnerMatch.headers![0]!] }],
    ["header more", { ...sameMatch, headers: [...winnerMatch.headers!, { name: "x-more", value: "1" }] }],
    ["header name", { ...sameMatch, headers: [winnerMatch.headers![1]!, { name: "x-env2", value: "prod" }] }],
  ];
  for (const [why, match, hosts] of variants) {
    const table = compileGatewayTable(conflictRoutes(match, hosts));
    assert.deepEqual(table.conflicts, new Map(), why);
    assert.equal(table.rules.length, 3, why);
  }
});

test("identical matches within one route are no conflict: the earlier rule serves", () => {
  const table = compileGatewayTable([
    gwr(
      "dup",
      ["dup.test"],
      [rule([{ path: prefix("/a") }, { path: prefix("/a/") }]), rule([{ path: prefix("/a") }])],
    ),
  ]);
  assert.deepEqual(table.conflicts, new Map());
  check(table, [{ why: "rule 0 first", req: req("dup.test", "/a/b"), want: "team-a/dup#0" }]);
  assert.deepEqual(
    table.rules.map((r) => r.key),
    ["team-a/dup#0", "team-a/dup#1"],
  );
});

// ---------------------------------------------------------------------------------------------------------
// The whole table

test("shuffled input gives the same table", () => {
  const routes = [
    ...PRECEDENCE_ROUTES,
    ...conflictRoutes(sameMatch),
    one("b-any", undefined, { path: exact("/x") }, 1),
    one("a-any", undefined, { path: exact("/x") }, 1),
    one("bad", ["bad.test"], { headers: [{ name: "x", value: "[", type: "RegularExpression" }] }, 1),
    one("bad2", ["bad.test"], { headers: [{ name: "x", value: "(", type: "RegularExpression" }] }, 1),
  ];
  const snapshot = (t: GatewayTable) => ({
    rules: t.rules.map((r) => r.key),
    problems: [...t.problems],
    conflicts: [...t.conflicts],
    hits: [...PRECEDENCE_CASES.map((c) => c.req), contested].map((r) => t.match(r)?.ref.key),
  });
  const want = snapshot(compileGatewayTable(routes));
  assert.equal(want.conflicts.length, 2);
  assert.equal(want.problems.length, 2);
  for (const seed of [7, 99, 2024, 31337]) {
    assert.deepEqual(snapshot(compileGatewayTable(shuffled(routes, seed))), want, `seed ${seed}`);
  }
  assert.deepEqual(snapshot(compileGatewayTable([...routes].reverse())), want, "reversed");
});

test("rules: served rules in precedence order of their first match", () => {
  const table = compileGatewayTable([
    gwr("any", undefined, [rule([{ path: exact("/e") }])], { creationTimestamp: day(1) }),
    gwr("two", ["x.test"], [rule([{ path: prefix("/") }]), rule([{ path: prefix("/deep") }], "deep")], {
      creationTimestamp: day(2),
      generation: 7,
    }),
    gwr("wild", ["*.x.test"], [rule()], { creationTimestamp: day(1) }),
    gwr("wilder", ["*.y.x.test"], [rule()], { creationTimestamp: day(2) }),
  ]);
  assert.deepEqual(
    table.rules.map((r) => `${r.key}:${r.ruleName}:${r.generation}`),
    [
      "team-a/two#1:deep:7",
      "team-a/two#0:0:7",
      "team-a/wilder#0:0:1",
      "team-a/wild#0:0:1",
      "team-a/any#0:0:1",
    ],
  );
});

test("1,000 routes with distinct hosts", () => {
  const routes: GatewayRoute[] = [];
  for (let i = 0; i < 1000; i++) {
    routes.push(
      gwr(`r-${i}`, [`svc-${i}.example.com`], [rule([{ path: exact("/health") }, { path: prefix("/") }])], {
        creationTimestamp: day(1 + (i % 28)),
      }),
    );
  }
  routes.push(one("wild", ["*.example.com"], {}, 1), one("fallback", undefined, {}, 1));
  const table = compileGatewayTable(shuffled(routes, 5));
  assert.equal(table.rules.length, 1002);
  assert.deepEqual(table.conflicts, new Map());
  check(table, [
    { why: "route 567", req: req("svc-567.example.com", "/x"), want: "team-a/r-567#0", prefix: "/" },
    {
      why: "route 0, Exact",
      req: req("svc-0.example.com", "/health"),
      want: "team-a/r-0#0",
      prefix: undefined,
    },
    { why: "route 999", req: req("SVC-999.example.com", "/"), want: "team-a/r-999#0" },
    { why: "unknown name: wildcard", req: req("svc-1000.example.com", "/"), want: "team-a/wild#0" },
    { why: "other domain: any host", req: req("svc-1.example.org", "/"), want: "team-a/fallback#0" },
  ]);
});

// ---------------------------------------------------------------------------------------------------------
// Regular expressions: RE2 (linear time), never a backtracking engine

/** A route whose one rule needs header `x-v` to match `pattern`. */
const regexRoute = (name: string, pattern: string) =>
  one(name, [`${name}.test`], { headers: [{ name: "x-v", value: pattern, type: "RegularExpression" }] }, 1);

// Each of these takes a backtracking engine (a JS RegExp) 2^n steps on n `a`s and a mismatch at the end:
// 30 bytes froze the proxy for 22 s. RE2 answers them in one pass; the test would never end otherwise.
const PATHOLOGICAL: { pattern: string; matching: string; failing: string }[] = [
  { pattern: "(a+)+", matching: "a".repeat(10_240), failing: `${"a".repeat(10_240)}!` },
  { pattern: "(a|aa)+", matching: "a".repeat(10_240), failing: `${"a".repeat(10_240)}b` },
  { pattern: "(a*)*b", matching: `${"a".repeat(10_240)}b`, failing: "a".repeat(10_240) },
  { pattern: "(a|a?)+", matching: "a".repeat(10_240), failing: `${"a".repeat(10_240)}!` },
  { pattern: "(.*a){20}", matching: "a".repeat(10_240), failing: `${"a".repeat(10_240)}!` },
  { pattern: "([a-z]+)*[0-9]", matching: `${"a".repeat(10_240)}1`, failing: `${"a".repeat(10_240)}!` },
];

for (const row of PATHOLOGICAL)
  test(
    `regex ${row.pattern}: served, and a 10 KiB header matches or fails in one pass`,
    { timeout: 30_000 },
    () => {
      const table = compileGatewayTable([regexRoute("redos", row.pattern)]);
      assert.deepEqual(table.problems, new Map());
      const at = (v: string) => table.match(req("redos.test", "/", "GET", { "x-v": v }))?.ref.key;
      assert.equal(at(row.matching), "team-a/redos#0");
      assert.equal(at(row.failing), undefined);
      assert.equal(at(row.failing.slice(-30)), undefined, "the 30-byte header of the finding");
    },
  );

test("regex: RE2 semantics where they could differ from a search: anchored both ends, alternation whole", () => {
  const re = compileRegex("a|ab");
  assert.ok(typeof re !== "string");
  assert.equal(re.testExact("ab"), true, "the longer alternative counts when it spans the value");
  assert.equal(re.testExact("abc"), false);
  assert.equal(re.testExact("xa"), false);
  const nl = compileRegex("abc");
  assert.ok(typeof nl !== "string");
  assert.equal(nl.testExact("abc\n"), false, "$ is the end of the value, not before a final newline");
  const named = compileRegex("(?<team>[a-z]+)-(?P<n>[0-9]+)");
  assert.ok(typeof named !== "string", "named groups in both spellings compile");
  assert.equal(named.testExact("blue-7"), true);
});

// What RE2 cannot do in linear time is refused (Accepted=False names the field), never run.
const REFUSED: { pattern: string; why: RegExp }[] = [
  { pattern: "(a)\\1", why: /backreferences and lookaround are not supported.*invalid escape sequence/ },
  { pattern: "(?<x>a)\\k<x>", why: /RE2 syntax.*invalid escape sequence/ },
  { pattern: "a(?=b)", why: /backreferences and lookaround are not supported/ },
  { pattern: "a(?!b)", why: /backreferences and lookaround are not supported/ },
  { pattern: "(?<=a)b", why: /backreferences and lookaround are not supported/ },
  { pattern: "(?<!a)b", why: /backreferences and lookaround are not supported/ },
  { pattern: "(?>a+)b", why: /RE2 syntax/ },
  { pattern: "a++", why: /RE2 syntax.*nested repetition/ },
  { pattern: "x{1001}", why: /RE2 syntax.*repeat count/ },
  { pattern: "a)|(b", why: /RE2 syntax/ },
];

test("regex: backreferences, lookaround and what else RE2 refuses: a problem naming the field", () => {
  const table = compileGatewayTable(REFUSED.map((r, i) => regexRoute(`bad${i}`, r.pattern)));
  REFUSED.forEach((r, i) => {
    const p = table.problems.get(`team-a/bad${i}`);
    assert.equal(p?.length, 1, r.pattern);
    assert.equal(p[0]!.field, "spec.rules[0].matches[0].headers[0].value", r.pattern);
    assert.match(p[0]!.message, /^Invalid regular expression \(RE2 syntax/, r.pattern);
    assert.match(p[0]!.message, r.why, r.pattern);
  });
  assert.deepEqual(table.rules, [], "none of them is served");
});
