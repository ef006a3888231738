/**
 * The route table: pure data, no I/O and no Kubernetes types. The cluster adapter
 * (`from-cluster.ts`) turns objects into `Route`s; the server asks `match(host, target)`.
 *
 * A workspace is reachable three ways:
 * - host mode: `{name}--{namespace}.{baseDomain}` (any port in Host is ignored for matching);
 * - path mode: `/w/{namespace}/{name}/`;
 * - the seed-compatible `/api/v1/connect/{namespace}/{owner}/{ide}/`: the workspace of that owner
 *   running that class in that namespace (the oldest, should there be several). In path mode it is
 *   served where it is asked (one origin for all workspaces anyway); in host mode a workspace is
 *   served on its own host only, so on any other host the compatible path answers `own-host`: the
 *   server redirects to the workspace's host, never serving its content on a shared origin. (On a
 *   workspace host every path, the compatible one included, belongs to that host's own workspace.)
 * Host mode and path mode are exclusive, as for the operator (`--routing`): the IDE's own base path
 * follows from the mode, so the other mode's URLs would not work.
 */
import type { Target } from "./path.ts";

/** Where a workspace is in its life, as far as routing cares. */
export type RouteState = "ready" | "starting" | "stopped" | "failed";

export interface Upstream {
  host: string;
  port: number;
}

export interface RouteHeader {
  name: string;
  /** May contain `{prefix}`: the public prefix the request came in on. */
  value: string;
}

/** One workspace's route. */
export interface Route {
  namespace: string;
  name: string;
  owner: string;
  /** Who else may open it (spec.sharedWith). */
  sharedWith?: { users?: readonly string[]; groups?: readonly string[] };
  className: string;
  /** Creation time (RFC 3339) or "": the oldest wins a compatible path shared by several. */
  created: string;
  state: RouteState;
  /** Why it is not ready, in a sentence (the workspace's status message). */
  message: string;
  /** Only when `state` is ready. */
  upstream?: Upstream;
  /** The IDE's own base path: "" (host mode) or `/w/{namespace}/{name}` (path mode). */
  idePrefix: string;
  /** Forward without the base path (the IDE serves at `/`). */
  stripPrefix: boolean;
  requestHeaders: readonly RouteHeader[];
  rewriteLocation: boolean;
  rewriteCookiePath: boolean;
  /** The class forwards the user's access token to the IDE (`Authorization: Bearer`). */
  forwardToken?: boolean;
  /** Origins besides the workspace's own that may send unsafe requests and open WebSockets (the class's). */
  allowedOrigins?: readonly string[];
  /** Stopped by the operator for idleness (state `stopped`): a visit by someone who may start it wakes it. */
  idleStopped?: boolean;
  /** Client-to-IDE WebSocket messages this short are not activity (the class's `idle.ignoreWebSocketMessagesUpTo`). */
  ignoreWebSocketMessagesUpTo?: number;
}

export interface TableOptions {
  routing: "host" | "path";
  baseDomain: string;
}

/** A matched request: the route, the prefix the browser used, and where to send it. */
export interface RouteMatch {
  kind: "route";
  route: Route;
  /** The prefix in front of the IDE as the browser sees it ("" in host mode). */
  publicPrefix: string;
  /** Path (and query) to request from the IDE. */
  upstreamPath: string;
  /** The remainder after the public prefix, starting with `/`, without the query. */
  rest: string;
}

/** A base path without its trailing slash: redirect to add it (IDEs resolve relative URLs from it). */
export interface RedirectMatch {
  kind: "redirect";
  location: string;
}

/**
 * Host mode: the compatible path asked on a host that is not the workspace's own. Redirect to
 * `{scheme}://{host}[:{port of the request}]{path}` once the caller may open the route.
 */
export interface OwnHostMatch {
  kind: "own-host";
  route: Route;
  /** The workspace's own host name (no port). */
  host: string;
  /** The rest after the compatible prefix (at least `/`) and the query, as the client sent them. */
  path: string;
}

/** Told of a route's change (undefined: removed). */
export type RouteListener = (route: Route | undefined) => void;

export type MatchResult = RouteMatch | RedirectMatch | OwnHostMatch | undefined;

export const keyOf = (namespace: string, name: string): string => `${namespace}/${name}`;
const compatKey = (namespace: string, owner: string, ide: string) => `${namespace}/${owner}/${ide}`;

/** The host of a workspace in host mode. */
export const routeHost = (namespace: string, name: string, baseDomain: string): string =>
  `${name}--${namespace}.${baseDomain}`.toLowerCase();

/** The workspace routes, indexed for matching by host, path and compatible path. */
export class RouteTable {
  private readonly routes = new Map<string, Route>();
  private readonly byHost = new Map<string, string>();
  private readonly byCompat = new Map<string, Set<string>>();
  private readonly opts: TableOptions;
  /** Wake (issue 15): who wants to hear of a workspace's route changes (requests held while it starts). */
  private readonly listeners = new Map<string, Set<RouteListener>>();

  constructor(opts: TableOptions) {
    this.opts = opts;
  }

  /**
   * Calls `f` with the route of `namespace/name` each time it is upserted, and with undefined when it
   * is removed, until the returned function is called (it must be: a held request that ends
   * unsubscribes). No polling: the cluster adapter's upserts are the signal.
   */
  subscribe(namespace: string, name: string, f: RouteListener): () => void {
    const key = keyOf(namespace, name);
    let set = this.listeners.get(key);
    if (!set) this.listeners.set(key, (set = new Set()));
    set.add(f);
    return () => {
      set.delete(f);
      if (set.size === 0 && this.listeners.get(key) === set) this.listeners.delete(key);
    };
  }

  /** Listeners of `namespace/name` (for tests and metrics). */
  listenerCount(namespace: string, name: string): number {
    return this.listeners.get(keyOf(namespace, name))?.size ?? 0;
  }

  private notify(key: string, route: Route | undefined): void {
    // A copy: a listener unsubscribes from inside its call.
    for (const f of [...(this.listeners.get(key) ?? [])]) f(route);
  }

  /** Adds or replaces the route of `route.namespace/route.name`. */
  upsert(route: Route): void {
    const key = keyOf(route.namespace, route.name);
    this.drop(key);
    this.insert(key, route);
    this.notify(key, route);
  }

  /** Removes a workspace's route; true when there was one. */
  remove(namespace: string, name: string): boolean {
    const key = keyOf(namespace, name);
    const had = this.drop(key);
    if (had) this.notify(key, undefined);
    return had;
  }

  private insert(key: string, route: Route): void {
    this.routes.set(key, route);
    const host = routeHost(route.namespace, route.name, this.opts.baseDomain);
    // `a--b` in `c` and `a` in `b--c` share a host: the first one keeps it.
    if (!this.byHost.has(host)) this.byHost.set(host, key);
    const ck = compatKey(route.namespace, route.owner, route.className);
    let set = this.byCompat.get(ck);
    if (!set) this.byCompat.set(ck, (set = new Set()));
    set.add(key);
  }

  private drop(key: string): boolean {
    const old = this.routes.get(key);
    if (!old) return false;
    const { namespace, name } = old;
    this.routes.delete(key);
    const host = routeHost(namespace, name, this.opts.baseDomain);
    if (this.byHost.get(host) === key) this.byHost.delete(host);
    const ck = compatKey(namespace, old.owner, old.className);
    const set = this.byCompat.get(ck);
    set?.delete(key);
    if (set?.size === 0) this.byCompat.delete(ck);
    return true;
  }

  get(namespace: string, name: string): Route | undefined {
    return this.routes.get(keyOf(namespace, name));
  }

  list(): Route[] {
    return [...this.routes.values()];
  }

  get size(): number {
    return this.routes.size;
  }

  /** True when `hostname` (lowercase, no port) is a workspace host (host mode). */
  isWorkspaceHost(hostname: string): boolean {
    return this.opts.routing === "host" && hostname.endsWith(`.${this.opts.baseDomain}`);
  }

  /**
   * The route for a request. `hostname` is the Host without its port, lowercased; `target` a checked
   * request target (path.ts). Undefined: no route (404).
   */
  match(hostname: string, target: Target): MatchResult {
    const seg = target.segments;
    if (this.isWorkspaceHost(hostname)) {
      const key = this.byHost.get(hostname);
      const route = key === undefined ? undefined : this.routes.get(key);
      return route && this.result(route, "", target, 0);
    }
    if (seg[0] === "api" && seg[1] === "v1" && seg[2] === "connect" && seg.length >= 6) {
      const [ns, owner, ide] = [seg[3]!, seg[4]!, seg[5]!];
      const route = this.compat(ns, owner, ide);
      if (route && this.opts.routing === "host") {
        const rest = "/" + target.path.split("/").slice(7).join("/");
        const host = routeHost(route.namespace, route.name, this.opts.baseDomain);
        return { kind: "own-host", route, host, path: `${rest}${target.query}` };
      }
      const prefix = `/api/v1/connect/${ns}/${owner}/${ide}`;
      return route && this.result(route, prefix, target, 6);
    }
    if (this.opts.routing === "path" && seg[0] === "w" && seg.length >= 3) {
      const route = this.routes.get(keyOf(seg[1]!, seg[2]!));
      return route && this.result(route, `/w/${seg[1]}/${seg[2]}`, target, 3);
    }
    return undefined;
  }

  private compat(namespace: string, owner: string, ide: string): Route | undefined {
    const keys = this.byCompat.get(compatKey(namespace, owner, ide));
    let best: Route | undefined;
    for (const k of keys ?? []) {
      const r = this.routes.get(k)!;
      if (!best || r.created < best.created || (r.created === best.created && r.name < best.name)) best = r;
    }
    return best;
  }

  private result(route: Route, publicPrefix: string, target: Target, skip: number): MatchResult {
    if (skip > 0 && target.segments.length === skip)
      return { kind: "redirect", location: `${publicPrefix}/${target.query}` };
    // The remainder keeps the client's own encoding: the segments were checked, not rewritten.
    const rest =
      "/" +
      target.path
        .split("/")
        .slice(1 + skip)
        .join("/");
    const base = route.stripPrefix ? "" : route.idePrefix;
    return { kind: "route", route, publicPrefix, rest, upstreamPath: `${base}${rest}${target.query}` };
  }
}
