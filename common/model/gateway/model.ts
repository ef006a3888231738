/**
 * GatewayRoutes as the operator (validation, status) and the proxy (serving) both see them: the
 * shapes shared by the pure modules in this directory. The operator's image carries this directory;
 * the proxy imports it as it imports the operator's other generic modules.
 *
 * Precedence (docs/gateway.md), when several rules' matches fit one request — the first difference wins:
 *   1. host: an exact host over a wildcard (`*.example.com`; a longer suffix over a shorter one) over
 *      a route without hosts (any host);
 *   2. path: Exact over PathPrefix; a longer prefix over a shorter one;
 *   3. methods: a match that names methods over one that does not;
 *   4. headers: more header conditions over fewer;
 *   5. age: the older route (creationTimestamp), then `namespace/name` in byte order, then the
 *      rule's and the match's order in the route.
 * Two matches of different routes that tie on 1–4 with the same host, path, methods and headers
 * conflict: the one step 5 puts first serves, the other route's status says Conflicted.
 */
import type { GatewayRoute, RouteRule } from "../../../crds/types.ts";
import type { UrlPolicy } from "./address.ts";

/** A request as matching needs it. Header names are lower case (Node's `req.headers`). */
export interface RequestFacts {
  /** The Host header without its port, lower case. */
  host: string;
  method: string;
  /** The path without the query, already normalised (no `.`/`..`, no `//`). */
  path: string;
  headers: Readonly<Record<string, string | string[] | undefined>>;
}

/** One rule of one route, as served. */
export interface RuleRef {
  /** `namespace/name#index` (index of the rule in spec.rules): metrics and logs name rules so. */
  key: string;
  namespace: string;
  route: string;
  ruleIndex: number;
  /** The rule's name, or its index as a string. */
  ruleName: string;
  rule: RouteRule;
  /** The route's metadata.generation, for status. */
  generation: number;
}

/** What a request matched. */
export interface GatewayHit {
  ref: RuleRef;
  /** The PathPrefix value that matched ("/" for the default match); undefined for an Exact path. */
  matchedPrefix?: string;
}

/** A problem with one route that the schema cannot catch (an invalid regular expression, say). */
export interface RouteProblem {
  /** Field path, e.g. `spec.rules[0].matches[1].headers[0].value`. */
  field: string;
  message: string;
}

/** A conflict: `route`'s match at `field` is shadowed by `winner`'s identical one. */
export interface RouteConflict {
  field: string;
  /** `namespace/name` of the route that serves the contested requests. */
  winner: string;
  /** The contested host (or `*` for any) and path, for the message. */
  host: string;
  path: string;
}

/** The compiled table: match requests, and report each route's problems and conflicts. */
export interface GatewayTable {
  match(req: RequestFacts): GatewayHit | undefined;
  /** Rules served, in precedence order (for metrics and debugging). */
  readonly rules: readonly RuleRef[];
  /** `namespace/name` → its problems; a route with problems is not served at all. */
  readonly problems: ReadonlyMap<string, RouteProblem[]>;
  /** `namespace/name` → matches that lose to another route's identical match. */
  readonly conflicts: ReadonlyMap<string, RouteConflict[]>;
}

/**
 * Compiles routes into a table (pure). Implemented in match.ts. `urlPolicy` judges url backends
 * (address.ts; default: nothing allowed, no cluster CIDRs known).
 */
export type CompileGatewayTable = (routes: readonly GatewayRoute[], urlPolicy?: UrlPolicy) => GatewayTable;

/** One place a rule's traffic may go: a Service endpoint (pod IP and port) or a URL backend. */
export interface Endpoint {
  /** Stable identity: `ip:port` for a pod, the URL's origin for a URL backend. */
  id: string;
  /** `http://ip:port` or the URL's origin. */
  origin: string;
  /** Path prefix of a URL backend ("" for Services). */
  basePath: string;
  /** Index of the backend in rule.backends. */
  backend: number;
  /** Share of traffic: the backend's weight divided among its endpoints. */
  weight: number;
}

/** What a balancer may use to pick. */
export interface PickContext {
  clientIp: string;
  /** ConsistentHash: the header's or cookie's value (undefined: fall back to the client IP). */
  hashKey?: string;
  /** Endpoints already tried for this request (retries go elsewhere when they can). */
  exclude?: ReadonlySet<string>;
}

/** Picks an endpoint among the healthy ones; undefined only when the list is empty. */
export interface Balancer {
  pick(endpoints: readonly Endpoint[], ctx: PickContext): Endpoint | undefined;
}
